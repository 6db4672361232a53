"""Pure helpers for the benchmark: summaries, growth exponents, stage timelines, formatting.

Nothing here runs a process or touches a file, so each piece is unit-tested on its own
(tests/test_bench.py).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: DVC announces each stage it runs with this line, before starting the stage's command.
STAGE_MARKER = re.compile(r"^Running stage '(?P<stage>[^']+)':")
#: Name of the timeline segment before DVC starts the first stage (import, graph, checks).
BEFORE_FIRST_STAGE = "(dvc before first stage)"

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Summary:
    """Median and spread of repeated measurements of one quantity."""

    median: float
    low: float
    high: float
    runs: int


def summarise(values: Iterable[float]) -> Summary:
    """The median, minimum and maximum of ``values`` (at least one)."""
    values = list(values)
    if not values:
        raise ValueError("summarise needs at least one value")
    return Summary(statistics.median(values), min(values), max(values), len(values))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else math.nan


def growth_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Slope of the least-squares line through (log size, log value).

    1 means linear growth, 2 quadratic, 0 constant. Needs at least two distinct sizes
    and positive values.
    """
    if len(sizes) != len(values):
        raise ValueError(f"{len(sizes)} sizes but {len(values)} values")
    if len(set(sizes)) < 2:
        raise ValueError("a growth exponent needs at least two distinct sizes")
    if min(sizes) <= 0 or min(values) <= 0:
        raise ValueError("sizes and values must be positive for a log-log fit")
    slope, _intercept = np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(values, float)), 1)
    return float(slope)


def stage_durations(timeline: Sequence[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds from each ``Running stage`` line of ``dvc repro`` output to the next one.

    ``timeline`` holds (seconds since start, line) pairs and ``end`` the total wall
    time. A stage's span therefore includes DVC's work after its command (hashing and
    caching the outputs, writing dvc.lock) and the checks before the next stage; the
    span before the first stage is listed under :data:`BEFORE_FIRST_STAGE`.
    """
    durations: dict[str, float] = {}
    current, started = BEFORE_FIRST_STAGE, 0.0
    for moment, line in timeline:
        match = STAGE_MARKER.match(line)
        if match:
            durations[current] = durations.get(current, 0.0) + moment - started
            current, started = match["stage"], moment
    durations[current] = durations.get(current, 0.0) + max(end - started, 0.0)
    return durations


def stages_run(timeline: Sequence[tuple[float, str]]) -> list[str]:
    """The stages ``dvc repro`` ran, in order."""
    return [match["stage"] for _, line in timeline if (match := STAGE_MARKER.match(line))]


def format_seconds(seconds: float) -> str:
    """Human duration: ``0.412 s``, ``12.3 s``, ``4 min 05 s``."""
    if math.isnan(seconds):
        return "n/a"
    if seconds < 0:
        return "-" + format_seconds(-seconds)
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def format_bytes(size: float) -> str:
    """Binary units: ``850 MiB``, ``4.21 GiB``."""
    if math.isnan(size):
        return "n/a"
    if size >= GIB:
        return f"{size / GIB:.2f} GiB"
    return f"{size / MIB:.0f} MiB"


def format_ratio(value: float) -> str:
    """A ratio as ``1.04×`` (two decimals, three significant digits when small)."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3g}×"


def format_share(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole``."""
    return "n/a" if whole <= 0 else f"{100 * part / whole:.0f}%"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; the first column left-aligned, others right."""
    align = [":--"] + ["--:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(passed: bool) -> str:
    """Table cell for a target check."""
    return "met" if passed else "**missed**"
