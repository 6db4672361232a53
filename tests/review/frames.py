"""Hand-made predictions for the review's unit tests: one model, or a configuration's replicates.

A replicate is the configuration's shared signal plus its own seed's perturbation: a
model-wide weight on a feature (what a different binning does to the trees) and a little
per-flight noise, so the metric moves from seed to seed, which a bootstrap over flights
alone does not see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.review.pairing import PairedScores, pair_predictions


def predictions(labels: np.ndarray, scores: np.ndarray, **columns: object) -> pd.DataFrame:
    """Evaluate's predictions file: flight_id, is_late, score (and any segment columns)."""
    return pd.DataFrame({"flight_id": np.arange(len(labels)), "is_late": labels, "score": scores, **columns})


def seeds_file(labels: np.ndarray, scores: np.ndarray, **columns: object) -> pd.DataFrame:
    """The seeds stage's file: flight_id, is_late, segment columns, one ``seed_<n>`` per row of ``scores``."""
    frame = pd.DataFrame({"flight_id": np.arange(len(labels)), "is_late": labels, **columns})
    for number, row in enumerate(scores, start=1):
        frame[f"seed_{number}"] = row
    return frame


def scores_with_signal(labels: np.ndarray, signal: float, seed: int) -> np.ndarray:
    """Probabilities that separate the classes more the larger ``signal`` is."""
    noise = np.random.default_rng(seed).normal(size=len(labels))
    return 1 / (1 + np.exp(-(signal * (labels - 0.5) + noise)))


def replicates(
    labels: np.ndarray,
    signal: float,
    count: int,
    seed: int,
    *,
    data_seed: int = 0,
    seed_effect: float = 0.1,
    flight_noise: float = 0.05,
) -> np.ndarray:
    """``count`` models of one configuration (one row each) on the same flights.

    ``data_seed`` fixes what the flights are like (shared by every model trained on
    them); ``seed`` draws the models' own randomness: how much weight each gives a
    second, weaker signal, and a little noise per flight.
    """
    data = np.random.default_rng(data_seed)
    shared = labels - 0.5 + data.normal(size=len(labels))
    feature = labels - 0.5 + data.normal(size=len(labels))
    own = np.random.default_rng(seed)
    rows = [
        signal * shared + own.normal(0, seed_effect) * feature + own.normal(0, flight_noise, len(labels))
        for _ in range(count)
    ]
    return 1 / (1 + np.exp(-np.array(rows)))


def paired_replicates(
    labels: np.ndarray, base: np.ndarray, branch: np.ndarray, **columns: object
) -> PairedScores:
    """Two revisions' replicates paired as the review pairs the files (first row: the train stage's model)."""
    return pair_predictions(
        predictions(labels, base[0], **columns),
        predictions(labels, branch[0], **columns),
        seeds_file(labels, base[1:], **columns) if len(base) > 1 else None,
        seeds_file(labels, branch[1:], **columns) if len(branch) > 1 else None,
    )
