"""A sweep file, the configurations it makes, and their validation before anything runs.

A sweep file lists grids (``grids: [{name: ..., set: [override, ...]}]``); each grid's
``set`` entries are ``dvc exp run -S`` overrides in DVC's grid syntax (``key=a,b`` is
one configuration per value). The grids are expanded by DVC's own code, and every
configuration is applied to ``params.yaml`` as ``dvc exp run -S`` would apply it and
validated by :mod:`src.params`, so a typo or a forbidden value stops the sweep with
nothing run.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from src.core.params import PARAMS_FILE
from src.core.stage import PipelineError
from src.params import Params, parse_params


@dataclass(frozen=True)
class Grid:
    """One grid of a sweep file: its name and its ``-S`` overrides, grid syntax allowed."""

    name: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Configuration:
    """One experiment of a sweep: the name it runs under (``-n``) and its overrides."""

    name: str
    grid: str
    overrides: tuple[str, ...]


def parse_spec(raw: object, origin: str) -> list[Grid]:
    """Read a sweep file: ``grids:`` a list of ``{name: ..., set: [override, ...]}``."""
    grids = raw.get("grids") if isinstance(raw, dict) else None
    if not isinstance(grids, list) or not grids:
        raise PipelineError(f"{origin}: expected a non-empty list under 'grids:'")
    parsed = []
    for index, grid in enumerate(grids):
        where = f"{origin}: grids[{index}]"
        if not isinstance(grid, dict) or set(grid) - {"name", "set"}:
            raise PipelineError(f"{where}: expected a mapping with 'name' and 'set' only")
        overrides = grid.get("set")
        if not isinstance(overrides, list) or not overrides or not all(isinstance(o, str) for o in overrides):
            raise PipelineError(f"{where}: 'set' must be a non-empty list of 'key=value' strings")
        parsed.append(Grid(name=str(grid.get("name", f"grid {index + 1}")), overrides=tuple(overrides)))
    if len({slug(grid.name) for grid in parsed}) < len(parsed):
        raise PipelineError(f"{origin}: two grids have the same name (experiment names are made from them)")
    return parsed


def load_spec(path: Path) -> list[Grid]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: sweep file not found") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML: {error}") from None
    return parse_spec(raw, str(path))


def _first_lines(error: BaseException) -> str:
    """Hydra's explanation of a refused override (DVC wraps it as 'Invalid --set-param value')."""
    cause = error.__cause__ or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return "; ".join(lines[:3]) or type(cause).__name__


def expand(overrides: Sequence[str]) -> list[tuple[str, ...]]:
    """The configurations ``dvc exp run -S`` makes of ``overrides`` (``key=a,b`` -> two).

    DVC's own expansion (the one ``dvc exp run --queue -S`` uses).
    """
    from dvc.utils.hydra import get_hydra_sweeps

    try:
        sweeps = get_hydra_sweeps({str(PARAMS_FILE): list(overrides)})
    except Exception as error:  # noqa: BLE001 - Hydra raises several parse error types
        raise PipelineError(f"-S {' '.join(overrides)}: {_first_lines(error)}") from None
    return [tuple(sweep[str(PARAMS_FILE)]) for sweep in sweeps]


def unknown_paths(params: Mapping, overrides: Sequence[str]) -> list[str]:
    """Keys that ``overrides`` change but ``params`` does not have (``+key`` adds, so it is exempt)."""
    from dvc.utils.hydra import to_hydra_overrides

    try:
        parsed = to_hydra_overrides(list(overrides))
    except Exception as error:  # noqa: BLE001 - Hydra raises several parse error types
        raise PipelineError(_first_lines(error)) from None
    unknown = []
    for override in parsed:
        if override.is_add() or override.is_force_add() or override.is_delete():
            continue
        node: object = params
        for part in override.key_or_group.split("."):
            if not isinstance(node, Mapping) or part not in node:
                unknown.append(override.key_or_group)
                break
            node = node[part]
    return unknown


def configured_params(params_text: str, overrides: Sequence[str]) -> object:
    """``params.yaml`` with ``overrides`` applied by DVC's own code, as ``dvc exp run -S`` does.

    DVC applies ``-S`` to a file (hence the scratch copy) and refuses a path that is
    not in it unless written ``+key=value``; that case is named here first.
    """
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    unknown = unknown_paths(yaml.safe_load(params_text) or {}, overrides)
    if unknown:
        raise PipelineError(
            "\n".join(
                f"{key}: unknown parameter path (not in {PARAMS_FILE}; check its spelling)" for key in unknown
            )
        )
    with tempfile.TemporaryDirectory(prefix="sweep-params-") as scratch:
        path = Path(scratch) / PARAMS_FILE.name
        path.write_text(params_text, encoding="utf-8")
        try:
            apply_overrides(path, list(overrides))
        except InvalidArgumentError as error:
            raise PipelineError(_first_lines(error)) from None
        return yaml.safe_load(path.read_text(encoding="utf-8"))


def check_configurations(params_text: str, configurations: Sequence[tuple[str, ...]]) -> list[Params]:
    """Validate every configuration; one error listing all problems, before anything runs."""
    problems: dict[str, list[str]] = {}
    checked = []
    for overrides in configurations:
        label = " ".join(overrides)
        try:
            checked.append(parse_params(configured_params(params_text, overrides), origin=label))
        except PipelineError as error:
            reasons = [line.strip() for line in str(error).splitlines() if line.strip()]
            if len(reasons) > 1 and reasons[0].startswith(f"{label}: "):
                reasons = reasons[1:]  # parse_params: a header, then one problem a line
            for reason in reasons:
                problems.setdefault(reason, []).append(label)
    if problems:
        report = []
        for reason, labels in problems.items():
            shown = labels[:3] + ([f"... and {len(labels) - 3} more"] if len(labels) > 3 else [])
            report.append(f"  - {reason}\n      in: " + "\n          ".join(shown))
        raise PipelineError("the sweep has invalid configurations; nothing was run:\n" + "\n".join(report))
    return checked


def duplicates(configurations: Sequence[tuple[str, ...]], checked: Sequence[Params]) -> list[str]:
    """Configurations that give the same parameters as an earlier one (wasted runs)."""
    seen: dict[str, str] = {}
    repeated = []
    for overrides, params in zip(configurations, checked, strict=True):
        key = params.model_dump_json(by_alias=True)
        label = " ".join(overrides)
        if key in seen:
            repeated.append(f"{label} (same as {seen[key]})")
        seen.setdefault(key, label)
    return repeated


def slug(name: str) -> str:
    """``"gradient boosting"`` -> ``"gradient-boosting"``: a grid name made fit for a git ref."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "grid"


def name_configurations(
    grids: Sequence[Grid], configurations: Mapping[str, Sequence[tuple[str, ...]]], taken: Iterable[str]
) -> list[Configuration]:
    """Give every configuration its experiment name: ``<grid>-<n>``, or ``<grid>-r<k>-<n>``.

    The first sweep of a commit gets ``gradient-boosting-1``...; a later sweep of the same
    commit takes the first round ``k`` whose names are all free, since DVC refuses a
    name that an experiment of the commit already has.
    """
    taken = set(taken)
    for round_number in range(1, 10_000):
        round_tag = "" if round_number == 1 else f"-r{round_number}"
        named = [
            Configuration(name=f"{slug(grid.name)}{round_tag}-{index}", grid=grid.name, overrides=overrides)
            for grid in grids
            for index, overrides in enumerate(configurations[grid.name], 1)
        ]
        if not taken & {configuration.name for configuration in named}:
            return named
    raise PipelineError(
        "no free experiment names left for this commit: remove old ones with `dvc exp remove`"
    )
