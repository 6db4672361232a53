"""The experiment table of this commit (``make compare``), best validation score first.

The rows are DVC's (``dvc exp show --json``: the commit and its finished experiments);
this module chooses the columns and the order, one table per model family
(``train.model``): the validation and test values of the selection metric and of the
gate's primary metrics, then only the parameters that vary within that family, never
the other family's unused ones. It writes ``dvc plots diff`` of the best experiments.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from src import dvc
from src.core.stage import PipelineError
from src.experiments.selection import Experiment, ExperimentTable, parse_exp_show, ranked
from src.params import Params
from src.review.markdown import format_value, table

log = logging.getLogger("pipeline")

PLOTS_DIR = Path("reports/sweep-plots")
FAMILY_KEY = "train.model"
SPLITS = ("validation", "test")


def finished_rows(experiments: ExperimentTable) -> list[Experiment]:
    """The baseline commit and its experiments that finished."""
    return [experiments.baseline, *(e for e in experiments.experiments if e.state == "success")]


def varying_params(rows: list[Experiment]) -> list[str]:
    """Parameters whose value differs between ``rows``."""
    keys = sorted(set().union(*(row.params for row in rows)))
    return [key for key in keys if len({json.dumps(row.params.get(key), sort_keys=True) for row in rows}) > 1]


def family_params(keys: list[str], family: str, families: set[str]) -> list[str]:
    """``keys`` less the family choice itself and the sections of the other model families."""
    others = tuple(f"train.{name}." for name in families if name != family)
    return [key for key in keys if key != FAMILY_KEY and not key.startswith(others)]


def compare_metrics(params: Params) -> list[str]:
    """The selection metric first, then the gate's primary metrics."""
    return list(dict.fromkeys([params.select.metric, *params.gate.primary_metrics]))


def ranked_first(rows: list[Experiment], metric: str) -> list[Experiment]:
    """Best validation ``metric`` first (:func:`ranked`), then any row without it."""
    ordered = ranked(rows, metric)
    return ordered + [row for row in rows if row not in ordered]


def family_tables(experiments: ExperimentTable, params: Params) -> list[str]:
    """Markdown: per model family, its experiments best first, with the params that vary in it."""
    rows = finished_rows(experiments)
    families: dict[str, list[Experiment]] = {}
    for row in rows:
        families.setdefault(str(row.params.get(FAMILY_KEY, "?")), []).append(row)
    metrics = compare_metrics(params)
    lines: list[str] = []
    for family, members in families.items():
        keys = family_params(varying_params(members), family, set(families))
        # The heading names the family: its section's keys are shown without the prefix.
        labels = [key.removeprefix(f"train.{family}.") for key in keys]
        headers = ["Experiment", *(f"{split}.{m}" for m in metrics for split in SPLITS), *labels]
        body = [
            [
                f"{row.name} (baseline)" if row is experiments.baseline else row.name,
                *(format_value(row.score(m, split)) for m in metrics for split in SPLITS),
                *(format_value(row.params.get(key)) for key in keys),
            ]
            for row in ranked_first(members, params.select.metric)
        ]
        count = f"{len(members)} run{'s' if len(members) != 1 else ''}"
        lines += [
            f"#### {FAMILY_KEY} = {family} ({count})",
            "",
            *table(body, headers, "l" + "r" * (len(headers) - 1)),
            "",
        ]
    return lines


def plots_diff_args(table: ExperimentTable, metric: str, top: int, out: Path) -> list[str]:
    """``dvc plots diff`` of the baseline and the ``top`` experiments by validation ``metric``."""
    best = [experiment.name for experiment in ranked(table.experiments, metric)[:top]]
    return ["dvc", "plots", "diff", "HEAD", *best, "--out", str(out)]


def print_table(params: Params, payload: list[dict] | None = None) -> ExperimentTable:
    """Print the tables of this commit's finished experiments (from ``payload``, ``dvc exp show --json``)."""
    experiments = parse_exp_show(dvc.exp_show() if payload is None else payload, params.select.metric)
    print("\n".join(family_tables(experiments, params)), flush=True)
    return experiments


def compare(params: Params, top: int, plots_dir: Path | None) -> None:
    """``make compare``: the tables, then plots of the baseline and the ``top`` best experiments."""
    experiments = print_table(params)
    if not experiments.experiments:
        raise PipelineError("this commit has no experiments: run a sweep first (make sweep)")
    shown = ranked(experiments.experiments, params.select.metric)[:top]
    if plots_dir is not None and shown:
        dvc.run(plots_diff_args(experiments, params.select.metric, top, plots_dir))
        log.info(
            "plots of HEAD and %s (best on validation %s): %s",
            ", ".join(e.name for e in shown),
            params.select.metric,
            plots_dir / "index.html",
        )
