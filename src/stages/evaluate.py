"""Stage ``evaluate``: score the model on validation and test, segment by segment.

Writes, under the dvclive directory (``metrics/evaluate``): ``metrics.json`` with
ranking metrics (ROC AUC, average precision), probability metrics (log loss, Brier)
and metrics at ``evaluate.threshold``, beside the baseline of always predicting the
training-set delay rate; ROC, precision-recall and calibration curve data; confusion
matrices and a permutation feature-importance chart as PNG. ``segments.json`` holds
test metrics by carrier and by origin. Per-flight scores go to the predictions
directory so that later comparisons (pull-request reports) can pair them row by row.

The heavy part is permutation importance (``src/stages/importance.py``). Work is spread over
``train.n_threads`` Python threads with one OpenMP thread each: the trees' prediction code
releases the GIL, and whole tasks per thread keep the cores busy where per-tree OpenMP
regions would wait on each other whenever another program takes a core.
"""

from __future__ import annotations

import argparse
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; and the same renderer everywhere

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from dvclive import Live  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline  # noqa: E402

from src.core.files import atomic_path, write_json, write_png  # noqa: E402
from src.core.model_store import load_verified_model  # noqa: E402
from src.core.params import EvaluateParams, load_params  # noqa: E402
from src.core.stage import run_stage  # noqa: E402
from src.core.tables import write_parquet  # noqa: E402
from src.stages.importance import feature_importance  # noqa: E402
from src.stages.train import LABEL, fixed_thread_count  # noqa: E402

log = logging.getLogger("pipeline")

EVALUATED_SPLITS = ("validation", "test")
SEGMENT_COLUMNS = ("carrier", "origin")
MIN_SEGMENT_ROWS = 100  # smaller segments are listed without metrics: too noisy
#: Curve data is computed on scores rounded to this many decimals: at most 101
#: thresholds, so the files stay small enough for git with no visible change.
CURVE_DECIMALS = 2


def probability_metrics(labels: pd.Series, scores: np.ndarray) -> dict[str, float]:
    """Threshold-free metrics; ranking ones need both classes present."""
    metrics = {
        "log_loss": log_loss(labels, scores, labels=[0, 1]),
        "brier": brier_score_loss(labels, scores, pos_label=1),
    }
    if labels.nunique() == 2:
        metrics["roc_auc"] = roc_auc_score(labels, scores)
        metrics["average_precision"] = average_precision_score(labels, scores)
    return metrics


def threshold_metrics(labels: pd.Series, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Metrics of flagging flights with a score at or above ``threshold``."""
    flagged = (scores >= threshold).astype(int)
    return {
        "precision": precision_score(labels, flagged, zero_division=0),
        "recall": recall_score(labels, flagged, zero_division=0),
        "f1": f1_score(labels, flagged, zero_division=0),
        "accuracy": accuracy_score(labels, flagged),
        "flagged_rate": float(flagged.mean()),
    }


def split_metrics(labels: pd.Series, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Everything reported for one split."""
    metrics = probability_metrics(labels, scores)
    metrics.update(threshold_metrics(labels, scores, threshold))
    metrics = {name: round(float(value), 6) for name, value in metrics.items()}
    metrics["late_rate"] = round(float(labels.mean()), 6)
    metrics["rows"] = len(labels)
    return metrics


def baseline_metrics(labels: pd.Series, train_late_rate: float) -> dict[str, float]:
    """What always predicting the training-set delay rate scores."""
    constant = np.full(len(labels), train_late_rate)
    metrics = probability_metrics(labels, constant)
    return {name: round(float(value), 6) for name, value in metrics.items()}


def segment_metrics(frame: pd.DataFrame, scores: np.ndarray, columns: tuple[str, ...]) -> list[dict]:
    """One record per value of each segment column, largest segments first.

    Records (not nested mappings) so that DVC can plot them: ROC AUC by segment.
    Segments too small for stable metrics keep their counts only.
    """
    scored = frame.assign(score=scores)
    records = []
    for column in columns:
        for value, part in sorted(scored.groupby(column, sort=True), key=lambda item: -len(item[1])):
            record = {
                "segment": f"{column}={value}",
                "rows": len(part),
                "late_rate": round(float(part[LABEL].mean()), 6),
                "mean_score": round(float(part["score"].mean()), 6),
            }
            if len(part) >= MIN_SEGMENT_ROWS:
                metrics = probability_metrics(part[LABEL], part["score"].to_numpy())
                record.update({name: round(float(value), 6) for name, value in metrics.items()})
            records.append(record)
    return records


def score_and_explain(
    model: Pipeline, splits: dict[str, pd.DataFrame], settings: EvaluateParams, seed: int, n_threads: int
) -> tuple[dict[str, np.ndarray], pd.Series]:
    """Each evaluated split's scores, and the permutation importance on validation.

    On ``n_threads`` Python threads with one OpenMP thread each (see the module's docstring);
    the results do not depend on the thread count.
    """
    columns = list(model.feature_names_in_)
    with fixed_thread_count(1), ThreadPoolExecutor(n_threads) as pool:
        predicted = pool.map(lambda name: model.predict_proba(splits[name][columns])[:, 1], EVALUATED_SPLITS)
        scores = dict(zip(EVALUATED_SPLITS, predicted, strict=True))
        log.info("computing permutation importance on %d validation rows", settings.importance_rows)
        importance = feature_importance(model, splits["validation"], settings, seed, n_threads)
    return scores, importance


def importance_figure(importance: pd.Series) -> plt.Figure:
    """Horizontal bar chart, most important feature on top."""
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(importance) + 1.2))
    ordered = importance.iloc[::-1]
    axes.barh(ordered.index, ordered.to_numpy(), color="#3b75af")
    axes.set_xlabel("drop in validation ROC AUC when shuffled")
    axes.set_title("Permutation feature importance")
    figure.tight_layout()
    return figure


def confusion_figure(labels: pd.Series, scores: np.ndarray, threshold: float, title: str) -> plt.Figure:
    """Confusion matrix of flagging at ``threshold``."""
    figure, axes = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        labels,
        (scores >= threshold).astype(int),
        display_labels=["on time", "late"],
        ax=axes,
        colorbar=False,
        values_format="d",
    )
    axes.set_title(f"{title} (threshold {threshold})")
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.evaluate",
        description="Score the model on the validation and test splits; write metrics, "
        "segment metrics, plots and per-flight predictions.",
    )
    parser.add_argument("model", type=Path, help="fitted model (models/model.pkl)")
    parser.add_argument("split_dir", type=Path, help="splits (data/split)")
    parser.add_argument("live_dir", type=Path, help="metrics and plots (metrics/evaluate)")
    parser.add_argument("predictions_dir", type=Path, help="per-flight scores (data/predictions)")
    args = parser.parse_args()

    params = load_params()
    settings = params.evaluate
    model = load_verified_model(args.model)
    splits = {name: pd.read_parquet(args.split_dir / f"{name}.parquet") for name in EVALUATED_SPLITS}
    # Of the training period only the late rate is needed: read the one column.
    train_late_rate = float(pd.read_parquet(args.split_dir / "train.parquet", columns=[LABEL])[LABEL].mean())

    scores, importance = score_and_explain(model, splits, settings, params.train.seed, params.train.n_threads)

    with Live(str(args.live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        for name in EVALUATED_SPLITS:
            labels = splits[name][LABEL]
            metrics = split_metrics(labels, scores[name], settings.threshold)
            for metric, value in metrics.items():
                live.log_metric(f"{name}/{metric}", value, plot=False)
            for metric, value in baseline_metrics(labels, train_late_rate).items():
                live.log_metric(f"baseline/{name}/{metric}", value, plot=False)
            rounded = np.round(scores[name], CURVE_DECIMALS)
            for kind in ("roc", "precision_recall"):
                live.log_sklearn_plot(
                    kind, labels, rounded, name=f"{kind}/{name}.json", drop_intermediate=True
                )
            live.log_sklearn_plot(
                "calibration", labels, scores[name], name=f"calibration/{name}.json", n_bins=10
            )
            log.info("%s: ROC AUC %.4f", name, metrics.get("roc_auc", float("nan")))
        live.log_metric("threshold", settings.threshold, plot=False)

    plots = args.live_dir / "plots" / "images"
    for name in EVALUATED_SPLITS:
        write_png(
            confusion_figure(splits[name][LABEL], scores[name], settings.threshold, name),
            plots / f"confusion_matrix_{name}.png",
        )
    write_png(importance_figure(importance), plots / "feature_importance.png")
    write_json(
        {"test": segment_metrics(splits["test"], scores["test"], SEGMENT_COLUMNS)},
        args.live_dir / "segments.json",
    )
    write_json(
        {"importance": [{"feature": f, "roc_auc_drop": round(float(v), 6)} for f, v in importance.items()]},
        args.live_dir / "feature_importance.json",
    )

    with atomic_path(args.predictions_dir) as staged:
        staged.mkdir()
        for name in EVALUATED_SPLITS:
            frame = splits[name][["flight_id", "date", "carrier", "origin", LABEL]].assign(score=scores[name])
            write_parquet(frame, staged / f"{name}.parquet")


if __name__ == "__main__":
    run_stage("evaluate", main)
