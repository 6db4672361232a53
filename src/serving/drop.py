"""A schedule drop to score: its tables found, sized, read and checked like the pipeline's.

A drop is a directory in the format of ``ingest.source`` (``src/core/tables.py``):
``flights`` is required, with the schedule-time columns of :data:`SCHEDULE_SCHEMA`
(post-flight columns, if present, are never read); ``weather`` and ``planes`` are used
when present and checked whole with ``validate``'s schemas, as the pipeline checks them;
``airlines`` and ``airports`` feed no feature, so they are not read (what the model
knows of carriers and airports is in its encoder: see ``features.unseen_categories``).

Flights are read in chunks, so memory does not grow with the drop. A row that fails the
schedule schema is not a failure of the drop: it is rejected with its reasons
(:func:`check_rows`) and the rest are scored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from src.core.params import IngestParams
from src.core.stage import PipelineError
from src.core.tables import MissingTable, SizeLimits, check_table_size, find_table, open_csv, read_table
from src.serving.schema import SCHEDULE_COLUMNS, SCHEDULE_SCHEMA, empty_table
from src.serving.settings import ScoreParams
from src.stages.ingest import size_limits
from src.stages.validate import check_table, describe_failures, mask_implausible

log = logging.getLogger("pipeline")

REFERENCE_TABLES = ("planes", "weather")
TEXT_COLUMNS = tuple(
    name for name, column in SCHEDULE_SCHEMA.columns.items() if str(column.dtype) != "float64"
)
#: Failure cases pandera reports for a value it could not convert.
CONVERSION_CHECKS = ("coerce_dtype", "dtype(")
EXPECTED_KIND = {"float64": "a number", "datetime64[ns, UTC]": "a timestamp"}


@dataclass(frozen=True)
class Drop:
    """The drop's flights file, and its reference tables typed (empty when absent)."""

    directory: Path
    flights: Path
    rows: int | None  # known up front for Parquet; None for CSV
    planes: pd.DataFrame
    weather: pd.DataFrame


def flight_file_columns(path: Path, limits: SizeLimits) -> tuple[list[str], int | None]:
    """The column names of a flights file, and its row count when the format records it."""
    try:
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            metadata = pq.read_metadata(path)
            return list(metadata.schema.to_arrow_schema().names), metadata.num_rows
        with open_csv(path, limits.max_uncompressed_bytes, path) as stream:
            return list(pd.read_csv(stream, nrows=0).columns), None
    except PipelineError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure means this is no table
        raise PipelineError(f"{path}: cannot be read as a table ({first_line(error)})") from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_reference(directory: Path, name: str, limits: SizeLimits) -> pd.DataFrame:
    """Table ``name`` of the drop checked with ``validate``'s schema, or an empty one if absent."""
    try:
        path = find_table(directory, name)
    except MissingTable:
        log.warning("%s: no %s table: every flight is scored without %s data", directory, name, name)
        return empty_table(name)
    try:
        return check_table(name, read_table(path, limits))
    except PipelineError as error:
        first, *rest = [line.strip() for line in str(error).splitlines() if line.strip()]
        named = first if first.startswith(str(path)) else f"{path}: {first}"
        raise PipelineError(" ".join([named, "; ".join(rest)]).strip()) from None


def drop_limits(ingest: IngestParams, score: ScoreParams) -> tuple[SizeLimits, SizeLimits]:
    """A drop's size limits: its reference tables' (ingest's, as the pipeline reads them), its flights file's (score's)."""
    return size_limits(ingest), SizeLimits(score.max_flights_file_bytes, score.max_flights_uncompressed_bytes)


def open_drop(directory: Path, reference_limits: SizeLimits, flights_limits: SizeLimits) -> Drop:
    """Find, size and check a drop's tables; a problem with the drop itself is a one-sentence error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PipelineError(f"{directory}: the drop is not a directory")
    try:
        flights = find_table(directory, "flights")
    except MissingTable as error:
        raise PipelineError(f"{error}: a drop needs at least its flights") from None
    check_table_size(flights, flights_limits)
    columns, rows = flight_file_columns(flights, flights_limits)
    missing = [name for name in SCHEDULE_COLUMNS if name not in columns]
    if missing:
        raise PipelineError(f"{flights}: required column(s) {', '.join(map(repr, missing))} missing")
    if rows == 0:
        raise PipelineError(f"{flights}: the drop holds no flights (0 rows)")
    tables = {name: read_reference(directory, name, reference_limits) for name in REFERENCE_TABLES}
    for finding, detail in mask_implausible(tables).items():
        log.warning(
            "%s: %d implausible value(s) set to missing, as the pipeline does", finding, detail["rows"]
        )
    return Drop(directory, flights, rows, tables["planes"], tables["weather"])


def read_flight_chunks(
    path: Path, chunk_rows: int, limits: SizeLimits, columns: tuple[str, ...] = SCHEDULE_COLUMNS
) -> Iterator[pd.DataFrame]:
    """The flights file's ``columns`` in chunks of ``chunk_rows``, indexed by row number in the file."""
    start = 0
    try:
        for chunk in _raw_chunks(path, chunk_rows, limits, list(columns)):
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk
    except PipelineError:
        raise
    except Exception as error:  # noqa: BLE001 - a parser failure part-way: the file is no table
        raise PipelineError(
            f"{path}: cannot be read as a table after row {start} ({first_line(error)})"
        ) from None


def _raw_chunks(
    path: Path, chunk_rows: int, limits: SizeLimits, columns: list[str]
) -> Iterator[pd.DataFrame]:
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
        return
    # Text columns are read as text in every chunk: a chunk of missing tail numbers must
    # not become a column of floats. Numbers are converted (or rejected) by the schema.
    dtypes = {name: "str" for name in TEXT_COLUMNS if name in columns}
    with open_csv(path, limits.max_uncompressed_bytes, path) as stream:
        yield from pd.read_csv(stream, usecols=columns, dtype=dtypes, chunksize=chunk_rows)


@dataclass(frozen=True)
class CheckedRows:
    """A chunk after the schedule schema: typed valid rows, and the reasons for the others."""

    valid: pd.DataFrame
    reasons: pd.Series  # row number -> why it cannot be scored
    unconverted: dict[str, int]  # column -> values that are not of the column's type


def check_rows(chunk: pd.DataFrame, schema: pa.DataFrameSchema = SCHEDULE_SCHEMA) -> CheckedRows:
    """Validate ``chunk`` with ``schema``; rows that fail are set aside with their reasons."""
    try:
        return CheckedRows(schema.validate(chunk, lazy=True), pd.Series(dtype="str"), {})
    except SchemaErrors as errors:
        cases = errors.failure_cases
    per_row = cases[cases["index"].notna()].copy()
    per_row["index"] = per_row["index"].astype("int64")
    conversions = per_row[per_row["check"].str.startswith(CONVERSION_CHECKS[0])]
    unconverted = conversions.groupby("column")["index"].nunique().to_dict()
    reasons = row_reasons(per_row, schema)
    rest = chunk.drop(index=reasons.index)
    try:
        valid = schema.validate(rest, lazy=True)
    except SchemaErrors as errors:  # a failure that names no row: the chunk as a whole
        lines = describe_failures("flights", rest, errors)
        raise PipelineError("flights failed validation: " + "; ".join(lines)) from None
    return CheckedRows(valid, reasons, unconverted)


def row_reasons(cases: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.Series:
    """One sentence per failing row, from pandera's failure cases (``index``: the row number)."""
    whole_row = cases["schema_context"] == "DataFrameSchema"  # listed once per column of the row
    parts = []
    for check, group in cases[whole_row].drop_duplicates(["index", "check"]).groupby("check"):
        text = next((found.error or check for found in schema.checks if found.name == check), check)
        parts.append(pd.DataFrame({"row": group["index"].to_numpy(), "text": text}))
    for (column, check), group in cases[~whole_row].groupby(["column", "check"], sort=True):
        if check.startswith(CONVERSION_CHECKS[1]):
            continue  # the failed conversion of the same value says it already
        values = group["failure_case"].map(repr).to_numpy()
        if check == "not_nullable":
            text = f"{column} is missing"
        elif check.startswith(CONVERSION_CHECKS[0]):
            kind = EXPECTED_KIND.get(str(schema.columns[column].dtype), "text")
            text = f"{column}=" + values + f" is not {kind}"
        else:
            text = f"{column}=" + values + f" fails {check}"
        parts.append(pd.DataFrame({"row": group["index"].to_numpy(), "text": text}))
    return pd.concat(parts).groupby("row", sort=True)["text"].agg("; ".join).rename("reason")
