"""The sweep runner's own decisions: the command per experiment, outcomes, counts, the report."""

from __future__ import annotations

from pathlib import Path

import pytest

import src.experiments.sweep as sweep
from src.experiments.pool import Finished
from src.experiments.spec import Configuration

LR = "train.hist_gradient_boosting.learning_rate"


def finished(name: str, returncode: int = 0, seconds: float = 42.0) -> Finished:
    return Finished(Configuration(name, "g", (f"{LR}=0.1", "train.seed=1")), returncode, seconds)


def test_each_configuration_runs_as_a_named_temp_experiment_waiting_for_the_lock():
    args = sweep.run_args(
        Configuration("boosting-2", "boosting", (f"{LR}=0.2", "train.feature_groups=[a,b]"))
    )

    assert args == [
        "--wait-for-lock",
        "exp",
        "run",
        "--temp",
        "-n",
        "boosting-2",
        "-S",
        f"{LR}=0.2",
        "-S",
        "train.feature_groups=[a,b]",
    ]


@pytest.mark.parametrize(
    ("returncode", "listed", "problem"),
    [
        (0, {"e": "success"}, None),
        (0, {}, "exited 0, but `dvc exp show` does not list it"),  # DVC lost it: never a success
        (255, {}, "exited 255"),  # how DVC leaves a failed --temp run: not listed at all
        # its own experiment recorded, then it ran another's entry from DVC's shared stash, which failed
        (1, {"e": "success"}, None),
        (0, {"e": "running"}, "`dvc exp show` says running"),
        (1, {"e": "running"}, "`dvc exp show` says running"),
    ],
)
def test_success_is_the_experiment_listed_as_a_success_and_the_exit_status_says_why_not(
    returncode, listed, problem
):
    assert sweep.judge(finished("e", returncode), listed) == problem


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sweep, "LOG_DIR", tmp_path / "logs")
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


def test_stage_counts_come_from_the_runs_logs(logs):
    restored = "Stage 'split' didn't change, skipping\n"
    (logs / "a.log").write_text(f"{restored}Running stage 'train':\n> x\nRunning stage 'evaluate':\n")
    (logs / "b.log").write_text(
        f"{restored}Running stage 'train':\n> x\nERROR: failed to reproduce 'train'\n"
    )

    assert sweep.stage_counts(["a", "b", "never-started"]) == {"train": 2, "evaluate": 1}


def test_the_summary_table_names_every_configuration_and_its_outcome():
    runs = [finished("a", 0, 61.0), finished("b", 255, 30.4)]

    text = sweep.summary(runs, {"a": None, "b": "exited 255"})

    lines = text.splitlines()
    assert [cell.strip() for cell in lines[0].split("|")[1:-1]] == [
        "experiment",
        "configuration",
        "outcome",
        "seconds",
    ]
    assert lines[2].startswith("| a ") and "success" in lines[2] and lines[2].rstrip().endswith("61 |")
    assert lines[3].startswith("| b ") and "exited 255" in lines[3] and f"{LR}=0.1 train.seed=1" in lines[3]


def test_the_report_shows_a_failed_experiments_log_and_names_it(logs, monkeypatch, capsys, caplog):
    (logs / "good.log").write_text("Running stage 'train':\n")
    (logs / "bad.log").write_text("Running stage 'train':\n" + "noise\n" * 40 + "ValueError: learning_rate\n")
    exp_show = [{"rev": "abc", "name": "main", "data": {}, "experiments": [_listed("good")]}]
    monkeypatch.setattr(sweep.dvc, "exp_show", lambda: exp_show)
    printed = []
    monkeypatch.setattr(sweep.table, "print_table", lambda params, payload: printed.append(payload))
    caplog.set_level("INFO", logger="pipeline")

    failed = sweep.report([finished("good"), finished("bad", 255)], _params())

    assert failed == ["bad"]
    assert printed == [exp_show]  # the table comes from the same listing
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("bad failed (")
    assert (
        "ValueError: learning_rate" in errors[0] and "Running stage" not in errors[0]
    )  # the last lines only
    assert "stage runs inside the sweep's experiments: train x2" in caplog.text
    assert "| bad " in capsys.readouterr().out


def _listed(name: str) -> dict:
    return {"name": name, "executor": None, "revs": [{"rev": f"{name}-rev", "data": {}, "error": None}]}


def _params():
    from src.params import load_params
    from src.sandbox import REPO_ROOT

    return load_params(REPO_ROOT / "params.yaml")


def test_a_plan_survives_the_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "PLAN_FILE", tmp_path / "sweep" / "plan.json")
    configurations = [
        Configuration("a-1", "a", (f"{LR}=0.1",)),
        Configuration("a-2", "a", ("train.x=[1,2]",)),
    ]

    sweep.save_plan("abc123", configurations)

    assert sweep.load_plan() == ("abc123", configurations)
