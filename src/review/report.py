"""The pull-request report: what changed in the results against a base revision.

``python -m src.review.report --base main`` writes Markdown (``reports/report.md`` by default)
and the pictures it links to, beside it. Everything comes from DVC's own comparisons
of the workspace with the base: ``dvc metrics diff``, ``dvc params diff``,
``dvc plots diff`` (curve data and the confusion-matrix images of both revisions),
``dvc status`` and the two revisions' ``dvc.lock`` (which stages changed); the base's
per-flight test predictions come through ``dvc.api`` from the cache or the remote.
:mod:`src.review.assessment` turns the primary metrics into a verdict and the gate's result, the
same function ``python -m src.review.gate`` applies. The first lines give the verdict and the
primary metric changes, so a reviewer sees them without scrolling.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import dvc.api
import matplotlib

matplotlib.use("Agg")  # no display; and the same renderer everywhere

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from src.core.files import atomic_path, write_png  # noqa: E402
from src.core.stage import PipelineError, run_stage  # noqa: E402
from src.params import load_params  # noqa: E402
from src.review.assessment import Assessment, GateParams, Verdict, assess, metric_verdict, pair_predictions  # noqa: E402

log = logging.getLogger("pipeline")

DEFAULT_OUT = Path("reports/report.md")
#: The evaluate stage's per-flight test scores (an output in dvc.yaml).
DEFAULT_PREDICTIONS = "data/predictions/test.parquet"
#: The validate stage's findings (an output kept in git, in dvc.yaml).
DEFAULT_VALIDATION_REPORT = "metrics/validation.json"
#: Top-level plots of dvc.yaml drawn with both revisions overlaid, and their file names.
DEFAULT_CURVES = {"ROC": "roc.png", "Precision-Recall": "precision_recall.png"}
#: Image plots (file-name pattern) shown side by side for base and branch.
DEFAULT_IMAGES = "confusion_matrix_*.png"
#: The splits whose metrics the main table lists, from the evaluate stage's metrics file.
TABLE_SPLITS = ("validation", "test")
PRIMARY_SPLIT = "test"
WORKSPACE = "workspace"  # what dvc calls the working tree in diffs
DETAILS_LIMIT = 40_000  # characters of `dvc metrics diff --md` kept (comments max out at 65,536)
VALIDATION_ROWS_SHOWN = 20


# --- what DVC and git say -------------------------------------------------------------


def run_tool(args: Sequence[str], what: str) -> str:
    """Run a command, return its stdout; a failure is a :class:`PipelineError` with its stderr."""
    result = subprocess.run(list(args), capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise PipelineError(f"{what} failed: {' / '.join(detail[-3:]) or f'exit {result.returncode}'}")
    return result.stdout


def run_dvc(*args: str) -> str:
    # The interpreter's own dvc, so the report uses the pinned version in any shell.
    return run_tool([sys.executable, "-m", "dvc", *args], f"dvc {args[0]}")


def run_dvc_json(*args: str) -> Any:
    text = run_dvc(*args, "--json").strip()
    return json.loads(text) if text else {}


def git_show(revision: str, path: str) -> bytes | None:
    """A file's bytes at ``revision``, or None when it does not exist there."""
    result = subprocess.run(["git", "show", f"{revision}:{path}"], capture_output=True)
    return result.stdout if result.returncode == 0 else None


def check_revision(revision: str) -> None:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], capture_output=True
    )
    if result.returncode != 0:
        raise PipelineError(f"base revision '{revision}' is not a commit here (fetch it, or name another)")


def read_base_predictions(path: str, revision: str) -> tuple[pd.DataFrame | None, str | None]:
    """The base's predictions from the DVC cache or remote, or None and the reason why not."""
    try:
        with dvc.api.open(path, repo=".", rev=revision, mode="rb") as stream:
            return pd.read_parquet(io.BytesIO(stream.read())), None
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return None, f"the base's predictions ({path} at {revision}) are not in the cache or remote: {reason}"


def read_branch_predictions(path: str) -> tuple[pd.DataFrame | None, str | None]:
    if not Path(path).is_file():
        return (
            None,
            f"this branch's predictions ({path}) are not in the workspace (run dvc repro or dvc pull)",
        )
    return pd.read_parquet(path), None


# --- turning DVC's answers into report facts (pure) ----------------------------------


@dataclass(frozen=True)
class MetricRow:
    name: str
    base: float | None
    branch: float | None

    @property
    def delta(self) -> float | None:
        if isinstance(self.base, int | float) and isinstance(self.branch, int | float):
            return self.branch - self.base
        return None


def evaluation_metrics_file(metrics_diff: Mapping[str, Mapping], metric: str) -> str | None:
    """The metrics file holding ``test.<metric>`` (the evaluate stage's), if any."""
    key = f"{PRIMARY_SPLIT}.{metric}"
    holders = sorted(path for path, entries in metrics_diff.items() if key in entries)
    return holders[0] if holders else None


def metric_rows(entries: Mapping[str, Mapping], prefixes: Sequence[str]) -> list[MetricRow]:
    """Rows ``<split>.<metric>`` of one file of ``dvc metrics diff --json``, split by split."""
    rows = []
    for prefix in prefixes:
        for name in sorted(key for key in entries if key.startswith(f"{prefix}.") and key.count(".") == 1):
            rows.append(MetricRow(name=name, base=entries[name].get("old"), branch=entries[name].get("new")))
    return rows


def split_values(rows: Sequence[MetricRow], split: str, side: str) -> dict[str, float] | None:
    """``{metric: value}`` of one split on one side; None when that side has none."""
    values = {
        row.name.split(".", 1)[1]: getattr(row, side)
        for row in rows
        if row.name.startswith(f"{split}.") and isinstance(getattr(row, side), int | float)
    }
    return values or None


def changed_params(params_diff: Mapping[str, Mapping]) -> list[tuple[str, Any, Any]]:
    """``(name, base, branch)`` of every parameter ``dvc params diff`` reports."""
    changes = []
    for path, entries in sorted(params_diff.items()):
        for name, entry in sorted(entries.items()):
            label = name if path == "params.yaml" else f"{path}:{name}"
            changes.append((label, entry.get("old"), entry.get("new")))
    return changes


@dataclass(frozen=True)
class StageChanges:
    """Stages of the branch's pipeline against the base's ``dvc.lock``."""

    order: tuple[str, ...]  # the branch's stages, in its dvc.lock's (pipeline) order
    changed: frozenset[str] = frozenset()  # recorded with other inputs or outputs than in the base
    added: frozenset[str] = frozenset()  # not in the base's dvc.lock
    removed: tuple[str, ...] = ()

    @property
    def unchanged(self) -> tuple[str, ...]:
        """Identical lock entries: results reused, not recomputed."""
        return tuple(name for name in self.order if name not in self.changed | self.added)

    @property
    def any(self) -> bool:
        return bool(self.changed or self.added or self.removed)


def compare_locks(base_lock: Mapping | None, branch_lock: Mapping | None) -> StageChanges:
    base_stages = dict((base_lock or {}).get("stages", {}))
    branch_stages = dict((branch_lock or {}).get("stages", {}))
    return StageChanges(
        order=tuple(branch_stages),
        changed=frozenset(
            name for name in branch_stages if name in base_stages and base_stages[name] != branch_stages[name]
        ),
        added=frozenset(name for name in branch_stages if name not in base_stages),
        removed=tuple(name for name in base_stages if name not in branch_stages),
    )


@dataclass(frozen=True)
class ReproLog:
    """What ``dvc repro`` printed about each stage."""

    ran: tuple[str, ...] = ()
    from_run_cache: tuple[str, ...] = ()


RAN_PATTERN = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)
RUN_CACHE_PATTERN = re.compile(r"^Stage '([^']+)' is cached - skipping run", re.MULTILINE)


def parse_repro_log(text: str) -> ReproLog:
    return ReproLog(
        ran=tuple(RAN_PATTERN.findall(text)), from_run_cache=tuple(RUN_CACHE_PATTERN.findall(text))
    )


#: ``dvc status`` states of files that are merely absent: not pulled, not out of date.
ABSENT_STATES = frozenset({"deleted", "not in cache"})


def stale_stages(status: Mapping[str, Any]) -> list[str]:
    """Stages ``dvc status`` finds out of date, for a reason other than data not pulled.

    After ``dvc repro --pull --allow-missing`` the outputs of unchanged stages (and so
    the inputs of the next ones) may be absent; that is expected, not staleness. A
    changed parameter, command, or a modified file is.
    """
    stale = []
    for stage, problems in status.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            if not isinstance(problem, dict):  # e.g. "always changed"
                stale.append(stage)
                break
            if any(
                kind not in ("changed deps", "changed outs")
                or not isinstance(files, dict)
                or any(not isinstance(state, str) or state not in ABSENT_STATES for state in files.values())
                for kind, files in problem.items()
            ):
                stale.append(stage)
                break
    return stale


def numeric_leaves(data: Any, prefix: str = "") -> dict[str, float]:
    """``{"a.b.c": number}`` for every number in nested mappings (lists are examples: skipped)."""
    if isinstance(data, Mapping):
        leaves: dict[str, float] = {}
        for key, value in data.items():
            leaves.update(numeric_leaves(value, f"{prefix}{key}."))
        return leaves
    if isinstance(data, int | float) and not isinstance(data, bool):
        return {prefix.rstrip("."): data}
    return {}


def validation_changes(base: Mapping | None, branch: Mapping | None) -> list[MetricRow]:
    """The validation findings that differ between the revisions: sizes and shares first."""
    old, new = numeric_leaves(base or {}), numeric_leaves(branch or {})
    changed = [name for name in old.keys() | new.keys() if old.get(name) != new.get(name)]
    headline = ("rows", "fraction")  # what a reviewer checks first: how much data, how much unmatched
    changed.sort(key=lambda name: (not any(word in name.rsplit(".", 1)[-1] for word in headline), name))
    return [MetricRow(name, old.get(name), new.get(name)) for name in changed]


@dataclass(frozen=True)
class Curves:
    """Line series of one top-level plot from ``dvc plots diff --json``."""

    title: str
    x_label: str
    y_label: str
    #: (revision, file name) -> (xs, ys)
    series: dict[tuple[str, str], tuple[list[float], list[float]]]


def curves_from_plots(plots: Mapping[str, Any], plot_id: str) -> Curves | None:
    """The x/y series per revision and file of a vega plot, None when it is not there."""
    for entry in plots.get(plot_id, []):
        if entry.get("type") != "vega":
            continue
        content = entry["content"]
        x, y = content["encoding"]["x"], content["encoding"]["y"]
        series: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for point in content["data"]["values"]:
            xs, ys = series.setdefault((point["rev"], point.get("filename", "")), ([], []))
            xs.append(float(point[x["field"]]))
            ys.append(float(point[y["field"]]))
        title = content.get("title", {})
        return Curves(
            title=title.get("text", plot_id) if isinstance(title, dict) else str(title),
            x_label=x.get("title", x["field"]),
            y_label=y.get("title", y["field"]),
            series=series,
        )
    return None


def image_plots(plots: Mapping[str, Any], pattern: str) -> dict[str, dict[str, str]]:
    """``{plot path: {revision: image file}}`` for image plots whose file name matches."""
    images: dict[str, dict[str, str]] = {}
    for plot_id, entries in sorted(plots.items()):
        if not fnmatch(Path(plot_id).name, pattern):
            continue
        for entry in entries:
            if entry.get("type") == "image":
                for revision in entry.get("revisions", []):
                    images.setdefault(plot_id, {})[revision] = entry["url"]
    return images


# --- pictures ---------------------------------------------------------------------------


def curve_figure(curves: Curves, base: str) -> plt.Figure:
    """One panel per file (validation, test), base and branch overlaid in each."""
    files = sorted({name for _, name in curves.series}, key=lambda name: (name != "test.json", name))
    figure, axes = plt.subplots(1, len(files), figsize=(4.2 * len(files), 4), squeeze=False)
    # The branch first, the base dashed on top: where they coincide both stay visible.
    styles = {WORKSPACE: ("#1f77b4", "-", "this branch"), base: ("#ff7f0e", "--", f"base ({base})")}
    for panel, name in zip(axes[0], files, strict=True):
        for revision, (color, dash, label) in styles.items():
            if (revision, name) in curves.series:
                xs, ys = curves.series[(revision, name)]
                panel.plot(xs, ys, color=color, linestyle=dash, label=label)
        panel.set_title(f"{curves.title}: {Path(name).stem}")
        panel.set_xlabel(curves.x_label)
        panel.set_ylabel(curves.y_label)
        panel.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure


# --- the Markdown (pure) -------------------------------------------------------------------


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


def format_change(assessment: Assessment) -> str:
    """The primary metric changes in one line."""
    parts = []
    for change in assessment.changes:
        name = f"test {change.metric}"
        if change.branch is None:
            parts.append(f"{name} missing")
        elif change.base is None:
            parts.append(f"{name} {change.branch:.4f} (no base value)")
        else:
            interval = change.interval
            ci = (
                f", {interval.confidence:.0%} CI {interval.low:+.4f} to {interval.high:+.4f}"
                if interval
                else ""
            )
            parts.append(f"{name} {change.base:.4f} → {change.branch:.4f} ({change.delta:+.4f}{ci})")
    return "; ".join(parts)


def gate_summary(assessment: Assessment) -> str:
    return "**passed**" if assessment.gate_passed else "**failed**"


@dataclass
class ReportFacts:
    """What the Markdown is built from: DVC's answers, already digested."""

    base: str
    gate: GateParams
    assessment: Assessment
    metric_rows: list[MetricRow]
    params: list[tuple[str, Any, Any]]
    stages: StageChanges
    repro_log: ReproLog | None
    stale: list[str]
    metrics_changed: bool
    metrics_diff_md: str = ""
    validation_rows: list[MetricRow] = field(default_factory=list)
    curve_images: list[tuple[str, str]] = field(default_factory=list)  # (title, relative path)
    image_pairs: list[tuple[str, str | None, str | None]] = field(default_factory=list)


def nothing_changed(facts: ReportFacts) -> bool:
    return not (facts.params or facts.stages.any or facts.metrics_changed or facts.stale)


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
    shown = [f"`{name}` {format_value(old)} → {format_value(new)}" for name, old, new in facts.params[:6]]
    more = f" and {len(facts.params) - 6} more (below)" if len(facts.params) > 6 else ""
    return "Parameters changed: " + ", ".join(shown) + more + "."


def headline(facts: ReportFacts) -> str:
    assessment = facts.assessment
    verdict = assessment.verdict
    if verdict is Verdict.NO_BASELINE:
        label = f"no baseline (`{facts.base}` has no metrics yet)"
    else:
        label = str(verdict)
    return f"**Verdict: {label}** · gate {gate_summary(assessment)} · {format_change(assessment)}"


def primary_table(facts: ReportFacts) -> list[str]:
    lines = [
        f"| test metric | `{facts.base}` | this branch | change | {facts.gate.confidence:.0%} CI of change | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for change in facts.assessment.changes:
        row = MetricRow(change.metric, change.base, change.branch)
        interval = change.interval
        ci = f"{interval.low:+.4f} to {interval.high:+.4f}" if interval else "—"
        lines.append(
            f"| {change.metric} | {format_value(change.base)} | {format_value(change.branch)} | "
            f"{format_delta(row)} | {ci} | {metric_verdict(change)} |"
        )
    assessment = facts.assessment
    if assessment.interval_note:
        lines += ["", f"No confidence interval: {assessment.interval_note}."]
    else:
        rows = f"the {assessment.paired_rows:,} test flights both revisions scored"
        if (
            assessment.paired_rows not in (assessment.base_rows, 0)
            or assessment.base_rows != assessment.branch_rows
        ):
            rows += f" (of {assessment.base_rows:,} in `{facts.base}` and {assessment.branch_rows:,} here)"
        lines += [
            "",
            f"Paired bootstrap over {rows}: {facts.gate.bootstrap_samples} resamples, seed "
            f"{facts.gate.seed} (params.yaml `gate`). Improved or worse only when the interval excludes zero.",
        ]
    return lines


def gate_section(facts: ReportFacts) -> list[str]:
    gate = facts.gate
    rules = ", ".join(
        f"{metric} floor {gate.floors[metric]}" for metric in gate.primary_metrics if metric in gate.floors
    )
    tolerances = ", ".join(f"{metric} {value}" for metric, value in gate.tolerance.items())
    lines = ["#### Gate", ""]
    if facts.assessment.gate_passed:
        lines.append(f"Passed ({rules}; tolerance against the base: {tolerances}).")
    else:
        lines.append("Failed:")
        lines += [f"- {failure}" for failure in facts.assessment.gate_failures]
    return lines


def metrics_table(facts: ReportFacts) -> list[str]:
    lines = [
        "#### Validation and test metrics",
        "",
        f"| metric | `{facts.base}` | this branch | change |",
        "|---|---:|---:|---:|",
    ]
    for row in facts.metric_rows:
        lines.append(
            f"| {row.name} | {format_value(row.base)} | {format_value(row.branch)} | {format_delta(row)} |"
        )
    if not facts.metric_rows:
        lines.append("| (no evaluation metrics on either side) | | | |")
    return lines


def validation_section(facts: ReportFacts) -> list[str]:
    rows = facts.validation_rows
    lines = [
        "#### Data validation (the data changed)",
        "",
        f"| check | `{facts.base}` | this branch | change |",
    ]
    lines.append("|---|---:|---:|---:|")
    for row in rows[:VALIDATION_ROWS_SHOWN]:
        lines.append(
            f"| {row.name} | {format_value(row.base)} | {format_value(row.branch)} | {format_delta(row)} |"
        )
    if len(rows) > VALIDATION_ROWS_SHOWN:
        lines.append(f"| … and {len(rows) - VALIDATION_ROWS_SHOWN} more | | | |")
    return lines


def pictures_section(facts: ReportFacts) -> list[str]:
    lines = ["#### Pictures", ""]
    for title, path in facts.curve_images:
        lines += [f"![{title}: `{facts.base}` and this branch]({path})", ""]
    if facts.image_pairs:
        lines += [f"| | `{facts.base}` | this branch |", "|---|---|---|"]
        for name, base_image, branch_image in facts.image_pairs:
            cells = [f"![{name}]({image})" if image else "(none)" for image in (base_image, branch_image)]
            lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def render_report(facts: ReportFacts) -> str:
    """The report's Markdown: verdict and primary changes first, pictures last."""
    if nothing_changed(facts):
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
    lines += [params_line(facts), stages_line(facts), ""]
    lines += primary_table(facts) + [""]
    lines += gate_section(facts) + [""]
    lines += metrics_table(facts) + [""]
    if len(facts.params) > 6:
        lines += ["#### Parameters", "", f"| parameter | `{facts.base}` | this branch |", "|---|---|---|"]
        lines += [
            f"| `{name}` | {format_value(old)} | {format_value(new)} |" for name, old, new in facts.params
        ]
        lines.append("")
    if facts.validation_rows:
        lines += validation_section(facts) + [""]
    lines += pictures_section(facts) + [""]
    if facts.metrics_diff_md.strip():
        details = facts.metrics_diff_md.strip()
        if len(details) > DETAILS_LIMIT:
            details = details[:DETAILS_LIMIT].rsplit("\n", 1)[0] + "\n\n(truncated)"
        lines += [
            "<details><summary>Every metric that changed (<code>dvc metrics diff --md</code>)</summary>",
            "",
            details,
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


# --- gathering (I/O) ------------------------------------------------------------------------


@dataclass
class Comparison:
    """DVC's comparison of the workspace with the base, as the report and the gate need it."""

    base: str
    metrics_diff: dict
    evaluation_file: str | None
    rows: list[MetricRow]
    assessment: Assessment


def compare_with_base(base: str, gate: GateParams, predictions: str = DEFAULT_PREDICTIONS) -> Comparison:
    """Metrics of both revisions, their paired predictions, and the assessment of the change."""
    check_revision(base)
    metrics_diff = run_dvc_json("metrics", "diff", base, "--all")
    evaluation_file = evaluation_metrics_file(metrics_diff, gate.primary_metrics[0])
    rows = metric_rows(metrics_diff.get(evaluation_file, {}), TABLE_SPLITS) if evaluation_file else []
    base_metrics = split_values(rows, PRIMARY_SPLIT, "base")
    branch_metrics = split_values(rows, PRIMARY_SPLIT, "branch") or {}
    paired, note = None, None
    if base_metrics is not None:
        base_frame, note = read_base_predictions(predictions, base)
        branch_frame, branch_note = read_branch_predictions(predictions)
        note = note or branch_note
        if base_frame is not None and branch_frame is not None:
            paired = pair_predictions(base_frame, branch_frame)
    log.info("bootstrapping the primary metrics (%d resamples)", gate.bootstrap_samples)
    assessment = assess(base_metrics, branch_metrics, paired, gate, note)
    return Comparison(base, metrics_diff, evaluation_file, rows, assessment)


def load_lock(text: bytes | str | None) -> dict | None:
    return yaml.safe_load(text) if text else None


def load_json(text: bytes | None) -> dict | None:
    return json.loads(text) if text else None


def build_report(
    base: str,
    out: Path,
    repro_log: Path | None = None,
    predictions: str = DEFAULT_PREDICTIONS,
    validation_report: str = DEFAULT_VALIDATION_REPORT,
    curves: Mapping[str, str] = DEFAULT_CURVES,
    images: str = DEFAULT_IMAGES,
) -> ReportFacts:
    """Gather everything and write the Markdown and its pictures under ``out``'s directory."""
    gate = load_params().gate
    comparison = compare_with_base(base, gate, predictions)
    assessment = comparison.assessment
    metrics_diff = comparison.metrics_diff
    metrics_changed = any(
        entry.get("old") != entry.get("new")
        for entries in metrics_diff.values()
        for entry in entries.values()
    )
    branch_lock = load_lock(
        Path("dvc.lock").read_text(encoding="utf-8") if Path("dvc.lock").is_file() else None
    )
    facts = ReportFacts(
        base=base,
        gate=gate,
        assessment=assessment,
        metric_rows=comparison.rows,
        params=changed_params(run_dvc_json("params", "diff", base)),
        stages=compare_locks(load_lock(git_show(base, "dvc.lock")), branch_lock),
        repro_log=parse_repro_log(repro_log.read_text(encoding="utf-8")) if repro_log else None,
        stale=stale_stages(run_dvc_json("status")),
        metrics_changed=metrics_changed,
    )
    if not nothing_changed(facts):
        facts.metrics_diff_md = run_dvc("metrics", "diff", base, "--md")
        branch_findings = Path(validation_report)
        facts.validation_rows = validation_changes(
            load_json(git_show(base, validation_report)),
            load_json(branch_findings.read_bytes() if branch_findings.is_file() else None),
        )
        draw_pictures(facts, base, out.parent, curves, images)
    with atomic_path(out) as staged:
        staged.write_text(render_report(facts), encoding="utf-8")
    return facts


def draw_pictures(
    facts: ReportFacts, base: str, directory: Path, curves: Mapping[str, str], images: str
) -> None:
    """Overlay the curves of both revisions and copy both revisions' images beside the report."""
    with tempfile.TemporaryDirectory() as scratch:
        plots = run_dvc_json("plots", "diff", base, "-o", scratch).get("data", {})
        for plot_id, file_name in curves.items():
            found = curves_from_plots(plots, plot_id)
            if found is None:
                log.warning("no plot named %r in dvc plots diff: not drawn", plot_id)
                continue
            write_png(curve_figure(found, base), directory / file_name, dpi=80)
            facts.curve_images.append((found.title, file_name))
        for plot_id, by_revision in image_plots(plots, images).items():
            name = Path(plot_id).stem
            copies: list[str | None] = []
            for side, revision in (("base", base), ("branch", WORKSPACE)):
                source = by_revision.get(revision)
                if source is None:
                    copies.append(None)
                    continue
                target = directory / f"{side}_{Path(plot_id).name}"
                shutil.copyfile(source, target)
                copies.append(target.name)
            facts.image_pairs.append((name.replace("_", " "), copies[0], copies[1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.review.report",
        description="Write the pull-request report: metrics, parameters, stages and pictures "
        "of the workspace against a base revision, with the gate's verdict.",
    )
    parser.add_argument("--base", required=True, help="git revision to compare with (e.g. main, origin/main)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"Markdown file (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--repro-log", type=Path, help="what `dvc repro` printed, to tell re-run from restored"
    )
    parser.add_argument(
        "--predictions", default=DEFAULT_PREDICTIONS, help="per-flight test scores (DVC output)"
    )
    args = parser.parse_args()

    facts = build_report(args.base, args.out, args.repro_log, args.predictions)
    log.info(
        "verdict: %s; gate %s; report written to %s",
        facts.assessment.verdict,
        "passed" if facts.assessment.gate_passed else "failed",
        args.out,
    )


if __name__ == "__main__":
    run_stage("report", main)
