"""The pull-request report's Markdown, from :class:`src.review.facts.ReportFacts` (pure).

The verdict and the primary metric changes come first, so a reviewer sees them without
scrolling; pictures and the folded list of every changed metric come last. Tables are
tabulate's pipe tables (numbers right-aligned).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from src.review.against_base import MetricRow, format_change
from src.review.assessment import Assessment, MetricChange, Verdict, metric_verdict, percent
from src.review.base_settings import gate_change_line
from src.review.facts import ReportFacts
from src.review.segments import SegmentAssessment

PARAMS_IN_HEADLINE = 6
VALIDATION_ROWS_SHOWN = 20
#: Rows of the folded list of changed metrics (a comment holds at most 65,536 characters).
CHANGED_METRICS_SHOWN = 200


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], align: str) -> list[str]:
    """A Markdown pipe table, one line per row; ``align`` has one letter per column (l or r).

    Cells are text already: tabulate must not re-format them as numbers ("+0.0069").
    """
    columns = tuple("right" if letter == "r" else "left" for letter in align)
    text = tabulate(rows, headers, tablefmt="pipe", disable_numparse=True, colalign=columns)
    return text.splitlines()


def format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{value}`"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def format_delta(row: MetricRow) -> str:
    if row.base is None and row.branch is not None:
        return "new"
    if row.branch is None and row.base is not None:
        return "removed"
    delta = row.delta
    if delta is None:
        return "—"
    if isinstance(delta, int):
        return f"{delta:+d}" if delta else "0"
    return "0" if abs(delta) < 5e-7 else f"{delta:+.4f}"


def value_cells(row: MetricRow) -> list[str]:
    """Name, base, branch, change."""
    return [row.name, format_value(row.base), format_value(row.branch), format_delta(row)]


def gate_summary(assessment: Assessment) -> str:
    return "**passed**" if assessment.gate_passed else "**failed**"


def stages_line(facts: ReportFacts) -> str:
    stages, run = facts.stages, facts.repro_log
    everything = stages.order
    if run is not None:
        ran = [name for name in everything if name in run.ran]
        cached = [name for name in everything if name in run.from_run_cache]
        restored = [name for name in everything if name not in ran and name not in cached]
        parts = [f"re-run: {', '.join(ran) or 'none'}"]
        if cached:
            parts.append(f"restored from the run-cache: {', '.join(cached)}")
        parts.append(f"restored from cache: {', '.join(restored) or 'none'}")
    else:
        changed = [name for name in everything if name not in stages.unchanged]
        parts = [
            f"changed against `{facts.base}`: {', '.join(changed) or 'none'}",
            f"unchanged: {', '.join(stages.unchanged) or 'none'}",
        ]
    if stages.removed:
        parts.append(f"removed: {', '.join(stages.removed)}")
    return "Stages " + "; ".join(parts) + "."


def params_line(facts: ReportFacts) -> str:
    if not facts.params:
        return "Parameters: none changed."
    shown = [
        f"`{name}` {format_value(old)} → {format_value(new)}"
        for name, old, new in facts.params[:PARAMS_IN_HEADLINE]
    ]
    hidden = len(facts.params) - PARAMS_IN_HEADLINE
    more = f" and {hidden} more (below)" if hidden > 0 else ""
    return "Parameters changed: " + ", ".join(shown) + more + "."


def headline(facts: ReportFacts) -> str:
    assessment = facts.assessment
    verdict = assessment.verdict
    label = str(verdict)
    if verdict is Verdict.NO_BASELINE:
        label = f"no baseline (`{facts.base}` has no metrics yet)"
    elif verdict is Verdict.NOT_ASSESSED and assessment.interval_note:
        label = f"not assessed ({assessment.interval_note})"
    return f"**Verdict: {label}** · gate {gate_summary(assessment)} · {format_change(assessment)}"


def interval_cell(change: MetricChange) -> str:
    interval = change.interval
    return f"{interval.low:+.4f} to {interval.high:+.4f}" if interval else "—"


def seed_spread_cell(change: MetricChange) -> str:
    """Standard deviation of the metric across each revision's seeds: ``base / branch``."""
    noise = change.noise
    if noise is None or (noise.base_seed_sd is None and noise.branch_seed_sd is None):
        return "—"
    return " / ".join("—" if sd is None else f"{sd:.4f}" for sd in (noise.base_seed_sd, noise.branch_seed_sd))


def change_cells(change: MetricChange) -> list[str]:
    """Base, branch, change, interval, verdict."""
    _, *values = value_cells(MetricRow(change.metric, change.base, change.branch))
    return [*values, interval_cell(change), str(metric_verdict(change))]


def flights_compared(facts: ReportFacts) -> str:
    assessment = facts.assessment
    flights = f"the {assessment.paired_rows:,} test flights both revisions scored"
    if (
        assessment.paired_rows not in (assessment.base_rows, 0)
        or assessment.base_rows != assessment.branch_rows
    ):
        flights += f" (of {assessment.base_rows:,} in `{facts.base}` and {assessment.branch_rows:,} here)"
    return flights


def primary_section(facts: ReportFacts) -> list[str]:
    rows = []
    for change in facts.assessment.changes:
        base, branch, delta, interval, verdict = change_cells(change)
        rows.append([change.metric, base, branch, delta, interval, seed_spread_cell(change), verdict])
    headers = [
        *value_headers("test metric", facts.base),
        f"{percent(facts.gate.confidence)} interval",
        "seed SD (base / branch)",
        "verdict",
    ]
    lines = table(rows, headers, "lrrrrrl")
    assessment = facts.assessment
    if assessment.interval_note:
        values = (
            "the train stage's models on the shared flights"
            if assessment.paired_rows
            else "the metrics files'"
        )
        return [
            *lines,
            "",
            f"No interval with both noise sources: {assessment.interval_note}. Values are {values}; the "
            "verdict is not assessed and the gate falls back to the tolerance alone.",
        ]
    return [
        *lines,
        "",
        f"Paired bootstrap over {flights_compared(facts)} ({facts.gate.bootstrap_samples} resamples, seed "
        f"{facts.gate.seed}) plus the spread across {assessment.base_replicates} seeds of `{facts.base}` and "
        f"{assessment.branch_replicates} of this branch (means shown): the interval covers both noise "
        "sources, and improved or worse means it excludes zero.",
    ]


def segment_summary(segments: SegmentAssessment) -> str:
    counts = [segment.verdict for segment in segments.assessed]
    found = ", ".join(
        f"{counts.count(verdict)} {verdict}"
        for verdict in (Verdict.WORSE, Verdict.IMPROVED, Verdict.NOISE, Verdict.NOT_ASSESSED)
        if verdict in counts
    )
    return f"Segments: {len(segments.assessed)} assessed ({found or 'none'}), the most changed first"


def segments_section(facts: ReportFacts) -> list[str]:
    """The segments that changed most, worst first, folded (the gate names any that fail)."""
    segments = facts.segments
    if not segments.assessed:
        return [f"Segments not assessed: {segments.note}."] if segments.note else []
    shown = segments.assessed[: facts.gate.segments.shown]
    rows = [
        [segment.segment if index == 0 else "", f"{segment.flights:,}" if index == 0 else "", change.metric]
        + change_cells(change)
        for segment in shown
        for index, change in enumerate(segment.changes)
    ]
    headers = ["segment", "flights", "test metric", f"`{facts.base}`", "this branch", "change"]
    lines = [
        f"<details><summary>{segment_summary(segments)}</summary>",
        "",
        *table(rows, [*headers, f"{percent(facts.gate.confidence)} interval", "verdict"], "lrlrrrrl"),
        "",
        f"Shown: {len(shown)} of {len(segments.assessed)}, ordered by how far the worst metric got worse "
        f"against its segment tolerance (gate.segments); each interval is over that segment's flights.",
    ]
    if segments.too_small:
        small = ", ".join(f"{name} ({flights:,})" for name, flights in segments.too_small)
        lines += ["", f"Under {facts.gate.segments.min_flights:,} test flights, not assessed: {small}."]
    if segments.note:
        lines += ["", f"Also: {segments.note}."]
    return [*lines, "", "</details>"]


def gaps_section(facts: ReportFacts) -> list[str]:
    """Spread across segments of recall and flagged rate at the threshold (group-fairness gaps)."""

    def cell(spread) -> str:
        return "—" if spread is None else f"{spread.gap:.4f}"

    rows = [
        [
            f"{gap.family} ({gap.segments})",
            gap.measure.replace("_", " "),
            cell(gap.base),
            cell(gap.branch),
            "—" if gap.branch is None else f"{gap.branch.lowest} / {gap.branch.highest}",
        ]
        for gap in facts.group_gaps
    ]
    headers = ["segments (count)", "measure", f"`{facts.base}`", "this branch", "lowest / highest here"]
    return [
        f"#### Group gaps at threshold {facts.threshold}",
        "",
        *table(rows, headers, "llrrl"),
        "",
        f"Highest minus lowest across segments of at least {facts.gate.segments.min_flights:,} test flights, "
        "for the train stage's model: recall (share of late flights flagged) and flagged rate (share of all).",
    ]


def not_assessed_section(facts: ReportFacts) -> list[str]:
    """What could not be assessed, and why: never a silent "within noise"."""
    notes = list(facts.assessment.notes)
    if not notes:
        return []
    return ["#### Not assessed", "", *(f"- {note}." for note in notes)]


def gate_section(facts: ReportFacts) -> list[str]:
    gate = facts.gate
    own_change = gate_change_line(facts.own_gate_changes)
    heading = ["#### Gate", "", *([own_change, ""] if own_change else [])]
    rules = ", ".join(
        f"{metric} floor {gate.floors[metric]}" for metric in gate.primary_metrics if metric in gate.floors
    )
    tolerances = ", ".join(f"{metric} {value}" for metric, value in gate.tolerance.items())
    by_segment = ", ".join(f"{metric} {value}" for metric, value in gate.segments.tolerance.items())
    if facts.assessment.gate_passed:
        return [
            *heading,
            f"Passed ({rules}; tolerance against the base: {tolerances}; per segment of at least "
            f"{gate.segments.min_flights:,} flights: {by_segment}).",
        ]
    return [*heading, "Failed:", *(f"- {failure}" for failure in facts.assessment.gate_failures)]


def value_headers(first: str, base: str) -> list[str]:
    return [first, f"`{base}`", "this branch", "change"]


def metrics_section(facts: ReportFacts) -> list[str]:
    rows = [value_cells(row) for row in facts.metric_rows]
    if not rows:
        rows = [["(no evaluation metrics on either side)", "", "", ""]]
    return ["#### Validation and test metrics", "", *table(rows, value_headers("metric", facts.base), "lrrr")]


def params_section(facts: ReportFacts) -> list[str]:
    rows = [[f"`{name}`", format_value(old), format_value(new)] for name, old, new in facts.params]
    return ["#### Parameters", "", *table(rows, ["parameter", f"`{facts.base}`", "this branch"], "lll")]


def validation_section(facts: ReportFacts) -> list[str]:
    found = facts.validation_rows
    rows = [value_cells(row) for row in found[:VALIDATION_ROWS_SHOWN]]
    if len(found) > VALIDATION_ROWS_SHOWN:
        rows.append([f"… and {len(found) - VALIDATION_ROWS_SHOWN} more", "", "", ""])
    return [
        "#### Data validation (the data changed)",
        "",
        *table(rows, value_headers("check", facts.base), "lrrr"),
    ]


def pictures_section(facts: ReportFacts) -> list[str]:
    lines = ["#### Pictures", ""]
    for title, path in facts.curve_images:
        lines += [f"![{title}: `{facts.base}` and this branch]({path})", ""]
    if facts.image_pairs:
        rows = [
            [name, *(f"![{name}]({image})" if image else "(none)" for image in (base_image, branch_image))]
            for name, base_image, branch_image in facts.image_pairs
        ]
        lines += table(rows, ["", f"`{facts.base}`", "this branch"], "lll")
    return lines


def changed_metrics_section(facts: ReportFacts) -> list[str]:
    """Every metric that changed, in any metrics file, folded."""
    changed = facts.metrics_changed
    rows = [[path, *value_cells(row)] for path, row in changed[:CHANGED_METRICS_SHOWN]]
    if len(changed) > CHANGED_METRICS_SHOWN:
        rows.append([f"… and {len(changed) - CHANGED_METRICS_SHOWN} more", "", "", "", ""])
    return [
        "<details><summary>Every metric that changed (<code>dvc metrics diff</code>)</summary>",
        "",
        *table(rows, ["file", *value_headers("metric", facts.base)], "llrrr"),
        "",
        "</details>",
    ]


def render_report(facts: ReportFacts, pictures_at: str | None = None) -> str:
    """The report's Markdown: verdict and primary changes first, pictures last.

    With ``pictures_at`` (where the pictures can be seen, e.g. a link to the run's artifact)
    the pictures section becomes that one line: for the job summary, which cannot show images
    by relative path, and for a comment that must not upload them to a third-party host.
    """
    if facts.nothing_changed:
        return (
            f"Nothing changed against `{facts.base}`: same parameters, same stage results, "
            f"same metrics (gate {gate_summary(facts.assessment)}).\n"
        )
    lines = [f"### Model report: this branch against `{facts.base}`", headline(facts), ""]
    if facts.stale:
        lines.append(
            f"**Warning:** the workspace is not reproduced (`dvc status`: {', '.join(facts.stale)}); "
            "these numbers may not match this branch's code."
        )
    sections = [
        segments_section(facts),
        [params_line(facts), stages_line(facts)],
        primary_section(facts),
        not_assessed_section(facts),
        gate_section(facts),
        metrics_section(facts),
    ]
    if facts.group_gaps:
        sections.append(gaps_section(facts))
    if len(facts.params) > PARAMS_IN_HEADLINE:
        sections.append(params_section(facts))
    if facts.validation_rows:
        sections.append(validation_section(facts))
    if pictures_at is None:
        sections.append(pictures_section(facts))
    if facts.metrics_changed:
        sections.append(changed_metrics_section(facts))
    if pictures_at is not None:
        sections.append([f"Pictures: {pictures_at}"])
    for section in sections:
        if section:
            lines += [*section, ""]
    return "\n".join(lines)
