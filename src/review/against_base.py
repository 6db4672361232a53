"""The workspace's primary test metrics against a base revision: what the report and the gate share.

:func:`assess_against_base` resolves the base to a commit, reads both revisions' metrics
from ``dvc metrics diff --json``, pairs their per-flight test predictions (the base's
through ``dvc.api``, from the cache or the remote) and applies
:func:`src.review.assessment.assess`. ``python -m src.review.gate`` needs nothing more, so it
loads neither the report's Markdown nor its pictures.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dvc import api as dvc_api  # the installed DVC's Python API; `src.dvc` is the project's adapter
from src import dvc
from src.review.assessment import Assessment, GateParams, assess, pair_predictions

log = logging.getLogger("pipeline")

#: The evaluate stage's per-flight test scores (an output in dvc.yaml).
DEFAULT_PREDICTIONS = "data/predictions/test.parquet"
#: The splits whose metrics the report's main table lists, from the evaluate stage's metrics file.
TABLE_SPLITS = ("validation", "test")
PRIMARY_SPLIT = "test"


@dataclass(frozen=True)
class MetricRow:
    """One metric in both revisions (None where a revision lacks it)."""

    name: str
    base: float | None
    branch: float | None

    @property
    def delta(self) -> float | None:
        if dvc.is_number(self.base) and dvc.is_number(self.branch):
            return self.branch - self.base
        return None


@dataclass(frozen=True)
class AgainstBase:
    """DVC's answers about the workspace and the base, and the assessment of the change."""

    base: str  # as the user named it: what the report shows
    commit: str  # the SHA it resolved to: what every command is given
    metrics_diff: dict
    rows: list[MetricRow]
    assessment: Assessment


# --- reading dvc metrics diff (pure) ----------------------------------------------------


def evaluation_metrics_file(metrics_diff: Mapping[str, Mapping], metric: str) -> str | None:
    """The metrics file holding ``test.<metric>`` (the evaluate stage's), if any."""
    key = f"{PRIMARY_SPLIT}.{metric}"
    holders = sorted(path for path, entries in metrics_diff.items() if key in entries)
    return holders[0] if holders else None


def metric_rows(entries: Mapping[str, Mapping], prefixes: Sequence[str]) -> list[MetricRow]:
    """Rows ``<split>.<metric>`` of one file of ``dvc metrics diff --json``, split by split."""
    rows = []
    for prefix in prefixes:
        for name in sorted(key for key in entries if key.startswith(f"{prefix}.") and key.count(".") == 1):
            rows.append(MetricRow(name=name, base=entries[name].get("old"), branch=entries[name].get("new")))
    return rows


def split_values(rows: Sequence[MetricRow], split: str, side: str) -> dict[str, float] | None:
    """``{metric: value}`` of one split on one side; None when that side has none."""
    values = {
        row.name.split(".", 1)[1]: getattr(row, side)
        for row in rows
        if row.name.startswith(f"{split}.") and dvc.is_number(getattr(row, side))
    }
    return values or None


def format_change(assessment: Assessment) -> str:
    """The primary metric changes in one line (the report's headline, the gate's message)."""
    parts = []
    for change in assessment.changes:
        name = f"test {change.metric}"
        if change.branch is None:
            parts.append(f"{name} missing")
        elif change.base is None:
            parts.append(f"{name} {change.branch:.4f} (no base value)")
        else:
            interval = change.interval
            ci = (
                f", {interval.confidence:.0%} CI {interval.low:+.4f} to {interval.high:+.4f}"
                if interval
                else ""
            )
            parts.append(f"{name} {change.base:.4f} → {change.branch:.4f} ({change.delta:+.4f}{ci})")
    return "; ".join(parts)


# --- gathering (I/O) ----------------------------------------------------------------------


def read_base_predictions(path: str, commit: str, base: str) -> tuple[pd.DataFrame | None, str | None]:
    """The base's predictions from the DVC cache or remote, or None and the reason why not."""
    try:
        with dvc_api.open(path, repo=".", rev=commit, mode="rb") as stream:
            return pd.read_parquet(io.BytesIO(stream.read())), None
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return None, f"the base's predictions ({path} at {base}) are not in the cache or remote: {reason}"


def read_branch_predictions(path: str) -> tuple[pd.DataFrame | None, str | None]:
    if not Path(path).is_file():
        return (
            None,
            f"this branch's predictions ({path}) are not in the workspace (run dvc repro or dvc pull)",
        )
    return pd.read_parquet(path), None


def assess_against_base(base: str, gate: GateParams, predictions: str = DEFAULT_PREDICTIONS) -> AgainstBase:
    """Metrics of both revisions, their paired predictions, and the assessment of the change.

    ``base`` is resolved to a commit first: a value that is not one (``--output=x``,
    ``main;id``) is refused before any other command sees it.
    """
    commit = dvc.resolve_commit(base)
    metrics_diff = dvc.dvc_json("metrics", "diff", commit, "--all")
    evaluation_file = evaluation_metrics_file(metrics_diff, gate.primary_metrics[0])
    rows = metric_rows(metrics_diff.get(evaluation_file, {}), TABLE_SPLITS) if evaluation_file else []
    base_metrics = split_values(rows, PRIMARY_SPLIT, "base")
    branch_metrics = split_values(rows, PRIMARY_SPLIT, "branch") or {}
    paired, note = None, None
    if base_metrics is not None:
        base_frame, note = read_base_predictions(predictions, commit, base)
        branch_frame, branch_note = read_branch_predictions(predictions)
        note = note or branch_note
        if base_frame is not None and branch_frame is not None:
            paired = pair_predictions(base_frame, branch_frame)
    log.info("bootstrapping the primary metrics (%d resamples)", gate.bootstrap_samples)
    assessment = assess(base_metrics, branch_metrics, paired, gate, note)
    return AgainstBase(base, commit, metrics_diff, rows, assessment)
