"""A drop, read, checked, featurized and scored in memory, with its outcomes when it has them.

Batch scoring's own pieces do the work (:mod:`src.serving.batch`: the origin-hour count
over the whole drop, then each chunk checked with the schedule schema, featurized with
``featurize``'s code and scored), so what the monitor measures is exactly what scoring
would have fed the model. A drop of a month (about 28,000 flights) fits in memory; the
monitor keeps its features to compare them with the reference.

Outcomes: an ``arr_delay`` column makes the label ``featurize`` makes
(:func:`src.stages.featurize.delay_label`); without it, performance is not assessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.core.params import FeaturizeParams
from src.core.stage import PipelineError
from src.core.tables import SizeLimits
from src.serving.batch import count_departures, predict, prepare
from src.serving.drop import Drop, flight_file_columns, read_flight_chunks
from src.serving.model_ref import ScoringModel
from src.serving.outputs import Tally
from src.serving.schema import SCHEDULE_COLUMNS
from src.serving.settings import ScoreParams
from src.stages.featurize import delay_label

OUTCOME = "arr_delay"


@dataclass(frozen=True)
class ScoredDrop:
    """The drop's valid flights: features, the model's scores, and labels when outcomes are known."""

    features: pd.DataFrame
    scores: np.ndarray
    #: 1 late, 0 not, per flight (None: the drop has no outcomes); flights ``featurize`` leaves
    #: out (cancelled, when they do not count as late) are left out of ``labelled``.
    labels: np.ndarray | None
    labelled: np.ndarray | None  # bool per flight
    rejected: int
    #: The most frequent reasons rows were rejected, with their counts.
    reject_reasons: dict[str, int]
    #: Why there are no labels, when there are none.
    outcome_note: str | None = None

    @property
    def flights(self) -> int:
        return len(self.features)


def outcome_values(valid: pd.DataFrame, flights_path: object) -> pd.Series:
    """The arrival delays as numbers; a value that is not a number is the drop's error."""
    values = pd.to_numeric(valid[OUTCOME], errors="coerce")
    bad = int((values.isna() & valid[OUTCOME].notna()).sum())
    if bad:
        raise PipelineError(
            f"{flights_path}: column {OUTCOME!r} has {bad:,} value(s) that are not numbers of minutes"
        )
    return values.astype("float64")


def read_scored_drop(
    drop: Drop, model: ScoringModel, settings: ScoreParams, limits: SizeLimits, featurize: FeaturizeParams
) -> ScoredDrop:
    """Every valid flight of ``drop`` featurized and scored by ``model``, with labels if it has outcomes."""
    columns, _ = flight_file_columns(drop.flights, limits)
    has_outcomes = OUTCOME in columns
    wanted = (*SCHEDULE_COLUMNS, OUTCOME) if has_outcomes else SCHEDULE_COLUMNS
    departures = count_departures(drop, settings, limits)
    tally, features, delays, rejected = Tally(), [], [], []
    for number, chunk in enumerate(read_flight_chunks(drop.flights, settings.chunk_rows, limits, wanted)):
        prepared = prepare(number, chunk, drop, departures, tally)
        rejected.append(prepared.rejected)
        if prepared.features is not None:
            features.append(prepared.features)
            if has_outcomes:
                delays.append(outcome_values(prepared.valid, drop.flights))
    reasons = pd.concat(rejected)["reason"] if rejected else pd.Series(dtype="str")
    if not features:
        top = reasons.value_counts().index[0] if len(reasons) else "no rows"
        raise PipelineError(
            f"{drop.flights}: no flight of the drop passed the schedule checks (first reason: {top})"
        )
    frame = pd.concat(features, ignore_index=True)
    scores = predict(frame, [model])[0]
    labels = labelled = None
    note = None if has_outcomes else f"no {OUTCOME} column"
    if has_outcomes:
        delay = pd.concat(delays, ignore_index=True)
        if delay.notna().sum() == 0:
            note = f"the {OUTCOME} column holds no value"
        else:
            label = delay_label(pd.DataFrame({OUTCOME: delay}), featurize)
            labelled = label.notna().to_numpy()
            labels = label.fillna(0).astype("int64").to_numpy()
    return ScoredDrop(
        features=frame,
        scores=scores,
        labels=labels,
        labelled=labelled,
        rejected=len(reasons),
        reject_reasons=reasons.value_counts().head(5).to_dict(),
        outcome_note=note,
    )
