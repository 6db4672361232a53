"""The drop's metrics against the recorded test metrics, and the unpaired interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from src.monitoring.performance import compare_with_test


def sample(rng: np.random.Generator, rows: int, separation: float) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 2, rows)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, rows) + separation * labels)))
    return labels, scores


def bootstrap_sd(sample: tuple[np.ndarray, np.ndarray], seed: int, resamples: int = 400) -> float:
    rng, (labels, scores) = np.random.default_rng(seed), sample
    draws = (rng.integers(0, len(labels), len(labels)) for _ in range(resamples))
    return float(np.std([roc_auc_score(labels[rows], scores[rows]) for rows in draws], ddof=1))


def test_values_and_interval_by_an_independent_computation():
    rng = np.random.default_rng(0)
    drop, test = sample(rng, 400, 0.5), sample(rng, 600, 1.0)
    recorded = {"roc_auc": roc_auc_score(*test)}
    (change,) = compare_with_test(drop, test, recorded, ["roc_auc"], 200, 0.95, seed=7)
    assert change.branch == pytest.approx(roc_auc_score(*drop))
    assert change.base == recorded["roc_auc"]
    # The half-width against an independent bootstrap (other draws, scikit-learn's metric):
    # the two samples' variances add, and t is close to the normal quantile at 199 + 199 freedom.
    half = (change.interval.high - change.interval.low) / 2
    assert change.interval.low + half == pytest.approx(change.delta)
    expected = stats.norm.ppf(0.975) * math.sqrt(bootstrap_sd(drop, 11) ** 2 + bootstrap_sd(test, 12) ** 2)
    assert half == pytest.approx(expected, rel=0.15)
    assert change.interval.high < 0  # separation 0.5 against 1.0 is clearly worse


def test_a_drop_of_one_class_or_without_test_predictions_says_why():
    rng = np.random.default_rng(1)
    one_class = (np.zeros(50, dtype=int), rng.random(50))
    (change,) = compare_with_test(one_class, None, {"roc_auc": 0.7}, ["roc_auc"], 100, 0.95, 0)
    assert change.branch is None and "one class" in change.reason
    (change,) = compare_with_test(sample(rng, 300, 1.0), None, {"roc_auc": 0.7}, ["roc_auc"], 100, 0.95, 0)
    assert change.interval is None and change.reason == "the test predictions could not be read"
    assert math.isfinite(change.branch)
