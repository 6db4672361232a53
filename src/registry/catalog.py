"""What the registry holds: declared models, allowed stages, registered versions and their stages.

The models are the ``artifacts:`` of ``dvc.yaml`` (the one declaration ``dvc artifacts
get`` also reads); the stages are those of ``.gto`` (which GTO enforces too); versions
and stage assignments are GTO's git tags, read through ``gto show --json``. The parsing
is pure; the ``read_*`` functions ask git and GTO through :mod:`src.dvc`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from src import dvc
from src.core.stage import PipelineError
from src.registry.versions import Version, parse_version

PROJECT_FILE = "dvc.yaml"
GTO_CONFIG = ".gto"
#: The evaluate stage's metrics (dvc.yaml): where every version's headline figures are.
EVALUATION_METRICS = "metrics/evaluate/metrics.json"
MODEL_TYPE = "model"
PROD = "prod"
DEFAULT_STAGES = ("dev", "staging", PROD)


@dataclass(frozen=True)
class Model:
    """A model as ``dvc.yaml`` declares it under ``artifacts:``."""

    name: str
    path: str
    description: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelVersion:
    """A registered version: its commit and the stages it holds now."""

    version: Version
    commit: str
    tag: str
    stages: tuple[str, ...] = ()
    message: str = ""


# --- parsing (pure) -------------------------------------------------------------------------


def declared_models(project_text: str | None) -> dict[str, Model]:
    """The ``type: model`` entries of ``artifacts:`` in a ``dvc.yaml`` text."""
    artifacts = (yaml.safe_load(project_text or "") or {}).get("artifacts") or {}
    return {
        name: Model(
            name=name,
            path=entry["path"],
            description=" ".join(str(entry.get("desc", "")).split()),
            labels=tuple(entry.get("labels") or ()),
        )
        for name, entry in artifacts.items()
        if entry.get("type") == MODEL_TYPE
    }


def pick_model(models: Mapping[str, Model], name: str | None) -> Model:
    """The model named ``name``, or the only one declared; a one-line error otherwise."""
    known = ", ".join(sorted(models)) or "none"
    if name is None:
        if len(models) != 1:
            raise PipelineError(f"name the model with --model: {PROJECT_FILE} declares {known}")
        return next(iter(models.values()))
    if name not in models:
        raise PipelineError(f"unknown model {name!r}: {PROJECT_FILE} artifacts declare {known}")
    return models[name]


def allowed_stages(config_text: str | None) -> tuple[str, ...]:
    """The stages ``.gto`` allows (GTO's ``stages:``), or the default three."""
    stages = (yaml.safe_load(config_text or "") or {}).get("stages")
    return tuple(stages) if stages else DEFAULT_STAGES


def check_stage(stage: str, stages: Sequence[str]) -> str:
    if stage not in stages:
        raise PipelineError(f"unknown stage {stage!r}: the stages are {', '.join(stages)} ({GTO_CONFIG})")
    return stage


def parse_versions(shown: Sequence[Mapping[str, Any]] | None) -> list[ModelVersion]:
    """``gto show <model> --json`` as versions, lowest first; a stage is listed while it is active."""
    versions = []
    for entry in shown or []:
        registrations = entry.get("registrations") or []
        versions.append(
            ModelVersion(
                version=parse_version(entry["version"]),
                commit=entry["commit_hexsha"],
                tag=entry.get("ref") or "",
                stages=tuple(stage["stage"] for stage in entry.get("stages") or [] if stage.get("is_active")),
                message=(registrations[-1].get("message") or "").strip() if registrations else "",
            )
        )
    return sorted(versions, key=lambda item: item.version)


def find_version(versions: Sequence[ModelVersion], version: Version, model: str) -> ModelVersion:
    for candidate in versions:
        if candidate.version == version:
            return candidate
    registered = ", ".join(str(item.version) for item in versions) or "none yet"
    raise PipelineError(
        f"{model} {version} is not registered (registered: {registered}); register it with `make register`"
    )


def holder(versions: Sequence[ModelVersion], stage: str) -> ModelVersion | None:
    """The version that holds ``stage`` now, if any."""
    return next((item for item in reversed(versions) if stage in item.stages), None)


def split_metrics(metrics_text: str | None, split: str) -> dict[str, float]:
    """``{metric: value}`` of one split in the evaluate stage's metrics file (empty if none)."""
    section = (json.loads(metrics_text) if metrics_text else {}).get(split) or {}
    return {name: value for name, value in section.items() if dvc.is_number(value)}


# --- reading the repository -----------------------------------------------------------------


def read_models(root: Path, commit: str | None = None) -> dict[str, Model]:
    """The models ``dvc.yaml`` declares in the work tree, or at ``commit``."""
    if commit is not None:
        return declared_models(dvc.show_file(commit, PROJECT_FILE, cwd=root))
    path = root / PROJECT_FILE
    return declared_models(path.read_text(encoding="utf-8") if path.is_file() else None)


def read_stages(root: Path) -> tuple[str, ...]:
    path = root / GTO_CONFIG
    return allowed_stages(path.read_text(encoding="utf-8") if path.is_file() else None)


def read_versions(root: Path, model: str) -> list[ModelVersion]:
    """Every registered version of ``model`` (GTO answers nothing for a model without tags)."""
    if not dvc.tags(f"{model}@*", cwd=root):
        return []
    return parse_versions(dvc.gto_json("show", model, cwd=root))


def read_metrics(root: Path, commit: str) -> str | None:
    """The evaluate stage's metrics file as ``commit`` holds it."""
    return dvc.show_file(commit, EVALUATION_METRICS, cwd=root)
