"""A sweep fanned out over many machines: CI runners, or clones playing them.

DVC's queue cannot span machines, so the fan-out uses what already spans them: git
carries the experiments (``dvc exp push`` / ``dvc exp pull``), the DVC remote carries
their outputs and the run-cache. Four commands, the same ones the workflow
(``.github/workflows/sweep.yaml``) and ``make sweep-fanout`` run:

``expand``  validate the sweep file as ``make sweep`` does (nothing runs if any configuration
            is invalid), name the experiments (free in this clone and in the git remote),
            deal them to N runners: a plan (JSON) that every runner and the collector read.
``run``     on a runner (a fresh clone at the plan's commit): check the DVC remote answers,
            then run this runner's configurations one after another, each
            ``dvc exp run --temp --pull --allow-missing``: unchanged stages are restored from
            the remote and the run-cache instead of run.
``push``    send this runner's finished experiments to the git remote (``dvc exp push``, with
            their outputs and the run-cache) and the outputs the run-cache records name.
``collect`` pull every experiment of the commit from the git remote (metrics only, no data),
            print and write the comparison table of ``make compare``, name the best on
            validation, and list what it did not get; exit 1 if anything is missing.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from src import dvc
from src.core.stage import PipelineError, run_stage
from src.experiments import compare, fanout_plan
from src.experiments.fanout_plan import Plan
from src.experiments.fanout_remote import check_remote, last_line, push_one, remote_experiments
from src.experiments.pool import Finished
from src.experiments.selection import parse_exp_show, ranked
from src.experiments.spec import Configuration
from src.experiments.sweep import (
    add_override_argument,
    judge_all,
    listed_experiments,
    log_path,
    plan_sweep,
    read_log,
    run_args,
    summary,
)
from src.params import Params, load_params
from src.remote.run_cache import push_run_outputs

log = logging.getLogger("pipeline")

DEFAULT_GIT_REMOTE = "origin"
REPORT_FILE = Path("reports/fanout.md")


def local_experiments(params: Params) -> dict[str, str]:
    """This clone's experiments of HEAD: name -> DVC's state."""
    return listed_experiments(dvc.exp_show(), params)


# --- the commands ---------------------------------------------------------------------------


def expand(spec: Path, runners: int, extra: Sequence[str], git_remote: str, out: Path) -> Plan:
    """Validate and name the sweep's configurations, deal them to runners, write the plan."""
    root = dvc.repository_root()
    spec_path = fanout_plan.spec_in_repository(spec, root)
    if dvc.porcelain(untracked=False):
        raise PipelineError(
            "tracked files have uncommitted changes: the runners check out the commit, not this "
            "workspace; commit (and push) first"
        )
    baseline = dvc.resolve_commit("HEAD")
    params = load_params()
    taken = remote_experiments(git_remote, baseline)
    configurations = plan_sweep(root / spec_path, extra, params, taken_elsewhere=taken)
    plan = Plan(baseline, spec_path, tuple(fanout_plan.assign(configurations, runners)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(fanout_plan.to_json(plan) + "\n", encoding="utf-8")
    log.info(
        "plan: %d experiment(s) on %d runner(s) at %s -> %s",
        len(plan.assigned),
        plan.runners,
        baseline[:7],
        out,
    )
    return plan


def run(plan: Plan, runner: int, params: Params) -> list[str]:
    """Run this runner's configurations in turn; the names that did not finish."""
    here = dvc.resolve_commit("HEAD")
    if here != plan.baseline:
        raise PipelineError(
            f"this clone is at {here[:7]}, the plan was made at {plan.baseline[:7]}: check out {plan.baseline}"
        )
    mine = plan.of_runner(runner)
    remote = check_remote()
    log.info(
        "runner %d: %d configuration(s), remote %r: %s",
        runner,
        len(mine),
        remote,
        ", ".join(c.name for c in mine),
    )
    finished = []
    for index, configuration in enumerate(mine, 1):
        log.info("[%d/%d] %s: %s", index, len(mine), configuration.name, " ".join(configuration.overrides))
        finished.append(run_one(configuration))
    for item in finished:
        text = read_log(item.configuration.name)
        log.info(
            "%s: stages run %s; restored from the run-cache %s",
            item.configuration.name,
            ", ".join(dvc.stages_ran(text)) or "none",
            ", ".join(dvc.stages_restored(text)) or "none",
        )
    problems = judge_all(finished, local_experiments(params))
    print(summary(finished, problems), flush=True)
    return [name for name, problem in problems.items() if problem is not None]


def run_one(configuration: Configuration) -> Finished:
    started = time.monotonic()
    process = dvc.start_dvc(*run_args(configuration, pull=True), log=log_path(configuration.name))
    return Finished(configuration, process.wait(), time.monotonic() - started)


def push(plan: Plan, runner: int, git_remote: str, params: Params) -> list[str]:
    """Push this runner's finished experiments, then the run-cache's outputs; the names refused."""
    listed = local_experiments(params)
    mine = [c.name for c in plan.of_runner(runner)]
    ready = [name for name in mine if listed.get(name) == "success"]
    absent = [name for name in mine if name not in ready]
    if absent:
        log.warning("not finished on this runner, so not pushed: %s", ", ".join(absent))
    refused = []
    for name in ready:
        problem = push_one(git_remote, plan.baseline, name)
        if problem is None:
            log.info("%s: in %s, its outputs and the run-cache in the DVC remote", name, git_remote)
        else:
            refused.append(name)
            log.error("%s: %s", name, problem)
    if len(refused) < len(ready):  # the run-cache's outputs: only when something new went out
        records, sent, failed = push_run_outputs(Path.cwd(), None, None)
        if failed:
            raise PipelineError(
                f"{failed} run-cache object(s) failed to upload to the DVC remote; run push again"
            )
        log.info("run-cache: %d record(s), %d object(s) sent", records, sent)
    return refused


def collect(plan: Plan, git_remote: str, params: Params, out: Path) -> fanout_plan.Collected:
    """Pull the commit's experiments (metrics only), report them, write ``out``."""
    if dvc.resolve_commit("HEAD") != plan.baseline:
        raise PipelineError(f"the collector must be at the plan's commit {plan.baseline[:7]}: check it out")
    result = dvc.dvc("exp", "pull", "--no-cache", git_remote, check=False)
    if result.returncode != 0:
        log.error(
            "`dvc exp pull %s` failed: %s; reporting what this clone has", git_remote, last_line(result)
        )
    experiments = parse_exp_show(dvc.exp_show(), params.select.metric)
    got = fanout_plan.collected(plan, {e.name: e.state for e in experiments.experiments})
    metric = params.select.metric
    best = next(iter(ranked([e for e in experiments.experiments if e.name in got.received], metric)), None)
    lines = [
        *fanout_plan.outcome_lines(plan, got, best, metric),
        "#### Every experiment of this commit (as `make compare`)",
        "",
        *compare.family_tables(experiments, params),
    ]
    text = "\n".join(lines).rstrip() + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.with_suffix(".tmp")
    scratch.write_text(text, encoding="utf-8")
    scratch.replace(out)
    print(text, flush=True)
    return got


# --- the entry point ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m src.experiments.fanout",
        description="Fan a sweep out over runners that share a git remote and a DVC remote "
        "(docs/scaling-out.md): expand, then run and push on each runner, then collect.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    git_help = f"git remote (name or URL) the experiments go through (default {DEFAULT_GIT_REMOTE})"

    expand_cmd = commands.add_parser("expand", help="validate the sweep file and write the plan")
    expand_cmd.add_argument("--spec", type=Path, required=True, help="sweep file under sweeps/")
    expand_cmd.add_argument("--runners", type=int, required=True, help="how many runners share the work")
    add_override_argument(expand_cmd)
    expand_cmd.add_argument("--out", type=Path, required=True, help="the plan (JSON) to write")

    for name, text in (
        ("run", "run this runner's configurations"),
        ("push", "push this runner's experiments"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--plan", type=Path, required=True, help="the plan from expand")
        command.add_argument("--runner", type=int, required=True, help="this runner's number (1..N)")

    collect_cmd = commands.add_parser("collect", help="pull every experiment, report, list what is missing")
    collect_cmd.add_argument("--plan", type=Path, required=True, help="the plan from expand")
    collect_cmd.add_argument(
        "--out", type=Path, default=REPORT_FILE, help=f"the report (default {REPORT_FILE})"
    )

    for command in (expand_cmd, commands.choices["push"], collect_cmd):
        command.add_argument("--git-remote", default=DEFAULT_GIT_REMOTE, help=git_help)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # DVC's S3 client runs in this process (run-cache push): its "Found credentials" lines are noise.
    for name in ("botocore", "aiobotocore", "s3fs"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.command == "expand":
        expand(args.spec, args.runners, args.extra, args.git_remote, args.out)
        return
    plan = fanout_plan.load(args.plan)
    params = load_params()
    if args.command == "run":
        failed = run(plan, args.runner, params)
        if failed:
            raise PipelineError(
                f"{len(failed)} of {len(plan.of_runner(args.runner))} did not finish: {', '.join(failed)}"
            )
    elif args.command == "push":
        refused = push(plan, args.runner, args.git_remote, params)
        if refused:
            raise PipelineError(f"not pushed to {args.git_remote}: {', '.join(refused)}")
    else:
        got = collect(plan, args.git_remote, params, args.out)
        if got.missing:
            raise PipelineError(
                f"{len(got.missing)} of {len(plan.assigned)} experiment(s) not received: {', '.join(got.missing)}"
            )


if __name__ == "__main__":
    run_stage("fanout", main)
