"""The shared logic of report and gate: resampled metrics, paired bootstrap, verdicts, gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from src.core.stage import PipelineError
from src.review.assessment import (
    SUPPORTED_METRICS,
    GateParams,
    Interval,
    MetricChange,
    PairedScores,
    Verdict,
    assess,
    gate_failures,
    metric_verdict,
    overall_verdict,
    pair_predictions,
    paired_bootstrap,
    rank_scores,
    resampled_metrics,
)

SKLEARN = {
    "roc_auc": roc_auc_score,
    "average_precision": average_precision_score,
    "log_loss": log_loss,
    "brier": brier_score_loss,
}
ROWS = 3000


def gate(**overrides) -> GateParams:
    settings = {
        "primary_metrics": ["roc_auc", "average_precision"],
        "floors": {"roc_auc": 0.6, "average_precision": 0.3},
        "tolerance": {"roc_auc": 0.005, "average_precision": 0.005},
        "bootstrap_samples": 300,
        "confidence": 0.95,
        "seed": 7,
    }
    settings.update(overrides)
    return GateParams(**settings)


def predictions(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"flight_id": np.arange(len(labels)), "is_late": labels, "score": scores})


def scores_with_signal(labels: np.ndarray, signal: float, seed: int) -> np.ndarray:
    """Probabilities that separate the classes more the larger ``signal`` is."""
    noise = np.random.default_rng(seed).normal(size=len(labels))
    return 1 / (1 + np.exp(-(signal * (labels - 0.5) + noise)))


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return (np.random.default_rng(0).random(ROWS) < 0.3).astype(np.int8)


def metrics_of(frame: pd.DataFrame, names=("roc_auc", "average_precision")) -> dict[str, float]:
    return {name: float(SKLEARN[name](frame["is_late"], frame["score"])) for name in names}


# --- metrics of resamples equal scikit-learn's ----------------------------------------


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


def test_a_resample_of_every_row_once_gives_the_plain_metric(labels):
    scores = scores_with_signal(labels, 1.5, seed=3)
    values = resampled_metrics(rank_scores(labels, scores), np.arange(ROWS)[None, :], SUPPORTED_METRICS)
    assert values["roc_auc"][0] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


# --- pairing ---------------------------------------------------------------------------------


def test_pairing_aligns_flights_by_id_and_keeps_only_shared_ones():
    base = pd.DataFrame({"flight_id": [3, 1, 2], "is_late": [1, 0, 1], "score": [0.9, 0.1, 0.8]})
    branch = pd.DataFrame({"flight_id": [1, 2, 4], "is_late": [0, 1, 0], "score": [0.2, 0.7, 0.5]})
    paired = pair_predictions(base, branch)
    assert paired.rows == 2
    assert paired.base_scores.tolist() == [0.1, 0.8]
    assert paired.branch_scores.tolist() == [0.2, 0.7]
    assert (paired.base_rows, paired.branch_rows) == (3, 3)


def test_pairing_rejects_duplicate_flights_and_missing_columns():
    good = pd.DataFrame({"flight_id": [1, 2], "is_late": [0, 1], "score": [0.1, 0.9]})
    with pytest.raises(PipelineError, match="more than once"):
        pair_predictions(pd.concat([good, good]), good)
    with pytest.raises(PipelineError, match="score"):
        pair_predictions(good.drop(columns="score"), good)


# --- the paired bootstrap --------------------------------------------------------------------


def test_identical_predictions_give_a_zero_interval_and_within_noise(labels):
    frame = predictions(labels, scores_with_signal(labels, 1.0, seed=4))
    paired = pair_predictions(frame, frame)
    intervals = paired_bootstrap(paired, ["roc_auc", "average_precision"], 200, 0.95, seed=1)
    assert intervals["roc_auc"] == Interval(0.0, 0.0, 0.95)
    change = MetricChange("roc_auc", 0.7, 0.7, intervals["roc_auc"])
    assert metric_verdict(change) is Verdict.NOISE


def test_the_bootstrap_is_seeded(labels):
    base = predictions(labels, scores_with_signal(labels, 1.0, seed=5))
    branch = predictions(labels, scores_with_signal(labels, 1.1, seed=6))
    paired = pair_predictions(base, branch)
    first = paired_bootstrap(paired, ["roc_auc"], 200, 0.95, seed=11)
    assert paired_bootstrap(paired, ["roc_auc"], 200, 0.95, seed=11) == first
    assert paired_bootstrap(paired, ["roc_auc"], 200, 0.95, seed=12) != first


def test_pairing_makes_the_interval_narrower_than_the_spread_of_either_metric(labels):
    """The point of pairing: shared test-set noise cancels out of the change."""
    base = scores_with_signal(labels, 1.0, seed=7)
    branch = np.clip(base + np.random.default_rng(8).normal(scale=0.01, size=ROWS), 0, 1)
    paired = pair_predictions(predictions(labels, base), predictions(labels, branch))
    interval = paired_bootstrap(paired, ["roc_auc"], 300, 0.95, seed=1)["roc_auc"]
    draws = np.random.default_rng(1).integers(0, ROWS, size=(300, ROWS))
    alone = resampled_metrics(rank_scores(labels, base), draws, ["roc_auc"])["roc_auc"]
    spread_alone = np.percentile(alone, 97.5) - np.percentile(alone, 2.5)
    assert interval.high - interval.low < spread_alone / 5


def test_unknown_metric_is_refused():
    paired = PairedScores(
        np.array([0, 1]), np.array([0.2, 0.8]), np.array([0, 1]), np.array([0.3, 0.7]), 2, 2
    )
    with pytest.raises(PipelineError, match="accuracy"):
        paired_bootstrap(paired, ["accuracy"], 100, 0.95, seed=1)


# --- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "interval", "expected"),
    [
        ("roc_auc", Interval(0.002, 0.01, 0.95), Verdict.IMPROVED),
        ("roc_auc", Interval(-0.01, -0.002, 0.95), Verdict.WORSE),
        ("roc_auc", Interval(-0.002, 0.01, 0.95), Verdict.NOISE),
        ("log_loss", Interval(-0.01, -0.002, 0.95), Verdict.IMPROVED),  # lower is better
        ("brier", Interval(0.001, 0.004, 0.95), Verdict.WORSE),
    ],
)
def test_verdict_follows_the_interval_and_the_metric_direction(metric, interval, expected):
    assert (
        metric_verdict(MetricChange(metric, 0.5, 0.5 + (interval.low + interval.high) / 2, interval))
        is expected
    )


def test_verdict_without_base_or_interval():
    assert metric_verdict(MetricChange("roc_auc", None, 0.7)) is Verdict.NO_BASELINE
    assert metric_verdict(MetricChange("roc_auc", 0.7, 0.71)) is Verdict.NOT_ASSESSED


def test_overall_verdict_is_worse_when_any_metric_is_worse():
    better = MetricChange("roc_auc", 0.70, 0.72, Interval(0.01, 0.03, 0.95))
    worse = MetricChange("average_precision", 0.50, 0.48, Interval(-0.03, -0.01, 0.95))
    noise = MetricChange("average_precision", 0.50, 0.50, Interval(-0.01, 0.01, 0.95))
    assert overall_verdict([better, worse]) is Verdict.WORSE
    assert overall_verdict([better, noise]) is Verdict.IMPROVED
    assert overall_verdict([noise, noise]) is Verdict.NOISE


# --- the gate ----------------------------------------------------------------------------------


def test_gate_fails_below_a_floor_naming_the_metric():
    failures = gate_failures([MetricChange("roc_auc", 0.62, 0.58, Interval(-0.05, -0.03, 0.95))], gate())
    assert any("test roc_auc is 0.5800, below its floor of 0.6000" in failure for failure in failures)


def test_gate_floor_of_a_lower_is_better_metric_is_a_ceiling():
    settings = gate(primary_metrics=["log_loss"], floors={"log_loss": 0.5}, tolerance={})
    assert gate_failures([MetricChange("log_loss", None, 0.45)], settings) == []
    assert "above its ceiling" in gate_failures([MetricChange("log_loss", None, 0.55)], settings)[0]


def test_gate_fails_a_regression_beyond_tolerance_only_when_the_interval_excludes_zero():
    real = MetricChange("roc_auc", 0.72, 0.71, Interval(-0.015, -0.006, 0.95))
    noisy = MetricChange("roc_auc", 0.72, 0.71, Interval(-0.02, 0.001, 0.95))
    small = MetricChange("roc_auc", 0.72, 0.717, Interval(-0.004, -0.002, 0.95))
    assert "test roc_auc got worse by 0.0100" in gate_failures([real], gate())[0]
    assert gate_failures([noisy], gate()) == []
    assert gate_failures([small], gate()) == []


def test_gate_without_an_interval_lets_the_tolerance_decide():
    failures = gate_failures([MetricChange("roc_auc", 0.72, 0.70)], gate())
    assert "no bootstrap interval" in failures[0]
    assert gate_failures([MetricChange("roc_auc", 0.72, 0.718)], gate()) == []


def test_gate_fails_when_a_primary_metric_is_missing():
    assert gate_failures([MetricChange("average_precision", 0.5, None)], gate()) == [
        "test average_precision is missing from this branch's metrics."
    ]


# --- assess: the constructed cases the report and the gate share --------------------------------


def assessment_of(labels, base_signal, branch_signal, branch_seed, settings=None):
    base = predictions(labels, scores_with_signal(labels, base_signal, seed=20))
    branch = predictions(labels, scores_with_signal(labels, branch_signal, seed=branch_seed))
    return assess(metrics_of(base), metrics_of(branch), pair_predictions(base, branch), settings or gate())


def test_assess_improvement(labels):
    result = assessment_of(labels, base_signal=1.0, branch_signal=2.0, branch_seed=21)
    assert result.verdict is Verdict.IMPROVED
    assert all(change.interval.low > 0 for change in result.changes)
    assert result.gate_passed


def test_assess_regression_beyond_tolerance(labels):
    result = assessment_of(labels, base_signal=2.0, branch_signal=1.0, branch_seed=21)
    assert result.verdict is Verdict.WORSE
    assert not result.gate_passed
    assert {failure.split(" got worse")[0] for failure in result.gate_failures} == {
        "test roc_auc",
        "test average_precision",
    }


def test_assess_change_within_noise(labels):
    base = scores_with_signal(labels, 1.5, seed=20)
    # A different model of the same quality: half the flights scored a little up, half down.
    jitter = np.where(np.arange(ROWS) % 2 == 0, 0.002, -0.002)
    branch = np.clip(base + jitter, 0, 1)
    base_frame, branch_frame = predictions(labels, base), predictions(labels, branch)
    result = assess(
        metrics_of(base_frame), metrics_of(branch_frame), pair_predictions(base_frame, branch_frame), gate()
    )
    assert result.verdict is Verdict.NOISE
    assert all(change.interval.low <= 0 <= change.interval.high for change in result.changes)
    assert result.gate_passed


def test_assess_missing_base_metrics_checks_floors_only(labels):
    branch = predictions(labels, scores_with_signal(labels, 0.05, seed=22))  # barely better than chance
    settings = gate(floors={"roc_auc": 0.6, "average_precision": 0.01})
    result = assess(None, metrics_of(branch), None, settings)
    assert result.verdict is Verdict.NO_BASELINE
    assert result.interval_note == "the base has no metrics"
    assert [failure.split(" is ")[0] for failure in result.gate_failures] == ["test roc_auc"]


def test_assess_nothing_changed(labels):
    frame = predictions(labels, scores_with_signal(labels, 1.5, seed=23))
    result = assess(metrics_of(frame), metrics_of(frame), pair_predictions(frame, frame), gate())
    assert result.verdict is Verdict.NOISE
    assert all(change.delta == 0 for change in result.changes)
    assert result.gate_passed


def test_assess_without_base_predictions_says_why(labels):
    frame = predictions(labels, scores_with_signal(labels, 1.5, seed=24))
    result = assess(metrics_of(frame), metrics_of(frame), None, gate(), "the remote is unreachable")
    assert result.verdict is Verdict.NOT_ASSESSED
    assert result.interval_note == "the remote is unreachable"
