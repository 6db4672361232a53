import numpy as np
import pandas as pd
import pytest

from src.core.params import FeaturizeParams, ValidateParams
from src.stages.featurize import FEATURE_GROUPS, POST_DEPARTURE_COLUMNS, build_features, calendar_features
from src.stages.validate import validate_tables
from tests.stages import frames

COUNT_AS_LATE = FeaturizeParams(delay_threshold_minutes=15, cancelled_as_late=True)
DROP = FeaturizeParams(delay_threshold_minutes=15, cancelled_as_late=False)
FEATURES = [column for columns in FEATURE_GROUPS.values() for column in columns]


@pytest.fixture
def typed() -> dict[str, pd.DataFrame]:
    tables, _ = validate_tables(
        frames.raw_tables(), ValidateParams(max_unmatched_fraction=1, max_missing_weather_fraction=1)
    )
    return tables


def test_label_marks_15_minutes_late_and_counts_cancelled_and_diverted(typed):
    features = build_features(typed, COUNT_AS_LATE)
    # on time, 20 late, cancelled, diverted, on time, 14 late
    assert features["is_late"].tolist() == [0, 1, 1, 1, 0, 0]


def test_cancelled_and_diverted_can_be_left_out(typed):
    features = build_features(typed, DROP)
    assert features["flight_id"].tolist() == [0, 1, 4, 5]
    assert features["is_late"].tolist() == [0, 1, 0, 0]


def test_threshold_is_a_parameter(typed):
    features = build_features(typed, FeaturizeParams(delay_threshold_minutes=10, cancelled_as_late=False))
    assert features["is_late"].tolist() == [0, 1, 0, 1]


def test_features_do_not_use_what_happens_after_departure(typed):
    scrambled = {name: frame.copy() for name, frame in typed.items()}
    rng = np.random.default_rng(0)
    for column in POST_DEPARTURE_COLUMNS:
        scrambled["flights"][column] = rng.uniform(0, 2000, len(scrambled["flights"]))
    before = build_features(typed, COUNT_AS_LATE)[FEATURES]
    after = build_features(scrambled, COUNT_AS_LATE)[FEATURES]
    pd.testing.assert_frame_equal(before, after)


def test_no_feature_is_named_after_a_post_departure_column():
    assert not set(FEATURES) & set(POST_DEPARTURE_COLUMNS)


def test_missing_weather_hour_leaves_weather_missing_and_flagged(typed):
    features = build_features(typed, COUNT_AS_LATE).set_index("flight_id")
    assert features.loc[5, "weather_known"] == 0
    assert features.loc[5, FEATURE_GROUPS["weather"][:-1]].isna().all()
    assert features.loc[2, "weather_known"] == 1
    assert features.loc[2, "precip"] == 0.5


def test_plane_without_a_record_has_missing_attributes(typed):
    features = build_features(typed, COUNT_AS_LATE).set_index("flight_id")
    assert features.loc[4, "plane_known"] == 0 and pd.isna(features.loc[4, "seats"])
    assert features.loc[5, "plane_known"] == 0  # no tail number at all
    assert features.loc[0, "plane_known"] == 1 and features.loc[0, "plane_age"] == 10
    assert pd.isna(features.loc[1, "plane_age"])  # plane known, year of build unknown


def test_schedule_features(typed):
    features = build_features(typed, COUNT_AS_LATE).set_index("flight_id")
    assert features.loc[1, "sched_dep_hour"] == 9
    assert features.loc[1, "sched_dep_minute_of_day"] == 9 * 60 + 55
    assert features.loc[0, "origin_hour_departures"] == 1  # EWR and JFK each have one at 13:00 UTC


def test_calendar_features_know_independence_day():
    # Labor Day 2013 is September 2: 2013-08-10 is 23 days from it, so the distance is capped.
    dates = pd.Series(pd.to_datetime(["2013-07-04", "2013-07-01", "2013-08-10"]))
    calendar = calendar_features(dates)
    assert calendar["days_to_holiday"].tolist() == [0, 3, 14]
    assert calendar["day_of_week"].tolist() == [3, 0, 5]
    assert calendar["month"].tolist() == [7, 7, 8]


def test_a_date_alone_gets_the_distance_it_gets_among_others():
    """A one-flight request and a year of flights see the same holidays (the calendar is
    built for whole years, cached): New Year's Day of the next year included."""
    dates = pd.Series(pd.date_range("2012-12-01", "2014-01-31"))
    together = calendar_features(dates)["days_to_holiday"].tolist()
    alone = [calendar_features(dates.iloc[i : i + 1])["days_to_holiday"].iloc[0] for i in range(len(dates))]
    assert alone == together
    assert together[dates.tolist().index(pd.Timestamp("2013-12-29"))] == 3  # 2014-01-01 is 3 days on
    assert calendar_features(dates.iloc[0:0])["days_to_holiday"].tolist() == []
