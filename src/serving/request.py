"""The HTTP service's bodies, derived from the pipeline's schemas, and a request turned into tables.

A flight in a request is a row of a drop's flights table (the schedule-time columns of
:data:`SCHEDULE_SCHEMA`), plus what a drop would provide around it: the origin-hour
departure count (a request is not the whole schedule), and optionally the plane's row of
``planes`` and the origin's ``weather`` observation for the scheduled hour. Field types,
nullability and the schema's built-in checks (ranges, code patterns) become the request
model's JSON Schema constraints, so the OpenAPI page shows them and pydantic enforces
them; the schema's custom checks (whole numbers, clock times, real dates) run on the
request's table through pandera's own check objects (:func:`to_tables`).

:func:`to_tables` builds the ``flights``, ``planes`` and ``weather`` tables typed as
``validate`` types them, so ``featurize`` sees a request exactly as it sees a drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from src.serving.schema import (
    DECLARATIVE_CHECKS,
    SCHEDULE_COLUMNS,
    SCHEDULE_SCHEMA,
    column_dtypes,
    custom_check_failures,
)
from src.stages.validate import SCHEMAS, mask_implausible

#: Columns of a weather row that come from the flight it is attached to.
WEATHER_FROM_FLIGHT = ("origin", "time_hour", "year", "month", "day", "hour")
#: An upper bound that keeps the count within the feature's 32-bit integer type.
MAX_DEPARTURES = 100_000
#: The times a nanosecond timestamp (the pipeline's ``time_hour``) can hold.
TIMESTAMP_MIN, TIMESTAMP_MAX = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
#: What each custom check of the schema expects, for 422 messages.
EXPECTED = {
    "whole_number": "a whole number",
    "clock_time_hhmm": "a clock time as HHMM (minutes 00-59)",
    "calendar_date": "year, month and day of a date that exists",
}
#: Python's ``re``, as pandera's ``str_matches`` uses, so a pattern means the same in both.
STRICT = ConfigDict(extra="forbid", regex_engine="python-re")


def field_definition(column: pa.Column) -> tuple[Any, FieldInfo]:
    """A pydantic field for a pandera column: its type, nullability and built-in checks."""
    constraints: dict[str, Any] = {}
    for check in column.checks:
        if check.name not in DECLARATIVE_CHECKS:
            continue  # a custom check: run by to_tables on the request's table
        stats = check.statistics
        if check.name == "in_range":
            constraints["ge" if stats["include_min"] else "gt"] = stats["min_value"]
            constraints["le" if stats["include_max"] else "lt"] = stats["max_value"]
        elif check.name == "greater_than_or_equal_to":
            constraints["ge"] = stats["min_value"]
        else:
            constraints["pattern"] = stats["pattern"]
    dtype = str(column.dtype)
    if dtype == "float64":
        kind: Any = float
        constraints.update(strict=True, allow_inf_nan=False)
    elif dtype.startswith("datetime64"):
        kind = AwareDatetime
    else:
        kind = str
        constraints.update(strict=True)
    if column.nullable:
        return kind | None, Field(None, **constraints)
    return kind, Field(..., **constraints)


def model_of(
    name: str, schema: pa.DataFrameSchema, leave_out: tuple[str, ...] = (), **extra: Any
) -> type[BaseModel]:
    fields = {
        column: field_definition(schema.columns[column])
        for column in schema.columns
        if column not in leave_out
    }
    return create_model(name, __config__=STRICT, **fields, **extra)


Plane = model_of("Plane", SCHEMAS["planes"], leave_out=("tailnum",))
Weather = model_of("Weather", SCHEMAS["weather"], leave_out=WEATHER_FROM_FLIGHT)
Flight = model_of(
    "Flight",
    SCHEDULE_SCHEMA,
    origin_hour_departures=(
        int,
        Field(
            ...,
            strict=True,
            ge=1,
            le=MAX_DEPARTURES,
            description="Departures the origin airport has scheduled in this flight's hour (time_hour), "
            "this flight included, counted over the whole schedule: the service sees one request, "
            "not the schedule, so the caller counts it (batch scoring counts it over the drop).",
        ),
    ),
    plane=(
        Plane | None,
        Field(None, description="The plane's row of the planes table; absent: unknown plane."),
    ),
    weather=(
        Weather | None,
        Field(None, description="The weather at the origin in the scheduled hour; absent: not observed."),
    ),
)


def request_model(max_flights: int) -> type[BaseModel]:
    """The body of ``POST /predict``: one or more flights, at most ``max_flights``."""
    return create_model(
        "PredictRequest",
        __config__=STRICT,
        flights=(list[Flight], Field(..., min_length=1, max_length=max_flights)),
    )


class ModelInfo(BaseModel):
    name: str
    version: str
    md5: str


class Prediction(BaseModel):
    probability: float = Field(
        description="Probability of arriving late, as the pipeline's evaluate stage scores it"
    )
    flagged_late: bool = Field(description="probability >= threshold")


class PredictResponse(BaseModel):
    model: ModelInfo
    threshold: float
    predictions: list[Prediction] = Field(description="One per flight, in the request's order")


class Health(BaseModel):
    status: str
    model: ModelInfo
    threshold: float


class RequestProblems(Exception):
    """Values a request's model cannot express: they are answered 422 like the model's own errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the request")
        self.errors = errors


def problem(position: int, field: str | None, value: Any, kind: str, message: str) -> dict[str, Any]:
    location: list[Any] = ["body", "flights", position] + ([field] if field else [])
    return {"type": kind, "loc": location, "msg": message, "input": value}


@dataclass(frozen=True)
class RequestTables:
    flights: pd.DataFrame
    planes: pd.DataFrame
    weather: pd.DataFrame
    departures: np.ndarray


def typed_table(rows: list[dict[str, Any]], table: str | pa.DataFrameSchema) -> pd.DataFrame:
    """Rows as a table with the columns and types ``validate`` gives ``table``."""
    schema = SCHEMAS[table] if isinstance(table, str) else table
    columns = {}
    for column, dtype in column_dtypes(schema).items():
        values = [row.get(column) for row in rows]
        if str(dtype).startswith("datetime64"):
            # Far-off years do not fit the nanosecond type: they become missing (reported as a problem).
            stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce")
            columns[column] = stamps.where(stamps.between(TIMESTAMP_MIN, TIMESTAMP_MAX)).astype(dtype)
        else:
            columns[column] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def unique_rows(
    flights: list[Any], rows: list[tuple[int, dict[str, Any]]], key: tuple[str, ...], field: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of a reference table, one per key; a key given twice with other values is a problem."""
    kept: dict[tuple, tuple[int, dict[str, Any]]] = {}
    problems = []
    for position, row in rows:
        identity = tuple(row[name] for name in key)
        if identity in kept and kept[identity][1] != row:
            first = kept[identity][0]
            message = f"differs from the {field} given for the same {', '.join(key)} in flights[{first}]"
            given = getattr(flights[position], field).model_dump()
            problems.append(problem(position, field, given, "conflict", message))
        kept.setdefault(identity, (position, row))
    return [row for _, row in kept.values()], problems


def value_problems(flights: list[Any], table: pd.DataFrame) -> list[dict[str, Any]]:
    """What the request model cannot check: timestamps out of the table's range, and custom checks."""
    problems = []
    for position in map(int, np.flatnonzero(table["time_hour"].isna().to_numpy())):
        value = flights[position].time_hour.isoformat()
        message = "Value should be a time between the years 1677 and 2262"
        problems.append(problem(position, "time_hour", value, "timestamp_range", message))
    for position, column, check in custom_check_failures(table, SCHEDULE_SCHEMA):
        flight = flights[position]
        if column is None:  # a check of the whole row: the date's parts
            value = {name: getattr(flight, name) for name in ("year", "month", "day")}
        else:
            value = getattr(flight, column)
        message = f"Value should be {EXPECTED.get(check, f'accepted by {check}')}"
        problems.append(problem(position, column, value, check, message))
    return problems


def reference_rows(flights: list[Any]) -> tuple[list, list, list[dict[str, Any]]]:
    """(position, row) of the planes and weather tables the flights carry; a plane without a tailnum is a problem."""
    planes, weather, problems = [], [], []
    for position, flight in enumerate(flights):
        if flight.plane is not None:
            plane = flight.plane.model_dump()
            if flight.tailnum is None:
                message = "A plane needs the flight's tailnum"
                problems.append(problem(position, "plane", plane, "missing_tailnum", message))
            else:
                planes.append((position, {"tailnum": flight.tailnum, **plane}))
        if flight.weather is not None:
            keys = {name: getattr(flight, name) for name in WEATHER_FROM_FLIGHT}
            weather.append((position, {**keys, **flight.weather.model_dump()}))
    return planes, weather, problems


def to_tables(flights: list[Any]) -> RequestTables:
    """The request's flights, planes and weather as typed tables; :class:`RequestProblems` if they cannot be."""
    table = typed_table(
        [{name: getattr(f, name) for name in SCHEDULE_COLUMNS} for f in flights], SCHEDULE_SCHEMA
    )
    problems = value_problems(flights, table)
    plane_rows, weather_rows, reference_problems = reference_rows(flights)
    planes, plane_conflicts = unique_rows(flights, plane_rows, ("tailnum",), "plane")
    weather, weather_conflicts = unique_rows(flights, weather_rows, ("origin", "time_hour"), "weather")
    problems += reference_problems + plane_conflicts + weather_conflicts
    if problems:
        raise RequestProblems(sorted(problems, key=lambda item: item["loc"][2]))
    references = {"planes": typed_table(planes, "planes"), "weather": typed_table(weather, "weather")}
    mask_implausible(references)  # as validate does: a glitch reading becomes missing
    departures = np.array([flight.origin_hour_departures for flight in flights], dtype=np.int64)
    return RequestTables(table, references["planes"], references["weather"], departures)


def json_value(value: Any) -> Any:
    """A table's value as JSON carries it: None for missing, ISO text for a time, plain numbers."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def request_bodies(
    flights: pd.DataFrame, planes: pd.DataFrame, weather: pd.DataFrame, departures: np.ndarray
) -> list[dict[str, Any]]:
    """Typed tables' flights as ``POST /predict`` takes them: the inverse of :func:`to_tables`.

    For clients that hold the drop's tables, the tests and the benchmark.
    """
    plane_of = planes.set_index("tailnum")[list(Plane.model_fields)]
    weather_at = weather.set_index(["origin", "time_hour"])[list(Weather.model_fields)]
    bodies = []
    for position, row in enumerate(flights[list(SCHEDULE_COLUMNS)].to_dict("records")):
        body = {name: json_value(value) for name, value in row.items()}
        body["origin_hour_departures"] = int(departures[position])
        if row["tailnum"] in plane_of.index:
            body["plane"] = {name: json_value(v) for name, v in plane_of.loc[row["tailnum"]].items()}
        if (row["origin"], row["time_hour"]) in weather_at.index:
            observed = weather_at.loc[(row["origin"], row["time_hour"])]
            body["weather"] = {name: json_value(v) for name, v in observed.items()}
        bodies.append(body)
    return bodies
