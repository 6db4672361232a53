"""What the pull-request report says, digested from DVC's answers (pure functions).

Each function takes what one DVC command or file gave (``dvc metrics diff --json``,
``dvc params diff --json``, two parsed ``dvc.lock``, the log of ``dvc repro``, two
validation reports) and returns the facts the Markdown is built from. (``dvc status``
is digested by :func:`src.review.against_base.stale_stages`, which the assessment uses too.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from src import dvc
from src.review.against_base import MetricRow
from src.review.assessment import Assessment, GateParams
from src.review.fairness import GroupGap
from src.review.segments import SegmentAssessment


def changed_params(params_diff: Mapping[str, Mapping]) -> list[tuple[str, Any, Any]]:
    """``(name, base, branch)`` of every parameter ``dvc params diff`` reports."""
    changes = []
    for path, entries in sorted(params_diff.items()):
        for name, entry in sorted(entries.items()):
            label = name if path == "params.yaml" else f"{path}:{name}"
            changes.append((label, entry.get("old"), entry.get("new")))
    return changes


def changed_metrics(metrics_diff: Mapping[str, Mapping]) -> list[tuple[str, MetricRow]]:
    """``(file, row)`` of every metric of ``dvc metrics diff --all --json`` whose value changed."""
    return [
        (path, MetricRow(name, entry.get("old"), entry.get("new")))
        for path, entries in sorted(metrics_diff.items())
        for name, entry in sorted(entries.items())
        if entry.get("old") != entry.get("new")
    ]


@dataclass(frozen=True)
class StageChanges:
    """Stages of the branch's pipeline against the base's ``dvc.lock``."""

    order: tuple[str, ...]  # the branch's stages, in its dvc.lock's (pipeline) order
    changed: frozenset[str] = frozenset()  # recorded with other inputs or outputs than in the base
    added: frozenset[str] = frozenset()  # not in the base's dvc.lock
    removed: tuple[str, ...] = ()

    @property
    def unchanged(self) -> tuple[str, ...]:
        """Identical lock entries: results reused, not recomputed."""
        return tuple(name for name in self.order if name not in self.changed | self.added)

    @property
    def any(self) -> bool:
        return bool(self.changed or self.added or self.removed)


def stage_changes(base_lock: Mapping | None, branch_lock: Mapping | None) -> StageChanges:
    """Which stages' ``dvc.lock`` entries differ between the base and the branch."""
    base_stages = dict((base_lock or {}).get("stages", {}))
    branch_stages = dict((branch_lock or {}).get("stages", {}))
    return StageChanges(
        order=tuple(branch_stages),
        changed=frozenset(
            name for name in branch_stages if name in base_stages and base_stages[name] != branch_stages[name]
        ),
        added=frozenset(name for name in branch_stages if name not in base_stages),
        removed=tuple(name for name in base_stages if name not in branch_stages),
    )


@dataclass(frozen=True)
class ReproLog:
    """What ``dvc repro`` printed about each stage."""

    ran: tuple[str, ...] = ()
    from_run_cache: tuple[str, ...] = ()


def parse_repro_log(text: str) -> ReproLog:
    """The stages a ``dvc repro`` log says it ran and restored from the run-cache (the adapter reads it)."""
    return ReproLog(ran=tuple(dvc.stages_ran(text)), from_run_cache=tuple(dvc.stages_restored(text)))


def validation_changes(base: Mapping | None, branch: Mapping | None) -> list[MetricRow]:
    """The validation findings that differ between the revisions: sizes and shares first.

    Numbers only: lists (examples of bad values) and text are not findings to weigh.
    """
    old, new = (
        {name: value for name, value in dvc.flatten(report or {}).items() if dvc.is_number(value)}
        for report in (base, branch)
    )
    changed = [name for name in old.keys() | new.keys() if old.get(name) != new.get(name)]
    headline = ("rows", "fraction")  # what a reviewer checks first: how much data, how much unmatched
    changed.sort(key=lambda name: (not any(word in name.rsplit(".", 1)[-1] for word in headline), name))
    return [MetricRow(name, old.get(name), new.get(name)) for name in changed]


@dataclass
class ReportFacts:
    """What the Markdown is built from: DVC's answers, already digested."""

    base: str
    gate: GateParams
    assessment: Assessment
    metric_rows: list[MetricRow]
    params: list[tuple[str, Any, Any]]
    stages: StageChanges
    repro_log: ReproLog | None
    stale: list[str]
    #: ``(file, row)`` of every metric whose value changed, in any metrics file.
    metrics_changed: list[tuple[str, MetricRow]] = field(default_factory=list)
    validation_rows: list[MetricRow] = field(default_factory=list)
    segments: SegmentAssessment = field(default_factory=SegmentAssessment)
    group_gaps: list[GroupGap] = field(default_factory=list)
    threshold: float | None = None  # evaluate.threshold, at which the group gaps are measured
    #: ``gate.`` keys the branch's params.yaml sets differently from the base's (which apply).
    own_gate_changes: list[str] = field(default_factory=list)
    curve_images: list[tuple[str, str]] = field(default_factory=list)  # (title, relative path)
    image_pairs: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def nothing_changed(self) -> bool:
        return not (self.params or self.stages.any or self.metrics_changed or self.stale)
