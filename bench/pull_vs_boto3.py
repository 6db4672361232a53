"""Time `dvc pull` of a whole commit's outputs from a loopback S3 server against boto3.

``python -m bench.pull_vs_boto3 --runs 5 --json out.json`` builds a temporary project
from the working tree (``src.sandbox.copy_project``), runs its pipeline on the full
data (or ``--sample-flights N``), starts its own moto S3 server on 127.0.0.1 in a
subprocess, and pushes the commit's outputs to an empty bucket. Then, alternating,
``--runs`` times each, cold every time:

- ``dvc pull`` in a fresh ``git clone`` (empty DVC cache, empty state), remote
  verification on as committed in ``.dvc/config``; then once more in that clone, with
  nothing left to fetch, which is DVC's fixed cost (start-up, reading the pipeline,
  querying the remote);
- the same objects (everything in the bucket) downloaded with boto3 in a fresh Python
  process, with as many threads as DVC uses for S3 by default, and with one.

The ratio is median(dvc pull) / median(boto3, threads). Unless ``--no-reproduce``, it
then commits a second training run, pushes it, and times ``python -m src.remote.reproduce``
(what ``make reproduce REV=...`` runs) of the first commit from a fresh clone of the
second. Results go to stdout and, with ``--json``, to a file (with a "markdown" table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from src.sandbox import VENV_BIN, aws_test_env, command_env, copy_project, dvc, git, read_params, set_params

REPO_ROOT = Path(__file__).resolve().parents[1]

BUCKET = "bench"
PREFIX = "flight-delays"
TARGET_RATIO = 1.5
TARGET_REPRODUCE_S = 30.0
#: dvc-s3's default number of parallel transfers: 4 per CPU.
DVC_DEFAULT_JOBS = 4 * (os.cpu_count() or 1)

STARTED = time.perf_counter()


def say(message: str) -> None:
    minutes, seconds = divmod(int(time.perf_counter() - STARTED), 60)
    print(f"[pull-bench {minutes:02d}:{seconds:02d}] {message}", file=sys.stderr, flush=True)


#: The baseline, run as its own Python process like `dvc pull`: import boto3, list the
#: bucket, download every object with a pool of threads. argv: endpoint bucket dest threads.
BOTO3_DOWNLOAD = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import boto3

endpoint, bucket, dest, threads = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
client = boto3.client("s3", endpoint_url=endpoint)
pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
objects = [(item["Key"], item["Size"]) for page in pages for item in page.get("Contents", [])]

def fetch(key):
    target = dest / key
    target.parent.mkdir(parents=True, exist_ok=True)
    client.download_file(bucket, key, str(target))

with ThreadPoolExecutor(threads) as pool:
    list(pool.map(fetch, [key for key, _ in objects]))
print(json.dumps([len(objects), sum(size for _, size in objects)]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "w") as handle:
        server = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=command_env(),
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"moto_server did not start (see {log})") from None
            time.sleep(0.1)


def s3_local_config(endpoint: str) -> str:
    return f"[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://{BUCKET}/{PREFIX}\n    endpointurl = {endpoint}\n"


def fresh_clone(origin: Path, dest: Path, rev: str, endpoint: str) -> Path:
    git(dest.parent, "clone", "-q", str(origin), dest.name)
    git(dest, "checkout", "-q", rev)
    (dest / ".dvc" / "config.local").write_text(s3_local_config(endpoint))
    return dest


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return elapsed, result


def summary(values: list[float]) -> dict:
    return {
        "median_s": statistics.median(values),
        "min_s": min(values),
        "max_s": max(values),
        "runs_s": values,
    }


def commit_all(project: Path, message: str) -> str:
    if git(project, "status", "--porcelain").stdout.strip():
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD").stdout.strip()


def measure(args: argparse.Namespace, work: Path) -> dict:
    aws = aws_test_env(work)
    env = command_env(**aws)
    origin = copy_project(work / "origin")
    if args.sample_flights:
        set_params(origin, **{"ingest.sample_flights": args.sample_flights})
    say(
        f"dvc repro of the pipeline ({'full data' if not args.sample_flights else f'{args.sample_flights} flights'})"
    )
    dvc(origin, "repro")
    older = commit_all(origin, "benchmark: first run")

    server, endpoint = start_moto(work / "moto.log")
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, **_client_keys(aws)).create_bucket(Bucket=BUCKET)
        (origin / ".dvc" / "config.local").write_text(s3_local_config(endpoint))
        say("dvc push of the commit's outputs to an empty bucket")
        dvc(origin, "push", **aws)

        dvc_times, noop_times, threaded_times, single_times = [], [], [], []
        downloaded: tuple[int, int] = (0, 0)
        boto3_command = [sys.executable, "-c", BOTO3_DOWNLOAD, endpoint, BUCKET]
        for index in range(args.runs + 1):  # run 0 warms the server and the OS file cache, untimed
            label = "warm-up" if index == 0 else f"run {index}/{args.runs}"
            clone = fresh_clone(origin, work / f"pull-{index}", older, endpoint)
            pulled, _ = timed([str(VENV_BIN / "dvc"), "pull"], clone, env)
            noop, _ = timed([str(VENV_BIN / "dvc"), "pull"], clone, env)  # DVC's fixed cost: nothing to fetch
            threaded, out = timed(
                [*boto3_command, str(work / f"boto3-{index}"), str(DVC_DEFAULT_JOBS)], work, env
            )
            single, _ = timed([*boto3_command, str(work / f"boto3-single-{index}"), "1"], work, env)
            downloaded = tuple(json.loads(out.stdout))
            say(
                f"{label}: dvc pull {pulled:.2f} s (again: {noop:.2f} s), boto3 {threaded:.2f} s ({DVC_DEFAULT_JOBS} threads), {single:.2f} s (1)"
            )
            if index:
                dvc_times.append(pulled)
                noop_times.append(noop)
                threaded_times.append(threaded)
                single_times.append(single)
        ratio = statistics.median(dvc_times) / statistics.median(threaded_times)
        result = {
            "objects": downloaded[0],
            "bytes": downloaded[1],
            "sample_flights": args.sample_flights,
            "threads": DVC_DEFAULT_JOBS,
            "dvc_pull": summary(dvc_times),
            "dvc_pull_nothing_to_do": summary(noop_times),
            "boto3_threads": summary(threaded_times),
            "boto3_one_thread": summary(single_times),
            "ratio_dvc_to_boto3": ratio,
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio <= TARGET_RATIO,
        }
        if args.reproduce:
            result["reproduce"] = measure_reproduce(origin, older, work, endpoint, aws, env)
        return result
    finally:
        server.terminate()
        server.wait(timeout=10)


def _client_keys(aws: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
        "region_name": aws["AWS_DEFAULT_REGION"],
    }


def measure_reproduce(
    origin: Path, older: str, work: Path, endpoint: str, aws: dict[str, str], env: dict[str, str]
) -> dict:
    """Time `python -m src.remote.reproduce OLDER` from a fresh clone of a newer commit."""
    max_iter = read_params(origin)["train"]["hist_gradient_boosting"]["max_iter"]
    set_params(origin, **{"train.hist_gradient_boosting.max_iter": max(10, max_iter // 2)})
    say("dvc repro of a second commit (fewer boosting iterations), then dvc push")
    dvc(origin, "repro")
    newer = commit_all(origin, "benchmark: second run")
    dvc(origin, "push", **aws)
    user = fresh_clone(origin, work / "user", newer, endpoint)
    elapsed, result = timed([sys.executable, "-m", "src.remote.reproduce", older], user, env)
    say(f"python -m src.remote.reproduce {older[:12]}: {elapsed:.2f} s")
    verified = re.search(r"verified against dvc.lock\s+(\d+)\s+of (\d+)", result.stdout)
    return {
        "seconds": elapsed,
        "target_s": TARGET_REPRODUCE_S,
        "meets_target": elapsed < TARGET_REPRODUCE_S,
        "stages_rerun": re.findall(r"Running stage '(\w+)'", result.stdout + result.stderr),
        "verified": f"{verified.group(1)} of {verified.group(2)}" if verified else "unknown",
        "summary": result.stdout.strip(),
    }


def markdown(result: dict) -> str:
    def row(name: str, entry: dict) -> str:
        return f"| {name} | {entry['median_s']:.2f} | {entry['min_s']:.2f}–{entry['max_s']:.2f} |"

    lines = [
        f"{result['objects']} objects, {result['bytes'] / 1e6:.1f} MB; medians of "
        f"{len(result['dvc_pull']['runs_s'])} cold runs (fresh clone, empty cache).",
        "",
        "| download | median (s) | range (s) |",
        "|---|---|---|",
        row("`dvc pull` (verify = true)", result["dvc_pull"]),
        row("`dvc pull` again, nothing to fetch (DVC's fixed cost)", result["dvc_pull_nothing_to_do"]),
        row(f"boto3, {result['threads']} threads", result["boto3_threads"]),
        row("boto3, 1 thread", result["boto3_one_thread"]),
        "",
        f"Ratio dvc pull / boto3 ({result['threads']} threads): **{result['ratio_dvc_to_boto3']:.2f}×** "
        f"(target ≤ {result['target_ratio']}×: {'met' if result['meets_target'] else 'not met'}).",
    ]
    if "reproduce" in result:
        reproduce = result["reproduce"]
        lines += [
            "",
            f"`python -m src.remote.reproduce <older commit>` (what `make reproduce` runs) from a fresh clone: "
            f"**{reproduce['seconds']:.1f} s** (target < {reproduce['target_s']:.0f} s: "
            f"{'met' if reproduce['meets_target'] else 'not met'}), outputs verified {reproduce['verified']}, "
            f"stages re-run: {', '.join(reproduce['stages_rerun']) or 'none'}.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each download (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--sample-flights", type=int, default=0, help="pipeline on a sample (0 = full data)")
    parser.add_argument(
        "--no-reproduce", dest="reproduce", action="store_false", help="skip the reproduce timing"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pull-bench-") as work:
        result = measure(args, Path(work))
    result["markdown"] = markdown(result)
    print(result["markdown"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
