"""The merge gate: fail when a primary test metric is too low or really got worse.

``python -m src.review.gate --base main`` exits 1 with one sentence per failure when a
primary metric (``params.yaml`` ``gate.primary_metrics``) is beyond its floor
(``gate.floors``), or is worse than the base by more than ``gate.tolerance`` with the
interval of the change (test-sample and training noise) excluding zero, or a segment
(carrier, origin, hour band, distance band) is worse by more than
``gate.segments.tolerance`` in the same way. Without training noise the tolerances
alone decide (the stricter rule). The rules are the base revision's ``gate:`` section
(:mod:`src.review.base_settings`): a branch cannot relax the gate that judges it. It applies the same
:func:`src.review.against_base.assess_against_base` as the report, so the comment on a
pull request and the job's status cannot disagree; it loads neither the report's
Markdown nor its pictures (no matplotlib).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from src.core.files import atomic_path
from src.core.stage import PipelineError, run_stage
from src.params import load_params
from src.review.against_base import DEFAULT_PREDICTIONS, DEFAULT_SEEDS, assess_against_base, format_change
from src.review.assessment import Assessment
from src.review.base_settings import gate_for_review

log = logging.getLogger("pipeline")


def gate_message(assessment: Assessment, base: str) -> str:
    """The sentence the gate prints: failures first, then the numbers behind them."""
    if assessment.gate_passed:
        caveat = f" (not assessed: {assessment.interval_note})" if assessment.interval_note else ""
        return f"gate passed against {base}: {format_change(assessment)}{caveat}"
    return f"gate failed against {base}: " + " ".join(assessment.gate_failures)


def write_result(path: Path, assessment: Assessment, base: str) -> None:
    """The gate's result as the report computed it, for a later step (``--result``)."""
    result = {"base": base, "passed": assessment.gate_passed, "message": gate_message(assessment, base)}
    with atomic_path(path) as staged:
        staged.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def read_result(path: Path, base: str) -> tuple[bool, str]:
    """``(passed, message)`` from :func:`write_result`'s file; an error naming it if it is not one."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        passed, message, against = result["passed"], result["message"], result["base"]
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise PipelineError(
            f"{path}: no gate result ({type(error).__name__}: {error}); the report writes it with "
            "--gate-result, or run the gate without --result"
        ) from None
    if not isinstance(passed, bool) or not isinstance(message, str):
        raise PipelineError(f"{path}: no gate result (passed must be true or false, message a text)")
    if against != base:
        raise PipelineError(f"{path}: a gate result against {against!r}, not against {base!r}")
    return passed, message


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.review.gate",
        description="Exit 1 when a primary test metric is below its floor, or it or a segment's is "
        "worse than the base beyond the tolerance (with the interval covering test-sample and "
        "training noise excluding zero).",
    )
    parser.add_argument("--base", required=True, help="the base: a git revision (e.g. main, origin/main)")
    parser.add_argument(
        "--predictions", default=DEFAULT_PREDICTIONS, help="per-flight test scores (DVC output)"
    )
    parser.add_argument(
        "--seeds", default=DEFAULT_SEEDS, help="the other seeds' per-flight test scores (DVC output)"
    )
    parser.add_argument(
        "--allow-stale",
        action="store_true",
        help="judge a workspace that is not reproduced (refused by default)",
    )
    parser.add_argument(
        "--result",
        type=Path,
        help="the result the report wrote with --gate-result: exit with it instead of assessing again",
    )
    args = parser.parse_args()

    if args.result:  # the report's own assessment: the comment and the status cannot disagree
        passed, message = read_result(args.result, args.base)
        if not passed:
            raise PipelineError(message)
        print(message)
        return

    params = load_params()
    gate, _ = gate_for_review(args.base, params.gate)  # a branch does not relax its own gate
    assessment = assess_against_base(
        args.base, gate, args.predictions, args.seeds, params.noise.extra_seeds, args.allow_stale
    ).assessment
    message = gate_message(assessment, args.base)
    if not assessment.gate_passed:
        raise PipelineError(message)
    print(message)


if __name__ == "__main__":
    run_stage("gate", main)
