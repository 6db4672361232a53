"""The metrics summary: one row per split, the primary metrics first, baselines under them."""

from __future__ import annotations

import pytest

from src.core.stage import PipelineError
from src.review.summary import evaluation_file, metric_columns, summary_lines

DATA = {
    "validation": {
        "log_loss": 0.41,
        "roc_auc": 0.699,
        "average_precision": 0.38,
        "recall": 0.36,
        "rows": 56463,
    },
    "test": {"log_loss": 0.55, "roc_auc": 0.712, "average_precision": 0.54, "recall": 0.38, "rows": 55403},
    "baseline": {"test": {"roc_auc": 0.5, "average_precision": 0.28, "log_loss": 0.59}},
    "threshold": 0.3,
}
SHOWN = {
    "": {
        "data": {
            "metrics/train/metrics.json": {"data": {"train": {"log_loss": 0.44}}},
            "metrics/evaluate/metrics.json": {"data": DATA},
        }
    }
}


def test_the_primary_metrics_come_first_and_counts_are_not_columns():
    assert metric_columns(DATA, ["roc_auc", "average_precision"]) == [
        "roc_auc",
        "average_precision",
        "log_loss",
        "recall",
    ]


def test_the_evaluation_file_is_the_one_with_the_primary_test_metric():
    assert evaluation_file(SHOWN, "roc_auc") == ("metrics/evaluate/metrics.json", DATA)
    with pytest.raises(PipelineError, match="no metrics file has test.roc_auc: run `dvc repro`"):
        evaluation_file({"": {"data": {}}}, "roc_auc")


def test_one_row_per_split_with_its_flights_and_the_baseline_under_it():
    lines = summary_lines("metrics/evaluate/metrics.json", DATA, ["roc_auc", "average_precision"])
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    assert cells[0] == ["", "roc_auc", "average_precision", "log_loss", "recall"]
    assert cells[2] == ["validation (56,463 flights)", "0.6990", "0.3800", "0.4100", "0.3600"]
    assert cells[3] == ["test (55,403 flights)", "0.7120", "0.5400", "0.5500", "0.3800"]
    assert cells[4] == ["test baseline", "0.5000", "0.2800", "0.5900", "—"]
    assert lines[-1].endswith("at the threshold 0.3.")
    assert max(len(line) for line in lines[:-1]) < 120  # readable in a terminal
