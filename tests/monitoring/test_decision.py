"""Retrain or keep, from hand-made findings and the monitor thresholds."""

from __future__ import annotations

import pytest

from src.monitoring.decision import MonitorParams, decide, drifted_features
from src.monitoring.drift import FeatureDrift
from src.review.assessment import Interval, MetricChange

PARAMS = MonitorParams(seasonal_features=["temp"], max_drifted_features=0)


def drift(
    name: str, psi: float | None = 0.01, missing: tuple[float, float] = (0.0, 0.0), unseen=None, note=None
):
    return FeatureDrift(name, "numeric", psi, None, None, missing[0], missing[1], unseen, (), 100, note)


def steady() -> dict[str, FeatureDrift]:
    return {"distance": drift("distance"), "temp": drift("temp"), "carrier": drift("carrier", unseen=0.0)}


def test_nothing_beyond_its_limits_keeps_the_model_with_one_line_per_check():
    decision = decide(
        steady(), drift("score"), None, 30, PARAMS, ["performance: not assessed (no arr_delay column)"]
    )
    assert decision.verdict == "keep" and decision.reasons == ()
    assert len(decision.checks) == 3 and all("\n" not in line for line in decision.checks)
    assert decision.not_assessed == ("performance: not assessed (no arr_delay column)",)


def test_one_shifted_feature_retrains_and_the_reason_names_it():
    features = {**steady(), "distance": drift("distance", psi=1.2)}
    decision = decide(features, drift("score"), None, 30, PARAMS)
    assert decision.verdict == "retrain"
    assert len(decision.reasons) == 1 and "distance (PSI 1.200 > 0.25)" in decision.reasons[0]
    assert "temp" not in decision.reasons[0] and "carrier" not in decision.reasons[0]


def test_seasonal_features_are_not_counted_and_tolerated_ones_do_not_retrain():
    assert decide({**steady(), "temp": drift("temp", psi=3.0)}, None, None, None, PARAMS).verdict == "keep"
    tolerant = PARAMS.model_copy(update={"max_drifted_features": 1})
    decision = decide({**steady(), "distance": drift("distance", psi=1.2)}, None, None, None, tolerant)
    assert decision.verdict == "keep" and "within monitor.max_drifted_features = 1" in decision.checks[0]


def test_missing_rate_and_unseen_categories_put_a_feature_beyond_its_limits():
    features = {
        "distance": drift("distance", missing=(0.01, 0.30)),
        "carrier": drift("carrier", unseen=0.08),
    }
    found = drifted_features(features, PARAMS)
    assert found["distance"] == ["missing 1.0% -> 30.0%, a change of more than 10%"]
    assert found["carrier"] == ["8.0% unseen categories > 5%"]


def test_score_drift_and_age_each_retrain():
    assert (
        decide(steady(), drift("score", psi=0.4), None, 30, PARAMS).reasons[0].startswith("prediction drift")
    )
    decision = decide(steady(), drift("score"), None, 121, PARAMS)
    assert decision.reasons == (
        "age: the drop ends 121 days after the training period, > monitor.max_model_age_days 120",
    )


@pytest.mark.parametrize(
    ("drop", "interval", "retrain"),
    [
        (0.66, Interval(-0.06, -0.04, 0.975), True),  # worse by 0.05 and surely worse
        (0.66, Interval(-0.10, 0.01, 0.975), False),  # worse by 0.05 but the interval includes zero
        (0.69, Interval(-0.02, -0.01, 0.975), False),  # surely worse, by less than the limit
        (0.66, None, True),  # no interval: the limit alone decides
    ],
)
def test_performance_follows_the_gates_rule(drop, interval, retrain):
    change = MetricChange("roc_auc", 0.71, drop, interval, reason=None if interval else "no test predictions")
    decision = decide(steady(), None, [change], None, PARAMS)
    assert decision.retrain is retrain
    assert any(line.startswith("performance: roc_auc") for line in decision.checks)


def test_what_could_not_be_measured_is_listed_not_guessed():
    features = {**steady(), "wind_gust": drift("wind_gust", psi=None, note="every value is missing")}
    undefined = MetricChange(
        "roc_auc", 0.71, None, reason="undefined on the drop (its flights are of one class)"
    )
    decision = decide(features, None, [undefined], None, PARAMS)
    assert decision.verdict == "keep"
    assert "wind_gust: not assessed (every value is missing)" in decision.not_assessed
    assert any("roc_auc not assessed (undefined" in line for line in decision.not_assessed)
