"""Each stage's floor: the parts measured (bench/floors.py) and the report's section (bench/floor_report.py)."""

from __future__ import annotations

import math

import pytest

from bench.floor_report import dvc_seconds, floor_section, stage_floors
from bench.floors import PARTS, measure_parts, stage_module
from bench.report import render_markdown, rest_section
from tests.bench.test_bench import synthetic_results


def timing(wall: float, cpu: float | None = None, what: str = "") -> dict:
    return {"what": what, "wall_s": [wall, wall + 1.0, wall - 0.1], "cpu_s": [cpu or wall] * 3}


def with_floors(train_core_s: float = 1.5, parts: bool = True) -> dict:
    """The synthetic results (ingest and train run directly in 5 s each) with measured floors."""
    results = synthetic_results()
    results["floors"] = {
        "start_up": {
            "ingest": [{"wall_s": 0.5, "cpu_s": 0.4}] * 3,
            "train": [{"wall_s": 2.0, "cpu_s": 1.9}] * 3,
        },
        "parts": {
            "ingest": {"io": timing(0.1)},
            "train": {"io": timing(0.5), "core": timing(train_core_s, 2 * train_core_s, "the booster's fit")},
        }
        if parts
        else {"ingest": {"io": timing(0.1)}},
    }
    return results


def test_stage_module_reads_the_module_a_command_runs():
    assert stage_module("python -m src.stages.train data/split models/model.pkl") == "src.stages.train"
    assert stage_module("  python -m src.stages.seeds data/split data/seeds") == "src.stages.seeds"
    assert stage_module("dvc exp show") is None


def test_every_measured_part_is_an_io_or_core_part_of_a_pipeline_stage():
    assert {part.kind for part in PARTS} == {"io", "core"}
    assert {part.stage for part in PARTS} == {"ingest", "validate", "featurize", "split", "train", "evaluate"}
    assert len({(part.stage, part.kind) for part in PARTS}) == len(PARTS)


def test_a_floor_is_the_median_start_up_io_and_core_and_ingest_has_no_core():
    ingest, train = stage_floors(with_floors()["floors"], ["ingest", "train"])
    assert (train.start_up, train.io, train.core) == ((2.0, 1.9), (0.5, 0.5), (1.5, 3.0))
    assert train.wall_s == pytest.approx(4.0) and train.cpu_s == pytest.approx(5.4)
    assert ingest.core == (0.0, 0.0) and ingest.complete and ingest.wall_s == pytest.approx(0.6)


def test_a_stage_without_parts_has_an_incomplete_floor():
    (train,) = stage_floors(with_floors(parts=False)["floors"], ["train"])
    assert not train.complete and math.isnan(train.core[0])


def test_dvc_time_is_split_into_before_the_first_stage_and_per_stage():
    # each pair: dvc repro 13 s (1 s before the first stage) against 10 s run directly
    assert dvc_seconds(with_floors()) == (1.0, 1.0)


def test_section_shows_each_stages_slack_and_a_bound_within_the_target():
    text = floor_section(with_floors())
    # train run directly in 5 s; floor 2 + 0.5 + 1.5 = 4 s, so 1 s of slack
    assert "| train | 5.0 s | 4.0 s | 1.0 s | 2.0 s | 0.500 s | 1.5 s | 6.0 s | 5.4 s |" in text
    assert "| ingest | 5.0 s | 0.600 s | 4.4 s | 0.500 s | 0.100 s | 0.000 s | 6.0 s | 0.500 s |" in text
    # 0.6 + 4.0 + DVC (1 s before the first stage, 1 s for each of 2 stages) = 7.6 s
    assert "= **7.6 s**, within the target of 20.0 s." in text
    # start-ups 0.5 + 2 s; I/O and core 0.1 + 0.5 + 1.5 s
    assert (
        "Of it, 2.5 s is the stages' start-ups and 3.0 s DVC; their I/O and core computation alone take 2.1 s, within"
        in text
    )
    assert "train: the booster's fit" in text


def test_section_says_when_a_target_is_below_the_floor():
    text = floor_section(with_floors(train_core_s=30.0))
    assert "= **36.1 s**, above the target of 20.0 s: with this stage graph the target cannot be met" in text
    assert "After a training-parameter change (ingest, train)" in text
    assert "their I/O and core computation alone take 30.6 s, above the target by themselves." in text


def test_a_stage_without_a_floor_model_is_named_and_left_out_of_the_bound():
    text = floor_section(with_floors(parts=False))
    # ingest 0.6 s + DVC 3 s; train has its start-up only
    assert "`dvc repro evaluate`: ingest 0.600 s + DVC 3.0 s = **3.6 s**, within the target" in text
    assert "Not counted: train (no floor model; 5.0 s run directly)." in text


def test_section_says_when_floors_were_not_measured():
    assert "Not measured" in floor_section(synthetic_results())


def test_report_has_the_floor_section_and_the_issue_13_targets():
    text = render_markdown(with_floors(), "bench/scaling.png")
    assert "## Each stage against its floor" in text
    assert "| `dvc repro evaluate` (the experiment pipeline), 1× | 13.0 s | ≤ 20.0 s | met |" in text
    assert (
        "| `dvc repro evaluate` after a training-parameter change, 1× | 13.0 s | ≤ 12.0 s | **missed** |"
        in text
    )
    assert "| peak memory of `dvc repro evaluate`, 1× | 200 MiB | ≤ 496 MiB | met |" in text


def with_rest(results: dict) -> dict:
    """``results`` with the stages after the pipeline timed: seeds 4 fits, replay 8."""
    results["rest"] = {
        "wall_s": 31.0,
        "stage_s": {"(dvc before first stage)": 1.0, "seeds": 10.0, "replay": 20.0},
        "stage_cpu_s": {"seeds": 16.0, "replay": 24.0},
        "stage_peak_rss_bytes": {"seeds": 300 * 2**20, "replay": 400 * 2**20},
        "stages_run": ["seeds", "replay"],
        "fits": {"seeds": 4, "replay": 8},
        "forced": ["replay"],
    }
    return results


def test_the_rest_of_the_graph_is_shown_per_fit_and_seeds_against_trains_fit():
    text = rest_section(with_rest(with_floors()))
    assert "| seeds | 4 | 10.0 s | 16.0 s | 4.0 s | 300 MiB |" in text
    assert "| replay | 8 | 20.0 s | 24.0 s | 3.0 s | 400 MiB |" in text
    # the pipeline's median (13 s) plus seeds and replay (30 s)
    assert "every stage of the graph run once takes about 43.0 s" in text
    assert "replay then ran on its own (`dvc repro --force --single-item`)" in text
    # 4 x train's core (1.5 s)
    assert (
        "its floor is at least 4 × train's fit alone (1.5 s wall, 3.0 s CPU; train's core above) = 6.0 s"
        in text
    )
    report = render_markdown(with_rest(with_floors()), "bench/scaling.png")
    assert "| every stage run once (the pipeline, then seeds and replay), 1× | 43.0 s |  |  |" in report


def test_results_without_the_rest_of_the_graph_say_so():
    assert rest_section(with_floors()).startswith("Not measured")


@pytest.mark.slow  # trains a model on the reproduced sample
def test_every_part_runs_on_a_reproduced_project(sample_project):
    measured = measure_parts(sample_project, runs=1)
    assert {(stage, kind) for stage, kinds in measured.items() for kind in kinds} == {
        (part.stage, part.kind) for part in PARTS
    }
    for kinds in measured.values():
        for timings in kinds.values():
            assert len(timings["wall_s"]) == 1 and timings["wall_s"][0] > 0 and timings["what"]
