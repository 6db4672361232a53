"""``score`` and ``serve`` in params.yaml: the limits of batch scoring and of the HTTP service.

Kept apart from ``batch`` and ``service`` so that ``src/params.py``, which every tool
loads, validates these sections without importing pandas, scikit-learn or FastAPI.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from src.core.params import ParamsSection

MiB = 2**20
PositiveInt = Annotated[int, Field(gt=0)]


class ScoreParams(ParamsSection):
    """``score``: batch scoring of a drop (``python -m src.serving.batch``)."""

    #: Flights read, checked, featurized and scored at a time: what bounds memory.
    chunk_rows: PositiveInt = 250_000
    #: Size limits of a drop's flights file, which is read in chunks (the other tables
    #: are read whole, within ``ingest.max_file_bytes`` and ``ingest.max_uncompressed_bytes``).
    max_flights_file_bytes: PositiveInt = 1024 * MiB
    max_flights_uncompressed_bytes: PositiveInt = 4096 * MiB


class ServeParams(ParamsSection):
    """``serve``: the HTTP service (``python -m src.serving.service``)."""

    #: A request body larger than this is answered 413 before it is parsed.
    max_request_bytes: PositiveInt = 4 * MiB
    #: More flights than this in one request is answered 413 too.
    max_flights: PositiveInt = 5000
