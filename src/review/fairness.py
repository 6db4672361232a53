"""Group gaps: how unevenly the flagging at ``evaluate.threshold`` treats segments (pure).

For each segment family (carrier, origin, hour band, distance band), the spread across
its segments of recall (of late flights, the share flagged) and of the flagged rate
(of all flights): the usual group-fairness gaps (equal opportunity and demographic
parity differences). Each segment's figures are the evaluate stage's own
(:func:`src.stages.evaluate.threshold_metrics`) on the ``train`` stage's model, the one
that ships; segments with fewer than ``gate.segments.min_flights`` flights are left out,
as in the assessment. Computed here rather than with fairlearn's ``MetricFrame``: a
group-by and a max-minus-min, checked against a hand computation in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.review.assessment import SegmentParams
from src.review.pairing import PairedScores
from src.review.segments import segment_labels
from src.stages.evaluate import threshold_metrics

MEASURES = ("recall", "flagged_rate")


@dataclass(frozen=True)
class Spread:
    """One measure across one family's segments, in one revision."""

    gap: float  # highest minus lowest
    lowest: str
    highest: str


@dataclass(frozen=True)
class GroupGap:
    family: str
    measure: str
    segments: int
    base: Spread | None
    branch: Spread | None


def spread(values: dict[str, float]) -> Spread | None:
    if len(values) < 2:
        return None
    lowest = min(values, key=lambda segment: (values[segment], segment))
    highest = max(values, key=lambda segment: (values[segment], segment))
    return Spread(values[highest] - values[lowest], lowest, highest)


def segment_measures(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    found = threshold_metrics(pd.Series(labels), scores, threshold)
    return {measure: float(found[measure]) for measure in MEASURES}


def group_gaps(paired: PairedScores | None, params: SegmentParams, threshold: float) -> list[GroupGap]:
    """Per family and measure, the gap across segments in the base and in the branch."""
    if paired is None:
        return []
    gaps = []
    for family, labels in segment_labels(paired.attributes, params).items():
        segments = [s for s in sorted(set(labels)) if np.count_nonzero(labels == s) >= params.min_flights]
        measured = {side: {measure: {} for measure in MEASURES} for side in ("base", "branch")}
        for segment in segments:
            rows = labels == segment
            for side in ("base", "branch"):
                side_labels = getattr(paired, f"{side}_labels")[rows]
                side_scores = getattr(paired, f"{side}_scores")[rows]
                for measure, value in segment_measures(side_labels, side_scores, threshold).items():
                    measured[side][measure][segment] = value
        for measure in MEASURES:
            gaps.append(
                GroupGap(
                    family,
                    measure,
                    len(segments),
                    spread(measured["base"][measure]),
                    spread(measured["branch"][measure]),
                )
            )
    return gaps
