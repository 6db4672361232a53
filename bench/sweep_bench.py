"""How well a sweep uses the cores: ``python -m bench.sweep_bench [--json OUT]``.

In a copy of the working tree whose baseline is reproduced once, it runs:

- the sweep (``python -m src.experiments.sweep --jobs 2``), each run in a fresh copy of
  that baseline, so no run finds another's experiments in the cache;
- with ``--against REV``, the sweep runner of commit REV too (its
  ``src/experiments/sweep.py``, e.g. the queue runner of 77eee4e), alternating
  REV, current, REV, current... for ``--rounds`` rounds;
- unless ``--skip-sequential``, the same configurations one after another with
  ``dvc exp run -S ...`` in another copy (the workspace reset between runs, outside the
  timing);

and reports for each the wall time and the CPU time (user + system) of every process
it started. DVC's queue workers detach from the command that starts them, so this
process makes itself their "subreaper" (Linux ``PR_SET_CHILD_SUBREAPER``): orphaned
descendants are re-parented to it, and once it has reaped them their CPU time is in
its ``RUSAGE_CHILDREN``. The machine's total busy time (``/proc/stat``) and its load
average over the same interval say how much other programs took meanwhile: a number
far above ours means the measurement was disturbed.

Targets (issue 4): utilisation = CPU / (wall x cores) >= 0.85 over the sweep, and
sweep wall <= 0.65 x sequential wall. ``parallel`` in the results is the current
runner's first run (what ``bench/report.py`` shows); ``runs`` lists every run.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.measure import children_cpu, machine_busy_seconds
from src.experiments.spec import expand, load_spec
from src.experiments.sweep import SPEC_FILE
from src.sandbox import command_env, copy_project, git, set_params

REPO_ROOT = Path(__file__).resolve().parents[1]

PR_SET_CHILD_SUBREAPER = 36
UTILISATION_TARGET = 0.85
WALL_RATIO_TARGET = 0.65
#: How long to wait for detached queue workers to exit after a sweep returned. On a busy
#: machine one took over 180 s: reaped during the next run, its experiments' CPU time
#: (167 s) counted for that run instead.
WORKER_EXIT_SECONDS = 900
CURRENT = "current"


@dataclass
class Cost:
    wall_s: float
    cpu_s: float
    cores: int
    #: CPU seconds the whole machine was busy meanwhile (ours included).
    machine_busy_s: float
    returncode: int = 0
    #: 1-minute load average when the run started and when it ended.
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def utilisation(self) -> float:
        return self.cpu_s / (self.wall_s * self.cores) if self.wall_s else 0.0

    def as_dict(self) -> dict:
        others = max(0.0, self.machine_busy_s - self.cpu_s)
        return {
            **asdict(self),
            "utilisation": round(self.utilisation, 3),
            "others_cpu_s": round(others, 1),
            "others_share_of_capacity": round(others / (self.wall_s * self.cores), 3) if self.wall_s else 0.0,
        }


def reap_orphans(deadline_s: float) -> None:
    """Wait for descendants re-parented to us (detached queue workers) to exit."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.5)
    print(
        f"warning: processes still alive after {deadline_s:.0f} s; their CPU time is not counted",
        file=sys.stderr,
    )


def measured(args: list[str], cwd: Path, env: dict[str, str], cores: int, log: Path) -> Cost:
    """Run ``args`` and every process it leaves behind; wall time ends when ``args`` returns."""
    load_before = os.getloadavg()[0]
    cpu_before, busy_before, start = children_cpu(), machine_busy_seconds(), time.perf_counter()
    with open(log, "a", encoding="utf-8") as output:
        output.write(f"\n$ {' '.join(args)}   (in {cwd})\n")
        output.flush()
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        returncode = process.wait()
    wall = time.perf_counter() - start
    busy_after, load_after = machine_busy_seconds(), os.getloadavg()[0]
    reap_orphans(WORKER_EXIT_SECONDS)
    return Cost(
        wall_s=round(wall, 1),
        cpu_s=round(children_cpu() - cpu_before, 1),
        cores=cores,
        machine_busy_s=round(busy_after - busy_before, 1),
        returncode=returncode,
        load_before=round(load_before, 2),
        load_after=round(load_after, 2),
    )


def runner_module(against: str | None) -> str:
    return "src.experiments.sweep" if against is None else f"src.experiments.sweep_at_{against[:7]}"


def baseline_project(
    work: Path, sample_flights: int, against: str | None, env: dict[str, str], log: Path
) -> Path:
    """A copy of the working tree, reproduced and committed (so experiments share its outputs).

    With ``against``, that commit's sweep runner is added as its own module.
    """
    project = copy_project(work / "baseline")
    if against is not None:
        old = git(REPO_ROOT, "show", f"{against}:src/experiments/sweep.py").stdout
        module = project.joinpath(*runner_module(against).split(".")).with_suffix(".py")
        module.write_text(old, encoding="utf-8")
    if sample_flights:
        set_params(project, **{"ingest.sample_flights": sample_flights})
    git(project, "add", "-A")
    git(project, "commit", "-qm", "benchmark setup", check=False)
    source_cache = REPO_ROOT / ".dvc" / "cache"
    if not sample_flights and source_cache.is_dir():
        # The repository's own cache may hold the full-data outputs: reuse a copy.
        shutil.copytree(source_cache, project / ".dvc" / "cache", dirs_exist_ok=True)
    with open(log, "a", encoding="utf-8") as output:
        subprocess.run(
            ["dvc", "repro"], cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT, check=True
        )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "baseline reproduced", check=False)
    return project


def reset_workspace(project: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", "checkout", "--", "."], cwd=project, env=env, check=True, capture_output=True)
    subprocess.run(["dvc", "checkout", "--force"], cwd=project, env=env, check=True, capture_output=True)


def sweep_run(
    runner: str,
    module: str,
    baseline: Path,
    project: Path,
    args: argparse.Namespace,
    env: dict,
    cores: int,
    log: Path,
) -> dict:
    """One measured sweep in a fresh copy of the baseline: its record and the copy."""
    command = [sys.executable, "-m", module, "--spec", str(args.spec.resolve()), "--jobs", str(args.jobs)]
    for override in args.extra:
        command += ["--set", override]
    shutil.copytree(baseline, project, symlinks=True)
    cost = measured(command, project, env, cores, log)
    return {"runner": runner, "command": " ".join(["python", *command[1:]]), **cost.as_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--spec", type=Path, default=REPO_ROOT / SPEC_FILE)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample-flights", type=int, default=0, help="0: the full data")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="override for every run")
    parser.add_argument("--against", metavar="REV", help="also measure the sweep runner of this commit")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each runner, alternating")
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one, deleted)")
    args = parser.parse_args()

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: cannot account for detached queue workers")
    cores = len(os.sched_getaffinity(0))
    env = command_env(PYTHONUNBUFFERED="1")
    work = args.work or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "sweep-bench.log"
    configurations = [c + tuple(args.extra) for grid in load_spec(args.spec) for c in expand(grid.overrides)]
    print(f"{len(configurations)} configurations, {args.jobs} jobs, {cores} cores; log: {log}", flush=True)

    against = git(REPO_ROOT, "rev-parse", args.against).stdout.strip() if args.against else None
    baseline = baseline_project(work, args.sample_flights, against, env, log)
    runners = ([(f"at {against[:7]}", runner_module(against))] if against else []) + [
        (CURRENT, runner_module(None))
    ]
    runs: list[dict] = []
    table = ""
    for round_number in range(1, args.rounds + 1):
        for runner, module in runners:
            print(f"round {round_number}: {runner} sweep ...", flush=True)
            project = work / f"run-{len(runs) + 1}"
            record = sweep_run(runner, module, baseline, project, args, env, cores, log)
            runs.append({"round": round_number, **record})
            print(json.dumps(runs[-1]), flush=True)
            if runner == CURRENT and not table:
                table = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "src.experiments.sweep",
                        "--compare",
                        "--plots-dir",
                        str(work / "plots"),
                    ],
                    cwd=project,
                    env=env,
                    capture_output=True,
                    text=True,
                ).stdout
            shutil.rmtree(project, ignore_errors=True)
    parallel = next(run for run in runs if run["runner"] == CURRENT)

    result: dict = {
        "experiments": len(configurations),
        "jobs": args.jobs,
        "cores": cores,
        "sample_flights": args.sample_flights,
        "parallel": parallel,
        "runs": runs,
        "table_md": table,
    }
    if not args.skip_sequential:
        sequential_project = work / "sequential"
        shutil.copytree(baseline, sequential_project, symlinks=True)
        costs = []
        for number, overrides in enumerate(configurations, 1):
            print(f"sequential {number}/{len(configurations)}: dvc exp run {' '.join(overrides)}", flush=True)
            run_args = ["dvc", "exp", "run"] + [part for o in overrides for part in ("-S", o)]
            costs.append(measured(run_args, sequential_project, env, cores, log))
            reset_workspace(sequential_project, env)
        sequential = Cost(
            wall_s=round(sum(c.wall_s for c in costs), 1),
            cpu_s=round(sum(c.cpu_s for c in costs), 1),
            cores=cores,
            machine_busy_s=round(sum(c.machine_busy_s for c in costs), 1),
            returncode=max(c.returncode for c in costs),
            load_before=costs[0].load_before,
            load_after=costs[-1].load_after,
        )
        result["sequential"] = sequential.as_dict()
        result["sequential_runs"] = [c.as_dict() for c in costs]
        result["wall_ratio"] = round(parallel["wall_s"] / sequential.wall_s, 3)
    result["targets"] = {
        "utilisation": {
            "target": UTILISATION_TARGET,
            "value": parallel["utilisation"],
            "met": parallel["utilisation"] >= UTILISATION_TARGET,
        },
    }
    if "wall_ratio" in result:
        result["targets"]["wall_ratio"] = {
            "target": WALL_RATIO_TARGET,
            "value": result["wall_ratio"],
            "met": result["wall_ratio"] <= WALL_RATIO_TARGET,
        }
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
