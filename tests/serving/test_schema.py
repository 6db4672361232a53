"""The schedule schema is validate's, minus post-flight columns, plus the checks scoring needs."""

from __future__ import annotations

import pandas as pd

from src.serving.schema import SCHEDULE_SCHEMA, custom_check_failures, empty_table
from src.stages.featurize import POST_DEPARTURE_COLUMNS
from src.stages.validate import SCHEMAS
from tests.serving.frames import schedule


def test_it_is_the_pipelines_flights_schema_without_post_flight_columns() -> None:
    pipeline = SCHEMAS["flights"]
    assert set(SCHEDULE_SCHEMA.columns) == set(pipeline.columns) - set(POST_DEPARTURE_COLUMNS)
    for name, column in SCHEDULE_SCHEMA.columns.items():
        assert column.dtype == pipeline.columns[name].dtype
        assert column.nullable == pipeline.columns[name].nullable
        # Every check of the pipeline's column is kept; scoring may only add.
        kept = [check.name for check in column.checks[: len(pipeline.columns[name].checks)]]
        assert kept == [check.name for check in pipeline.columns[name].checks]


def test_custom_checks_find_the_rows_they_refuse() -> None:
    flights = SCHEDULE_SCHEMA.validate(schedule())
    flights.loc[1, "sched_dep_time"] = 1075.0  # 10:75
    flights.loc[3, ["month", "day"]] = [2.0, 30.0]  # 30 February
    flights.loc[4, "year"] = 2013.5
    assert custom_check_failures(flights, SCHEDULE_SCHEMA) == [
        (1, "sched_dep_time", "clock_time_hhmm"),
        (3, None, "calendar_date"),
        (4, None, "calendar_date"),
        (4, "year", "whole_number"),
    ]


def test_an_absent_table_is_empty_but_typed_like_a_validated_one() -> None:
    empty = empty_table("weather")
    assert empty.empty
    assert dict(empty.dtypes) == dict(SCHEMAS["weather"].validate(pd.DataFrame(empty)).dtypes)
