"""Monitor a drop: ``python -m src.monitoring.monitor --drop DIR [--model prod] [--out reports/monitor]``.

Scores the drop with the model (batch scoring's own reading, checks and features),
compares it with the model's reference at its commit (:mod:`src.monitoring.reference`):
data drift per feature, prediction drift, and, when the drop has ``arr_delay``, ROC AUC
and average precision against the recorded test metrics; then applies the ``monitor``
thresholds (:mod:`src.monitoring.decision`). Writes ``monitor.md``, ``monitor.json`` and
``drift.png`` into ``--out`` (replaced whole, only once everything is computed) and prints
the decision with its reasons. Exit status 0 whatever the decision; 1 with one sentence
when the drop, the model or its reference is unusable.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from src.core.files import atomic_path, dump_json, write_png
from src.core.stage import PipelineError, run_stage
from src.monitoring import drift as drift_stats
from src.monitoring.decision import Decision, MonitorParams
from src.monitoring.findings import PerformanceBase, measure
from src.monitoring.intake import ScoredDrop, read_scored_drop
from src.monitoring.performance import REPORTED_METRICS
from src.monitoring.reference import Reference, describe, read_reference
from src.monitoring.report import drift_figure, report_data, report_markdown
from src.params import load_params
from src.review.assessment import GateParams
from src.serving.drop import drop_limits, open_drop
from src.serving.model_ref import ScoringModel, resolve_model

log = logging.getLogger("pipeline")


def check_dates(scored: ScoredDrop, reference: Reference, model: str) -> int:
    """The model's age in days at the drop's last flight; an error when the drop overlaps training."""
    dates = scored.features["date"].dt.date
    inside = dates.between(reference.train_start, reference.train_end)
    if inside.any():
        raise PipelineError(
            f"{int(inside.sum()):,} flights of the drop (from {dates[inside].min()}) fall in the training period "
            f"{reference.train_start} to {reference.train_end} of {model}: monitoring compares new flights "
            "with what the model learned, so a drop must not overlap it"
        )
    return (dates.max() - reference.train_end).days


def check_seasonal(params: MonitorParams, features: list[str]) -> None:
    unknown = [name for name in params.seasonal_features if name not in features]
    if unknown:
        raise PipelineError(
            f"monitor.seasonal_features: {', '.join(map(repr, unknown))} is not a feature of the model "
            f"(its features: {', '.join(features)})"
        )


def assess(
    scored: ScoredDrop,
    reference: Reference,
    params: MonitorParams,
    gate: GateParams,
    age: int,
    features: list[str],
) -> tuple[dict, dict, object, list | None, Decision]:
    """Every comparison and the decision (pure, given the drop and the reference)."""
    profiles = drift_stats.profile_reference(reference.features, features, params.bins)
    # Flights featurize leaves out (cancelled, when they do not count) have no label: they
    # count for drift, not for performance.
    outcomes: tuple[np.ndarray, np.ndarray] | str = (
        scored.outcome_note or "no outcomes"
        if scored.labels is None
        else (scored.labels[scored.labelled], scored.scores[scored.labelled])
    )
    base = PerformanceBase(
        reference.test_metrics, reference.test, gate.bootstrap_samples, gate.confidence, gate.seed, {}
    )
    metrics = list(dict.fromkeys([*REPORTED_METRICS, *params.max_performance_drop]))
    found = measure(
        profiles,
        drift_stats.score_profile(reference.scores, params.bins),
        scored.features,
        scored.scores,
        outcomes,
        base,
        metrics,
        age,
    )
    return profiles, found.features, found.scores, found.performance, found.decision(params)


def main(argv: list[str] | None = None, resolve: Callable[[str], ScoringModel] = resolve_model) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.monitoring.monitor",
        description="Compare a drop of flights with the production model's reference (data drift, "
        "prediction drift, performance when outcomes are known) and decide: retrain or keep.",
    )
    parser.add_argument(
        "--drop", required=True, type=Path, help="the drop: a directory of tables (flights, ...)"
    )
    parser.add_argument(
        "--model", default="prod", help="a stage (default prod), a version (v1.2.0) or a model file"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports/monitor"), help="report directory (replaced whole)"
    )
    parser.add_argument(
        "--remote", help="DVC remote to read the reference from (default: the default remote)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = load_params()
    reference_limits, limits = drop_limits(params.ingest, params.score)
    drop = open_drop(args.drop, reference_limits, limits)
    model = resolve(args.model)
    features = list(model.model.feature_names_in_)
    check_seasonal(params.monitor, features)
    log.info("reading the reference of %s %s", model.name, model.version)
    reference = read_reference(Path.cwd(), model, args.remote)
    scored = read_scored_drop(drop, model, params.score, limits, reference.featurize)
    age = check_dates(scored, reference, f"{model.name} {model.version}")
    log.info("comparing %d flights with the reference", scored.flights)
    profiles, drifts, scores, performance, decision = assess(
        scored, reference, params.monitor, params.gate, age, features
    )
    dates = scored.features["date"]
    drop_facts = {
        "directory": str(args.drop),
        "flights": scored.flights,
        "rejected": scored.rejected,
        "reject_reasons": scored.reject_reasons,
        "first_date": f"{dates.min():%Y-%m-%d}",
        "last_date": f"{dates.max():%Y-%m-%d}",
        "model_age_days": age,
        "outcome_note": scored.outcome_note,
        "late_rate": None
        if scored.labels is None
        else round(float(np.mean(scored.labels[scored.labelled])), 6),
    }
    data = report_data(
        drop=drop_facts,
        reference=describe(reference, model),
        features=drifts,
        scores=scores,
        performance=performance,
        decision=decision,
        params=params.monitor,
    )
    with atomic_path(args.out) as staged:
        staged.mkdir(parents=True)
        (staged / "monitor.json").write_text(dump_json(data), encoding="utf-8")
        (staged / "monitor.md").write_text(report_markdown(data), encoding="utf-8")
        write_png(drift_figure(profiles, drifts), staged / "drift.png")
    print(f"{decision.verdict}: {model.name} {model.version} on {scored.flights:,} flights of {args.drop}")
    for line in decision.reasons or decision.checks:
        print(f"  {line}")
    for line in decision.not_assessed:
        print(f"  {line}")
    print(f"report: {args.out / 'monitor.md'} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    run_stage("monitor", main)
