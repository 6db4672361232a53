"""The merge gate: its message, and its exit status on a real DVC project."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from src.core.stage import PipelineError
from src.review.assessment import Assessment, Interval, MetricChange, Verdict
from src.review.gate import gate_message, read_result, write_result
from src.sandbox import REPO_ROOT, command_env, dvc, git, set_params


def test_message_of_a_passing_gate_gives_the_numbers():
    assessment = Assessment(
        changes=(MetricChange("roc_auc", 0.71, 0.72, Interval(0.002, 0.01, 0.95)),),
        verdict=Verdict.IMPROVED,
        gate_failures=(),
        interval_note=None,
        paired_rows=10,
    )
    assert gate_message(assessment, "main") == (
        "gate passed against main: test roc_auc 0.7100 → 0.7200 (+0.0100, 95% CI +0.0020 to +0.0100)"
    )


def test_a_gate_that_passed_without_training_noise_says_so():
    assessment = Assessment(
        changes=(MetricChange("roc_auc", 0.71, 0.712, reason="training noise not measured: no seeds"),),
        verdict=Verdict.NOT_ASSESSED,
        gate_failures=(),
        interval_note="training noise not measured: no seeds",
        paired_rows=10,
    )
    assert gate_message(assessment, "main") == (
        "gate passed against main: test roc_auc 0.7100 → 0.7120 (+0.0020) "
        "(not assessed: training noise not measured: no seeds)"
    )


#: A gate that failed on a floor, with no interval.
FAILED_ON_A_FLOOR = Assessment(
    changes=(MetricChange("roc_auc", 0.71, 0.60),),
    verdict=Verdict.NOT_ASSESSED,
    gate_failures=("test roc_auc is 0.6000, below its floor of 0.6500 (gate.floors).",),
    interval_note="no predictions",
    paired_rows=0,
)


def test_message_of_a_failing_gate_is_its_failures():
    assert gate_message(FAILED_ON_A_FLOOR, "main") == (
        "gate failed against main: test roc_auc is 0.6000, below its floor of 0.6500 (gate.floors)."
    )


def gate_command(project: Path, base: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.review.gate", "--base", base],
        cwd=project,
        env=command_env(PYTHONPATH=str(project)),
        capture_output=True,
        text=True,
    )


def test_a_result_written_by_the_report_is_read_back_as_it_was(tmp_path: Path):
    write_result(tmp_path / "gate.json", FAILED_ON_A_FLOOR, "abc123")
    assert read_result(tmp_path / "gate.json", "abc123") == (False, gate_message(FAILED_ON_A_FLOOR, "abc123"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no gate result (FileNotFoundError"),
        ("not json", "no gate result (JSONDecodeError"),
        ('{"passed": true}', "no gate result (KeyError"),
        ('{"base": "other", "passed": true, "message": "gate passed"}', "a gate result against 'other', not"),
        ('{"base": "abc123", "passed": "yes", "message": "gate passed"}', "no gate result (passed must be"),
    ],
)
def test_a_missing_or_foreign_result_fails_the_gate_naming_the_file(tmp_path: Path, content, expected):
    path = tmp_path / "gate.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PipelineError, match=re.escape(f"{path}: {expected}")):
        read_result(path, "abc123")


@pytest.mark.slow
def test_gate_passes_an_unchanged_branch_and_fails_one_below_the_bases_floor(sample_project: Path):
    result = gate_command(sample_project, "main")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gate passed against main: test roc_auc")

    # A floor the model cannot reach, set on the branch only: the base's rules judge it.
    set_params(sample_project, **{"gate.floors.roc_auc": 0.99})
    result = gate_command(sample_project, "main")
    assert result.returncode == 0, result.stderr
    assert (
        "This branch changes its own gate settings: `gate.floors.roc_auc`; the base's apply." in result.stderr
    )

    # The same floor on the base: the branch fails, and relaxing it on the branch does not help.
    git(sample_project, "commit", "-q", "-am", "main raises the roc_auc floor")
    set_params(sample_project, **{"gate.floors.roc_auc": 0.01})
    result = gate_command(sample_project, "main")
    assert result.returncode == 1
    assert re.search(r"test roc_auc is 0\.\d{4}, below its floor of 0\.9900", result.stderr)
    assert "average_precision" not in result.stderr.split("gate failed", 1)[1]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_gate_fails_a_real_regression_with_the_noise_aware_interval(sample_project: Path):
    # Calendar features alone lose most of what the model knows: a regression far beyond noise.
    set_params(sample_project, **{"train.feature_groups": ["calendar"]})
    dvc(sample_project, "repro")
    result = gate_command(sample_project, "main")
    assert result.returncode == 1
    assert re.search(
        r"test roc_auc got worse by 0\.\d{4} .*interval of the change \(test sample and training noise\) .* excludes zero",
        result.stderr,
    )


@pytest.mark.slow
def test_the_gate_loads_neither_the_report_nor_matplotlib():
    check = "import sys, src.review.gate; assert not {'matplotlib', 'src.review.report'} & set(sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO_ROOT,
        env=command_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
