"""Selection of a sweep's best experiment from ``dvc exp show --json`` (no DVC run here)."""

from __future__ import annotations

import random

import pytest

from src.core.stage import PipelineError
from src.experiments.promote import commit_message
from src.experiments.selection import (
    changed_params,
    experiment_state,
    find_metrics_file,
    is_improvement,
    parse_exp_show,
    ranked,
    select_best,
)

EVALUATE_METRICS = "metrics/evaluate/metrics.json"
TRAIN_METRICS = "metrics/train/metrics.json"


def rev_data(rev: str, learning_rate: float, validation: dict, test: dict) -> dict:
    """One revision as ``dvc exp show --json`` nests it: params and metrics per file."""
    return {
        "rev": rev,
        "data": {
            "rev": rev,
            "params": {
                "params.yaml": {
                    "data": {
                        "train": {
                            "model": "hist_gradient_boosting",
                            "seed": 2013,
                            "hist_gradient_boosting": {"learning_rate": learning_rate},
                        }
                    }
                }
            },
            "metrics": {
                # The training curve also logs a validation loss: it must not be mistaken
                # for the evaluation metrics.
                TRAIN_METRICS: {"data": {"validation": {"log_loss": 0.1}, "train": {"log_loss": 0.1}}},
                EVALUATE_METRICS: {"data": {"validation": validation, "test": test, "threshold": 0.3}},
            },
        },
        "error": None,
    }


def experiment(name: str, state: str | None, learning_rate: float, validation: dict, test: dict) -> dict:
    executor = {"state": state, "name": "dvc-task", "local": None} if state else None
    revision = rev_data(f"{name}-rev", learning_rate, validation, test)
    if state == "failed":
        revision["error"] = {"msg": "Experiment run failed", "type": ""}
    return {"name": name, "executor": executor, "revs": [revision]}


def payload(experiments: list[dict], baseline_validation: dict | None = None) -> list[dict]:
    baseline = rev_data(
        "base-rev",
        0.1,
        baseline_validation or {"roc_auc": 0.70, "log_loss": 0.40},
        {"roc_auc": 0.71, "log_loss": 0.50},
    )
    workspace = rev_data("workspace", 0.1, {"roc_auc": 0.0}, {"roc_auc": 0.0})
    return [
        {"rev": "workspace", "name": None, **workspace},
        {"name": "main", **baseline, "experiments": experiments},
    ]


@pytest.fixture
def sweep_payload() -> list[dict]:
    """Validation and test disagree: 'valwin' wins on validation, 'testwin' on test.

    A failed experiment carries its baseline's files, here made to look best on every
    metric, and a queued one has no result yet: neither may ever be selected.
    """
    return payload(
        [
            experiment(
                "testwin",
                "success",
                0.2,
                {"roc_auc": 0.72, "log_loss": 0.39},
                {"roc_auc": 0.80, "log_loss": 0.45},
            ),
            experiment(
                "valwin",
                "success",
                0.05,
                {"roc_auc": 0.75, "log_loss": 0.41},
                {"roc_auc": 0.69, "log_loss": 0.52},
            ),
            experiment(
                "broken",
                "failed",
                9.0,
                {"roc_auc": 0.99, "log_loss": 0.01},
                {"roc_auc": 0.99, "log_loss": 0.01},
            ),
            experiment(
                "waiting",
                "queued",
                0.3,
                {"roc_auc": 0.98, "log_loss": 0.02},
                {"roc_auc": 0.98, "log_loss": 0.02},
            ),
            experiment(
                "foreground",
                None,
                0.15,
                {"roc_auc": 0.73, "log_loss": 0.42},
                {"roc_auc": 0.70, "log_loss": 0.50},
            ),
        ]
    )


def test_selection_uses_validation_not_test(sweep_payload):
    table = parse_exp_show(sweep_payload, "roc_auc")

    best = select_best(table.experiments, "roc_auc")

    assert best.name == "valwin"
    by_test = max(
        (e for e in table.experiments if e.state == "success"), key=lambda e: e.score("roc_auc", "test")
    )
    assert by_test.name == "testwin"  # the case is one where the two choices differ


def test_lower_is_better_metrics_rank_ascending(sweep_payload):
    table = parse_exp_show(sweep_payload, "log_loss")

    assert [e.name for e in ranked(table.experiments, "log_loss")] == ["testwin", "valwin", "foreground"]
    assert select_best(table.experiments, "log_loss").name == "testwin"


def test_failed_and_queued_experiments_are_never_candidates(sweep_payload):
    table = parse_exp_show(sweep_payload, "roc_auc")

    states = {e.name: e.state for e in table.experiments}
    assert states == {
        "testwin": "success",
        "valwin": "success",
        "broken": "failed",
        "waiting": "queued",
        "foreground": "success",
    }
    assert {e.name for e in ranked(table.experiments, "roc_auc")} == {"testwin", "valwin", "foreground"}
    assert next(e for e in table.experiments if e.name == "broken").metrics == {}


def test_ties_are_broken_by_name_whatever_the_listing_order():
    tied = [
        experiment(name, "success", rate, {"roc_auc": 0.74}, {"roc_auc": test})
        for name, rate, test in (("cedar", 0.1, 0.9), ("aspen", 0.2, 0.6), ("birch", 0.3, 0.7))
    ]
    winners = set()
    for seed in range(6):
        shuffled = tied[:]
        random.Random(seed).shuffle(shuffled)
        winners.add(select_best(parse_exp_show(payload(shuffled), "roc_auc").experiments, "roc_auc").name)
    assert winners == {"aspen"}


def test_no_finished_experiment_is_an_error_naming_the_states():
    table = parse_exp_show(
        payload([experiment("broken", "failed", 9.0, {"roc_auc": 0.9}, {"roc_auc": 0.9})]), "roc_auc"
    )

    with pytest.raises(PipelineError, match="broken: failed"):
        select_best(table.experiments, "roc_auc")


def test_evaluation_metrics_file_is_found_by_its_splits():
    files = {
        TRAIN_METRICS: {"validation": {"log_loss": 0.3}, "train": {"log_loss": 0.2}},
        EVALUATE_METRICS: {"validation": {"log_loss": 0.4}, "test": {"log_loss": 0.5}},
    }
    assert find_metrics_file(files, "log_loss") == EVALUATE_METRICS
    assert find_metrics_file(files, "brier") is None


def test_experiment_state_without_executor_comes_from_the_error():
    assert experiment_state({"executor": None, "revs": [{"error": None}]}) == "success"
    assert experiment_state({"executor": None, "revs": [{"error": {"msg": "x"}}]}) == "failed"
    assert experiment_state({"executor": {"state": "running"}, "revs": [{"error": None}]}) == "running"


@pytest.mark.parametrize(
    ("metric", "candidate", "reference", "better"),
    [
        ("roc_auc", 0.71, 0.70, True),
        ("roc_auc", 0.70, 0.70, False),  # a tie does not justify a new commit
        ("log_loss", 0.39, 0.40, True),
        ("log_loss", 0.41, 0.40, False),
        ("brier", 0.2, None, True),
    ],
)
def test_improvement_respects_the_metric_direction(metric, candidate, reference, better):
    assert is_improvement(candidate, reference, metric) is better


def test_commit_message_states_the_evidence_and_the_changes(sweep_payload):
    table = parse_exp_show(sweep_payload, "roc_auc")
    best = select_best(table.experiments, "roc_auc")

    message = commit_message(best, table.baseline, "roc_auc")

    assert message.splitlines()[0] == "Promote experiment valwin: validation roc_auc 0.75 (was 0.7)"
    assert "train.hist_gradient_boosting.learning_rate: 0.1 -> 0.05" in message
    assert "test metrics played no part" in message
    assert changed_params(best, table.baseline) == {"train.hist_gradient_boosting.learning_rate": (0.1, 0.05)}


def test_experiment_params_are_flat_and_lists_stay_values():
    revision = rev_data("r1", 0.05, {"roc_auc": 0.7}, {"roc_auc": 0.7})
    revision["data"]["params"]["params.yaml"]["data"]["train"]["feature_groups"] = ["calendar", "weather"]

    table = parse_exp_show(payload([{"name": "lists", "executor": None, "revs": [revision]}]), "roc_auc")

    (row,) = table.experiments
    assert row.params["train.feature_groups"] == ["calendar", "weather"]
    assert row.params["train.hist_gradient_boosting.learning_rate"] == 0.05
    assert "train.feature_groups.0" not in row.params
