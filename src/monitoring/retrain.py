"""Move the training window forward: ``python -m src.monitoring.retrain [--months 1] [--expand]``.

Shifts the ``split`` periods of params.yaml by whole months (each period keeps its length;
an end on a month's last day stays on the last day), or with ``--expand`` moves only the
ends so training keeps its first months too. params.yaml is rewritten by DVC's own writer
(``src.dvc.apply_params``, as ``dvc exp run -S`` writes it), so only the six dates change.
Then it prints the commands that retrain and judge the new model: the pipeline, the
pull-request report and gate against the production model's commit, and the registry,
whose gate decides promotion (docs/registry.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from src import dvc
from src.core.params import PARAMS_FILE, Period, SplitParams, load_params
from src.core.stage import PipelineError, run_stage
from src.registry import catalog

log = logging.getLogger("pipeline")

PERIODS = ("train", "validation", "test")


def shift_date(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months; a month's last day stays a month's last day."""
    stamp = pd.Timestamp(day)
    if stamp.is_month_end:
        return (stamp + pd.offsets.MonthEnd(months)).date()
    return (stamp + pd.DateOffset(months=months)).date()


def moved_periods(split: SplitParams, months: int, expand: bool = False) -> SplitParams:
    """The periods ``months`` later (``expand``: the training period keeps its start)."""
    moved = {}
    for name in PERIODS:
        period: Period = getattr(split, name)
        start = period.start if expand and name == "train" else shift_date(period.start, months)
        moved[name] = Period(start=start, end=shift_date(period.end, months))
    return SplitParams(**moved)


def overrides(split: SplitParams) -> list[str]:
    """``split.<period>.<end>=<date>`` for every date, as ``dvc exp run -S`` takes them."""
    return [
        f"split.{name}.{end}={getattr(getattr(split, name), end)}"
        for name in PERIODS
        for end in ("start", "end")
    ]


def prod_commit(root: Path) -> str | None:
    """The commit of the version in prod, if the registry has one."""
    model = catalog.pick_model(catalog.read_models(root), None)
    current = catalog.holder(catalog.read_versions(root, model.name), catalog.PROD)
    return None if current is None else current.commit


def next_steps(base: str) -> list[str]:
    return [
        "dvc repro                  # retrain and evaluate on the moved periods",
        f"make report BASE={base}   # the new model against the production model",
        f"make gate BASE={base}",
        "git commit -am 'Move the training window' && make push && make register",
        "make promote-model VERSION=<the new version> STAGE=prod   # the registry's gate decides",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.monitoring.retrain",
        description="Move the split periods of params.yaml forward by whole months, then print the "
        "commands that retrain, compare with the production model and promote through the gate.",
    )
    parser.add_argument("--months", type=int, default=1, help="how many months forward (default 1)")
    parser.add_argument(
        "--expand", action="store_true", help="keep the training period's start: train on more"
    )
    args = parser.parse_args()
    if args.months < 1:
        raise PipelineError(f"--months must be 1 or more (got {args.months})")

    current = load_params().split
    moved = moved_periods(current, args.months, args.expand)
    dvc.apply_params(PARAMS_FILE, overrides(moved))
    load_params()  # what was written still validates
    for name in PERIODS:
        before, after = getattr(current, name), getattr(moved, name)
        print(f"split.{name}: {before.start} to {before.end} -> {after.start} to {after.end}")
    try:
        base = prod_commit(Path.cwd()) or "main"
    except PipelineError as error:
        log.warning("the production model's commit is unknown (%s): compare with main", error)
        base = "main"
    print("next:")
    for line in next_steps(base[:12]):
        print(f"  {line}")


if __name__ == "__main__":
    run_stage("retrain", main)
