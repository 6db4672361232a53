"""The replay's walk through the months: fits keyed by window, months measured as drops (pure).

See :mod:`src.monitoring.replay` for what the replay is. A fit learns from a window of
months and is measured on the month after it (its reference month); every fit, score and
measurement is made once, whichever strategy or candidate threshold asks for it. Fitting
is passed in (:data:`FitFunction`), so tests walk tiny frames with a stand-in scorer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from src.core.stage import PipelineError
from src.monitoring.decision import Decision, MonitorParams
from src.monitoring.drift import FeatureProfile, profile_reference, score_profile
from src.monitoring.findings import Findings, PerformanceBase, measure
from src.monitoring.replay_settings import ReplayParams

log = logging.getLogger("pipeline")

Window = tuple[int, int]  # first and last month (indices) a fit learns from
#: A fitted model's scores (probability of late) for a frame of flights.
Scorer = Callable[[pd.DataFrame], np.ndarray]
#: Fits a model on (training flights, reference-month flights); returns its scorer.
FitFunction = Callable[[pd.DataFrame, pd.DataFrame], Scorer]


@dataclass(frozen=True)
class Fit:
    """A model fitted on a window, with the reference the monitor would read for it."""

    window: Window
    score: Scorer
    profiles: dict[str, FeatureProfile]
    score_reference: FeatureProfile
    base: PerformanceBase
    train_end: pd.Timestamp


@dataclass(frozen=True)
class Step:
    """One live month of one strategy's walk."""

    month: int
    window: Window
    metrics: dict[str, float]
    #: The monitor's decision on the month (the policy's walk only).
    decision: Decision | None
    #: Whether a new model takes over from the next month.
    retrain: bool


class Replay:
    """The months, and every fit, score and measurement made of them, each made once."""

    def __init__(
        self,
        months: Sequence[pd.DataFrame],
        label: str,
        features: list[str],
        fit: FitFunction,
        monitor: MonitorParams,
        settings: ReplayParams,
    ) -> None:
        self.months, self.label, self.features = list(months), label, features
        self.fit_function, self.monitor, self.settings = fit, monitor, settings
        self._fits: dict[Window, Fit] = {}
        self._scores: dict[tuple[Window, int], np.ndarray] = {}
        self._findings: dict[tuple[Window, int], Findings] = {}
        self._metrics: dict[tuple[Window, int], dict[str, float]] = {}

    @property
    def measured(self) -> dict[tuple[Window, int], Findings]:
        """Every (window, month) measured so far."""
        return dict(self._findings)

    @property
    def fitted(self) -> int:
        return len(self._fits)

    def window_ending(self, last: int) -> Window:
        first = 0 if self.settings.window == "expanding" else max(0, last - self.settings.initial_months + 1)
        return first, last

    def training_frames(self, window: Window) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The window's flights and its reference month's."""
        first, last = window
        return pd.concat(self.months[first : last + 1], ignore_index=True), self.months[last + 1]

    def windows(self, live: Sequence[int]) -> list[Window]:
        """Every window a walk over ``live`` may fit: the first model's, and one ending before each month."""
        first = self.window_ending(self.settings.initial_months - 1)
        return list(dict.fromkeys([first, *(self.window_ending(month - 1) for month in live[:-1])]))

    def prefit(self, windows: Sequence[Window], run: Callable[..., Iterable[Scorer]] = map) -> None:
        """Fit ``windows`` up front; ``run`` maps the fitting over them (a thread pool's ``map``)."""
        pending = [window for window in windows if window not in self._fits]

        def fit_one(window: Window) -> Scorer:
            flights, reference = self.training_frames(window)
            log.info(
                "fitting on %s to %s (%d flights), reference %s",
                month_name(self.months[window[0]]), month_name(self.months[window[1]]), len(flights),
                month_name(reference),
            )  # fmt: skip
            return self.fit_function(flights, reference)

        for window, score in zip(pending, run(fit_one, pending), strict=True):
            self._fits[window] = self.reference(window, score)

    def reference(self, window: Window, score: Scorer) -> Fit:
        """What the monitor would read for the window's model: its window, its reference month."""
        flights, reference = self.training_frames(window)
        reference_scores = score(reference)
        labels = reference[self.label].to_numpy(dtype=np.int64)
        return Fit(
            window=window,
            score=score,
            profiles=profile_reference(flights, self.features, self.monitor.bins),
            score_reference=score_profile(reference_scores, self.monitor.bins),
            base=PerformanceBase(
                month_metrics(labels, reference_scores, month_name(reference)),
                (labels, reference_scores),
                self.settings.bootstrap_samples,
                self.settings.confidence,
                self.settings.seed,
                {},
            ),
            train_end=self.months[window[1]]["date"].max(),
        )

    def fit(self, window: Window) -> Fit:
        if window not in self._fits:
            self.prefit([window])
        return self._fits[window]

    def scores(self, window: Window, month: int) -> np.ndarray:
        """The window's model's scores of ``month``; every later month is scored in the same call."""
        if (window, month) not in self._scores:
            later = range(window[1] + 2, len(self.months))
            frames = [self.months[later_month] for later_month in later]
            scores = self.fit(window).score(pd.concat(frames, ignore_index=True))
            ends = np.cumsum([len(frame) for frame in frames])[:-1]
            for later_month, part in zip(later, np.split(scores, ends), strict=True):
                self._scores[window, later_month] = part
        return self._scores[window, month]

    def metrics(self, window: Window, month: int) -> dict[str, float]:
        if (window, month) not in self._metrics:
            frame = self.months[month]
            self._metrics[window, month] = month_metrics(
                frame[self.label].to_numpy(), self.scores(window, month), month_name(frame)
            )
        return self._metrics[window, month]

    def findings(self, window: Window, month: int) -> Findings:
        """The month measured as a drop against the window's model (KS left out: never decided on)."""
        if (window, month) not in self._findings:
            fit, frame = self.fit(window), self.months[month]
            scores = self.scores(window, month)
            labels = frame[self.label].to_numpy(dtype=np.int64)
            self._findings[window, month] = measure(
                fit.profiles,
                fit.score_reference,
                frame,
                scores,
                (labels, scores),
                fit.base,
                list(self.monitor.max_performance_drop),
                (frame["date"].max() - fit.train_end).days,
                with_ks=False,
            )
        return self._findings[window, month]

    def walk(
        self, live: Sequence[int], policy: MonitorParams | None, every_month: bool = False
    ) -> list[Step]:
        """One strategy over the ``live`` months: ``policy`` None and not ``every_month``: never retrain."""
        window, steps = self.window_ending(self.settings.initial_months - 1), []
        for position, month in enumerate(live):
            decision = None if policy is None else self.findings(window, month).decision(policy)
            wants = every_month or (decision is not None and decision.retrain)
            retrain = wants and position < len(live) - 1  # after the last month no model follows
            steps.append(Step(month, window, self.metrics(window, month), decision, retrain))
            if retrain:
                window = self.window_ending(month - 1)
        return steps


def month_name(frame: pd.DataFrame) -> str:
    return f"{frame['date'].iloc[0]:%Y-%m}"


def month_metrics(labels: np.ndarray, scores: np.ndarray, month: str) -> dict[str, float]:
    if len(np.unique(labels)) < 2:
        raise PipelineError(f"month {month}: its flights are all of one class, so ROC AUC is undefined")
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
    }


def split_months(features: pd.DataFrame, settings: ReplayParams) -> list[pd.DataFrame]:
    """The flights month by month, in order; an error when there are too few months."""
    by_month = [
        part.reset_index(drop=True) for _, part in features.groupby(features["date"].dt.to_period("M"))
    ]
    needed = settings.initial_months + 1 + settings.tuning_months + 1
    if len(by_month) < needed:
        raise PipelineError(
            f"replay: the data has {len(by_month)} month(s), but replay.initial_months = {settings.initial_months}, "
            f"a reference month and replay.tuning_months = {settings.tuning_months} leave no month to test on "
            f"(at least {needed} are needed)"
        )
    return by_month
