"""The gate's settings come from the base revision, not from the branch under review.

A pull request may change ``params.yaml``'s ``gate:`` section (floors, tolerances, the
primary metrics); if the gate read the branch's own file, a branch could relax the rule
that judges it. :func:`gate_params_from_base` reads ``gate:`` from ``params.yaml`` at the
base commit (through :mod:`src.dvc`, the revision resolved to a SHA first). Decision:

- the base has a valid ``gate:`` section: it applies, whatever the branch says;
- the base has no ``params.yaml``, no ``gate:`` section, or one this code cannot read (an
  older main, before the section existed or changed shape): :class:`GateParams`'s
  defaults apply (reviewed code, not the branch's file), with a warning in the log.

:func:`changed_gate_keys` names the settings the branch changes, so the report can say
"this branch changes its own gate settings: …; the base's apply".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from src import dvc
from src.core.params import parse_with
from src.core.stage import PipelineError
from src.review.assessment import GateParams

log = logging.getLogger("pipeline")

PARAMS_FILE = "params.yaml"


def gate_params_from_base(commit: str, cwd: Path | str | None = None) -> GateParams:
    """``gate:`` of ``params.yaml`` at ``commit`` (any revision); the defaults if it has none."""
    sha = dvc.resolve_commit(commit, cwd=cwd)
    text = dvc.show_file(sha, PARAMS_FILE, cwd=cwd)
    origin = f"{PARAMS_FILE} gate at {sha[:12]}"
    try:
        raw = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError as error:
        log.warning("%s: not YAML (%s); the gate's defaults apply", origin, str(error).splitlines()[0])
        return GateParams()
    section = raw.get("gate") if isinstance(raw, Mapping) else None
    if section is None:
        log.warning("%s: the base has no gate section; the gate's defaults apply", origin)
        return GateParams()
    try:
        return parse_with(GateParams, section, origin)
    except PipelineError as error:
        log.warning("%s; the gate's defaults apply", str(error).splitlines()[0])
        return GateParams()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: tree}


def changed_gate_keys(base: GateParams, branch: GateParams) -> list[str]:
    """Dotted ``gate.`` keys whose values differ between the base and the branch, sorted."""
    before = _flatten(base.model_dump(mode="json"), "gate")
    after = _flatten(branch.model_dump(mode="json"), "gate")
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def gate_change_line(keys: list[str]) -> str | None:
    """The report's line when the branch changes its own gate settings; None if it does not."""
    if not keys:
        return None
    names = ", ".join(f"`{key}`" for key in keys)
    return f"This branch changes its own gate settings: {names}; the base's apply."


def gate_for_review(
    base: str, branch_gate: GateParams, cwd: Path | str | None = None
) -> tuple[GateParams, list[str]]:
    """The gate that judges a branch against ``base`` (the base's), and the keys the branch changes.

    Report and gate both call this, so they apply the same rules and say the same thing.
    """
    gate = gate_params_from_base(base, cwd=cwd)
    changed = changed_gate_keys(gate, branch_gate)
    if changed:
        log.warning("%s", gate_change_line(changed))
    return gate, changed
