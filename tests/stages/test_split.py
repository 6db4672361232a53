import datetime as dt

import pandas as pd
import pytest

from src.core.params import SplitParams
from src.core.stage import PipelineError
from src.stages.split import split_by_period


def periods(**overrides) -> SplitParams:
    spec = {
        "train": {"start": "2013-01-01", "end": "2013-01-10"},
        "validation": {"start": "2013-01-11", "end": "2013-01-15"},
        "test": {"start": "2013-01-16", "end": "2013-01-20"},
    }
    spec.update(overrides)
    return SplitParams.model_validate(spec)


@pytest.fixture
def features() -> pd.DataFrame:
    dates = pd.date_range("2013-01-01", "2013-01-25", freq="D")
    return pd.DataFrame({"date": dates, "flight_id": range(len(dates)), "is_late": [0, 1] * 12 + [0]})


def test_periods_are_inclusive_and_in_time_order(features):
    parts = split_by_period(features, periods())
    assert parts["train"]["date"].min() == pd.Timestamp("2013-01-01")
    assert parts["train"]["date"].max() == pd.Timestamp("2013-01-10")
    assert parts["validation"]["date"].tolist() == list(pd.date_range("2013-01-11", "2013-01-15"))
    assert parts["train"]["date"].max() < parts["validation"]["date"].min()
    assert parts["validation"]["date"].max() < parts["test"]["date"].min()


def test_flights_outside_every_period_are_left_out(features):
    parts = split_by_period(features, periods())
    kept = sum(len(part) for part in parts.values())
    assert kept == 20  # 21..25 January belong to no period


def test_split_is_not_random(features):
    shuffled = features.sample(frac=1, random_state=1)
    first = split_by_period(features, periods())
    second = split_by_period(shuffled, periods())
    for name in first:
        assert set(first[name]["flight_id"]) == set(second[name]["flight_id"])


def test_empty_period_names_the_parameter_and_the_data_range(features):
    empty = periods(test={"start": "2014-01-01", "end": "2014-02-01"})
    with pytest.raises(PipelineError) as caught:
        split_by_period(features, empty)
    message = str(caught.value)
    assert "split.test" in message
    assert "2013-01-01 to 2013-01-25" in message


def test_period_dates_parse_from_strings():
    assert periods().train.start == dt.date(2013, 1, 1)
