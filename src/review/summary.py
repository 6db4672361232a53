"""The workspace's metrics at a glance: ``python -m src.review.summary`` (``make metrics``).

``dvc metrics show`` prints one row per file with every metric in it: about 900
characters for ``metrics/evaluate/metrics.json``. This prints the same numbers (from
``dvc metrics show --json``) as a table a person reads: one row per split, the gate's
primary metrics first, then the rest, and the always-late-rate baseline under each split.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from src import dvc
from src.core.stage import PipelineError, run_stage
from src.params import load_params
from src.review.markdown import format_value, table

SPLITS = ("validation", "test")
#: Counts and settings, not scores: shown apart from the metric columns.
NOT_SCORES = ("rows", "late_rate")


def evaluation_file(shown: Mapping[str, Any], primary: str) -> tuple[str, Mapping[str, Any]]:
    """The metrics file whose ``test`` section holds the primary metric, and its data."""
    for workspace in shown.values():
        for path, entry in (workspace.get("data") or {}).items():
            data = (entry or {}).get("data") or {}
            if primary in (data.get("test") or {}):
                return path, data
    raise PipelineError(
        f"no metrics file has test.{primary}: run `dvc repro` (or `dvc pull`) to make the evaluate stage's metrics"
    )


def metric_columns(data: Mapping[str, Any], primary: Sequence[str]) -> list[str]:
    """The primary metrics first, then every other score the splits have, in the file's order."""
    others: list[str] = []
    for split in SPLITS:
        for name, value in (data.get(split) or {}).items():
            if dvc.is_number(value) and name not in primary and name not in NOT_SCORES and name not in others:
                others.append(name)
    return [*primary, *others]


def summary_lines(path: str, data: Mapping[str, Any], primary: Sequence[str]) -> list[str]:
    """The table (Markdown pipe table, readable as text) and one line on where it comes from."""
    columns = metric_columns(data, primary)
    baseline = data.get("baseline") or {}
    rows = []
    for split in SPLITS:
        values = data.get(split) or {}
        flights = values.get("rows")
        label = f"{split} ({flights:,} flights)" if isinstance(flights, int) else split
        rows.append([label, *(format_value(values.get(name)) for name in columns)])
        if split in baseline:
            rows.append(
                [
                    f"{split} baseline",
                    *(format_value(baseline[split].get(name)) for name in columns),
                ]
            )
    threshold = data.get("threshold")
    where = f"From {path} (`dvc metrics show --json`); baseline: always the training set's late rate" + (
        f"; precision, recall, f1, accuracy and flagged_rate at the threshold {threshold}."
        if threshold
        else "."
    )
    return [*table(rows, ["", *columns], "l" + "r" * len(columns)), "", where]


def main() -> None:
    argparse.ArgumentParser(
        prog="python -m src.review.summary",
        description="The workspace's validation and test metrics as one table, the primary metrics first.",
    ).parse_args()
    primary = list(load_params().gate.primary_metrics)
    path, data = evaluation_file(dvc.dvc_json("metrics", "show"), primary[0])
    print("\n".join(summary_lines(path, data, primary)))


if __name__ == "__main__":
    run_stage("metrics", main)
