"""The report's "time against floor" section: each stage's measured time beside its floor.

Pure functions of the results ``bench.run`` gathers (``results["floors"]``, from
``bench/floors.py``, and the direct runs of phase 2); tested in tests/bench.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.stats import BEFORE_FIRST_STAGE, format_seconds, markdown_table, summarise

#: Issue 13's targets: a full ``dvc repro`` and a training-parameter change, wall seconds.
FULL_TARGET_S = 20.0
INCREMENTAL_TARGET_S = 12.0


def median(values: Sequence[float]) -> float:
    return summarise(values).median if values else math.nan


@dataclass(frozen=True)
class StageFloor:
    """One stage's floor parts (median wall and CPU seconds; NaN when not measured)."""

    stage: str
    start_up: tuple[float, float]
    io: tuple[float, float]
    core: tuple[float, float]
    core_what: str

    @property
    def wall_s(self) -> float:
        return sum(value for value, _ in self._measured)

    @property
    def cpu_s(self) -> float:
        return sum(value for _, value in self._measured)

    @property
    def _measured(self) -> list[tuple[float, float]]:
        return [part for part in (self.start_up, self.io, self.core) if not math.isnan(part[0])]

    @property
    def complete(self) -> bool:
        """Whether every part was measured (a stage without a floor model has its start-up only)."""
        return len(self._measured) == 3


def stage_floors(floors: dict, order: Sequence[str]) -> list[StageFloor]:
    """The floor of each stage in ``order`` from ``results["floors"]``."""
    rows = []
    for stage in order:
        runs = floors["start_up"].get(stage, [])
        start_up = (median([run["wall_s"] for run in runs]), median([run["cpu_s"] for run in runs]))
        parts = floors["parts"].get(stage, {})

        def part(kind: str, parts: dict = parts) -> tuple[float, float]:
            timing = parts.get(kind)
            return (median(timing["wall_s"]), median(timing["cpu_s"])) if timing else (math.nan, math.nan)

        core = part("core")
        if stage == "ingest" and math.isnan(core[0]):
            core = (0.0, 0.0)  # copying files is all ingest must do: its I/O
        rows.append(StageFloor(stage, start_up, part("io"), core, parts.get("core", {}).get("what", "")))
    return rows


def direct_medians(results: dict, stage: str) -> tuple[float, float]:
    """Median wall and CPU seconds of the stage's command run directly (phase 2)."""
    runs = [run["stages"][stage] for run in results["direct"] if stage in run["stages"]]
    return median([run["wall_s"] for run in runs]), median([run["cpu_s"] for run in runs])


def dvc_seconds(results: dict) -> tuple[float, float]:
    """DVC's own wall seconds in a full run: before the first stage, and per stage after it.

    From the pairs of phase 2 (a ``dvc repro`` and the direct run right after it): the
    difference of their walls, less the part before the first stage, spread over the stages.
    """
    before = median([run["stage_s"].get(BEFORE_FIRST_STAGE, 0.0) for run in results["full"]])
    extra = median(
        [
            full["wall_s"] - direct["wall_s"]
            for full, direct in zip(results["full"], results["direct"], strict=True)
        ]
    )
    stages = max(len(results["stage_order"]), 1)
    return before, max(extra - before, 0.0) / stages


def floor_table(results: dict, floors: list[StageFloor]) -> str:
    rows = []
    for floor in floors:
        wall, cpu = direct_medians(results, floor.stage)
        floor_wall = floor.wall_s if floor.complete else math.nan
        rows.append(
            (
                floor.stage,
                format_seconds(wall),
                format_seconds(floor_wall),
                format_seconds(wall - floor_wall),
                format_seconds(floor.start_up[0]),
                format_seconds(floor.io[0]),
                format_seconds(floor.core[0]),
                format_seconds(cpu),
                format_seconds(floor.cpu_s if floor.complete else math.nan),
            )
        )
    header = (
        "stage",
        "run directly: wall",
        "floor: wall",
        "slack",
        "start-up",
        "I/O",
        "core",
        "run directly: CPU",
        "floor: CPU",
    )
    return markdown_table(header, rows)


def bound_sentence(
    label: str, stages: list[StageFloor], dvc_s: float, target: float, direct: dict[str, float]
) -> str:
    """What the floors of ``stages`` add up to with DVC's own time, against ``target``.

    A stage with no floor model is left out of the sum (so it stays a lower bound) and named
    with its direct time.
    """
    counted = [floor for floor in stages if floor.complete]
    total = sum(floor.wall_s for floor in counted) + dvc_s
    parts = " + ".join(f"{floor.stage} {format_seconds(floor.wall_s)}" for floor in counted)
    verdict = (
        f"above the target of {format_seconds(target)}: with this stage graph the target cannot be met "
        "even with every stage at its floor"
        if total > target
        else f"within the target of {format_seconds(target)}"
    )
    left_out = [
        f"{floor.stage} (no floor model; {format_seconds(direct.get(floor.stage, math.nan))} run directly)"
        for floor in stages
        if not floor.complete
    ]
    note = f" Not counted: {', '.join(left_out)}." if left_out else ""
    start_ups = sum(floor.start_up[0] for floor in counted)
    work = total - dvc_s - start_ups
    split = (
        f" Of it, {format_seconds(start_ups)} is the stages' start-ups and {format_seconds(dvc_s)} DVC; "
        f"their I/O and core computation alone take {format_seconds(work)}"
        + (
            ", within the target: only a graph with fewer processes could meet it."
            if work <= target
            else ", above the target by themselves."
        )
        if counted
        else ""
    )
    return (
        f"{label}: {parts or 'no stage'} + DVC {format_seconds(dvc_s)} = **{format_seconds(total)}**, "
        f"{verdict}.{split}{note}"
    )


def floor_section(results: dict) -> str:
    """The Markdown section, or why it is missing."""
    floors_results = results.get("floors")
    if not floors_results:
        return "Not measured (results from a harness without `bench/floors.py`)."
    order = results["stage_order"]
    floors = stage_floors(floors_results, order)
    before, per_stage = dvc_seconds(results)
    rerun = [
        stage for stage in order if any(stage in run["stages_run"] for run in results["incremental"]["runs"])
    ]
    incremental_before = median(
        [run["stage_s"].get(BEFORE_FIRST_STAGE, 0.0) for run in results["incremental"]["runs"]]
    )
    by_stage = {floor.stage: floor for floor in floors}
    cores = "; ".join(f"{floor.stage}: {floor.core_what}" for floor in floors if floor.core_what)
    direct = {floor.stage: direct_medians(results, floor.stage)[0] for floor in floors}
    full = bound_sentence(
        "`dvc repro evaluate`", floors, before + per_stage * len(order), FULL_TARGET_S, direct
    )
    incremental = bound_sentence(
        f"After a training-parameter change ({', '.join(rerun)})",
        [by_stage[stage] for stage in rerun if stage in by_stage],
        incremental_before + per_stage * len(rerun),
        INCREMENTAL_TARGET_S,
        direct,
    )
    return (
        f"{floor_table(results, floors)}\n\n"
        "A stage's floor is what its essential work alone takes, each part measured by itself in a "
        "reproduced copy (`bench/floors.py`), medians: **start-up** is its process doing nothing "
        "(`python -m <module> --help`: the interpreter and every import the stage makes); **I/O** reads its "
        "inputs and writes its outputs with the stage's own readers and writers; **core** is its essential "
        f"computation on data already in memory ({cores}). **Slack** is the direct run less the floor: "
        "checks, metrics, plots, logging, conversions, and work another stage already did (ingest runs "
        "the validate stage's checks on the drop before validate runs them again).\n\n"
        "Lower bounds, from the floors and DVC's own time (before the first stage, then "
        f"{format_seconds(per_stage)} per stage, from the pairs of `dvc repro` and direct runs):\n\n- {full}\n- {incremental}"
    )
