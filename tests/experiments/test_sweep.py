"""The sweep runner's pure parts: spec, expansion, validation, parsing DVC's output, watching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from src.core.stage import PipelineError
from src.experiments.selection import Experiment, ExperimentTable
from src.experiments.sweep import (
    Grid,
    QueueSnapshot,
    Run,
    SweepState,
    check_configurations,
    duplicates,
    exp_show_args,
    expand,
    is_settled,
    load_spec,
    lost_without_log,
    needs_workers,
    parse_queue_status,
    parse_queued,
    parse_spec,
    plots_diff_args,
    progress_line,
    stage_runs,
    stuck_candidates,
    varying_params,
)
from src.sandbox import REPO_ROOT

PARAMS_TEXT = (REPO_ROOT / "params.yaml").read_text(encoding="utf-8")
LR = "train.hist_gradient_boosting.learning_rate"


# --- spec and expansion -----------------------------------------------------------------


def test_default_sweep_has_eight_configurations_over_two_model_families():
    grids = load_spec(REPO_ROOT / "sweeps" / "default.yaml")
    configurations = [c for grid in grids for c in expand(grid.overrides)]

    assert len(configurations) >= 8
    models = {o.split("=", 1)[1] for c in configurations for o in c if o.startswith("train.model=")}
    assert models == {"hist_gradient_boosting", "logistic_regression"}
    assert len(set(configurations)) == len(configurations)
    check_configurations(PARAMS_TEXT, configurations)  # all valid against the real params.yaml


def test_grid_syntax_expands_like_dvc_exp_run():
    configurations = expand(
        [f"{LR}=0.05,0.1,0.2", "train.hist_gradient_boosting.max_leaf_nodes=15,63", "train.seed=1"]
    )

    assert len(configurations) == 6
    assert (f"{LR}=0.2", "train.hist_gradient_boosting.max_leaf_nodes=63", "train.seed=1") in configurations
    assert expand(["train.seed=1"]) == [("train.seed=1",)]


def test_override_syntax_errors_are_reported():
    with pytest.raises(PipelineError, match=r"train\.seed=\[1"):
        expand(["train.seed=[1"])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "non-empty list under 'grids:'"),
        ({"grids": []}, "non-empty list under 'grids:'"),
        ({"grids": [{"name": "x"}]}, "'set' must be a non-empty list"),
        ({"grids": [{"set": ["a=1", 2]}]}, "'set' must be a non-empty list"),
        ({"grids": [{"set": ["a=1"], "sett": []}]}, "with 'name' and 'set' only"),
    ],
)
def test_malformed_spec_is_rejected(raw, message):
    with pytest.raises(PipelineError, match=re.escape(message)):
        parse_spec(raw, "sweeps/x.yaml")


def test_spec_grids_keep_their_names_and_order():
    grids = parse_spec({"grids": [{"name": "a", "set": ["train.seed=1"]}, {"set": ["train.seed=2"]}]}, "x")
    assert grids == [Grid("a", ("train.seed=1",)), Grid("grid 2", ("train.seed=2",))]


# --- validation before queueing ------------------------------------------------------------


def test_unknown_parameter_path_is_rejected_naming_it():
    with pytest.raises(PipelineError) as error:
        check_configurations(PARAMS_TEXT, expand(["train.hist_gradient_boosting.learnig_rate=0.1,0.2"]))
    message = str(error.value)
    assert "nothing was queued" in message
    assert "train.hist_gradient_boosting.learnig_rate: unknown parameter path" in message
    assert message.count("unknown parameter path") == 1  # one problem, listed once for both values


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.model=xgboost", "train.model"),
        (f"{LR}=-1", LR),
        ("+train.extra=1", "train.extra"),  # DVC would append it; params.py forbids unknown keys
        ("train.feature_groups=[]", "train.feature_groups"),
    ],
)
def test_values_params_py_forbids_are_rejected_before_queueing(override, named):
    with pytest.raises(PipelineError, match=re.escape(named)):
        check_configurations(PARAMS_TEXT, [(override,)])


def test_valid_configurations_come_back_with_the_overrides_applied():
    (checked,) = check_configurations(
        PARAMS_TEXT, [("train.model=logistic_regression", "train.logistic_regression.C=0.1")]
    )
    assert checked.train.model == "logistic_regression"
    assert checked.train.logistic_regression.C == 0.1


def test_a_value_only_the_model_rejects_passes_validation():
    # Infinity is a positive float to params.py; scikit-learn refuses it when fitting.
    # Such a configuration is queued and reported as a failed experiment (tested in
    # tests/integration/test_sweep.py), not rejected up front.
    (checked,) = check_configurations(PARAMS_TEXT, [(f"{LR}=inf",)])
    assert checked.train.hist_gradient_boosting.learning_rate == float("inf")


def test_duplicate_configurations_are_found_by_their_parameters():
    configurations = [
        ("train.seed=1",),
        ("train.seed=2",),
        ("train.seed=1", "train.model=hist_gradient_boosting"),
    ]
    checked = check_configurations(PARAMS_TEXT, configurations)
    assert duplicates(configurations, checked) == [
        "train.seed=1 train.model=hist_gradient_boosting (same as train.seed=1)"
    ]


# --- what DVC prints -----------------------------------------------------------------------


QUEUE_OUTPUT = """\
Queueing with overrides '{'params.yaml': ['train.seed=1', 'train.model=logistic_regression']}'.
Queued experiment 'sandy-kaka' for future execution.
Queueing with overrides '{'params.yaml': ['train.seed=2', 'train.model=logistic_regression']}'.
Queued experiment 'jaggy-ankh' for future execution.
"""


def test_queued_experiments_are_paired_with_their_overrides():
    assert parse_queued(QUEUE_OUTPUT) == [
        ("sandy-kaka", ("train.seed=1", "train.model=logistic_regression")),
        ("jaggy-ankh", ("train.seed=2", "train.model=logistic_regression")),
    ]


QUEUE_STATUS = """\
Task     Name        Created       Status
6f389af  fluid-dams  10:46 PM      Running
65d3e8f              10:47 PM      Queued
6b9fa17  noble-seep  Aug 22, 2022  Failed
ff69380  sandy-kaka  10:38 PM      Success

Worker status: 1 active, 2 idle
"""


def test_queue_status_table_is_read_by_column():
    snapshot = parse_queue_status(QUEUE_STATUS)

    assert snapshot.states == {
        "fluid-dams": "Running",
        "65d3e8f": "Queued",
        "noble-seep": "Failed",
        "sandy-kaka": "Success",
    }
    assert (snapshot.active_workers, snapshot.idle_workers, snapshot.workers) == (1, 2, 3)


def test_empty_queue_status():
    snapshot = parse_queue_status("No experiment tasks in the queue.\n\nWorker status: 0 active, 0 idle\n")
    assert snapshot == QueueSnapshot(states={}, active_workers=0, idle_workers=0)


@pytest.mark.parametrize(
    ("log_text", "lost"),
    [
        ("", True),
        ("ERROR: No output logs found for experiment 'every-aria'\n", True),
        ("Reproducing experiment 'x'\nRunning stage 'train':\nInvalidParameterError: ...\n", False),
    ],
)
def test_a_failure_without_a_log_is_a_lost_task(log_text, lost):
    assert lost_without_log(log_text) is lost


def test_stage_runs_count_only_stages_that_ran():
    log_text = (
        "Stage 'ingest' didn't change, skipping\nStage 'split' didn't change, skipping\n"
        "Running stage 'train':\n> python -m src.stages.train\nRunning stage 'evaluate':\n"
    )
    assert stage_runs(log_text) == {"train": 1, "evaluate": 1}


# --- watching the queue ----------------------------------------------------------------------


def test_workers_are_restarted_only_after_a_while_without_any():
    states = {"a": "Queued", "b": "Success"}
    assert not needs_workers(states, no_worker_polls=1)
    assert needs_workers(states, no_worker_polls=2)
    assert not needs_workers({"a": "Success", "b": "Failed"}, no_worker_polls=5)


def test_running_without_workers_is_a_stuck_candidate():
    states = {"a": "Running", "b": "Success", "c": "Running"}
    assert stuck_candidates(states, no_worker_polls=0) == []
    assert stuck_candidates(states, no_worker_polls=2) == ["a", "c"]


@pytest.mark.parametrize(
    ("states", "no_worker_polls", "settled"),
    [
        ({"a": "Success", "b": "Failed"}, 0, True),
        ({"a": "Success", "b": "Running"}, 5, False),
        ({"a": "Success", "b": "Queued"}, 5, False),
        ({"a": "Success", "b": "Unknown"}, 0, False),  # not listed yet: wait
        ({"a": "Success", "b": "Unknown"}, 2, True),  # vanished, and nothing can run it
    ],
)
def test_settled_when_nothing_can_change(states, no_worker_polls, settled):
    assert is_settled(states, no_worker_polls) is settled


def test_progress_line_counts_the_sweep():
    states = {"a": "Success", "b": "Failed", "c": "Running", "d": "Queued"}
    line = progress_line(states, 75, QueueSnapshot(states={}, active_workers=1, idle_workers=1))
    assert line == "[01:15] 2/4 done (1 failed), 1 running, 1 queued; workers: 1 busy, 1 idle"


def test_sweep_state_survives_a_round_trip():
    state = SweepState(
        baseline="abc", jobs=2, runs=[Run("a", ["train.seed=1"], "g"), Run("b", [], "g", 2, "c")]
    )
    again = SweepState.from_json(state.to_json())
    assert again == state
    assert [run.name for run in again.current()] == ["a"]


# --- comparison ----------------------------------------------------------------------------------


def make_table() -> ExperimentTable:
    metrics_file = "metrics/evaluate/metrics.json"

    def row(name: str, rate: float, validation: float, state: str = "success") -> Experiment:
        params = {LR: rate, "train.seed": 2013, "train.feature_groups": ["calendar"]}
        metrics = (
            {"validation": {"roc_auc": validation}, "test": {"roc_auc": 0.5}} if state == "success" else {}
        )
        return Experiment(name=name, rev=name, state=state, params=params, metrics=metrics)

    return ExperimentTable(
        baseline=row("main", 0.1, 0.70),
        experiments=[
            row("low", 0.05, 0.71),
            row("high", 0.2, 0.74),
            row("mid", 0.15, 0.72),
            row("bad", 9.0, 0.0, "failed"),
        ],
        metrics_file=metrics_file,
    )


def test_only_parameters_that_vary_are_columns():
    assert varying_params(make_table()) == [LR]


def test_exp_show_keeps_useful_columns_sorted_by_the_validation_metric():
    from src.params import load_params

    params = load_params(REPO_ROOT / "params.yaml")
    args = exp_show_args(make_table(), params)

    keep = re.compile(args[args.index("--keep") + 1])
    metric = params.select.metric
    kept = [
        "Experiment",
        "State",
        f"validation.{metric}",
        f"test.{metric}",
        LR,
        f"metrics/evaluate/metrics.json:validation.{metric}",
    ]
    dropped = [
        "train.seed",
        f"metrics/train/metrics.json:validation.{metric}",
        f"carrier.9E.{metric}",
        "Created",
    ]
    assert all(keep.match(column) for column in kept)
    assert not any(keep.match(column) for column in dropped)
    assert args[args.index("--sort-by") + 1] == f"metrics/evaluate/metrics.json:validation.{metric}"
    assert args[args.index("--sort-order") + 1] == ("asc" if metric in {"log_loss", "brier"} else "desc")


def test_plots_compare_the_baseline_with_the_top_experiments():
    args = plots_diff_args(make_table(), "roc_auc", top=2, out=Path("reports/sweep-plots"))
    assert args == ["dvc", "plots", "diff", "HEAD", "high", "mid", "--out", "reports/sweep-plots"]


# --- the watch loop, against a scripted queue ---------------------------------------------------


class ScriptedQueue:
    """Stands in for the dvc commands the watch runs: one scripted `dvc queue status` per poll."""

    def __init__(self, polls: list[tuple[dict[str, str], int]], logs: dict[str, str]) -> None:
        self.polls = list(polls)
        self.logs = logs
        self.workers = 0
        self.commands: list[list[str]] = []
        self.started: list[int] = []
        self.queued = 0

    def snapshot(self) -> QueueSnapshot:
        states, self.workers = self.polls.pop(0)
        return QueueSnapshot(states=states, active_workers=self.workers, idle_workers=0)

    def queue_grid(self, grid: Grid, configurations: list) -> list[Run]:
        self.queued += 1
        return [Run(name=f"retry{self.queued}", overrides=list(grid.overrides), grid=grid.name)]

    def install(self, monkeypatch) -> None:
        import src.experiments.sweep as sweep

        monkeypatch.setattr(sweep, "queue_snapshot", self.snapshot)
        monkeypatch.setattr(sweep, "live_worker_processes", lambda: self.workers)
        monkeypatch.setattr(sweep, "queue_log", lambda name: self.logs.get(name, ""))
        monkeypatch.setattr(sweep, "run_command", lambda args, check=True: self.commands.append(list(args)))
        monkeypatch.setattr(sweep, "queue_grid", self.queue_grid)
        monkeypatch.setattr(sweep, "start_workers", self.started.append)
        monkeypatch.setattr(sweep, "save_state", lambda state: None)


def test_watch_requeues_a_task_lost_in_running_and_restarts_workers(monkeypatch):
    from src.experiments.sweep import watch

    queue = ScriptedQueue(
        polls=[
            ({"a": "Running", "b": "Queued"}, 2),
            ({"a": "Success", "b": "Running"}, 1),
            ({"a": "Success", "b": "Running"}, 0),  # workers gone, b still "Running"...
            ({"a": "Success", "b": "Running"}, 0),  # ... and again: b was lost (it has no log)
            ({"a": "Success", "b": "Failed", "retry1": "Running"}, 1),
            ({"a": "Success", "b": "Failed", "retry1": "Success"}, 0),
        ],
        logs={"a": "Running stage 'train':\n"},
    )
    queue.install(monkeypatch)
    state = SweepState(
        baseline="abc", jobs=2, runs=[Run("a", ["train.seed=1"], "g"), Run("b", ["train.seed=2"], "g")]
    )

    final = watch(state, poll=0, retries=1, timeout=None)

    assert final == {"a": "Success", "retry1": "Success"}
    assert ["dvc", "queue", "kill", "b"] in queue.commands
    assert queue.started == [1]
    lost, retry = state.runs[1], state.runs[2]
    assert (lost.replaced_by, retry.overrides, retry.attempt) == ("retry1", ["train.seed=2"], 2)
    assert queue.polls == []


def test_watch_reports_real_failures_and_retries_lost_ones_only_once(monkeypatch):
    from src.experiments.sweep import watch

    queue = ScriptedQueue(
        polls=[
            ({"real": "Failed", "lost": "Failed"}, 1),  # "lost" failed without a log: re-queued
            ({"real": "Failed", "lost": "Failed", "retry1": "Failed"}, 0),  # lost again: reported
        ],
        logs={"real": "Running stage 'train':\nValueError: bad value\n"},
    )
    queue.install(monkeypatch)
    state = SweepState(baseline="abc", jobs=2, runs=[Run("real", ["x=1"], "g"), Run("lost", ["x=2"], "g")])

    final = watch(state, poll=0, retries=1, timeout=None)

    assert final == {"real": "Failed", "retry1": "Failed"}
    assert queue.queued == 1  # the real failure is never re-run, the lost one once
    assert queue.started == []


def test_queued_runs_fall_back_to_the_expected_overrides(monkeypatch):
    import subprocess

    import src.experiments.sweep as sweep

    printed = "Queued experiment 'alpha-beta' for future execution.\nQueued experiment 'gamma-delta' for future execution.\n"
    calls = []

    def fake_run(args, check=True):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout=printed, stderr="")

    monkeypatch.setattr(sweep, "run_command", fake_run)
    grid = Grid("g", ("train.seed=1,2",))

    runs = sweep.queue_grid(grid, expand(grid.overrides))

    assert calls == [["dvc", "exp", "run", "--queue", "-S", "train.seed=1,2"]]
    assert [(run.name, run.overrides) for run in runs] == [
        ("alpha-beta", ["train.seed=1"]),
        ("gamma-delta", ["train.seed=2"]),
    ]
    with pytest.raises(PipelineError, match="expected 3 queued"):
        sweep.queue_grid(grid, expand(["train.seed=1,2,3"]))


@pytest.mark.parametrize(
    ("states", "interval"),
    [
        ({"a": "Running", "b": "Running", "c": "Queued"}, 10.0),  # every worker busy: poll gently
        ({"a": "Running", "b": "Running", "c": "Success"}, 10.0),
        ({"a": "Running", "b": "Success", "c": "Success"}, 3.0),  # a core is idle: polls are free
    ],
)
def test_polls_are_gentle_while_every_worker_is_busy(states, interval):
    from src.experiments.sweep import poll_interval

    assert poll_interval(states, jobs=2, poll=10.0) == interval
