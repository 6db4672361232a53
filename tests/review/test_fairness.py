"""Group gaps at the threshold, against a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.review.assessment import SegmentParams
from src.review.fairness import Spread, group_gaps, spread
from src.review.pairing import pair_predictions


def test_the_gaps_by_hand():
    # UA: late flights 1, 2, 3 (scores 0.9, 0.6, 0.2), on time 4 (0.7): recall 2/3, flagged 3/4.
    # AA: late 5 (0.8), on time 6, 7 (0.1, 0.2): recall 1, flagged 1/3.
    # OO: one flight only, under min_flights: left out.
    frame = pd.DataFrame(
        {
            "flight_id": [1, 2, 3, 4, 5, 6, 7, 8],
            "is_late": [1, 1, 1, 0, 1, 0, 0, 1],
            "score": [0.9, 0.6, 0.2, 0.7, 0.8, 0.1, 0.2, 0.9],
            "carrier": ["UA", "UA", "UA", "UA", "AA", "AA", "AA", "OO"],
        }
    )
    branch = frame.assign(
        score=[0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9]
    )  # UA: recall 1, flagged 3/4; AA: 0, 0
    gaps = group_gaps(pair_predictions(frame, branch), SegmentParams(min_flights=2), threshold=0.5)
    assert [(gap.family, gap.measure, gap.segments) for gap in gaps] == [
        ("carrier", "recall", 2),
        ("carrier", "flagged_rate", 2),
    ]
    recall, flagged = gaps
    assert recall.base == Spread(pytest.approx(1 - 2 / 3), "carrier=UA", "carrier=AA")
    assert flagged.base == Spread(pytest.approx(3 / 4 - 1 / 3), "carrier=AA", "carrier=UA")
    assert recall.branch == Spread(1.0, "carrier=AA", "carrier=UA")
    assert flagged.branch == Spread(0.75, "carrier=AA", "carrier=UA")


def test_one_segment_has_no_spread_and_no_pairing_no_gaps():
    assert spread({"carrier=UA": 0.5}) is None
    assert group_gaps(None, SegmentParams(), 0.3) == []
    frame = pd.DataFrame({"flight_id": np.arange(3), "is_late": [0, 1, 1], "score": [0.2, 0.8, 0.4]})
    assert group_gaps(pair_predictions(frame, frame), SegmentParams(), 0.3) == []  # no segment columns
