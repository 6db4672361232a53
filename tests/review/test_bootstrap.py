"""Metrics on resampled test flights: the same numbers as scikit-learn, paired by construction."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from src.core.stage import PipelineError
from src.review.bootstrap import (
    SUPPORTED_METRICS,
    bootstrap_changes,
    rank_scores,
    replicate_metrics,
    resampled_metrics,
    resampled_values,
)
from tests.review.frames import scores_with_signal

SKLEARN = {
    "roc_auc": roc_auc_score,
    "average_precision": average_precision_score,
    "log_loss": log_loss,
    "brier": brier_score_loss,
}
ROWS = 3000


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return (np.random.default_rng(0).random(ROWS) < 0.3).astype(np.int8)


@pytest.mark.parametrize("tied", [False, True], ids=["distinct scores", "tied scores"])
def test_resampled_metrics_equal_scikit_learn_on_the_drawn_rows(labels, tied):
    scores = scores_with_signal(labels, 1.0, seed=1)
    if tied:
        scores = np.round(scores, 2)  # many ties, as rounded curve data has
    draws = np.random.default_rng(2).integers(0, ROWS, size=(4, ROWS))
    values = resampled_metrics(rank_scores(labels, scores), draws, SUPPORTED_METRICS)
    for metric, function in SKLEARN.items():
        for sample, rows in enumerate(draws):
            expected = function(labels[rows], scores[rows])
            assert values[metric][sample] == pytest.approx(expected, abs=1e-8), metric


def test_replicate_metrics_are_each_models_plain_metric(labels):
    scores = np.vstack([scores_with_signal(labels, signal, seed=3) for signal in (0.5, 1.5)])
    values = replicate_metrics(labels, scores, ["roc_auc", "average_precision"])
    for row, model_scores in enumerate(scores):
        assert values["roc_auc"][row] == pytest.approx(roc_auc_score(labels, model_scores), abs=1e-12)
        assert values["average_precision"][row] == pytest.approx(
            average_precision_score(labels, model_scores), abs=1e-8
        )


def test_a_metric_undefined_on_one_class_is_nan():
    values = replicate_metrics(np.zeros(5, dtype=np.int8), np.linspace(0.1, 0.5, 5)[None, :], ["roc_auc"])
    assert np.isnan(values["roc_auc"][0])


def test_two_models_resampled_at_the_same_settings_share_their_draws(labels):
    """What makes the difference of two models' values a paired bootstrap."""
    first, second = scores_with_signal(labels, 1.0, seed=4), scores_with_signal(labels, 1.2, seed=5)
    draws = np.random.default_rng(9).integers(0, ROWS, size=(25, ROWS))  # the first batch of seed 9
    for scores in (first, second):
        expected = resampled_metrics(rank_scores(labels, scores), draws, ["roc_auc"])["roc_auc"]
        assert np.array_equal(resampled_values(labels, scores, ["roc_auc"], 25, seed=9)["roc_auc"], expected)
    changes = bootstrap_changes((labels, first), (labels, second), ["roc_auc"], 25, seed=9)["roc_auc"]
    assert np.allclose(
        changes,
        resampled_values(labels, second, ["roc_auc"], 25, 9)["roc_auc"]
        - resampled_values(labels, first, ["roc_auc"], 25, 9)["roc_auc"],
    )


def test_the_bootstrap_is_seeded(labels):
    base, branch = (
        (labels, scores_with_signal(labels, 1.0, seed=5)),
        (labels, scores_with_signal(labels, 1.1, seed=6)),
    )
    first = bootstrap_changes(base, branch, ["roc_auc"], 50, seed=11)["roc_auc"]
    assert np.array_equal(bootstrap_changes(base, branch, ["roc_auc"], 50, seed=11)["roc_auc"], first)
    assert not np.array_equal(bootstrap_changes(base, branch, ["roc_auc"], 50, seed=12)["roc_auc"], first)


def test_pairing_makes_the_change_vary_less_than_either_metric(labels):
    """The point of pairing: shared test-set noise cancels out of the change."""
    base = scores_with_signal(labels, 1.0, seed=7)
    branch = np.clip(base + np.random.default_rng(8).normal(scale=0.01, size=ROWS), 0, 1)
    changes = bootstrap_changes((labels, base), (labels, branch), ["roc_auc"], 300, seed=1)["roc_auc"]
    alone = resampled_values(labels, base, ["roc_auc"], 300, seed=1)["roc_auc"]
    assert np.std(changes) < np.std(alone) / 5


def test_unknown_metric_and_unpaired_lengths_are_refused(labels):
    scores = scores_with_signal(labels, 1.0, seed=1)
    with pytest.raises(PipelineError, match="accuracy"):
        bootstrap_changes((labels, scores), (labels, scores), ["accuracy"], 100, seed=1)
    with pytest.raises(PipelineError, match="differ in length"):
        bootstrap_changes((labels, scores), (labels[:10], scores[:10]), ["roc_auc"], 100, seed=1)
