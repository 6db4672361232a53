"""What a fan-out runner costs besides its experiments: ``python -m bench.fanout [--json OUT]``.

On one machine N simulated runners share its cores, so their wall time says nothing
about N real machines. Measured instead, for one experiment:

- ``experiment_s``: the experiment on one machine, as ``make sweep`` runs it
  (``dvc exp run --temp`` in a clone whose baseline is in the cache);
- a runner's own costs in a fresh clone: ``clone_s`` (git clone), ``run_s`` (``fanout run``:
  the remote checked, the run-cache and inputs restored from the remote, the same
  experiment), ``push_s`` (``fanout push``: the experiment to git, outputs and run-cache to
  the DVC remote); ``overhead_s`` = clone + (run - experiment) + push;
- ``rerun_s``: a second fresh runner running the same configuration: restored from the
  run-cache, no training.

The remote is moto's S3 on loopback and the git server a bare repository, so network
time is near zero: over a real network add the transfer of the split data. From these,
``speedup`` estimates K experiments on N runners against one machine:
K x experiment / (ceil(K / N) x experiment + overhead).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from src.sandbox import copy_project, dvc, git, run, s3_server, set_params

CONFIGURATION = "train.hist_gradient_boosting.learning_rate=0.05"
SPEC = "sweeps/fanout-bench.yaml"
BUCKET = "fanout-bench"
SWEEP_SIZES = (8, 32, 200)
RUNNER_COUNTS = (1, 2, 4, 8, 16)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def speedup(experiments: int, runners: int, experiment_s: float, overhead_s: float) -> float:
    """One machine's time for ``experiments`` over that of ``runners`` runners (each paying the overhead)."""
    return experiments * experiment_s / (math.ceil(experiments / runners) * experiment_s + overhead_s)


def runner(origin: Path, directory: Path, endpoint: str, plan: Path, env: dict[str, str]) -> dict[str, float]:
    """One fresh runner: clone, fanout run, fanout push; seconds of each."""
    clone_s, _ = timed(lambda: git(directory.parent, "clone", "-q", str(origin), str(directory)))
    dvc(directory, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/flight-delays")
    dvc(directory, "remote", "modify", "--local", "s3", "endpointurl", endpoint)
    dvc(directory, "remote", "default", "--local", "s3")
    fanout = [sys.executable, "-m", "src.experiments.fanout"]
    run_s, _ = timed(lambda: run([*fanout, "run", "--plan", str(plan), "--runner", "1"], directory, **env))
    push_s, _ = timed(
        lambda: run(
            [*fanout, "push", "--plan", str(plan), "--runner", "1", "--git-remote", str(origin)],
            directory,
            check=False,
            **env,
        )
    )
    return {"clone_s": clone_s, "run_s": run_s, "push_s": push_s}


def measure(sample_flights: int, work: Path) -> dict:
    main = copy_project(work / "main")
    if sample_flights:
        set_params(main, **{"ingest.sample_flights": sample_flights})
    (main / SPEC).write_text(yaml.safe_dump({"grids": [{"name": "bench", "set": [CONFIGURATION]}]}))
    dvc(main, "repro")
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "baseline")
    with s3_server(work) as s3:
        s3.create_bucket(BUCKET)
        env = s3.env
        dvc(main, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/flight-delays")
        dvc(main, "remote", "modify", "--local", "s3", "endpointurl", s3.url)
        dvc(main, "remote", "default", "--local", "s3")
        dvc(main, "push", "--run-cache", **env)
        run([sys.executable, "-m", "src.remote.run_cache"], main, **env)
        origin = work / "origin.git"
        git(work, "clone", "-q", "--bare", str(main), str(origin))

        # One machine: the same experiment in a copy whose cache holds the baseline.
        local = work / "local"
        shutil.copytree(main, local, symlinks=True)
        experiment_s, _ = timed(
            lambda: dvc(local, "exp", "run", "--temp", "-n", "local", "-S", CONFIGURATION)
        )

        plan = work / "plan.json"
        expand_s, _ = timed(
            lambda: run(
                [
                    sys.executable,
                    "-m",
                    "src.experiments.fanout",
                    "expand",
                    "--spec",
                    SPEC,
                    "--runners",
                    "1",
                    "--git-remote",
                    str(origin),
                    "--out",
                    str(plan),
                ],
                main,
                **env,
            )
        )
        first = runner(origin, work / "runner-1", s3.url, plan, env)
        # A retry of the same plan in a fresh clone: restored from the run-cache (its push is refused).
        retry = runner(origin, work / "runner-1-retry", s3.url, plan, env)
    overhead_s = first["clone_s"] + (first["run_s"] - experiment_s) + first["push_s"]
    return {
        "sample_flights": sample_flights,
        "experiment_s": experiment_s,
        "expand_s": expand_s,
        **first,
        "overhead_s": overhead_s,
        "rerun_s": retry["run_s"],
        "speedup": {
            str(k): {str(n): round(speedup(k, n, experiment_s, overhead_s), 2) for n in RUNNER_COUNTS}
            for k in SWEEP_SIZES
        },
    }


def markdown(data: dict) -> str:
    rows = [
        ("one experiment on one machine (`dvc exp run --temp`)", data["experiment_s"]),
        ("`fanout expand` (validate, name, deal)", data["expand_s"]),
        ("runner: `git clone`", data["clone_s"]),
        ("runner: `fanout run` (remote check, restore, the experiment)", data["run_s"]),
        ("runner: `fanout push` (git ref, outputs, run-cache)", data["push_s"]),
        ("**runner overhead** (clone + run - experiment + push)", data["overhead_s"]),
        ("the same configuration again on a fresh runner (run-cache)", data["rerun_s"]),
    ]
    lines = ["| step | seconds |", "| --- | ---: |", *(f"| {label} | {value:.1f} |" for label, value in rows)]
    header = "| experiments \\ runners | " + " | ".join(map(str, RUNNER_COUNTS)) + " |"
    lines += [
        "",
        "Estimated speed-up over one machine (K x experiment / (ceil(K/N) x experiment + overhead)):",
        "",
        header,
        "| --- |" + " ---: |" * len(RUNNER_COUNTS),
    ]
    for k, row in data["speedup"].items():
        lines.append(f"| {k} | " + " | ".join(f"{row[str(n)]:.1f}x" for n in RUNNER_COUNTS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--sample-flights", type=int, default=0, help="a sample of N flights (0: all)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--work-dir", type=Path, help="where the copies go (default: system temp)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    work = Path(tempfile.mkdtemp(prefix="bench-fanout-", dir=args.work_dir))
    try:
        data = measure(args.sample_flights, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data["markdown"] = markdown(data)
    print(data["markdown"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
