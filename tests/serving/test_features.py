"""Scoring's features are the featurize stage's, whatever the path: training, a drop in chunks, a request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from src.core.params import FeaturizeParams, ValidateParams
from src.serving.features import flight_features, late_probability, origin_hour_departures, unseen_categories
from src.serving.schema import SCHEDULE_SCHEMA
from src.stages.featurize import FEATURE_GROUPS, build_features
from src.stages.validate import validate_tables
from tests.serving.frames import DistanceModel, schedule
from tests.stages import frames

FEATURES = [column for columns in FEATURE_GROUPS.values() for column in columns]


@pytest.fixture
def typed() -> dict[str, pd.DataFrame]:
    tables, _ = validate_tables(
        frames.raw_tables(), ValidateParams(max_unmatched_fraction=1, max_missing_weather_fraction=1)
    )
    return tables


def test_a_drops_features_are_the_training_features(typed: dict[str, pd.DataFrame]) -> None:
    training = build_features(typed, FeaturizeParams())
    flights = SCHEDULE_SCHEMA.validate(schedule())
    scoring = flight_features(flights, typed["planes"], typed["weather"], origin_hour_departures(flights))
    assert_frame_equal(scoring[FEATURES], training[FEATURES])


def test_the_departure_count_is_the_one_given_not_the_chunks_own(typed: dict[str, pd.DataFrame]) -> None:
    flights = SCHEDULE_SCHEMA.validate(schedule()).iloc[:2]
    features = flight_features(flights, typed["planes"], typed["weather"], np.array([7, 9]))
    assert features["origin_hour_departures"].tolist() == [7, 9]
    assert features["origin_hour_departures"].dtype == "int32"


def test_the_count_is_over_the_flights_given() -> None:
    doubled = pd.concat(
        [schedule(), schedule().assign(flight=lambda f: f["flight"] + 100)], ignore_index=True
    )
    assert origin_hour_departures(SCHEDULE_SCHEMA.validate(doubled)).tolist() == [2] * 12


def test_scores_come_from_the_models_own_columns(typed: dict[str, pd.DataFrame]) -> None:
    flights = SCHEDULE_SCHEMA.validate(schedule())
    features = flight_features(flights, typed["planes"], typed["weather"], np.ones(6))
    expected = np.clip(features["distance"] / 5000 + 0.1, 0, 1).to_numpy()
    np.testing.assert_array_equal(late_probability(DistanceModel(), features), expected)
    assert unseen_categories(DistanceModel(), features) == {}  # not a pipeline: nothing to tell
