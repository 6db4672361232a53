"""The calibration benchmark: its statistics by hand, its comparisons equal to the report's, a smoke run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.calibration import Comparer, degrade, tau_for_drop, without_nan
from bench.calibration_report import (
    analytic_detectable,
    change_sd,
    crossing,
    degrees_of_freedom,
    fits_said,
    half_width,
    pooled_sd,
    rate,
    widths_by_replicates,
)
from src.review.assessment import GateParams, SegmentParams, assess
from src.review.bootstrap import replicate_metrics
from src.review.noise import NoiseEstimate
from src.sandbox import REPO_ROOT, command_env
from tests.review.frames import paired_replicates, replicates


def test_rates_and_pooled_spread_by_hand():
    assert rate([True, False, False, True]) == {"count": 2, "of": 4, "share": 0.5}
    # groups (1, 3) and (2, 4, 6): squares 2 + 8 over 1 + 2 degrees of freedom
    assert pooled_sd([[1, 3], [2, 4, 6]]) == pytest.approx(math.sqrt(10 / 3))


def test_the_analytic_interval_is_the_one_the_verdict_computes():
    """The K table must describe the verdict's own interval (src.review.noise), not another."""
    rows_sd, seed_sd, n, resamples = 0.0006, 0.0023, 5, 200
    # replicate values with exactly that spread on both sides: mean 0 ± seed_sd * pattern
    pattern = np.array([-2, -1, 0, 1, 2]) / np.std([-2, -1, 0, 1, 2], ddof=1)
    estimate = NoiseEstimate(tuple(seed_sd * pattern), tuple(seed_sd * pattern), rows_sd, resamples)
    assert change_sd(rows_sd, seed_sd, n) == pytest.approx(estimate.sd)
    assert degrees_of_freedom(rows_sd, seed_sd, n, resamples) == pytest.approx(estimate.degrees_of_freedom)
    assert half_width(rows_sd, seed_sd, n, 0.95, resamples) == pytest.approx(estimate.bounds(0.95)[1])
    assert analytic_detectable(rows_sd, seed_sd, n, 0.95, resamples) > half_width(
        rows_sd, seed_sd, n, 0.95, resamples
    )


def test_more_replicates_narrow_the_interval_at_a_cost():
    widths = widths_by_replicates(0.0006, 0.0023, 0.95, 200, fit_cpu_s=10.0)
    assert [w["replicates"] for w in widths] == list(range(2, 10))
    assert all(a["half_width"] > b["half_width"] for a, b in zip(widths, widths[1:], strict=False))
    assert widths[3]["extra_fit_cpu_s"] == 40.0


def test_the_80_percent_crossing_is_interpolated_between_measured_sizes():
    assert crossing([-0.002, -0.004, -0.006], [0.1, 0.6, 1.0], 0.8) == {
        "value": pytest.approx(0.005),
        "bound": "about",
    }
    assert crossing([-0.002, -0.004], [0.9, 1.0], 0.8) == {"value": 0.002, "bound": "at most"}
    assert crossing([-0.002, -0.004], [0.1, 0.5], 0.8) == {"value": 0.004, "bound": "more than"}


def test_degrading_scores_lowers_the_roc_auc_by_about_the_asked_amount():
    labels = (np.random.default_rng(0).random(4000) < 0.3).astype(np.int8)
    scores = replicates(labels, 1.0, 1, seed=1)[0]
    tau = tau_for_drop(labels, scores, 0.01, seed=3)
    before, after = replicate_metrics(labels, np.vstack([scores, degrade(scores, tau, 3)]), ["roc_auc"])[
        "roc_auc"
    ]
    assert before - after == pytest.approx(0.01, abs=0.0005)


def test_the_benchmarks_comparison_is_the_reports_assessment():
    """Cached pieces, recombined per pair, give exactly what assess() gives the report."""
    labels = (np.random.default_rng(0).random(2000) < 0.3).astype(np.int8)
    attributes = pd.DataFrame({"flight_id": np.arange(2000), "carrier": "UA"})
    gate = GateParams(bootstrap_samples=60, segments=SegmentParams(bootstrap_samples=50))
    comparer = Comparer(labels, attributes, gate)
    base, branch = replicates(labels, 1.0, 4, seed=1), replicates(labels, 1.0, 4, seed=2)
    comparer.add("base", base)
    comparer.add("branch", branch)
    expected = assess({}, {}, paired_replicates(labels, base, branch), gate)
    found = comparer.estimates("base", "branch")
    for change in expected.changes:
        assert found[change.metric] == change.noise
    assert comparer.verdict("base", "branch")["verdict"] == str(expected.verdict)


def test_the_section_says_which_fits_ran_and_which_came_from_the_cache():
    assert fits_said({"fits": 3, "fit_cpu_s_mean": 10.04, "cached_fits": 0}) == "3 fits, 10.0 s of CPU each"
    assert fits_said({"fits": 0, "fit_cpu_s_mean": None, "cached_fits": 125}) == (
        "0 fits (and 125 read back from `--cache`, fitted by an earlier run)"
    )


def test_json_has_no_nan():
    assert without_nan({"a": [1.0, math.nan], "b": {"c": math.inf}}) == {"a": [1.0, None], "b": {"c": None}}


@pytest.mark.slow  # reproduces the pipeline up to split in a copy and trains models
def test_the_smoke_run_on_a_sample_writes_json_and_markdown(tmp_path: Path):
    out = tmp_path / "calibration.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.calibration",
            "--sample",
            "4000",
            "--branches",
            "2",
            "--extra-seeds",
            "1",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        env=command_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["false_alarms"]["against_base"]["of"] == 2
    assert data["false_alarms"]["pairs"] == 3
    assert set(data["detection"]) == {"weather group dropped", "max_iter halved", "learning rate / 10"}
    assert data["replicates"] == 2 and data["sample_flights"] == 4000
    assert "false alarms on reseeded branches" in data["markdown"]
    assert "a smoke run" in data["markdown"]
    assert data["markdown"] in result.stdout
