"""Is a change in the primary test metrics real or noise, and does it pass the gate?

The one piece of logic behind both ``python -m src.review.report`` and ``python -m src.review.gate``
(and the calibration benchmark, ``bench/calibration.py``): pure functions from two
revisions' metrics and per-flight test scores to a verdict (improved, worse, within
noise) and the gate's list of failures.

Each revision is scored by its replicates: the ``train`` stage's model and the same
configuration trained with other seeds (``data/seeds``). The interval of a change covers
both sources of noise, the test sample and training (:mod:`src.review.noise`); when
training noise cannot be measured the verdict is "not assessed", with the reason, and
the gate falls back to its stricter rule (the tolerance alone).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from src.core.params import LOWER_IS_BETTER, MetricName, ParamsSection
from src.review.bootstrap import SUPPORTED_METRICS, bootstrap_changes, rank_scores, resampled_metrics
from src.review.noise import NoiseEstimate, estimate_noise
from src.review.pairing import PairedScores, pair_predictions, training_note

# Imported from here by the registry (card, promote), which builds on this verdict.
__all__ = ["SUPPORTED_METRICS", "PairedScores", "pair_predictions", "rank_scores", "resampled_metrics"]

NO_SEEDS = "no replicates trained with other seeds were given"


Tolerances = dict[MetricName, Annotated[float, Field(ge=0)]]


class SegmentParams(ParamsSection):
    """``gate.segments``: test flights by carrier, origin, scheduled hour band and distance band."""

    #: Segments with fewer test flights (both revisions scored) are listed, not assessed.
    min_flights: Annotated[int, Field(ge=1)] = 1000
    #: How much worse than the base a segment's metric may get before it can fail the gate.
    tolerance: Tolerances = {"roc_auc": 0.02, "average_precision": 0.03}
    #: Scheduled departure hour bands: each value starts a band, the first is 0.
    hour_bands: Annotated[list[Annotated[int, Field(ge=0, le=23)]], Field(min_length=1)] = [
        0,
        9,
        12,
        15,
        18,
        21,
    ]
    #: Distance bands in miles: each value starts a band, the first is 0, the last is open.
    distance_bands: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = [
        0,
        500,
        1000,
        1500,
        2000,
    ]
    #: Paired resamples of each segment's flights (its test-sample noise).
    bootstrap_samples: Annotated[int, Field(ge=50)] = 100
    #: Segments listed in the report, those that changed most first.
    shown: Annotated[int, Field(ge=1)] = 10

    @model_validator(mode="after")
    def _bands_start_at_zero_and_increase(self) -> SegmentParams:
        for name in ("hour_bands", "distance_bands"):
            edges = getattr(self, name)
            if edges[0] != 0 or any(
                later <= earlier for earlier, later in zip(edges, edges[1:], strict=False)
            ):
                raise ValueError(f"{name} must start at 0 and increase: got {edges}")
        return self


class GateParams(ParamsSection):
    """``gate`` in params.yaml: what the pull-request report assesses and the gate enforces."""

    #: Test metrics a pull-request report assesses and the gate checks.
    primary_metrics: Annotated[list[MetricName], Field(min_length=1)] = ["roc_auc", "average_precision"]
    #: Absolute floors: a primary metric below (above, if lower is better) fails.
    floors: dict[MetricName, float] = {"roc_auc": 0.65, "average_precision": 0.45}
    #: How much worse than the base a primary metric may get before it can fail.
    tolerance: Tolerances = {"roc_auc": 0.005, "average_precision": 0.005}
    #: Paired resamples of the test flights (the test-sample noise of a change): each
    #: scores every replicate of both revisions; the interval uses their spread, not tails.
    bootstrap_samples: Annotated[int, Field(ge=50)] = 200
    #: Of the interval: 97.5%, so that at most 1 in 20 reseeded branches reads improved or
    #: worse (docs/decisions/verdict-noise.md has the measured rates).
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.975
    seed: Annotated[int, Field(ge=0)] = 2013
    segments: SegmentParams = SegmentParams()


class Verdict(enum.StrEnum):
    IMPROVED = "improved"
    WORSE = "worse"
    NOISE = "within noise"
    NO_BASELINE = "no baseline"
    #: A change whose interval could not be computed (the reason is given beside it).
    NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class Interval:
    """A confidence interval of ``branch - base``."""

    low: float
    high: float
    confidence: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class MetricChange:
    """One primary test metric in both revisions (means over their replicates when measured)."""

    metric: str
    base: float | None
    branch: float | None
    interval: Interval | None = None
    #: Replicate values and noise parts behind ``interval`` (None without paired scores).
    noise: NoiseEstimate | None = None
    #: Why this metric has no interval although the base has metrics (else None).
    reason: str | None = None

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    @property
    def delta(self) -> float | None:
        if self.base is None or self.branch is None:
            return None
        return self.branch - self.base

    @property
    def worsening(self) -> float | None:
        """How much worse the branch is than the base (negative: better)."""
        if self.delta is None:
            return None
        return self.delta if self.lower_is_better else -self.delta


@dataclass(frozen=True)
class Assessment:
    """Everything the report and the gate say about the primary metrics."""

    changes: tuple[MetricChange, ...]
    verdict: Verdict
    gate_failures: tuple[str, ...]
    #: Why there is no interval covering both noise sources, when there is none (else None).
    interval_note: str | None
    paired_rows: int
    #: Test flights each revision scored (differ when the data or the split changed).
    base_rows: int = 0
    branch_rows: int = 0
    #: Replicates (the train stage's model and the other seeds) behind each side's values.
    base_replicates: int = 0
    branch_replicates: int = 0
    #: What else could not be assessed, and why (left-out seeds, ...).
    notes: tuple[str, ...] = ()

    @property
    def gate_passed(self) -> bool:
        return not self.gate_failures


def paired_bootstrap(
    paired: PairedScores, metrics: Sequence[str], samples: int, confidence: float, seed: int
) -> dict[str, Interval]:
    """Percentile interval of ``metric(branch) - metric(base)`` of the train stage's models
    over resampled shared rows: the test-sample noise alone."""
    changes = bootstrap_changes(
        (paired.base_labels, paired.base_scores),
        (paired.branch_labels, paired.branch_scores),
        metrics,
        samples,
        seed,
    )
    tail = (1 - confidence) / 2 * 100
    intervals = {}
    for metric in metrics:
        low, high = np.nanpercentile(changes[metric], [tail, 100 - tail])
        intervals[metric] = Interval(low=float(low), high=float(high), confidence=confidence)
    return intervals


# --- verdicts and the gate ------------------------------------------------------------


def metric_verdict(change: MetricChange) -> Verdict:
    """Improved or worse when the interval excludes zero; within noise when it does not."""
    if change.base is None:
        return Verdict.NOT_ASSESSED if change.reason else Verdict.NO_BASELINE
    if change.branch is None or change.interval is None:
        return Verdict.NOT_ASSESSED
    if not change.interval.excludes_zero():
        return Verdict.NOISE
    branch_higher = change.interval.low > 0
    return Verdict.IMPROVED if branch_higher != change.lower_is_better else Verdict.WORSE


def overall_verdict(changes: Sequence[MetricChange]) -> Verdict:
    """Worse if any primary metric got worse; improved if any improved and none got worse."""
    verdicts = [metric_verdict(change) for change in changes]
    for verdict in (Verdict.WORSE, Verdict.IMPROVED, Verdict.NO_BASELINE, Verdict.NOT_ASSESSED):
        if verdict in verdicts:
            return verdict
    return Verdict.NOISE


def _number(value: float) -> str:
    return f"{value:.4f}"


def percent(confidence: float) -> str:
    """``0.975`` as ``97.5%``, ``0.95`` as ``95%``."""
    return f"{confidence * 100:g}%"


def worse_beyond(change: MetricChange, tolerance: float, name: str, tolerance_name: str) -> str | None:
    """The gate's rule for one change: a sentence when it fails, else None.

    Fails when worse than the base by more than ``tolerance`` and the interval (both
    noise sources) is entirely on the worse side of zero. Without an interval the
    tolerance alone decides, so missing seeds or a missing remote never let a
    regression through.
    """
    worsening = change.worsening
    if worsening is None or worsening <= tolerance:
        return None
    said = (
        f"{name} got worse by {_number(worsening)} ({_number(change.base)} -> {_number(change.branch)}), "
        f"more than the {tolerance_name} {_number(tolerance)}"
    )
    interval = change.interval
    if interval is None:
        why = f" ({change.reason})" if change.reason else ""
        return f"{said}, and no interval with both noise sources could be computed{why}: the tolerance alone decides."
    if interval.excludes_zero() and (interval.high < 0) != change.lower_is_better:
        return (
            f"{said}, and the {percent(interval.confidence)} interval of the change (test sample and training "
            f"noise) [{interval.low:+.4f}, {interval.high:+.4f}] excludes zero."
        )
    return None


def gate_failures(changes: Sequence[MetricChange], gate: GateParams) -> list[str]:
    """One sentence, naming the metric, per reason the gate fails; empty when it passes.

    Fails when a primary metric is missing, beyond its floor, or worse than the base
    beyond its tolerance (:func:`worse_beyond`).
    """
    failures = []
    for change in changes:
        name = f"test {change.metric}"
        if change.branch is None or math.isnan(change.branch):
            failures.append(f"{name} is missing from this branch's metrics.")
            continue
        floor = gate.floors.get(change.metric)
        if floor is not None:
            beyond = change.branch > floor if change.lower_is_better else change.branch < floor
            if beyond:
                side = "above its ceiling" if change.lower_is_better else "below its floor"
                failures.append(
                    f"{name} is {_number(change.branch)}, {side} of {_number(floor)} (gate.floors)."
                )
        failure = worse_beyond(change, gate.tolerance.get(change.metric, 0.0), name, "tolerance")
        if failure:
            failures.append(failure)
    return failures


def metric_changes(
    metrics: Sequence[str],
    estimates: Mapping[str, NoiseEstimate],
    base_metrics: Mapping[str, float] | None,
    branch_metrics: Mapping[str, float],
    confidence: float,
    note: str | None,
) -> list[MetricChange]:
    """Each metric's change: replicate means and the noise interval where they exist.

    Without paired scores the values are the metrics files' (the train stage's model).
    ``note`` says why training noise is unknown, if it is.
    """
    changes = []
    for metric in metrics:
        estimate = estimates.get(metric)
        interval, reason = None, note
        if estimate is not None and estimate.defined:
            base, branch = estimate.base_mean, estimate.branch_mean
            if note is None:
                interval = Interval(*estimate.bounds(confidence), confidence)
        else:
            base = None if base_metrics is None else base_metrics.get(metric)
            branch = branch_metrics.get(metric)
            if base_metrics is None:
                reason = None  # no baseline at all: the verdict says so
            elif estimate is not None:
                reason = f"test {metric} is undefined on the shared flights (one class only)"
            elif base is None:
                reason = f"the base's metrics have no test {metric}"
        changes.append(MetricChange(metric, base, branch, interval, estimate, reason))
    return changes


def assess(
    base_metrics: Mapping[str, float] | None,
    branch_metrics: Mapping[str, float],
    paired: PairedScores | None,
    gate: GateParams,
    interval_note: str | None = None,
) -> Assessment:
    """Compare the primary test metrics of two revisions and apply the gate.

    ``base_metrics`` is None when the base has no metrics (first pull request);
    ``paired`` is None when a revision's predictions are unavailable, with
    ``interval_note`` saying why. Training noise needs other seeds' scores on both
    sides of ``paired``; without them ``interval_note`` (or a default) says why.
    """
    estimates: dict[str, NoiseEstimate] = {}
    note = interval_note
    if base_metrics is None:
        note = "the base has no metrics"
    elif paired is not None and paired.rows == 0:
        note = "the two revisions share no test flights"
    elif paired is not None:
        estimates = estimate_noise(
            (paired.base_labels, paired.replicates("base")),
            (paired.branch_labels, paired.replicates("branch")),
            gate.primary_metrics,
            gate.bootstrap_samples,
            gate.seed,
        )
        missing = training_note(paired)
        note = None if missing is None else f"training noise not measured: {interval_note or missing}"
    elif note is None:
        note = NO_SEEDS
    changes = metric_changes(
        gate.primary_metrics, estimates, base_metrics, branch_metrics, gate.confidence, note
    )
    usable = paired is not None and bool(estimates)
    return Assessment(
        changes=tuple(changes),
        verdict=overall_verdict(changes),
        gate_failures=tuple(gate_failures(changes, gate)),
        interval_note=note,
        paired_rows=paired.rows if paired is not None else 0,
        base_rows=paired.base_rows if paired is not None else 0,
        branch_rows=paired.branch_rows if paired is not None else 0,
        base_replicates=len(paired.replicates("base")) if usable else 0,
        branch_replicates=len(paired.replicates("branch")) if usable else 0,
        notes=paired.notes if paired is not None else (),
    )
