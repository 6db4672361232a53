"""Features for scoring, built by the ``featurize`` stage's own code, and the model's scores.

Training, batch scoring and the HTTP service all get their features from
:func:`src.stages.featurize.build_features`; the one difference is where the count of
departures the origin has scheduled in the hour comes from. Training counts it over the
year it learns from; a batch drop counts it over the whole drop, once, with
``featurize.schedule_features`` (:func:`origin_hour_departures`), before scoring it in
chunks; an HTTP request carries it as a field, since one request is not the schedule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from src.core.params import FeaturizeParams
from src.stages.featurize import build_features, schedule_features

#: The feature that needs the whole schedule: counted over a drop, or given by a request.
DEPARTURES = "origin_hour_departures"
#: ``build_features`` also makes the label, from the arrival delay; a flight being scored
#: has none. This placeholder keeps every flight (a delay of 0 is a label, not a gap), and
#: the label it yields is dropped: nothing else reads the column.
PLACEHOLDER_ARRIVAL_DELAY = 0.0


def origin_hour_departures(flights: pd.DataFrame) -> np.ndarray:
    """Departures each flight's origin has scheduled in its hour, counted over ``flights``."""
    return schedule_features(flights)[DEPARTURES].to_numpy()


def flight_features(
    flights: pd.DataFrame, planes: pd.DataFrame, weather: pd.DataFrame, departures: np.ndarray
) -> pd.DataFrame:
    """The ``featurize`` stage's features of ``flights`` (typed as ``validate`` types them), in order.

    ``departures`` is each flight's origin-hour departure count, counted elsewhere (the
    whole drop, or the request): the count ``build_features`` makes from ``flights``
    alone would be a chunk's or a request's.
    """
    tables = {
        "flights": flights.assign(arr_delay=PLACEHOLDER_ARRIVAL_DELAY),
        "planes": planes,
        "weather": weather,
    }
    features = build_features(tables, FeaturizeParams())
    features[DEPARTURES] = np.asarray(departures).astype(features[DEPARTURES].dtype)
    return features


def late_probability(model: Pipeline, features: pd.DataFrame) -> np.ndarray:
    """The model's probability that each flight arrives late, as ``evaluate`` computes it."""
    return model.predict_proba(features[list(model.feature_names_in_)])[:, 1]


def unseen_categories(model: Pipeline, features: pd.DataFrame) -> dict[str, int]:
    """Per categorical feature, how many flights have a value the model never saw in training.

    They are scored (the encoder treats an unseen value as missing), but a drop full of
    them is worth knowing about. Empty for a model without a ``categorical`` encoder.
    """
    if not isinstance(model, Pipeline):
        return {}
    encode = model[0]
    transformers = getattr(encode, "named_transformers_", {})
    if "categorical" not in transformers:
        return {}
    columns = next(columns for name, _, columns in encode.transformers_ if name == "categorical")
    counts = {}
    for column, known in zip(columns, transformers["categorical"].categories_, strict=True):
        values = features[column]
        unseen = int((values.notna() & ~values.isin(known)).sum())
        if unseen:
            counts[column] = unseen
    return counts
