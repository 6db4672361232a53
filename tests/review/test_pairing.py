"""Pairing two revisions' files flight by flight: evaluate's predictions and the seeds stage's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.review.pairing import pair_predictions, training_note


def test_pairing_aligns_flights_by_id_and_keeps_only_shared_ones():
    base = pd.DataFrame({"flight_id": [3, 1, 2], "is_late": [1, 0, 1], "score": [0.9, 0.1, 0.8]})
    branch = pd.DataFrame({"flight_id": [1, 2, 4], "is_late": [0, 1, 0], "score": [0.2, 0.7, 0.5]})
    paired = pair_predictions(base, branch)
    assert paired.rows == 2
    assert paired.base_scores.tolist() == [0.1, 0.8]
    assert paired.branch_scores.tolist() == [0.2, 0.7]
    assert (paired.base_rows, paired.branch_rows) == (3, 3)
    assert paired.replicates("base").shape == (1, 2)
    assert paired.base_seed_scores is None and paired.attributes is None


def test_pairing_rejects_duplicate_flights_and_missing_columns():
    good = pd.DataFrame({"flight_id": [1, 2], "is_late": [0, 1], "score": [0.1, 0.9]})
    with pytest.raises(PipelineError, match="more than once"):
        pair_predictions(pd.concat([good, good]), good)
    with pytest.raises(PipelineError, match="score"):
        pair_predictions(good.drop(columns="score"), good)


def frames():
    predictions = pd.DataFrame(
        {
            "flight_id": [1, 2, 3, 4],
            "is_late": [0, 1, 0, 1],
            "score": [0.1, 0.9, 0.2, 0.8],
            "carrier": ["UA", "AA", "UA", "AA"],
            "origin": ["EWR", "JFK", "EWR", "LGA"],
        }
    )
    seeds = pd.DataFrame(
        {
            "flight_id": [4, 3, 2, 1],  # another order: pairing goes by flight
            "is_late": [1, 0, 1, 0],
            "carrier": ["AA", "UA", "AA", "UA"],
            "origin": ["LGA", "EWR", "JFK", "EWR"],
            "sched_dep_hour": [20, 9, 14, 6],
            "distance": [2475, 200, 1000, 719],
            "seed_11": [0.7, 0.3, 0.8, 0.2],
            "seed_12": [0.75, 0.25, 0.85, 0.15],
        }
    )
    return predictions, seeds


def test_seed_scores_are_replicates_in_flight_order_after_the_train_stages_model():
    predictions, seeds = frames()
    paired = pair_predictions(predictions, predictions, seeds, seeds)
    assert paired.replicates("branch").tolist() == [
        [0.1, 0.9, 0.2, 0.8],
        [0.2, 0.8, 0.3, 0.7],
        [0.15, 0.85, 0.25, 0.75],
    ]
    assert paired.attributes.to_dict("list") == {
        "carrier": ["UA", "AA", "UA", "AA"],
        "origin": ["EWR", "JFK", "EWR", "LGA"],
        "sched_dep_hour": [6, 14, 9, 20],
        "distance": [719, 1000, 200, 2475],
    }
    assert training_note(paired) is None


def test_a_seed_whose_scores_are_not_all_numbers_is_left_out_with_a_note():
    predictions, seeds = frames()
    broken = seeds.assign(seed_12=[0.7, np.nan, 0.8, 0.2])
    paired = pair_predictions(predictions, predictions, seeds, broken)
    assert paired.replicates("base").shape == (3, 4)
    assert paired.replicates("branch").shape == (2, 4)
    assert paired.notes == ("branch seed 12 left out: its scores are not all numbers",)


def test_without_seeds_on_a_side_the_training_noise_note_names_it():
    predictions, seeds = frames()
    assert training_note(pair_predictions(predictions, predictions, None, seeds)) == (
        "the base has no other seeds' scores"
    )
    both = training_note(pair_predictions(predictions, predictions, seeds[["flight_id"]], None))
    assert both == "the base and the branch have no other seeds' scores"


def test_a_segment_is_the_same_pair_on_fewer_flights():
    predictions, seeds = frames()
    part = pair_predictions(predictions, predictions, seeds, seeds).subset(np.array([1, 3]))
    assert part.rows == 2
    assert part.replicates("base").tolist() == [[0.9, 0.8], [0.8, 0.7], [0.85, 0.75]]
