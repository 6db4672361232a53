"""``python -m bench.run``: measure what the pipeline costs and write BENCHMARKS.md.

Every measurement runs in a fresh copy of the working tree in a temporary directory
(``src.sandbox.copy_project``), never in the checkout itself. A fresh copy has no
data and an empty DVC cache, so its ``dvc repro`` rebuilds everything. The phases:

1. ``dvc repro evaluate`` on the real data, the experiment pipeline (each run in its own
   fresh copy);
2. the same stage commands run directly, one after the other (DVC's overhead), then each
   stage's floor (start-up, I/O, core computation) in the last copy (``bench/floors.py``),
   then the rest of the graph (the ``seeds`` and ``replay`` stages) once, by ``dvc repro``;
3. no-op ``dvc repro`` against ``dvc status`` and ``dvc --version``;
4. an incremental re-run after a training-parameter change (``dvc repro evaluate``);
5. scaling: the experiment pipeline on the flights replicated ``ingest.replicate`` times;
6. the other scripts: the sweep, ``dvc pull`` against boto3, scoring (batch and HTTP,
   ``bench/scoring.py``) and the verdict's calibration (``bench/calibration.py``), the
   last two on the model and splits of the last 1x copy, and a fan-out runner's overhead
   (``bench/fanout.py``).

Why the experiment pipeline and not the whole graph: its six stages are what an experiment
and a pull request wait for, and what the speed targets are about. ``seeds`` (the training
noise, several more fits) and ``replay`` (a year of monitoring, a dozen fits) depend on the
training parameters too, but are timed once at 1x, each against its number of fits: at 16x
they would take hours and say nothing new about the pipeline's scaling.

A skipped script (``--skip``) keeps its section of the report being replaced (``--out``),
marked with the date it was measured, rather than losing it.

Raw results go to ``bench-results/results.json`` (``--report-only`` re-renders them),
command logs to ``bench-results/logs/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from bench.floors import measure_floors
from bench.machine import describe_machine
from bench.measure import CommandFailed, Measurement, machine_busy_seconds, own_cpu, run_measured
from bench.report import keep_earlier_sections, write_report
from bench.stats import format_seconds, stage_durations, stages_run
from src.sandbox import REPO_ROOT, command_env, copy_project, read_params, set_params

RESULTS_DIR = REPO_ROOT / "bench-results"
FLIGHTS_1X = 336_776
#: The training parameter changed for the incremental run. Regularisation, not the
#: iteration count, so the re-run does the same amount of work as the full run's train.
INCREMENTAL_PARAM = "train.hist_gradient_boosting.l2_regularization"
#: The sweep alone: ~15 min quiet; scoring (1x and 16x, HTTP) ~10 min; calibration ~120 fits.
EXTERNAL_TIMEOUT_SECONDS = {
    "pull": 15 * 60,
    "sweep": 40 * 60,
    "scoring": 30 * 60,
    "calibration": 90 * 60,
    "fanout": 30 * 60,
}
EXTERNALS = ("sweep", "pull", "scoring", "calibration", "fanout")
#: The stage ``dvc repro`` is pointed at for the timed runs: the experiment pipeline ends there.
PIPELINE_TARGET = "evaluate"


def external_benchmarks(runs: int, reproduced: Path | None = None) -> list[tuple[str, str, list[str]]]:
    """The other benchmark scripts: name, path, arguments (``--json OUT`` is added).

    ``reproduced``: a copy whose pipeline ran with the default parameters; scoring scores
    its model and calibration fits on its splits, so neither reproduces the pipeline again.
    """
    project = reproduced or Path("<copy>")
    return [
        ("sweep", "bench/sweep_bench.py", []),
        ("pull", "bench/pull_vs_boto3.py", ["--runs", str(runs)]),
        ("scoring", "bench/scoring.py", ["--project", str(project)]),
        ("calibration", "bench/calibration.py", ["--split-dir", str(project / "data" / "split")]),
        ("fanout", "bench/fanout.py", []),
    ]


class Progress:
    """Timestamped progress lines on stderr, so a long benchmark shows where it is."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def say(self, message: str) -> None:
        minutes, seconds = divmod(int(self.elapsed), 60)
        print(f"[bench {minutes:3d}:{seconds:02d}] {message}", file=sys.stderr, flush=True)


def stage_commands(project: Path) -> dict[str, str]:
    """Each stage's ``cmd`` from dvc.yaml, in file order."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {name: stage["cmd"] for name, stage in stages.items()}


def stage_outputs(project: Path) -> dict[str, list[str]]:
    """Paths each stage writes (outs, metrics, plots) according to dvc.yaml."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    outputs = {}
    for name, stage in stages.items():
        entries = [entry for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])]
        outputs[name] = [next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries]
    return outputs


def remove_paths(project: Path, paths: list[str]) -> None:
    for path in paths:
        target = project / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def record(measurement: Measurement, with_stages: bool = False) -> dict:
    """A JSON-ready measurement; the raw timeline is replaced by per-stage seconds."""
    data = asdict(measurement)
    timeline = data.pop("timeline")
    if with_stages:
        data["stage_s"] = stage_durations(timeline, measurement.wall_s)
        data["stages_run"] = stages_run(timeline)
    data["cpu_s"] = measurement.cpu_s
    return data


class Bench:
    """The phases of the benchmark, sharing the environment, work directory and progress."""

    def __init__(self, work: Path, runs: int, progress: Progress, sample_flights: int = 0) -> None:
        self.work = work
        self.sample_flights = sample_flights
        self.runs = runs
        self.progress = progress
        # Unbuffered, so DVC's "Running stage" lines arrive when they are printed.
        self.env = command_env(PYTHONUNBUFFERED="1")
        self.stage_cmds = stage_commands(REPO_ROOT)
        self.copies = 0

    def fresh_project(self, **params: object) -> Path:
        self.copies += 1
        project = copy_project(self.work / f"copy-{self.copies}" / "project")
        if self.sample_flights:
            params = {"ingest.sample_flights": self.sample_flights, **params}
        if params:
            set_params(project, **params)
        return project

    def dvc(self, project: Path, *args: str, log: str, stages: bool = False) -> Measurement:
        return run_measured(
            ["dvc", *args],
            project,
            self.env,
            stage_cmds=self.stage_cmds if stages else None,
            log_path=RESULTS_DIR / "logs" / f"{log}.log",
        )

    def full_repro(self, replicate: int, run: int, keep: bool = False) -> tuple[dict, Path | None]:
        """The experiment pipeline in a fresh copy; the copy is deleted unless ``keep``."""
        project = self.fresh_project(**({"ingest.replicate": replicate} if replicate > 1 else {}))
        measurement = self.dvc(
            project, "repro", PIPELINE_TARGET, log=f"repro-{replicate}x-{run}", stages=True
        )
        if keep:
            return record(measurement, with_stages=True), project
        shutil.rmtree(project.parent)
        return record(measurement, with_stages=True), None

    def direct(self, project: Path, order: list[str], run: int) -> dict:
        """Each stage's command run directly, in DVC's order, outputs removed first as DVC does."""
        outputs = stage_outputs(project)
        stages = {}
        for stage in order:
            remove_paths(project, outputs[stage])
            measurement = run_measured(
                ["/bin/sh", "-c", self.stage_cmds[stage]],
                project,
                self.env,
                log_path=RESULTS_DIR / "logs" / f"direct-{stage}-{run}.log",
            )
            stages[stage] = record(measurement)
        return {
            "stages": stages,
            "wall_s": sum(stage["wall_s"] for stage in stages.values()),
            "cpu_s": sum(stage["cpu_s"] for stage in stages.values()),
            "peak_rss_bytes": max(stage["peak_rss_bytes"] for stage in stages.values()),
        }

    def rest_of_graph(self, project: Path, pipeline: list[str]) -> dict:
        """The stages outside ``pipeline``, each timed by DVC, in a copy whose pipeline is reproduced.

        First ``dvc repro``: the stages it finds out of date (seeds: its output is cached,
        so a fresh copy lacks it). A stage it skips (replay: its outputs are all kept in git,
        so a fresh copy already has the ones ``dvc.lock`` records) is then run on its own,
        ``dvc repro --force --single-item``, as a training change would run it. The direct
        runs rewrote the pipeline's outputs (same bytes, new timestamps), so DVC re-hashes
        them first: that time falls before the first stage's line, in no stage. Each stage's
        fits come with it: ``noise.extra_seeds`` for seeds, the replay's own count.
        """
        runs = [record(self.dvc(project, "repro", log="rest-of-graph", stages=True), with_stages=True)]
        skipped = [
            stage for stage in self.stage_cmds if stage not in pipeline and stage not in runs[0]["stages_run"]
        ]
        for stage in skipped:
            measurement = self.dvc(
                project, "repro", "--force", "--single-item", stage, log=f"rest-of-graph-{stage}", stages=True
            )
            runs.append(record(measurement, with_stages=True))
        result: dict = {
            "wall_s": sum(run["wall_s"] for run in runs),
            "cpu_s": sum(run["cpu_s"] for run in runs),
            "peak_rss_bytes": max(run["peak_rss_bytes"] for run in runs),
            "stages_run": [stage for run in runs for stage in run["stages_run"]],
            "forced": [stage for stage in skipped if any(stage in run["stages_run"] for run in runs[1:])],
        }
        for field in ("stage_s", "stage_cpu_s", "stage_peak_rss_bytes"):
            result[field] = {
                stage: value
                for run in runs
                for stage, value in run.get(field, {}).items()
                if stage in run["stages_run"]
            }
        params = read_params(project)
        fits = {"seeds": params.get("noise", {}).get("extra_seeds")}
        replay_metrics = project / "metrics" / "replay" / "metrics.json"
        if replay_metrics.is_file():
            fits["replay"] = json.loads(replay_metrics.read_text(encoding="utf-8")).get("fits")
        result["fits"] = {stage: count for stage, count in fits.items() if stage in result["stages_run"]}
        return result

    def noop(self, project: Path) -> dict:
        """No-op ``dvc repro``, ``dvc status`` and ``dvc --version`` in an up-to-date project."""
        # The direct runs rewrote the outputs (same bytes, new timestamps): the first
        # repro re-hashes them. Not timed; it also shows whether anything would re-run.
        warm = self.dvc(project, "repro", log="noop-warmup", stages=True)
        rerun = stages_run(warm.timeline)
        results: dict[str, object] = {"rerun_after_direct": rerun}
        for name, args in (("version", ["--version"]), ("status", ["status"]), ("repro", ["repro"])):
            self.dvc(project, *args, log=f"noop-{name}-warmup")
            results[name] = [
                record(self.dvc(project, *args, log=f"noop-{name}-{run}")) for run in range(self.runs)
            ]
        return results

    def incremental(self, project: Path) -> dict:
        """Re-runs after changing one training parameter, a new value each run."""
        base = read_params(project)
        for part in INCREMENTAL_PARAM.split("."):
            base = base[part]
        runs = []
        for run in range(self.runs):
            value = round(float(base) + 0.5 * (run + 1), 6)
            set_params(project, **{INCREMENTAL_PARAM: value})
            measurement = self.dvc(project, "repro", PIPELINE_TARGET, log=f"incremental-{run}", stages=True)
            runs.append({**record(measurement, with_stages=True), "value": value})
        return {"param": INCREMENTAL_PARAM, "from": base, "runs": runs}

    def incremental_then_restore(self, project: Path) -> dict:
        """:meth:`incremental`, then params.yaml, dvc.lock and the outputs as they were before it."""
        saved = {name: (project / name).read_bytes() for name in ("params.yaml", "dvc.lock")}
        results = self.incremental(project)
        for name, content in saved.items():
            (project / name).write_bytes(content)
        self.dvc(project, "checkout", "--force", log="restore-defaults")
        return results

    def external(self, name: str, script: str, args: list[str]) -> dict:
        """Run another helper's benchmark script; describe why when it cannot be measured."""
        path = REPO_ROOT / script
        if not path.is_file():
            return {"status": "not measured", "reason": f"{script} does not exist"}
        out = RESULTS_DIR / f"{name}.json"
        out.unlink(missing_ok=True)
        module = script.removesuffix(".py").replace("/", ".")
        command = [sys.executable, "-m", module, *args, "--json", str(out.relative_to(REPO_ROOT))]
        log = RESULTS_DIR / "logs" / f"{name}.log"
        started = time.perf_counter()
        # Its own process group, so a timeout can end everything it started.
        with open(log, "w", encoding="utf-8") as handle:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode = process.wait(timeout=EXTERNAL_TIMEOUT_SECONDS[name])
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
                limit = format_seconds(EXTERNAL_TIMEOUT_SECONDS[name])
                return {"status": "not measured", "reason": f"`{' '.join(command[1:])}` took over {limit}"}
        wall = time.perf_counter() - started
        if returncode != 0 or not out.is_file():
            tail = log.read_text(encoding="utf-8").strip().splitlines()[-3:]
            return {
                "status": "not measured",
                "reason": f"`{' '.join(command[1:])}` exited {returncode}: " + " / ".join(tail),
            }
        return {
            "status": "measured",
            "command": " ".join(command[1:]),
            "wall_s": wall,
            "data": json.loads(out.read_text()),
        }


#: What the other scripts cost, in full runs at 1x (measured once, roughly): the sweep
#: runs 8 experiments in parallel and then one after another; the pull benchmark runs the
#: pipeline twice besides its downloads.
#: The fan-out: its own baseline run, then one experiment three times (one machine, two runners).
EXTERNAL_COST_IN_FULL_RUNS = {"sweep": 9.0, "pull": 2.0, "scoring": 10.0, "calibration": 25.0, "fanout": 2.0}


def estimate_seconds(
    full_s: float, runs: int, scaling_runs: int, factors: list[int], externals: list[str]
) -> float:
    """Rough duration of everything after the first full run, from that run's wall time.

    Assumes time linear in data size (an upper bound: fixed costs do not grow), a
    direct run as long as a full one, an incremental run half as long.
    """
    remaining_full = (runs - 1) * full_s
    direct = runs * full_s
    noop = (3 * runs + 4) * 4.0 + full_s * 0.1
    floors = runs * 0.8 * full_s  # every stage's start-up, the fit and the importance again
    incremental = runs * 0.5 * full_s
    rest = 5 * full_s  # seeds and replay: about a dozen fits
    scaling = sum(factor * full_s * scaling_runs for factor in factors if factor > 1)
    external = sum(EXTERNAL_COST_IN_FULL_RUNS.get(name, 0.0) * full_s for name in externals)
    return remaining_full + direct + floors + rest + noop + incremental + scaling + external


def measure(args: argparse.Namespace, progress: Progress) -> dict:
    results: dict = {
        "mode": "quick" if args.quick else "full",
        "runs": args.runs,
        "scaling_runs": args.scaling_runs,
        "factors": args.factors,
        "flights_1x": args.sample_flights or FLIGHTS_1X,
        "sample_flights": args.sample_flights,
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": list(os.getloadavg()),
        "machine": describe_machine(REPO_ROOT),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.work_dir))
    bench = Bench(work, args.runs, progress, args.sample_flights)
    # What the machine did besides this benchmark, phases 1-5 (the sweep's queue workers
    # are not our children, so the sweep script accounts for its own phase).
    busy_before, own_before, started = machine_busy_seconds(), own_cpu(), time.perf_counter()
    data = f"a sample of {args.sample_flights} flights" if args.sample_flights else "the real data"
    try:
        progress.say(
            f"phase 1-2/6: dvc repro {PIPELINE_TARGET} on {data}, then the same stage commands run directly; "
            f"{args.runs} pair(s), each in a fresh copy"
        )
        # Pairs, not all repros then all direct runs: a change in the machine's load
        # then hits both sides of the overhead ratio alike.
        full, direct, kept = [], [], None
        for run in range(args.runs):
            measurement, kept = bench.full_repro(1, run, keep=True)
            full.append(measurement)
            progress.say(f"  run {run + 1}: dvc repro {format_seconds(measurement['wall_s'])}")
            if run == 0:
                externals = [name for name, *_ in external_benchmarks(args.runs) if name not in args.skip]
                estimate = estimate_seconds(
                    measurement["wall_s"], args.runs, args.scaling_runs, args.factors, externals
                )
                progress.say(
                    f"  estimate for the rest: ~{format_seconds(estimate)} (assuming time linear in data)"
                )
            direct.append(bench.direct(kept, measurement["stages_run"], run))
            progress.say(f"  run {run + 1}: stage commands directly {format_seconds(direct[-1]['wall_s'])}")
            if run < args.runs - 1:
                shutil.rmtree(kept.parent)
        results["full"] = full
        results["direct"] = direct
        results["stage_order"] = full[-1]["stages_run"]

        progress.say("floors: each stage's start-up, I/O and core computation, in the last copy")
        order = results["stage_order"]
        results["floors"] = measure_floors(
            kept,
            bench.env,
            {stage: bench.stage_cmds[stage] for stage in order},
            args.runs,
            RESULTS_DIR / "logs",
        )

        progress.say("the rest of the graph (seeds, replay): dvc repro, once, in the last copy")
        results["rest"] = bench.rest_of_graph(kept, order)
        progress.say(
            f"  {format_seconds(results['rest']['wall_s'])}: {', '.join(results['rest']['stages_run'])}"
        )

        progress.say("phase 3/6: no-op dvc repro, dvc status, dvc --version")
        results["noop"] = bench.noop(kept)

        progress.say(f"phase 4/6: incremental re-run after changing {INCREMENTAL_PARAM}")
        # Then as before it: scoring and calibration (phase 6) use this copy's model and splits.
        results["incremental"] = bench.incremental_then_restore(kept)

        scaling: dict[str, list[dict]] = {"1": full}
        for factor in (factor for factor in args.factors if factor != 1):
            progress.say(f"phase 5/6: scaling, replicate {factor}x, {args.scaling_runs} run(s)")
            scaling[str(factor)] = []
            for run in range(args.scaling_runs):
                measurement, _ = bench.full_repro(factor, run)
                scaling[str(factor)].append(measurement)
                progress.say(f"  run {run + 1}: {format_seconds(measurement['wall_s'])}")
        results["scaling"] = scaling
        others = (machine_busy_seconds() - busy_before) - (own_cpu() - own_before)
        capacity = (time.perf_counter() - started) * (os.cpu_count() or 1)
        results["others_share"] = max(others, 0.0) / capacity

        progress.say("phase 6/6: the sweep, pull, scoring, calibration and fan-out benchmarks")
        # Smoke runs on a sample pass the sample on: the external scripts accept it too.
        sample = ["--sample-flights", str(args.sample_flights)] if args.sample_flights else []
        results["external"] = {
            name: bench.external(name, script, script_args + sample)
            if name not in args.skip
            else {"status": "not measured", "reason": args.skip[name]}
            for name, script, script_args in external_benchmarks(args.runs, kept)
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = list(os.getloadavg())
    results["duration_s"] = progress.elapsed
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Measure the pipeline's time, memory, DVC overhead and scaling; write a Markdown report.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1x only, one run each, none of the other benchmark scripts"
    )
    parser.add_argument(
        "--externals", action="store_true", help="with --quick: run the other benchmark scripts too"
    )
    parser.add_argument("--runs", type=int, help="runs per timing at 1x (default 5; 1 with --quick)")
    parser.add_argument("--scaling-runs", type=int, help="runs per replicated size (default 3)")
    parser.add_argument(
        "--factors", help="replication factors, comma-separated (default 1,4,16; 1 with --quick)"
    )
    parser.add_argument(
        "--sample-flights",
        type=int,
        default=0,
        help="smoke-test the harness on a sample of N flights (not a benchmark)",
    )
    parser.add_argument("--skip", action="append", choices=EXTERNALS, default=[], help="leave one out")
    parser.add_argument(
        "--out", type=Path, default=Path("BENCHMARKS.md"), help="the report (default BENCHMARKS.md)"
    )
    parser.add_argument(
        "--plot", type=Path, help="the scaling PNG (default bench/scaling.png beside --out's root)"
    )
    parser.add_argument("--work-dir", type=Path, help="where the temporary copies go (default: system temp)")
    parser.add_argument("--report-only", action="store_true", help="re-render --results without measuring")
    parser.add_argument(
        "--results",
        type=Path,
        help="raw results JSON (default bench-results/results.json, or results-quick.json)",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.results is None:
        args.results = RESULTS_DIR / ("results-quick.json" if args.quick else "results.json")
    if args.scaling_runs is None:
        args.scaling_runs = 1 if args.quick else 3
    if args.runs < 1 or args.scaling_runs < 1:
        parser.error("--runs and --scaling-runs must be at least 1")
    factors = args.factors or ("1" if args.quick else "1,4,16")
    try:
        args.factors = sorted({int(factor) for factor in factors.split(",")})
    except ValueError:
        parser.error(f"--factors: expected integers like 1,4,16, got {factors!r}")
    if 1 not in args.factors or min(args.factors) < 1:
        parser.error("--factors must include 1 (the full runs) and be positive")
    args.skip = {name: "skipped (--skip)" for name in args.skip}
    if args.quick and not args.externals:
        for name in EXTERNALS:
            args.skip.setdefault(
                name,
                "skipped by --quick: it runs the pipeline itself, several minutes (`make bench` runs it)",
            )
    if args.plot is None:
        # The committed report's picture lives in bench/; any other report's beside it.
        beside = args.out.parent / f"{args.out.stem}-scaling.png"
        args.plot = REPO_ROOT / "bench" / "scaling.png" if args.out.resolve().parent == REPO_ROOT else beside
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    progress = Progress()
    if args.report_only:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    else:
        RESULTS_DIR.mkdir(exist_ok=True)
        shutil.rmtree(RESULTS_DIR / "logs", ignore_errors=True)  # no stale logs from an earlier run
        (RESULTS_DIR / "logs").mkdir()
        try:
            results = measure(args, progress)
        except CommandFailed as error:
            sys.exit(f"benchmark stopped: {error}")
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        progress.say(f"raw results in {args.results}")
    if args.out.is_file():
        # Before the report is replaced: what it said about the scripts this run skipped.
        keep_earlier_sections(results, args.out.read_text(encoding="utf-8"))
        args.results.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_report(results, args.out, args.plot)
    progress.say(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
