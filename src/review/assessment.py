"""Is a change in the primary test metrics real or noise, and does it pass the gate?

The one piece of logic behind both ``python -m src.review.report`` and ``python -m src.review.gate``:
pure functions from two revisions' metrics and per-flight test predictions to a
verdict (improved, worse, within noise) and the gate's list of failures.

The confidence interval of a change comes from a paired bootstrap: the same resampled
test flights score both revisions, so the noise of which flights happen to be in the
test period cancels out and only the models' difference remains. A resample is a
vector of row counts (how often each flight was drawn); the metrics below take those
counts as sample weights. They give the same numbers as scikit-learn's metric
functions with ``sample_weight`` (the tests check this), but sort the scores once per
revision instead of once per call: with 55,000 test flights scikit-learn needs about
60 ms per resample and metric pair, these about 1 ms, which is what keeps a
1,000-sample report within seconds.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field

from src.core.params import LOWER_IS_BETTER, MetricName, ParamsSection
from src.core.stage import PipelineError

#: Column names of a predictions file (written by the evaluate stage).
KEY, LABEL, SCORE = "flight_id", "is_late", "score"
#: Resamples evaluated at once: bounds memory to a few (BATCH x rows) arrays.
BATCH = 25
#: Probabilities are clipped this far from 0 and 1 before taking logs, as scikit-learn does.
EPSILON = float(np.finfo(np.float64).eps)


class GateParams(ParamsSection):
    """``gate`` in params.yaml: what the pull-request report assesses and the gate enforces."""

    #: Test metrics a pull-request report bootstraps and the gate checks.
    primary_metrics: Annotated[list[MetricName], Field(min_length=1)] = ["roc_auc", "average_precision"]
    #: Absolute floors: a primary metric below (above, if lower is better) fails.
    floors: dict[MetricName, float] = {"roc_auc": 0.65, "average_precision": 0.45}
    #: How much worse than the base a primary metric may get before it can fail.
    tolerance: dict[MetricName, Annotated[float, Field(ge=0)]] = {
        "roc_auc": 0.005,
        "average_precision": 0.005,
    }
    bootstrap_samples: Annotated[int, Field(ge=100)] = 1000
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    seed: Annotated[int, Field(ge=0)] = 2013


class Verdict(enum.StrEnum):
    IMPROVED = "improved"
    WORSE = "worse"
    NOISE = "within noise"
    NO_BASELINE = "no baseline"
    #: A change whose interval could not be computed (no paired predictions).
    NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class PairedScores:
    """Both revisions' labels and scores on the test flights they share, row by row."""

    base_labels: np.ndarray
    base_scores: np.ndarray
    branch_labels: np.ndarray
    branch_scores: np.ndarray
    base_rows: int
    branch_rows: int

    @property
    def rows(self) -> int:
        return len(self.branch_scores)


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval of ``branch - base``."""

    low: float
    high: float
    confidence: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class MetricChange:
    """One primary test metric in both revisions."""

    metric: str
    base: float | None
    branch: float | None
    interval: Interval | None = None

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
    #: Why there is no confidence interval, when there is none (else None).
    interval_note: str | None
    paired_rows: int
    #: Test flights each revision scored (differ when the data or the split changed).
    base_rows: int = 0
    branch_rows: int = 0

    @property
    def gate_passed(self) -> bool:
        return not self.gate_failures


# --- pairing ------------------------------------------------------------------------


def pair_predictions(base: pd.DataFrame, branch: pd.DataFrame) -> PairedScores:
    """Align two revisions' predictions on the flights both scored.

    Both frames need the columns ``flight_id``, ``is_late`` and ``score``; each
    revision keeps its own labels (a change to the label definition shows as such).
    """
    for name, frame in (("base", base), ("branch", branch)):
        missing = {KEY, LABEL, SCORE} - set(frame.columns)
        if missing:
            raise PipelineError(f"{name} predictions lack the column(s) {', '.join(sorted(missing))}")
        if frame[KEY].duplicated().any():
            raise PipelineError(f"{name} predictions list a {KEY} more than once")
    columns = [KEY, LABEL, SCORE]
    joined = base[columns].merge(branch[columns], on=KEY, suffixes=("_base", "_branch"), sort=True)
    return PairedScores(
        base_labels=joined[f"{LABEL}_base"].to_numpy(dtype=np.int8),
        base_scores=joined[f"{SCORE}_base"].to_numpy(dtype=np.float64),
        branch_labels=joined[f"{LABEL}_branch"].to_numpy(dtype=np.int8),
        branch_scores=joined[f"{SCORE}_branch"].to_numpy(dtype=np.float64),
        base_rows=len(base),
        branch_rows=len(branch),
    )


# --- metrics on bootstrap weights ---------------------------------------------------


@dataclass(frozen=True)
class RankedScores:
    """One revision's test flights, indexed for counting resamples by score and class.

    Flights with the same score and label fall in one cell; cells are numbered from
    the highest score down (``2 * rank + label``), so counting a resample's draws per
    cell gives, in score order, how many positives and negatives it holds at each
    distinct score: all that the ranking metrics need, without sorting again.
    """

    cell_of_row: np.ndarray
    distinct_scores: int
    labels: np.ndarray  # row order, as floats
    scores: np.ndarray  # row order


def rank_scores(labels: np.ndarray, scores: np.ndarray) -> RankedScores:
    distinct, inverse = np.unique(-np.asarray(scores, dtype=np.float64), return_inverse=True)
    labels = np.asarray(labels).astype(np.int64)
    return RankedScores(
        cell_of_row=2 * inverse.ravel() + labels,
        distinct_scores=len(distinct),
        labels=labels.astype(np.float64),
        scores=np.asarray(scores, dtype=np.float64),
    )


def _class_counts_by_score(ranked: RankedScores, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and distinct score (highest first): drawn positives and negatives.

    float32 holds these counts and their cumulative sums exactly (they stay far below
    2**24) at half the memory traffic of float64.
    """
    samples, cells = draws.shape[0], 2 * ranked.distinct_scores
    offsets = cells * np.arange(samples)[:, None]
    counts = np.bincount((ranked.cell_of_row[draws] + offsets).ravel(), minlength=samples * cells)
    counts = counts.reshape(samples, ranked.distinct_scores, 2).astype(np.float32)
    return np.ascontiguousarray(counts[:, :, 1]), np.ascontiguousarray(counts[:, :, 0])


def _roc_auc(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """P(score of a positive > score of a negative), ties counted half."""
    positives_above = np.cumsum(positive, axis=1) - positive
    pairs = positive.sum(axis=1, dtype=np.float64) * negative.sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (negative * (positives_above + 0.5 * positive)).sum(axis=1, dtype=np.float64) / pairs


def _average_precision(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Precision at each distinct score, weighted by the recall gained there."""
    true_positives = np.cumsum(positive, axis=1)
    flagged = true_positives + np.cumsum(negative, axis=1)
    precision = np.divide(true_positives, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (positive * precision).sum(axis=1, dtype=np.float64) / true_positives[:, -1]


RANKING_METRICS = {"roc_auc": _roc_auc, "average_precision": _average_precision}
SUPPORTED_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")


def resampled_metrics(
    ranked: RankedScores, draws: np.ndarray, metrics: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each metric on each resample (a row of ``draws``, the row positions drawn).

    The same values as scikit-learn's ``roc_auc_score``, ``average_precision_score``,
    ``log_loss`` and ``brier_score_loss`` on the drawn rows (the tests check this).
    """
    values = {}
    if RANKING_METRICS.keys() & set(metrics):
        positive, negative = _class_counts_by_score(ranked, draws)
        for metric, function in RANKING_METRICS.items():
            if metric in metrics:
                values[metric] = function(positive, negative)
    if "log_loss" in metrics:
        clipped = np.clip(ranked.scores, EPSILON, 1 - EPSILON)
        per_row = -(ranked.labels * np.log(clipped) + (1 - ranked.labels) * np.log1p(-clipped))
        values["log_loss"] = per_row[draws].mean(axis=1)
    if "brier" in metrics:
        values["brier"] = ((ranked.scores - ranked.labels) ** 2)[draws].mean(axis=1)
    return values


def paired_bootstrap(
    paired: PairedScores, metrics: Sequence[str], samples: int, confidence: float, seed: int
) -> dict[str, Interval]:
    """Percentile interval of ``metric(branch) - metric(base)`` over resampled shared rows."""
    unknown = [metric for metric in metrics if metric not in SUPPORTED_METRICS]
    if unknown:
        raise PipelineError(f"no bootstrap for metric(s) {', '.join(unknown)}")
    base = rank_scores(paired.base_labels, paired.base_scores)
    branch = rank_scores(paired.branch_labels, paired.branch_scores)
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[np.ndarray]] = {metric: [] for metric in metrics}
    for start in range(0, samples, BATCH):
        # The same draws score both revisions: that is what makes the bootstrap paired.
        draws = rng.integers(0, paired.rows, size=(min(BATCH, samples - start), paired.rows))
        base_values = resampled_metrics(base, draws, metrics)
        branch_values = resampled_metrics(branch, draws, metrics)
        for metric in metrics:
            deltas[metric].append(branch_values[metric] - base_values[metric])
    tail = (1 - confidence) / 2 * 100
    intervals = {}
    for metric in metrics:
        values = np.concatenate(deltas[metric])
        # A resample without both classes has no ROC AUC: leave it out (vanishingly rare).
        low, high = np.nanpercentile(values, [tail, 100 - tail])
        intervals[metric] = Interval(low=float(low), high=float(high), confidence=confidence)
    return intervals


# --- verdicts and the gate ------------------------------------------------------------


def metric_verdict(change: MetricChange) -> Verdict:
    """Improved or worse when the interval excludes zero; within noise when it does not."""
    if change.base is None:
        return Verdict.NO_BASELINE
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


def gate_failures(changes: Sequence[MetricChange], gate: GateParams) -> list[str]:
    """One sentence, naming the metric, per reason the gate fails; empty when it passes.

    Fails when a primary metric is missing, beyond its floor, or worse than the base by
    more than its tolerance with a bootstrap interval on the worse side of zero. With
    no interval (the base's predictions could not be fetched) the tolerance alone
    decides, so a missing remote never lets a regression through.
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
        tolerance = gate.tolerance.get(change.metric, 0.0)
        worsening = change.worsening
        if worsening is None or worsening <= tolerance:
            continue
        interval = change.interval
        if interval is None:
            failures.append(
                f"{name} got worse by {_number(worsening)} ({_number(change.base)} -> "
                f"{_number(change.branch)}), more than the tolerance {_number(tolerance)}, "
                "and no bootstrap interval could show it is noise."
            )
        elif interval.excludes_zero() and (interval.high < 0) != change.lower_is_better:
            failures.append(
                f"{name} got worse by {_number(worsening)} ({_number(change.base)} -> "
                f"{_number(change.branch)}), more than the tolerance {_number(tolerance)}, and the "
                f"{interval.confidence:.0%} bootstrap interval of the change "
                f"[{interval.low:+.4f}, {interval.high:+.4f}] excludes zero."
            )
    return failures


def assess(
    base_metrics: Mapping[str, float] | None,
    branch_metrics: Mapping[str, float],
    paired: PairedScores | None,
    gate: GateParams,
    interval_note: str | None = None,
) -> Assessment:
    """Compare the primary test metrics of two revisions and apply the gate.

    ``base_metrics`` is None when the base has no metrics (first pull request);
    ``paired`` is None when the base's predictions are unavailable, with
    ``interval_note`` saying why.
    """
    intervals: dict[str, Interval] = {}
    if base_metrics is not None and paired is not None:
        if paired.rows == 0:
            interval_note = "the two revisions share no test flights"
        else:
            intervals = paired_bootstrap(
                paired, gate.primary_metrics, gate.bootstrap_samples, gate.confidence, gate.seed
            )
    elif base_metrics is None:
        interval_note = "the base has no metrics"
    changes = tuple(
        MetricChange(
            metric=metric,
            base=None if base_metrics is None else base_metrics.get(metric),
            branch=branch_metrics.get(metric),
            interval=intervals.get(metric),
        )
        for metric in gate.primary_metrics
    )
    return Assessment(
        changes=changes,
        verdict=overall_verdict(changes),
        gate_failures=tuple(gate_failures(changes, gate)),
        interval_note=None if intervals else interval_note,
        paired_rows=paired.rows if paired is not None else 0,
        base_rows=paired.base_rows if paired is not None else 0,
        branch_rows=paired.branch_rows if paired is not None else 0,
    )
