"""The HTTP scoring service: ``python -m src.serving.service --model prod`` (``make serve``).

FastAPI on uvicorn, on 127.0.0.1 by default. The model is resolved and loaded once, at
start, after its MD5 check (``model_ref``); a model that fails it never serves.

- ``POST /predict``: ``{"flights": [...]}``, one or more flights (``request.Flight``);
  answers each flight's probability of arriving late and flag, with the model's name,
  version and MD5. The features are ``featurize``'s, built from the request's tables.
- ``GET /health``: the model's name, version and MD5, and the threshold.
- ``GET /docs``: the OpenAPI page (``/openapi.json``: the schema).

A body over ``serve.max_request_bytes``, or more than ``serve.max_flights`` flights, is
answered 413; a body that does not fit the schema, 422 with each problem's field
(``loc``), value (``input``) and what was expected (``msg``). Every request is logged on
one line (id, method, path, status, flights, milliseconds); bodies never are.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint's body type
# from its annotation, and that type (the request model with this service's limit) is
# made when the app is, so the annotation must be evaluated then.

import argparse
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from src.core.stage import run_stage
from src.params import load_params
from src.serving.features import flight_features, late_probability
from src.serving.model_ref import ScoringModel, resolve_model
from src.serving.request import Health, PredictResponse, RequestProblems, request_model, to_tables
from src.serving.settings import ServeParams

log = logging.getLogger("pipeline")

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
#: Where the endpoint leaves the number of flights for the request's log line.
FLIGHTS_KEY = "serving.flights"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: How much of a bad value a 422 answer echoes.
ECHO_DEPTH, ECHO_CHARS = 4, 200


class RequestLog:
    """One line per request: id, method, path, status, flights, latency. Never the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request %s %s %s %d flights=%d %.1f ms",
                request_id, scope["method"], ascii(scope["path"])[1:-1][:100], status,
                scope.get(FLIGHTS_KEY, 0), (time.perf_counter() - started) * 1000,
            )  # fmt: skip


class BodyLimit:
    """Answer 413 to a body over ``max_bytes``: by its declared length, or once that much has arrived."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is over serve.max_request_bytes ({self.max_bytes:,} bytes)"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, detail)  # FastAPI passes it on while reading the body
            return message

        await self.app(scope, counted, send)


def echo(value: Any, depth: int = 0) -> Any:
    """A bad value as a 422 answer shows it: JSON-safe (no NaN, no bytes), short, shallow."""
    if depth >= ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {str(key)[:ECHO_CHARS]: echo(item, depth + 1) for key, item in list(value.items())[:20]}
    if isinstance(value, list | tuple):
        return [echo(item, depth + 1) for item in value[:20]]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)[:ECHO_CHARS]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value)[:ECHO_CHARS]


def problems_response(errors: list[dict[str, Any]]) -> JSONResponse:
    details = [
        {
            "type": e["type"],
            "loc": [echo(part) for part in e["loc"]],
            "msg": e["msg"],
            "input": echo(e.get("input")),
        }
        for e in errors
    ]
    return JSONResponse({"detail": details}, status_code=422)


def one_openmp_thread() -> None:
    """Run the model on one OpenMP thread (this thread's setting, kept for its life).

    On a busy machine a one-row prediction split over two OpenMP threads waits for the
    slower one at every tree: about eight times as long as on one thread. Scores are the same bits.
    """
    threadpool_limits(limits=1)


def create_app(scoring: ScoringModel, limits: ServeParams) -> FastAPI:
    """The service for one loaded model.

    Requests are parsed on the server's threads and scored on one thread of their own
    (:func:`one_openmp_thread`), one request at a time.
    """
    model_info = {"name": scoring.name, "version": scoring.version, "md5": scoring.md5}
    body_type = request_model(limits.max_flights)
    scorer = ThreadPoolExecutor(1, thread_name_prefix="score", initializer=one_openmp_thread)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        scorer.shutdown()

    app = FastAPI(
        title="Late-arrival scoring",
        version=scoring.version,
        lifespan=lifespan,
        description=(
            f"Serves {scoring.label}: the probability that a flight scheduled from New York City "
            f"arrives late, and a flag at {scoring.threshold}. Bodies over {limits.max_request_bytes:,} "
            f"bytes or with more than {limits.max_flights:,} flights are answered 413. See docs/serving.md."
        ),
    )
    app.add_middleware(BodyLimit, max_bytes=limits.max_request_bytes)
    app.add_middleware(RequestLog)  # added last: outermost, so it sees every answer, 413s included

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(e["type"] == "too_long" and tuple(e["loc"]) == ("body", "flights") for e in errors):
            detail = f"more than serve.max_flights ({limits.max_flights:,}) flights in one request"
            return JSONResponse({"detail": detail}, status_code=413)
        return problems_response(errors)

    @app.exception_handler(RequestProblems)
    async def unscorable(request: Request, error: RequestProblems) -> JSONResponse:
        return problems_response(error.errors)

    def probabilities(flights: list) -> np.ndarray:
        tables = to_tables(flights)
        features = flight_features(tables.flights, tables.planes, tables.weather, tables.departures)
        return late_probability(scoring.model, features)

    @app.get("/health")
    def health() -> Health:
        return Health(status="ok", model=model_info, threshold=scoring.threshold)

    too_large = {"description": "Body or flight count over the service's limits"}

    @app.post("/predict", responses={413: too_large})
    def predict(body: body_type, request: Request) -> PredictResponse:  # type: ignore[valid-type]
        request.scope[FLIGHTS_KEY] = len(body.flights)
        scores = scorer.submit(probabilities, body.flights).result()
        predictions = [
            {"probability": float(p), "flagged_late": bool(p >= scoring.threshold)} for p in scores
        ]
        return PredictResponse(model=model_info, threshold=scoring.threshold, predictions=predictions)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.serving.service",
        description="Serve a model version over HTTP: POST /predict, GET /health, GET /docs.",
    )
    parser.add_argument("--model", required=True, help="a stage (prod), a version (v1.2.0) or a model file")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    params = load_params()
    scoring = resolve_model(args.model)
    app = create_app(scoring, params.serve)
    log.info("serving %s on http://%s:%d (OpenAPI page: /docs)", scoring.label, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    run_stage("serve", main)
