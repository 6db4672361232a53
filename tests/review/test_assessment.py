"""The verdict and the gate's rules, on constructed changes and on simulated replicates."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from src.review.assessment import (
    GateParams,
    Interval,
    MetricChange,
    Verdict,
    assess,
    gate_failures,
    metric_verdict,
    overall_verdict,
    paired_bootstrap,
)
from src.review.noise import NoiseEstimate
from src.review.pairing import pair_predictions
from tests.review.frames import paired_replicates, predictions, replicates

ROWS = 3000


def gate(**overrides) -> GateParams:
    settings = {
        "primary_metrics": ["roc_auc", "average_precision"],
        "floors": {"roc_auc": 0.6, "average_precision": 0.3},
        "tolerance": {"roc_auc": 0.005, "average_precision": 0.005},
        "bootstrap_samples": 100,
        "confidence": 0.95,
        "seed": 7,
    }
    settings.update(overrides)
    return GateParams(**settings)


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return (np.random.default_rng(0).random(ROWS) < 0.3).astype(np.int8)


def metrics_of(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": roc_auc_score(labels, scores),
        "average_precision": average_precision_score(labels, scores),
    }


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
    missing_on_one_side = MetricChange("roc_auc", None, 0.7, reason="the base's metrics have no test roc_auc")
    assert metric_verdict(missing_on_one_side) is Verdict.NOT_ASSESSED


def test_overall_verdict_is_worse_when_any_metric_is_worse():
    better = MetricChange("roc_auc", 0.70, 0.72, Interval(0.01, 0.03, 0.95))
    worse = MetricChange("average_precision", 0.50, 0.48, Interval(-0.03, -0.01, 0.95))
    noise = MetricChange("average_precision", 0.50, 0.50, Interval(-0.01, 0.01, 0.95))
    unknown = MetricChange("average_precision", 0.50, 0.50, reason="training noise not measured")
    assert overall_verdict([better, worse]) is Verdict.WORSE
    assert overall_verdict([better, noise]) is Verdict.IMPROVED
    assert overall_verdict([noise, noise]) is Verdict.NOISE
    assert overall_verdict([noise, unknown]) is Verdict.NOT_ASSESSED  # never a silent "within noise"


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
    assert gate_failures([real], gate()) == [
        "test roc_auc got worse by 0.0100 (0.7200 -> 0.7100), more than the tolerance 0.0050, and the 95% "
        "interval of the change (test sample and training noise) [-0.0150, -0.0060] excludes zero."
    ]
    assert gate_failures([noisy], gate()) == []
    assert gate_failures([small], gate()) == []


def test_gate_without_an_interval_lets_the_tolerance_decide_and_says_why():
    unknown = MetricChange("roc_auc", 0.72, 0.70, reason="training noise not measured: no seeds")
    failures = gate_failures([unknown], gate())
    assert failures == [
        "test roc_auc got worse by 0.0200 (0.7200 -> 0.7000), more than the tolerance 0.0050, and no interval "
        "with both noise sources could be computed (training noise not measured: no seeds): the tolerance "
        "alone decides."
    ]
    assert gate_failures([MetricChange("roc_auc", 0.72, 0.718)], gate()) == []


def test_gate_fails_when_a_primary_metric_is_missing():
    assert gate_failures([MetricChange("average_precision", 0.5, None)], gate()) == [
        "test average_precision is missing from this branch's metrics."
    ]


@pytest.mark.parametrize("seed", range(5))
def test_gate_and_verdict_never_disagree(seed):
    """A metric fails the gate's comparison exactly when its verdict is worse beyond the tolerance."""
    rng = np.random.default_rng(seed)
    settings = gate(floors={})
    for _ in range(200):
        base, delta, half = 0.7, rng.normal(0, 0.01), abs(rng.normal(0, 0.008))
        change = MetricChange("roc_auc", base, base + delta, Interval(delta - half, delta + half, 0.95))
        fails = bool(gate_failures([change], settings))
        assert fails == (metric_verdict(change) is Verdict.WORSE and -delta > settings.tolerance["roc_auc"])


# --- assess on replicates -------------------------------------------------------------------------


def assess_replicates(labels, base, branch, settings=None):
    paired = paired_replicates(labels, base, branch)
    return assess(metrics_of(labels, base[0]), metrics_of(labels, branch[0]), paired, settings or gate())


def test_reseeding_reads_within_noise(labels):
    result = assess_replicates(labels, replicates(labels, 1.0, 5, seed=1), replicates(labels, 1.0, 5, seed=2))
    assert result.verdict is Verdict.NOISE
    assert (result.base_replicates, result.branch_replicates) == (5, 5)
    assert result.interval_note is None
    assert result.gate_passed
    for change in result.changes:
        assert change.base == pytest.approx(np.mean(change.noise.base_values))  # means over seeds
        assert change.noise.base_seed_sd > 0


def test_a_regression_reads_worse_and_fails_the_gate_on_both_metrics(labels):
    base = replicates(labels, 1.0, 5, seed=1)
    branch = replicates(labels, 1.0, 5, seed=2, flight_noise=0.8)
    result = assess_replicates(labels, base, branch)
    assert result.verdict is Verdict.WORSE
    assert [failure.split(" got worse")[0] for failure in result.gate_failures] == [
        "test roc_auc",
        "test average_precision",
    ]


def test_an_improvement_reads_improved_and_passes(labels):
    base = replicates(labels, 1.0, 5, seed=1, flight_noise=0.8)
    result = assess_replicates(labels, base, replicates(labels, 1.0, 5, seed=2))
    assert result.verdict is Verdict.IMPROVED
    assert result.gate_passed


def test_identical_replicates_change_nothing(labels):
    same = replicates(labels, 1.0, 5, seed=1)
    result = assess_replicates(labels, same, same)
    assert result.verdict is Verdict.NOISE
    # no change, but each side's seeds still vary: the interval says how much
    assert all(
        change.delta == 0 and change.interval.low < 0 < change.interval.high for change in result.changes
    )


# --- bad input: what could not be assessed is said, and the gate is stricter ------------------------


def test_without_seeds_the_verdict_is_not_assessed_and_the_tolerance_decides(labels):
    base, branch = replicates(labels, 1.0, 1, seed=1), replicates(labels, 1.0, 1, seed=2, flight_noise=0.8)
    paired = paired_replicates(labels, base, branch)
    result = assess(
        metrics_of(labels, base[0]),
        metrics_of(labels, branch[0]),
        paired,
        gate(),
        "the base predates the seeds stage",
    )
    assert result.verdict is Verdict.NOT_ASSESSED
    assert result.interval_note == "training noise not measured: the base predates the seeds stage"
    assert all(change.interval is None and change.reason == result.interval_note for change in result.changes)
    assert all("the tolerance alone decides" in failure for failure in result.gate_failures)
    assert len(result.gate_failures) == 2


def test_seeds_on_one_side_only_is_not_enough(labels):
    base, branch = (
        replicates(labels, 1.0, 1, seed=1, seed_effect=0.01),
        replicates(labels, 1.0, 5, seed=2, seed_effect=0.01),
    )
    result = assess(
        {"roc_auc": 0.7, "average_precision": 0.5}, {}, paired_replicates(labels, base, branch), gate()
    )
    assert result.verdict is Verdict.NOT_ASSESSED
    assert result.interval_note == "training noise not measured: the base has no other seeds' scores"
    assert result.gate_passed  # a reseed is well within the tolerance


def test_without_base_predictions_the_metrics_files_values_are_compared(labels):
    result = assess(
        {"roc_auc": 0.72, "average_precision": 0.5},
        {"roc_auc": 0.70, "average_precision": 0.5},
        None,
        gate(),
        "the remote is unreachable",
    )
    assert result.verdict is Verdict.NOT_ASSESSED
    assert result.interval_note == "the remote is unreachable"
    assert [change.base for change in result.changes] == [0.72, 0.5]
    assert "test roc_auc got worse by 0.0200" in result.gate_failures[0]


def test_a_metric_missing_on_the_base_side_is_named(labels):
    result = assess({"roc_auc": 0.72}, {"roc_auc": 0.72, "average_precision": 0.5}, None, gate(), "no remote")
    average_precision = result.changes[1]
    assert metric_verdict(average_precision) is Verdict.NOT_ASSESSED
    assert average_precision.reason == "the base's metrics have no test average_precision"
    assert result.gate_passed


def test_missing_base_metrics_checks_floors_only(labels):
    branch = predictions(labels, replicates(labels, 1.0, 1, seed=3, flight_noise=40.0)[0])  # near chance
    settings = gate(floors={"roc_auc": 0.6, "average_precision": 0.01})
    result = assess(None, metrics_of(labels, branch["score"].to_numpy()), None, settings)
    assert result.verdict is Verdict.NO_BASELINE
    assert result.interval_note == "the base has no metrics"
    assert [failure.split(" is ")[0] for failure in result.gate_failures] == ["test roc_auc"]


def test_an_undefined_metric_is_not_assessed_with_its_reason():
    one_class = np.zeros(50, dtype=np.int8)
    paired = paired_replicates(
        one_class, replicates(one_class, 1.0, 3, seed=1), replicates(one_class, 1.0, 3, seed=2)
    )
    result = assess({"roc_auc": 0.7}, {"roc_auc": 0.7}, paired, gate(primary_metrics=["roc_auc"]))
    assert result.verdict is Verdict.NOT_ASSESSED
    assert result.changes[0].reason == "test roc_auc is undefined on the shared flights (one class only)"


def test_the_rows_only_percentile_interval_of_identical_models_is_zero(labels):
    frame = predictions(labels, replicates(labels, 1.0, 1, seed=4)[0])
    intervals = paired_bootstrap(pair_predictions(frame, frame), ["roc_auc"], 100, 0.95, seed=1)
    assert intervals["roc_auc"] == Interval(0.0, 0.0, 0.95)
    assert isinstance(intervals["roc_auc"], Interval)
    assert NoiseEstimate((0.7,), (0.7,), 0.0).change == 0
