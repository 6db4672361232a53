"""The merge gate: fail when a primary test metric is too low or really got worse.

``python -m src.review.gate --base main`` exits 1 with one sentence per failing metric when a
primary metric (``params.yaml`` ``gate.primary_metrics``) is beyond its floor
(``gate.floors``), or is worse than the base by more than ``gate.tolerance`` with the
paired-bootstrap interval of the change excluding zero. It applies the same
:func:`src.review.against_base.assess_against_base` as the report, so the comment on a
pull request and the job's status cannot disagree; it loads neither the report's
Markdown nor its pictures (no matplotlib).
"""

from __future__ import annotations

import argparse
import logging

from src.core.stage import PipelineError, run_stage
from src.params import load_params
from src.review.against_base import DEFAULT_PREDICTIONS, assess_against_base, format_change
from src.review.assessment import Assessment

log = logging.getLogger("pipeline")


def gate_message(assessment: Assessment, base: str) -> str:
    """The sentence the gate prints: failures first, then the numbers behind them."""
    if assessment.gate_passed:
        return f"gate passed against {base}: {format_change(assessment)}"
    return f"gate failed against {base}: " + " ".join(assessment.gate_failures)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.review.gate",
        description="Exit 1 when a primary test metric is below its floor or worse than the "
        "base beyond the tolerance (with the bootstrap interval excluding zero).",
    )
    parser.add_argument("--base", required=True, help="the base: a git revision (e.g. main, origin/main)")
    parser.add_argument(
        "--predictions", default=DEFAULT_PREDICTIONS, help="per-flight test scores (DVC output)"
    )
    args = parser.parse_args()

    assessment = assess_against_base(args.base, load_params().gate, args.predictions).assessment
    message = gate_message(assessment, args.base)
    if not assessment.gate_passed:
        raise PipelineError(message)
    print(message)


if __name__ == "__main__":
    run_stage("gate", main)
