"""How well the default sweep uses the cores: ``python -m bench.sweep_bench [--json OUT]``.

In a fresh copy of the working tree whose baseline is already reproduced, it runs:

- the sweep (``python -m src.experiments.sweep --jobs 2``: queued, parallel workers), and
- the same configurations one after another with ``dvc exp run -S ...`` in a second
  copy (the workspace reset between runs, outside the timing),

and reports for each the wall time and the CPU time (user + system) of every process
it started. DVC's queue workers detach from the command that starts them, so this
process makes itself their "subreaper" (Linux ``PR_SET_CHILD_SUBREAPER``): orphaned
descendants are re-parented to it, and once it has reaped them their CPU time is in
its ``RUSAGE_CHILDREN``. The machine's total busy time (``/proc/stat``) over the same
interval says how much CPU other programs took meanwhile: a number far above ours
means the measurement was disturbed.

Targets (issue 4): utilisation = CPU / (wall x cores) >= 0.85 over the sweep, and
sweep wall <= 0.65 x sequential wall.
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
from src.experiments.sweep import SPEC_FILE, expand, load_spec
from src.sandbox import command_env, copy_project, git, set_params

REPO_ROOT = Path(__file__).resolve().parents[1]

PR_SET_CHILD_SUBREAPER = 36
UTILISATION_TARGET = 0.85
WALL_RATIO_TARGET = 0.65
#: How long to wait for idle queue workers to exit after the sweep returned.
WORKER_EXIT_SECONDS = 180


@dataclass
class Cost:
    wall_s: float
    cpu_s: float
    cores: int
    #: CPU seconds the whole machine was busy meanwhile (ours included).
    machine_busy_s: float
    returncode: int = 0

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
    """Wait for descendants re-parented to us (the queue workers) to exit."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.5)
    print(
        f"warning: queue workers still alive after {deadline_s:.0f} s; their CPU time is not counted",
        file=sys.stderr,
    )


def measured(args: list[str], cwd: Path, env: dict[str, str], cores: int, log: Path) -> Cost:
    """Run ``args`` and every process it leaves behind; wall time ends when ``args`` returns."""
    cpu_before, busy_before, start = children_cpu(), machine_busy_seconds(), time.perf_counter()
    with open(log, "a", encoding="utf-8") as output:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        returncode = process.wait()
    wall = time.perf_counter() - start
    busy_after = machine_busy_seconds()
    reap_orphans(WORKER_EXIT_SECONDS)
    return Cost(
        wall_s=round(wall, 1),
        cpu_s=round(children_cpu() - cpu_before, 1),
        cores=cores,
        machine_busy_s=round(busy_after - busy_before, 1),
        returncode=returncode,
    )


def baseline_project(work: Path, sample_flights: int, env: dict[str, str], log: Path) -> Path:
    """A copy of the working tree, reproduced and committed (so experiments share its outputs)."""
    project = copy_project(work / "baseline" / "project")
    if sample_flights:
        set_params(project, **{"ingest.sample_flights": sample_flights})
        git(project, "commit", "-qam", f"sample of {sample_flights} flights")
    source_cache = REPO_ROOT / ".dvc" / "cache"
    if not sample_flights and source_cache.is_dir():
        # The repository's own cache usually holds the full-data outputs: reuse a copy.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--spec", type=Path, default=REPO_ROOT / SPEC_FILE)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample-flights", type=int, default=0, help="0: the full data")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="override for every run")
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
    print(f"{len(configurations)} configurations, {args.jobs} workers, {cores} cores; log: {log}", flush=True)

    baseline = baseline_project(work, args.sample_flights, env, log)
    sequential_project = work / "sequential" / "project"
    shutil.copytree(baseline, sequential_project, symlinks=True)

    sweep_args = [
        sys.executable,
        "-m",
        "src.experiments.sweep",
        "--spec",
        str(args.spec.resolve()),
        "--jobs",
        str(args.jobs),
    ]
    for override in args.extra:
        sweep_args += ["--set", override]
    print("parallel sweep ...", flush=True)
    parallel = measured(sweep_args, baseline, env, cores, log)
    table = subprocess.run(
        [sys.executable, "-m", "src.experiments.sweep", "--compare", "--plots-dir", str(work / "plots")],
        cwd=baseline,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    print(f"parallel: {parallel.as_dict()}", flush=True)

    result: dict = {
        "experiments": len(configurations),
        "jobs": args.jobs,
        "cores": cores,
        "sample_flights": args.sample_flights,
        "parallel": parallel.as_dict(),
        "table_md": table,
    }
    if not args.skip_sequential:
        runs = []
        for number, overrides in enumerate(configurations, 1):
            print(f"sequential {number}/{len(configurations)}: dvc exp run {' '.join(overrides)}", flush=True)
            run_args = ["dvc", "exp", "run"] + [part for o in overrides for part in ("-S", o)]
            runs.append(measured(run_args, sequential_project, env, cores, log))
            reset_workspace(sequential_project, env)
        sequential = Cost(
            wall_s=round(sum(r.wall_s for r in runs), 1),
            cpu_s=round(sum(r.cpu_s for r in runs), 1),
            cores=cores,
            machine_busy_s=round(sum(r.machine_busy_s for r in runs), 1),
            returncode=max(r.returncode for r in runs),
        )
        result["sequential"] = sequential.as_dict()
        result["sequential_runs"] = [r.as_dict() for r in runs]
        result["wall_ratio"] = round(parallel.wall_s / sequential.wall_s, 3)
    result["targets"] = {
        "utilisation": {
            "target": UTILISATION_TARGET,
            "value": round(parallel.utilisation, 3),
            "met": parallel.utilisation >= UTILISATION_TARGET,
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
