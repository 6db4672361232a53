"""A drop on disk made of the stage tests' hand-made tables, and a model that needs no training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from src.serving.model_ref import ScoringModel
from src.serving.request import request_bodies
from src.serving.schema import SCHEDULE_SCHEMA
from src.stages.featurize import POST_DEPARTURE_COLUMNS
from src.stages.validate import SCHEMAS
from tests.stages import frames

MD5 = "0123456789abcdef0123456789abcdef"


class DistanceModel:
    """Stands in for a fitted pipeline: the probability grows with distance and departures.

    Only ``feature_names_in_`` and ``predict_proba`` are used by scoring, so the code around
    the model is tested without training one (the real model is in the slow tests).
    """

    feature_names_in_ = np.array(["distance", "origin_hour_departures", "month"])

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        late = np.clip(
            (features["distance"] / 5000 + features["origin_hour_departures"] / 10) * self.scale, 0, 1
        )
        return np.column_stack([1 - late, late]).astype(float)


def scoring_model(version: str = "v1.0.0", threshold: float = 0.5, scale: float = 1.0) -> ScoringModel:
    return ScoringModel("late-arrival", version, MD5, threshold, DistanceModel(scale))


def schedule(flights: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stage tests' flights without their post-flight columns."""
    flights = frames.flights() if flights is None else flights
    return flights.drop(columns=[c for c in POST_DEPARTURE_COLUMNS if c in flights.columns])


def write_drop(
    directory: Path, flights: pd.DataFrame | None = None, *, csv: bool = False, reference: bool = True
) -> Path:
    """A drop directory: flights (Parquet or CSV), and planes and weather unless ``reference`` is false."""
    directory.mkdir(parents=True, exist_ok=True)
    flights = schedule() if flights is None else flights
    if csv:
        flights.to_csv(directory / "flights.csv", index=False)
    else:
        flights.to_parquet(directory / "flights.parquet", index=False)
    if reference:
        frames.planes().to_csv(directory / "planes.csv", index=False)
        frames.weather().to_csv(directory / "weather.csv", index=False)
    return directory


def request_flights(departures: int = 1) -> list[dict]:
    """The stage tests' flights as ``POST /predict`` takes them, with their plane and weather rows."""
    flights = SCHEDULE_SCHEMA.validate(schedule())
    planes, weather = (
        SCHEMAS["planes"].validate(frames.planes()),
        SCHEMAS["weather"].validate(frames.weather()),
    )
    return request_bodies(flights, planes, weather, np.full(len(flights), departures))
