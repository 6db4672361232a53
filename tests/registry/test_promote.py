"""Promotion's decision and the tag message that keeps its evidence (pure parts)."""

from __future__ import annotations

from src.registry.catalog import ModelVersion
from src.registry.promote import assignment_message, describe_assessment, refusal
from src.registry.versions import Version
from src.review.assessment import Assessment, Interval, MetricChange, Verdict

CURRENT = ModelVersion(Version(1, 0, 0), "a" * 40, "m@v1.0.0", ("prod",))
CANDIDATE = ModelVersion(Version(1, 0, 1), "b" * 40, "m@v1.0.1")
WORSE_BY = "test average_precision got worse by 0.0400 (0.5000 -> 0.4600), more than the tolerance 0.0050"


def assessment(failures: tuple[str, ...] = ()) -> Assessment:
    return Assessment(
        changes=(
            MetricChange("roc_auc", 0.69, 0.70, Interval(0.001, 0.02, 0.95)),
            MetricChange("average_precision", 0.50, 0.46, Interval(-0.06, -0.02, 0.95)),
        ),
        verdict=Verdict.WORSE if failures else Verdict.IMPROVED,
        gate_failures=failures,
        interval_note=None,
        paired_rows=100,
    )


def test_the_assessment_reads_as_one_line_with_intervals():
    assert describe_assessment(assessment()) == (
        "improved: test roc_auc 0.6900 -> 0.7000 (+0.0100, 95% CI +0.0010 to +0.0200); "
        "test average_precision 0.5000 -> 0.4600 (-0.0400, 95% CI -0.0600 to -0.0200)"
    )


def test_a_candidate_that_fails_the_gate_is_refused_with_the_way_to_override():
    message = refusal("m", CANDIDATE, CURRENT, assessment((WORSE_BY,)))
    assert message.startswith("m v1.0.1 may not replace v1.0.0 in prod: " + WORSE_BY)
    assert message.endswith('(to assign it anyway: --force --reason "why")')
    assert refusal("m", CANDIDATE, CURRENT, assessment()) is None


def test_the_tag_message_keeps_the_evidence():
    message = assignment_message("m", CANDIDATE, "prod", CURRENT, assessment(), None)
    assert message.splitlines() == [
        "m v1.0.1 to prod",
        "against v1.0.0 in prod: " + describe_assessment(assessment()),
    ]


def test_a_forced_promotion_keeps_its_reason_and_what_it_overrode():
    message = assignment_message("m", CANDIDATE, "prod", CURRENT, assessment((WORSE_BY,)), "hotfix for JFK")
    assert message.splitlines()[-1] == f"forced: hotfix for JFK (overrode: {WORSE_BY})"


def test_the_first_version_in_prod_and_other_stages_need_no_comparison():
    assert assignment_message("m", CANDIDATE, "prod", None, None, None).splitlines() == [
        "m v1.0.1 to prod",
        "no version was in prod: nothing to compare with",
    ]
    assert assignment_message("m", CANDIDATE, "staging", None, None, None) == "m v1.0.1 to staging"
