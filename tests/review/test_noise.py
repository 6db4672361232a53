"""The interval covering test-sample and training noise: its arithmetic, and its coverage on simulated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from src.review.bootstrap import bootstrap_changes
from src.review.noise import NoiseEstimate, estimate_noise
from tests.review.frames import replicates


def test_the_estimate_by_hand():
    estimate = NoiseEstimate(base_values=(0.70, 0.71, 0.72), branch_values=(0.73, 0.75), rows_sd=0.002)
    assert estimate.base_mean == pytest.approx(0.71)
    assert estimate.branch_mean == pytest.approx(0.74)
    assert estimate.change == pytest.approx(0.03)
    assert estimate.base_seed_sd == pytest.approx(0.01)
    assert estimate.branch_seed_sd == pytest.approx(0.02 / math.sqrt(2))
    base_part, branch_part = 0.01**2 / 3, (0.02 / math.sqrt(2)) ** 2 / 2
    assert estimate.sd == pytest.approx(math.sqrt(0.002**2 + base_part + branch_part))
    welch = (0.002**2 + base_part + branch_part) ** 2 / (base_part**2 / 2 + branch_part**2 / 1)
    assert estimate.degrees_of_freedom == pytest.approx(welch)
    half = stats.t.ppf(0.975, welch) * estimate.sd
    assert estimate.bounds(0.95) == pytest.approx((0.03 - half, 0.03 + half))


def test_without_seed_spread_the_interval_is_the_normal_one_of_the_bootstrap():
    estimate = NoiseEstimate(base_values=(0.7, 0.7), branch_values=(0.71, 0.71), rows_sd=0.004)
    assert estimate.degrees_of_freedom == math.inf
    assert estimate.bounds(0.95) == pytest.approx((0.01 - 1.959964 * 0.004, 0.01 + 1.959964 * 0.004))


def test_one_replicate_on_a_side_measures_no_training_noise():
    estimate = NoiseEstimate(base_values=(0.7,), branch_values=(0.71, 0.72), rows_sd=0.004)
    assert not estimate.training_measured
    assert estimate.base_seed_sd is None
    with pytest.raises(ValueError, match="two replicates"):
        estimate.bounds(0.95)


def test_a_nan_replicate_makes_the_estimate_undefined():
    assert not NoiseEstimate(base_values=(0.7, math.nan), branch_values=(0.7, 0.7), rows_sd=0.01).defined


ROWS, REPLICATES, RESAMPLES, TRIALS = 1500, 5, 100, 120


def null_trial(trial: int) -> tuple[bool, bool]:
    """Two revisions of one configuration on a fresh test sample: (this interval, rows only) exclude zero?"""
    rng = np.random.default_rng(1000 + trial)
    labels = (rng.random(ROWS) < 0.3).astype(np.int8)
    base = replicates(labels, 1.0, REPLICATES, seed=2 * trial, data_seed=trial)
    branch = replicates(labels, 1.0, REPLICATES, seed=2 * trial + 1, data_seed=trial)
    estimate = estimate_noise((labels, base), (labels, branch), ["roc_auc"], RESAMPLES, seed=trial)["roc_auc"]
    low, high = estimate.bounds(0.95)
    rows_only = bootstrap_changes((labels, base[0]), (labels, branch[0]), ["roc_auc"], RESAMPLES, seed=trial)
    rows_low, rows_high = np.percentile(rows_only["roc_auc"], [2.5, 97.5])
    return low > 0 or high < 0, rows_low > 0 or rows_high < 0


def test_on_simulated_reseeds_the_interval_keeps_its_confidence_and_rows_alone_do_not():
    """Same configuration, other seeds, many test samples: at 95%, at most about 1 in 20 false alarms.

    The simulated seed moves the metric (a model-wide weight on a feature), which a
    bootstrap over flights alone does not see.
    """
    results = [null_trial(trial) for trial in range(TRIALS)]
    ours = sum(found for found, _ in results) / TRIALS
    rows_alone = sum(found for _, found in results) / TRIALS
    assert ours <= 0.1  # 5% nominal (the interval errs on the wide side); room for 120 trials' error
    assert rows_alone >= 0.5


def test_a_real_difference_is_detected():
    labels = (np.random.default_rng(5).random(3000) < 0.3).astype(np.int8)
    base = replicates(labels, 1.0, REPLICATES, seed=1)
    branch = replicates(labels, 1.0, REPLICATES, seed=2, flight_noise=0.6)  # noisier scores rank worse
    estimate = estimate_noise((labels, base), (labels, branch), ["roc_auc"], RESAMPLES, seed=3)["roc_auc"]
    assert estimate.bounds(0.95)[1] < 0
