"""A fan-out's plan: which configuration runs on which runner, and what came back.

The plan is made once, by ``python -m src.experiments.fanout expand``, from a sweep file
validated exactly as ``make sweep`` validates it; it is a small JSON document that every
runner and the collector read, so all of them agree on the experiments' names (unique
across runners, and free in the git remote) and on who runs what. Everything here is
pure: the commands that read and write the repository are in :mod:`src.experiments.fanout`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from src.core.stage import PipelineError
from src.experiments.selection import Experiment
from src.experiments.spec import Configuration
from src.review.markdown import format_value, table

#: Sweep files the fan-out accepts: the reviewed ones, in the repository.
SPEC_DIR = Path("sweeps")


@dataclass(frozen=True)
class Assigned:
    """A configuration and the runner (1..N) that runs it."""

    configuration: Configuration
    runner: int


@dataclass(frozen=True)
class Plan:
    """The baseline commit every runner checks out, the sweep file, and the assignments."""

    baseline: str
    spec: str
    assigned: tuple[Assigned, ...]

    @property
    def runners(self) -> int:
        return max((item.runner for item in self.assigned), default=0)

    def of_runner(self, runner: int) -> list[Configuration]:
        if not 1 <= runner <= self.runners:
            raise PipelineError(f"--runner {runner}: the plan has runners 1 to {self.runners}")
        return [item.configuration for item in self.assigned if item.runner == runner]

    def runner_of(self, name: str) -> int:
        return next(item.runner for item in self.assigned if item.configuration.name == name)


def spec_in_repository(spec: Path, root: Path) -> str:
    """``spec`` as a path under ``sweeps/`` of the repository at ``root``; an error otherwise.

    The workflow takes the path from whoever starts it: only a reviewed sweep file of
    the commit may run, never a path outside the repository.
    """
    base = (root / SPEC_DIR).resolve()
    resolved = (root / spec).resolve() if not spec.is_absolute() else spec.resolve()
    if not resolved.is_relative_to(base) or resolved.suffix not in (".yaml", ".yml"):
        raise PipelineError(
            f"{spec}: the sweep file must be a .yaml file under {SPEC_DIR}/ of the repository"
        )
    return str(resolved.relative_to(root.resolve()))


def assign(configurations: Sequence[Configuration], runners: int) -> list[Assigned]:
    """Deal the configurations to ``runners`` runners in turn (1, 2, ..., N, 1, 2...).

    In turn rather than in blocks: the spec's grids usually vary cost along one
    parameter, so dealing spreads cheap and dear ones alike. Never more runners than
    configurations.
    """
    if runners < 1:
        raise PipelineError(f"--runners {runners}: at least 1 runner is needed")
    return [
        Assigned(configuration, index % runners + 1) for index, configuration in enumerate(configurations)
    ]


def matrix(plan: Plan) -> dict:
    """The GitHub Actions matrix: one job per runner, named by its experiments."""
    return {
        "include": [
            {"runner": runner, "experiments": " ".join(c.name for c in plan.of_runner(runner))}
            for runner in range(1, plan.runners + 1)
        ]
    }


def to_json(plan: Plan) -> str:
    """One line of JSON (a GitHub job output must fit on one ``name=value`` line)."""
    document = {
        "baseline": plan.baseline,
        "spec": plan.spec,
        "configurations": [
            {
                "name": item.configuration.name,
                "grid": item.configuration.grid,
                "overrides": list(item.configuration.overrides),
                "runner": item.runner,
            }
            for item in plan.assigned
        ],
        "matrix": matrix(plan),
    }
    return json.dumps(document, separators=(",", ":"))


def from_json(text: str, origin: str) -> Plan:
    try:
        raw = json.loads(text)
        assigned = tuple(
            Assigned(Configuration(c["name"], c["grid"], tuple(c["overrides"])), int(c["runner"]))
            for c in raw["configurations"]
        )
        return Plan(baseline=str(raw["baseline"]), spec=str(raw["spec"]), assigned=assigned)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise PipelineError(
            f"{origin}: not a fan-out plan ({type(error).__name__}: {error}); "
            "make one with `python -m src.experiments.fanout expand`"
        ) from None


def load(path: Path) -> Plan:
    try:
        return from_json(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise PipelineError(
            f"{path}: plan not found (written by `python -m src.experiments.fanout expand`)"
        ) from None


@dataclass(frozen=True)
class Collected:
    """What the collector got: the plan's experiments the git remote has, finished, and the rest."""

    received: list[str]
    missing: list[str]


def collected(plan: Plan, listed: Mapping[str, str]) -> Collected:
    """Split the plan's experiments by whether ``listed`` (name -> DVC state) has them finished."""
    names = [item.configuration.name for item in plan.assigned]
    return Collected(
        received=[name for name in names if listed.get(name) == "success"],
        missing=[name for name in names if listed.get(name) != "success"],
    )


def outcome_lines(plan: Plan, got: Collected, best: Experiment | None, metric: str) -> list[str]:
    """Markdown: the headline, the best on validation, and every configuration's outcome."""
    total = len(plan.assigned)
    lines = [
        f"### Sweep fan-out of `{plan.spec}` on `{plan.baseline[:7]}`: "
        f"{len(got.received)} of {total} experiment(s) received",
        "",
    ]
    if best is not None:
        lines += [
            f"Best on validation {metric}: **{best.name}** ({format_value(best.score(metric))}).",
            "",
        ]
    rows = [
        [
            item.configuration.name,
            " ".join(item.configuration.overrides),
            str(item.runner),
            "received" if item.configuration.name in got.received else "**not received**",
        ]
        for item in plan.assigned
    ]
    lines += [*table(rows, ["Experiment", "Configuration", "Runner", "Outcome"], "llrl"), ""]
    if got.missing:
        runners = sorted({plan.runner_of(name) for name in got.missing})
        lines += [
            f"Not received: {', '.join(got.missing)}. Their runner(s) {', '.join(map(str, runners))} "
            "failed or did not push: the runner's log says why; the others' results are above.",
            "",
        ]
    return lines
