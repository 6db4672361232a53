import numpy as np
import pandas as pd
import pytest

from src.stages.evaluate import (
    baseline_metrics,
    segment_metrics,
    split_metrics,
    threshold_metrics,
)

LABELS = pd.Series([0, 0, 1, 1, 0, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])


def test_perfect_ranking_scores_one():
    metrics = split_metrics(pd.Series([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert metrics["roc_auc"] == 1.0 and metrics["average_precision"] == 1.0
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0
    assert metrics["rows"] == 4 and metrics["late_rate"] == 0.5


def test_threshold_is_inclusive():
    metrics = threshold_metrics(LABELS, SCORES, threshold=0.35)
    # flagged: 0.4, 0.35, 0.8, 0.9 -> 3 of 4 are late; 3 of 3 late flights found
    assert metrics["precision"] == pytest.approx(0.75)
    assert metrics["recall"] == 1.0
    assert metrics["flagged_rate"] == pytest.approx(4 / 6)


def test_baseline_is_uninformative():
    metrics = baseline_metrics(LABELS, train_late_rate=0.3)
    assert metrics["roc_auc"] == 0.5
    assert metrics["average_precision"] == pytest.approx(0.5)


def test_single_class_split_skips_ranking_metrics_instead_of_failing():
    metrics = split_metrics(pd.Series([0, 0, 0]), np.array([0.1, 0.2, 0.3]), threshold=0.5)
    assert "roc_auc" not in metrics and metrics["log_loss"] > 0


def test_segments_report_each_value_and_skip_metrics_for_tiny_ones():
    frame = pd.DataFrame({"carrier": ["UA"] * 150 + ["AA"] * 3, "is_late": [0, 1] * 75 + [1, 1, 0]})
    scores = np.r_[np.tile([0.2, 0.7], 75), [0.5, 0.5, 0.5]]
    records = segment_metrics(frame, scores, ("carrier",))
    assert [record["segment"] for record in records] == ["carrier=UA", "carrier=AA"]  # largest first
    united, american = records
    assert united["roc_auc"] == 1.0 and united["rows"] == 150
    assert "roc_auc" not in american and american["late_rate"] == pytest.approx(2 / 3, abs=1e-6)
