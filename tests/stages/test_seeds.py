"""Stage ``seeds``: the train configuration fitted with other seeds, their test scores written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from src.sandbox import REPO_ROOT, command_env
from src.stages import seeds as stage
from src.stages.seeds import KEPT_COLUMNS, noise_seeds, seed_scores
from src.stages.train import fit_model
from tests.stages.frames import feature_table, small_params


def test_noise_seeds_are_distinct_fixed_and_never_the_train_seed():
    found = noise_seeds(2013, 4)
    assert found == noise_seeds(2013, 4)  # the same on every run and machine
    assert len(set(found)) == 4 and 2013 not in found
    assert all(0 <= seed < 2**32 for seed in found)
    assert noise_seeds(2013, 0) == []
    assert noise_seeds(2013, 6)[:4] == found  # more seeds keep the first ones


def test_a_reseeded_branch_gets_other_noise_seeds():
    """What makes a branch that changes train.seed an independent draw of the training noise."""
    assert not set(noise_seeds(2013, 4)) & set(noise_seeds(2014, 4))
    assert not set(noise_seeds(2013, 4)) & {2014}


def flights_with_ids() -> pd.DataFrame:
    frame = feature_table()
    return frame.assign(flight_id=np.arange(len(frame)) + 100)


class RecordingFit:
    """Stands in for fit_model: records each fit's seed, returns a model that scores by it."""

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def __call__(self, params, train, validation):
        self.seeds.append(params.seed)
        seed, columns = params.seed, ["distance"]

        class Model:
            feature_names_in_ = np.array(columns)

            def predict_proba(self, frame):
                score = np.full(len(frame), (seed % 97) / 100)
                return np.column_stack([1 - score, score])

        return Model()


def test_each_seed_fits_the_same_configuration_and_gets_its_own_column(monkeypatch):
    recorder = RecordingFit()
    monkeypatch.setattr(stage, "fit_model", recorder)
    flights = flights_with_ids()
    params = small_params("hist_gradient_boosting")
    frame = seed_scores(params, [11, 12], flights, flights.tail(50), flights.head(30))
    assert recorder.seeds == [11, 12]
    assert list(frame.columns) == [*KEPT_COLUMNS, "seed_11", "seed_12"]
    assert frame["flight_id"].tolist() == list(range(100, 130))
    assert frame["seed_11"].eq(0.11).all() and frame["seed_12"].eq(0.12).all()


@pytest.mark.slow  # trains models
def test_a_seed_column_holds_what_fit_model_with_that_seed_scores():
    flights = flights_with_ids()
    params = small_params("hist_gradient_boosting")
    frame = seed_scores(params, [5], flights, flights.tail(100), flights.head(50))
    model = fit_model(params.model_copy(update={"seed": 5}), flights, flights.tail(100))
    expected = model.predict_proba(flights.head(50)[list(model.feature_names_in_)])[:, 1]
    assert np.array_equal(frame["seed_5"].to_numpy(), expected)


@pytest.mark.slow  # starts the stage and trains models
def test_the_stage_writes_one_column_per_noise_seed(tmp_path: Path):
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["train"].update(seed=7, hist_gradient_boosting={"max_iter": 5, "min_samples_leaf": 5})
    params["noise"] = {"extra_seeds": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    split = tmp_path / "data" / "split"
    split.mkdir(parents=True)
    flights = flights_with_ids()
    for name, part in (("train", flights), ("validation", flights.tail(100)), ("test", flights.head(60))):
        part.to_parquet(split / f"{name}.parquet", index=False)
    result = subprocess.run(
        [sys.executable, "-m", "src.stages.seeds", "data/split", "data/seeds"],
        cwd=tmp_path,
        env=command_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    written = pd.read_parquet(tmp_path / "data" / "seeds" / "test.parquet")
    assert list(written.columns) == [*KEPT_COLUMNS, *(f"seed_{seed}" for seed in noise_seeds(7, 2))]
    assert len(written) == 60
    assert written.filter(like="seed_").apply(lambda column: column.between(0, 1).all()).all()
