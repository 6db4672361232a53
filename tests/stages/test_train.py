import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from src.core.params import TrainParams
from src.stages.featurize import FEATURE_GROUPS
from src.stages.train import feature_columns, fit_model, learning_curve
from tests.stages.frames import feature_table, small_params

MODELS = ["hist_gradient_boosting", "logistic_regression"]


def fit(params: TrainParams, flights: pd.DataFrame):
    """Fit on every flight, recording the learning curve on the last 100."""
    return fit_model(params, flights, flights.tail(100))


@pytest.fixture
def flights() -> pd.DataFrame:
    return feature_table()


def test_feature_groups_select_their_columns_in_order():
    assert feature_columns(["weather", "route"]) == FEATURE_GROUPS["weather"] + FEATURE_GROUPS["route"]


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("model", MODELS)
def test_unseen_categories_at_scoring_time_are_scored(flights, model):
    fitted = fit(small_params(model), flights)
    unseen = flights.head(5).assign(carrier="ZZ", dest="XXX", engine="Electric")
    scores = fitted.predict_proba(unseen[list(fitted.feature_names_in_)])[:, 1]
    assert np.all((scores > 0) & (scores < 1))


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("model", MODELS)
def test_models_learn_the_signal(flights, model):
    from sklearn.metrics import roc_auc_score

    fitted = fit(small_params(model), flights)
    scores = fitted.predict_proba(flights[list(fitted.feature_names_in_)])[:, 1]
    assert roc_auc_score(flights["is_late"], scores) > 0.75


@pytest.mark.slow  # trains a model
def test_feature_groups_limit_what_the_model_sees(flights):
    fitted = fit(small_params("hist_gradient_boosting", feature_groups=["weather"]), flights)
    assert list(fitted.feature_names_in_) == FEATURE_GROUPS["weather"]


@pytest.mark.slow  # trains a model
def test_thread_count_is_recorded_in_the_model_and_changes_no_prediction(flights):
    scores = []
    for n_threads in (1, 3):
        fitted = fit(small_params("hist_gradient_boosting", n_threads=n_threads), flights)
        assert fitted[-1]._bin_mapper.n_threads == n_threads
        scores.append(fitted.predict_proba(flights[list(fitted.feature_names_in_)])[:, 1])
    assert scores[0].tobytes() == scores[1].tobytes()


@pytest.mark.slow  # trains a model
def test_same_seed_gives_the_same_model_bytes(flights):
    first = pickle.dumps(fit(small_params("hist_gradient_boosting"), flights), protocol=5)
    second = pickle.dumps(fit(small_params("hist_gradient_boosting"), flights), protocol=5)
    assert first == second


@pytest.mark.slow  # trains a model
def test_learning_curve_has_one_point_per_boosting_iteration(flights):
    fitted = fit(small_params("hist_gradient_boosting"), flights)
    curve = list(learning_curve(fitted, {"train": flights, "validation": flights.tail(100)}))
    assert len(curve) == 15
    assert curve[-1]["train"] < curve[0]["train"]  # boosting lowers training loss


@pytest.mark.slow  # trains a model
def test_recorded_learning_curve_is_the_log_loss_of_each_stage(flights):
    """The losses the booster records while fitting equal re-scoring every stage."""
    validation = flights.tail(100)
    fitted = fit_model(small_params("hist_gradient_boosting"), flights, validation)
    curve = list(learning_curve(fitted, {"train": flights, "validation": validation}))
    encoded = fitted[:-1].transform(validation[list(fitted.feature_names_in_)])
    staged = [
        log_loss(validation["is_late"], proba[:, 1]) for proba in fitted[-1].staged_predict_proba(encoded)
    ]
    assert [point["validation"] for point in curve] == pytest.approx(staged, abs=1e-12)


@pytest.mark.slow  # trains a model
def test_validation_data_does_not_change_the_fitted_trees(flights):
    params = small_params("hist_gradient_boosting")
    first = fit(params, flights)
    second = fit_model(params, flights, flights.head(50))
    columns = list(first.feature_names_in_)
    assert np.array_equal(first.predict_proba(flights[columns]), second.predict_proba(flights[columns]))


@pytest.mark.slow  # trains a model
def test_learning_curve_of_a_linear_model_is_one_point(flights):
    fitted = fit(small_params("logistic_regression"), flights)
    curve = list(learning_curve(fitted, {"train": flights}))
    assert len(curve) == 1 and curve[0]["train"] > 0
