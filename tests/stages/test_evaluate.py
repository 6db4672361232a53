import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance

from src.core.params import EvaluateParams
from src.stages.evaluate import (
    PermutedSampleBooster,
    baseline_metrics,
    feature_importance,
    importance_inputs,
    segment_metrics,
    split_metrics,
    threshold_metrics,
)
from src.stages.train import fit_model
from tests.stages.frames import feature_table, small_params

LABELS = pd.Series([0, 0, 1, 1, 0, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])


def test_perfect_ranking_scores_one():
    metrics = split_metrics(pd.Series([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert metrics["roc_auc"] == 1.0 and metrics["average_precision"] == 1.0
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0
    assert metrics["rows"] == 4 and metrics["late_rate"] == 0.5


def test_threshold_is_inclusive():
    metrics = threshold_metrics(LABELS, SCORES, threshold=0.35)
    # flagged: 0.4, 0.35, 0.8, 0.9 -> 3 of 4 are late; 3 of 3 late flights found
    assert metrics["precision"] == pytest.approx(0.75)
    assert metrics["recall"] == 1.0
    assert metrics["flagged_rate"] == pytest.approx(4 / 6)


def test_baseline_is_uninformative():
    metrics = baseline_metrics(LABELS, train_late_rate=0.3)
    assert metrics["roc_auc"] == 0.5
    assert metrics["average_precision"] == pytest.approx(0.5)


def test_single_class_split_skips_ranking_metrics_instead_of_failing():
    metrics = split_metrics(pd.Series([0, 0, 0]), np.array([0.1, 0.2, 0.3]), threshold=0.5)
    assert "roc_auc" not in metrics and metrics["log_loss"] > 0


def test_segments_report_each_value_and_skip_metrics_for_tiny_ones():
    frame = pd.DataFrame({"carrier": ["UA"] * 150 + ["AA"] * 3, "is_late": [0, 1] * 75 + [1, 1, 0]})
    scores = np.r_[np.tile([0.2, 0.7], 75), [0.5, 0.5, 0.5]]
    records = segment_metrics(frame, scores, ("carrier",))
    assert [record["segment"] for record in records] == ["carrier=UA", "carrier=AA"]  # largest first
    united, american = records
    assert united["roc_auc"] == 1.0 and united["rows"] == 150
    assert "roc_auc" not in american and american["late_rate"] == pytest.approx(2 / 3, abs=1e-6)


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("model", ["hist_gradient_boosting", "logistic_regression"])
def test_feature_importance_equals_shuffling_the_raw_columns(model):
    """Shuffling encoded columns (the boosting shortcut) gives what shuffling raw ones gives."""
    flights = feature_table()
    fitted = fit_model(small_params(model), flights, flights.tail(100))
    settings = EvaluateParams.model_validate({"importance_rows": 300, "importance_repeats": 2})
    importance = feature_importance(fitted, flights, settings, seed=3)

    columns = list(fitted.feature_names_in_)
    sample = flights.sample(n=300, random_state=3)
    direct = permutation_importance(
        fitted, sample[columns], sample["is_late"], scoring="roc_auc", n_repeats=2, random_state=3
    )
    expected = pd.Series(direct.importances_mean, index=columns)
    assert importance.to_dict() == expected.to_dict()
    assert importance.index[0] in {"sched_dep_hour", "precip"}  # the planted signal comes first


def flights_with_gaps() -> pd.DataFrame:
    """The synthetic flights with missing values in a numeric and a categorical column."""
    flights = feature_table()
    flights.loc[flights.index[::7], "temp"] = np.nan
    flights.loc[flights.index[::5], "carrier"] = None
    return flights


@pytest.mark.slow  # trains a model
def test_permuted_sample_booster_scores_exactly_as_the_booster():
    """Same bits as the booster on the sample and on copies with one column shuffled, whatever its kind."""
    flights = flights_with_gaps()
    fitted = fit_model(small_params("hist_gradient_boosting"), flights, flights.tail(100))
    estimator, sample, names = importance_inputs(fitted, flights.head(300))
    assert isinstance(estimator, PermutedSampleBooster)

    def booster(matrix: np.ndarray) -> np.ndarray:
        return fitted[-1].decision_function(pd.DataFrame(matrix, columns=names))

    assert np.array_equal(estimator.decision_function(sample), booster(sample))
    rng = np.random.default_rng(1)
    for column in ("carrier", "temp", "sched_dep_hour", "dest"):
        shuffled = sample.copy()
        position = names.index(column)
        shuffled[:, position] = shuffled[rng.permutation(len(shuffled)), position]
        assert np.array_equal(estimator.decision_function(shuffled), booster(shuffled))


@pytest.mark.slow  # trains a model
def test_feature_importance_does_not_depend_on_the_thread_count():
    flights = flights_with_gaps()
    fitted = fit_model(small_params("hist_gradient_boosting"), flights, flights.tail(100))
    settings = EvaluateParams.model_validate({"importance_rows": 300, "importance_repeats": 2})
    one, two = (feature_importance(fitted, flights, settings, seed=3, n_jobs=jobs) for jobs in (1, 2))
    assert one.to_dict() == two.to_dict() and list(one.index) == list(two.index)
