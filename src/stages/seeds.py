"""Stage ``seeds``: the ``train`` configuration trained again with other seeds.

How much do the test metrics move when only the training randomness changes? On the
full data, ``HistGradientBoostingClassifier`` bins the features on a random subsample
of 200,000 of its 225,000 training flights, so its seed changes the model (test ROC
AUC moves by a few thousandths between seeds). The pull-request verdict
(``src/review``) needs that spread for both revisions it compares. This stage fits the
configuration of ``train`` ``noise.extra_seeds`` more times with :func:`fit_model`, with
seeds derived from ``train.seed`` (:func:`noise_seeds`), and writes each fit's test
scores beside the columns the review groups flights by. The ``train`` stage's model is
the first replicate (its scores are evaluate's predictions); these are the others.
A fit that fails fails the stage: DVC then keeps no partial result.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.core.files import atomic_path
from src.core.params import TrainParams, load_params
from src.core.stage import run_stage
from src.core.tables import write_parquet
from src.stages.train import LABEL, fit_model, fixed_thread_count

log = logging.getLogger("pipeline")

#: What the review groups flights by (carrier, origin, hour band, distance band).
SEGMENT_COLUMNS = ("carrier", "origin", "sched_dep_hour", "distance")
#: Columns kept from the test split: the flight, its label, and what segments are made of.
KEPT_COLUMNS = ("flight_id", LABEL, *SEGMENT_COLUMNS)
#: A replicate's scores are in the column ``seed_<seed>``.
SCORE_PREFIX = "seed_"


def noise_seeds(train_seed: int, count: int) -> list[int]:
    """``count`` distinct seeds derived from ``train.seed``, none equal to it.

    Derived rather than listed, so a branch that changes ``train.seed`` gets a new,
    independent set of replicates: what the calibration benchmark simulates
    (``bench/calibration.py``). NumPy's ``SeedSequence`` is a fixed algorithm (its output
    does not change between NumPy versions); its 32-bit words suit every scikit-learn
    ``random_state``.
    """
    seeds: list[int] = []
    words = np.random.SeedSequence(train_seed).generate_state(2 * count + 1)
    for word in map(int, words):
        if word != train_seed and word not in seeds and len(seeds) < count:
            seeds.append(word)
    return seeds


def seed_scores(
    params: TrainParams,
    seeds: Sequence[int],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
) -> pd.DataFrame:
    """The test flights' kept columns and one score column per seed, fitted as ``train`` fits."""
    frame = test[list(KEPT_COLUMNS)].reset_index(drop=True)
    for number, seed in enumerate(seeds, start=1):
        log.info(
            "seed %d of %d (%d): fitting %s on %d flights", number, len(seeds), seed, params.model, len(train)
        )
        model = fit_model(params.model_copy(update={"seed": seed}), train, validation)
        with fixed_thread_count(params.n_threads):
            scores = model.predict_proba(test[list(model.feature_names_in_)])[:, 1]
        frame[f"{SCORE_PREFIX}{seed}"] = scores
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.seeds",
        description="Fit the train configuration with noise.extra_seeds other seeds; write their test scores.",
    )
    parser.add_argument("split_dir", type=Path, help="train/validation/test splits (data/split)")
    parser.add_argument("out_dir", type=Path, help="per-flight test scores of each seed (data/seeds)")
    args = parser.parse_args()

    params = load_params()
    seeds = noise_seeds(params.train.seed, params.noise.extra_seeds)
    splits = {
        name: pd.read_parquet(args.split_dir / f"{name}.parquet") for name in ("train", "validation", "test")
    }
    frame = seed_scores(params.train, seeds, splits["train"], splits["validation"], splits["test"])
    with atomic_path(args.out_dir) as staged:
        staged.mkdir()
        write_parquet(frame, staged / "test.parquet")
    log.info("%d seeds' test scores written to %s", len(seeds), args.out_dir)


if __name__ == "__main__":
    run_stage("seeds", main)
