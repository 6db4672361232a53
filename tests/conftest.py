"""Fixtures shared by the unit and integration tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from src.sandbox import S3Endpoint, copy_project, dvc, git, s3_server, set_params

#: Flights kept by the integration tests' sample run: enough for every split to have
#: both classes and for the model to learn something, small enough to run in seconds.
SAMPLE_FLIGHTS = 20000
#: The sample's replay: its first model learns January to September (October is its
#: reference), then it decides November (to tune) and December (to test). Two fits in every
#: sample run that changes `train`, instead of the default's eight.
SAMPLE_REPLAY = {"replay.initial_months": 9, "replay.tuning_months": 1}
#: One OpenMP thread per fit. On the sample's 13,000 training flights a second thread saves
#: no time and costs about a third more CPU (the seeds stage: 14.4 s against 10.8 s), and the
#: suite runs two workers on two cores, where every second thread only competes.
#: Predictions do not depend on the thread count (tests/stages/test_train.py).
SAMPLE_THREADS = {"train.n_threads": 1}
#: Two replicates per revision instead of five: the sample's 13,000 training flights are
#: below the 200,000 above which the booster subsamples, so its seeds all give the same
#: model; the sample checks the seeds' plumbing, bench/calibration.py their statistics.
SAMPLE_SEEDS = {"noise.extra_seeds": 1}


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A moto S3 server on a free loopback port for the whole session."""
    with s3_server(tmp_path_factory.mktemp("aws")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def sample_project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose pipeline has been reproduced once on a sample; read-only.

    Built once per test run, not once per xdist worker: the workers share the run's base
    temporary directory, and the first to take the lock builds it (about a minute of CPU
    that the other workers no longer repeat).
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # .../pytest-N/, the workers' common parent
    project, built = shared / "sample" / "project", shared / "sample" / "built"
    with FileLock(str(shared / "sample.lock")):
        if not built.exists():
            shutil.rmtree(project.parent, ignore_errors=True)  # a build that was interrupted
            copy_project(project)
            sample = {
                "ingest.sample_flights": SAMPLE_FLIGHTS,
                **SAMPLE_REPLAY,
                **SAMPLE_THREADS,
                **SAMPLE_SEEDS,
            }
            set_params(project, **sample)
            dvc(project, "repro")
            git(project, "add", "-A")
            git(project, "commit", "-q", "-m", "sample run")
            built.touch()
    return project


@pytest.fixture
def sample_project(sample_project_template: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced sample project (cache included), free to change."""
    project = tmp_path / "project"
    shutil.copytree(sample_project_template, project, symlinks=True)
    return project


@pytest.fixture(autouse=True)
def _fast_tests_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test not marked ``slow`` may not start a process: the marker says what a test costs.

    This guards the test suite's own bookkeeping (``make test-fast`` stays fast); it never
    stands in for a command a user's run would make.
    """
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
