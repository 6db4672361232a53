"""Monitoring a drop with the real registry, DVC cache and model: keep, retrain, and bad input.

One repository serves the module (:func:`registered`): the reproduced sample project,
registered as v1.0.0 and put in prod with GTO. Drops are the sample's November flights
(after the training period, January to August), in the raw format `make score` reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src.sandbox import run
from src.stages.featurize import POST_DEPARTURE_COLUMNS

pytestmark = pytest.mark.slow

MODEL = "late-arrival"
SHIFTED = "distance"


def write_drop(project: Path, directory: Path, month: int, outcomes: bool, change=None) -> Path:
    """The sample's raw flights of ``month``, without post-flight columns (``arr_delay`` kept if ``outcomes``)."""
    directory.mkdir(parents=True)
    flights = pd.read_parquet(project / "data" / "raw" / "flights.parquet")
    dropped = [c for c in POST_DEPARTURE_COLUMNS if not (outcomes and c == "arr_delay")]
    wanted = flights[flights["month"] == month].drop(columns=dropped)
    (change or (lambda frame: frame))(wanted).to_parquet(directory / "flights.parquet", index=False)
    for table in ("planes.csv", "weather.csv"):
        shutil.copyfile(project / "data" / "raw" / table, directory / table)
    return directory


@pytest.fixture(scope="module")
def registered(sample_project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("monitor") / "project"
    shutil.copytree(sample_project_template, project, symlinks=True)
    run(["gto", "register", MODEL, "--version", "v1.0.0"], project)
    run(["gto", "assign", MODEL, "--version", "v1.0.0", "--stage", "prod"], project)
    return project


def monitor(project: Path, drop: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "src.monitoring.monitor", "--drop", str(drop), "--out", str(out), *args]
    return run(command, project, check=False, PYTHONPATH=str(project))


def test_a_later_month_like_the_reference_is_kept_and_says_what_it_could_not_assess(
    registered: Path, tmp_path
):
    drop = write_drop(registered, tmp_path / "november", 11, outcomes=False)
    result = monitor(registered, drop, tmp_path / "report")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("keep: late-arrival v1.0.0")
    report = json.loads((tmp_path / "report" / "monitor.json").read_text())
    assert report["decision"] == "keep" and report["reasons"] == []
    assert "performance: not assessed (no arr_delay column)" in report["not_assessed"]
    assert report["performance"] is None
    assert (
        report["features"]["month"]["psi"] > 1 and report["features"]["month"]["seasonal"]
    )  # new months, not counted
    assert "# Monitoring: keep" in (tmp_path / "report" / "monitor.md").read_text()
    assert (tmp_path / "report" / "drift.png").read_bytes().startswith(b"\x89PNG")


def test_a_shifted_feature_retrains_naming_that_feature_and_no_other(registered: Path, tmp_path):
    def longer(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{SHIFTED: frame[SHIFTED] * 1.6})

    drop = write_drop(registered, tmp_path / "shifted", 11, outcomes=True, change=longer)
    result = monitor(registered, drop, tmp_path / "report")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "monitor.json").read_text())
    assert report["decision"] == "retrain"
    data_reason = next(line for line in report["reasons"] if line.startswith("data drift"))
    assert f"{SHIFTED} (PSI" in data_reason
    flagged = [name for name, entry in report["features"].items() if entry["beyond_limits"]]
    assert flagged == [SHIFTED]
    roc = report["performance"]["roc_auc"]
    assert roc["interval"][0] <= roc["change"] <= roc["interval"][1]
    assert "retrain: late-arrival v1.0.0" in result.stdout and SHIFTED in result.stdout


def refused(result: subprocess.CompletedProcess, phrase: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "] error: " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert phrase in errors[0], errors[0]


def test_bad_input_is_one_sentence_and_leaves_the_last_report(registered: Path, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "monitor.md").write_text("the last report")
    overlapping = write_drop(registered, tmp_path / "march", 3, outcomes=False)
    refused(monitor(registered, overlapping, out), "fall in the training period 2013-01-01 to 2013-08-31")
    schema = write_drop(registered, tmp_path / "schema", 11, False, lambda f: f.drop(columns=["carrier"]))
    refused(monitor(registered, schema, out), "required column(s) 'carrier' missing")
    empty = write_drop(registered, tmp_path / "empty", 11, False, lambda f: f.iloc[:0])
    refused(monitor(registered, empty, out), "the drop holds no flights")
    november = write_drop(registered, tmp_path / "november", 11, outcomes=False)
    refused(monitor(registered, november, out, "--model", "v9.9.9"), "v9.9.9 is not registered")
    cache, aside = registered / ".dvc" / "cache", registered / ".dvc" / "cache-aside"
    cache.rename(aside)
    try:
        refused(monitor(registered, november, out), "data/split/train.parquet, is in neither the DVC cache")
    finally:
        aside.rename(cache)
    assert [p.name for p in out.iterdir()] == ["monitor.md"] and (
        out / "monitor.md"
    ).read_text() == "the last report"
