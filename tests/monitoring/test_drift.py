"""Drift statistics against independent computations on tiny hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from src.monitoring.drift import (
    EMPTY_BIN_SHARE,
    data_drift,
    feature_drift,
    numeric_edges,
    profile_feature,
    profile_reference,
    score_drift,
    score_profile,
)


def ecdf_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The KS statistic straight from its definition: the largest gap between the two ECDFs."""
    points = np.concatenate([a, b])
    return max(abs(np.mean(a <= x) - np.mean(b <= x)) for x in points)


def test_numeric_psi_by_hand():
    reference = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], name="x")
    profile = profile_feature(reference, bins=2)
    assert profile.edges == (5.0,)  # the median; bins: x <= 5 and x > 5
    assert profile.shares == (0.5, 0.5)
    drop = pd.Series([1.0, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13], name="x")  # 4 low, 8 high
    found = feature_drift(profile, drop)
    q = (4 / 12, 8 / 12)
    expected = sum((qi - 0.5) * math.log(qi / 0.5) for qi in q)
    assert found.psi == pytest.approx(expected)
    assert found.drop_shares == pytest.approx(q)


def test_values_outside_the_reference_range_fall_in_the_open_end_bins():
    profile = profile_feature(pd.Series([0.0, 1, 2, 3], name="x"), bins=4)
    found = feature_drift(profile, pd.Series([-100.0, 100.0], name="x"))
    assert found.drop_shares[0] == 0.5 and found.drop_shares[-1] == 0.5


def test_a_feature_with_few_values_gets_one_bin_per_value():
    values = np.array([0] * 30 + [1] * 70, dtype=float)
    assert list(numeric_edges(values, 10)) == [0.0]  # bins: 0 and above 0
    profile = profile_feature(pd.Series(values, name="flag"))
    assert profile.shares == pytest.approx((0.3, 0.7))


def test_categorical_psi_with_an_unseen_category_by_hand():
    reference = pd.Series(["AA", "AA", "B6", "UA"], name="carrier")
    profile = profile_feature(reference)
    assert profile.categories == ("AA", "B6", "UA") and profile.shares == (0.5, 0.25, 0.25, 0.0)
    drop = pd.Series(["AA", "B6", "ZZ", "ZZ"], name="carrier")
    found = feature_drift(profile, drop)
    p = [0.5, 0.25, 0.25, EMPTY_BIN_SHARE]
    q = [0.25, 0.25, EMPTY_BIN_SHARE, 0.5]
    assert found.psi == pytest.approx(sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True)))
    assert found.unseen_share == 0.5
    assert found.ks_statistic is None


def test_missing_values_are_measured_apart_from_the_bins():
    profile = profile_feature(pd.Series([1.0, 2.0, None, 4.0], name="x"), bins=2)
    found = feature_drift(profile, pd.Series([1.0, None, None, None], name="x"))
    assert profile.missing_share == 0.25 and found.drop_missing == 0.75
    assert found.missing_change == pytest.approx(0.5)
    every_missing = feature_drift(profile, pd.Series([None, None], name="x", dtype="float64"))
    assert every_missing.psi is None and every_missing.note == "every value is missing"


def test_ks_matches_the_ecdf_definition():
    rng = np.random.default_rng(0)
    reference, drop = rng.normal(0, 1, 200), rng.normal(0.3, 1.2, 150)
    found = feature_drift(profile_feature(pd.Series(reference, name="x")), pd.Series(drop, name="x"))
    assert found.ks_statistic == pytest.approx(ecdf_distance(reference, drop))
    assert 0 <= found.ks_pvalue <= 1


def test_a_sample_of_the_reference_is_not_flagged_and_a_shifted_feature_is_flagged_alone():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(
        {
            "distance": rng.gamma(2.0, 500.0, 20000),
            "temp": rng.normal(55, 15, 20000),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], 20000, p=[0.2, 0.3, 0.3, 0.2]),
        }
    )
    profiles = profile_reference(reference, reference.columns)
    same = data_drift(profiles, reference.sample(3000, random_state=2))
    assert max(drift.psi for drift in same.values()) < 0.02
    shifted = reference.sample(3000, random_state=3).assign(distance=lambda f: f["distance"] * 1.5)
    found = data_drift(profiles, shifted)
    assert found["distance"].psi > 0.25
    assert found["temp"].psi < 0.02 and found["carrier"].psi < 0.02


def test_score_drift_uses_the_reference_scores_bins():
    reference = np.linspace(0.01, 0.99, 99)
    profile = score_profile(reference, bins=4)
    assert feature_drift(profile, pd.Series(reference, name="score")).psi == pytest.approx(0.0)
    assert score_drift(profile, np.full(50, 0.95)).psi > 1
