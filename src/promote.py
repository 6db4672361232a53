"""Pick a sweep's best experiment by a validation metric and promote it to a commit.

The ranking metric is ``select.metric`` in ``params.yaml``, always read on the
validation split: the test split stays untouched by the choice, so its numbers
remain an unbiased estimate for the promoted model. Ties are broken by experiment
name, so the same table always promotes the same experiment.

Promotion applies the experiment (``dvc exp apply``) to a clean workspace and
commits the files it changed, so ``dvc.lock``, ``params.yaml`` and the metrics of
the new commit are the experiment's own and ``dvc status`` reports nothing to do.
``--branch NAME`` instead makes a git branch of the experiment (``dvc exp branch``)
and leaves the workspace alone.

Everything here reads the JSON of ``dvc exp show --json`` (DVC's own experiment
table) rather than keeping a second record of experiments.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from src.params import LOWER_IS_BETTER, load_params
from src.stage import PipelineError, run_stage

log = logging.getLogger("pipeline")

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


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"model": "x"}}`` -> ``{"train.model": "x"}``; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


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


def commit_message(best: Experiment, baseline: Experiment, metric: str) -> str:
    """A commit message that says what was promoted, on which evidence, and what changed."""
    score, reference = best.score(metric), baseline.score(metric)
    against = f" (was {reference:.6g})" if reference is not None else ""
    lines = [
        f"Promote experiment {best.name}: validation {metric} {score:.6g}{against}",
        "",
        f"Selected by `python -m src.promote` on validation {metric} (select.metric); test metrics played no part.",
    ]
    changes = changed_params(best, baseline)
    if changes:
        lines += ["", "Parameters:"] + [f"  {key}: {old!r} -> {new!r}" for key, (old, new) in changes.items()]
    test_score = best.score(metric, "test")
    if test_score is not None:
        lines += ["", f"Test {metric} (reported, not used for the choice): {test_score:.6g}"]
    return "\n".join(lines) + "\n"


# --- commands --------------------------------------------------------------------------


def run_command(
    args: Sequence[str], check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run a tool (dvc, git) with its output captured as text; ``src.sweep`` uses it too.

    A failure, when ``check``, is a :class:`PipelineError` naming the command and
    showing what it printed.
    """
    result = subprocess.run(list(args), capture_output=True, text=True, input=stdin)
    if check and result.returncode != 0:
        output = "\n".join(part.strip() for part in (result.stderr, result.stdout) if part.strip())
        raise PipelineError(f"`{' '.join(args)}` exited {result.returncode}:\n{output}")
    return result


def load_experiment_table(metric: str) -> ExperimentTable:
    """Run ``dvc exp show --json`` for the current commit and parse it."""
    output = run_command(["dvc", "exp", "show", "--json", "--no-pager"]).stdout
    try:
        payload = json.loads(output)
    except json.JSONDecodeError as error:
        raise PipelineError(f"dvc exp show --json printed something that is not JSON: {error}") from None
    return parse_exp_show(payload, metric)


def _porcelain(untracked: bool) -> list[str]:
    flag = "--untracked-files=all" if untracked else "--untracked-files=no"
    return [line for line in run_command(["git", "status", "--porcelain", flag]).stdout.splitlines() if line]


def _paths(porcelain: list[str]) -> Iterator[str]:
    for line in porcelain:
        path = line[3:]
        yield path.split(" -> ", 1)[-1]


def pipeline_changes() -> dict:
    """``dvc status --json``: empty when ``dvc repro`` would do nothing."""
    return json.loads(run_command(["dvc", "status", "--json"]).stdout or "{}")


def promote_to_commit(best: Experiment, message: str) -> str:
    """Apply ``best`` to the (clean) workspace and commit what it changed; return the commit."""
    dirty = _porcelain(untracked=False)
    if dirty:
        raise PipelineError(
            "the workspace has uncommitted changes to tracked files, which `dvc exp apply` would "
            "overwrite; commit or stash them first:\n  " + "\n  ".join(dirty)
        )
    untracked_before = set(_paths(_porcelain(untracked=True)))
    run_command(["dvc", "exp", "apply", best.name])
    changed = sorted(set(_paths(_porcelain(untracked=True))) - untracked_before)
    if not changed:
        raise PipelineError(f"`dvc exp apply {best.name}` changed no file: is it already this commit?")
    run_command(["git", "add", "--", *changed])
    run_command(["git", "commit", "--quiet", "--file", "-"], stdin=message)
    return run_command(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.promote",
        description="Promote the experiment of the current commit that scores best on the validation "
        "metric named by select.metric in params.yaml: apply it and commit, or make a branch of it.",
    )
    parser.add_argument(
        "--branch", metavar="NAME", help="make a git branch of the winner instead of committing here"
    )
    parser.add_argument("--dry-run", action="store_true", help="only say which experiment would be promoted")
    parser.add_argument(
        "--allow-worse",
        action="store_true",
        help="promote the best experiment even if the current commit scores better on validation",
    )
    args = parser.parse_args()

    metric = load_params().select.metric
    table = load_experiment_table(metric)
    best = select_best(table.experiments, metric)
    score, reference = best.score(metric), table.baseline.score(metric)
    log.info(
        "best of %d finished experiments on validation %s (%s is better): %s = %.6g; current commit %s",
        len(ranked(table.experiments, metric)),
        metric,
        "lower" if metric in LOWER_IS_BETTER else "higher",
        best.name,
        score,
        "has none" if reference is None else f"= {reference:.6g}",
    )
    if not is_improvement(score, reference, metric) and not args.allow_worse:
        raise PipelineError(
            f"{best.name} does not beat the current commit on validation {metric} "
            f"({score:.6g} vs {reference:.6g}): nothing promoted (--allow-worse promotes it anyway)"
        )
    if args.dry_run:
        return
    message = commit_message(best, table.baseline, metric)
    if args.branch:
        run_command(["dvc", "exp", "branch", best.name, args.branch])
        log.info(
            "branch %s now holds experiment %s (its dvc.lock, params and metrics)", args.branch, best.name
        )
        return
    commit = promote_to_commit(best, message)
    leftover = pipeline_changes()
    if leftover:
        raise PipelineError(f"promoted as {commit}, but `dvc status` still reports changes: {leftover}")
    log.info("committed %s as %s; `dvc status`: up to date", best.name, commit)


if __name__ == "__main__":
    run_stage("promote", main)
