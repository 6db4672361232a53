"""The fan-out's plan and its reading of what came back (pure parts; the real runs are in
tests/integration/test_fanout.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from src.core.stage import PipelineError
from src.experiments import fanout_plan
from src.experiments.fanout_plan import Plan
from src.experiments.fanout_remote import experiment_ref, last_line
from src.experiments.selection import Experiment
from src.experiments.spec import Configuration

BASELINE = "ab" + "c" * 38


def configurations(count: int) -> list[Configuration]:
    return [Configuration(f"rates-{i}", "rates", (f"train.x={i}",)) for i in range(1, count + 1)]


def plan_of(count: int, runners: int) -> Plan:
    return Plan(BASELINE, "sweeps/s.yaml", tuple(fanout_plan.assign(configurations(count), runners)))


def test_configurations_are_dealt_in_turn_and_no_runner_is_idle():
    plan = plan_of(5, 2)
    assert [c.name for c in plan.of_runner(1)] == ["rates-1", "rates-3", "rates-5"]
    assert [c.name for c in plan.of_runner(2)] == ["rates-2", "rates-4"]
    assert plan_of(2, 4).runners == 2  # never more runners than configurations
    assert fanout_plan.matrix(plan) == {
        "include": [
            {"runner": 1, "experiments": "rates-1 rates-3 rates-5"},
            {"runner": 2, "experiments": "rates-2 rates-4"},
        ]
    }


def test_runner_numbers_and_counts_are_checked():
    with pytest.raises(PipelineError, match="at least 1 runner"):
        fanout_plan.assign(configurations(2), 0)
    with pytest.raises(PipelineError, match="--runner 3: the plan has runners 1 to 2"):
        plan_of(4, 2).of_runner(3)


def test_the_plan_survives_its_json_on_one_line():
    plan = plan_of(3, 2)
    text = fanout_plan.to_json(plan)
    assert "\n" not in text  # a GitHub job output is one name=value line
    assert fanout_plan.from_json(text, "plan.json") == plan
    assert json.loads(text)["matrix"] == fanout_plan.matrix(plan)


@pytest.mark.parametrize(
    "text", ["", "{}", '{"baseline": "x", "spec": "s", "configurations": [{"name": 1}]}']
)
def test_a_document_that_is_not_a_plan_is_named(text):
    with pytest.raises(PipelineError, match="plan.json: not a fan-out plan"):
        fanout_plan.from_json(text, "plan.json")


def test_a_missing_plan_file_is_named(tmp_path):
    with pytest.raises(PipelineError, match="plan not found"):
        fanout_plan.load(tmp_path / "plan.json")


def test_only_sweep_files_of_the_repository_are_accepted(tmp_path: Path):
    (tmp_path / "sweeps").mkdir()
    assert fanout_plan.spec_in_repository(Path("sweeps/a.yaml"), tmp_path) == "sweeps/a.yaml"
    for outside in ("params.yaml", "sweeps/../params.yaml", "/etc/passwd", "sweeps/a.txt"):
        with pytest.raises(PipelineError, match="must be a .yaml file under sweeps/"):
            fanout_plan.spec_in_repository(Path(outside), tmp_path)


def test_the_collector_receives_only_finished_experiments_of_the_plan():
    plan = plan_of(3, 2)
    got = fanout_plan.collected(plan, {"rates-1": "success", "rates-2": "failed", "other": "success"})
    assert got.received == ["rates-1"]
    assert got.missing == ["rates-2", "rates-3"]


def test_the_outcome_names_the_best_and_the_runners_of_the_missing():
    plan = plan_of(3, 2)
    got = fanout_plan.collected(plan, {"rates-1": "success", "rates-2": "success"})
    best = Experiment("rates-2", "f" * 40, "success", metrics={"validation": {"roc_auc": 0.71}})
    text = "\n".join(fanout_plan.outcome_lines(plan, got, best, "roc_auc"))
    assert "2 of 3 experiment(s) received" in text.splitlines()[0]
    assert "Best on validation roc_auc: **rates-2** (0.7100)." in text
    assert "Not received: rates-3. Their runner(s) 1 failed" in text
    rows = [line for line in text.splitlines() if line.startswith("| rates-")]
    assert [row.split("|")[4].strip() for row in rows] == ["received", "received", "**not received**"]


def test_experiment_refs_and_command_reasons():
    assert experiment_ref(BASELINE, "rates-1") == f"refs/exps/ab/{'c' * 38}/rates-1"
    dvc_output = "ERROR: unexpected error - Unable to locate credentials\n\nHaving any troubles? Hit us up\n"
    assert last_line(dvc_output) == "ERROR: unexpected error - Unable to locate credentials"
    completed = subprocess.CompletedProcess([], 1, stdout="", stderr="fatal: no such remote\n")
    assert last_line(completed) == "fatal: no such remote"
