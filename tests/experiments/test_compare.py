"""The experiment tables: one per model family, best first, only the parameters that vary in it."""

from __future__ import annotations

from pathlib import Path

from src.experiments.compare import family_tables, plots_diff_args, varying_params
from src.experiments.selection import Experiment, ExperimentTable
from src.params import load_params
from src.sandbox import REPO_ROOT

LR = "train.hist_gradient_boosting.learning_rate"
C = "train.logistic_regression.C"
METRICS_FILE = "metrics/evaluate/metrics.json"


def row(name: str, validation: float, state: str = "success", **params) -> Experiment:
    base = {"train.model": "hist_gradient_boosting", LR: 0.1, C: 1.0, "train.seed": 2013}
    metrics = {"validation": {"roc_auc": validation}, "test": {"roc_auc": 0.5}} if state == "success" else {}
    return Experiment(name=name, rev=name, state=state, params={**base, **params}, metrics=metrics)


def make_table() -> ExperimentTable:
    return ExperimentTable(
        baseline=row("main", 0.70),
        experiments=[
            row("low", 0.71, **{LR: 0.05}),
            row("high", 0.74, **{LR: 0.2}),
            row("mid", 0.72, **{LR: 0.15}),
            row("bad", 0.0, "failed", **{LR: 9.0}),
            # the other family, with a value of the first family's section that it never reads
            row("lr-a", 0.66, **{"train.model": "logistic_regression", C: 0.1, LR: 0.3}),
            row("lr-b", 0.67, **{"train.model": "logistic_regression", C: 10.0, LR: 0.3}),
        ],
        metrics_file=METRICS_FILE,
    )


def tables_by_family(lines: list[str]) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for line in lines:
        if line.startswith("#### "):
            current = found.setdefault(line, [])
        elif line.startswith("|") and not set(line) <= set("|:- "):
            current.append([cell.strip() for cell in line.strip("|").split("|")])
    return found


def test_only_parameters_that_vary_among_the_rows_given_are_columns():
    table = make_table()
    assert varying_params([table.baseline, *table.experiments[:3]]) == [LR]


def test_one_table_per_family_best_first_with_only_its_own_varying_parameters():
    params = load_params(REPO_ROOT / "params.yaml")
    tables = tables_by_family(family_tables(make_table(), params))
    gradient = tables["#### train.model = hist_gradient_boosting (4 runs)"]
    linear = tables["#### train.model = logistic_regression (2 runs)"]
    metric = params.select.metric
    assert gradient[0][:3] == ["Experiment", f"validation.{metric}", f"test.{metric}"]
    assert gradient[0][-1] == "learning_rate"  # the family's section, named in the heading
    assert "C" not in gradient[0] and "train.seed" not in gradient[0]
    assert [cells[0] for cells in gradient[1:]] == ["high", "mid", "low", "main (baseline)"]  # failed: absent
    assert linear[0][-1] == "C" and "learning_rate" not in linear[0]  # varies overall, unused here
    assert [cells[0] for cells in linear[1:]] == ["lr-b", "lr-a"]
    assert max(len(line) for line in family_tables(make_table(), params)) < 140


def test_plots_compare_the_baseline_with_the_top_experiments():
    args = plots_diff_args(make_table(), "roc_auc", top=2, out=Path("reports/sweep-plots"))
    assert args == ["dvc", "plots", "diff", "HEAD", "high", "mid", "--out", "reports/sweep-plots"]
