"""A real service process on loopback, for the tests and the benchmark (``bench/scoring.py``).

The service runs as ``make serve`` runs it (``python -m src.serving.service``, uvicorn), on
a free port of 127.0.0.1, started through the adapter; the context manager waits until
``/health`` answers and stops it with SIGINT afterwards.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from src import dvc
from src.core.stage import PipelineError

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 180.0  # a shared 2-core machine took over a minute to import and load
POLL_SECONDS = 0.25


def free_port() -> int:
    """A port nothing listens on now (the service binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def get_json(url: str, timeout: float = 10.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL we built
        return json.loads(response.read())


def wait_until_healthy(url: str, process: object, log: Path, timeout: float) -> dict:
    """``/health``'s answer once the service gives one; an error with its log if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:  # type: ignore[attr-defined]
            tail = " / ".join(log.read_text(encoding="utf-8").strip().splitlines()[-3:])
            raise PipelineError(f"the service exited {process.returncode} before answering: {tail}")  # type: ignore[attr-defined]
        try:
            return get_json(f"{url}/health", timeout=POLL_SECONDS * 4)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(POLL_SECONDS)
    raise PipelineError(f"the service did not answer {url}/health within {timeout:.0f} s (log: {log})")


@contextmanager
def running_service(
    model: str,
    *,
    cwd: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[str]:
    """Run the service for ``model`` in the project at ``cwd``; yield its base URL."""
    port = free_port()
    process = dvc.start_module(
        "src.serving.service",
        "--model",
        model,
        "--host",
        HOST,
        "--port",
        str(port),
        log=log,
        cwd=cwd,
        env=env,
    )
    url = f"http://{HOST}:{port}"
    try:
        wait_until_healthy(url, process, log, timeout)
        yield url
    finally:
        dvc.interrupt(process, grace_seconds=30)
