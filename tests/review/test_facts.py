"""The report's facts, digested from DVC's answers of hand-made shapes."""

from __future__ import annotations

from src.review.against_base import MetricRow
from src.review.facts import (
    ReproLog,
    changed_metrics,
    changed_params,
    parse_repro_log,
    stage_changes,
    validation_changes,
)


def test_changed_params_come_from_dvc_params_diff():
    diff = {
        "params.yaml": {"train.seed": {"old": 1, "new": 2, "diff": 1}},
        "other.yaml": {"x": {"old": None, "new": "a"}},
    }
    assert changed_params(diff) == [("other.yaml:x", None, "a"), ("train.seed", 1, 2)]


def test_changed_metrics_are_those_whose_value_differs_in_any_file():
    diff = {
        "metrics/evaluate/metrics.json": {
            "test.roc_auc": {"old": 0.71, "new": 0.72, "diff": 0.01},
            "threshold": {"old": 0.3, "new": 0.3, "diff": 0.0},
            "test.brier": {"old": None, "new": 0.2},
        },
        "metrics/train/metrics.json": {"step": {"old": 199, "new": 99, "diff": -100}},
    }
    assert changed_metrics(diff) == [
        ("metrics/evaluate/metrics.json", MetricRow("test.brier", None, 0.2)),
        ("metrics/evaluate/metrics.json", MetricRow("test.roc_auc", 0.71, 0.72)),
        ("metrics/train/metrics.json", MetricRow("step", 199, 99)),
    ]
    assert changed_metrics({"m.json": {"a": {"old": 1, "new": 1}}}) == []


def lock(**stages: dict) -> dict:
    return {"schema": "2.0", "stages": stages}


def test_stage_changes_tell_changed_unchanged_new_and_removed_stages_in_pipeline_order():
    base = lock(ingest={"cmd": "a"}, train={"cmd": "t", "params": {"x": 1}}, old={"cmd": "o"})
    branch = lock(ingest={"cmd": "a"}, train={"cmd": "t", "params": {"x": 2}}, evaluate={"cmd": "e"})
    changes = stage_changes(base, branch)
    assert changes.order == ("ingest", "train", "evaluate")
    assert changes.changed == {"train"}
    assert changes.added == {"evaluate"}
    assert changes.removed == ("old",)
    assert changes.unchanged == ("ingest",)
    assert stage_changes(None, branch).added == {"ingest", "train", "evaluate"}  # first pull request
    assert not stage_changes(branch, branch).any


def test_repro_log_tells_stages_run_from_stages_restored_from_the_run_cache():
    text = (
        "Stage 'ingest' didn't change, skipping\n"
        "Stage 'train' is cached - skipping run, checking out outputs\n"
        "Running stage 'evaluate':\n> python -m src.stages.evaluate ...\n"
    )
    assert parse_repro_log(text) == ReproLog(ran=("evaluate",), from_run_cache=("train",))


def test_validation_changes_list_changed_findings_sizes_and_shares_first():
    base = {
        "tables": {"flights": {"rows": 100, "columns": 19}},
        "weather": {"fraction_without_weather": 0.01},
    }
    branch = {
        "tables": {"flights": {"rows": 90, "columns": 19}},
        "weather": {"fraction_without_weather": 0.02, "duplicate_local_hours": 3},
        "implausible_values": {"x": {"examples": [1048.0]}},
    }
    rows = validation_changes(base, branch)
    assert [row.name for row in rows] == [
        "tables.flights.rows",
        "weather.fraction_without_weather",
        "weather.duplicate_local_hours",
    ]
    assert rows[2] == MetricRow("weather.duplicate_local_hours", None, 3)
    assert validation_changes(base, base) == []
    assert validation_changes(None, {"passed": True, "note": "x"}) == []  # booleans and text are no findings
