"""Segments: bands, the same noise-aware rule per segment, and a gate that names the segment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.review.assessment import GateParams, SegmentParams, Verdict, assess
from src.review.segments import assess_segments, band_names, in_bands, segment_labels
from tests.review.frames import paired_replicates, replicates

ROWS = 6000
CARRIERS = np.array(["UA"] * 3500 + ["AA"] * 1500 + ["OO"] * 1000)


def gate(**segments) -> GateParams:
    settings = {"min_flights": 1200, "bootstrap_samples": 60, **segments}
    return GateParams(floors={}, bootstrap_samples=60, segments=SegmentParams(**settings))


def test_band_names_and_bands():
    assert band_names([0, 9, 12, 15, 18, 21], 23, width=2) == [
        "00-08",
        "09-11",
        "12-14",
        "15-17",
        "18-20",
        "21-23",
    ]
    assert band_names([0, 500, 2000], None) == ["0-499", "500-1999", "2000+"]
    named = in_bands(pd.Series([0, 499, 500, 2475]), [0, 500, 2000], band_names([0, 500, 2000], None))
    assert named.tolist() == ["0-499", "0-499", "500-1999", "2000+"]


def test_each_flight_gets_a_segment_per_family_it_has_columns_for():
    attributes = pd.DataFrame(
        {
            "carrier": ["UA", "AA"],
            "origin": ["EWR", "JFK"],
            "sched_dep_hour": [6, 21],
            "distance": [200, 2475],
        }
    )
    labels = segment_labels(attributes, SegmentParams())
    assert {family: found.tolist() for family, found in labels.items()} == {
        "carrier": ["carrier=UA", "carrier=AA"],
        "origin": ["origin=EWR", "origin=JFK"],
        "hour": ["hour=00-08", "hour=21-23"],
        "distance": ["distance=0-499", "distance=2000+"],
    }
    assert set(segment_labels(attributes[["carrier"]], SegmentParams())) == {"carrier"}


def test_band_edges_must_start_at_zero_and_increase():
    with pytest.raises(ValueError, match="hour_bands must start at 0"):
        SegmentParams(hour_bands=[5, 12])
    with pytest.raises(ValueError, match="distance_bands must start at 0 and increase"):
        SegmentParams(distance_bands=[0, 500, 500])


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return (np.random.default_rng(0).random(ROWS) < 0.3).astype(np.int8)


def carrier_made_worse(labels: np.ndarray, replicate_count: int = 5):
    """A branch better everywhere (less noisy scores) except for carrier AA, which it scores worse."""
    base = replicates(labels, 1.0, replicate_count, seed=1, flight_noise=1.0, seed_effect=0.02)
    branch = replicates(labels, 1.0, replicate_count, seed=2, flight_noise=0.2, seed_effect=0.02)
    careless = replicates(labels, 1.0, replicate_count, seed=3, flight_noise=1.5, seed_effect=0.02)
    branch[:, CARRIERS == "AA"] = careless[:, CARRIERS == "AA"]
    return paired_replicates(labels, base, branch, carrier=CARRIERS)


def test_a_segment_made_worse_fails_the_gate_by_name_although_the_whole_improved(labels):
    paired = carrier_made_worse(labels)
    overall = assess({}, {}, paired, gate())
    assert overall.verdict is Verdict.IMPROVED and overall.gate_passed
    segments = assess_segments(paired, gate())
    assert segments.assessed[0].segment == "carrier=AA"  # worst first
    assert segments.assessed[0].verdict is Verdict.WORSE
    assert [s.segment for s in segments.assessed if s.verdict is Verdict.IMPROVED] == ["carrier=UA"]
    assert segments.too_small == (("carrier=OO", 1000),)
    assert len(segments.gate_failures) == 2  # both primary metrics
    assert segments.gate_failures[0].startswith(
        "segment carrier=AA (1,500 flights): test roc_auc got worse by "
    )
    assert "more than the segment tolerance 0.0200" in segments.gate_failures[0]
    assert "excludes zero" in segments.gate_failures[0]
    assert segments.note == "no origin, hour, distance segments: the predictions lack their columns"


def test_a_worse_segment_within_its_tolerance_passes(labels):
    segments = assess_segments(
        carrier_made_worse(labels), gate(tolerance={"roc_auc": 0.5, "average_precision": 0.5})
    )
    assert segments.assessed[0].verdict is Verdict.WORSE
    assert segments.gate_failures == ()


def test_without_training_noise_a_segment_falls_back_to_its_tolerance_alone(labels):
    paired = carrier_made_worse(labels, replicate_count=1)
    segments = assess_segments(paired, gate(), "training noise not measured: no seeds")
    assert segments.assessed[0].verdict is Verdict.NOT_ASSESSED
    assert "the tolerance alone decides" in segments.gate_failures[0]
    assert "(training noise not measured: no seeds)" in segments.gate_failures[0]


def test_without_paired_scores_nothing_is_assessed_and_the_note_says_why():
    segments = assess_segments(None, gate(), "the base's predictions are not in the remote")
    assert segments.assessed == () and segments.gate_failures == ()
    assert segments.note == "segments not assessed: the base's predictions are not in the remote"


def test_when_many_segments_fail_the_gate_describes_the_worst_three_and_names_the_rest(labels):
    carriers = np.repeat(["A", "B", "C", "D", "E"], ROWS // 5)
    base = replicates(labels, 1.0, 3, seed=1, flight_noise=0.2, seed_effect=0.02)
    branch = replicates(labels, 1.0, 3, seed=2, flight_noise=1.5, seed_effect=0.02)
    segments = assess_segments(paired_replicates(labels, base, branch, carrier=carriers), gate())
    described = {failure.split(" (")[0] for failure in segments.gate_failures[:-1]}
    assert described == {f"segment {s.segment}" for s in segments.assessed[:3]}
    assert segments.gate_failures[-1] == (
        f"2 more segments got worse beyond their tolerance: {segments.assessed[3].segment}, "
        f"{segments.assessed[4].segment}."
    )


def test_a_segment_without_seeds_on_both_sides_says_training_noise_is_unmeasured(labels):
    paired = carrier_made_worse(labels, replicate_count=1)
    segments = assess_segments(paired, gate())
    assert segments.assessed[0].changes[0].reason == (
        "training noise not measured: the base and the branch have no other seeds' scores"
    )
