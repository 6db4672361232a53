"""The calibration benchmark's small statistics and its Markdown section (pure).

Nothing here trains or reads a file: ``tests/bench/test_calibration.py`` checks each
piece against a hand computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special
from tabulate import tabulate

from src.review.assessment import GateParams, percent

#: The power at which the detectable change is quoted.
POWER = 0.8
#: Replicates per revision tabulated for the choice of noise.extra_seeds.
REPLICATE_CHOICES = range(2, 10)


def rate(flags: Sequence[bool]) -> dict:
    """How many of ``flags`` are true: count, of, share."""
    count = int(sum(bool(flag) for flag in flags))
    return {"count": count, "of": len(flags), "share": count / len(flags) if flags else math.nan}


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """Within-group standard deviation, pooled over groups (each group: one configuration's seeds)."""
    squares = sum(float(np.sum((np.asarray(g) - np.mean(g)) ** 2)) for g in groups if len(g) >= 2)
    freedom = sum(len(g) - 1 for g in groups if len(g) >= 2)
    return math.sqrt(squares / freedom) if freedom else math.nan


def change_sd(rows_sd: float, seed_sd: float, replicates: int) -> float:
    """SD of a change of replicate means, ``replicates`` per revision, as the verdict estimates it."""
    return math.sqrt(rows_sd**2 + 2 * seed_sd**2 / replicates)


def degrees_of_freedom(rows_sd: float, seed_sd: float, replicates: int, resamples: int) -> float:
    """Welch–Satterthwaite as :class:`src.review.noise.NoiseEstimate` computes it, for equal seed
    spreads and replicate counts on both sides (the tests check the two agree)."""
    part = seed_sd**2 / replicates
    uncertain = 2 * part**2 / (replicates - 1) + (rows_sd**4 / (resamples - 1) if resamples > 1 else 0.0)
    return change_sd(rows_sd, seed_sd, replicates) ** 4 / uncertain if uncertain > 0 else math.inf


def half_width(rows_sd: float, seed_sd: float, replicates: int, confidence: float, resamples: int) -> float:
    df = degrees_of_freedom(rows_sd, seed_sd, replicates, resamples)
    return float(special.stdtrit(df, (1 + confidence) / 2)) * change_sd(rows_sd, seed_sd, replicates)


def analytic_detectable(
    rows_sd: float, seed_sd: float, replicates: int, confidence: float, resamples: int
) -> float:
    """The change the interval excludes zero for with probability ``POWER``: (t_{1-α/2} + t_power) × SD."""
    df = degrees_of_freedom(rows_sd, seed_sd, replicates, resamples)
    quantiles = float(special.stdtrit(df, (1 + confidence) / 2)) + float(special.stdtrit(df, POWER))
    return quantiles * change_sd(rows_sd, seed_sd, replicates)


def widths_by_replicates(
    rows_sd: float, seed_sd: float, confidence: float, resamples: int, fit_cpu_s: float | None
) -> list[dict]:
    """For each number of replicates per revision: interval half-width, detectable change, cost."""
    return [
        {
            "replicates": n,
            "extra_seeds": n - 1,
            "half_width": half_width(rows_sd, seed_sd, n, confidence, resamples),
            "detectable_80": analytic_detectable(rows_sd, seed_sd, n, confidence, resamples),
            "extra_fit_cpu_s": None if fit_cpu_s is None else (n - 1) * fit_cpu_s,
        }
        for n in REPLICATE_CHOICES
    ]


def crossing(changes: Sequence[float], detected: Sequence[float], level: float) -> dict:
    """The smallest absolute change detected at ``level``, interpolated between measured sizes.

    ``changes`` and ``detected`` are paired: the mean change of a set of branches and
    the share of them the verdict caught. Says "below" / "above" when ``level`` is
    already reached at the smallest size, or never reached.
    """
    points = sorted(zip((abs(c) for c in changes), detected, strict=True))
    if not points:
        return {"value": None, "bound": "not measured"}
    if points[0][1] >= level:
        return {"value": points[0][0], "bound": "at most"}
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if y0 < level <= y1:
            return {"value": x0 + (level - y0) * (x1 - x0) / (y1 - y0), "bound": "about"}
    return {"value": points[-1][0], "bound": "more than"}


# --- Markdown -------------------------------------------------------------------------


def share(entry: dict) -> str:
    return f"{entry['count']} of {entry['of']} ({entry['share']:.0%})"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    return tabulate(rows, headers, tablefmt="pipe", disable_numparse=True)


def fits_said(result: dict) -> str:
    said = f"{result['fits']} fits"
    if result["fits"]:
        said += f", {result['fit_cpu_s_mean']:.1f} s of CPU each"
    if result.get("cached_fits"):
        said += f" (and {result['cached_fits']} read back from `--cache`, fitted by an earlier run)"
    return said


def render_markdown(result: dict, gate: GateParams) -> str:
    """The section for BENCHMARKS.md and the decision record."""
    alarms, n = result["false_alarms"], result["replicates"]
    sample = (
        f" (a sample of {result['sample_flights']:,} flights: a smoke run)"
        if result.get("sample_flights")
        else ""
    )
    lines = [
        f"Data: {result['train_flights']:,} training and {result['test_flights']:,} test flights{sample}. "
        f"Each branch: {n} replicates (`train.seed` and `noise.extra_seeds` = {result['extra_seeds']}); "
        f"{fits_said(result)}; {result['wall_s'] / 60:.1f} min in all, load {result['load_before'][0]:.1f} → "
        f"{result['load_after'][0]:.1f} on {result['cores']} cores.",
        "",
        "Training noise: test ROC AUC varies by "
        f"{result['seed_sd']['roc_auc']:.4f} (SD across seeds of one configuration), average precision by "
        f"{result['seed_sd']['average_precision']:.4f}; the paired bootstrap of two models' change over test "
        f"flights, by {result['rows_sd_median']['roc_auc']:.4f} and {result['rows_sd_median']['average_precision']:.4f}.",
        "",
        _table(
            [
                [
                    "this verdict (test sample + training noise)",
                    share(alarms["against_base"]),
                    share(alarms["all_pairs"]),
                ],
                [
                    "rows-only paired bootstrap (the old verdict)",
                    share(alarms["rows_only_against_base"]),
                    share(alarms["rows_only_all_pairs"]),
                ],
            ],
            ["false alarms on reseeded branches", "against the base seed", "every pair of seed groups"],
        ),
        "",
        f"The gate failed {share(alarms['gate_failed_against_base'])} reseeded branches "
        f"(by a segment: {share(alarms['segment_gate_failed_against_base'])}).",
        "",
    ]
    detection_rows = [
        [
            change,
            f"{entry['mean_change']['roc_auc']:+.4f}",
            f"{entry['mean_change']['average_precision']:+.4f}",
            share(entry["called_worse"]),
            share(entry["called_improved"]),
            share(entry["gate_failed"]),
        ]
        for change, entry in result["detection"].items()
    ]
    lines += [
        _table(
            detection_rows, ["real change", "ROC AUC", "AP", "called worse", "called improved", "gate failed"]
        ),
        "",
    ]
    degraded_rows = [[f"{d['mean_roc_auc_change']:+.4f}", share(d["detected"])] for d in result["degraded"]]
    smallest = result["smallest_roc_auc_change_detected_80"]
    found = smallest["degraded_branches"]
    lines += [
        _table(degraded_rows, ["degraded branches: ROC AUC change", "called worse"]),
        "",
        f"Smallest ROC AUC change detected 80% of the time: {found['bound']} "
        f"{(found['value'] or 0):.4f} (degraded branches), {smallest['analytic']:.4f} from the measured noise.",
        "",
    ]
    width_rows = [
        [
            str(w["replicates"]),
            f"{w['half_width']:.4f}",
            f"{w['detectable_80']:.4f}",
            "—" if w["extra_fit_cpu_s"] is None else f"{w['extra_fit_cpu_s']:.0f} s",
            alarms["by_replicates_all_pairs"].get(str(w["replicates"]), {}).get("share", math.nan),
        ]
        for w in result["widths_by_replicates"]["roc_auc"]
    ]
    for row in width_rows:
        row[4] = "—" if isinstance(row[4], float) and math.isnan(row[4]) else f"{row[4]:.0%}"
    lines += [
        _table(
            width_rows,
            [
                "replicates per revision",
                f"ROC AUC {percent(gate.confidence)} half-width",
                "detected 80%",
                "extra CPU per revision",
                "false alarms (all pairs)",
            ],
        ),
    ]
    return "\n".join(lines)
