"""The pull-request report: what changed in the results against a base revision.

``python -m src.review.report --base main`` writes Markdown (``reports/report.md`` by
default) and the pictures it links to, beside it. Everything comes from DVC, through the
adapter :mod:`src.dvc`: ``dvc metrics diff``, ``dvc params diff``, ``dvc plots diff``
(curve data and both revisions' confusion matrices), ``dvc status`` and the two
revisions' ``dvc.lock`` (which stages changed); the base's per-flight test predictions
come through ``dvc.api`` from the cache or the remote. The verdict and the gate's result
are :func:`src.review.against_base.assess_against_base`'s, the same that
``python -m src.review.gate`` applies. :mod:`src.review.facts` digests the answers,
:mod:`src.review.markdown` writes them, :mod:`src.review.pictures` draws.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from src import dvc
from src.core.files import atomic_path
from src.core.stage import PipelineError, run_stage
from src.params import load_params
from src.review.against_base import DEFAULT_PREDICTIONS, DEFAULT_SEEDS, assess_against_base, stale_stages
from src.review.base_settings import gate_for_review
from src.review.facts import (
    ReportFacts,
    changed_metrics,
    changed_params,
    parse_repro_log,
    stage_changes,
    validation_changes,
)
from src.review.fairness import group_gaps
from src.review.gate import write_result
from src.review.markdown import render_report
from src.review.pictures import draw_pictures

log = logging.getLogger("pipeline")

DEFAULT_OUT = Path("reports/report.md")
#: The validate stage's findings (an output kept in git, in dvc.yaml).
DEFAULT_VALIDATION_REPORT = "metrics/validation.json"


def one_line(error: PipelineError) -> str:
    """The adapter's error (the command, then what it printed) as one line: the command
    and the last lines it printed, which is where DVC and git say what went wrong."""
    command, _, output = str(error).partition("\n")
    said = [line.strip() for line in output.splitlines() if line.strip()]
    return " / ".join([command.rstrip(":"), *said[-3:]])


def read_json(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def build_report(
    base: str,
    out: Path,
    repro_log: Path | None = None,
    predictions: str = DEFAULT_PREDICTIONS,
    validation_report: str = DEFAULT_VALIDATION_REPORT,
    seeds: str = DEFAULT_SEEDS,
    text_copy: tuple[Path, str] | None = None,
    allow_stale: bool = False,
) -> ReportFacts:
    """Gather everything and write the Markdown and its pictures under ``out``'s directory.

    ``text_copy`` = ``(path, where the pictures are)``: also write the report without its
    pictures to ``path``, that line in their place.
    """
    params = load_params()
    gate, own_gate_changes = gate_for_review(base, params.gate)  # the base's rules judge the branch
    against = assess_against_base(base, gate, predictions, seeds, params.noise.extra_seeds, allow_stale)
    commit = against.commit
    facts = ReportFacts(
        base=base,
        gate=gate,
        assessment=against.assessment,
        metric_rows=against.rows,
        params=changed_params(dvc.dvc_json("params", "diff", commit)),
        stages=stage_changes(dvc.read_lock(commit=commit), dvc.read_lock()),
        repro_log=parse_repro_log(repro_log.read_text(encoding="utf-8")) if repro_log else None,
        stale=stale_stages(against.status or {}),
        metrics_changed=changed_metrics(against.metrics_diff),
        segments=against.segments,
        group_gaps=group_gaps(against.paired, gate.segments, params.evaluate.threshold),
        threshold=params.evaluate.threshold,
        own_gate_changes=own_gate_changes,
    )
    if not facts.nothing_changed:
        branch_findings = Path(validation_report)
        facts.validation_rows = validation_changes(
            read_json(dvc.show_file(commit, validation_report)),
            read_json(branch_findings.read_text(encoding="utf-8") if branch_findings.is_file() else None),
        )
        pictures = draw_pictures(commit, base, out.parent)
        facts.curve_images, facts.image_pairs = pictures.curves, pictures.image_pairs
    with atomic_path(out) as staged:
        staged.write_text(render_report(facts), encoding="utf-8")
    if text_copy:
        text_out, pictures_at = text_copy
        with atomic_path(text_out) as staged:
            staged.write_text(render_report(facts, pictures_at=pictures_at), encoding="utf-8")
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.review.report",
        description="Write the pull-request report: metrics, parameters, stages and pictures "
        "of the workspace against a base revision, with the gate's verdict.",
    )
    parser.add_argument("--base", required=True, help="the base: a git revision (e.g. main, origin/main)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"Markdown file (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--repro-log", type=Path, help="what `dvc repro` printed, to tell re-run from restored"
    )
    parser.add_argument(
        "--predictions", default=DEFAULT_PREDICTIONS, help="per-flight test scores (DVC output)"
    )
    parser.add_argument(
        "--seeds", default=DEFAULT_SEEDS, help="the other seeds' per-flight test scores (DVC output)"
    )
    parser.add_argument(
        "--text-out",
        type=Path,
        help="also write the report without pictures here (for a job summary, or a comment that "
        "uploads no images)",
    )
    parser.add_argument(
        "--pictures-at",
        default="in the run's artifact.",
        help="the line that replaces the pictures in --text-out (default: %(default)r)",
    )
    parser.add_argument(
        "--gate-result",
        type=Path,
        help="also write the gate's result here, for `python -m src.review.gate --result` (a later step)",
    )
    parser.add_argument(
        "--allow-stale",
        action="store_true",
        help="report a workspace that is not reproduced (refused by default), with a warning",
    )
    args = parser.parse_args()

    text_copy = (args.text_out, args.pictures_at) if args.text_out else None
    try:
        facts = build_report(
            args.base,
            args.out,
            args.repro_log,
            args.predictions,
            seeds=args.seeds,
            text_copy=text_copy,
            allow_stale=args.allow_stale,
        )
    except PipelineError as error:  # one line in the job's log, whichever command failed
        raise PipelineError(one_line(error)) from None
    if args.gate_result:
        write_result(args.gate_result, facts.assessment, args.base)
    log.info(
        "verdict: %s; gate %s; report written to %s",
        facts.assessment.verdict,
        "passed" if facts.assessment.gate_passed else "failed",
        args.out,
    )


if __name__ == "__main__":
    run_stage("report", main)
