"""The report command on a real DVC project (sample data), and its one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from src.core.stage import PipelineError
from src.review.report import one_line
from src.sandbox import REPO_ROOT, command_env, dvc, git, set_params


def test_a_failed_command_is_one_line_naming_it_and_what_it_said_last():
    error = PipelineError(
        "`dvc metrics diff abc --all --json` exited 1:\nWARNING: a\nERROR: b\n\nsecond line\nthird line"
    )
    assert (
        one_line(error)
        == "`dvc metrics diff abc --all --json` exited 1 / ERROR: b / second line / third line"
    )
    assert one_line(PipelineError("unknown revision 'x'")) == "unknown revision 'x'"


def report_command(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.review.report", *args],
        cwd=project,
        env=command_env(PYTHONPATH=str(project)),
        capture_output=True,
        text=True,
    )


def first_lines(markdown: str, count: int = 5) -> str:
    return "\n".join(markdown.splitlines()[:count])


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

    result = report_command(sample_project, "--base", "bare", "--out", "out/first.md")
    assert result.returncode == 0, result.stderr
    markdown = (sample_project / "out" / "first.md").read_text()
    assert "**Verdict: no baseline" in first_lines(markdown)
    assert re.search(r"^\| test\.roc_auc +\| +— \| +0\.\d{4} \| +new \|$", markdown, re.M)
    assert (
        "Stages changed against `bare`: ingest, validate, featurize, split, train, evaluate, seeds"
        in markdown
    )
    links = image_links(markdown)
    assert "roc.png" in links and any(link.startswith("branch_confusion_matrix") for link in links)
    for link in links:
        assert (sample_project / "out" / link).is_file(), link

    result = report_command(sample_project, "--base", "main", "--out", "out/same.md")
    assert result.returncode == 0, result.stderr
    assert (sample_project / "out" / "same.md").read_text() == (
        "Nothing changed against `main`: same parameters, same stage results, same metrics (gate **passed**).\n"
    )


@pytest.mark.slow
def test_report_names_a_parameter_changed_in_the_workspace(sample_project: Path):
    set_params(sample_project, **{"gate.bootstrap_samples": 100})  # a change with no stage to re-run
    result = report_command(sample_project, "--base", "main", "--out", "out/report.md")
    assert result.returncode == 0, result.stderr
    markdown = (sample_project / "out" / "report.md").read_text()
    assert (
        "`gate.bootstrap_samples` 200 → 100" in markdown.split("\n| test metric", 1)[0]
    )  # above the primary table
    assert "Stages changed against `main`: none" in markdown
    # a gate setting: the base's apply, and the report says the branch tried to change it
    assert (
        "This branch changes its own gate settings: `gate.bootstrap_samples`; the base's apply." in markdown
    )
    assert "Paired bootstrap over the" in markdown and "200 resamples" in markdown
    assert "plus the spread across 2 seeds of `main` and 2 of this branch" in markdown
    # the base's confusion matrices too: dvc plots diff was given the base's commit
    assert any(link.startswith("base_confusion_matrix") for link in image_links(markdown))


@pytest.mark.slow
def test_report_refuses_an_unknown_or_hostile_base_in_one_line(tmp_path: Path):
    git(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    target = tmp_path / "written"
    for base, message in [
        ("no-such-branch", "unknown revision 'no-such-branch'"),
        ("main;touch written", "unknown revision 'main;touch written'"),
        (f"--output={target}", f"revision '--output={target}' is not a commit"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "src.review.report", f"--base={base}"],
            cwd=tmp_path,
            env=command_env(PYTHONPATH=str(REPO_ROOT)),
            capture_output=True,
            text=True,
        )
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1
        assert len(lines) == 1 and lines[0].startswith(f"[report] error: {message}"), result.stderr
    assert not target.exists()


@pytest.mark.slow
def test_a_workspace_that_is_not_reproduced_is_refused_unless_allowed(sample_project: Path):
    """Issue 14: no green gate and no report on metrics that are not this branch's."""
    (sample_project / "out").mkdir()
    (sample_project / "out" / "report.md").write_text("the previous report\n")
    set_params(sample_project, **{"train.hist_gradient_boosting.max_iter": 20})  # no dvc repro
    expected = "the workspace is not reproduced (`dvc status`: train"
    for module in ("src.review.report", "src.review.gate"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                module,
                "--base",
                "main",
                *(["--out", "out/report.md"] if "report" in module else []),
            ],
            cwd=sample_project,
            env=command_env(PYTHONPATH=str(sample_project)),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1, (module, result.stderr)
        assert (
            expected in result.stderr
            and "run `dvc repro`" in result.stderr
            and "--allow-stale" in result.stderr
        )
        assert "Traceback" not in result.stderr
    assert (sample_project / "out" / "report.md").read_text() == "the previous report\n"  # not overwritten

    result = report_command(sample_project, "--base", "main", "--out", "out/report.md", "--allow-stale")
    assert result.returncode == 0, result.stderr
    assert (
        "**Warning:** the workspace is not reproduced" in (sample_project / "out" / "report.md").read_text()
    )
