"""What a flight to score must look like: the pipeline's schemas, schedule-time columns only.

The flights schema is ``validate``'s own (:data:`src.stages.validate.SCHEMAS`) without the
columns that exist only after the flight, plus four checks that training never needed
because its data was clean, and that scoring needs to reject a row rather than fail on
it: airline and airport codes well formed, and a date that exists. Batch scoring checks
drops with it through pandera; the HTTP service turns the same columns and built-in
checks into its request model (:mod:`src.serving.request`) and runs the custom checks
(:func:`custom_check_failures`) through pandera's own check objects.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pandera.pandas as pa

from src.stages.featurize import POST_DEPARTURE_COLUMNS
from src.stages.validate import SCHEMAS

#: What identifies a flight in a drop (unique in the 2013 data), written beside each score.
KEY_COLUMNS = ("year", "month", "day", "carrier", "flight", "origin")
#: Built-in pandera checks that the HTTP request model expresses as JSON Schema constraints.
DECLARATIVE_CHECKS = frozenset({"in_range", "greater_than_or_equal_to", "str_matches"})


def _calendar_date(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame[["year", "month", "day"]], errors="coerce").notna()


CARRIER_CODE = pa.Check.str_matches(r"^[A-Z0-9]{2}$")
AIRPORT_CODE = pa.Check.str_matches(r"^[A-Z0-9]{3}$")
#: A flight number is part of the key written beside each score, as an integer.
WHOLE_NUMBER = pa.Check(lambda s: s % 1 == 0, element_wise=False, name="whole_number")
CALENDAR_DATE = pa.Check(_calendar_date, name="calendar_date", error="year, month and day make no date")


def schedule_schema() -> pa.DataFrameSchema:
    """``validate``'s flights schema without post-flight columns, with the scoring checks added."""
    flights = SCHEMAS["flights"].remove_columns(list(POST_DEPARTURE_COLUMNS))
    columns = dict(flights.columns)
    added = (
        ("carrier", CARRIER_CODE),
        ("origin", AIRPORT_CODE),
        ("dest", AIRPORT_CODE),
        ("flight", WHOLE_NUMBER),
    )
    for name, check in added:
        columns[name] = columns[name].set_checks([*columns[name].checks, check])
    return pa.DataFrameSchema(columns, checks=[CALENDAR_DATE], strict=False, name="flights")


SCHEDULE_SCHEMA = schedule_schema()
SCHEDULE_COLUMNS: tuple[str, ...] = tuple(SCHEDULE_SCHEMA.columns)
#: The columns ``featurize.schedule_features`` reads: what the departure count needs (batch pass 1).
DEPARTURE_COLUMNS = ("origin", "time_hour", "sched_dep_time", "sched_arr_time")


def column_dtypes(schema: pa.DataFrameSchema, columns: Iterable[str] | None = None) -> dict[str, object]:
    """The pandas dtype the schema coerces each column to."""
    names = schema.columns if columns is None else columns
    return {name: schema.columns[name].dtype.type for name in names}


def empty_table(table: str) -> pd.DataFrame:
    """A table of the pipeline's schema with no rows, typed as ``validate`` types it."""
    schema = SCHEMAS[table]
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in column_dtypes(schema).items()})


def custom_checks(schema: pa.DataFrameSchema) -> list[tuple[str | None, pa.Check]]:
    """(column, check) for every check that is not a JSON Schema constraint (column None: whole row)."""
    found: list[tuple[str | None, pa.Check]] = [(None, check) for check in schema.checks]
    for name, column in schema.columns.items():
        found += [(name, check) for check in column.checks if check.name not in DECLARATIVE_CHECKS]
    return found


def custom_check_failures(
    frame: pd.DataFrame, schema: pa.DataFrameSchema
) -> list[tuple[int, str | None, str]]:
    """(row position, column or None, check name) for every value of ``frame`` a custom check refuses.

    ``frame`` is already typed (the request model checked types and constraints); the
    checks are pandera's own objects, vectorised over the frame.
    """
    failures = []
    for column, check in custom_checks(schema):
        passed = check(frame if column is None else frame[column]).check_output
        if column is not None and schema.columns[column].nullable:
            passed = passed | frame[column].isna()
        for position in map(int, (~passed.to_numpy(dtype=bool)).nonzero()[0]):
            failures.append((position, column, str(check.name)))
    return sorted(failures, key=lambda failure: failure[0])
