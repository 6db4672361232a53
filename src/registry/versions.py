"""Version numbers of the model, and the next one proposed from what changed (pure).

A version is ``vMAJOR.MINOR.PATCH``, as GTO tags it (``<model>@v1.2.0``). The next
version is proposed by comparing the ``dvc.lock`` of the last registered version with
the current one, so it rests on what DVC recorded, not on commit messages:

- **major**: the label's definition changed (``featurize.delay_threshold_minutes`` or
  ``featurize.cancelled_as_late``). A score now estimates the chance of something
  else, so thresholds and comparisons made with the old version no longer hold.
- **minor**: the data or the features changed: the raw data's hash or the split
  periods (what the model learned from), the features table's hash while the raw
  data stayed the same (feature or cleaning code, featurize parameters), or
  ``train.feature_groups`` (which features the model sees).
- **patch**: anything else, in practice training or evaluation parameters
  (hyper-parameters, seed, model family) or training code: same inputs, same meaning.

The first registered version is v1.0.0: a registered model has passed the gate.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from src import dvc
from src.core.stage import PipelineError

SEMVER = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

#: Parameters that define the label (dvc.lock records them under the featurize stage).
LABEL_PARAMS = ("featurize.delay_threshold_minutes", "featurize.cancelled_as_late")
FEATURE_GROUPS_PARAM = "train.feature_groups"
#: Stages of dvc.yaml whose lock entries the rule reads.
INGEST, FEATURIZE, SPLIT, TRAIN, EVALUATE = "ingest", "featurize", "split", "train", "evaluate"


class Bump(enum.StrEnum):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    def bump(self, part: Bump) -> Version:
        if part is Bump.MAJOR:
            return Version(self.major + 1, 0, 0)
        if part is Bump.MINOR:
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)


FIRST_VERSION = Version(1, 0, 0)


def parse_version(text: str) -> Version:
    """``v1.2.3`` (or ``1.2.3``) as a :class:`Version`; a one-line error for anything else."""
    match = SEMVER.match(text.strip())
    if not match:
        raise PipelineError(
            f"version {text!r} is not a semantic version: write vMAJOR.MINOR.PATCH, e.g. v1.2.0"
        )
    return Version(*(int(part) for part in match.groups()))


def version_tag(model: str, version: Version) -> str:
    """The git tag GTO gives a registered version."""
    return f"{model}@{version}"


@dataclass(frozen=True)
class Changes:
    """What differs between two locks, by kind, each as the names that changed."""

    label: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()

    @property
    def bump(self) -> Bump:
        if self.label:
            return Bump.MAJOR
        if self.data or self.features:
            return Bump.MINOR
        return Bump.PATCH

    def describe(self) -> str:
        """One line: each kind that changed and what in it, or that nothing did."""
        kinds = [
            f"{kind} ({', '.join(names)})"
            for kind, names in (
                ("label", self.label),
                ("data", self.data),
                ("features", self.features),
                ("parameters", self.parameters),
            )
            if names
        ]
        return "; ".join(kinds) if kinds else "no change in data, features or parameters"


def _stage(lock: Mapping[str, Any] | None, stage: str) -> Mapping[str, Any]:
    return ((lock or {}).get("stages") or {}).get(stage) or {}


def stage_params(lock: Mapping[str, Any] | None, stage: str) -> dict[str, Any]:
    """The parameters a stage ran with, flat (``train.seed``), as the lock records them."""
    recorded = _stage(lock, stage).get("params") or {}
    flat: dict[str, Any] = {}
    for values in recorded.values():  # one entry per params file
        flat.update(dvc.flatten(values))
    return flat


def stage_outputs(lock: Mapping[str, Any] | None, stage: str) -> dict[str, str | None]:
    """Output path -> md5 of one stage, as the lock records them."""
    return {out["path"]: out.get("md5") for out in _stage(lock, stage).get("outs") or []}


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], keys: Iterable[str] | None = None) -> list[str]:
    names = sorted(set(old) | set(new)) if keys is None else list(keys)
    return [name for name in names if old.get(name) != new.get(name)]


def lock_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Changes:
    """Sort what differs between two ``dvc.lock`` files into label, data, features, parameters."""
    featurize_old, featurize_new = stage_params(old, FEATURIZE), stage_params(new, FEATURIZE)
    train_old, train_new = stage_params(old, TRAIN), stage_params(new, TRAIN)
    raw = _changed(stage_outputs(old, INGEST), stage_outputs(new, INGEST))
    data = raw + _changed(stage_params(old, SPLIT), stage_params(new, SPLIT))
    features = [] if raw else _changed(stage_outputs(old, FEATURIZE), stage_outputs(new, FEATURIZE))
    features += _changed(train_old, train_new, [FEATURE_GROUPS_PARAM])
    training = {**stage_params(old, EVALUATE), **train_old}, {**stage_params(new, EVALUATE), **train_new}
    parameters = [name for name in _changed(*training) if name != FEATURE_GROUPS_PARAM]
    return Changes(
        label=tuple(_changed(featurize_old, featurize_new, LABEL_PARAMS)),
        data=tuple(data),
        features=tuple(features),
        parameters=tuple(parameters),
    )


def propose(previous: Version | None, changes: Changes | None) -> Version:
    """The next version: v1.0.0 first, then the previous one bumped as the changes say."""
    if previous is None or changes is None:
        return FIRST_VERSION
    return previous.bump(changes.bump)


def check_new_version(version: Version, registered: Iterable[Version], model: str) -> None:
    """Refuse a version that exists or is not above every registered one."""
    existing = sorted(registered)
    if version in existing:
        raise PipelineError(
            f"{version_tag(model, version)} is already registered: pick another version "
            f"(the highest is {existing[-1]})"
        )
    if existing and version < existing[-1]:
        raise PipelineError(
            f"version {version} does not increase: {model}'s highest registered version is "
            f"{existing[-1]}, so pick a higher one (or leave --version out for the proposal)"
        )
