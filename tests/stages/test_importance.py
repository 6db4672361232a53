from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.inspection import permutation_importance

from src.core.params import EvaluateParams
from src.stages.importance import PermutedSampleBooster, columns_above, feature_importance, importance_inputs
from src.stages.train import fit_model
from tests.stages.frames import feature_table, small_params


def test_columns_above_marks_the_splits_on_each_nodes_path():
    """Root splits on column 2; its right child on column 0; the other nodes are leaves."""
    nodes = np.zeros(5, dtype=PREDICTOR_RECORD_DTYPE)
    nodes["is_leaf"] = [0, 1, 0, 1, 1]
    nodes["feature_idx"] = [2, 0, 0, 0, 0]
    nodes["left"] = [1, 0, 3, 0, 0]
    nodes["right"] = [2, 0, 4, 0, 0]
    assert columns_above(SimpleNamespace(nodes=nodes)).tolist() == [0, 0b100, 0b100, 0b101, 0b101]


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
