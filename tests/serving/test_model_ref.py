"""Resolving --model to a verified model: what is refused, and with which sentence (no process started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from src.core.stage import PipelineError
from src.serving.model_ref import is_registry_reference, nearest_lock, recorded_threshold, resolve_model

PROJECT = {"artifacts": {"late-arrival": {"path": "models/model.pkl", "type": "model"}}}


def project(root: Path, md5: str = "0" * 32, threshold: float | None = 0.3) -> Path:
    """A project directory with dvc.yaml, a model file and a dvc.lock recording ``md5`` for it."""
    (root / "models").mkdir(parents=True)
    (root / "models" / "model.pkl").write_bytes(b"not the recorded bytes")
    (root / "dvc.yaml").write_text(yaml.safe_dump(PROJECT))
    evaluate = {"params": {"params.yaml": {"evaluate": {"threshold": threshold}}}} if threshold else {}
    lock = {
        "schema": "2.0",
        "stages": {"train": {"outs": [{"path": "models/model.pkl", "md5": md5}]}, "evaluate": evaluate},
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    return root


def test_stages_and_versions_go_to_the_registry_anything_else_is_a_path() -> None:
    stages = ("dev", "staging", "prod")
    assert is_registry_reference("prod", stages) and is_registry_reference("v1.2.0", stages)
    assert not is_registry_reference("models/model.pkl", stages)
    assert not is_registry_reference("v1.2", stages)


def test_a_reference_that_resolves_to_nothing_says_what_it_could_have_been(tmp_path: Path) -> None:
    with pytest.raises(
        PipelineError, match=r"'nothing\.pkl' is neither a stage \(dev, staging, prod\), a version"
    ):
        resolve_model("nothing.pkl", project(tmp_path))


def test_a_model_whose_hash_differs_from_its_lock_is_never_unpickled(tmp_path: Path) -> None:
    root = project(tmp_path)
    with pytest.raises(
        PipelineError, match=r"model.pkl: MD5 \w+ differs from 0{32} recorded in .*dvc.lock; refusing"
    ):
        resolve_model(str(root / "models" / "model.pkl"), root)


def test_the_lock_is_the_nearest_one_above_the_model(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert nearest_lock(root / "models" / "model.pkl") == root / "dvc.lock"
    (root / "models" / "dvc.lock").write_text("{}")
    assert nearest_lock(root / "models" / "model.pkl") == root / "models" / "dvc.lock"


def test_the_threshold_is_the_one_the_lock_records(tmp_path: Path) -> None:
    assert recorded_threshold(project(tmp_path / "a", threshold=0.42) / "dvc.lock") == 0.42
    with pytest.raises(PipelineError, match="records no evaluate.threshold"):
        recorded_threshold(project(tmp_path / "b", threshold=None) / "dvc.lock")
