"""The pull-request report: reading DVC's answers, and the Markdown for constructed cases."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.review.assessment import GateParams, Interval, MetricChange, assess, overall_verdict
from src.review.report import (
    MetricRow,
    ReportFacts,
    ReproLog,
    StageChanges,
    changed_params,
    compare_locks,
    curves_from_plots,
    evaluation_metrics_file,
    image_plots,
    metric_rows,
    parse_repro_log,
    render_report,
    split_values,
    stale_stages,
    validation_changes,
)
from src.sandbox import REPO_ROOT, command_env, dvc, git, set_params

GATE = GateParams()
STAGES = ("ingest", "validate", "featurize", "split", "train", "evaluate")


# --- reading DVC's answers ------------------------------------------------------------


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


def test_changed_params_come_from_dvc_params_diff():
    diff = {
        "params.yaml": {"train.seed": {"old": 1, "new": 2, "diff": 1}},
        "other.yaml": {"x": {"old": None, "new": "a"}},
    }
    assert changed_params(diff) == [("other.yaml:x", None, "a"), ("train.seed", 1, 2)]


def lock(**stages: dict) -> dict:
    return {"schema": "2.0", "stages": stages}


def test_lock_comparison_tells_changed_unchanged_new_and_removed_stages_in_pipeline_order():
    base = lock(ingest={"cmd": "a"}, train={"cmd": "t", "params": {"x": 1}}, old={"cmd": "o"})
    branch = lock(ingest={"cmd": "a"}, train={"cmd": "t", "params": {"x": 2}}, evaluate={"cmd": "e"})
    changes = compare_locks(base, branch)
    assert changes.order == ("ingest", "train", "evaluate")
    assert changes.changed == {"train"}
    assert changes.added == {"evaluate"}
    assert changes.removed == ("old",)
    assert changes.unchanged == ("ingest",)
    assert compare_locks(None, branch).added == {"ingest", "train", "evaluate"}  # first pull request
    assert not compare_locks(branch, branch).any


def test_repro_log_tells_stages_run_from_stages_restored_from_the_run_cache():
    text = (
        "Stage 'ingest' didn't change, skipping\n"
        "Stage 'train' is cached - skipping run, checking out outputs\n"
        "Running stage 'evaluate':\n> python -m src.stages.evaluate ...\n"
    )
    assert parse_repro_log(text) == ReproLog(ran=("evaluate",), from_run_cache=("train",))


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


def vega(title: str, x: str, y: str, values: list[dict]) -> dict:
    """The shape of one entry of `dvc plots diff --json` for a simple line plot."""
    return {
        "type": "vega",
        "revisions": ["workspace", "main"],
        "content": {
            "title": {"text": title},
            "encoding": {"x": {"field": x, "title": "false positive rate"}, "y": {"field": y}},
            "data": {"values": values},
        },
    }


def test_curves_are_read_per_revision_and_file_from_plots_diff():
    values = [
        {"fpr": 0.0, "tpr": 0.0, "rev": "workspace", "filename": "test.json"},
        {"fpr": 1.0, "tpr": 1.0, "rev": "workspace", "filename": "test.json"},
        {"fpr": 0.0, "tpr": 0.0, "rev": "main", "filename": "test.json"},
        {"fpr": 0.5, "tpr": "0.7", "rev": "main", "filename": "validation.json"},
    ]
    curves = curves_from_plots({"ROC": [vega("ROC", "fpr", "tpr", values)]}, "ROC")
    assert curves.series[("workspace", "test.json")] == ([0.0, 1.0], [0.0, 1.0])
    assert curves.series[("main", "validation.json")] == ([0.5], [0.7])
    assert (curves.x_label, curves.y_label) == ("false positive rate", "tpr")
    assert curves_from_plots({}, "ROC") is None


def test_image_plots_are_matched_by_file_name_per_revision():
    plots = {
        "metrics/images/confusion_matrix_test.png": [
            {"type": "image", "revisions": ["workspace"], "url": "/tmp/w.png"},
            {"type": "image", "revisions": ["main"], "url": "/tmp/m.png"},
        ],
        "metrics/images/feature_importance.png": [{"type": "image", "revisions": ["workspace"], "url": "/x"}],
    }
    assert image_plots(plots, "confusion_matrix_*.png") == {
        "metrics/images/confusion_matrix_test.png": {"workspace": "/tmp/w.png", "main": "/tmp/m.png"}
    }


# --- the Markdown for constructed cases --------------------------------------------------


def facts_for(
    changes: list[MetricChange], *, params=None, stages=None, metrics_changed=True, **extra
) -> ReportFacts:
    from src.review.assessment import Assessment, gate_failures

    assessment = Assessment(
        changes=tuple(changes),
        verdict=overall_verdict(changes),
        gate_failures=tuple(gate_failures(changes, GATE)),
        interval_note=None if any(change.interval for change in changes) else "the base has no metrics",
        paired_rows=1000,
    )
    rows = [MetricRow(f"test.{change.metric}", change.base, change.branch) for change in changes]
    return ReportFacts(
        base="main",
        gate=GATE,
        assessment=assessment,
        metric_rows=extra.pop("metric_rows", rows),
        params=[("train.hist_gradient_boosting.max_iter", 200, 100)] if params is None else params,
        stages=stages or StageChanges(order=STAGES, changed=frozenset({"train", "evaluate"})),
        repro_log=extra.pop("repro_log", ReproLog(ran=("train", "evaluate"))),
        stale=extra.pop("stale", []),
        metrics_changed=metrics_changed,
        **extra,
    )


def first_lines(markdown: str, count: int = 5) -> str:
    return "\n".join(markdown.splitlines()[:count])


def test_report_of_an_improvement_shows_verdict_and_change_first():
    changes = [
        MetricChange("roc_auc", 0.7121, 0.7190, Interval(0.004, 0.010, 0.95)),
        MetricChange("average_precision", 0.5397, 0.5400, Interval(-0.002, 0.003, 0.95)),
    ]
    markdown = render_report(facts_for(changes, curve_images=[("ROC", "roc.png")]))
    head = first_lines(markdown)
    assert "**Verdict: improved**" in head
    assert "gate **passed**" in head
    assert "test roc_auc 0.7121 → 0.7190 (+0.0069, 95% CI +0.0040 to +0.0100)" in head
    assert "`train.hist_gradient_boosting.max_iter` 200 → 100" in head
    assert "Stages re-run: train, evaluate; restored from cache: ingest, validate, featurize, split." in head
    assert "| roc_auc | 0.7121 | 0.7190 | +0.0069 | +0.0040 to +0.0100 | improved |" in markdown
    assert "| average_precision | 0.5397 | 0.5400 | +0.0003 | -0.0020 to +0.0030 | within noise |" in markdown
    assert markdown.index("![ROC") > markdown.index("#### Gate")  # pictures come after the numbers


def test_report_of_a_regression_beyond_tolerance_names_the_failing_metric():
    changes = [
        MetricChange("roc_auc", 0.7121, 0.7000, Interval(-0.016, -0.008, 0.95)),
        MetricChange("average_precision", 0.5397, 0.5390, Interval(-0.003, 0.002, 0.95)),
    ]
    markdown = render_report(facts_for(changes))
    head = first_lines(markdown)
    assert "**Verdict: worse**" in head
    assert "gate **failed**" in head
    gate_part = markdown.split("#### Gate", 1)[1].split("####", 1)[0]
    assert "- test roc_auc got worse by 0.0121" in gate_part
    assert "average_precision" not in gate_part


def test_report_of_a_change_within_noise():
    changes = [
        MetricChange("roc_auc", 0.7121, 0.7118, Interval(-0.002, 0.0015, 0.95)),
        MetricChange("average_precision", 0.5397, 0.5401, Interval(-0.002, 0.003, 0.95)),
    ]
    head = first_lines(render_report(facts_for(changes)))
    assert "**Verdict: within noise**" in head
    assert "gate **passed**" in head


def test_report_when_the_base_has_no_metrics():
    changes = [MetricChange("roc_auc", None, 0.71), MetricChange("average_precision", None, 0.53)]
    rows = [MetricRow("validation.roc_auc", None, 0.70), MetricRow("test.roc_auc", None, 0.71)]
    stages = StageChanges(order=STAGES, added=frozenset(STAGES))
    markdown = render_report(facts_for(changes, stages=stages, metric_rows=rows, repro_log=None))
    head = first_lines(markdown)
    assert "**Verdict: no baseline (`main` has no metrics yet)**" in head
    assert "test roc_auc 0.7100 (no base value)" in head
    assert "| test.roc_auc | — | 0.7100 | new |" in markdown
    assert "No confidence interval: the base has no metrics." in markdown


def test_report_marks_a_removed_metric():
    changes = [MetricChange("roc_auc", 0.71, 0.71, Interval(0.0, 0.0, 0.95))]
    rows = [MetricRow("test.roc_auc", 0.71, 0.71), MetricRow("test.recall", 0.37, None)]
    markdown = render_report(facts_for(changes, metric_rows=rows))
    assert "| test.recall | 0.3700 | — | removed |" in markdown


def test_report_when_nothing_changed_is_one_line():
    frame = pd.DataFrame(
        {"flight_id": range(200), "is_late": np.arange(200) % 2, "score": np.linspace(0, 1, 200)}
    )
    from src.review.assessment import pair_predictions

    same = {"roc_auc": 0.75, "average_precision": 0.7}
    assessment = assess(same, same, pair_predictions(frame, frame), GATE)
    facts = ReportFacts(
        base="main",
        gate=GATE,
        assessment=assessment,
        metric_rows=[MetricRow("test.roc_auc", 0.75, 0.75)],
        params=[],
        stages=StageChanges(order=STAGES),
        repro_log=ReproLog(),
        stale=[],
        metrics_changed=False,
    )
    markdown = render_report(facts)
    assert markdown.count("\n") == 1
    assert markdown.startswith("Nothing changed against `main`")
    assert "gate **passed**" in markdown


def test_report_warns_when_the_workspace_is_not_reproduced():
    changes = [MetricChange("roc_auc", 0.71, 0.71, Interval(0.0, 0.0, 0.95))]
    head = first_lines(render_report(facts_for(changes, stale=["train"])))
    assert "**Warning:** the workspace is not reproduced (`dvc status`: train)" in head


# --- the command on a real DVC project (sample data) --------------------------------------


def report_command(project: Path, base: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.review.report", "--base", base, *extra],
        cwd=project,
        env=command_env(PYTHONPATH=str(project)),
        capture_output=True,
        text=True,
    )


def image_links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)


@pytest.mark.slow
def test_report_on_a_first_pull_request_and_on_an_unchanged_branch(sample_project: Path):
    # A base where the pipeline never ran: no dvc.lock, no metrics, no plots.
    git(sample_project, "checkout", "-q", "-b", "bare")
    git(sample_project, "rm", "-q", "-r", "dvc.lock", "metrics")
    git(sample_project, "commit", "-q", "-m", "before the first run")
    git(sample_project, "checkout", "-q", "main")
    dvc(sample_project, "checkout")

    result = report_command(sample_project, "bare", "--out", "out/first.md")
    assert result.returncode == 0, result.stderr
    markdown = (sample_project / "out" / "first.md").read_text()
    assert "**Verdict: no baseline" in first_lines(markdown)
    assert re.search(r"^\| test\.roc_auc \| — \| 0\.\d{4} \| new \|$", markdown, re.M)
    assert "Stages changed against `bare`: ingest, validate, featurize, split, train, evaluate" in markdown
    links = image_links(markdown)
    assert "roc.png" in links and any(link.startswith("branch_confusion_matrix") for link in links)
    for link in links:
        assert (sample_project / "out" / link).is_file(), link

    result = report_command(sample_project, "main", "--out", "out/same.md")
    assert result.returncode == 0, result.stderr
    assert (sample_project / "out" / "same.md").read_text() == (
        "Nothing changed against `main`: same parameters, same stage results, same metrics (gate **passed**).\n"
    )


@pytest.mark.slow
def test_report_names_a_parameter_changed_in_the_workspace(sample_project: Path):
    set_params(sample_project, **{"gate.bootstrap_samples": 200})  # a change with no stage to re-run
    result = report_command(sample_project, "main", "--out", "out/report.md")
    assert result.returncode == 0, result.stderr
    markdown = (sample_project / "out" / "report.md").read_text()
    assert "`gate.bootstrap_samples` 1000 → 200" in first_lines(markdown)
    assert "Stages changed against `main`: none" in markdown
    assert "Paired bootstrap over the" in markdown and "200 resamples" in markdown


def test_report_refuses_an_unknown_base(tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "src.review.report", "--base", "no-such-branch"],
        cwd=tmp_path,
        env=command_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "base revision 'no-such-branch' is not a commit here" in result.stderr


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


def test_report_says_when_the_revisions_scored_different_test_flights():
    changes = [MetricChange("roc_auc", 0.65, 0.67, Interval(-0.03, 0.08, 0.95))]
    facts = facts_for(changes, validation_rows=[MetricRow("tables.flights.rows", 5000, 4000)])
    facts.assessment = replace(facts.assessment, paired_rows=812, base_rows=857, branch_rows=850)
    markdown = render_report(facts)
    assert (
        "Paired bootstrap over the 812 test flights both revisions scored (of 857 in `main` and 850 here)"
        in markdown
    )
    assert "| tables.flights.rows | 5000 | 4000 | -1000 |" in markdown.split("#### Data validation", 1)[1]
