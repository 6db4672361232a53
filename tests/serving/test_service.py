"""The HTTP service in-process (FastAPI's test client): answers, errors, limits, logging."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient

from src.serving.service import create_app
from src.serving.settings import ServeParams
from tests.serving.frames import MD5, request_flights, scoring_model

LIMITS = ServeParams(max_request_bytes=64 * 1024, max_flights=20)


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(scoring_model(threshold=0.3), LIMITS))


def test_health_names_the_model(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "model": {"name": "late-arrival", "version": "v1.0.0", "md5": MD5},
        "threshold": 0.3,
    }


def test_predict_scores_one_or_many_flights_in_order(client: TestClient) -> None:
    flights = request_flights(departures=2)
    answer = client.post("/predict", json={"flights": flights})
    assert answer.status_code == 200
    body = answer.json()
    assert body["model"]["version"] == "v1.0.0" and body["threshold"] == 0.3
    expected = np.clip(np.array([f["distance"] for f in flights]) / 5000 + 0.2, 0, 1)
    assert [p["probability"] for p in body["predictions"]] == expected.tolist()
    assert [p["flagged_late"] for p in body["predictions"]] == (expected >= 0.3).tolist()
    one = client.post("/predict", json={"flights": flights[:1]}).json()
    assert one["predictions"] == body["predictions"][:1]


def test_a_bad_value_is_422_naming_field_value_and_expectation(client: TestClient) -> None:
    flight = {**request_flights()[0], "sched_dep_time": 2575, "origin_hour_departures": "many"}
    answer = client.post("/predict", json={"flights": [flight]})
    assert answer.status_code == 422
    problems = {tuple(p["loc"]): p for p in answer.json()["detail"]}
    assert problems[("body", "flights", 0, "sched_dep_time")]["input"] == 2575
    assert "less than or equal to 2359" in problems[("body", "flights", 0, "sched_dep_time")]["msg"]
    assert problems[("body", "flights", 0, "origin_hour_departures")]["input"] == "many"


def test_a_custom_check_is_422_too(client: TestClient) -> None:
    flight = {**request_flights()[0], "sched_dep_time": 1075}
    answer = client.post("/predict", json={"flights": [flight]})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "flights", 0, "sched_dep_time"]
    assert "HHMM" in answer.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"flights": [{"distance": NaN}]}', b"[]", b'{"flights": "all"}', b"\xff\xfe"],
    ids=["malformed", "nan", "list", "string", "binary"],
)
def test_junk_is_a_4xx_json_answer(client: TestClient, body: bytes) -> None:
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500
    json.loads(answer.content)


def test_over_the_limits_is_413(client: TestClient) -> None:
    too_many = client.post("/predict", json={"flights": request_flights() * 4})
    assert too_many.status_code == 413
    assert "serve.max_flights" in too_many.json()["detail"]
    too_big = client.post("/predict", content=b" " * (LIMITS.max_request_bytes + 1))
    assert too_big.status_code == 413
    assert "serve.max_request_bytes" in too_big.json()["detail"]

    def chunks():  # no declared length: counted as it arrives
        for _ in range(5):
            yield b" " * (LIMITS.max_request_bytes // 4)

    streamed = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_one_log_line_per_request_without_the_body(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline")
    flights = request_flights()
    flights[0]["tailnum"] = "SECRET1"
    client.post("/predict", json={"flights": flights}, headers={"x-request-id": "req-42"})
    client.post("/predict", json={"flights": [{"carrier": "SECRET2"}]})
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("request ")]
    assert len(lines) == 2
    assert lines[0].startswith("request req-42 POST /predict 200 flights=6 ")
    assert lines[0].endswith(" ms")
    assert " 422 flights=0 " in lines[1]
    assert not any("SECRET" in record.getMessage() for record in caplog.records)


def test_the_openapi_page_and_schema_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/health"} <= set(schema["paths"])
    assert "413" in schema["paths"]["/predict"]["post"]["responses"]
