"""Run a sweep of experiments, N at a time, and account for every one of them.

``make sweep`` runs ``python -m src.experiments.sweep [--spec sweeps/default.yaml] [--jobs N]``:

1. The sweep file's configurations are made and validated before anything runs
   (:mod:`src.experiments.spec`): an unknown parameter path, or a value ``params.py``
   forbids, stops the sweep with every problem listed.
2. The baseline is brought up to date (``dvc repro`` when ``dvc status`` reports
   changes), so its outputs are in the cache and the experiments restore the stages
   they do not change instead of running them.
3. Each configuration runs as ``dvc --wait-for-lock exp run --temp -n NAME -S ...``, N
   at a time (:mod:`src.experiments.pool`), in a temporary copy of the repository:
   the workspace and ``dvc.lock`` stay as they are. Its output goes to
   ``.dvc/tmp/sweep/logs/NAME.log``.
4. An experiment succeeded when its process exited 0 and ``dvc exp show --json`` lists
   it, by name, as finished; anything else failed and is reported with the end of its
   log. The sweep prints every configuration's outcome and the experiment table, and
   exits 1 if any failed.

Ctrl-C (or SIGTERM) starts no more experiments and stops the running ones as a
terminal would; the workspace is then checked to be as it was. ``--resume`` runs the
configurations of the last sweep that did not finish. ``--compare`` prints the table only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from tabulate import tabulate

from src import dvc
from src.core.params import PARAMS_FILE
from src.core.stage import PipelineError, run_stage
from src.experiments import compare as table
from src.experiments.pool import Finished, Pool, Process
from src.experiments.selection import parse_exp_show
from src.experiments.spec import (
    Configuration,
    Grid,
    check_configurations,
    duplicates,
    expand,
    load_spec,
    name_configurations,
)
from src.params import Params, load_params

log = logging.getLogger("pipeline")

SPEC_FILE = Path("sweeps/default.yaml")
#: DVC's scratch directory: git-ignored, local to this clone, never copied into experiments.
SWEEP_DIR = Path(".dvc/tmp/sweep")
PLAN_FILE = SWEEP_DIR / "plan.json"  # the last sweep's configurations, for --resume
LOG_DIR = SWEEP_DIR / "logs"
LOG_TAIL_LINES = 25


def run_args(configuration: Configuration, pull: bool = False) -> list[str]:
    """The ``dvc`` arguments that run one configuration as a named experiment.

    ``--wait-for-lock``: experiments started side by side take DVC's repository lock in
    turn (to record their configuration) instead of failing after 3 s without it.
    ``pull``: a fresh clone (a CI runner) fetches the run-cache and the inputs it lacks
    from the DVC remote, and skips the unchanged stages whose outputs it does not need.
    """
    args = ["--wait-for-lock", "exp", "run", "--temp", "-n", configuration.name]
    if pull:
        args += ["--pull", "--allow-missing"]
    for override in configuration.overrides:
        args += ["-S", override]
    return args


def log_path(name: str) -> Path:
    return LOG_DIR / f"{name}.log"


def judge(run: Finished, listed: Mapping[str, str]) -> str | None:
    """Why ``run`` did not succeed, or None when it did.

    ``dvc exp show`` listing it by name as a success is the witness, whatever its
    process's exit status: after its own experiment, a ``dvc exp run --temp`` process
    also runs any entry another one has just recorded in DVC's shared stash, and exits 1
    when that other experiment fails (docs/decisions/sweep-runner.md). Not listed, it
    failed (DVC leaves a failed ``--temp`` run out), and the exit status says how; a
    process can exit 0 without its experiment having been recorded.
    """
    state = listed.get(run.configuration.name)
    if state == "success":
        return None
    if state is not None:
        return f"`dvc exp show` says {state}"
    if run.returncode != 0:
        return f"exited {run.returncode}"
    return "exited 0, but `dvc exp show` does not list it"


def read_log(name: str) -> str:
    path = log_path(name)
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def stage_counts(names: Sequence[str]) -> Counter:
    """How many times each stage ran (not restored, not skipped) in these experiments' logs."""
    return Counter(stage for name in names for stage in dvc.stages_ran(read_log(name)))


def summary(runs: Sequence[Finished], problems: Mapping[str, str | None]) -> str:
    """Every configuration run, in the order given, with its outcome: a Markdown table."""
    rows = [
        (
            run.configuration.name,
            " ".join(run.configuration.overrides),
            problems[run.configuration.name] or "success",
            f"{run.seconds:.0f}",
        )
        for run in runs
    ]
    return tabulate(rows, headers=("experiment", "configuration", "outcome", "seconds"), tablefmt="github")


def listed_experiments(payload: list[dict], params: Params) -> dict[str, str]:
    """The experiments ``dvc exp show --json`` lists for HEAD: name -> DVC's state."""
    return {e.name: e.state for e in parse_exp_show(payload, params.select.metric).experiments}


def judge_all(runs: Sequence[Finished], listed: Mapping[str, str]) -> dict[str, str | None]:
    """Each run's problem (None: it succeeded); every failure logged with the end of its log."""
    problems = {run.configuration.name: judge(run, listed) for run in runs}
    for run in runs:
        name, problem = run.configuration.name, problems[run.configuration.name]
        if problem is not None:
            tail = "\n".join(read_log(name).rstrip().splitlines()[-LOG_TAIL_LINES:])
            log.error(
                "%s failed (%s): %s; last lines of %s:\n%s",
                name,
                " ".join(run.configuration.overrides),
                problem,
                log_path(name),
                tail,
            )
    return problems


def report(runs: Sequence[Finished], params: Params) -> list[str]:
    """Log failures with their logs, print the outcomes and the table; the names that failed."""
    payload = dvc.exp_show()
    counts = stage_counts([run.configuration.name for run in runs])
    if counts:
        shown = ", ".join(f"{stage} x{count}" for stage, count in sorted(counts.items()))
        log.info("stage runs inside the sweep's experiments: %s", shown)
    problems = judge_all(runs, listed_experiments(payload, params))
    print(summary(runs, problems), end="\n\n", flush=True)
    table.print_table(params, payload)
    return [name for name, problem in problems.items() if problem is not None]


# --- the repository around the sweep ---------------------------------------------------------


def head_commit() -> str:
    return dvc.git("rev-parse", "HEAD").stdout.strip()


def workspace_state() -> str:
    """A fingerprint of HEAD (branch and commit) and of every change to tracked files."""
    branch = dvc.git("symbolic-ref", "-q", "HEAD", check=False).stdout.strip() or "(detached)"
    changes = dvc.git("diff", "HEAD", "--binary").stdout
    return f"{branch} {head_commit()} {hashlib.sha256(changes.encode()).hexdigest()[:12]}"


def warn_untracked() -> None:
    """Experiments see only what git tracks: say which files they will miss."""
    untracked = dvc.git("ls-files", "--others", "--exclude-standard").stdout.split()
    if untracked:
        log.warning(
            "not tracked by git, so the experiments will not see them (git add them if they matter): %s",
            ", ".join(untracked[:10]) + (" ..." if len(untracked) > 10 else ""),
        )


def ensure_baseline() -> None:
    """Reproduce the baseline if needed, so every shared stage's outputs are in the cache."""
    changes = dvc.status()
    if not changes:
        log.info("baseline is up to date: its outputs are in the cache, shared stages will not re-run")
        return
    log.info("baseline is not up to date (%s): running `dvc repro` first, once", ", ".join(sorted(changes)))
    if dvc.run(["dvc", "repro"], check=False, capture=False).returncode != 0:
        raise PipelineError("`dvc repro` of the baseline failed: fix the pipeline before sweeping")


def save_plan(baseline: str, configurations: Sequence[Configuration]) -> None:
    PLAN_FILE.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"baseline": baseline, "configurations": [asdict(c) for c in configurations]}, indent=2)
    scratch = PLAN_FILE.with_suffix(".tmp")
    scratch.write_text(text + "\n", encoding="utf-8")
    os.replace(scratch, PLAN_FILE)


def load_plan() -> tuple[str, list[Configuration]]:
    try:
        raw = json.loads(PLAN_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{PLAN_FILE}: no sweep to resume in this clone") from None
    configurations = [
        Configuration(c["name"], c["grid"], tuple(c["overrides"])) for c in raw["configurations"]
    ]
    return raw["baseline"], configurations


# --- the command ----------------------------------------------------------------------------


def plan_sweep(
    spec: Path, extra: Sequence[str], params: Params, taken_elsewhere: Sequence[str] = ()
) -> list[Configuration]:
    """Every configuration of ``spec`` (plus ``extra`` overrides), validated and named.

    Names are free among this clone's experiments and ``taken_elsewhere`` (a git
    remote's, for a fan-out whose runners push there).
    """
    grids = [Grid(grid.name, grid.overrides + tuple(extra)) for grid in load_spec(spec)]
    configurations = {grid.name: expand(grid.overrides) for grid in grids}
    flat = [c for grid in grids for c in configurations[grid.name]]
    checked = check_configurations(PARAMS_FILE.read_text(encoding="utf-8"), flat)
    for repeated in duplicates(flat, checked):
        log.warning("duplicate configuration: %s", repeated)
    log.info("%d configuration(s) in %d grid(s), all valid", len(flat), len(grids))
    taken = [e.name for e in parse_exp_show(dvc.exp_show(), params.select.metric).experiments]
    return name_configurations(grids, configurations, [*taken, *taken_elsewhere])


def resumed(params: Params) -> list[Configuration]:
    """The last sweep's configurations that `dvc exp show` does not list as finished."""
    baseline, configurations = load_plan()
    if head_commit() != baseline:
        raise PipelineError(f"the sweep to resume ran on {baseline[:7]}, HEAD is now {head_commit()[:7]}")
    listed = {e.name: e.state for e in parse_exp_show(dvc.exp_show(), params.select.metric).experiments}
    left = [c for c in configurations if listed.get(c.name) != "success"]
    log.info("resuming: %d of %d configuration(s) left to run", len(left), len(configurations))
    return left


def interrupted(pool: Pool | None, before: str) -> None:
    """Ctrl-C: stop the running experiments, check the workspace, say how to go on; exit 130."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean-up below must not be cut short
    if pool is not None and pool.running:
        log.warning("interrupted: stopping %s", ", ".join(pool.running))
        stopped = set(pool.running)
        pool.stop(dvc.interrupt)
        done = [run.configuration.name for run in pool.finished if run.configuration.name not in stopped]
        log.warning("exited before the interrupt: %s", ", ".join(done) or "none")
    if workspace_state() == before:
        log.warning("the workspace and dvc.lock are as they were")
    else:
        log.error("the workspace changed during the sweep: see `git status` (and `git stash list`)")
    log.warning("go on with what did not finish: python -m src.experiments.sweep --resume")
    sys.exit(130)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    """``--set/-S KEY=VALUE``, repeatable: an override added to every grid of the sweep file."""
    parser.add_argument(
        "--set",
        "-S",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override added to every grid (e.g. a smaller max_iter for a quick look)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.experiments.sweep",
        description="Run a sweep of experiments (dvc exp run --temp), N at a time; report every "
        "configuration's outcome, the failures with their logs, and the experiment table.",
    )
    parser.add_argument("--spec", type=Path, default=SPEC_FILE, help=f"sweep file (default {SPEC_FILE})")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="experiments at a time (default: cores)",
    )
    add_override_argument(parser)
    parser.add_argument("--resume", action="store_true", help="run what the last sweep did not finish")
    parser.add_argument(
        "--compare", action="store_true", help="only print the table and write comparison plots"
    )
    parser.add_argument("--top", type=int, default=3, help="--compare: experiments in the plots (default 3)")
    parser.add_argument(
        "--plots-dir",
        type=Path,
        default=table.PLOTS_DIR,
        help=f"--compare: plots go here ({table.PLOTS_DIR})",
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    params = load_params()
    if args.compare:
        table.compare(params, args.top, args.plots_dir)
        return
    signal.signal(signal.SIGTERM, _terminate)
    before = workspace_state()
    pool: Pool | None = None
    try:
        if args.resume:
            configurations = resumed(params)
        else:
            configurations = plan_sweep(args.spec, args.extra, params)
            warn_untracked()
            ensure_baseline()
            before = workspace_state()
            save_plan(head_commit(), configurations)
        baseline = head_commit()

        def head_moved() -> str | None:
            now = head_commit()
            return None if now == baseline else f"HEAD moved from {baseline[:7]} to {now[:7]}"

        def start(configuration: Configuration) -> Process:
            return dvc.start_dvc(*run_args(configuration), log=log_path(configuration.name))

        pool = Pool(configurations, args.jobs, start, may_start=head_moved)
        runs = pool.run()
    except KeyboardInterrupt:
        interrupted(pool, before)
    if workspace_state() != before:
        log.warning("the workspace changed while the sweep ran (HEAD or tracked files): check `git status`")
    failed = report(sorted(runs, key=lambda run: configurations.index(run.configuration)), params)
    not_run = [c.name for c in pool.waiting]
    if failed or not_run:
        raise PipelineError(
            f"{len(failed) + len(not_run)} of {len(configurations)} experiment(s) did not finish: "
            + ", ".join(failed + not_run)
        )
    log.info("sweep: %d experiment(s), all finished", len(configurations))


if __name__ == "__main__":
    run_stage("sweep", main)
