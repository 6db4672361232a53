"""The experiment table's columns and order, and the plots of the best experiments."""

from __future__ import annotations

import re
from pathlib import Path

from src.experiments.compare import exp_show_args, plots_diff_args, varying_params
from src.experiments.selection import Experiment, ExperimentTable
from src.params import load_params
from src.sandbox import REPO_ROOT

LR = "train.hist_gradient_boosting.learning_rate"
METRICS_FILE = "metrics/evaluate/metrics.json"


def make_table() -> ExperimentTable:
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
        metrics_file=METRICS_FILE,
    )


def test_only_parameters_that_vary_among_finished_experiments_are_columns():
    assert varying_params(make_table()) == [LR]


def test_exp_show_keeps_useful_columns_sorted_by_the_validation_metric():
    params = load_params(REPO_ROOT / "params.yaml")
    args = exp_show_args(make_table(), params)

    keep = re.compile(args[args.index("--keep") + 1])
    metric = params.select.metric
    kept = [
        "Experiment",
        f"validation.{metric}",
        f"test.{metric}",
        LR,
        f"{METRICS_FILE}:validation.{metric}",
    ]
    dropped = [
        "State",  # empty for --temp runs
        "train.seed",
        f"metrics/train/metrics.json:validation.{metric}",
        f"carrier.9E.{metric}",
        "Created",
    ]
    assert all(keep.match(column) for column in kept)
    assert not any(keep.match(column) for column in dropped)
    assert args[args.index("--sort-by") + 1] == f"{METRICS_FILE}:validation.{metric}"
    assert args[args.index("--sort-order") + 1] == ("asc" if metric in {"log_loss", "brier"} else "desc")


def test_plots_compare_the_baseline_with_the_top_experiments():
    args = plots_diff_args(make_table(), "roc_auc", top=2, out=Path("reports/sweep-plots"))
    assert args == ["dvc", "plots", "diff", "HEAD", "high", "mid", "--out", "reports/sweep-plots"]
