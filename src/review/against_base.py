"""The workspace's primary test metrics against a base revision: what the report and the gate share.

:func:`assess_against_base` resolves the base to a commit, reads both revisions' metrics
from ``dvc metrics diff --json``, pairs their per-flight test scores (evaluate's
predictions and the seeds stage's replicates; the base's through ``dvc.api``, from the
cache or the remote) and applies :func:`src.review.assessment.assess` and
:func:`src.review.segments.assess_segments`. Whatever it cannot read it says, and why,
in the assessment's notes: the verdict is then "not assessed" and the gate falls back to
its stricter rule, never a silent "within noise". ``python -m src.review.gate`` needs
nothing more, so it loads neither the report's Markdown nor its pictures.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from src import dvc
from src.core.stage import PipelineError
from src.review.assessment import Assessment, GateParams, assess, percent
from src.review.pairing import KEY, PairedScores, pair_predictions, seed_columns
from src.review.segments import SegmentAssessment, assess_segments

log = logging.getLogger("pipeline")

#: The evaluate stage's per-flight test scores (an output in dvc.yaml).
DEFAULT_PREDICTIONS = "data/predictions/test.parquet"
#: The seeds stage's per-flight test scores of the other seeds (an output in dvc.yaml).
DEFAULT_SEEDS = "data/seeds/test.parquet"
#: The stages whose outputs the assessment reads: out of date, they would compare stale scores.
SCORING_STAGES = ("evaluate", "seeds")
#: ``dvc status`` states of files that are merely absent: not pulled, not out of date.
ABSENT_STATES = frozenset({"deleted", "not in cache"})
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
    #: The primary metrics' assessment; its gate failures include the segments'.
    assessment: Assessment
    segments: SegmentAssessment = SegmentAssessment()
    paired: PairedScores | None = None
    status: dict[str, Any] | None = None  # dvc status --json of the workspace


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


def stale_workspace_message(stages: Sequence[str]) -> str:
    return (
        f"the workspace is not reproduced (`dvc status`: {', '.join(stages)} out of date), so its metrics "
        "are not this branch's: run `dvc repro` (or `dvc pull` if the outputs are in the remote), or pass "
        "--allow-stale to assess what is there anyway"
    )


def stale_stages(status: Mapping[str, Any]) -> list[str]:
    """Stages ``dvc status`` finds out of date, for a reason other than data not pulled.

    After ``dvc repro --pull --allow-missing`` the outputs of unchanged stages (and so
    the inputs of the next ones) may be absent; that is expected, not staleness. A
    changed parameter, command, or a modified file is.
    """
    stale = []
    for stage, problems in status.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            if not isinstance(problem, dict):  # e.g. "always changed"
                stale.append(stage)
                break
            if any(
                kind not in ("changed deps", "changed outs")
                or not isinstance(files, dict)
                or any(not isinstance(state, str) or state not in ABSENT_STATES for state in files.values())
                for kind, files in problem.items()
            ):
                stale.append(stage)
                break
    return stale


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
                f", {percent(interval.confidence)} CI {interval.low:+.4f} to {interval.high:+.4f}"
                if interval
                else ""
            )
            parts.append(f"{name} {change.base:.4f} → {change.branch:.4f} ({change.delta:+.4f}{ci})")
    return "; ".join(parts)


# --- gathering (I/O) ----------------------------------------------------------------------


def first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def read_base_file(path: str, commit: str, base: str, what: str) -> tuple[pd.DataFrame | None, str | None]:
    """A file of the base from the DVC cache or remote, or None and the reason why not."""
    try:
        return pd.read_parquet(io.BytesIO(dvc.read_output(path, commit))), None
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        return (
            None,
            f"the base's {what} ({path} at {base}) are not in the cache or remote: {first_line(error)}",
        )


def read_base_predictions(path: str, commit: str, base: str) -> tuple[pd.DataFrame | None, str | None]:
    return read_base_file(path, commit, base, "predictions")


def read_branch_file(path: str, what: str) -> tuple[pd.DataFrame | None, str | None]:
    if not Path(path).is_file():
        return None, f"this branch's {what} ({path}) are not in the workspace (run dvc repro or dvc pull)"
    try:
        return pd.read_parquet(path), None
    except Exception as error:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        return None, f"this branch's {path} cannot be read: {first_line(error)}"


def read_branch_predictions(path: str) -> tuple[pd.DataFrame | None, str | None]:
    return read_branch_file(path, "predictions")


def usable_seeds(frame: pd.DataFrame | None, where: str) -> tuple[pd.DataFrame | None, str | None]:
    """The seeds file if the pairing can read it, else None and why."""
    if frame is None:
        return None, None
    if KEY not in frame.columns or frame[KEY].duplicated().any():
        return None, f"{where} is malformed (no unique {KEY} column)"
    return frame, None


def read_base_seeds(path: str, commit: str, base: str) -> tuple[pd.DataFrame | None, str | None]:
    """The base's seeds file, or None and why: older bases predate the seeds stage."""
    if not any(out == str(Path(path).parent) for out in dvc.locked_outputs(dvc.read_lock(commit=commit))):
        return None, f"`{base}` has no seeds stage output ({Path(path).parent} is not in its dvc.lock)"
    frame, reason = read_base_file(path, commit, base, "seed predictions")
    return (None, reason) if frame is None else usable_seeds(frame, f"the base's {path}")


def read_branch_seeds(path: str, stale: Sequence[str]) -> tuple[pd.DataFrame | None, str | None]:
    if stale:
        return None, f"this branch's scores are out of date (dvc status: {', '.join(stale)}; run dvc repro)"
    frame, reason = read_branch_file(path, "seed predictions")
    return (None, reason) if frame is None else usable_seeds(frame, f"this branch's {path}")


def seeds_shortfall(seeds: pd.DataFrame | None, expected: int | None) -> str | None:
    """A note when the branch has fewer other seeds than ``noise.extra_seeds`` asks for."""
    if seeds is None or expected is None:
        return None
    found = sum(
        bool(np.isfinite(seeds[column].to_numpy(dtype=float)).all()) for column in seed_columns(seeds)
    )
    if 0 < found < expected:
        return f"this branch has {found} usable of the {expected} other seeds noise.extra_seeds asks for"
    return None


def pair_revisions(
    commit: str, base: str, predictions: str, seeds: str, stale: Sequence[str], expected_seeds: int | None
) -> tuple[PairedScores | None, str | None, list[str]]:
    """Both revisions' scores paired; why not (or why without training noise); other notes."""
    base_frame, note = read_base_predictions(predictions, commit, base)
    branch_frame, branch_note = read_branch_predictions(predictions)
    if base_frame is None or branch_frame is None:
        return None, note or branch_note, []
    base_seeds, base_reason = read_base_seeds(seeds, commit, base)
    branch_seeds, branch_reason = read_branch_seeds(seeds, stale)
    try:
        paired = pair_predictions(base_frame, branch_frame, base_seeds, branch_seeds)
    except PipelineError as error:  # a malformed predictions file: said, and the rest still reported
        return None, f"the two revisions' predictions cannot be paired: {error}", []
    shortfall = seeds_shortfall(branch_seeds, expected_seeds)
    return (
        paired,
        "; ".join(r for r in (base_reason, branch_reason) if r) or None,
        [shortfall] if shortfall else [],
    )


def assess_against_base(
    base: str,
    gate: GateParams,
    predictions: str = DEFAULT_PREDICTIONS,
    seeds: str = DEFAULT_SEEDS,
    expected_seeds: int | None = None,
    allow_stale: bool = False,
) -> AgainstBase:
    """Metrics of both revisions, their paired scores, and the assessment of the change.

    ``base`` is resolved to a commit first: a value that is not one (``--output=x``,
    ``main;id``) is refused before any other command sees it. ``expected_seeds`` is the
    workspace's ``noise.extra_seeds``: fewer seeds in its file are noted. A workspace
    that is not reproduced is refused (its metrics are not this branch's), unless
    ``allow_stale``: then the report warns and the gate judges what is there.
    """
    commit = dvc.resolve_commit(base)
    status = dvc.status()
    out_of_date = stale_stages(status)
    if out_of_date and not allow_stale:
        raise PipelineError(stale_workspace_message(out_of_date))
    metrics_diff = dvc.dvc_json("metrics", "diff", commit, "--all")
    stale = [stage for stage in out_of_date if stage in SCORING_STAGES]
    evaluation_file = evaluation_metrics_file(metrics_diff, gate.primary_metrics[0])
    rows = metric_rows(metrics_diff.get(evaluation_file, {}), TABLE_SPLITS) if evaluation_file else []
    base_metrics = split_values(rows, PRIMARY_SPLIT, "base")
    branch_metrics = split_values(rows, PRIMARY_SPLIT, "branch") or {}
    paired, note, notes = None, None, []
    if base_metrics is not None:
        paired, note, notes = pair_revisions(commit, base, predictions, seeds, stale, expected_seeds)
    log.info("assessing the primary metrics (%d paired resamples)", gate.bootstrap_samples)
    assessment = assess(base_metrics, branch_metrics, paired, gate, note)
    segments = assess_segments(paired, gate, assessment.interval_note) if base_metrics is not None else None
    segments = segments or SegmentAssessment()
    assessment = replace(
        assessment,
        gate_failures=assessment.gate_failures + segments.gate_failures,
        notes=assessment.notes + tuple(notes),
    )
    return AgainstBase(base, commit, metrics_diff, rows, assessment, segments, paired, status)
