"""Turning benchmark results (the dict ``bench.run`` measures) into Markdown and a PNG."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; the same renderer everywhere

import matplotlib.pyplot as plt  # noqa: E402

from bench.floor_report import FULL_TARGET_S, INCREMENTAL_TARGET_S, floor_section, stage_floors  # noqa: E402
from bench.stats import (  # noqa: E402
    BEFORE_FIRST_STAGE,
    GIB,
    MIB,
    Summary,
    format_bytes,
    format_ratio,
    format_seconds,
    format_share,
    growth_exponent,
    markdown_table,
    ratio,
    summarise,
    verdict,
)

OVERHEAD_TARGET = 1.10
TIME_EXPONENT_TARGET = 1.1
MEMORY_LIMIT_BYTES = 16 * GIB
#: Issue 13: the full run's peak memory may not grow past what it was (496 MiB), nor the
#: growth exponents from 1x to 16x (time within the summary's wider linearity target).
PEAK_MEMORY_1X_BYTES = 496 * MIB
BASELINE_EXPONENTS = {"time": 0.60, "CPU": 0.65, "memory": 0.72}
BASELINE_DATE = "as on 2026-11-23"
#: Where those were measured: a different CPU makes the comparison a rough one.
BASELINE_CPU = "Intel(R) Xeon(R) Processor @ 2.50GHz"
PNG_METADATA = {"Software": None}  # no version string in the image bytes
#: Row for DVC's own CPU time in a ``dvc repro``: the total less the stage commands'.
DVC_ITSELF = "(dvc itself)"


def summary_of(runs: Sequence[dict], key: str) -> Summary:
    return summarise(run[key] for run in runs)


def spread(summary: Summary, fmt: Callable[[float], str]) -> str:
    """``median`` alone for one run, ``median (min–max)`` for several."""
    if summary.runs == 1 or summary.low == summary.high:
        return fmt(summary.median)
    return f"{fmt(summary.median)} ({fmt(summary.low)}–{fmt(summary.high)})"


def stage_median(runs: Sequence[dict], field: str, stage: str) -> float:
    values = [run[field][stage] for run in runs if stage in run.get(field, {})]
    return summarise(values).median if values else math.nan


def exponent_or_nan(sizes: Sequence[float], values: Sequence[float]) -> float:
    points = [
        (size, value)
        for size, value in zip(sizes, values, strict=True)
        if value > 0 and not math.isnan(value)
    ]
    if len({size for size, _ in points}) < 2:
        return math.nan
    return growth_exponent([size for size, _ in points], [value for _, value in points])


def format_exponent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


class Analysis:
    """The numbers the report shows, derived once from the raw results."""

    def __init__(self, results: dict) -> None:
        self.results = results
        self.order: list[str] = results["stage_order"]
        self.timeline_stages = [BEFORE_FIRST_STAGE, *self.order]
        self.full_wall = summary_of(results["full"], "wall_s")
        self.full_cpu = summary_of(results["full"], "cpu_s")
        self.full_peak = summary_of(results["full"], "peak_rss_bytes")
        self.direct_wall = summary_of(results["direct"], "wall_s")
        self.overhead = ratio(self.full_wall.median, self.direct_wall.median)
        # Each repro and its direct run share a copy and a moment: their ratio is less noisy.
        self.paired_overhead = summarise(
            ratio(full["wall_s"], direct["wall_s"])
            for full, direct in zip(results["full"], results["direct"], strict=True)
        )
        self.factors = sorted(int(factor) for factor in results["scaling"])
        self.scaling = {factor: results["scaling"][str(factor)] for factor in self.factors}
        self.wall_by_factor = [summary_of(self.scaling[f], "wall_s").median for f in self.factors]
        self.cpu_by_factor = [summary_of(self.scaling[f], "cpu_s").median for f in self.factors]
        self.peak_by_factor = [summary_of(self.scaling[f], "peak_rss_bytes").median for f in self.factors]
        self.time_exponent = exponent_or_nan(self.factors, self.wall_by_factor)
        self.cpu_exponent = exponent_or_nan(self.factors, self.cpu_by_factor)
        self.memory_exponent = exponent_or_nan(self.factors, self.peak_by_factor)

    def stage_value(self, field: str, factor: int, stage: str) -> float:
        """Median over the runs at ``factor`` of a per-stage figure (NaN when not measured)."""
        runs = self.scaling[factor]
        if field == "stage_cpu_s" and stage == DVC_ITSELF:
            values = [
                run["cpu_s"] - sum(run["stage_cpu_s"].values()) for run in runs if run.get("stage_cpu_s")
            ]
            return summarise(values).median if values else math.nan
        return stage_median(runs, field, stage)

    def stage_exponent(self, field: str, stage: str) -> float:
        return exponent_or_nan(self.factors, [self.stage_value(field, f, stage) for f in self.factors])

    def stage_wall(self, factor: int, stage: str) -> float:
        return self.stage_value("stage_s", factor, stage)

    def stage_peak(self, factor: int, stage: str) -> float:
        return self.stage_value("stage_peak_rss_bytes", factor, stage)

    def faster_than_linear(self) -> list[str]:
        """Stages whose wall or CPU time grows with an exponent above the target."""
        found = []
        for stage in self.order:
            exponents = {
                kind: self.stage_exponent(field, stage)
                for kind, field in (("wall", "stage_s"), ("CPU", "stage_cpu_s"))
            }
            if any(value > TIME_EXPONENT_TARGET for value in exponents.values()):
                shown = ", ".join(
                    f"{kind} exponent {value:.2f}"
                    for kind, value in exponents.items()
                    if not math.isnan(value)
                )
                found.append(f"{stage} ({shown})")
        return found


def scaling_figure(analysis: Analysis) -> plt.Figure:
    """Wall time and peak memory against data size, log-log, with the linear reference."""
    factors = analysis.factors
    figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(11, 4.6))
    reach = [1, max(16, *factors)]
    panels = (
        (
            time_axes,
            analysis.wall_by_factor,
            analysis.stage_wall,
            1.0,
            "wall time (s)",
            "Time",
            analysis.time_exponent,
        ),
        (
            memory_axes,
            analysis.peak_by_factor,
            analysis.stage_peak,
            GIB,
            "peak resident memory (GiB)",
            "Peak memory",
            analysis.memory_exponent,
        ),
    )
    ticks = sorted({*reach, *factors})
    for axes, totals, per_stage, unit, label, title, exponent in panels:
        fitted = "" if math.isnan(exponent) else f" (whole pipeline: growth exponent {exponent:.2f})"
        axes.set_title(title + fitted, fontsize="medium")
        axes.plot(
            factors,
            [value / unit for value in totals],
            "o-",
            color="black",
            linewidth=2.2,
            label="whole pipeline",
            zorder=3,
        )
        for stage in analysis.order:
            values = [per_stage(factor, stage) / unit for factor in factors]
            axes.plot(factors, values, ".-", linewidth=1, alpha=0.8, label=stage)
        base = totals[0] / unit
        axes.plot(reach, [base * factor for factor in reach], "--", color="grey", label="linear (slope 1)")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(ticks)
        axes.set_xticklabels([f"{tick}×" for tick in ticks])
        axes.minorticks_off()
        axes.set_xlabel(f"flights replicated (1× = {analysis.results['flights_1x']:,} flights)")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
    memory_axes.axhline(MEMORY_LIMIT_BYTES / GIB, color="firebrick", linestyle=":", label="16 GiB limit")
    handles, labels = memory_axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=5, fontsize="small", frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    return figure


def machine_section(results: dict) -> str:
    machine = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    rows = [
        ("CPU", machine["cpu_model"]),
        ("cores", f"{machine['cpu_count']} ({machine['usable_cpus']} usable by this process)"),
        ("memory", format_bytes(machine["memory_bytes"])),
        ("system", machine["platform"]),
        ("Python", machine["python"]),
        ("packages", packages),
        ("revision measured", f"`{machine['revision']}` (working tree copied as is)"),
    ]
    return markdown_table(("", ""), rows)


#: Above this share of the cores taken by other programs, the report says it was disturbed.
BUSY_SHARE = 0.10


def busy_warning(results: dict) -> str:
    cores = results["machine"]["usable_cpus"] or 1
    share = results.get("others_share")
    if share is None:  # results from before the share was measured: only the load is known
        before = results["load_before"][0]
        if before < 0.25 * cores:
            return ""
        return (
            f"\n> **The machine may not have been idle**: load average {before:.1f} at the start "
            f"on {cores} cores. Timings may be inflated; re-run on a quiet machine.\n"
        )
    if share <= BUSY_SHARE:
        return (
            f"\nOther programs used {share:.0%} of the cores while the pipeline was timed "
            "(phases 1-5, from `/proc/stat` less the benchmark's own CPU).\n"
        )
    return (
        f"\n> **The machine was not idle**: other programs used {share:.0%} of the cores while the "
        "pipeline was timed. Timings are inflated and noisy; re-run on a quiet machine.\n"
    )


def sample_warning(results: dict) -> str:
    if not results.get("sample_flights"):
        return ""
    return (
        f"\n> **Smoke test of the harness**: run on a sample of {results['sample_flights']:,} flights "
        "(`--sample-flights`), not the real data. Not a benchmark.\n"
    )


def exponent_row(label: str, exponent: float, kind: str) -> tuple[str, str, str, str]:
    """A growth exponent against the one measured before issue 13, compared as both are shown."""
    baseline = BASELINE_EXPONENTS[kind]
    met = "n/a" if math.isnan(exponent) else verdict(round(exponent, 2) <= baseline)
    return (label, format_exponent(exponent), f"≤ {baseline:.2f} ({BASELINE_DATE})", met)


def summary_section(analysis: Analysis) -> str:
    results = analysis.results
    largest = analysis.factors[-1]
    peak_largest = analysis.peak_by_factor[-1]
    incremental = summary_of(results["incremental"]["runs"], "wall_s")
    noop = results["noop"]
    version_wall = summary_of(noop["version"], "wall_s").median
    rows = [
        (
            "DVC overhead: `dvc repro` / stage commands run directly (median of pairs)",
            format_ratio(analysis.paired_overhead.median),
            f"≤ {OVERHEAD_TARGET:.2f}×",
            verdict(analysis.paired_overhead.median <= OVERHEAD_TARGET),
        ),
        exponent_row(
            f"time growth exponent, 1× to {largest}×" if largest > 1 else "time growth exponent",
            analysis.time_exponent,
            "time",
        ),
        exponent_row(
            "CPU time growth exponent (less disturbed by other programs)", analysis.cpu_exponent, "CPU"
        ),
        exponent_row("peak memory growth exponent", analysis.memory_exponent, "memory"),
        (
            f"peak memory at {largest}×",
            format_bytes(peak_largest),
            "< 16 GiB",
            verdict(peak_largest < MEMORY_LIMIT_BYTES)
            if largest == 16
            else f"n/a (16× not run; largest {largest}×)",
        ),
        (
            "`dvc repro evaluate` (the experiment pipeline), 1×",
            format_seconds(analysis.full_wall.median),
            f"≤ {format_seconds(FULL_TARGET_S)}",
            verdict(analysis.full_wall.median <= FULL_TARGET_S),
        ),
        *(
            [
                (
                    "every stage run once (the pipeline, then seeds and replay), 1×",
                    format_seconds(
                        analysis.full_wall.median
                        + sum(
                            results["rest"]["stage_s"].get(stage, 0.0)
                            for stage in results["rest"]["stages_run"]
                        )
                    ),
                    "",
                    "",
                )
            ]
            if results.get("rest")
            else []
        ),
        (
            "`dvc repro evaluate` after a training-parameter change, 1×",
            format_seconds(incremental.median),
            f"≤ {format_seconds(INCREMENTAL_TARGET_S)}",
            verdict(incremental.median <= INCREMENTAL_TARGET_S),
        ),
        (
            "peak memory of `dvc repro evaluate`, 1×",
            format_bytes(analysis.full_peak.median),
            f"≤ {format_bytes(PEAK_MEMORY_1X_BYTES)}",
            verdict(analysis.full_peak.median <= PEAK_MEMORY_1X_BYTES),
        ),
        (
            "incremental re-run / full run",
            format_ratio(ratio(incremental.median, analysis.full_wall.median)),
            "",
            "",
        ),
        (
            "no-op `dvc repro` / `dvc --version`",
            format_ratio(ratio(summary_of(noop["repro"], "wall_s").median, version_wall)),
            "",
            "",
        ),
        (
            "`dvc status` / `dvc --version`",
            format_ratio(ratio(summary_of(noop["status"], "wall_s").median, version_wall)),
            "",
            "",
        ),
    ]
    rows += external_summary_rows(results["external"])
    table = markdown_table(("measure", "value", "target", ""), rows)
    cpu = results.get("machine", {}).get("cpu_model")
    other_cpu = (
        f" They were measured on another CPU ({BASELINE_CPU}; this run: {cpu}), so the comparison mixes the "
        "code's scaling with the machine's."
        if cpu and cpu != BASELINE_CPU
        else ""
    )
    if largest == 1:
        return table
    return (
        f"{table}\n\nA growth exponent rises when fixed costs fall: a faster 1× run beside an unchanged "
        f"{largest}× one steepens the slope. Read the exponents against 2026-11-23's with the scaling "
        f"table's rows.{other_cpu}"
    )


def external_summary_rows(external: dict) -> list[tuple[str, str, str, str]]:
    """The other scripts' headline ratios, when they ran and gave them."""
    rows = []
    sweep = external["sweep"].get("data") if external["sweep"]["status"] == "measured" else None
    if isinstance(sweep, dict):
        targets = sweep.get("targets", {})
        if "wall_ratio" in targets:
            target = targets["wall_ratio"]
            rows.append(
                (
                    "sweep wall / sequential wall",
                    format_ratio(target["value"]),
                    f"≤ {target['target']}×",
                    verdict(target["met"]),
                )
            )
        if "utilisation" in targets:
            target = targets["utilisation"]
            rows.append(
                (
                    "sweep CPU utilisation",
                    f"{target['value']:.2f}",
                    f"≥ {target['target']}",
                    verdict(target["met"]),
                )
            )
    pull = external["pull"].get("data") if external["pull"]["status"] == "measured" else None
    if isinstance(pull, dict) and "ratio_dvc_to_boto3" in pull:
        rows.append(
            (
                "`dvc pull` / boto3 download",
                format_ratio(pull["ratio_dvc_to_boto3"]),
                f"≤ {pull.get('target_ratio', math.nan)}×",
                verdict(bool(pull.get("meets_target"))),
            )
        )
    return rows


def full_section(analysis: Analysis) -> str:
    results = analysis.results
    utilisation = ratio(analysis.full_cpu.median, analysis.full_wall.median)
    totals = markdown_table(
        ("", "median (range)"),
        [
            ("wall time", spread(analysis.full_wall, format_seconds)),
            ("CPU time (user + system, DVC and every stage)", spread(analysis.full_cpu, format_seconds)),
            ("cores busy on average (CPU / wall)", f"{utilisation:.2f}"),
            ("peak memory (resident set of the largest process)", spread(analysis.full_peak, format_bytes)),
        ],
    )
    direct_runs = results["direct"]
    rows = []
    for stage in analysis.timeline_stages:
        in_repro = stage_median(results["full"], "stage_s", stage)
        direct = [run["stages"][stage] for run in direct_runs if stage in run["stages"]]
        if direct:
            direct_cells = (
                format_seconds(summary_of(direct, "wall_s").median),
                format_seconds(summary_of(direct, "cpu_s").median),
                format_bytes(summary_of(direct, "peak_rss_bytes").median),
            )
        else:
            direct_cells = ("–", "–", "–")
        rows.append(
            (
                stage,
                format_seconds(in_repro),
                format_share(in_repro, analysis.full_wall.median),
                *direct_cells,
            )
        )
    rows.append(
        (
            "**total**",
            format_seconds(analysis.full_wall.median),
            "100%",
            format_seconds(analysis.direct_wall.median),
            format_seconds(summary_of(direct_runs, "cpu_s").median),
            format_bytes(summary_of(direct_runs, "peak_rss_bytes").median),
        )
    )
    stages = markdown_table(
        ("stage", "in `dvc repro`: wall", "share", "run directly: wall", "CPU", "peak memory"), rows
    )
    return (
        "`dvc repro evaluate` in a fresh copy: every stage from ingest to evaluate, which is what an "
        "experiment, a sweep's trial and a pull request's metrics wait for. The two other stages, seeds "
        "and replay, come after it (their own section, after the floors).\n\n"
        f"{totals}\n\n### Where the time goes\n\n{stages}\n\n"
        "A stage's time inside `dvc repro` runs from DVC's `Running stage` line to the next one, so it "
        "includes DVC hashing and caching the stage's outputs and writing `dvc.lock`. The direct columns are "
        "the stage command alone (exact CPU time and peak memory from `wait4`)."
    )


def rest_section(results: dict) -> str:
    """The stages after the experiment pipeline (seeds, replay), timed once, against their fits."""
    rest = results.get("rest")
    if not rest:
        return "Not measured (results from a harness that timed the whole graph as one)."
    stages = rest["stages_run"]
    if not stages:
        return "`dvc repro` after the pipeline ran no further stage."
    fits = rest.get("fits", {})
    rows = []
    for stage in stages:
        cpu = rest.get("stage_cpu_s", {}).get(stage, math.nan)
        count = fits.get(stage)
        rows.append(
            (
                stage,
                str(count) if count else "–",
                format_seconds(rest["stage_s"].get(stage, math.nan)),
                format_seconds(cpu),
                format_seconds(cpu / count) if count else "–",
                format_bytes(rest.get("stage_peak_rss_bytes", {}).get(stage, math.nan)),
            )
        )
    table = markdown_table(
        ("stage", "fits", "in `dvc repro`: wall", "CPU", "CPU per fit", "peak memory"), rows
    )
    total = sum(rest["stage_s"].get(stage, 0.0) for stage in stages)
    forced = rest.get("forced", [])
    how = (
        f" {', '.join(forced)} then ran on its own (`dvc repro --force --single-item`): a fresh copy already "
        "has the outputs `dvc.lock` records for it, all kept in git, so `dvc repro` skips it until its "
        "inputs change."
        if forced
        else ""
    )
    text = (
        "`dvc repro` in the last copy once its experiment pipeline is reproduced, one run (CPU and peak "
        f"memory sampled every 0.2 s).{how} Both stages depend on the training parameters, so a training "
        "change re-runs them too when `dvc repro` is given no target (`dvc exp run` does).\n\n"
        f"{table}\n\nTogether {format_seconds(total)}: every stage of the graph run once takes about "
        f"{format_seconds(summary_of(results['full'], 'wall_s').median + total)} (the pipeline's median "
        "plus these)."
    )
    train = next(iter(stage_floors(results.get("floors") or {"start_up": {}, "parts": {}}, ["train"])))
    if not math.isnan(train.core[0]) and fits.get("seeds"):
        count = fits["seeds"]
        text += (
            f" The seeds stage fits train's configuration {count} more times on the same data: its floor "
            f"is at least {count} × train's fit alone ({format_seconds(train.core[0])} wall, "
            f"{format_seconds(train.core[1])} CPU; train's core above) = {format_seconds(count * train.core[0])}. "
            "The replay's fits learn from windows of other lengths, so train's fit gives no floor for them."
        )
    return text


def overhead_section(analysis: Analysis) -> str:
    results = analysis.results
    stages = len(analysis.order)
    extra = analysis.full_wall.median - analysis.direct_wall.median
    direct_cpu = summary_of(results["direct"], "cpu_s")
    table = markdown_table(
        ("", "wall, median (range)", "ratio", "CPU, median (range)", "ratio"),
        [
            (
                "the stage commands run directly, one after the other",
                spread(analysis.direct_wall, format_seconds),
                "1.00×",
                spread(direct_cpu, format_seconds),
                "1.00×",
            ),
            (
                "`dvc repro`",
                spread(analysis.full_wall, format_seconds),
                format_ratio(analysis.overhead),
                spread(analysis.full_cpu, format_seconds),
                format_ratio(ratio(analysis.full_cpu.median, direct_cpu.median)),
            ),
        ],
    )
    own = [
        run["cpu_s"] - sum(run["stage_cpu_s"].values()) for run in results["full"] if run.get("stage_cpu_s")
    ]
    own_text = (
        f" DVC's own processes used {spread(summarise(own), format_seconds)} of CPU in a `dvc repro` "
        "(its total less the sampled CPU of the stage commands), a figure other programs disturb little."
        if own
        else ""
    )
    return (
        f"{table}\n\nRatio within each pair (a `dvc repro` and the direct run right after it, in the same "
        f"copy): {spread(analysis.paired_overhead, format_ratio)}; the summary's figure. Both halves of a "
        "pair meet the same moment of the machine, which drifts from run to run by more than DVC's cost "
        "(the ratio of the medians above mixes runs minutes apart). "
        f"DVC adds {format_seconds(extra)} of wall time in all, about {format_seconds(extra / max(stages, 1))} "
        f"per stage for {stages} stages (target: at most {OVERHEAD_TARGET:.2f}×).{own_text}"
    )


def noop_section(results: dict) -> str:
    noop = results["noop"]
    floor = summary_of(noop["version"], "wall_s")
    rows = []
    for name, label in (
        ("version", "`dvc --version` (the import floor)"),
        ("status", "`dvc status`"),
        ("repro", "`dvc repro` with nothing to do"),
    ):
        wall = summary_of(noop[name], "wall_s")
        rows.append(
            (
                label,
                spread(wall, format_seconds),
                format_ratio(ratio(wall.median, floor.median)),
                format_bytes(summary_of(noop[name], "peak_rss_bytes").median),
            )
        )
    text = markdown_table(
        ("command", "wall, median (range)", "ratio to `dvc --version`", "peak memory"), rows
    )
    if noop.get("rerun_after_direct"):
        text += (
            f"\n\nAfter the direct runs, `dvc repro` re-ran {', '.join(noop['rerun_after_direct'])}: "
            "those stages' outputs were not byte-identical between runs."
        )
    return text


def incremental_section(analysis: Analysis) -> str:
    incremental = analysis.results["incremental"]
    runs = incremental["runs"]
    wall = summary_of(runs, "wall_s")
    ran = sorted({stage for run in runs for stage in run["stages_run"]}, key=analysis.order.index)
    values = ", ".join(str(run["value"]) for run in runs)
    table = markdown_table(
        ("", "wall, median (range)", "ratio to full"),
        [
            ("`dvc repro evaluate` from scratch", spread(analysis.full_wall, format_seconds), "1.00×"),
            (
                f"after changing `{incremental['param']}`",
                spread(wall, format_seconds),
                format_ratio(ratio(wall.median, analysis.full_wall.median)),
            ),
        ],
    )
    return (
        f"`{incremental['param']}` changed from {incremental['from']} to {values} (a new value each run, so "
        f"DVC's run cache cannot answer). Stages re-run: {', '.join(ran) or 'none'}.\n\n{table}"
    )


def per_stage_table(analysis: Analysis, field: str, stages: list[str], fmt: Callable[[float], str]) -> str:
    """One row per stage: the figure at each size and, with two sizes or more, its exponent."""
    fitted = len(analysis.factors) > 1
    header = ["stage", *(f"{factor}×" for factor in analysis.factors), *(["exponent"] if fitted else [])]
    rows = []
    for stage in stages:
        row = [stage, *(fmt(analysis.stage_value(field, factor, stage)) for factor in analysis.factors)]
        if fitted:
            row.append(format_exponent(analysis.stage_exponent(field, stage)))
        rows.append(row)
    return markdown_table(header, rows)


def scaling_section(analysis: Analysis, plot_link: str) -> str:
    flights = analysis.results["flights_1x"]
    rows = []
    for factor, wall, cpu, peak in zip(
        analysis.factors,
        analysis.wall_by_factor,
        analysis.cpu_by_factor,
        analysis.peak_by_factor,
        strict=True,
    ):
        runs = len(analysis.scaling[factor])
        rows.append(
            (
                f"{factor}×",
                f"{factor * flights:,}",
                runs,
                format_seconds(wall),
                format_seconds(cpu),
                format_bytes(peak),
                f"{wall / (factor * flights / 1e6):.1f} s",
            )
        )
    fitted = len(analysis.factors) > 1
    rows += (
        [
            (
                "growth exponent",
                "",
                "",
                format_exponent(analysis.time_exponent),
                format_exponent(analysis.cpu_exponent),
                format_exponent(analysis.memory_exponent),
                "",
            )
        ]
        if fitted
        else []
    )
    sizes = markdown_table(
        ("size", "flights", "runs", "wall", "CPU", "peak memory", "wall per million flights"), rows
    )
    offenders = analysis.faster_than_linear()
    verdict_text = (
        f"Stages growing faster than linearly: {'; '.join(offenders)}."
        if offenders
        else "No stage's time grows faster than linearly."
        if fitted
        else "Only 1× was run, so no growth is fitted."
    )
    notes = (
        "Wall time runs from each `Running stage` line to the next; CPU time and peak memory of each stage's "
        "processes are sampled every 0.2 s (DVC's own CPU is the total less the stages'; the whole-pipeline "
        "peak above is exact)."
    )
    return (
        f"![Wall time and peak memory against data size, log-log]({plot_link})\n\n{sizes}\n\n"
        "The 1× row is the full runs above."
        + (
            " The exponent is the least-squares slope of log(value) against log(size) over the medians "
            "(1 = linear; fixed costs such as imports pull it below 1)."
            if fitted
            else ""
        )
        + f"\n\n### Per stage\n\n{verdict_text} {notes}\n\n{per_stage_tables(analysis)}"
    )


def per_stage_tables(analysis: Analysis) -> str:
    """With several sizes, a table per figure; with one, a single table of all three."""
    figures = (
        ("Wall time", "stage_s", analysis.timeline_stages, format_seconds),
        ("CPU time", "stage_cpu_s", [*analysis.order, DVC_ITSELF], format_seconds),
        ("Peak memory", "stage_peak_rss_bytes", analysis.order, format_bytes),
    )
    if len(analysis.factors) > 1:
        return "\n\n".join(
            f"{title}:\n\n{per_stage_table(analysis, field, stages, fmt)}"
            for title, field, stages, fmt in figures
        )
    factor = analysis.factors[0]
    rows = []
    for stage in [*analysis.timeline_stages, DVC_ITSELF]:
        cells = [
            fmt(analysis.stage_value(field, factor, stage)) if stage in stages else "–"
            for _, field, stages, fmt in figures
        ]
        rows.append([stage, *cells])
    return markdown_table(["stage", *(title for title, *_ in figures)], rows)


#: Results written before a script was part of ``make bench``.
NOT_RUN = {"status": "not measured", "reason": "not part of the benchmark when these results were taken"}
#: Each other script's section of the report, by the script's name in ``bench.run``.
EXTERNAL_HEADINGS = {
    "sweep": "The sweep against sequential runs",
    "pull": "`dvc pull` from the loopback S3 server against boto3",
    "scoring": "Scoring: batch and HTTP",
    "calibration": "The verdict's calibration",
    "fanout": "The sweep fanned out over runners",
}
#: How a section kept from an earlier report begins (so a later report keeps the first date).
KEPT_OPENING = "Not re-measured by this run"
REPORT_DATE = re.compile(r"measured by `python -m bench\.run` \([^)]*\) on (?P<date>[^;]+);")
KEPT_DATE = re.compile(KEPT_OPENING + r": [^\n]*? Kept from the report of (?P<date>[^,]+), ")


def report_sections(markdown: str) -> dict[str, str]:
    """The body of each ``## `` section of a report, by heading."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading.strip()] = body.strip()
    return sections


def keep_earlier_sections(results: dict, earlier_report: str) -> None:
    """Give each script this run did not measure its section of ``earlier_report``, with its date.

    A section that was itself kept keeps its first date; one that was not measured then
    either stays not measured.
    """
    sections = report_sections(earlier_report)
    found = REPORT_DATE.search(earlier_report)
    report_date = found["date"] if found else "unknown date"
    for name, heading in EXTERNAL_HEADINGS.items():
        entry = results.setdefault("external", {}).get(name)
        body = sections.get(heading, "")
        if entry is None or entry["status"] == "measured" or "earlier" in entry or not body:
            continue
        date = report_date
        if body.startswith(KEPT_OPENING):
            kept = KEPT_DATE.match(body)
            date = kept["date"] if kept else date
            body = body.partition("\n\n")[2]
        if body and not body.startswith("Not measured"):
            entry["earlier"] = {"date": date, "markdown": body}


def external_section(entry: dict) -> str:
    """Another script's results: its own Markdown when it gives one, else a table."""
    if entry["status"] != "measured" and "earlier" in entry:
        earlier = entry["earlier"]
        return (
            f"{KEPT_OPENING}: {entry['reason']}. Kept from the report of {earlier['date']}, "
            "when the section below was measured unless it names its own date.\n\n"
            f"{earlier['markdown']}"
        )
    if entry["status"] != "measured":
        return f"Not measured: {entry['reason']}."
    data = entry["data"]
    header = f"Measured by `{entry['command']}` in {format_seconds(entry['wall_s'])}."
    if isinstance(data, dict) and isinstance(data.get("markdown"), str):
        return f"{header}\n\n{data['markdown'].strip()}"
    if isinstance(data, dict) and "parallel" in data:
        return f"{header}\n\n{sweep_table(data)}"
    rows = [(f"`{key}`", value) for key, value in flatten(data) if "\n" not in value]
    return f"{header}\n\n{markdown_table(('result', 'value'), rows)}"


def sweep_table(data: dict) -> str:
    """bench/sweep_bench.py's results: the sweep against the same runs one after another."""
    runs = [("the sweep", data["parallel"])]
    if "sequential" in data:
        runs.append(("the same experiments one after another (`dvc exp run`)", data["sequential"]))
    rows = [
        (
            label,
            format_seconds(cost["wall_s"]),
            format_seconds(cost["cpu_s"]),
            f"{cost['utilisation']:.2f}",
            f"{cost.get('others_share_of_capacity', math.nan):.2f}",
        )
        for label, cost in runs
    ]
    table = markdown_table(
        ("", "wall", "CPU", "utilisation (CPU / wall × cores)", "other programs' share of the cores"), rows
    )
    lines = [
        f"{data['experiments']} experiments, {data['jobs']} workers, {data['cores']} cores.",
        "",
        table,
    ]
    for name, target in data.get("targets", {}).items():
        comparison = "≥" if name == "utilisation" else "≤"
        lines += [
            "",
            f"{name.replace('_', ' ')}: {target['value']:.2f} (target {comparison} {target['target']}: "
            f"{verdict(target['met'])}).",
        ]
    if "sequential" in data:
        lines += ["", sweep_bound(data)]
    return "\n".join(lines)


def sweep_bound(data: dict) -> str:
    """How far below the sequential time any schedule could take the sweep on these cores.

    The sweep cannot finish before its CPU time is spread over every core; and if the
    queue cost nothing, its CPU time would be the sequential runs'.
    """
    sequential, parallel = data["sequential"], data["parallel"]
    cores = data["cores"]
    free_queue = sequential["cpu_s"] / cores / sequential["wall_s"]
    this_cpu = parallel["cpu_s"] / cores / sequential["wall_s"]
    return (
        f"Bound: one experiment alone already keeps {sequential['utilisation']:.2f} of the {cores} cores "
        f"busy, so no schedule gets the sweep below {free_queue:.2f}× of the sequential time without "
        f"cutting CPU time; with the CPU this sweep used (the queue's own work included) the floor is "
        f"{this_cpu:.2f}×, which it would reach only at full utilisation."
    )


def flatten(data: object, prefix: str = "") -> list[tuple[str, str]]:
    """Dotted key/value pairs of nested JSON, numbers rounded for a table."""
    if isinstance(data, dict):
        return [pair for key, value in data.items() for pair in flatten(value, f"{prefix}{key}.")]
    if isinstance(data, list) and data and all(isinstance(value, int | float) for value in data):
        return [(prefix.rstrip("."), ", ".join(f"{value:.4g}" for value in data))]
    if isinstance(data, list):
        return [pair for index, value in enumerate(data) for pair in flatten(value, f"{prefix}{index}.")]
    if isinstance(data, float):
        return [(prefix.rstrip("."), f"{data:.4g}")]
    return [(prefix.rstrip("."), str(data))]


def method_section(results: dict) -> str:
    runs = results["runs"]
    return "\n".join(
        f"- {line}"
        for line in (
            "Every measurement runs in a fresh copy of the working tree in a temporary directory "
            "(`src.sandbox.copy_project`): no data, an empty DVC cache, so `dvc repro` rebuilds everything.",
            f"Timings at 1× are medians of {runs} run(s), with the range in brackets; each replicated size "
            f"was run {results['scaling_runs']} time(s), also reported as the median.",
            "Wall time by the benchmark's clock; CPU time (user + system) and peak memory from `os.wait4` on "
            "the command, which on Linux include every process it waited for (all stages under `dvc repro`). "
            "Peak memory is the resident set of the largest single process.",
            "Stage commands come from `dvc.yaml`. The direct runs execute them with `/bin/sh -c` in DVC's "
            "order, after removing the stage's outputs as DVC does.",
            "No-op commands run in a reproduced copy, after one untimed warm-up of each.",
            "Scaling uses the benchmark-only parameter `ingest.replicate`: N stacked copies of the flights "
            "with distinct flight numbers.",
            "Environment: the virtualenv's tools first on PATH, `DVC_NO_ANALYTICS=1`, `PYTHONUNBUFFERED=1` "
            "(so DVC's stage lines are timestamped when printed).",
        )
    )


def render_markdown(results: dict, plot_link: str) -> str:
    analysis = Analysis(results)
    mode = (
        "a **quick run**, `--quick`: 1× only, one run each, so not for comparisons"
        if results["mode"] == "quick"
        else "a full run"
    )
    external = results["external"]
    sections = [
        "# Benchmarks",
        f"What the pipeline costs, measured by `python -m bench.run` ({mode}) on {results['started']}; the "
        f"benchmark took {format_seconds(results['duration_s'])}. Regenerate with `make bench` on a quiet "
        "machine.\n" + busy_warning(results) + sample_warning(results),
        f"## Summary\n\n{summary_section(analysis)}",
        f"## Machine\n\n{machine_section(results)}",
        f"## The experiment pipeline on the real data (1×)\n\n{full_section(analysis)}",
        f"## Each stage against its floor\n\n{floor_section(results)}",
        f"## The rest of the graph: training noise and the replay\n\n{rest_section(results)}",
        f"## DVC's overhead\n\n{overhead_section(analysis)}",
        f"## No-op runs and the import floor\n\n{noop_section(results)}",
        f"## Incremental re-run after a training-parameter change\n\n{incremental_section(analysis)}",
        f"## Scaling with the data\n\n{scaling_section(analysis, plot_link)}",
        *(
            f"## {heading}\n\n{external_section(external.get(name, NOT_RUN))}"
            for name, heading in EXTERNAL_HEADINGS.items()
        ),
        f"## Method\n\n{method_section(results)}",
    ]
    return "\n\n".join(sections) + "\n"


def write_report(results: dict, out: Path, plot: Path) -> None:
    """Write the Markdown report to ``out`` and the scaling picture to ``plot``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure = scaling_figure(Analysis(results))
    figure.savefig(plot, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(figure)
    link = os.path.relpath(plot.resolve(), out.resolve().parent)
    out.write_text(render_markdown(results, Path(link).as_posix()), encoding="utf-8")
