"""Retrain or keep: the ``monitor`` thresholds of params.yaml applied to a drop's findings (pure).

Four checks, each one line in the report, each naming what it compared:

* **data drift**: a feature is beyond its limits when its PSI exceeds ``psi_limit``, its
  missing rate moved by more than ``max_missing_change``, or more than ``max_unseen_share``
  of its values are categories the reference never had; retrain when more than
  ``max_drifted_features`` features are. ``seasonal_features`` are reported but not
  counted: a month of them never looks like the training months together (their PSI on
  months *inside* the training period is already 1 to 5 for temperature and the days to a
  holiday; docs/monitoring.md), and what they do to the model shows in the scores;
* **prediction drift**: retrain when the scores' PSI exceeds ``score_psi_limit``;
* **performance** (outcomes known): retrain when a metric of ``max_performance_drop`` is
  worse than the model's test value by more than its limit and the interval of the change
  is entirely on the worse side (the gate's rule; without an interval the limit alone);
* **age**: retrain when the drop's last flight is more than ``max_model_age_days`` after the
  end of the training period (data time, so a replay of 2013 ages as the live run would).

What could not be assessed is listed, never guessed: it neither triggers nor prevents a retrain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from src.core.params import Fraction, MetricName, ParamsSection

if TYPE_CHECKING:  # the params check (src/params.py) must not load pandas and scipy
    from src.monitoring.drift import FeatureDrift
    from src.review.assessment import MetricChange

SEASONAL_FEATURES = [
    "month",
    "days_to_holiday",
    "temp",
    "dewp",
    "humid",
    "pressure",
    "wind_dir",
    "wind_speed",
    "wind_gust",
]


class MonitorParams(ParamsSection):
    """``monitor``: what ``python -m src.monitoring.monitor`` measures and when it says retrain."""

    #: Quantile bins of a numeric feature's reference (fewer when its values repeat).
    bins: Annotated[int, Field(ge=2, le=100)] = 10
    psi_limit: Annotated[float, Field(gt=0)] = 0.25
    max_missing_change: Fraction = 0.1
    max_unseen_share: Fraction = 0.05
    #: Features beyond their limits that are tolerated (seasonal ones never count).
    max_drifted_features: Annotated[int, Field(ge=0)] = 0
    seasonal_features: list[str] = SEASONAL_FEATURES
    score_psi_limit: Annotated[float, Field(gt=0)] = 0.25
    #: Largest tolerated drop of a metric below the model's recorded test value.
    max_performance_drop: dict[MetricName, Annotated[float, Field(ge=0)]] = {"roc_auc": 0.03}
    max_model_age_days: Annotated[int, Field(gt=0)] = 120


@dataclass(frozen=True)
class Decision:
    retrain: bool
    #: One line per check that says retrain (empty when keeping).
    reasons: tuple[str, ...]
    #: One line per check, whatever it found.
    checks: tuple[str, ...]
    #: One line per thing that could not be assessed, and why.
    not_assessed: tuple[str, ...]

    @property
    def verdict(self) -> str:
        return "retrain" if self.retrain else "keep"


def feature_findings(drift: FeatureDrift, params: MonitorParams) -> list[str]:
    """What puts one feature beyond its limits (empty when nothing does)."""
    found = []
    if drift.psi is not None and drift.psi > params.psi_limit:
        found.append(f"PSI {drift.psi:.3f} > {params.psi_limit:g}")
    if abs(drift.missing_change) > params.max_missing_change:
        found.append(
            f"missing {drift.reference_missing:.1%} -> {drift.drop_missing:.1%}, "
            f"a change of more than {params.max_missing_change:.0%}"
        )
    if drift.unseen_share is not None and drift.unseen_share > params.max_unseen_share:
        found.append(f"{drift.unseen_share:.1%} unseen categories > {params.max_unseen_share:.0%}")
    return found


def drifted_features(features: Mapping[str, FeatureDrift], params: MonitorParams) -> dict[str, list[str]]:
    """Counted features beyond their limits, most shifted first: feature -> its findings."""
    found = {
        name: findings
        for name, drift in features.items()
        if name not in params.seasonal_features and (findings := feature_findings(drift, params))
    }
    return dict(sorted(found.items(), key=lambda item: -(features[item[0]].psi or 0.0)))


def data_check(features: Mapping[str, FeatureDrift], params: MonitorParams) -> tuple[str, bool]:
    drifted = drifted_features(features, params)
    counted = sum(name not in params.seasonal_features for name in features)
    if not drifted:
        return f"data drift: none of {counted} features (seasonal ones aside) is beyond its limits", False
    listed = "; ".join(f"{name} ({', '.join(findings)})" for name, findings in drifted.items())
    triggered = len(drifted) > params.max_drifted_features
    verdict = "more than" if triggered else "within"
    return (
        f"data drift: {len(drifted)} of {counted} features beyond their limits, {verdict} "
        f"monitor.max_drifted_features = {params.max_drifted_features}: {listed}",
        triggered,
    )


def score_check(scores: FeatureDrift, params: MonitorParams) -> tuple[str, bool]:
    triggered = scores.psi is not None and scores.psi > params.score_psi_limit
    side = ">" if triggered else "<="
    return (
        f"prediction drift: score PSI {scores.psi:.3f} {side} monitor.score_psi_limit {params.score_psi_limit:g}",
        triggered,
    )


def performance_check(change: MetricChange, limit: float) -> tuple[str, bool]:
    """The gate's rule: worse by more than ``limit``, and the interval entirely on the worse side."""
    said = f"performance: {change.metric} {change.branch:.4f} on the drop against {change.base:.4f} on test"
    worse_by = -(change.delta or 0.0)
    interval = change.interval
    shown = (
        f", {interval.confidence * 100:g}% interval of the change [{interval.low:+.4f}, {interval.high:+.4f}]"
        if interval
        else f" (no interval: {change.reason})"
    )
    if worse_by <= limit:
        return f"{said}{shown}: within monitor.max_performance_drop {limit:g}", False
    if interval is not None and interval.high >= 0:
        return f"{said}{shown}: worse by {worse_by:.4f} > {limit:g}, but the interval includes zero", False
    return f"{said}{shown}: worse by {worse_by:.4f}, more than monitor.max_performance_drop {limit:g}", True


def decide(
    features: Mapping[str, FeatureDrift],
    scores: FeatureDrift | None,
    performance: Sequence[MetricChange] | None,
    model_age_days: int | None,
    params: MonitorParams,
    not_assessed: Sequence[str] = (),
) -> Decision:
    """Apply every check; ``None`` for a part that could not be measured (say why in ``not_assessed``)."""
    checks: list[tuple[str, bool]] = [data_check(features, params)]
    missing = list(not_assessed)
    missing += [f"{name}: not assessed ({drift.note})" for name, drift in features.items() if drift.note]
    if scores is not None and scores.psi is not None:
        checks.append(score_check(scores, params))
    elif scores is not None:
        missing.append(f"prediction drift: not assessed ({scores.note})")
    for change in performance or ():
        limit = params.max_performance_drop.get(change.metric)
        if change.base is None or change.branch is None:
            missing.append(f"performance: {change.metric} not assessed ({change.reason})")
        elif limit is not None:
            checks.append(performance_check(change, limit))
    if model_age_days is not None:
        old = model_age_days > params.max_model_age_days
        side = ">" if old else "<="
        checks.append(
            (
                f"age: the drop ends {model_age_days} days after the training period, "
                f"{side} monitor.max_model_age_days {params.max_model_age_days}",
                old,
            )
        )
    reasons = tuple(line for line, triggered in checks if triggered)
    return Decision(bool(reasons), reasons, tuple(line for line, _ in checks), tuple(missing))
