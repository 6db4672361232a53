"""Stage ``validate``: check the raw tables and write typed copies for the stages after.

Hard failures (a missing or unreadable table, a missing column, text where numbers
belong, values outside their domain, duplicated keys, an empty table, too many
unmatched references) stop the pipeline with the table, column, number of offending
rows and a few examples. Soft findings (null rates, references with no match, weather
hours not observed, implausible sensor readings) are written to the validation report.

The checks are pandera schemas; this module only adds referential integrity across
tables, which a single-table schema cannot express.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from src.core.files import atomic_path, write_json
from src.core.params import ValidateParams, load_params
from src.core.stage import PipelineError, run_stage
from src.core.tables import TABLE_NAMES, MissingTable, find_table, read_table, write_parquet

log = logging.getLogger("pipeline")

EXAMPLES_SHOWN = 3
UTC_TIMESTAMP = pd.DatetimeTZDtype("ns", "UTC")


def _int(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    # Float storage, because a CSV column of integers with a gap reads as float.
    return pa.Column(float, checks=list(checks), nullable=nullable, coerce=True)


def _num(*checks: pa.Check, nullable: bool = True) -> pa.Column:
    return pa.Column(float, checks=list(checks), nullable=nullable, coerce=True)


def _text(nullable: bool = False) -> pa.Column:
    return pa.Column(str, nullable=nullable, coerce=True)


_WHOLE = pa.Check(lambda s: s % 1 == 0, element_wise=False, name="whole_number")
_CLOCK = pa.Check(lambda s: s % 100 < 60, element_wise=False, name="clock_time_hhmm")

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "flights": pa.DataFrameSchema(
        {
            "year": _int(pa.Check.in_range(1900, 2100), _WHOLE),
            "month": _int(pa.Check.in_range(1, 12), _WHOLE),
            "day": _int(pa.Check.in_range(1, 31), _WHOLE),
            "dep_time": _num(pa.Check.in_range(0, 2400)),
            "sched_dep_time": _int(pa.Check.in_range(0, 2359), _CLOCK),
            "dep_delay": _num(),
            "arr_time": _num(pa.Check.in_range(0, 2400)),
            "sched_arr_time": _int(pa.Check.in_range(0, 2359), _CLOCK),
            "arr_delay": _num(),
            "carrier": _text(),
            "flight": _int(pa.Check.ge(0)),
            "tailnum": _text(nullable=True),
            "origin": _text(),
            "dest": _text(),
            "air_time": _num(pa.Check.ge(0)),
            "distance": _num(pa.Check.in_range(0, 13000, include_min=False), nullable=False),
            "hour": _int(pa.Check.in_range(0, 23)),
            "minute": _int(pa.Check.in_range(0, 59)),
            "time_hour": pa.Column(UTC_TIMESTAMP, coerce=True),
        },
        strict=False,
        name="flights",
    ),
    "weather": pa.DataFrameSchema(
        {
            "origin": _text(),
            "year": _int(pa.Check.in_range(1900, 2100)),
            "month": _int(pa.Check.in_range(1, 12)),
            "day": _int(pa.Check.in_range(1, 31)),
            "hour": _int(pa.Check.in_range(0, 23)),
            "temp": _num(pa.Check.in_range(-80, 140)),
            "dewp": _num(pa.Check.in_range(-100, 100)),
            "humid": _num(pa.Check.in_range(0, 100)),
            "wind_dir": _num(pa.Check.in_range(0, 360)),
            "wind_speed": _num(pa.Check.ge(0)),
            "wind_gust": _num(pa.Check.ge(0)),
            "precip": _num(pa.Check.ge(0)),
            "pressure": _num(pa.Check.in_range(850, 1100)),
            "visib": _num(pa.Check.ge(0)),
            "time_hour": pa.Column(UTC_TIMESTAMP, coerce=True),
        },
        unique=["origin", "time_hour"],
        strict=False,
        name="weather",
    ),
    "planes": pa.DataFrameSchema(
        {
            "tailnum": _text(),
            "year": _num(pa.Check.in_range(1900, 2100)),
            "type": _text(nullable=True),
            "manufacturer": _text(nullable=True),
            "model": _text(nullable=True),
            "engines": _num(pa.Check.in_range(0, 8)),
            "seats": _num(pa.Check.in_range(1, 1000)),
            "speed": _num(pa.Check.ge(0)),
            "engine": _text(nullable=True),
        },
        unique=["tailnum"],
        strict=False,
        name="planes",
    ),
    "airports": pa.DataFrameSchema(
        {
            "faa": _text(),
            "name": _text(nullable=True),
            "lat": _num(pa.Check.in_range(-90, 90)),
            "lon": _num(pa.Check.in_range(-180, 180)),
            "alt": _num(),
            "tz": _num(pa.Check.in_range(-12, 14)),
            "dst": _text(nullable=True),
            "tzone": _text(nullable=True),
        },
        unique=["faa"],
        strict=False,
        name="airports",
    ),
    "airlines": pa.DataFrameSchema(
        {"carrier": _text(), "name": _text(nullable=True)},
        unique=["carrier"],
        strict=False,
        name="airlines",
    ),
}

#: Readings that are valid numbers but physically implausible: recorded as a soft
#: finding and set to missing in the typed tables (the real data has one wind speed
#: of 1,048 mph, a sensor glitch).
PLAUSIBLE_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("weather", "wind_speed"): (0.0, 150.0),
    ("weather", "wind_gust"): (0.0, 200.0),
}


@dataclass(frozen=True)
class Reference:
    """A foreign key from flights into another table."""

    column: str
    table: str
    key: str


REFERENCES = (
    Reference("carrier", "airlines", "carrier"),
    Reference("origin", "airports", "faa"),
    Reference("dest", "airports", "faa"),
    Reference("tailnum", "planes", "tailnum"),
)


def _examples(values: pd.Series) -> str:
    shown = values.drop_duplicates().head(EXAMPLES_SHOWN).tolist()
    return ", ".join(repr(value) for value in shown)


def describe_failures(table: str, frame: pd.DataFrame, errors: SchemaErrors) -> list[str]:
    """One line per failed (column, check): what failed, in how many rows, examples.

    A column that could not be converted to its type reports only that: the range
    checks that fail on it as a consequence would be noise.
    """
    cases = errors.failure_cases
    uncoercible = set(cases.loc[cases["check"].str.startswith("coerce_dtype"), "column"])
    lines = []
    key_rows = cases[cases["check"] == "multiple_fields_uniqueness"]["index"].dropna()
    if len(key_rows):
        key = SCHEMAS[table].unique
        duplicated = frame.loc[sorted(set(key_rows.astype(int))), key]
        examples = _examples(pd.Series(list(duplicated.itertuples(index=False, name=None))))
        lines.append(f"{table}[{', '.join(key)}]: {len(duplicated)} row(s) share a key (e.g. {examples})")
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
        if check == "multiple_fields_uniqueness":
            continue
        if column in uncoercible and not check.startswith("coerce_dtype"):
            continue
        if check == "column_in_dataframe":
            missing = ", ".join(repr(name) for name in group["failure_case"])
            lines.append(f"{table}: required column(s) {missing} missing")
            continue
        rows = group["index"].dropna().nunique() or len(group)
        where = table if pd.isna(column) or column == table else f"{table}.{column}"
        lines.append(f"{where}: {rows} row(s) fail {check} (e.g. {_examples(group['failure_case'])})")
    return lines


def check_table(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate one table against its schema; return it with the schema's types."""
    if frame.empty:
        raise PipelineError(f"table '{table}' is empty (0 rows)")
    try:
        return SCHEMAS[table].validate(frame, lazy=True)
    except SchemaErrors as errors:
        lines = describe_failures(table, frame, errors)
        raise PipelineError(
            f"table '{table}' failed validation:\n" + "\n".join(f"  {line}" for line in lines)
        ) from None


def check_tables(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Validate every table, reporting the problems of all of them together."""
    typed = {}
    problems = [f"table '{name}' is missing" for name in TABLE_NAMES if name not in raw]
    for name, frame in raw.items():
        try:
            typed[name] = check_table(name, frame)
        except PipelineError as error:
            problems.append(str(error))
    if problems:
        raise PipelineError("\n".join(problems))
    return typed


def null_fractions(frame: pd.DataFrame) -> dict[str, float]:
    """Share of missing values per column, for columns that have any."""
    shares = frame.isna().mean()
    return {column: round(float(share), 6) for column, share in shares.items() if share > 0}


def mask_implausible(tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Set implausible readings to missing in place; return what was masked."""
    findings = {}
    for (table, column), (low, high) in PLAUSIBLE_RANGES.items():
        values = tables[table][column]
        implausible = values.notna() & ~values.between(low, high)
        if implausible.any():
            findings[f"{table}.{column}"] = {
                "rows": int(implausible.sum()),
                "plausible_range": [low, high],
                "examples": values[implausible].head(EXAMPLES_SHOWN).tolist(),
            }
            tables[table].loc[implausible, column] = float("nan")
    return findings


def unmatched_references(tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """For each foreign key of flights, the flights whose value has no match."""
    flights = tables["flights"]
    findings = {}
    for ref in REFERENCES:
        values = flights[ref.column]
        unmatched = values.notna() & ~values.isin(tables[ref.table][ref.key])
        missing = values.isna()
        top = values[unmatched].value_counts().head(5)
        findings[f"flights.{ref.column} -> {ref.table}.{ref.key}"] = {
            "unmatched_rows": int(unmatched.sum()),
            "missing_rows": int(missing.sum()),
            "fraction": round(float((unmatched | missing).mean()), 6),
            "top_unmatched": {str(key): int(count) for key, count in top.items()},
        }
    return findings


def weather_coverage(tables: dict[str, pd.DataFrame]) -> dict[str, float | int]:
    """How many flights have a weather observation at their origin and scheduled hour."""
    flights, weather = tables["flights"], tables["weather"]
    observed = pd.MultiIndex.from_frame(weather[["origin", "time_hour"]])
    wanted = pd.MultiIndex.from_frame(flights[["origin", "time_hour"]])
    without = int((~wanted.isin(observed)).sum())
    local_hours = weather.duplicated(["origin", "year", "month", "day", "hour"]).sum()
    return {
        "flights_without_weather": without,
        "fraction_without_weather": round(without / len(flights), 6),
        # Two UTC hours share one local hour when clocks go back in autumn.
        "duplicate_local_hours": int(local_hours),
    }


def enforce_limits(report: dict, limits: ValidateParams) -> None:
    """Turn soft findings that exceed the configured limits into a hard failure."""
    problems = []
    for name, finding in report["references"].items():
        if finding["fraction"] > limits.max_unmatched_fraction:
            problems.append(
                f"{name}: {finding['unmatched_rows'] + finding['missing_rows']} flights "
                f"({finding['fraction']:.1%}) have no match, more than "
                f"validate.max_unmatched_fraction={limits.max_unmatched_fraction} "
                f"(e.g. {', '.join(list(finding['top_unmatched'])[:EXAMPLES_SHOWN])})"
            )
    coverage = report["weather"]
    if coverage["fraction_without_weather"] > limits.max_missing_weather_fraction:
        problems.append(
            f"flights.origin,time_hour -> weather: {coverage['flights_without_weather']} flights "
            f"({coverage['fraction_without_weather']:.1%}) have no weather observation, more than "
            f"validate.max_missing_weather_fraction={limits.max_missing_weather_fraction}"
        )
    if problems:
        raise PipelineError("referential integrity failed:\n" + "\n".join(f"  {line}" for line in problems))


def validate_tables(
    raw: dict[str, pd.DataFrame], limits: ValidateParams
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Check every table and their references; return typed tables and the report."""
    typed = check_tables(raw)
    report = {
        "tables": {
            name: {"rows": len(frame), "columns": frame.shape[1], "null_fraction": null_fractions(frame)}
            for name, frame in typed.items()
        },
        "implausible_values": mask_implausible(typed),
        "references": unmatched_references(typed),
        "weather": weather_coverage(typed),
    }
    enforce_limits(report, limits)
    return typed, report


def check_raw_dir(
    raw_dir: Path, limits: ValidateParams, label: str | None = None
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Read and validate the tables in ``raw_dir``; errors start with ``label`` (default: the directory)."""
    raw = {}
    for name in TABLE_NAMES:
        with suppress(MissingTable):  # reported by validate_tables with the other problems
            path = find_table(raw_dir, name)
            raw[name] = read_table(path)
            log.info("read %s: %d rows", path.name, len(raw[name]))
    try:
        return validate_tables(raw, limits)
    except PipelineError as error:
        raise PipelineError(f"{label or raw_dir}: {error}") from None


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.validate",
        description="Validate the raw tables in RAW_DIR; write typed Parquet copies to "
        "TYPED_DIR and the findings to REPORT. Exits 1 with a message on a hard failure.",
    )
    parser.add_argument("raw_dir", type=Path, help="raw tables (data/raw)")
    parser.add_argument("typed_dir", type=Path, help="validated, typed tables (data/interim)")
    parser.add_argument("report", type=Path, help="validation report (metrics/validation.json)")
    args = parser.parse_args()

    params = load_params()
    typed, report = check_raw_dir(args.raw_dir, params.validate_)

    for name, finding in report["references"].items():
        if finding["fraction"]:
            log.info("soft finding: %s unmatched in %.1f%% of flights", name, 100 * finding["fraction"])
    with atomic_path(args.typed_dir) as staged:
        staged.mkdir()
        for name, frame in typed.items():
            write_parquet(frame, staged / f"{name}.parquet")
    write_json(report, args.report)
    log.info("all tables valid; report in %s", args.report)


if __name__ == "__main__":
    run_stage("validate", main)
