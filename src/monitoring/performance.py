"""Does the model rank a drop's flights as well as it ranked its test flights? (pure)

When a drop carries its outcomes (``arr_delay``), its flights get the label ``featurize``
gives (:func:`src.stages.featurize.delay_label`, with the featurize parameters the model
was trained with) and each metric is compared with the model's recorded test value.

One model on two samples of flights: training noise does not enter (the same fitted
model scores both), only which flights happen to be in each sample. So the interval of
``drop - test`` adds the two samples' bootstrap variances (unpaired: different flights),
each from ``samples`` resamples (:func:`src.review.bootstrap.resampled_values`), with
Student's t at their Welch–Satterthwaite degrees of freedom
(:func:`src.review.noise.welch_satterthwaite`): the verdict's arithmetic
(``docs/decisions/verdict-noise.md``) without its training part.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from src.review.assessment import Interval, MetricChange
from src.review.bootstrap import replicate_metrics, resampled_values
from src.review.noise import t_interval, welch_satterthwaite

#: Reported whenever outcomes are known; the decision reads those ``monitor.max_performance_drop`` names.
REPORTED_METRICS = ("roc_auc", "average_precision")


def bootstrap_spread(
    labels: np.ndarray, scores: np.ndarray, metric: str, samples: int, seed: int
) -> tuple[float, int]:
    """Variance of ``metric`` over resamples of the flights, and its degrees of freedom."""
    values = resampled_values(labels, scores, [metric], samples, seed)[metric]
    values = values[np.isfinite(values)]
    return (float(np.var(values, ddof=1)), len(values) - 1) if len(values) >= 2 else (math.nan, 0)


def compare_with_test(
    drop: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    recorded: Mapping[str, float],
    metrics: Sequence[str],
    samples: int,
    confidence: float,
    seed: int,
    test_spreads: dict[str, tuple[float, int]] | None = None,
) -> list[MetricChange]:
    """Each metric on the drop (``branch``) against the recorded test value (``base``).

    ``drop`` and ``test`` are (labels, scores); ``test`` None (its predictions could not
    be read) leaves the values without an interval, with the reason. ``test_spreads``:
    the test sample's bootstrap spread per metric, filled on first use; a caller comparing
    many drops with one test sample (the replay) passes the same dict to compute it once.
    """
    spreads = {} if test_spreads is None else test_spreads
    labels, scores = drop
    on_drop = replicate_metrics(labels, scores[None, :], metrics)
    changes = []
    for metric in metrics:
        value, base = float(on_drop[metric][0]), recorded.get(metric)
        if not math.isfinite(value):
            changes.append(
                MetricChange(
                    metric, base, None, reason="undefined on the drop (its flights are of one class)"
                )
            )
            continue
        if base is None:
            changes.append(
                MetricChange(metric, None, value, reason=f"the model's metrics record no test {metric}")
            )
            continue
        if test is None:
            changes.append(MetricChange(metric, base, value, reason="the test predictions could not be read"))
            continue
        drop_part = bootstrap_spread(labels, scores, metric, samples, seed)
        if metric not in spreads:
            spreads[metric] = bootstrap_spread(*test, metric, samples, seed)
        test_part = spreads[metric]
        if not all(math.isfinite(variance) for variance, _ in (drop_part, test_part)):
            changes.append(MetricChange(metric, base, value, reason="too few resamples with both classes"))
            continue
        sd = math.sqrt(drop_part[0] + test_part[0])
        low, high = t_interval(value - base, sd, welch_satterthwaite([drop_part, test_part]), confidence)
        changes.append(MetricChange(metric, base, value, Interval(low, high, confidence)))
    return changes
