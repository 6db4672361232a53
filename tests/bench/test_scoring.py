"""Unit tests of the scoring benchmark's pure parts; the measurements themselves run with ``make bench``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.scoring import build_drop, percentiles, render_markdown
from bench.stats import GIB
from tests.stages import frames


def test_a_drop_is_the_flights_stacked_with_distinct_flight_numbers(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name, table in (
        ("flights", frames.flights()),
        ("planes", frames.planes()),
        ("weather", frames.weather()),
    ):
        table.to_csv(source / f"{name}.csv", index=False)
    assert build_drop(tmp_path / "drop", 3, source) == 18
    flights = pd.read_parquet(tmp_path / "drop" / "flights.parquet")
    assert len(flights) == 18 and flights["flight"].nunique() == 18
    assert "arr_delay" not in flights.columns  # a schedule: nothing known only after the flight
    assert {path.name for path in (tmp_path / "drop").iterdir()} == {
        "flights.parquet",
        "planes.csv",
        "weather.csv",
    }


def test_percentiles_of_latencies() -> None:
    summary = percentiles([float(value) for value in range(1, 101)])
    assert summary["requests"] == 100
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p99_ms"] == pytest.approx(99.01)


def results(peak: int, p99: float) -> dict:
    batch = {"flights": 5_388_416, "wall_s": 90.0, "cpu_s": 150.0, "peak_rss_bytes": peak}
    return {
        "machine": {"cpu_count": 2},
        "batch": {"16": {**batch, "flights_per_minute": 5_388_416 / 90 * 60}},
        "latency": {"1 flight": {"requests": 300, "p50_ms": 9.0, "p99_ms": p99}},
        "load_before": (0.1, 0.1, 0.1),
        "load_after": (0.5, 0.2, 0.1),
        "other_programs_share": 0.02,
    }


def test_the_section_shows_figures_targets_and_load() -> None:
    text = render_markdown(results(peak=GIB, p99=15.0))
    assert "| 16x | 5,388,416 | " in text and "3.59 M" in text
    assert text.count("met") == 3 and "missed" not in text
    assert "load average 0.1 before, 0.5 after; other programs took 2%" in text


def test_a_missed_target_is_marked() -> None:
    text = render_markdown(results(peak=3 * GIB, p99=25.0))
    assert text.count("**missed**") == 2


def test_without_its_heading_the_section_fits_the_benchmark_report() -> None:
    assert not render_markdown(results(peak=GIB, p99=15.0), heading=False).startswith("## ")
