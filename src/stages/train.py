"""Stage ``train``: fit the model named by ``train.model`` on the training period.

Two families: histogram gradient boosting (categoricals ordinal-encoded and split
natively) and logistic regression (one-hot categoricals, imputed and scaled numbers).
Unseen categories at scoring time are treated as missing or all-zero, never an error.
The learning curve (log loss on train and validation per boosting iteration) is
recorded by the booster while it fits and logged with dvclive; the model is saved as a pickle (see ``src/core/model_store.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from src.core.model_store import save_model
from src.core.params import TrainParams, load_params
from src.core.stage import run_stage
from src.stages.featurize import CATEGORICAL_FEATURES, FEATURE_GROUPS

log = logging.getLogger("pipeline")

LABEL = "is_late"
CURVE_LOG_EVERY = 25  # log progress every this many boosting iterations


def feature_columns(groups: list[str]) -> list[str]:
    """The feature columns of the selected groups, in a fixed order."""
    return [column for group in groups for column in FEATURE_GROUPS[group]]


def build_model(params: TrainParams, columns: list[str]) -> Pipeline:
    """An unfitted pipeline (encoding + classifier) for ``columns``."""
    categorical = [column for column in columns if column in CATEGORICAL_FEATURES]
    numeric = [column for column in columns if column not in CATEGORICAL_FEATURES]
    if params.model == "hist_gradient_boosting":
        hgb = params.hist_gradient_boosting
        encode = ColumnTransformer(
            [
                (
                    "categorical",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                    ),
                    categorical,
                )
            ],
            remainder="passthrough",
            verbose_feature_names_out=False,
        ).set_output(transform="pandas")
        classifier = HistGradientBoostingClassifier(
            learning_rate=hgb.learning_rate,
            max_iter=hgb.max_iter,
            max_leaf_nodes=hgb.max_leaf_nodes,
            min_samples_leaf=hgb.min_samples_leaf,
            l2_regularization=hgb.l2_regularization,
            categorical_features=categorical or None,
            # The booster scores every iteration on the validation period it is given
            # (never a random hold-out, which would ignore the time split): that is the
            # learning curve, at no extra cost. Patience of max_iter means it never stops early.
            early_stopping=True,
            scoring="loss",
            validation_fraction=None,
            n_iter_no_change=hgb.max_iter,
            random_state=params.seed,
        )
        return Pipeline([("encode", encode), ("classify", classifier)])

    lr = params.logistic_regression
    encode = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=20), categorical),
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
                numeric,
            ),
        ],
        verbose_feature_names_out=False,
    )
    classifier = LogisticRegression(C=lr.C, max_iter=lr.max_iter, random_state=params.seed)
    return Pipeline([("encode", encode), ("classify", classifier)])


@contextmanager
def fixed_thread_count(n_threads: int) -> Iterator[None]:
    """Make scikit-learn use exactly ``n_threads`` OpenMP threads, on any machine.

    scikit-learn caps threads at the core count unless OMP_NUM_THREADS is set, and the
    fitted boosting model records the count it used, so both are pinned here.
    """
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(n_threads)
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        if previous is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = previous


def fit_model(params: TrainParams, train: pd.DataFrame, validation: pd.DataFrame) -> Pipeline:
    """Fit the configured model on the training split.

    A boosting model also records its log loss on ``train`` and ``validation`` after
    every iteration (see ``learning_curve``); the fitted trees do not depend on ``validation``.
    """
    columns = feature_columns(params.feature_groups)
    model = build_model(params, columns)
    with fixed_thread_count(params.n_threads):
        if isinstance(model[-1], HistGradientBoostingClassifier):
            # Fitted step by step because the booster needs the encoded validation set.
            encode, classifier = model[:-1], model[-1]
            classifier.fit(
                encode.fit_transform(train[columns], train[LABEL]),
                train[LABEL],
                X_val=encode.transform(validation[columns]),
                y_val=validation[LABEL],
            )
        else:
            model.fit(train[columns], train[LABEL])
    return model


def learning_curve(model: Pipeline, splits: dict[str, pd.DataFrame]) -> Iterator[dict[str, float]]:
    """Log loss on train and validation after each boosting iteration.

    A boosting model reports the losses it recorded while fitting (``fit_model``), so
    ``splits`` must be the ones it was fitted with; a linear model gets one point,
    computed on ``splits``.
    """
    classifier = model[-1]
    if isinstance(classifier, HistGradientBoostingClassifier):
        # Index 0 is the constant starting prediction, before the first tree; the
        # booster stores scores, which are negative losses.
        for train_score, validation_score in zip(
            classifier.train_score_[1:], classifier.validation_score_[1:], strict=True
        ):
            yield {"train": -float(train_score), "validation": -float(validation_score)}
        return
    columns = list(model.feature_names_in_)
    yield {
        name: log_loss(part[LABEL], model.predict_proba(part[columns])[:, 1], labels=[0, 1])
        for name, part in splits.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.train",
        description="Fit the model chosen in params.yaml (train.model) on the training split.",
    )
    parser.add_argument("split_dir", type=Path, help="train/validation splits (data/split)")
    parser.add_argument("model_out", type=Path, help="fitted model (models/model.pkl)")
    parser.add_argument("live_dir", type=Path, help="dvclive output: curve and metrics (metrics/train)")
    args = parser.parse_args()

    params = load_params().train
    needed = [*feature_columns(params.feature_groups), LABEL]
    splits = {
        name: pd.read_parquet(args.split_dir / f"{name}.parquet", columns=needed)
        for name in ("train", "validation")
    }
    log.info("fitting %s on %d flights", params.model, len(splits["train"]))
    model = fit_model(params, splits["train"], splits["validation"])
    save_model(model, args.model_out)

    # Imported after the fit, whose memory is the pipeline's peak: dvclive's modules
    # need not sit in memory through it.
    from dvclive import Live

    with Live(str(args.live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        for step, losses in enumerate(learning_curve(model, splits)):
            live.step = step
            for name, loss in losses.items():
                live.log_metric(f"{name}/log_loss", loss)
            if step % CURVE_LOG_EVERY == 0:
                log.info("iteration %d: validation log loss %.4f", step, losses["validation"])
        live.log_metric("n_features", len(model.feature_names_in_), plot=False)
        live.log_metric("train_rows", len(splits["train"]), plot=False)
    log.info("model saved to %s", args.model_out)


if __name__ == "__main__":
    run_stage("train", main)
