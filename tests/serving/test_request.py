"""A request's flights become the tables a drop would give, typed as the pipeline types them."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from pydantic import ValidationError

from src.core.params import ValidateParams
from src.serving.request import Flight, RequestProblems, request_model, to_tables
from src.serving.schema import SCHEDULE_SCHEMA
from src.stages.validate import validate_tables
from tests.serving.frames import request_flights, schedule
from tests.stages import frames

Body = request_model(max_flights=10)


def parse(flights: list[dict]) -> list:
    return Body.model_validate({"flights": flights}).flights


def test_the_request_model_carries_the_schemas_constraints() -> None:
    properties = Flight.model_json_schema()["properties"]
    assert (properties["sched_dep_time"]["minimum"], properties["sched_dep_time"]["maximum"]) == (0, 2359)
    assert properties["carrier"]["pattern"] == "^[A-Z0-9]{2}$"
    assert "origin_hour_departures" in Flight.model_json_schema()["required"]
    assert "arr_delay" not in properties  # only what is known when the flight is scheduled


def test_a_requests_tables_are_the_tables_validate_would_give() -> None:
    tables = to_tables(parse(request_flights()))
    typed, _ = validate_tables(
        frames.raw_tables(), ValidateParams(max_unmatched_fraction=1, max_missing_weather_fraction=1)
    )
    assert_frame_equal(tables.flights, SCHEDULE_SCHEMA.validate(schedule()))
    assert_frame_equal(tables.planes, typed["planes"])
    # Only the observations the flights carried: the same rows for the hours they fly in.
    assert_frame_equal(tables.weather.reset_index(drop=True), typed["weather"].reset_index(drop=True))
    assert tables.departures.tolist() == [1] * 6


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sched_dep_time": 2575}, "sched_dep_time"),
        ({"carrier": "u-a"}, "carrier"),
        ({"distance": "far"}, "distance"),
        ({"arr_delay": 3.0}, "arr_delay"),
    ],
)
def test_the_model_refuses_values_the_schema_refuses(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse([{**request_flights()[0], **change}])
    assert [e["loc"][-1] for e in error.value.errors()] == [field]


def test_custom_checks_and_inconsistent_tables_are_problems_with_their_place() -> None:
    flights = request_flights()
    flights[0]["sched_dep_time"] = 1075  # 10:75
    flights[1]["month"], flights[1]["day"] = 2, 30
    flights[2]["plane"] = {**flights[0]["plane"], "seats": 99.0}  # N1 again, but other seats
    flights[5]["plane"] = {"year": 2000.0}  # no tail number to attach it to
    with pytest.raises(RequestProblems) as error:
        to_tables(parse(flights))
    found = [(e["loc"][2:], e["type"]) for e in error.value.errors]
    assert found == [
        ([0, "sched_dep_time"], "clock_time_hhmm"),
        ([1], "calendar_date"),
        ([2, "plane"], "conflict"),
        ([5, "plane"], "missing_tailnum"),
    ]
    assert error.value.errors[1]["input"] == {"year": 2013, "month": 2, "day": 30}


def test_an_implausible_reading_is_masked_as_validate_masks_it() -> None:
    flights = request_flights()
    flights[0]["weather"]["wind_speed"] = 1048.0
    tables = to_tables(parse(flights))
    assert pd.isna(tables.weather.loc[0, "wind_speed"])


@pytest.mark.parametrize("when", ["1244-05-04T22:28:16Z", "9999-12-31T23:00:00+00:00"])
def test_a_time_beyond_the_pipelines_timestamps_is_a_problem_not_a_crash(when: str) -> None:
    flights = request_flights()[:1]
    flights[0]["time_hour"] = when
    with pytest.raises(RequestProblems) as error:
        to_tables(parse(flights))
    assert [(e["loc"][3], e["type"]) for e in error.value.errors] == [("time_hour", "timestamp_range")]
