"""Unit tests of the benchmark's pure parts: statistics, timelines, formatting, the report.

No timing is asserted here: the benchmark itself runs with ``make bench``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.machine import cpu_model, mem_total_bytes
from bench.report import DVC_ITSELF, Analysis, keep_earlier_sections, render_markdown, write_report
from bench.run import estimate_seconds, parse_args, stage_outputs
from bench.stats import (
    BEFORE_FIRST_STAGE,
    GIB,
    MIB,
    format_bytes,
    format_ratio,
    format_seconds,
    growth_exponent,
    markdown_table,
    ratio,
    stage_durations,
    stages_run,
    summarise,
)

# --- statistics ------------------------------------------------------------------------


def test_summarise_takes_the_median_and_range_of_an_odd_count():
    summary = summarise([5.0, 1.0, 3.0])
    assert (summary.median, summary.low, summary.high, summary.runs) == (3.0, 1.0, 5.0, 3)


def test_summarise_averages_the_middle_pair_of_an_even_count():
    assert summarise([4.0, 1.0, 2.0, 10.0]).median == 3.0


def test_summarise_refuses_no_values():
    with pytest.raises(ValueError, match="at least one"):
        summarise([])


def test_ratio_is_nan_for_a_non_positive_denominator():
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(1.0, 0.0))


@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0, 2.0])
def test_growth_exponent_recovers_a_power_law(exponent):
    sizes = [1, 4, 16]
    values = [7.0 * size**exponent for size in sizes]
    assert growth_exponent(sizes, values) == pytest.approx(exponent)


def test_fixed_costs_pull_the_growth_exponent_below_one():
    sizes = [1, 4, 16]
    values = [30.0 + 10.0 * size for size in sizes]  # 30 s of imports, then linear
    assert 0.5 < growth_exponent(sizes, values) < 1.0


def test_growth_exponent_needs_two_distinct_sizes():
    with pytest.raises(ValueError, match="two distinct sizes"):
        growth_exponent([4, 4], [1.0, 2.0])


def test_growth_exponent_refuses_mismatched_or_non_positive_input():
    with pytest.raises(ValueError, match="2 sizes but 3 values"):
        growth_exponent([1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="positive"):
        growth_exponent([1, 2], [0.0, 2.0])


# --- dvc repro timelines -----------------------------------------------------------------

TIMELINE = [
    (1.5, "Running stage 'ingest':"),
    (1.5, "> python -m src.stages.ingest data/raw"),
    (3.0, "[ingest] flights: copied"),
    (4.0, "Updating lock file 'dvc.lock'"),
    (4.5, "Running stage 'train':"),
    (9.0, "[train] model saved"),
]


def test_stage_durations_run_from_one_stage_line_to_the_next():
    durations = stage_durations(TIMELINE, end=10.0)
    assert durations == {BEFORE_FIRST_STAGE: 1.5, "ingest": 3.0, "train": 5.5}
    assert sum(durations.values()) == pytest.approx(10.0)


def test_stage_durations_without_stages_is_all_dvc():
    assert stage_durations([(0.2, "Data and pipelines are up to date.")], end=2.0) == {
        BEFORE_FIRST_STAGE: 2.0
    }


def test_stage_lines_must_start_the_line():
    timeline = [(1.0, "[train] Running stage 'x': is not a DVC line"), (2.0, "Running stage 'y':")]
    assert stages_run(timeline) == ["y"]
    assert stages_run(TIMELINE) == ["ingest", "train"]


# --- formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4123, "0.412 s"), (12.34, "12.3 s"), (245.0, "4 min 05 s"), (-2.5, "-2.5 s"), (math.nan, "n/a")],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"), [(850 * MIB, "850 MiB"), (4.21 * GIB, "4.21 GiB"), (math.nan, "n/a")]
)
def test_format_bytes(size, text):
    assert format_bytes(size) == text


def test_format_ratio():
    assert format_ratio(1.04321) == "1.04×"
    assert format_ratio(0.0123) == "0.0123×"
    assert format_ratio(math.nan) == "n/a"


def test_markdown_table_aligns_numbers_right():
    table = markdown_table(("stage", "wall"), [("train", "3.0 s")])
    assert table.splitlines() == ["| stage | wall |", "| :-- | --: |", "| train | 3.0 s |"]


# --- machine description -----------------------------------------------------------------


def test_cpu_model_and_memory_come_from_proc_text():
    cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.50GHz\n"
    assert cpu_model(cpuinfo) == "Example CPU @ 2.50GHz"
    assert cpu_model("") == "unknown"
    assert mem_total_bytes("MemTotal:       16384 kB\nMemFree: 1 kB\n") == 16384 * 1024


# --- the report, on synthetic results ----------------------------------------------------


def synthetic_run(factor: int, train_exponent: float) -> dict:
    """One ``dvc repro`` measurement at ``factor``: ingest linear, train as told."""
    stage_s = {BEFORE_FIRST_STAGE: 1.0, "ingest": 2.0 * factor, "train": 10.0 * factor**train_exponent}
    return {
        "wall_s": sum(stage_s.values()),
        "cpu_s": 1.5 * sum(stage_s.values()),
        "peak_rss_bytes": 200 * MIB * factor,
        "stage_s": stage_s,
        "stage_peak_rss_bytes": {"ingest": 100 * MIB * factor, "train": 200 * MIB * factor},
        "stage_cpu_s": {"ingest": 2.0 * factor, "train": 10.0 * factor**train_exponent},
        "stages_run": ["ingest", "train"],
    }


def synthetic_results(train_exponent: float = 1.0, factors: tuple[int, ...] = (1, 4, 16)) -> dict:
    full = [synthetic_run(1, train_exponent) for _ in range(3)]
    direct_stage = {"wall_s": 5.0, "cpu_s": 6.0, "peak_rss_bytes": 100 * MIB}
    quick = "quick" if factors == (1,) else "full"
    return {
        "mode": quick,
        "runs": 3,
        "scaling_runs": 1,
        "factors": list(factors),
        "flights_1x": 1000,
        "started": "2013-01-01 00:00 UTC",
        "duration_s": 60.0,
        "load_before": [0.0, 0.0, 0.0],
        "load_after": [0.0, 0.0, 0.0],
        "machine": {
            "cpu_model": "Example CPU",
            "cpu_count": 2,
            "usable_cpus": 2,
            "memory_bytes": 8 * GIB,
            "platform": "Linux",
            "python": "3.11.0",
            "packages": {"dvc": "3.0"},
            "revision": "abc1234",
        },
        "stage_order": ["ingest", "train"],
        "full": full,
        "direct": [
            {
                "stages": {"ingest": direct_stage, "train": direct_stage},
                "wall_s": 10.0,
                "cpu_s": 12.0,
                "peak_rss_bytes": 100 * MIB,
            }
            for _ in range(3)
        ],
        "noop": {
            "rerun_after_direct": [],
            "version": [{"wall_s": 0.5, "peak_rss_bytes": MIB}] * 3,
            "status": [{"wall_s": 1.0, "peak_rss_bytes": MIB}] * 3,
            "repro": [{"wall_s": 2.0, "peak_rss_bytes": MIB}] * 3,
        },
        "incremental": {
            "param": "train.x",
            "from": 1.0,
            "runs": [{**synthetic_run(1, train_exponent), "value": 1.5}],
        },
        "scaling": {
            str(factor): full if factor == 1 else [synthetic_run(factor, train_exponent)]
            for factor in factors
        },
        "external": {
            "pull": {"status": "not measured", "reason": "bench/pull_vs_boto3.py does not exist"},
            "sweep": {
                "status": "measured",
                "command": "bench/sweep_bench.py --json x",
                "wall_s": 9.0,
                "data": {
                    "experiments": 8,
                    "jobs": 2,
                    "cores": 2,
                    "parallel": {
                        "wall_s": 100.0,
                        "cpu_s": 180.0,
                        "utilisation": 0.9,
                        "others_share_of_capacity": 0.0,
                    },
                    "sequential": {"wall_s": 200.0, "cpu_s": 210.0, "utilisation": 0.525},
                    "wall_ratio": 0.5,
                    "targets": {
                        "utilisation": {"target": 0.85, "value": 0.9, "met": True},
                        "wall_ratio": {"target": 0.65, "value": 0.5, "met": True},
                    },
                },
            },
        },
    }


def test_analysis_fits_exponents_per_stage_and_overall():
    analysis = Analysis(synthetic_results(train_exponent=2.0))
    assert analysis.stage_exponent("stage_s", "ingest") == pytest.approx(1.0)
    assert analysis.stage_exponent("stage_s", "train") == pytest.approx(2.0)
    # DVC's own CPU at 4×: the total (1.5 × wall) less the stages' CPU (ingest 8 s, train 160 s)
    wall_4x = 1.0 + 8.0 + 160.0
    assert analysis.stage_value("stage_cpu_s", 4, DVC_ITSELF) == pytest.approx(1.5 * wall_4x - 168.0)
    assert analysis.memory_exponent == pytest.approx(1.0)
    # dvc repro (1 + 2 + 10 = 13 s) against the stage commands run directly (10 s)
    assert analysis.overhead == pytest.approx(1.3)


def test_report_names_the_stage_that_grows_faster_than_linearly():
    text = render_markdown(synthetic_results(train_exponent=2.0), "bench/scaling.png")
    assert "Stages growing faster than linearly: train (wall exponent 2.00, CPU exponent 2.00)." in text
    assert "ingest (" not in text
    assert "![Wall time and peak memory against data size, log-log](bench/scaling.png)" in text
    assert (
        "| DVC overhead: `dvc repro` / stage commands run directly (median of pairs) | 1.30× | ≤ 1.10× | **missed** |"
        in text
    )
    # 1×: CPU 1.5 × 13 s in total, 12 s of it in the stage commands
    assert "DVC's own processes used 7.5 s of CPU" in text


def test_report_shows_external_results_and_why_one_is_missing():
    text = render_markdown(synthetic_results(), "scaling.png")
    assert "Not measured: bench/pull_vs_boto3.py does not exist." in text
    assert "| the sweep | 1 min 40 s | 3 min 00 s | 0.90 | 0.00 |" in text
    assert "| sweep wall / sequential wall | 0.50× | ≤ 0.65× | met |" in text
    assert "No stage's time grows faster than linearly." in text


def test_external_results_without_a_known_shape_become_a_flat_table():
    results = synthetic_results()
    results["external"]["pull"] = {
        "status": "measured",
        "command": "bench/pull_vs_boto3.py --runs 3",
        "wall_s": 5.0,
        "data": {"objects": 12, "dvc": {"median_s": 2.0}, "log": "line one\nline two"},
    }
    text = render_markdown(results, "scaling.png")
    assert "| `dvc.median_s` | 2 |" in text and "| `objects` | 12 |" in text
    assert "line one" not in text  # multi-line text would break the table


def test_quick_report_fits_nothing_and_says_so():
    text = render_markdown(synthetic_results(factors=(1,)), "scaling.png")
    assert "Only 1× was run, so no growth is fitted." in text
    assert "exponent" not in text.split("## Scaling")[1].split("## The sweep")[0]


def test_report_links_its_picture_relatively_and_the_png_is_reproducible(tmp_path):
    results = synthetic_results()
    out, plot = tmp_path / "BENCHMARKS.md", tmp_path / "bench" / "scaling.png"
    write_report(results, out, plot)
    first = plot.read_bytes()
    write_report(results, out, plot)
    assert plot.read_bytes() == first
    assert first.startswith(b"\x89PNG")
    assert b"Matplotlib" not in first  # no version string: the committed picture changes only with the data
    assert "](bench/scaling.png)" in out.read_text()


# --- command line and dvc.yaml -----------------------------------------------------------


def test_quick_defaults_to_one_run_at_one_size_without_the_other_scripts():
    args = parse_args(["--quick", "--out", "x/BENCH.md"])
    assert (args.runs, args.factors) == (1, [1])
    assert set(args.skip) == {"sweep", "pull", "scoring", "calibration", "fanout"}
    assert args.plot == Path("x/BENCH-scaling.png")
    assert args.results.name == "results-quick.json"
    assert parse_args(["--quick", "--externals"]).skip == {}


def test_full_defaults_and_factor_checks():
    args = parse_args([])
    assert (args.runs, args.scaling_runs, args.factors, args.skip) == (5, 3, [1, 4, 16], {})
    assert args.plot.parts[-2:] == ("bench", "scaling.png")
    with pytest.raises(SystemExit):
        parse_args(["--factors", "4,16"])
    with pytest.raises(SystemExit):
        parse_args(["--factors", "1,x"])


def test_stage_outputs_lists_outs_metrics_and_plots(tmp_path):
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  train:\n"
        "    cmd: python -m src.stages.train\n"
        "    outs: [models/model.pkl]\n"
        "    metrics:\n"
        "      - metrics/train.json:\n"
        "          cache: false\n"
        "    plots:\n"
        "      - metrics/plots:\n"
        "          x: step\n"
    )
    assert stage_outputs(tmp_path) == {"train": ["models/model.pkl", "metrics/train.json", "metrics/plots"]}


def test_estimate_counts_every_remaining_run_and_grows_with_the_sizes():
    quick = estimate_seconds(60.0, runs=1, scaling_runs=1, factors=[1], externals=[])
    # a direct run (60 s), the floors (48 s), seeds and replay (5 x 60 s), an incremental one (30 s)
    # and the no-op commands (7 x 4 s + 6 s)
    assert quick == pytest.approx(60 + 48 + 300 + 30 + 34)
    full = estimate_seconds(60.0, runs=3, scaling_runs=1, factors=[1, 4, 16], externals=["sweep", "pull"])
    assert full > quick + (4 + 16) * 60


def test_report_warns_only_when_other_programs_took_a_real_share_of_the_cores():
    quiet = render_markdown({**synthetic_results(), "others_share": 0.02}, "bench/scaling.png")
    busy = render_markdown({**synthetic_results(), "others_share": 0.3}, "bench/scaling.png")
    assert "Other programs used 2% of the cores" in quiet and "not idle" not in quiet
    assert "**The machine was not idle**: other programs used 30% of the cores" in busy


def test_sweep_section_states_the_floor_that_the_cores_allow():
    text = render_markdown(synthetic_results(), "bench/scaling.png")
    # sequential: 210 s of CPU over 2 cores in 200 s of wall; the sweep: 180 s of CPU
    assert "no schedule gets the sweep below 0.53× of the sequential time" in text
    assert "the floor is 0.45×" in text


def test_a_skipped_script_keeps_its_section_of_the_report_it_replaces_with_the_first_date():
    earlier = render_markdown(synthetic_results(), "bench/scaling.png")
    results = synthetic_results()
    results["external"]["sweep"] = {"status": "not measured", "reason": "skipped (--skip)"}
    keep_earlier_sections(results, earlier)
    kept = render_markdown(results, "bench/scaling.png")
    assert (
        "Not re-measured by this run: skipped (--skip). Kept from the report of 2013-01-01 00:00 UTC, when the "
        "section below was measured" in kept
    )
    assert "| the sweep | 1 min 40 s |" in kept
    # never measured in the earlier report either: nothing to keep
    assert "Not measured: bench/pull_vs_boto3.py does not exist." in kept
    # a third report keeps the first date, and the section once
    later = synthetic_results()
    later["started"] = "2014-01-01 00:00 UTC"
    later["external"]["sweep"] = {"status": "not measured", "reason": "skipped (--skip)"}
    keep_earlier_sections(later, kept)
    again = render_markdown(later, "bench/scaling.png")
    assert "Kept from the report of 2013-01-01 00:00 UTC" in again
    assert again.count("Not re-measured by this run") == 1
