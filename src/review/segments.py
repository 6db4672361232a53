"""The change segment by segment: carrier, origin, scheduled hour band, distance band (pure).

A model can improve overall and get worse for one carrier. Each segment with at least
``gate.segments.min_flights`` test flights (that both revisions scored) is assessed
like the overall metrics, with the same interval covering test-sample and training
noise (:mod:`src.review.noise`), on that segment's flights. The gate fails, naming the
segment, when one gets worse by more than ``gate.segments.tolerance`` with its interval
on the worse side of zero (or, without training noise, by more than the tolerance
alone), whatever the overall verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.review.assessment import (
    GateParams,
    MetricChange,
    SegmentParams,
    Verdict,
    metric_changes,
    overall_verdict,
    worse_beyond,
)
from src.review.noise import estimate_noise
from src.review.pairing import PairedScores, training_note

#: Failing segments the gate describes in full (worst first); the others are only named.
SEGMENTS_NAMED = 3
#: Segment families: the attribute each is made of (the seeds stage's ``SEGMENT_COLUMNS``).
FAMILIES = {"carrier": "carrier", "origin": "origin", "hour": "sched_dep_hour", "distance": "distance"}


def band_names(edges: Sequence[int], last: int | None, width: int = 0) -> list[str]:
    """Names of the bands that start at ``edges``: ``09-11`` (``last`` the top value), else ``2000+``."""
    names = []
    for index, start in enumerate(edges):
        end = edges[index + 1] - 1 if index + 1 < len(edges) else last
        names.append(f"{start:0{width}d}-{end:0{width}d}" if end is not None else f"{start}+")
    return names


def in_bands(values: pd.Series, edges: Sequence[int], names: Sequence[str]) -> np.ndarray:
    """The band name of each value; values below the first edge fall in the first band."""
    positions = np.searchsorted(np.asarray(edges), values.to_numpy(dtype=np.float64), side="right") - 1
    return np.asarray(names, dtype=object)[np.clip(positions, 0, len(edges) - 1)]


def segment_labels(attributes: pd.DataFrame | None, params: SegmentParams) -> dict[str, np.ndarray]:
    """Per family, each flight's segment (``carrier=UA``, ``hour=09-11``); families whose
    attribute the files lack are left out."""
    if attributes is None:
        return {}
    labels = {}
    for family, column in FAMILIES.items():
        if column not in attributes.columns:
            continue
        values = attributes[column]
        if family == "hour":
            named = in_bands(values, params.hour_bands, band_names(params.hour_bands, 23, width=2))
        elif family == "distance":
            named = in_bands(values, params.distance_bands, band_names(params.distance_bands, None))
        else:
            named = values.astype(str).to_numpy(dtype=object)
        labels[family] = np.array([f"{family}={name}" for name in named], dtype=object)
    return labels


@dataclass(frozen=True)
class SegmentChange:
    """The primary metrics of one segment in both revisions."""

    segment: str
    flights: int
    changes: tuple[MetricChange, ...]

    @property
    def verdict(self) -> Verdict:
        return overall_verdict(self.changes)

    def severity(self, tolerance: dict[str, float]) -> float:
        """The largest worsening in units of its tolerance (for ordering: worst first)."""
        return max(
            (
                change.worsening / (tolerance.get(change.metric) or 1.0)
                for change in self.changes
                if change.worsening is not None
            ),
            default=-np.inf,
        )


@dataclass(frozen=True)
class SegmentAssessment:
    """Every segment assessed (worst first), those too small to assess, and the gate's failures."""

    assessed: tuple[SegmentChange, ...] = ()
    too_small: tuple[tuple[str, int], ...] = ()
    gate_failures: tuple[str, ...] = ()
    #: What could not be assessed, and why (None when every family was).
    note: str | None = None


def assess_segment(
    paired: PairedScores, rows: np.ndarray, segment: str, gate: GateParams, note: str | None
) -> SegmentChange:
    part = paired.subset(rows)
    estimates = estimate_noise(
        (part.base_labels, part.replicates("base")),
        (part.branch_labels, part.replicates("branch")),
        gate.primary_metrics,
        gate.segments.bootstrap_samples,
        gate.seed,
    )
    changes = metric_changes(gate.primary_metrics, estimates, {}, {}, gate.confidence, note)
    return SegmentChange(segment, len(rows), tuple(changes))


def segment_failures(segment: SegmentChange, params: SegmentParams) -> list[str]:
    """The gate's rule on each of a segment's metrics (:func:`worse_beyond`), naming the segment."""
    name = f"segment {segment.segment} ({segment.flights:,} flights)"
    found = [
        worse_beyond(
            change,
            params.tolerance.get(change.metric, 0.0),
            f"{name}: test {change.metric}",
            "segment tolerance",
        )
        for change in segment.changes
    ]
    return [failure for failure in found if failure]


def assess_segments(
    paired: PairedScores | None, gate: GateParams, note: str | None = None
) -> SegmentAssessment:
    """Assess every segment large enough; the gate's failures name the segment.

    ``note`` says why training noise is unknown, if it is (then the tolerance alone
    decides). Without paired scores nothing can be assessed, and the note says so.
    """
    if paired is None or paired.rows == 0:
        return SegmentAssessment(note=f"segments not assessed: {note or 'no paired test predictions'}")
    missing_training = training_note(paired)
    if note is None and missing_training is not None:
        note = f"training noise not measured: {missing_training}"
    params = gate.segments
    labels = segment_labels(paired.attributes, params)
    assessed, too_small = [], []
    for family_labels in labels.values():
        for segment in sorted(set(family_labels)):
            rows = np.flatnonzero(family_labels == segment)
            if len(rows) < params.min_flights:
                too_small.append((segment, len(rows)))
            else:
                assessed.append(assess_segment(paired, rows, segment, gate, note))
    assessed.sort(key=lambda change: (-change.severity(params.tolerance), change.segment))
    failing = [(segment, segment_failures(segment, params)) for segment in assessed]
    failing = [(segment, found) for segment, found in failing if found]
    failures = [failure for _, found in failing[:SEGMENTS_NAMED] for failure in found]
    if len(failing) > SEGMENTS_NAMED:
        more = ", ".join(segment.segment for segment, _ in failing[SEGMENTS_NAMED:])
        failures.append(
            f"{len(failing) - SEGMENTS_NAMED} more segments got worse beyond their tolerance: {more}."
        )
    missing = [family for family in FAMILIES if family not in labels]
    said = f"no {', '.join(missing)} segments: the predictions lack their columns" if missing else None
    return SegmentAssessment(tuple(assessed), tuple(too_small), tuple(failures), said)
