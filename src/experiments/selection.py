"""The experiment table and the choice of the best experiment, on validation only.

The ranking metric is ``select.metric`` in ``params.yaml``, always read on the
validation split: the test split stays untouched by the choice, so its numbers
remain an unbiased estimate for the chosen model. Ties are broken by experiment
name, so the same table always gives the same winner.

Everything here reads the JSON of ``dvc exp show --json`` (DVC's own experiment
table) rather than keeping a second record of experiments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from src.core.params import LOWER_IS_BETTER, MetricName, ParamsSection
from src.core.stage import PipelineError
from src.dvc import flatten


class SelectParams(ParamsSection):
    """``select`` in params.yaml."""

    #: Validation metric that ranks experiments of a sweep (never a test metric).
    metric: MetricName = "roc_auc"


#: The split that ranks experiments. Never "test": choosing on the test split would
#: make its score an optimistic, selected-upon number.
SELECTION_SPLIT = "validation"
REPORT_SPLITS = ("validation", "test")
PARAMS_FILE_KEY = "params.yaml"


@dataclass(frozen=True)
class Experiment:
    """One row of ``dvc exp show --json``: a baseline commit or an experiment of it."""

    name: str
    rev: str
    state: str  # "success", "failed", "queued", "running" (DVC's executor states)
    params: dict[str, Any] = field(default_factory=dict)  # flattened: "train.model" -> value
    #: split -> metric -> value, from the metrics file that reports validation and test.
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def score(self, metric: str, split: str = SELECTION_SPLIT) -> float | None:
        value = self.metrics.get(split, {}).get(metric)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)


@dataclass(frozen=True)
class ExperimentTable:
    """The baseline commit and its experiments, as ``dvc exp show`` lists them."""

    baseline: Experiment
    experiments: list[Experiment]
    #: The metrics file holding validation and test metrics (the evaluate stage's).
    metrics_file: str | None


def _file_data(section: dict | None) -> dict[str, dict]:
    """``{"path": {"data": {...}}}`` -> ``{"path": {...}}``, skipping files DVC could not read."""
    return {
        path: entry["data"]
        for path, entry in (section or {}).items()
        if isinstance(entry, dict) and "data" in entry
    }


def find_metrics_file(metrics_by_file: dict[str, dict], metric: str) -> str | None:
    """The metrics file reporting ``metric`` for both validation and test.

    Located from the data rather than a hard-coded path: ``dvc.yaml`` names the file,
    and training curves elsewhere also log a ``validation`` loss, so "has validation
    and test" is what singles out the evaluation metrics.
    """
    for path in sorted(metrics_by_file):
        data = metrics_by_file[path]
        if all(isinstance(data.get(split), dict) and metric in data[split] for split in REPORT_SPLITS):
            return path
    return None


def _row(name: str, rev: dict, state: str, metric: str) -> tuple[Experiment, str | None]:
    data = rev.get("data") or {}
    metrics_by_file = _file_data(data.get("metrics"))
    metrics_file = find_metrics_file(metrics_by_file, metric)
    metrics = {}
    if metrics_file:
        metrics = {split: dict(metrics_by_file[metrics_file][split]) for split in REPORT_SPLITS}
    params = flatten(_file_data(data.get("params")).get(PARAMS_FILE_KEY, {}))
    return Experiment(
        name=name, rev=rev.get("rev", ""), state=state, params=params, metrics=metrics
    ), metrics_file


def experiment_state(entry: dict) -> str:
    """DVC's state of an experiment entry; ones without an executor record ran in the foreground."""
    state = (entry.get("executor") or {}).get("state")
    if state:
        return str(state)
    revs = entry.get("revs") or [{}]
    return "failed" if revs[0].get("error") else "success"


def parse_exp_show(payload: list[dict], metric: str) -> ExperimentTable:
    """Read ``dvc exp show --json`` output for the current commit (workspace row ignored)."""
    commits = [entry for entry in payload if entry.get("rev") != "workspace"]
    if not commits:
        raise PipelineError("dvc exp show lists no commit: is this a git repository with a commit?")
    head = commits[0]
    baseline, metrics_file = _row(head.get("name") or head["rev"][:7], head, "success", metric)
    experiments = []
    for entry in head.get("experiments") or []:
        revs = entry.get("revs") or []
        if not revs:
            continue
        state = experiment_state(entry)
        # A failed experiment's row carries its baseline's files: never read its metrics.
        row, found_file = _row(entry.get("name") or revs[0]["rev"][:7], revs[0], state, metric)
        if state != "success":
            row = Experiment(name=row.name, rev=row.rev, state=state, params=row.params, metrics={})
        experiments.append(row)
        metrics_file = metrics_file or (found_file if state == "success" else None)
    return ExperimentTable(baseline=baseline, experiments=experiments, metrics_file=metrics_file)


def ranked(experiments: list[Experiment], metric: str) -> list[Experiment]:
    """Successful experiments with a validation ``metric``, best first.

    Direction from ``LOWER_IS_BETTER``; equal scores are ordered by name so the
    ranking never depends on the order DVC lists experiments in.
    """
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    scored = [e for e in experiments if e.state == "success" and e.score(metric) is not None]
    return sorted(scored, key=lambda e: (sign * e.score(metric), e.name))


def select_best(experiments: list[Experiment], metric: str) -> Experiment:
    """The best experiment on the validation ``metric``; an error when none finished."""
    candidates = ranked(experiments, metric)
    if not candidates:
        states = ", ".join(f"{e.name}: {e.state}" for e in experiments) or "none"
        raise PipelineError(
            f"no finished experiment reports validation {metric} on this commit (experiments: {states}); "
            "run a sweep first (make sweep)"
        )
    return candidates[0]


def is_improvement(candidate: float, reference: float | None, metric: str) -> bool:
    """Strictly better than ``reference`` in the metric's direction (anything beats no reference)."""
    if reference is None:
        return True
    return candidate < reference if metric in LOWER_IS_BETTER else candidate > reference


def changed_params(experiment: Experiment, baseline: Experiment) -> dict[str, tuple[Any, Any]]:
    """Parameters whose value differs from the baseline: name -> (baseline value, experiment value)."""
    keys = sorted(set(experiment.params) | set(baseline.params))
    return {
        key: (baseline.params.get(key), experiment.params.get(key))
        for key in keys
        if baseline.params.get(key) != experiment.params.get(key)
    }
