"""Pick a sweep's best experiment by a validation metric and promote it to a commit.

The choice is :mod:`src.experiments.selection`'s: ``select.metric`` on the validation
split, never the test split, ties broken by name.

Promotion applies the experiment (``dvc exp apply``) to a clean workspace and
commits the files it changed, so ``dvc.lock``, ``params.yaml`` and the metrics of
the new commit are the experiment's own and ``dvc status`` reports nothing to do.
``--branch NAME`` instead makes a git branch of the experiment (``dvc exp branch``)
and leaves the workspace alone.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator

from src import dvc
from src.core.params import LOWER_IS_BETTER
from src.core.stage import PipelineError, run_stage
from src.experiments.selection import (
    Experiment,
    ExperimentTable,
    changed_params,
    is_improvement,
    parse_exp_show,
    ranked,
    select_best,
)
from src.params import load_params

log = logging.getLogger("pipeline")


def commit_message(best: Experiment, baseline: Experiment, metric: str) -> str:
    """A commit message that says what was promoted, on which evidence, and what changed."""
    score, reference = best.score(metric), baseline.score(metric)
    against = f" (was {reference:.6g})" if reference is not None else ""
    lines = [
        f"Promote experiment {best.name}: validation {metric} {score:.6g}{against}",
        "",
        f"Selected by `python -m src.experiments.promote` on validation {metric} (select.metric); test metrics played no part.",
    ]
    changes = changed_params(best, baseline)
    if changes:
        lines += ["", "Parameters:"] + [f"  {key}: {old!r} -> {new!r}" for key, (old, new) in changes.items()]
    test_score = best.score(metric, "test")
    if test_score is not None:
        lines += ["", f"Test {metric} (reported, not used for the choice): {test_score:.6g}"]
    return "\n".join(lines) + "\n"


def load_experiment_table(metric: str) -> ExperimentTable:
    """The current commit's experiment table, from ``dvc exp show --json``."""
    return parse_exp_show(dvc.exp_show(), metric)


def _paths(porcelain: list[str]) -> Iterator[str]:
    for line in porcelain:
        path = line[3:]
        yield path.split(" -> ", 1)[-1]


def promote_to_commit(best: Experiment, message: str) -> str:
    """Apply ``best`` to the (clean) workspace and commit what it changed; return the commit."""
    dirty = dvc.porcelain(untracked=False)
    if dirty:
        raise PipelineError(
            "the workspace has uncommitted changes to tracked files, which `dvc exp apply` would "
            "overwrite; commit or stash them first:\n  " + "\n  ".join(dirty)
        )
    untracked_before = set(_paths(dvc.porcelain(untracked=True)))
    dvc.dvc("exp", "apply", best.name)
    changed = sorted(set(_paths(dvc.porcelain(untracked=True))) - untracked_before)
    if not changed:
        raise PipelineError(f"`dvc exp apply {best.name}` changed no file: is it already this commit?")
    dvc.git("add", "--", *changed)
    dvc.run(["git", "commit", "--quiet", "--file", "-"], stdin=message)
    return dvc.git("rev-parse", "--short", "HEAD").stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.experiments.promote",
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
        dvc.dvc("exp", "branch", best.name, args.branch)
        log.info(
            "branch %s now holds experiment %s (its dvc.lock, params and metrics)", args.branch, best.name
        )
        return
    commit = promote_to_commit(best, message)
    leftover = dvc.status()
    if leftover:
        raise PipelineError(f"promoted as {commit}, but `dvc status` still reports changes: {leftover}")
    log.info("committed %s as %s; `dvc status`: up to date", best.name, commit)


if __name__ == "__main__":
    run_stage("promote", main)
