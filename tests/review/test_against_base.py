"""Reading ``dvc metrics diff --json`` for the primary metrics, and the one-line summary of a change."""

from __future__ import annotations

from src.review.against_base import (
    MetricRow,
    evaluation_metrics_file,
    format_change,
    metric_rows,
    split_values,
)
from src.review.assessment import Assessment, Interval, MetricChange, Verdict

METRICS_DIFF = {
    "metrics/train/metrics.json": {
        "validation.log_loss": {"old": 0.41, "new": 0.40, "diff": -0.01},
        "step": {"old": 199, "new": 99, "diff": -100},
    },
    "metrics/evaluate/metrics.json": {
        "test.roc_auc": {"old": 0.71, "new": 0.72, "diff": 0.01},
        "test.recall": {"old": 0.37, "new": None},
        "validation.roc_auc": {"old": 0.69, "new": 0.70, "diff": 0.01},
        "validation.f1": {"old": None, "new": 0.38},
        "baseline.test.roc_auc": {"old": 0.5, "new": 0.5, "diff": 0.0},
        "threshold": {"old": 0.3, "new": 0.3, "diff": 0.0},
    },
}


def test_the_evaluation_file_is_the_one_with_the_primary_test_metric():
    assert evaluation_metrics_file(METRICS_DIFF, "roc_auc") == "metrics/evaluate/metrics.json"
    assert evaluation_metrics_file(METRICS_DIFF, "brier") is None


def test_metric_rows_list_validation_then_test_without_baselines():
    rows = metric_rows(METRICS_DIFF["metrics/evaluate/metrics.json"], ("validation", "test"))
    assert [row.name for row in rows] == [
        "validation.f1",
        "validation.roc_auc",
        "test.recall",
        "test.roc_auc",
    ]
    assert split_values(rows, "test", "base") == {"recall": 0.37, "roc_auc": 0.71}
    assert split_values(rows, "test", "branch") == {"roc_auc": 0.72}
    assert split_values(rows[:1], "validation", "base") is None  # a new metric has no base value


def test_a_row_has_a_change_only_when_both_sides_are_numbers():
    assert MetricRow("test.roc_auc", 0.5, 0.75).delta == 0.25
    assert MetricRow("test.roc_auc", None, 0.75).delta is None
    assert MetricRow("flag", False, True).delta is None


def test_the_change_in_one_line_gives_values_change_and_interval():
    assessment = Assessment(
        changes=(
            MetricChange("roc_auc", 0.71, 0.72, Interval(0.002, 0.01, 0.95)),
            MetricChange("average_precision", None, 0.53),
            MetricChange("log_loss", 0.5, None),
        ),
        verdict=Verdict.NO_BASELINE,
        gate_failures=(),
        interval_note=None,
        paired_rows=10,
    )
    assert format_change(assessment) == (
        "test roc_auc 0.7100 → 0.7200 (+0.0100, 95% CI +0.0020 to +0.0100); "
        "test average_precision 0.5300 (no base value); test log_loss missing"
    )
