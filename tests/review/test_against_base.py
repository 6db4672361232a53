"""What the report and the gate share: reading DVC's answers and both revisions' files, and
saying what could not be read (bad input) instead of failing or falling silent."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.review import against_base
from src.review.against_base import (
    MetricRow,
    assess_against_base,
    evaluation_metrics_file,
    format_change,
    metric_rows,
    read_base_seeds,
    read_branch_seeds,
    seeds_shortfall,
    split_values,
    stale_stages,
)
from src.review.assessment import Assessment, GateParams, Interval, MetricChange, SegmentParams, Verdict
from tests.review.frames import predictions, replicates, seeds_file

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


def test_stale_stages_ignore_data_that_was_not_pulled():
    status = {
        "ingest": [{"changed outs": {"data/raw": "not in cache"}}],
        "validate": [
            {"changed deps": {"data/raw": "deleted"}},
            {"changed outs": {"data/interim": "deleted"}},
        ],
        "train": [{"changed deps": {"params.yaml": {"train": "modified"}}}],
        "split": [{"changed deps": {"src/stages/split.py": "modified"}}],
        "evaluate": ["always changed"],
    }
    assert stale_stages(status) == ["train", "split", "evaluate"]


# --- bad input: each case is said, never a traceback or a silent "within noise" -------------------

LOCK_WITH_SEEDS = {"stages": {"seeds": {"outs": [{"path": "data/seeds", "md5": "x.dir"}]}}}
LOCK_BEFORE_SEEDS = {"stages": {"evaluate": {"outs": [{"path": "data/predictions", "md5": "y.dir"}]}}}


class FakeDvc:
    """What the adapter and dvc.api would answer, for one base commit."""

    def __init__(self, lock: dict, files: dict[str, pd.DataFrame], status: dict | None = None) -> None:
        self.lock, self.files, self.status_answer = lock, files, status or {}

    def install(self, monkeypatch: pytest.MonkeyPatch, metrics_diff: dict) -> None:
        monkeypatch.setattr(against_base.dvc, "resolve_commit", lambda revision: "c0ffee")
        monkeypatch.setattr(against_base.dvc, "dvc_json", lambda *args: metrics_diff)
        monkeypatch.setattr(against_base.dvc, "status", lambda: self.status_answer)
        monkeypatch.setattr(against_base.dvc, "read_lock", lambda commit=None: self.lock)
        monkeypatch.setattr(against_base.dvc, "read_output", self.read_output)

    def read_output(self, path: str, rev: str, **_: object) -> bytes:
        if path not in self.files:
            raise against_base.dvc.OutputNotFound(f"Unable to find DVC file with output '{path}' (no remote)")
        buffer = io.BytesIO()
        self.files[path].to_parquet(buffer)
        return buffer.getvalue()


def test_a_base_older_than_the_seeds_stage_is_named(monkeypatch):
    FakeDvc(LOCK_BEFORE_SEEDS, {}).install(monkeypatch, {})
    frame, reason = read_base_seeds("data/seeds/test.parquet", "c0ffee", "main")
    assert frame is None
    assert reason == "`main` has no seeds stage output (data/seeds is not in its dvc.lock)"


def test_base_seeds_missing_from_cache_and_remote_are_named(monkeypatch):
    FakeDvc(LOCK_WITH_SEEDS, {}).install(monkeypatch, {})
    frame, reason = read_base_seeds("data/seeds/test.parquet", "c0ffee", "main")
    assert frame is None
    assert reason.startswith(
        "the base's seed predictions (data/seeds/test.parquet at main) are not in the cache"
    )
    assert "no remote" in reason


def test_branch_seeds_out_of_date_missing_or_malformed_are_named(tmp_path: Path):
    path = tmp_path / "test.parquet"
    assert read_branch_seeds(str(path), ["seeds"])[1] == (
        "this branch's scores are out of date (dvc status: seeds; run dvc repro)"
    )
    assert "are not in the workspace" in read_branch_seeds(str(path), [])[1]
    pd.DataFrame({"flight_id": [1, 1], "seed_1": [0.1, 0.2]}).to_parquet(path)
    assert (
        read_branch_seeds(str(path), [])[1]
        == f"this branch's {path} is malformed (no unique flight_id column)"
    )
    path.write_bytes(b"not parquet")
    assert "cannot be read" in read_branch_seeds(str(path), [])[1]


def test_fewer_seeds_than_asked_are_noted():
    seeds = pd.DataFrame({"flight_id": [1], "seed_1": [0.1], "seed_2": [0.2]})
    assert (
        seeds_shortfall(seeds, 4)
        == "this branch has 2 usable of the 4 other seeds noise.extra_seeds asks for"
    )
    assert seeds_shortfall(seeds, 2) is None


ROWS = 2000
METRICS_DIFF_BOTH = {
    "metrics/evaluate/metrics.json": {
        "test.roc_auc": {"old": 0.71, "new": 0.69},
        "test.average_precision": {"old": 0.5, "new": 0.49},
    }
}


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A branch's files in a temporary workspace, and the base's as dvc.api would give them."""
    monkeypatch.chdir(tmp_path)
    labels = (np.random.default_rng(0).random(ROWS) < 0.3).astype(np.int8)
    carriers = np.where(np.arange(ROWS) % 2 == 0, "UA", "AA")
    columns = {"carrier": carriers, "origin": "EWR", "sched_dep_hour": 9, "distance": 700}
    files = {}
    for side, seed in (("base", 1), ("branch", 2)):
        scores = replicates(labels, 1.0, 5, seed=seed, seed_effect=0.01)
        files[side] = (
            predictions(labels, scores[0], carrier=carriers, origin="EWR"),
            seeds_file(labels, scores[1:], **columns),
        )
    for name, frame in zip(("predictions", "seeds"), files["branch"], strict=True):
        Path(f"data/{name}").mkdir(parents=True)
        frame.to_parquet(f"data/{name}/test.parquet")
    base = {"data/predictions/test.parquet": files["base"][0], "data/seeds/test.parquet": files["base"][1]}
    return base


GATE = GateParams(bootstrap_samples=60, segments=SegmentParams(min_flights=500, bootstrap_samples=50))


def test_everything_readable_gives_the_noise_aware_verdict(workspace, monkeypatch):
    FakeDvc(LOCK_WITH_SEEDS, workspace).install(monkeypatch, METRICS_DIFF_BOTH)
    against = assess_against_base("main", GATE, expected_seeds=4)
    assert against.assessment.interval_note is None
    assert (against.assessment.base_replicates, against.assessment.branch_replicates) == (5, 5)
    assert against.assessment.verdict is Verdict.NOISE
    assert [s.segment for s in against.segments.assessed][:1]  # segments assessed too
    assert against.assessment.notes == ()


def test_an_older_base_reads_not_assessed_and_the_gate_uses_the_tolerance(workspace, monkeypatch):
    del workspace["data/seeds/test.parquet"]
    FakeDvc(LOCK_BEFORE_SEEDS, workspace).install(monkeypatch, METRICS_DIFF_BOTH)
    assessment = assess_against_base("main", GATE).assessment
    assert assessment.verdict is Verdict.NOT_ASSESSED
    assert assessment.interval_note == (
        "training noise not measured: `main` has no seeds stage output (data/seeds is not in its dvc.lock)"
    )
    assert all(change.interval is None for change in assessment.changes)


def test_no_remote_access_reads_not_assessed_with_the_metrics_files_values(workspace, monkeypatch):
    FakeDvc(LOCK_WITH_SEEDS, {}).install(monkeypatch, METRICS_DIFF_BOTH)
    against = assess_against_base("main", GATE)
    assert against.assessment.verdict is Verdict.NOT_ASSESSED
    assert against.assessment.interval_note.startswith("the base's predictions")
    assert [change.base for change in against.assessment.changes] == [0.71, 0.5]
    assert against.assessment.gate_failures[0].startswith("test roc_auc got worse by 0.0200")
    assert "the tolerance alone decides" in against.assessment.gate_failures[0]
    assert against.segments.note.startswith("segments not assessed: the base's predictions")


def test_seeds_partly_failed_are_used_with_a_note(workspace, monkeypatch):
    seeds = pd.read_parquet("data/seeds/test.parquet")
    seeds.assign(seed_4=np.nan).drop(columns="seed_3").to_parquet("data/seeds/test.parquet")
    FakeDvc(LOCK_WITH_SEEDS, workspace).install(monkeypatch, METRICS_DIFF_BOTH)
    assessment = assess_against_base("main", GATE, expected_seeds=4).assessment
    assert assessment.branch_replicates == 3
    assert assessment.notes == (
        "branch seed 4 left out: its scores are not all numbers",
        "this branch has 2 usable of the 4 other seeds noise.extra_seeds asks for",
    )
    assert assessment.verdict is not Verdict.NOT_ASSESSED  # two seeds still measure the spread


def test_a_stale_workspace_is_refused_and_with_allow_stale_its_scores_are_not_assessed(
    workspace, monkeypatch
):
    status = {"seeds": [{"changed deps": {"params.yaml": {"train.seed": "modified"}}}]}
    FakeDvc(LOCK_WITH_SEEDS, workspace, status).install(monkeypatch, METRICS_DIFF_BOTH)
    with pytest.raises(
        PipelineError, match=r"the workspace is not reproduced \(`dvc status`: seeds out of date\)"
    ):
        assess_against_base("main", GATE)
    assessment = assess_against_base("main", GATE, allow_stale=True).assessment
    assert assessment.verdict is Verdict.NOT_ASSESSED
    assert "out of date (dvc status: seeds" in assessment.interval_note


def test_malformed_predictions_are_said_and_the_report_goes_on(workspace, monkeypatch):
    workspace["data/predictions/test.parquet"] = workspace["data/predictions/test.parquet"].drop(
        columns="score"
    )
    FakeDvc(LOCK_WITH_SEEDS, workspace).install(monkeypatch, METRICS_DIFF_BOTH)
    assessment = assess_against_base("main", GATE).assessment
    assert assessment.verdict is Verdict.NOT_ASSESSED
    assert assessment.interval_note == (
        "the two revisions' predictions cannot be paired: base predictions lack the column(s) score"
    )
