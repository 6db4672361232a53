"""Registration's refusals, each one sentence (the real command runs in tests/integration)."""

from __future__ import annotations

from src.registry.register import (
    dirty_tree_error,
    gate_error,
    model_bytes_error,
    not_pushed_error,
    registration_message,
    unreproduced_error,
)
from src.registry.versions import Version
from src.review.assessment import GateParams

OUTPUTS = ["data/raw", "data/split", "models/model.pkl"]


def test_a_clean_state_passes_every_check():
    assert dirty_tree_error([]) is None
    assert unreproduced_error({}) is None
    assert model_bytes_error("models/model.pkl", "abc", "abc") is None
    assert not_pushed_error({"data/raw/flights.csv": "deleted"}, OUTPUTS, "local") is None
    assert gate_error({"roc_auc": 0.70, "average_precision": 0.50}, GateParams()) is None


def test_uncommitted_changes_are_named():
    error = dirty_tree_error([" M params.yaml", "?? notes.md"])
    assert (
        error
        == "the working tree has uncommitted changes (params.yaml, notes.md): commit or stash them first"
    )


def test_an_unreproduced_pipeline_names_its_stages():
    error = unreproduced_error({"train": [{"changed deps": {"params.yaml": "modified"}}], "evaluate": []})
    assert error.startswith("the pipeline is not reproduced (`dvc status` lists evaluate, train)")


def test_model_bytes_that_differ_from_the_lock_are_refused():
    assert "not the def dvc.lock records" in model_bytes_error("models/model.pkl", "abc", "def")
    assert "is not in the workspace" in model_bytes_error("models/model.pkl", None, "def")


def test_outputs_missing_from_the_remote_are_named_as_the_lock_names_them():
    status = {
        "data/raw/flights.csv": "new",
        "data/raw/weather.csv": "new",
        "models/model.pkl": "missing",
        "data/split/train.parquet": "deleted",
    }
    assert not_pushed_error(status, OUTPUTS, "local") == (
        "not in remote 'local': data/raw, models/model.pkl; run `make push` first"
    )


def test_the_gate_floors_apply_to_the_committed_test_metrics():
    error = gate_error({"roc_auc": 0.60, "average_precision": 0.50}, GateParams())
    assert error.startswith("the gate fails: test roc_auc is 0.6000, below its floor of 0.6500")
    assert "is missing" in gate_error({"roc_auc": 0.70}, GateParams())


def test_the_tag_message_says_what_changed():
    assert registration_message("m", Version(1, 0, 0), None, "") == "m v1.0.0: first registered version"
    assert registration_message("m", Version(1, 1, 0), Version(1, 0, 0), "data (data/raw)") == (
        "m v1.1.0: changed since v1.0.0: data (data/raw)"
    )
