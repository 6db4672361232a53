"""Comparing two versions' scores on the same flights."""

from __future__ import annotations

import numpy as np

from src.serving.shadow import compare_scores, describe


def test_flag_changes_rank_correlation_and_shift() -> None:
    primary = np.array([0.1, 0.2, 0.4, 0.6, 0.9])
    shadow = np.array([0.15, 0.35, 0.3, 0.7, 0.95])  # one pair swaps order
    summary = compare_scores(primary, shadow, primary_threshold=0.3, shadow_threshold=0.3)
    assert summary["flights"] == 5
    assert summary["flag_changes"] == {"share": 0.2, "newly_flagged": 1, "no_longer_flagged": 0}
    assert summary["flagged_share"] == {"primary": 0.6, "shadow": 0.8}
    assert summary["rank_correlation"] == 0.9  # Spearman: one adjacent swap among five
    assert summary["score_shift"]["mean"] == 0.05
    assert summary["score_shift"]["p50"] == 0.05


def test_each_version_flags_at_its_own_threshold() -> None:
    scores = np.array([0.25, 0.35])
    summary = compare_scores(scores, scores, primary_threshold=0.3, shadow_threshold=0.2)
    assert summary["flag_changes"]["newly_flagged"] == 1
    assert summary["score_shift"]["mean_absolute"] == 0.0


def test_constant_scores_have_no_rank_correlation_and_say_so() -> None:
    summary = compare_scores(np.full(3, 0.5), np.array([0.1, 0.2, 0.3]), 0.3, 0.3)
    assert summary["rank_correlation"] is None
    assert "undefined" in describe(summary, "v1.0.0", "v1.1.0")


def test_the_line_says_what_changed() -> None:
    summary = compare_scores(np.array([0.1, 0.5]), np.array([0.4, 0.6]), 0.3, 0.3)
    line = describe(summary, "v1.0.0", "v1.1.0")
    assert line.startswith(
        "shadow v1.1.0 vs v1.0.0: 50.00% of flags change (+1 / -0), rank correlation 1.0000"
    )
    assert compare_scores(np.array([]), np.array([]), 0.3, 0.3) == {"flights": 0}
