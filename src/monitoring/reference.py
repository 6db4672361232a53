"""The production model's reference: what a drop is compared with, read at the model's own commit.

What "reference" means here (docs/monitoring.md):

* **features**: the model's training split (``data/split/train.parquet``), the flights it
  learned from: a drop's features are binned on its quantiles and categories;
* **scores**: the model's scores on its validation split (``data/predictions/validation.parquet``,
  written by ``evaluate``): flights it did not learn from, scored the way a drop is. Its
  scores on the training split itself are more confident than on any new flights, so
  they would read as prediction drift on every drop;
* **performance**: its recorded test metrics (``metrics/evaluate/metrics.json``) and the test
  predictions behind them (the test sample's noise);
* the training period and the label's definition, as the commit's ``dvc.lock`` records them.

All of it is read through ``src.dvc`` at the commit of the registered version (the work
tree for a model given by path), from the DVC cache or the remote; nothing is copied
into git or kept between runs.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src import dvc
from src.core.params import FeaturizeParams
from src.core.stage import PipelineError
from src.registry.catalog import EVALUATION_METRICS, split_metrics
from src.registry.versions import stage_params
from src.serving.drop import first_line
from src.serving.model_ref import ScoringModel
from src.stages.train import LABEL

TRAIN_SPLIT = "data/split/train.parquet"
VALIDATION_PREDICTIONS = "data/predictions/validation.parquet"
TEST_PREDICTIONS = "data/predictions/test.parquet"


@dataclass(frozen=True)
class Reference:
    """A model's reference, in memory (a replay builds one from its own frames)."""

    features: pd.DataFrame
    scores: np.ndarray
    train_start: dt.date
    train_end: dt.date
    featurize: FeaturizeParams
    test_metrics: dict[str, float]
    #: (labels, scores) of the test flights; None when they could not be read (see ``notes``).
    test: tuple[np.ndarray, np.ndarray] | None = None
    notes: tuple[str, ...] = ()


def where(model: ScoringModel) -> str:
    return f"{model.name} {model.version}" + (
        f" (commit {model.commit[:12]})" if model.commit else " (work tree)"
    )


def read_table(root: Path, model: ScoringModel, path: str, what: str, remote: str | None) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(dvc.read_output(path, model.commit, repo=root, remote=remote)))
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        source = f"remote '{remote}'" if remote else "the default remote"
        raise PipelineError(
            f"the {what} of {where(model)}, {path}, is in neither the DVC cache nor {source} "
            f"({first_line(error)}): `make pull` at that commit, or `make reproduce REV=<commit>`"
        ) from None


def read_text(root: Path, model: ScoringModel, path: str) -> str | None:
    if model.commit is not None:
        return dvc.show_file(model.commit, path, cwd=root)
    file = root / path
    return file.read_text(encoding="utf-8") if file.is_file() else None


def training_period(lock: dict) -> tuple[dt.date, dt.date]:
    recorded = stage_params(lock, "split")
    try:
        return dt.date.fromisoformat(str(recorded["split.train.start"])), dt.date.fromisoformat(
            str(recorded["split.train.end"])
        )
    except (KeyError, ValueError):
        raise PipelineError("the model's dvc.lock records no split.train period") from None


def read_reference(root: Path, model: ScoringModel, remote: str | None = None) -> Reference:
    """The reference of ``model`` at its commit; a one-sentence error when a required part is missing."""
    lock = dvc.parse_lock(read_text(root, model, dvc.LOCK_FILE))
    if not lock:
        raise PipelineError(f"{where(model)} has no {dvc.LOCK_FILE}: its reference cannot be found")
    start, end = training_period(lock)
    recorded = {
        key.removeprefix("featurize."): value for key, value in stage_params(lock, "featurize").items()
    }
    features = read_table(root, model, TRAIN_SPLIT, "training split (the features' reference)", remote)
    validation = read_table(
        root, model, VALIDATION_PREDICTIONS, "validation scores (the scores' reference)", remote
    )
    test, notes = None, []
    try:
        frame = read_table(root, model, TEST_PREDICTIONS, "test scores", remote)
        test = (frame[LABEL].to_numpy(dtype=np.int64), frame["score"].to_numpy(dtype=np.float64))
    except PipelineError as error:
        notes.append(f"performance intervals not computed: {error}")
    metrics = split_metrics(read_text(root, model, EVALUATION_METRICS), "test")
    if not metrics:
        notes.append(f"{where(model)} records no test metrics ({EVALUATION_METRICS})")
    return Reference(
        features=features,
        scores=validation["score"].to_numpy(dtype=np.float64),
        train_start=start,
        train_end=end,
        featurize=FeaturizeParams(**recorded),
        test_metrics=metrics,
        test=test,
        notes=tuple(notes),
    )


def describe(reference: Reference, model: ScoringModel) -> dict[str, object]:
    """What the report says the reference was."""
    return {
        "model": where(model),
        "features": f"training split, {reference.train_start} to {reference.train_end}, "
        f"{len(reference.features):,} flights",
        "scores": f"validation split, {len(reference.scores):,} flights",
        "test_metrics": {name: round(value, 6) for name, value in sorted(reference.test_metrics.items())},
        "notes": list(reference.notes),
    }
