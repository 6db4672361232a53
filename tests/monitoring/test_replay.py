"""The replay's walk, tuning rule and files, on tiny hand-made months with a stand-in scorer.

The stand-in "fits" by remembering its window's mean of ``x`` (no model is trained), so
which window scored a month shows in its scores, and ``x`` predicts lateness.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.monitoring.decision import MonitorParams
from src.monitoring.replay import Result, candidates, choose, run_replay
from src.monitoring.replay_outputs import metrics_data, month_rows, write_outputs
from src.monitoring.replay_settings import ReplayParams, ThresholdGrid
from src.monitoring.walk import Replay, Step, month_metrics, split_months

LABEL = "is_late"
FEATURES = ["x", "carrier"]
MONITOR = MonitorParams(seasonal_features=[], bins=4)
SETTINGS = ReplayParams(initial_months=2, tuning_months=2, bootstrap_samples=20)


def flights(months: int = 7, per_month: int = 60, shift: dict[int, float] | None = None) -> pd.DataFrame:
    """``per_month`` flights a month from January 2013; ``shift`` moves ``x`` in some months."""
    rng = np.random.default_rng(7)
    parts = []
    for month in range(1, months + 1):
        x = rng.normal(size=per_month) + (shift or {}).get(month, 0.0)
        late = (x + rng.normal(scale=0.8, size=per_month) > 0.6).astype("int8")
        parts.append(
            pd.DataFrame(
                {
                    "date": pd.Timestamp(2013, month, 1)
                    + pd.to_timedelta(np.arange(per_month) % 28, unit="D"),
                    "x": x,
                    "carrier": np.where(np.arange(per_month) % 3 == 0, "AA", "UA"),
                    LABEL: late,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


class StandIn:
    """Counts its fits; scores are a logistic of ``x`` centred on the window's mean of ``x``."""

    def __init__(self) -> None:
        self.windows: list[tuple[str, str]] = []

    def __call__(self, train: pd.DataFrame, reference: pd.DataFrame):
        self.windows.append((f"{train['date'].min():%Y-%m}", f"{train['date'].max():%Y-%m}"))
        centre = float(train["x"].mean())
        return lambda frame: 1 / (1 + np.exp(-(frame["x"].to_numpy() - centre)))


def replay_of(frame: pd.DataFrame, settings: ReplayParams = SETTINGS, fit=None) -> Replay:
    return Replay(split_months(frame, settings), LABEL, FEATURES, fit or StandIn(), MONITOR, settings)


def test_windows_expand_from_the_first_month_or_move_with_a_fixed_length():
    expanding = replay_of(flights())
    moving = replay_of(flights(), SETTINGS.model_copy(update={"window": "moving"}))
    assert [expanding.window_ending(last) for last in (1, 3, 5)] == [(0, 1), (0, 3), (0, 5)]
    assert [moving.window_ending(last) for last in (1, 3, 5)] == [(0, 1), (2, 3), (4, 5)]
    # live months 3..6: the first model (0-1), then one ending before each month but the last
    assert expanding.windows([3, 4, 5, 6]) == [(0, 1), (0, 2), (0, 3), (0, 4)]


def test_never_keeps_the_first_model_and_every_month_scores_with_the_model_of_two_months_before():
    replay = replay_of(flights())
    live = [3, 4, 5, 6]
    never = replay.walk(live, None)
    every = replay.walk(live, None, every_month=True)
    assert [step.window for step in never] == [(0, 1)] * 4 and not any(step.retrain for step in never)
    # a retrain at the end of month m learns up to m - 1, is measured on m, scores from m + 1
    assert [step.window for step in every] == [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert [step.retrain for step in every] == [True, True, True, False]  # no model after the last


def test_a_window_is_fitted_once_whichever_strategy_or_candidate_asks():
    fit = StandIn()
    replay = replay_of(flights(), fit=fit)
    result = run_replay(replay)
    assert len(fit.windows) == len(set(fit.windows)) == result.fits
    assert fit.windows[0] == ("2013-01", "2013-02")  # initial_months = 2


def test_the_policy_retrains_on_a_shifted_month_and_keeps_on_a_month_like_its_window():
    settings = SETTINGS.model_copy(update={"grid": ThresholdGrid(max_model_age_days=[365])})
    replay = replay_of(flights(shift={5: 3.0}), settings)
    policy = candidates(MONITOR, settings)[0]
    steps = replay.walk([3, 4, 5, 6], policy)
    by_month = {step.month: step for step in steps}
    assert by_month[3].decision.verdict == "keep"
    shifted = by_month[4]  # May: index 4
    assert shifted.decision.verdict == "retrain" and shifted.retrain
    assert any(reason.startswith("data drift") and "x (PSI" in reason for reason in shifted.decision.reasons)
    assert by_month[5].window == (0, 3)


def test_the_rule_takes_the_best_then_the_fewest_retrains_within_the_tolerance_then_grid_order():
    def walk(*pairs: tuple[float, bool]) -> list[Step]:
        return [Step(i, (0, 0), {"roc_auc": auc}, None, retrain) for i, (auc, retrain) in enumerate(pairs)]

    tuned = [
        (MONITOR, walk((0.70, True), (0.72, False))),  # mean 0.710, 1 retrain
        (MONITOR, walk((0.70, True), (0.74, False))),  # mean 0.720, the best, 1 retrain
        (MONITOR, walk((0.70, False), (0.73, False))),  # mean 0.715, within 0.005, 0 retrains
        (MONITOR, walk((0.71, False), (0.72, False))),  # mean 0.715, the same: later in the grid
    ]
    assert choose(tuned, tolerance=0.005) == 2
    assert choose(tuned, tolerance=0.0) == 1


def test_the_grid_is_every_combination_in_order_and_changes_nothing_else():
    options = candidates(MONITOR, SETTINGS)
    grid = SETTINGS.grid
    assert len(options) == len(grid.score_psi_limit) * len(grid.roc_auc_drop) * len(grid.max_model_age_days)
    first, last = options[0], options[-1]
    assert (first.score_psi_limit, first.max_performance_drop["roc_auc"], first.max_model_age_days) == (
        grid.score_psi_limit[0], grid.roc_auc_drop[0], grid.max_model_age_days[0],
    )  # fmt: skip
    assert last.max_model_age_days == grid.max_model_age_days[-1] and last.psi_limit == MONITOR.psi_limit


def mann_whitney_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the share of (late, on-time) pairs ranked right, ties counting half."""
    late, on_time = scores[labels == 1], scores[labels == 0]
    wins = (late[:, None] > on_time[None, :]).sum() + 0.5 * (late[:, None] == on_time[None, :]).sum()
    return float(wins / (len(late) * len(on_time)))


def test_monthly_roc_auc_is_the_share_of_pairs_ranked_right_and_one_class_is_refused():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * labels, 2)  # rounded: ties too
    assert month_metrics(labels, scores, "2013-05")["roc_auc"] == pytest.approx(
        mann_whitney_auc(labels, scores)
    )
    with pytest.raises(PipelineError, match="month 2013-05: its flights are all of one class"):
        month_metrics(np.ones(10, dtype=int), rng.random(10), "2013-05")


def test_too_few_months_name_the_parameters():
    with pytest.raises(
        PipelineError, match=r"3 month\(s\), but replay.initial_months = 2.*replay.tuning_months = 2"
    ):
        split_months(flights(months=3), SETTINGS)


def test_the_files_hold_one_row_per_live_month_and_means_of_the_monthly_values(tmp_path: Path):
    result: Result = run_replay(replay_of(flights(shift={5: 3.0})))
    rows = month_rows(result)
    assert [row["month"] for row in rows] == ["2013-04", "2013-05", "2013-06", "2013-07"]
    assert [row["phase"] for row in rows] == ["tuning", "tuning", "test", "test"]
    metrics = metrics_data(result)
    for name in ("never", "policy", "every_month"):
        test_rows = [row[f"roc_auc_{name}"] for row in rows if row["phase"] == "test"]
        assert metrics["test"][name]["roc_auc"] == pytest.approx(np.mean(test_rows), abs=1e-6)
    assert metrics["all"]["never"]["retrains"] == 0
    assert metrics["all"]["every_month"]["retrains"] == len(rows) - 1
    write_outputs(result, tmp_path / "replay")
    first = {path.name: path.read_bytes() for path in (tmp_path / "replay").rglob("*") if path.is_file()}
    write_outputs(run_replay(replay_of(flights(shift={5: 3.0}))), tmp_path / "replay")
    again = {path.name: path.read_bytes() for path in (tmp_path / "replay").rglob("*") if path.is_file()}
    assert set(first) == {"metrics.json", "months.json", "thresholds.json", "roc_auc.png"} and first == again
    assert len(json.loads(first["thresholds.json"])["candidates"]) == len(candidates(MONITOR, SETTINGS))
