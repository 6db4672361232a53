"""How often is the pull-request verdict wrong? ``python -m bench.calibration --json OUT``.

A *branch* here is a training configuration and a ``train.seed``: what a git branch that
changes only ``params.yaml``'s ``train`` section trains, through the same functions. Its
replicates are :func:`src.stages.train.fit_model` with ``train.seed`` and with
:func:`src.stages.seeds.noise_seeds` (the ``train`` and ``seeds`` stages), scored with
``predict_proba`` under the fixed thread count (as ``evaluate`` and ``seeds`` score), and
two branches are compared with the review's own functions: replicate metrics and
paired resamples (:mod:`src.review.bootstrap`), the noise estimate
(:mod:`src.review.noise`), verdicts and gate rules (:mod:`src.review.assessment`) and,
on the files' own layout, segments (:func:`src.review.segments.assess_segments` after
:func:`src.review.pairing.pair_predictions`). A git round trip adds only DVC storing and
restoring the same bytes, so the verdicts are those the report would print. Each main
model's resampled metrics are computed once and reused for every pair it is in: the
draws depend only on the row count, ``gate.bootstrap_samples`` and ``gate.seed``, so this
is exactly the paired bootstrap the report runs.

Measured (the Markdown section says it in words): false alarms over ``--branches``
reseeded branches against the base seed and over every pair of them, for this verdict
and for the old rows-only one, and the gate's failures on them (segments included);
detection of real changes; the smallest ROC AUC change detected 80% of the time, from
degraded branches and from the measured noise; and the noise components that choose
``noise.extra_seeds``. Full data: about 120 fits of about 10 s of CPU each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.calibration_report import (
    analytic_detectable,
    crossing,
    pooled_sd,
    rate,
    render_markdown,
    widths_by_replicates,
)
from src.core.params import TrainParams
from src.params import load_params
from src.review.assessment import GateParams, Verdict, gate_failures, metric_changes, overall_verdict
from src.review.bootstrap import replicate_metrics, resampled_values
from src.review.noise import NoiseEstimate, noise_estimate
from src.review.pairing import pair_predictions
from src.review.segments import assess_segments
from src.sandbox import copy_project, dvc, set_params
from src.stages.seeds import KEPT_COLUMNS, SCORE_PREFIX, noise_seeds
from src.stages.train import fit_model, fixed_thread_count

log = logging.getLogger("calibration")

#: Real changes: name -> how the training parameters change.
CHANGES: dict[str, Callable[[TrainParams], TrainParams]] = {
    "weather group dropped": lambda p: p.model_copy(
        update={"feature_groups": [g for g in p.feature_groups if g != "weather"]}
    ),
    "max_iter halved": lambda p: p.model_copy(
        update={
            "hist_gradient_boosting": p.hist_gradient_boosting.model_copy(
                update={"max_iter": p.hist_gradient_boosting.max_iter // 2}
            )
        }
    ),
    "learning rate / 10": lambda p: p.model_copy(
        update={
            "hist_gradient_boosting": p.hist_gradient_boosting.model_copy(
                update={"learning_rate": p.hist_gradient_boosting.learning_rate / 10}
            )
        }
    ),
}
#: Seed groups per change (halving max_iter is small and cheap: two groups).
CHANGE_GROUPS = {"weather group dropped": 1, "max_iter halved": 2, "learning rate / 10": 1}
#: ROC AUC drops of the degraded branches (logit noise sized to cause them).
DROPS = (0.002, 0.004, 0.006, 0.009)
FIRST_BRANCH_SEED = 1
CHANGE_SEED = 1000


class Fitter:
    """Replicate scores of a configuration for a train.seed, cached on disk by content."""

    def __init__(self, splits: dict[str, pd.DataFrame], extra_seeds: int, cache: Path) -> None:
        self.splits, self.extra_seeds, self.cache = splits, extra_seeds, cache
        digest = hashlib.sha256()
        for name in ("train", "test"):
            digest.update(pd.util.hash_pandas_object(splits[name], index=False).to_numpy().tobytes())
        self.data_key = digest.hexdigest()[:16]
        self.fit_cpu: list[float] = []  # CPU seconds of each fit run now
        self.cached = 0  # fits read back from the cache instead

    def scores(self, params: TrainParams, train_seed: int) -> np.ndarray:
        """One row per replicate: ``train_seed`` first, then its noise seeds."""
        rows = []
        for seed in [train_seed, *noise_seeds(train_seed, self.extra_seeds)]:
            key = hashlib.sha256(f"{self.data_key}{params.model_dump_json()}{seed}".encode()).hexdigest()[:24]
            path = self.cache / f"{key}.npy"
            if not path.is_file():
                started = time.process_time()
                model = fit_model(
                    params.model_copy(update={"seed": seed}), self.splits["train"], self.splits["validation"]
                )
                with fixed_thread_count(params.n_threads):
                    found = model.predict_proba(self.splits["test"][list(model.feature_names_in_)])[:, 1]
                self.fit_cpu.append(time.process_time() - started)
                np.save(path, found)
            else:
                self.cached += 1
            rows.append(np.load(path))
        return np.vstack(rows)


class Comparer:
    """Compares groups of replicate scores with the review's functions; each model's pieces once."""

    def __init__(self, labels: np.ndarray, attributes: pd.DataFrame, gate: GateParams) -> None:
        self.labels, self.attributes, self.gate = labels, attributes, gate
        self.metrics = list(gate.primary_metrics)
        self.values: dict[str, dict[str, np.ndarray]] = {}  # group -> metric -> value per replicate
        self.resampled: dict[str, dict[str, np.ndarray]] = {}  # group -> metric -> (replicate, resample)

    def add(self, name: str, scores: np.ndarray) -> None:
        self.values[name] = replicate_metrics(self.labels, scores, self.metrics)
        per_replicate = [
            resampled_values(self.labels, row, self.metrics, self.gate.bootstrap_samples, self.gate.seed)
            for row in scores
        ]
        self.resampled[name] = {m: np.vstack([found[m] for found in per_replicate]) for m in self.metrics}

    def estimates(self, base: str, branch: str, replicates: int | None = None) -> dict[str, NoiseEstimate]:
        """The estimate the report makes (:func:`src.review.noise.estimate_noise`), from cached
        pieces, optionally with the first ``replicates`` of each side only."""
        cut = slice(None, replicates)
        return {
            metric: noise_estimate(
                self.values[base][metric][cut],
                self.values[branch][metric][cut],
                self.resampled[branch][metric][cut].mean(axis=0)
                - self.resampled[base][metric][cut].mean(axis=0),
            )
            for metric in self.metrics
        }

    def verdict(self, base: str, branch: str, replicates: int | None = None) -> dict:
        estimates = self.estimates(base, branch, replicates)
        changes = metric_changes(self.metrics, estimates, {}, {}, self.gate.confidence, None)
        return {
            "verdict": str(overall_verdict(changes)),
            "gate_failed": bool(gate_failures(changes, self.gate)),
            "changes": {c.metric: c.delta for c in changes},
            "sd": {c.metric: c.noise.sd for c in changes},
            "rows_sd": {c.metric: c.noise.rows_sd for c in changes},
        }

    def main_pair_rows_sd(self, base: str, branch: str) -> dict[str, float]:
        """The rows spread of the train-stage models' change alone (what one pair of models gives)."""
        return {
            m: float(np.nanstd(self.resampled[branch][m][0] - self.resampled[base][m][0], ddof=1))
            for m in self.metrics
        }

    def rows_only_verdict(self, base: str, branch: str) -> str:
        """The old verdict: the percentile interval of the main models' paired bootstrap."""
        tail = (1 - self.gate.confidence) / 2 * 100
        called = []
        for metric in self.metrics:
            main_change = self.resampled[branch][metric][0] - self.resampled[base][metric][0]
            low, high = np.nanpercentile(main_change, [tail, 100 - tail])
            called.append(low > 0 or high < 0)
        return "not noise" if any(called) else str(Verdict.NOISE)

    def segment_failures(self, base_scores: np.ndarray, branch_scores: np.ndarray) -> list[str]:
        """The gate's segment failures, from files laid out as evaluate and seeds write them."""
        frames = [self.files(scores) for scores in (base_scores, branch_scores)]
        paired = pair_predictions(frames[0][0], frames[1][0], frames[0][1], frames[1][1])
        return list(assess_segments(paired, self.gate).gate_failures)

    def files(self, scores: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        predictions = self.attributes[["flight_id", "carrier", "origin"]].assign(
            is_late=self.labels, score=scores[0]
        )
        seeds = self.attributes.assign(is_late=self.labels)
        for index, row in enumerate(scores[1:], start=1):
            seeds[f"{SCORE_PREFIX}{index}"] = row
        return predictions, seeds


def degrade(scores: np.ndarray, tau: float, seed: int) -> np.ndarray:
    """Each replicate's scores with logit noise of scale ``tau``: a model worse by a chosen amount."""
    rng = np.random.default_rng(seed)
    clipped = np.clip(scores, 1e-12, 1 - 1e-12)
    logits = np.log(clipped) - np.log1p(-clipped)
    return 1 / (1 + np.exp(-(logits + tau * rng.normal(size=np.shape(scores)))))


def tau_for_drop(labels: np.ndarray, scores: np.ndarray, drop: float, seed: int) -> float:
    """The noise scale that lowers one model's ROC AUC by ``drop`` (bisection; noise drawn once)."""

    def lost(tau: float) -> float:
        before, after = replicate_metrics(
            labels, np.vstack([scores, degrade(scores, tau, seed)]), ["roc_auc"]
        )["roc_auc"]
        return before - after

    low, high = 0.0, 4.0
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if lost(middle) < drop else (low, middle)
    return (low + high) / 2


def measure(
    splits: dict[str, pd.DataFrame],
    params,
    branches: int,
    extra: int,
    cache: Path,
    say: Callable[[str], None],
) -> dict:
    """Fit every group, compare them as the report would, and summarise (the results' JSON)."""
    gate, train = params.gate, params.train
    test = splits["test"]
    labels = test["is_late"].to_numpy(dtype=np.int8)
    fitter = Fitter(splits, extra, cache)
    comparer = Comparer(
        labels, test[[c for c in KEPT_COLUMNS if c != "is_late"]].reset_index(drop=True), gate
    )
    scores: dict[str, np.ndarray] = {}
    seeds = [train.seed, *range(FIRST_BRANCH_SEED, FIRST_BRANCH_SEED + branches)]
    null = [f"default@{seed}" for seed in seeds]
    for number, (name, seed) in enumerate(zip(null, seeds, strict=True)):
        say(
            f"default configuration, group {number + 1} of {len(seeds)} (train.seed {seed}, {extra + 1} fits)"
        )
        scores[name] = fitter.scores(train, seed)
        comparer.add(name, scores[name])
    changed: dict[str, list[str]] = {}
    for change, build in CHANGES.items():
        changed[change] = []
        for group in range(CHANGE_GROUPS[change]):
            name, seed = f"{change}@{CHANGE_SEED + group}", CHANGE_SEED + group
            say(f"{change}, group {group + 1} of {CHANGE_GROUPS[change]} ({extra + 1} fits)")
            scores[name] = fitter.scores(build(train), seed)
            comparer.add(name, scores[name])
            changed[change].append(name)

    base, others = null[0], null[1:]
    say("assessing reseeded branches (segments included)")
    against_base = [comparer.verdict(base, branch) for branch in others]
    segment_failed = [bool(comparer.segment_failures(scores[base], scores[branch])) for branch in others]
    pairs = [(a, b) for i, a in enumerate(null) for b in null[i + 1 :]]
    all_pairs = [comparer.verdict(a, b) for a, b in pairs]
    by_replicates = {
        str(n): rate([comparer.verdict(a, b, n)["verdict"] != Verdict.NOISE for a, b in pairs])
        for n in range(2, extra + 2)
    }
    false_alarms = {
        "branches": len(others),
        "pairs": len(pairs),
        "against_base": rate([v["verdict"] != Verdict.NOISE for v in against_base]),
        "all_pairs": rate([v["verdict"] != Verdict.NOISE for v in all_pairs]),
        "rows_only_against_base": rate(
            [comparer.rows_only_verdict(base, b) != Verdict.NOISE for b in others]
        ),
        "rows_only_all_pairs": rate([comparer.rows_only_verdict(a, b) != Verdict.NOISE for a, b in pairs]),
        "gate_failed_against_base": rate(
            [v["gate_failed"] or s for v, s in zip(against_base, segment_failed, strict=True)]
        ),
        "segment_gate_failed_against_base": rate(segment_failed),
        "by_replicates_all_pairs": by_replicates,
    }

    say("assessing real changes")
    detection = {}
    for change, names in changed.items():
        found = [comparer.verdict(default, name) for name in names for default in null]
        seg = [bool(comparer.segment_failures(scores[base], scores[name])) for name in names]
        detection[change] = {
            "comparisons": len(found),
            "mean_change": {m: float(np.mean([v["changes"][m] for v in found])) for m in comparer.metrics},
            "called_worse": rate([v["verdict"] == Verdict.WORSE for v in found]),
            "called_improved": rate([v["verdict"] == Verdict.IMPROVED for v in found]),
            "gate_failed": rate([v["gate_failed"] for v in found]),
            "segment_gate_failed_against_base": rate(seg),
        }

    say("degraded branches: detection against the size of the change")
    degraded = []
    for drop in DROPS:
        tau = tau_for_drop(labels, scores[base][0], drop, seed=gate.seed)
        found = []
        for index, branch in enumerate(others):
            name = f"{branch}-{drop}"
            comparer.add(name, degrade(scores[branch], tau, seed=index))
            found.append(comparer.verdict(base, name))
        degraded.append(
            {
                "target_drop": drop,
                "tau": tau,
                "mean_roc_auc_change": float(np.mean([v["changes"]["roc_auc"] for v in found])),
                "detected": rate([v["verdict"] == Verdict.WORSE for v in found]),
            }
        )

    main_pair = [comparer.main_pair_rows_sd(a, b) for a, b in pairs]
    ratio = {
        m: float(
            np.median(
                [v["rows_sd"][m] / p[m] for v, p in zip(all_pairs, main_pair, strict=True) if p[m] > 0]
                or [math.nan]
            )
        )
        for m in comparer.metrics
    }
    seed_sd = {m: pooled_sd([comparer.values[n][m] for n in null]) for m in comparer.metrics}
    rows_sd = {m: float(np.median([v["rows_sd"][m] for v in all_pairs])) for m in comparer.metrics}
    detectable = analytic_detectable(
        rows_sd["roc_auc"], seed_sd["roc_auc"], extra + 1, gate.confidence, gate.bootstrap_samples
    )
    empirical = crossing(
        [d["mean_roc_auc_change"] for d in degraded], [d["detected"]["share"] for d in degraded], 0.8
    )
    return {
        "extra_seeds": extra,
        "replicates": extra + 1,
        "test_flights": len(test),
        "train_flights": len(splits["train"]),
        "fits": len(fitter.fit_cpu),
        "cached_fits": fitter.cached,
        "fit_cpu_s_mean": float(np.mean(fitter.fit_cpu)) if fitter.fit_cpu else None,
        "seed_sd": seed_sd,
        "seed_values_base": {m: comparer.values[base][m].tolist() for m in comparer.metrics},
        "rows_sd_median": rows_sd,
        "rows_sd_ratio_replicate_means_to_main_pair": ratio,
        "false_alarms": false_alarms,
        "detection": detection,
        "degraded": degraded,
        "smallest_roc_auc_change_detected_80": {"degraded_branches": empirical, "analytic": detectable},
        "widths_by_replicates": {
            m: widths_by_replicates(
                rows_sd[m], seed_sd[m], gate.confidence, gate.bootstrap_samples, fitter_cpu(fitter)
            )
            for m in comparer.metrics
        },
    }


def fitter_cpu(fitter: Fitter) -> float | None:
    return float(np.mean(fitter.fit_cpu)) if fitter.fit_cpu else None


def prepare_splits(work: Path, sample: int) -> dict[str, pd.DataFrame]:
    """The splits of a fresh copy of the project, reproduced up to ``split`` (on a sample if asked)."""
    project = copy_project(work / "project")
    if sample:
        set_params(project, **{"ingest.sample_flights": sample})
    dvc(project, "repro", "split")
    return read_splits(project / "data" / "split")


def without_nan(data: object) -> object:
    """``data`` with NaN and infinities as None: valid JSON for any reader."""
    if isinstance(data, dict):
        return {key: without_nan(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [without_nan(value) for value in data]
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def read_splits(directory: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(directory / f"{name}.parquet") for name in ("train", "validation", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.calibration", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results (and the Markdown section) here")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown section here")
    parser.add_argument(
        "--sample", "--sample-flights", dest="sample", type=int, default=0, help="smoke run on N flights"
    )
    parser.add_argument(
        "--split-dir", type=Path, help="use these splits instead of reproducing them in a copy"
    )
    parser.add_argument("--branches", type=int, default=20, help="reseeded branches (default 20)")
    parser.add_argument(
        "--extra-seeds",
        type=int,
        help="replicates per branch minus one (default: params.yaml noise.extra_seeds)",
    )
    parser.add_argument("--cache", type=Path, help="keep fitted scores here (resumes an interrupted run)")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format="[calibration %(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )

    params = load_params()
    started, cpu, load_before = time.perf_counter(), time.process_time(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="calibration-") as work:
        splits = read_splits(args.split_dir) if args.split_dir else prepare_splits(Path(work), args.sample)
        cache = args.cache or Path(work) / "scores"
        cache.mkdir(parents=True, exist_ok=True)
        extra = params.noise.extra_seeds if args.extra_seeds is None else args.extra_seeds
        result = measure(splits, params, args.branches, extra, cache, log.info)
    result.update(
        sample_flights=args.sample,
        wall_s=time.perf_counter() - started,
        cpu_s=time.process_time() - cpu,
        load_before=list(load_before),
        load_after=list(os.getloadavg()),
        cores=os.cpu_count(),
    )
    result["markdown"] = render_markdown(result, params.gate)
    print(result["markdown"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(without_nan(result), indent=2, sort_keys=True, allow_nan=False)
        args.json.write_text(text + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(result["markdown"] + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
