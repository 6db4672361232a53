"""The experiment table of this commit (``make compare``), best validation score first.

DVC draws the table (``dvc exp show --md``); this module only chooses its columns (the
parameters that vary, the validation and test values of the selection metric and of
the gate's primary metrics) and its order, and writes ``dvc plots diff`` of the best
experiments.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from src import dvc
from src.core.params import LOWER_IS_BETTER
from src.core.stage import PipelineError
from src.experiments.selection import ExperimentTable, parse_exp_show, ranked
from src.params import Params

log = logging.getLogger("pipeline")

PLOTS_DIR = Path("reports/sweep-plots")


def varying_params(table: ExperimentTable) -> list[str]:
    """Parameters whose value differs between the baseline and its finished experiments."""
    rows = [table.baseline, *(e for e in table.experiments if e.state == "success")]
    keys = sorted(set().union(*(row.params for row in rows)))
    return [key for key in keys if len({json.dumps(row.params.get(key), sort_keys=True) for row in rows}) > 1]


def compare_metrics(params: Params) -> list[str]:
    """The selection metric first, then the gate's primary metrics."""
    return list(dict.fromkeys([params.select.metric, *params.gate.primary_metrics]))


def exp_show_args(table: ExperimentTable, params: Params) -> list[str]:
    """``dvc exp show`` keeping only the varying params and validation/test metrics, best first."""
    metric = params.select.metric
    metric_names = "|".join(re.escape(name) for name in compare_metrics(params))
    prefix = f"({re.escape(table.metrics_file)}:)?" if table.metrics_file else ""
    # No "State": DVC leaves it empty for --temp runs, and only finished experiments are shown.
    columns = ["Experiment", f"{prefix}(validation|test)\\.({metric_names})"]
    columns += [f"(params\\.yaml:)?{re.escape(key)}" for key in varying_params(table)]
    args = [
        "dvc",
        "exp",
        "show",
        "--md",
        "--no-pager",
        "--hide-workspace",
        "--hide-queued",
        "--hide-failed",
        "--precision",
        "4",
        "--drop",
        ".*",
        "--keep",
        f"^({'|'.join(columns)})$",
    ]
    if table.metrics_file:
        args += [
            "--sort-by",
            f"{table.metrics_file}:validation.{metric}",
            "--sort-order",
            "asc" if metric in LOWER_IS_BETTER else "desc",
        ]
    return args


def plots_diff_args(table: ExperimentTable, metric: str, top: int, out: Path) -> list[str]:
    """``dvc plots diff`` of the baseline and the ``top`` experiments by validation ``metric``."""
    best = [experiment.name for experiment in ranked(table.experiments, metric)[:top]]
    return ["dvc", "plots", "diff", "HEAD", *best, "--out", str(out)]


def print_table(params: Params, payload: list[dict] | None = None) -> ExperimentTable:
    """Print the table of this commit's finished experiments (from ``payload``, ``dvc exp show --json``)."""
    table = parse_exp_show(dvc.exp_show() if payload is None else payload, params.select.metric)
    print(dvc.run(exp_show_args(table, params)).stdout, flush=True)
    return table


def compare(params: Params, top: int, plots_dir: Path | None) -> None:
    """``make compare``: the table, then plots of the baseline and the ``top`` best experiments."""
    table = print_table(params)
    if not table.experiments:
        raise PipelineError("this commit has no experiments: run a sweep first (make sweep)")
    shown = ranked(table.experiments, params.select.metric)[:top]
    if plots_dir is not None and shown:
        dvc.run(plots_diff_args(table, params.select.metric, top, plots_dir))
        log.info(
            "plots of HEAD and %s (best on validation %s): %s",
            ", ".join(e.name for e in shown),
            params.select.metric,
            plots_dir / "index.html",
        )
