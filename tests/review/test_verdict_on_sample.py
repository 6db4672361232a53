"""The noise-aware verdict and gate on a real DVC project (the 20,000-flight sample), end to end.

Each test works on its own copy of the session's reproduced sample project: a reseed, a
dropped feature group, one carrier made worse, and a base that predates the seeds stage.

On the sample, training has no randomness (HistGradientBoosting subsamples for binning
only above 200,000 training flights), so the seeds give identical models: these tests
check the plumbing end to end; the statistics are checked on simulated data
(``tests/review/test_noise.py``) and on the full data by ``bench/calibration.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.sandbox import command_env, dvc, git, set_params

pytestmark = pytest.mark.slow


def tool(project: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=project,
        env=command_env(PYTHONPATH=str(project)),
        capture_output=True,
        text=True,
    )


def report(project: Path) -> str:
    result = tool(project, "src.review.report", "--base", "main", "--out", "out/report.md")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return (project / "out" / "report.md").read_text()


def gate(project: Path) -> subprocess.CompletedProcess:
    result = tool(project, "src.review.gate", "--base", "main")
    assert "Traceback" not in result.stderr
    return result


def test_a_reseeded_branch_reads_within_noise(sample_project: Path):
    set_params(sample_project, **{"train.seed": 7})
    dvc(sample_project, "repro")
    markdown = report(sample_project)
    assert "**Verdict: within noise**" in markdown.splitlines()[1]
    assert "plus the spread across 2 seeds of `main` and 2 of this branch" in markdown
    assert "<details><summary>Segments: " in markdown
    assert gate(sample_project).returncode == 0


def test_a_branch_without_the_weather_group_reads_worse_and_fails_the_gate(sample_project: Path):
    set_params(sample_project, **{"train.feature_groups": ["calendar", "schedule", "route", "plane"]})
    dvc(sample_project, "repro")
    assert "**Verdict: worse**" in report(sample_project).splitlines()[1]
    result = gate(sample_project)
    assert result.returncode == 1
    assert "test roc_auc got worse by" in result.stderr
    assert "(test sample and training noise)" in result.stderr


def make_one_carrier_worse(project: Path, carrier: str) -> None:
    """Simulated at the predictions level: every replicate scores better (nearer the truth)
    everywhere except ``carrier``'s flights, which it scores at random; the outputs are then
    recorded in dvc.lock (``dvc commit``) as a training change that produced them would be."""
    rng = np.random.default_rng(0)
    for path, columns in (
        ("data/predictions/test.parquet", ["score"]),
        ("data/seeds/test.parquet", None),
    ):
        frame = pd.read_parquet(project / path)
        for column in columns or [c for c in frame.columns if c.startswith("seed_")]:
            sharper = 0.6 * frame[column] + 0.4 * frame["is_late"]
            frame[column] = np.where(frame["carrier"] == carrier, rng.random(len(frame)), sharper)
        frame.to_parquet(project / path, index=False)
    dvc(project, "commit", "--force", "evaluate", "seeds")


def test_one_carrier_made_worse_fails_the_gate_by_name_although_the_whole_improved(sample_project: Path):
    carriers = pd.read_parquet(sample_project / "data/predictions/test.parquet")["carrier"].value_counts()
    carrier = str(carriers.index[1])  # a large carrier, not the largest: the whole still improves
    set_params(sample_project, **{"gate.segments.min_flights": 300})  # the sample's segments are small
    git(
        sample_project, "commit", "-q", "-am", "main assesses segments from 300 flights"
    )  # the base's gate applies
    make_one_carrier_worse(sample_project, carrier)
    markdown = report(sample_project)
    assert "**Verdict: improved**" in markdown.splitlines()[1]
    fold = markdown.split("<details><summary>Segments", 1)[1].split("</details>", 1)[0]
    rows = [line for line in fold.splitlines() if line.startswith("| ") and not line.startswith("| segment")]
    assert rows[0].startswith(f"| carrier={carrier} ")  # worst first
    result = gate(sample_project)
    assert result.returncode == 1
    assert f"segment carrier={carrier} (" in result.stderr
    assert "test roc_auc got worse by" not in result.stderr.split("segment", 1)[0]  # the whole did not


def test_a_base_older_than_the_seeds_stage_is_not_assessed_and_the_gate_uses_the_tolerance(
    sample_project: Path,
):
    git(sample_project, "checkout", "-q", "-b", "old")
    dvc(sample_project, "remove", "seeds")  # dvc.yaml and dvc.lock as before the seeds stage
    git(sample_project, "add", "-A")
    git(sample_project, "commit", "-q", "-m", "before the seeds stage")
    git(sample_project, "checkout", "-q", "main")
    dvc(sample_project, "checkout")
    result = tool(sample_project, "src.review.report", "--base", "old", "--out", "out/report.md")
    assert result.returncode == 0, result.stderr
    markdown = (sample_project / "out" / "report.md").read_text()
    said = "training noise not measured: `old` has no seeds stage output (data/seeds is not in its dvc.lock)"
    assert f"**Verdict: not assessed ({said})**" in markdown.splitlines()[1]
    assert "the gate falls back to the tolerance alone" in markdown
    result = tool(sample_project, "src.review.gate", "--base", "old")
    assert result.returncode == 0, result.stderr
    assert f"(not assessed: {said})" in result.stdout
