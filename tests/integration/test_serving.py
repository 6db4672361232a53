"""Scoring with real models, git, GTO, DVC and a real uvicorn process: no training-serving skew.

One repository serves the module (:func:`registry`): the reproduced sample project is
registered as v1.0.0 and put in prod, then retrained with 5 boosting iterations and
registered as v1.1.0, so prod is not the work tree's model and is fetched with ``dvc
artifacts get``. The test period's flights, as a drop and as HTTP requests, must get the
probabilities ``evaluate`` wrote for them, bit for bit. One service process serves the
module's HTTP tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src import dvc as adapter
from src.sandbox import dvc, git, run, set_params
from src.serving.features import origin_hour_departures
from src.serving.local import get_json, running_service
from src.serving.request import request_bodies
from src.stages.featurize import POST_DEPARTURE_COLUMNS

pytestmark = pytest.mark.slow

MODEL = "late-arrival"
MODEL_PATH = "models/model.pkl"
TEST_PERIOD = ("2013-11-01", "2013-12-31")
REQUEST_FLIGHTS = 1000
FUZZ_EXAMPLES = 100  # per generator: schema-valid, schema-violating, and arbitrary JSON


@dataclass
class Registry:
    project: Path
    predictions: dict[str, pd.Series]  # version -> test scores by flight_id
    md5: dict[str, str]  # version -> the model file's MD5 as its commit's lock records it
    drop: Path
    flight_ids: np.ndarray  # flight_id of each row of the drop's flights


def scores(project: Path) -> pd.Series:
    return pd.read_parquet(project / "data" / "predictions" / "test.parquet").set_index("flight_id")["score"]


def locked_md5(project: Path) -> str:
    return adapter.locked_outputs(adapter.read_lock(project))[MODEL_PATH]["md5"]


def flights_in_test_period(project: Path) -> pd.DataFrame:
    """The sample's flights (as validate typed them, row number = flight_id) in the test period."""
    flights = pd.read_parquet(project / "data" / "interim" / "flights.parquet")
    dates = pd.to_datetime(flights[["year", "month", "day"]].astype("int64"))
    return flights[dates.between(*TEST_PERIOD)]


def write_drop(project: Path, directory: Path) -> np.ndarray:
    """The test period's raw flights without post-flight columns, with raw planes and weather."""
    directory.mkdir(parents=True)
    raw = pd.read_parquet(project / "data" / "raw" / "flights.parquet")
    wanted = raw.loc[flights_in_test_period(project).index].drop(columns=list(POST_DEPARTURE_COLUMNS))
    wanted.to_parquet(directory / "flights.parquet", index=False)
    for table in ("planes.csv", "weather.csv"):
        shutil.copyfile(project / "data" / "raw" / table, directory / table)
    return wanted.index.to_numpy()


@pytest.fixture(scope="module")
def registry(sample_project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    base = tmp_path_factory.mktemp("serving")
    project = base / "project"
    shutil.copytree(sample_project_template, project, symlinks=True)
    predictions, md5 = {"v1.0.0": scores(project)}, {"v1.0.0": locked_md5(project)}
    run(["gto", "register", MODEL, "--version", "v1.0.0"], project)
    run(["gto", "assign", MODEL, "--version", "v1.0.0", "--stage", "prod"], project)
    set_params(project, **{"train.hist_gradient_boosting.max_iter": 5})
    dvc(project, "repro", "evaluate")
    git(project, "commit", "-q", "-am", "5 boosting iterations")
    run(["gto", "register", MODEL, "--version", "v1.1.0"], project)
    predictions["v1.1.0"], md5["v1.1.0"] = scores(project), locked_md5(project)
    flight_ids = write_drop(project, base / "drop")
    return Registry(project, predictions, md5, base / "drop", flight_ids)


def score(registry: Registry, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "src.serving.batch", *args]
    return run(command, registry.project, check=False, PYTHONPATH=str(registry.project))


def bits(values: np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def test_batch_scores_are_the_pipelines_bit_for_bit_and_shadow_compares_versions(
    registry: Registry, tmp_path: Path
) -> None:
    out = tmp_path / "scored.parquet"
    result = score(
        registry, "--model", "prod", "--shadow", "v1.1.0", "--input", str(registry.drop), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"{len(registry.flight_ids):,} of {len(registry.flight_ids):,} flights scored, none rejected"
        in result.stdout
    )
    scored = pd.read_parquet(out)
    ids = registry.flight_ids[scored["row"].to_numpy()]
    np.testing.assert_array_equal(bits(scored["probability"]), bits(registry.predictions["v1.0.0"].loc[ids]))
    np.testing.assert_array_equal(
        bits(scored["shadow_probability"]), bits(registry.predictions["v1.1.0"].loc[ids])
    )
    assert set(scored["model_version"]) == {"v1.0.0"} and set(scored["model_md5"]) == {registry.md5["v1.0.0"]}
    assert set(scored["shadow_model_version"]) == {"v1.1.0"}
    assert set(scored["shadow_model_md5"]) == {registry.md5["v1.1.0"]}
    summary = json.loads((tmp_path / "scored.shadow.json").read_text())
    assert summary["flights"] == len(scored) and 0 < summary["rank_correlation"] < 1
    changed = (scored["flagged_late"] != scored["shadow_flagged_late"]).mean()
    assert summary["flag_changes"]["share"] == round(changed, 6)
    assert "shadow v1.1.0 vs v1.0.0: " in result.stdout


@pytest.mark.parametrize("case", ["unknown-version", "hash-mismatch", "not-a-table"])
def test_bad_input_is_one_sentence_exit_1_and_nothing_written(
    registry: Registry, tmp_path: Path, case: str
) -> None:
    model, drop = "prod", registry.drop
    if case == "unknown-version":
        model = "v9.9.9"
    elif case == "hash-mismatch":
        (tmp_path / "models").mkdir()
        shutil.copyfile(registry.project / "dvc.lock", tmp_path / "dvc.lock")
        (tmp_path / MODEL_PATH).write_bytes((registry.project / MODEL_PATH).read_bytes() + b"\0")
        model = str(tmp_path / MODEL_PATH)
    else:
        drop = tmp_path / "drop"
        drop.mkdir()
        (drop / "flights.csv.zip").write_bytes(b"PK but not a zip archive")
    out = tmp_path / "scored.parquet"
    result = score(registry, "--model", model, "--input", str(drop), "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "] error: " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    expected = {"unknown-version": "v9.9.9 is not registered", "hash-mismatch": "refusing to unpickle"}
    assert expected.get(case, "flights.csv.zip") in errors[0]
    assert not out.exists() and not (tmp_path / "scored.rejects.csv").exists()


# --- the HTTP service, one real uvicorn process -------------------------------------------------


@pytest.fixture(scope="module")
def service(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    log = tmp_path_factory.mktemp("service") / "service.log"
    with running_service("prod", cwd=registry.project, log=log) as url:
        yield url


def request_flights(project: Path) -> tuple[list[dict], np.ndarray]:
    """The test period's flights as requests, with what the pipeline's tables say of their plane and weather."""
    interim = project / "data" / "interim"
    flights = pd.read_parquet(interim / "flights.parquet")
    departures = origin_hour_departures(flights)  # over the whole schedule, as in training
    wanted = flights_in_test_period(project).index.to_numpy()
    planes, weather = (pd.read_parquet(interim / f"{table}.parquet") for table in ("planes", "weather"))
    return request_bodies(flights.loc[wanted], planes, weather, departures[wanted]), wanted


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes, str]:
    request = urllib.request.Request(f"{url}/predict", data=body, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - the loopback service
            return answer.status, answer.read(), answer.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("content-type", "")


def test_http_scores_are_the_pipelines_bit_for_bit(registry: Registry, service: str) -> None:
    bodies, flight_ids = request_flights(registry.project)
    probabilities = []
    for start in range(0, len(bodies), REQUEST_FLIGHTS):
        status, answer, _ = post(
            service, json.dumps({"flights": bodies[start : start + REQUEST_FLIGHTS]}).encode()
        )
        assert status == 200, answer[:500]
        answered = json.loads(answer)
        assert answered["model"] == {"name": MODEL, "version": "v1.0.0", "md5": registry.md5["v1.0.0"]}
        probabilities += [prediction["probability"] for prediction in answered["predictions"]]
    np.testing.assert_array_equal(bits(probabilities), bits(registry.predictions["v1.0.0"].loc[flight_ids]))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def assert_answered_cleanly(status: int, content: bytes, content_type: str) -> None:
    assert status < 500, content[:500]
    if status >= 400:
        assert content_type.startswith("application/json"), (status, content_type)
        json.loads(content)


def test_the_service_never_fails_on_generated_or_malformed_bodies(service: str) -> None:
    operation = schemathesis.openapi.from_url(f"{service}/openapi.json")["/predict"]["POST"]
    fuzz = settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same bodies on every run: a failure is a bug, never a fluke
        suppress_health_check=list(HealthCheck),
    )

    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @fuzz
        @given(case=operation.as_strategy(generation_mode=mode))
        def schema_driven(case: schemathesis.Case) -> None:
            answer = case.call(base_url=service, timeout=120)
            assert_answered_cleanly(
                answer.status_code, answer.content, (answer.headers.get("content-type") or [""])[0]
            )

        schema_driven()

    @fuzz
    @given(body=JSON | st.builds(lambda flight: {"flights": [flight]}, JSON), raw=st.booleans())
    def arbitrary(body: object, raw: bool) -> None:
        content = json.dumps(body).encode() if not raw else repr(body).encode("utf-8", "replace")
        assert_answered_cleanly(*post(service, content))

    arbitrary()
    assert get_json(f"{service}/health")["status"] == "ok"
