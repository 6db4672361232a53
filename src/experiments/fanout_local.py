"""``make sweep-fanout``: the fan-out of sweep.yaml played on this machine, for teams without Actions.

N runners are N fresh clones under ``.dvc/tmp/fanout/``, running at the same time and
sharing a bare git repository (standing in for the team's git server) and this clone's
default DVC remote. The commands are the workflow's: ``fanout expand`` here, ``fanout run``
then ``fanout push`` in each clone, ``fanout collect`` here, so the experiments land in
this clone (``make compare`` lists them). On one machine the runners share its cores, so
this proves the mechanics rather than saving time: docs/scaling-out.md says when real
runners pay off.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from src import dvc
from src.core.stage import PipelineError, run_stage
from src.experiments import fanout_plan
from src.experiments.sweep import add_override_argument, ensure_baseline

log = logging.getLogger("pipeline")

WORK_DIR = Path(".dvc/tmp/fanout")  # DVC's scratch directory: git-ignored, never in experiments
FANOUT = [sys.executable, "-m", "src.experiments.fanout"]


def local_remote_urls() -> dict[str, str]:
    """Every DVC remote of this clone with its URL, local paths made absolute for the clones."""
    from dvc.repo import Repo  # DVC's resolved configuration: relative paths made absolute

    with Repo(".") as repo:
        remotes = repo.config["remote"]
        return {name: str(settings["url"]) for name, settings in remotes.items()}


def prepare_origin(work: Path) -> Path:
    """A bare repository holding this clone's HEAD: the git server the runners share."""
    origin = work / "origin.git"
    shutil.rmtree(origin, ignore_errors=True)
    dvc.git("clone", "--quiet", "--bare", "--no-local", ".", str(origin))
    return origin


def runner_clone(origin: Path, work: Path, number: int, remotes: dict[str, str], default: str) -> Path:
    """A fresh clone at HEAD with this clone's DVC remotes (what a CI runner's check-out gets)."""
    clone = work / f"runner-{number}"
    shutil.rmtree(clone, ignore_errors=True)
    dvc.git("clone", "--quiet", str(origin), str(clone))
    local_config = Path(".dvc/config.local")
    if local_config.is_file():  # endpoints, credentials profiles: the runners use the same
        shutil.copy2(local_config, clone / ".dvc" / "config.local")
    for name, url in remotes.items():
        dvc.dvc("remote", "modify", "--local", name, "url", url, cwd=clone)
    dvc.dvc("remote", "default", "--local", default, cwd=clone)
    return clone


def play_runner(clone: Path, plan: Path, number: int, origin: Path, logs: Path) -> int:
    """``fanout run`` then ``fanout push`` in ``clone`` (push also after a failure); its exit status."""
    log_file = logs / f"runner-{number}.log"
    status = 0
    with open(log_file, "w", encoding="utf-8") as output:
        for command in ("run", "push"):
            extra = ["--git-remote", str(origin)] if command == "push" else []
            result = dvc.run(
                [*FANOUT, command, "--plan", str(plan), "--runner", str(number), *extra],
                cwd=clone,
                check=False,
            )
            output.write(f"$ fanout {command} (exit {result.returncode})\n{result.stdout}{result.stderr}\n")
            status = status or result.returncode
    log.info("runner %d %s: %s", number, "finished" if status == 0 else f"failed (exit {status})", log_file)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.experiments.fanout_local",
        description="Play the sweep workflow's fan-out here: N clones as N runners at once, sharing a "
        "bare git repository and the default DVC remote; then collect the experiments into this clone.",
    )
    parser.add_argument("--spec", type=Path, required=True, help="sweep file under sweeps/")
    parser.add_argument("--runners", type=int, default=2, help="clones running at once (default 2)")
    add_override_argument(parser)
    args = parser.parse_args()
    if args.runners < 1:
        parser.error("--runners must be at least 1")

    default = dvc.default_remote()
    if default is None:
        raise PipelineError("no default DVC remote: the runners share one (dvc remote default NAME)")
    work = dvc.repository_root() / WORK_DIR
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ensure_baseline()
    log.info("pushing the baseline's outputs and run-cache to %r (as make push), for the runners", default)
    dvc.run(["dvc", "push", "--run-cache"], capture=False)
    dvc.run([sys.executable, "-m", "src.remote.run_cache"], capture=False)
    origin = prepare_origin(work)
    plan = work / "plan.json"
    expand = [*FANOUT, "expand", "--spec", str(args.spec), "--runners", str(args.runners)]
    expand += [f"--set={override}" for override in args.extra]
    dvc.run([*expand, "--git-remote", str(origin), "--out", str(plan)], capture=False)

    remotes = local_remote_urls()
    runners = list(range(1, fanout_plan.load(plan).runners + 1))
    clones = {number: runner_clone(origin, work, number, remotes, default) for number in runners}
    log.info("%d runner(s) at once, logs in %s", len(clones), logs)
    with ThreadPoolExecutor(len(clones)) as pool:
        statuses = list(pool.map(lambda n: play_runner(clones[n], plan, n, origin, logs), runners))
    collected = dvc.run(
        [*FANOUT, "collect", "--plan", str(plan), "--git-remote", str(origin)], check=False, capture=False
    )
    failed = [number for number, status in zip(runners, statuses, strict=True) if status]
    if failed or collected.returncode:
        raise PipelineError(
            f"runner(s) {', '.join(map(str, failed)) or 'none'} failed; see {logs} and the report above"
        )


if __name__ == "__main__":
    run_stage("sweep-fanout", main)
