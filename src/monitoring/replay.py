"""Stage ``replay``: the data's year walked month by month as if live, under three retrain strategies.

``python -m src.monitoring.replay data/features/flights.parquet metrics/replay``

The first model learns from the first ``replay.initial_months`` months. Every fit is
measured on the month after its window, its *reference month* (the pipeline's validation
and test periods in one): its scores there are the prediction-drift reference, its ROC AUC
there the performance base, its window the data-drift reference. So a retrain decided at
the end of month ``m`` learns from the months up to ``m - 1`` and is measured on ``m``; it
scores from month ``m + 1``. Each later (*live*) month is scored by the model in service,
measured as the monitor measures a drop (:mod:`src.monitoring.findings`: data and score
drift on arrival, performance once the outcomes are in, age) and decided on
(:func:`src.monitoring.decision.decide`). Three strategies walk the same months: never
retrain, the policy, retrain every month. A fit is keyed by its window (``replay.window``:
moving or expanding) and made once, whichever strategy asks for it.

The policy's thresholds are chosen on the first ``replay.tuning_months`` live months only,
by the rule stated in :class:`src.monitoring.replay_settings.ReplayParams`; the months after
them are the honest test. The walk and the choice are here (pure, the model fitting passed
in); the files are written by :mod:`src.monitoring.replay_outputs`.
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict

from src.core.params import ParamsSection, load_params, parse_with, read_params_file
from src.core.stage import run_stage
from src.monitoring.decision import MonitorParams
from src.monitoring.findings import Findings
from src.monitoring.replay_settings import ReplayParams
from src.monitoring.walk import Replay, Step, Window, month_name, split_months

log = logging.getLogger("pipeline")

STRATEGIES = ("never", "policy", "every_month")


def candidates(monitor: MonitorParams, settings: ReplayParams) -> list[MonitorParams]:
    """The monitor's thresholds with each combination of the grid, in the grid's order."""
    grid = settings.grid
    return [
        monitor.model_copy(
            update={
                "score_psi_limit": psi,
                "max_performance_drop": {**monitor.max_performance_drop, "roc_auc": drop},
                "max_model_age_days": age,
            }
        )
        for psi, drop, age in itertools.product(
            grid.score_psi_limit, grid.roc_auc_drop, grid.max_model_age_days
        )
    ]


def mean_metric(steps: Sequence[Step], metric: str = "roc_auc") -> float:
    return float(np.mean([step.metrics[metric] for step in steps]))


def retrains(steps: Sequence[Step]) -> int:
    return sum(step.retrain for step in steps)


def choose(tuned: Sequence[tuple[MonitorParams, list[Step]]], tolerance: float) -> int:
    """The rule: best mean ROC AUC; within ``tolerance`` of it, fewest retrains; then grid order."""
    best = max(mean_metric(steps) for _, steps in tuned)
    eligible = [i for i, (_, steps) in enumerate(tuned) if mean_metric(steps) >= best - tolerance]
    return min(eligible, key=lambda i: (retrains(tuned[i][1]), i))


@dataclass(frozen=True)
class Result:
    months: list[pd.DataFrame]
    live: list[int]
    tuning: list[int]
    walks: dict[str, list[Step]]
    #: Every candidate: its thresholds, its walk over the tuning months and over every live month.
    grid: list[tuple[MonitorParams, list[Step], list[Step]]]
    chosen: int
    #: Every month measured against every model that scored it.
    findings: dict[tuple[Window, int], Findings]
    fits: int


def live_months(replay: Replay) -> list[int]:
    """The months after the first model's reference month."""
    return list(range(replay.settings.initial_months + 1, len(replay.months)))


def run_replay(replay: Replay) -> Result:
    """Tune the policy on the tuning months, then walk every strategy over every live month."""
    settings = replay.settings
    live = live_months(replay)
    tuning = live[: settings.tuning_months]
    options = candidates(replay.monitor, settings)
    tuned = [(params, replay.walk(tuning, params)) for params in options]
    chosen = choose(tuned, settings.tolerance)
    walks = {
        "never": replay.walk(live, None),
        "every_month": replay.walk(live, None, every_month=True),
        "policy": replay.walk(live, options[chosen]),
    }
    for step in walks["policy"]:
        log.info(
            "%s: %s (model %s to %s); ROC AUC never %.4f, policy %.4f, every month %.4f",
            month_name(replay.months[step.month]), step.decision.verdict if step.decision else "-",
            month_name(replay.months[step.window[0]]), month_name(replay.months[step.window[1]]),
            *(walks[name][live.index(step.month)].metrics["roc_auc"] for name in ("never", "policy", "every_month")),
        )  # fmt: skip
    grid = [(params, steps, replay.walk(live, params)) for params, steps in tuned]
    return Result(replay.months, live, tuning, walks, grid, chosen, replay.measured, replay.fitted)


class ReplaySections(ParamsSection):
    """The sections the stage reads besides ``train`` (the others are their stages' and tools')."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    monitor: MonitorParams = MonitorParams()
    replay: ReplayParams = ReplayParams()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.monitoring.replay",
        description="Replay the data's months as if live: never retrain, the monitor's policy (thresholds "
        "tuned on the first live months), retrain every month; write the month table, metrics and plot.",
    )
    parser.add_argument("features", type=Path, help="featurized flights (data/features/flights.parquet)")
    parser.add_argument("out_dir", type=Path, help="metrics, month table and plot (metrics/replay)")
    args = parser.parse_args()

    from src.monitoring.replay_outputs import write_outputs
    from src.stages.train import LABEL, feature_columns, fit_model, fixed_thread_count

    train = load_params().train
    sections = parse_with(ReplaySections, read_params_file())
    # Seasonal names that are not features (a sweep without the weather group) are ignored:
    # the decision counts only the model's features.
    columns = feature_columns(train.feature_groups)

    # The fits run on train.n_threads Python threads with one OpenMP thread each (as
    # evaluate scores): small windows keep every core busy, and the scores are the same
    # bits whatever the thread count. No model is saved, so none records a thread count.
    single = train.model_copy(update={"n_threads": 1})

    def fit(flights: pd.DataFrame, reference: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
        model: Any = fit_model(single, flights, reference)

        def score(frame: pd.DataFrame) -> np.ndarray:
            with fixed_thread_count(train.n_threads):
                return model.predict_proba(frame[columns])[:, 1]

        return score

    features = pd.read_parquet(args.features, columns=["date", *columns, LABEL])
    months = split_months(features, sections.replay)
    replay = Replay(months, LABEL, columns, fit, sections.monitor, sections.replay)
    with fixed_thread_count(1), ThreadPoolExecutor(train.n_threads) as pool:
        replay.prefit(replay.windows(live_months(replay)), pool.map)
    write_outputs(run_replay(replay), args.out_dir)


if __name__ == "__main__":
    run_stage("replay", main)
