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
from src.review.assessment import Assessment, Verdict, metric_verdict
from src.review.facts import ReportFacts

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
    label = f"no baseline (`{facts.base}` has no metrics yet)" if verdict is Verdict.NO_BASELINE else verdict
    return f"**Verdict: {label}** · gate {gate_summary(assessment)} · {format_change(assessment)}"


def primary_section(facts: ReportFacts) -> list[str]:
    rows = []
    for change in facts.assessment.changes:
        interval = change.interval
        ci = f"{interval.low:+.4f} to {interval.high:+.4f}" if interval else "—"
        cells = value_cells(MetricRow(change.metric, change.base, change.branch))
        rows.append([*cells, ci, str(metric_verdict(change))])
    headers = [
        *value_headers("test metric", facts.base),
        f"{facts.gate.confidence:.0%} CI of change",
        "verdict",
    ]
    lines = table(rows, headers, "lrrrrl")
    assessment = facts.assessment
    if assessment.interval_note:
        return [*lines, "", f"No confidence interval: {assessment.interval_note}."]
    flights = f"the {assessment.paired_rows:,} test flights both revisions scored"
    if (
        assessment.paired_rows not in (assessment.base_rows, 0)
        or assessment.base_rows != assessment.branch_rows
    ):
        flights += f" (of {assessment.base_rows:,} in `{facts.base}` and {assessment.branch_rows:,} here)"
    return [
        *lines,
        "",
        f"Paired bootstrap over {flights}: {facts.gate.bootstrap_samples} resamples, seed "
        f"{facts.gate.seed} (params.yaml `gate`). Improved or worse only when the interval excludes zero.",
    ]


def gate_section(facts: ReportFacts) -> list[str]:
    gate = facts.gate
    rules = ", ".join(
        f"{metric} floor {gate.floors[metric]}" for metric in gate.primary_metrics if metric in gate.floors
    )
    tolerances = ", ".join(f"{metric} {value}" for metric, value in gate.tolerance.items())
    if facts.assessment.gate_passed:
        return ["#### Gate", "", f"Passed ({rules}; tolerance against the base: {tolerances})."]
    return ["#### Gate", "", "Failed:", *(f"- {failure}" for failure in facts.assessment.gate_failures)]


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


def render_report(facts: ReportFacts) -> str:
    """The report's Markdown: verdict and primary changes first, pictures last."""
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
        [params_line(facts), stages_line(facts)],
        primary_section(facts),
        gate_section(facts),
        metrics_section(facts),
    ]
    if len(facts.params) > PARAMS_IN_HEADLINE:
        sections.append(params_section(facts))
    if facts.validation_rows:
        sections.append(validation_section(facts))
    sections.append(pictures_section(facts))
    if facts.metrics_changed:
        sections.append(changed_metrics_section(facts))
    for section in sections:
        lines += [*section, ""]
    return "\n".join(lines)
