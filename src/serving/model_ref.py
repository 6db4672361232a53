"""``--model prod | v1.2.0 | path/to/model.pkl``: the model to score with, verified, and what names it.

A stage (``.gto``) or a version (``vX.Y.Z``) is resolved by the registry
(:mod:`src.registry.catalog`, GTO's tags) to its commit. That commit's ``dvc.lock`` and
model file are put side by side in a scratch directory, the file taken from the work
tree when its bytes are already the version's, else downloaded with ``dvc artifacts
get`` (:func:`src.registry.fetch.artifacts_get`); :func:`load_verified_model` then checks
its MD5 against that lock before unpickling it with the allow-list. A path is loaded the
same way against the nearest ``dvc.lock`` above it (the project's, or the one that
``python -m src.registry.fetch`` writes beside a downloaded model).

The flag threshold is ``evaluate.threshold`` as that same lock records it: the one the
model was evaluated with.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from sklearn.pipeline import Pipeline

from src import dvc
from src.core.model_store import LOCK_FILE, file_md5, load_verified_model, locked_md5
from src.core.stage import PipelineError
from src.registry import catalog
from src.registry.fetch import artifacts_get
from src.registry.versions import SEMVER, parse_version, stage_params

log = logging.getLogger("pipeline")

#: The version of a model given by path: it may be registered, but the path does not say so.
UNREGISTERED = "unregistered"
THRESHOLD_PARAM = "evaluate.threshold"


@dataclass(frozen=True)
class ScoringModel:
    """A loaded, verified model and what identifies it in every score it gives."""

    name: str
    version: str
    md5: str
    threshold: float
    model: Pipeline
    #: The commit a registered version was trained at (None for a model given by path).
    commit: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} (md5 {self.md5})"


def is_registry_reference(reference: str, stages: tuple[str, ...]) -> bool:
    return reference in stages or bool(SEMVER.match(reference))


def recorded_threshold(lock_file: Path) -> float:
    """``evaluate.threshold`` as ``lock_file`` records it for the evaluate stage."""
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
    threshold = stage_params(lock, "evaluate").get(THRESHOLD_PARAM)
    if threshold is None:
        raise PipelineError(f"{lock_file}: records no {THRESHOLD_PARAM} (the evaluate stage never ran there)")
    return float(threshold)


def nearest_lock(path: Path) -> Path:
    """The ``dvc.lock`` in the model file's directory or the closest one above it."""
    for directory in Path(path).resolve().parents:
        if (directory / LOCK_FILE.name).is_file():
            return directory / LOCK_FILE.name
    raise PipelineError(f"{path}: no {LOCK_FILE.name} in its directory or above it, so it cannot be verified")


def load_path(
    path: Path, name: str, version: str = UNREGISTERED, lock_file: Path | None = None
) -> ScoringModel:
    """The model file at ``path``, verified against ``lock_file`` (default: the nearest one)."""
    lock_file = nearest_lock(path) if lock_file is None else lock_file
    model = load_verified_model(path, lock_file)  # unpickled only if its MD5 is the lock's
    return ScoringModel(name, version, locked_md5(path, lock_file), recorded_threshold(lock_file), model)


def load_version(root: Path, reference: str) -> ScoringModel:
    """The registered version named by a stage or a version number, verified against its commit's lock."""
    model = catalog.pick_model(catalog.read_models(root), None)
    versions = catalog.read_versions(root, model.name)
    if SEMVER.match(reference):
        chosen = catalog.find_version(versions, parse_version(reference), model.name)
    else:
        chosen = catalog.holder(versions, reference)
        if chosen is None:
            raise PipelineError(
                f"model reference {reference!r}: no version of {model.name} is in stage {reference}"
            )
    lock_text = dvc.show_file(chosen.commit, LOCK_FILE.name, cwd=root)
    if lock_text is None:
        raise PipelineError(
            f"{model.name} {chosen.version}: commit {chosen.commit[:12]} has no {LOCK_FILE.name}"
        )
    with tempfile.TemporaryDirectory(prefix="scoring-model-") as scratch:
        lock_file, target = Path(scratch) / LOCK_FILE.name, Path(scratch) / model.path
        lock_file.write_text(lock_text, encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        expected = dvc.locked_outputs(dvc.parse_lock(lock_text)).get(model.path, {}).get("md5")
        in_work_tree = root / model.path
        if expected and in_work_tree.is_file() and file_md5(in_work_tree) == expected:
            shutil.copyfile(in_work_tree, target)
        else:
            log.info("downloading %s %s with dvc artifacts get", model.name, chosen.version)
            artifacts_get(str(root), model.name, str(chosen.version), target, None, [])
        loaded = load_path(target, model.name, str(chosen.version), lock_file)
        return dataclasses.replace(loaded, commit=chosen.commit)


def resolve_model(reference: str, root: Path | None = None) -> ScoringModel:
    """Load the model ``reference`` names: a stage, a version, or a model file's path.

    ``root`` is the project (default: the current directory); a stage or a version is
    looked up in its git repository.
    """
    root = Path.cwd() if root is None else Path(root)
    stages = catalog.read_stages(root)
    if is_registry_reference(reference, stages):
        return load_version(dvc.repository_root(root), reference)
    path = Path(reference)
    if not path.is_file():
        raise PipelineError(
            f"model reference {reference!r} is neither a stage ({', '.join(stages)}), a version "
            "(vMAJOR.MINOR.PATCH) nor a model file"
        )
    model = catalog.pick_model(catalog.read_models(root), None)
    return load_path(path, model.name)
