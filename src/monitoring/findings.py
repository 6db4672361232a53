"""Everything measured on one drop against one reference, before any threshold is applied (pure).

The monitor (:mod:`src.monitoring.monitor`) measures one drop and decides once; the
replay (:mod:`src.monitoring.replay`) measures each month against each model it may be
using and decides under several candidate thresholds. Both measure here, so a month of
the replay reads exactly as the monitor would read it as a drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.monitoring.decision import Decision, MonitorParams, decide
from src.monitoring.drift import FeatureDrift, FeatureProfile, data_drift, score_drift
from src.monitoring.performance import compare_with_test
from src.review.assessment import MetricChange


@dataclass(frozen=True)
class Findings:
    """Data drift, prediction drift, performance and age of one drop against one reference."""

    features: dict[str, FeatureDrift]
    scores: FeatureDrift
    #: None when the drop's outcomes are unknown (the reason is in ``not_assessed``).
    performance: list[MetricChange] | None
    age_days: int | None
    not_assessed: tuple[str, ...] = ()

    def decision(self, params: MonitorParams) -> Decision:
        """The ``monitor`` thresholds applied (:func:`src.monitoring.decision.decide`)."""
        return decide(self.features, self.scores, self.performance, self.age_days, params, self.not_assessed)


@dataclass(frozen=True)
class PerformanceBase:
    """What a drop's outcomes are compared with: the model's recorded metrics and the flights behind them."""

    metrics: Mapping[str, float]
    #: (labels, scores) of those flights; None leaves the change without an interval.
    sample: tuple[np.ndarray, np.ndarray] | None
    samples: int
    confidence: float
    seed: int
    #: The sample's bootstrap spread per metric, filled on first use (see compare_with_test).
    spreads: dict[str, tuple[float, int]]


def measure(
    profiles: Mapping[str, FeatureProfile],
    score_reference: FeatureProfile,
    features: pd.DataFrame,
    scores: np.ndarray,
    outcomes: tuple[np.ndarray, np.ndarray] | str,
    base: PerformanceBase,
    metrics: Sequence[str],
    age_days: int | None,
    with_ks: bool = True,
) -> Findings:
    """Measure a drop (``features``, the model's ``scores``) against a model's reference.

    ``outcomes``: (labels, scores) of the drop's flights that have a label (1 late, 0 not),
    or why there are none; ``metrics`` are compared with ``base`` when outcomes are known.
    """
    drifts = data_drift(profiles, features, with_ks)
    predictions = score_drift(score_reference, scores)
    if isinstance(outcomes, str):
        return Findings(drifts, predictions, None, age_days, (f"performance: not assessed ({outcomes})",))
    performance = compare_with_test(
        outcomes,
        base.sample,
        base.metrics,
        list(metrics),
        base.samples,
        base.confidence,
        base.seed,
        base.spreads,
    )
    return Findings(drifts, predictions, performance, age_days)
