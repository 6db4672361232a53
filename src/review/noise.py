"""Does a change in a test metric stand out from both sources of noise? (pure)

Each revision is scored by its *replicates*: the ``train`` stage's model and the same
configuration trained with other seeds (the ``seeds`` stage). For one metric:

* the **change** is the difference of the replicates' means, base to branch, on the
  test flights both revisions scored;
* its **variance** has two parts that add (the law of total variance: over test samples,
  and over training seeds given the test sample):

  - *test-sample noise*: the variance of that change of means over paired bootstrap
    resamples of the test flights (every replicate of both revisions scored on the
    same resample, so the flights' own noise cancels out of the change);
  - *training noise*: each revision's variance of the metric across its replicates,
    divided by their number (the variance of a mean of independent seeds).

* the **interval** is the change ± t × its standard deviation, with t from Student's
  distribution at the Welch–Satterthwaite degrees of freedom of the three estimated
  variances: the seed variances come from a few replicates each (4 degrees of freedom
  with 5 seeds), the bootstrap variance from its resamples (B − 1).

A seed's own way of erring on particular flights is seen by both parts, so the sum
slightly overstates the variance (by that interaction over the number of replicates):
the interval errs on the wide side. ``docs/decisions/verdict-noise.md`` gives the
choice and its measured calibration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special  # Student's t quantile, without loading all of scipy.stats

from src.core.stage import PipelineError
from src.review.bootstrap import replicate_metrics, resampled_values


@dataclass(frozen=True)
class NoiseEstimate:
    """One metric of both revisions, replicate by replicate, and the noise of its change."""

    #: The metric of each base replicate on the shared flights (the train stage's model first).
    base_values: tuple[float, ...]
    branch_values: tuple[float, ...]
    #: Standard deviation of the change of means over paired resamples of the test flights.
    rows_sd: float
    #: How many resamples ``rows_sd`` comes from (its degrees of freedom: one fewer).
    resamples: int = 0

    @property
    def base_mean(self) -> float:
        return float(np.mean(self.base_values))

    @property
    def branch_mean(self) -> float:
        return float(np.mean(self.branch_values))

    @property
    def change(self) -> float:
        return self.branch_mean - self.base_mean

    @staticmethod
    def _spread(values: tuple[float, ...]) -> float | None:
        return float(np.std(values, ddof=1)) if len(values) >= 2 else None

    @property
    def base_seed_sd(self) -> float | None:
        """Standard deviation across the base's replicates (None with only one)."""
        return self._spread(self.base_values)

    @property
    def branch_seed_sd(self) -> float | None:
        return self._spread(self.branch_values)

    @property
    def training_measured(self) -> bool:
        """Both revisions have at least two replicates, so both seed variances are estimated."""
        return len(self.base_values) >= 2 and len(self.branch_values) >= 2

    @property
    def defined(self) -> bool:
        """Every replicate's value and the bootstrap spread are numbers (both classes present)."""
        return all(math.isfinite(value) for value in (*self.base_values, *self.branch_values, self.rows_sd))

    def _variances_of_means(self) -> tuple[float, float]:
        base_sd, branch_sd = self.base_seed_sd or 0.0, self.branch_seed_sd or 0.0
        return base_sd**2 / len(self.base_values), branch_sd**2 / len(self.branch_values)

    @property
    def sd(self) -> float:
        """Standard deviation of the change: test-sample and training noise together."""
        return math.sqrt(self.rows_sd**2 + sum(self._variances_of_means()))

    @property
    def degrees_of_freedom(self) -> float:
        """Welch–Satterthwaite over the three variance estimates; infinite when none is uncertain."""
        base_part, branch_part = self._variances_of_means()
        uncertain = base_part**2 / (len(self.base_values) - 1) + branch_part**2 / (
            len(self.branch_values) - 1
        )
        if self.resamples > 1:
            uncertain += self.rows_sd**4 / (self.resamples - 1)
        return self.sd**4 / uncertain if uncertain > 0 else math.inf

    def bounds(self, confidence: float) -> tuple[float, float]:
        """The interval of the change at ``confidence``; needs :attr:`training_measured`."""
        if not self.training_measured:
            raise ValueError("training noise needs at least two replicates of each revision")
        return t_interval(self.change, self.sd, self.degrees_of_freedom, confidence)


def t_interval(change: float, sd: float, degrees_of_freedom: float, confidence: float) -> tuple[float, float]:
    """``change`` ± Student's t at ``confidence`` × ``sd`` (the normal quantile when the freedom is infinite)."""
    half_width = float(special.stdtrit(degrees_of_freedom, (1 + confidence) / 2)) * sd
    return change - half_width, change + half_width


def welch_satterthwaite(variances: Sequence[tuple[float, int]]) -> float:
    """Degrees of freedom of a sum of estimated variances, each given with its own; infinite when none varies."""
    uncertain = sum(variance**2 / freedom for variance, freedom in variances if variance > 0 and freedom > 0)
    return sum(variance for variance, _ in variances) ** 2 / uncertain if uncertain > 0 else math.inf


def noise_estimate(
    base_values: Sequence[float], branch_values: Sequence[float], changes: np.ndarray
) -> NoiseEstimate:
    """One metric's estimate from its replicate values and the resampled changes of their means."""
    resampled = changes[np.isfinite(changes)]
    return NoiseEstimate(
        base_values=tuple(float(value) for value in base_values),
        branch_values=tuple(float(value) for value in branch_values),
        rows_sd=float(np.std(resampled, ddof=1)) if len(resampled) >= 2 else math.nan,
        resamples=len(resampled),
    )


def resampled_means(
    labels: np.ndarray, scores: np.ndarray, metrics: Sequence[str], samples: int, seed: int
) -> dict:
    """Per metric, the mean over replicates (rows of ``scores``) on each resample of the flights."""
    per_replicate = [resampled_values(labels, row, metrics, samples, seed) for row in scores]
    return {metric: np.mean([values[metric] for values in per_replicate], axis=0) for metric in metrics}


def estimate_noise(
    base: tuple[np.ndarray, np.ndarray],
    branch: tuple[np.ndarray, np.ndarray],
    metrics: Sequence[str],
    samples: int,
    seed: int,
) -> dict[str, NoiseEstimate]:
    """Per metric, both revisions' replicate values and the test-sample spread of the change.

    ``base`` and ``branch`` are (labels, scores) on the same flights, row by row;
    scores are 2-D, one row per replicate. Every replicate is scored on the same
    ``samples`` resamples (:func:`src.review.bootstrap.resampled_values`): that pairs them.
    """
    (base_labels, base_scores), (branch_labels, branch_scores) = base, branch
    if base_scores.shape[1] != branch_scores.shape[1]:
        raise PipelineError(
            f"paired scores differ in length: {base_scores.shape[1]} and {branch_scores.shape[1]} rows"
        )
    base_values = replicate_metrics(base_labels, base_scores, metrics)
    branch_values = replicate_metrics(branch_labels, branch_scores, metrics)
    base_means = resampled_means(base_labels, base_scores, metrics, samples, seed)
    branch_means = resampled_means(branch_labels, branch_scores, metrics, samples, seed)
    return {
        metric: noise_estimate(
            base_values[metric], branch_values[metric], branch_means[metric] - base_means[metric]
        )
        for metric in metrics
    }
