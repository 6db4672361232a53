"""The report's Markdown for constructed cases: verdict first, tables through tabulate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from src.review.against_base import MetricRow
from src.review.assessment import (
    Assessment,
    GateParams,
    Interval,
    MetricChange,
    Verdict,
    assess,
    gate_failures,
    overall_verdict,
    pair_predictions,
)
from src.review.facts import ReportFacts, ReproLog, StageChanges
from src.review.fairness import GroupGap, Spread
from src.review.markdown import render_report, table
from src.review.noise import NoiseEstimate
from src.review.segments import SegmentAssessment, SegmentChange

GATE = GateParams()
STAGES = ("ingest", "validate", "featurize", "split", "train", "evaluate")


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row (header and separator lines included), whitespace stripped."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]


def facts_for(changes: list[MetricChange], *, params=None, stages=None, **extra) -> ReportFacts:
    assessment = Assessment(
        changes=tuple(changes),
        verdict=overall_verdict(changes),
        gate_failures=tuple(gate_failures(changes, GATE)),
        interval_note=None if any(change.interval for change in changes) else "the base has no metrics",
        paired_rows=1000,
        base_replicates=5,
        branch_replicates=5,
    )
    rows = [MetricRow(f"test.{change.metric}", change.base, change.branch) for change in changes]
    changed = [("metrics/evaluate/metrics.json", row) for row in rows if row.base != row.branch]
    return ReportFacts(
        base="main",
        gate=GATE,
        assessment=assessment,
        metric_rows=extra.pop("metric_rows", rows),
        params=[("train.hist_gradient_boosting.max_iter", 200, 100)] if params is None else params,
        stages=stages or StageChanges(order=STAGES, changed=frozenset({"train", "evaluate"})),
        repro_log=extra.pop("repro_log", ReproLog(ran=("train", "evaluate"))),
        stale=extra.pop("stale", []),
        metrics_changed=extra.pop("metrics_changed", changed),
        **extra,
    )


def first_lines(markdown: str, count: int = 5) -> str:
    return "\n".join(markdown.splitlines()[:count])


def test_tables_are_pipe_tables_whose_cells_are_left_as_written():
    lines = table([["roc_auc", "+0.0069", "0.7000"]], ["metric", "change", "`main`"], "lrr")
    assert lines[0].startswith("| metric ") and lines[1].startswith("|:---")
    assert lines[1].endswith(":|")  # numbers right-aligned
    assert table_rows("\n".join(lines))[2] == ["roc_auc", "+0.0069", "0.7000"]  # no re-formatting
    assert len({len(line) for line in lines}) == 1  # padded to one width


def test_report_of_an_improvement_shows_verdict_and_change_first():
    seeds = NoiseEstimate((0.710, 0.712, 0.714), (0.717, 0.719, 0.721), rows_sd=0.001)
    changes = [
        MetricChange("roc_auc", 0.7121, 0.7190, Interval(0.004, 0.010, 0.95), noise=seeds),
        MetricChange("average_precision", 0.5397, 0.5400, Interval(-0.002, 0.003, 0.95)),
    ]
    markdown = render_report(facts_for(changes, curve_images=[("ROC", "roc.png")]))
    head = first_lines(markdown)
    assert "**Verdict: improved**" in head
    assert "gate **passed**" in head
    assert "test roc_auc 0.7121 → 0.7190 (+0.0069, 95% CI +0.0040 to +0.0100)" in head
    assert "`train.hist_gradient_boosting.max_iter` 200 → 100" in head
    assert "Stages re-run: train, evaluate; restored from cache: ingest, validate, featurize, split." in head
    rows = table_rows(markdown)
    headers = [
        "test metric",
        "`main`",
        "this branch",
        "change",
        "97.5% interval",
        "seed SD (base / branch)",
        "verdict",
    ]
    assert headers in rows
    assert [
        "roc_auc",
        "0.7121",
        "0.7190",
        "+0.0069",
        "+0.0040 to +0.0100",
        "0.0020 / 0.0020",
        "improved",
    ] in rows
    assert [
        "average_precision",
        "0.5397",
        "0.5400",
        "+0.0003",
        "-0.0020 to +0.0030",
        "—",
        "within noise",
    ] in rows
    under_the_table = markdown.split("| average_precision", 1)[1].split("\n\n", 2)[1]
    assert under_the_table.startswith("Paired bootstrap over the 1,000 test flights both revisions scored")
    assert "plus the spread across 5 seeds of `main` and 5 of this branch" in under_the_table
    assert markdown.index("![ROC") > markdown.index("#### Gate")  # pictures come after the numbers
    details = markdown.split("<details>", 1)[1]
    assert ["metrics/evaluate/metrics.json", "test.roc_auc", "0.7121", "0.7190", "+0.0069"] in table_rows(
        details
    )


def test_report_of_a_regression_beyond_tolerance_names_the_failing_metric():
    changes = [
        MetricChange("roc_auc", 0.7121, 0.7000, Interval(-0.016, -0.008, 0.95)),
        MetricChange("average_precision", 0.5397, 0.5390, Interval(-0.003, 0.002, 0.95)),
    ]
    markdown = render_report(facts_for(changes))
    head = first_lines(markdown)
    assert "**Verdict: worse**" in head
    assert "gate **failed**" in head
    gate_part = markdown.split("#### Gate", 1)[1].split("####", 1)[0]
    assert "- test roc_auc got worse by 0.0121" in gate_part
    assert "average_precision" not in gate_part


def test_report_of_a_change_within_noise():
    changes = [
        MetricChange("roc_auc", 0.7121, 0.7118, Interval(-0.002, 0.0015, 0.95)),
        MetricChange("average_precision", 0.5397, 0.5401, Interval(-0.002, 0.003, 0.95)),
    ]
    head = first_lines(render_report(facts_for(changes)))
    assert "**Verdict: within noise**" in head
    assert "gate **passed**" in head


def test_report_when_the_base_has_no_metrics():
    changes = [MetricChange("roc_auc", None, 0.71), MetricChange("average_precision", None, 0.53)]
    rows = [MetricRow("validation.roc_auc", None, 0.70), MetricRow("test.roc_auc", None, 0.71)]
    stages = StageChanges(order=STAGES, added=frozenset(STAGES))
    markdown = render_report(facts_for(changes, stages=stages, metric_rows=rows, repro_log=None))
    head = first_lines(markdown)
    assert "**Verdict: no baseline (`main` has no metrics yet)**" in head
    assert "test roc_auc 0.7100 (no base value)" in head
    assert ["test.roc_auc", "—", "0.7100", "new"] in table_rows(markdown)
    assert "No interval with both noise sources: the base has no metrics." in markdown


def test_report_marks_a_removed_metric():
    changes = [MetricChange("roc_auc", 0.71, 0.71, Interval(0.0, 0.0, 0.95))]
    rows = [MetricRow("test.roc_auc", 0.71, 0.71), MetricRow("test.recall", 0.37, None)]
    markdown = render_report(facts_for(changes, metric_rows=rows))
    assert ["test.recall", "0.3700", "—", "removed"] in table_rows(markdown)


def test_report_lists_every_changed_parameter_when_there_are_many():
    params = [(f"train.p{index}", index, index + 1) for index in range(8)]
    changes = [MetricChange("roc_auc", 0.71, 0.71, Interval(0.0, 0.0, 0.95))]
    markdown = render_report(facts_for(changes, params=params))
    assert "and 2 more (below)" in first_lines(markdown)
    section = markdown.split("#### Parameters", 1)[1].split("####", 1)[0]
    assert ["`train.p7`", "7", "8"] in table_rows(section)


def test_report_when_nothing_changed_is_one_line():
    labels = np.arange(200) % 2
    frame = pd.DataFrame({"flight_id": range(200), "is_late": labels, "score": 0.1 + 0.8 * labels})
    same = {"roc_auc": 0.75, "average_precision": 0.7}
    assessment = assess(same, same, pair_predictions(frame, frame), GATE)
    facts = ReportFacts(
        base="main",
        gate=GATE,
        assessment=assessment,
        metric_rows=[MetricRow("test.roc_auc", 0.75, 0.75)],
        params=[],
        stages=StageChanges(order=STAGES),
        repro_log=ReproLog(),
        stale=[],
    )
    markdown = render_report(facts)
    assert markdown.count("\n") == 1
    assert markdown.startswith("Nothing changed against `main`")
    assert "gate **passed**" in markdown


def test_report_warns_when_the_workspace_is_not_reproduced():
    changes = [MetricChange("roc_auc", 0.71, 0.71, Interval(0.0, 0.0, 0.95))]
    head = first_lines(render_report(facts_for(changes, stale=["train"])))
    assert "**Warning:** the workspace is not reproduced (`dvc status`: train)" in head


def test_report_says_when_the_revisions_scored_different_test_flights():
    changes = [MetricChange("roc_auc", 0.65, 0.67, Interval(-0.03, 0.08, 0.95))]
    facts = facts_for(changes, validation_rows=[MetricRow("tables.flights.rows", 5000, 4000)])
    facts.assessment = replace(facts.assessment, paired_rows=812, base_rows=857, branch_rows=850)
    markdown = render_report(facts)
    assert (
        "Paired bootstrap over the 812 test flights both revisions scored (of 857 in `main` and 850 here)"
        in markdown
    )
    validation = markdown.split("#### Data validation", 1)[1]
    assert ["tables.flights.rows", "5000", "4000", "-1000"] in table_rows(validation)


def test_image_pairs_sit_side_by_side():
    changes = [MetricChange("roc_auc", 0.71, 0.72, Interval(0.001, 0.02, 0.95))]
    pairs = [("confusion matrix test", "base_cm.png", "branch_cm.png"), ("confusion matrix x", None, "b.png")]
    markdown = render_report(facts_for(changes, image_pairs=pairs))
    rows = table_rows(markdown.split("#### Pictures", 1)[1])
    assert [
        "confusion matrix test",
        "![confusion matrix test](base_cm.png)",
        "![confusion matrix test](branch_cm.png)",
    ] in rows
    assert ["confusion matrix x", "(none)", "![confusion matrix x](b.png)"] in rows


def test_the_text_copy_has_a_line_where_the_pictures_were_and_the_same_numbers():
    changes = [MetricChange("roc_auc", 0.71, 0.72, Interval(0.001, 0.02, 0.95))]
    facts = facts_for(
        changes, curve_images=[("ROC", "roc.png")], image_pairs=[("confusion matrix test", "a.png", "b.png")]
    )
    full = render_report(facts)
    text = render_report(facts, pictures_at="in the artifact `report` of [this run](https://ci/1).")
    assert "#### Pictures" not in text and "](" not in text.replace("[this run](https://ci/1)", "")
    assert text.rstrip().endswith("Pictures: in the artifact `report` of [this run](https://ci/1).")
    assert text.split("#### Gate", 1)[0] == full.split("#### Gate", 1)[0]


def test_a_branch_that_changes_its_own_gate_settings_is_told_the_bases_apply():
    changes = [MetricChange("roc_auc", 0.71, 0.72, Interval(0.001, 0.02, 0.95))]
    markdown = render_report(
        facts_for(changes, own_gate_changes=["gate.floors.roc_auc", "gate.tolerance.roc_auc"])
    )
    gate = markdown.split("#### Gate", 1)[1]
    assert gate.lstrip().startswith(
        "This branch changes its own gate settings: `gate.floors.roc_auc`, `gate.tolerance.roc_auc`; "
        "the base's apply."
    )
    assert "This branch changes its own gate" not in render_report(facts_for(changes))


def test_without_training_noise_the_report_says_why_and_what_the_gate_does():
    note = "training noise not measured: `main` has no seeds stage output (data/seeds is not in its dvc.lock)"
    changes = [MetricChange("roc_auc", 0.7121, 0.7150, reason=note)]
    facts = facts_for(changes)
    facts.assessment = replace(facts.assessment, interval_note=note, verdict=Verdict.NOT_ASSESSED)
    markdown = render_report(facts)
    assert f"**Verdict: not assessed ({note})**" in first_lines(markdown)
    assert ["roc_auc", "0.7121", "0.7150", "+0.0029", "—", "—", "not assessed"] in table_rows(markdown)
    assert f"No interval with both noise sources: {note}." in markdown
    assert "the gate falls back to the tolerance alone" in markdown
    assert "Paired bootstrap" not in markdown  # never an interval that leaves training noise out


def test_what_could_not_be_assessed_is_listed():
    changes = [MetricChange("roc_auc", 0.71, 0.72, Interval(0.001, 0.02, 0.95))]
    facts = facts_for(changes)
    facts.assessment = replace(
        facts.assessment, notes=("branch seed 4 left out: its scores are not all numbers",)
    )
    section = render_report(facts).split("#### Not assessed", 1)[1].split("####", 1)[0]
    assert "- branch seed 4 left out: its scores are not all numbers." in section


def segment(name: str, flights: int, base: float, branch: float, low: float, high: float) -> SegmentChange:
    return SegmentChange(name, flights, (MetricChange("roc_auc", base, branch, Interval(low, high, 0.95)),))


def test_segments_that_changed_most_are_folded_under_the_headline_worst_first():
    changes = [MetricChange("roc_auc", 0.71, 0.72, Interval(0.001, 0.02, 0.95))]
    segments = SegmentAssessment(
        assessed=(
            segment("carrier=AA", 1500, 0.70, 0.64, -0.08, -0.04),
            segment("origin=EWR", 19000, 0.71, 0.72, -0.001, 0.02),
        ),
        too_small=(("carrier=OO", 5),),
        gate_failures=("segment carrier=AA (1,500 flights): test roc_auc got worse by 0.0600 ...",),
    )
    markdown = render_report(facts_for(changes, segments=segments))
    lines = markdown.splitlines()
    assert lines[3].startswith(
        "<details><summary>Segments: 2 assessed (1 worse, 1 within noise)"
    )  # under the headline
    fold = markdown.split("<details>", 1)[1].split("</details>", 1)[0]
    rows = table_rows(fold)
    assert rows[2] == [
        "carrier=AA",
        "1,500",
        "roc_auc",
        "0.7000",
        "0.6400",
        "-0.0600",
        "-0.0800 to -0.0400",
        "worse",
    ]
    assert rows[3][0] == "origin=EWR"
    assert "Under 1,000 test flights, not assessed: carrier=OO (5)." in fold


def test_group_gaps_show_both_revisions_and_where_the_extremes_are():
    changes = [MetricChange("roc_auc", 0.71, 0.72, Interval(0.001, 0.02, 0.95))]
    gaps = [
        GroupGap(
            "carrier",
            "recall",
            11,
            Spread(0.21, "carrier=HA", "carrier=UA"),
            Spread(0.25, "carrier=F9", "carrier=UA"),
        )
    ]
    markdown = render_report(facts_for(changes, group_gaps=gaps, threshold=0.3))
    section = markdown.split("#### Group gaps at threshold 0.3", 1)[1]
    assert ["carrier (11)", "recall", "0.2100", "0.2500", "carrier=F9 / carrier=UA"] in table_rows(section)
