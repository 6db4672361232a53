"""Stage ``split``: train, validation and test sets by scheduled date, never at random.

The periods come from ``split`` in params.yaml (inclusive dates, in that order, not
overlapping). Flights outside every period are left out. A period with no flights
is an error, raised before anything is written.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from src.core.files import atomic_path
from src.core.params import Period, SplitParams, load_params
from src.core.stage import PipelineError, run_stage
from src.core.tables import write_parquet

log = logging.getLogger("pipeline")

SPLIT_NAMES = ("train", "validation", "test")


def in_period(dates: pd.Series, period: Period) -> pd.Series:
    """Whether each date falls in ``period``, both ends included."""
    return dates.between(pd.Timestamp(period.start), pd.Timestamp(period.end))


def split_by_period(features: pd.DataFrame, periods: SplitParams) -> dict[str, pd.DataFrame]:
    """Cut ``features`` by its ``date`` column into the configured periods."""
    parts = {}
    for name in SPLIT_NAMES:
        period: Period = getattr(periods, name)
        part = features[in_period(features["date"], period)].reset_index(drop=True)
        if part.empty:
            first, last = features["date"].min(), features["date"].max()
            raise PipelineError(
                f"split.{name}: no flights between {period.start} and {period.end} "
                f"(the data covers {first:%Y-%m-%d} to {last:%Y-%m-%d})"
            )
        parts[name] = part
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.split",
        description="Write train/validation/test Parquet files cut by the periods in params.yaml.",
    )
    parser.add_argument("features", type=Path, help="feature table (data/features/flights.parquet)")
    parser.add_argument("out_dir", type=Path, help="where the splits go (data/split)")
    args = parser.parse_args()

    params = load_params()
    parts = split_by_period(pd.read_parquet(args.features), params.split)
    with atomic_path(args.out_dir) as staged:
        staged.mkdir()
        for name, part in parts.items():
            write_parquet(part, staged / f"{name}.parquet")
            log.info("%s: %d flights, %.1f%% late", name, len(part), 100 * part["is_late"].mean())


if __name__ == "__main__":
    run_stage("split", main)
