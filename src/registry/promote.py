"""Assign a registered version to a stage: ``python -m src.registry.promote v1.2.0 --stage prod``.

GTO records the assignment as an annotated tag ``<model>#<stage>#N``. Before it does:

- the stage must be one of ``.gto``'s and the version registered and not already there;
- the version's model must be in the DVC remote with the bytes its ``dvc.lock`` records
  (read from the remote itself, bypassing the local cache);
- for ``prod``, the candidate's per-flight test scores (its model's and its other seeds')
  are paired with those of the version now in ``prod`` and assessed with the gate's rule
  (:func:`src.review.assessment.assess`, ``gate`` in params.yaml): a primary metric
  beyond its floor, or worse by more than the tolerance with the interval of the change
  (test-sample and training noise) excluding zero, refuses the candidate. ``--force --reason "..."`` assigns it anyway
  and the reason, with what was overridden, goes into the tag's message.
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

import pandas as pd

from src import dvc
from src.core.stage import PipelineError, run_stage
from src.params import load_params
from src.registry import catalog, storage
from src.registry.catalog import PROD, ModelVersion
from src.registry.versions import parse_version
from src.review.assessment import Assessment, GateParams, assess, pair_predictions

log = logging.getLogger("pipeline")

#: Per-flight test scores: the evaluate stage's (the model) and the seeds stage's (other seeds).
TEST_PREDICTIONS = "data/predictions/test.parquet"
TEST_SEEDS = "data/seeds/test.parquet"


# --- the decision (pure) --------------------------------------------------------------------


def describe_assessment(assessment: Assessment) -> str:
    """The primary metrics' changes in one line, with their bootstrap intervals."""
    parts = []
    for change in assessment.changes:
        if change.base is None or change.branch is None:
            parts.append(f"test {change.metric}: not comparable")
            continue
        interval = change.interval
        ci = f", {interval.confidence:.0%} CI {interval.low:+.4f} to {interval.high:+.4f}" if interval else ""
        parts.append(
            f"test {change.metric} {change.base:.4f} -> {change.branch:.4f} ({change.delta:+.4f}{ci})"
        )
    note = f" ({assessment.interval_note})" if assessment.interval_note else ""
    return f"{assessment.verdict}: " + "; ".join(parts) + note


def assignment_message(
    model: str,
    candidate: ModelVersion,
    stage: str,
    current: ModelVersion | None,
    assessment: Assessment | None,
    reason: str | None,
) -> str:
    """The annotated tag's message: what was assigned, on which evidence, and any override."""
    lines = [f"{model} {candidate.version} to {stage}"]
    if assessment is not None and current is not None:
        lines.append(f"against {current.version} in {stage}: {describe_assessment(assessment)}")
    elif stage == PROD:
        lines.append(f"no version was in {stage}: nothing to compare with")
    if reason is not None:
        failures = " ".join(assessment.gate_failures) if assessment is not None else ""
        lines.append(f"forced: {reason}" + (f" (overrode: {failures})" if failures else ""))
    return "\n".join(lines)


def refusal(model: str, candidate: ModelVersion, current: ModelVersion, assessment: Assessment) -> str | None:
    if assessment.gate_passed:
        return None
    return (
        f"{model} {candidate.version} may not replace {current.version} in {PROD}: "
        + " ".join(assessment.gate_failures)
        + ' (to assign it anyway: --force --reason "why")'
    )


# --- gathering (I/O) ----------------------------------------------------------------------


def read_scores(root: Path, version: ModelVersion, path: str, remote: str) -> pd.DataFrame:
    """A per-flight scores file of a version, from the local cache or the remote."""
    try:
        return pd.read_parquet(io.BytesIO(dvc.read_output(path, version.commit, repo=root, remote=remote)))
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        raise PipelineError(
            f"cannot read {path} of {version.version} (commit {version.commit[:12]}) "
            f"from the cache or remote '{remote}': {storage.first_line(error)}"
        ) from None


def read_seeds(root: Path, version: ModelVersion, remote: str) -> pd.DataFrame | None:
    """The other seeds' test scores of a version; None for a version older than the seeds stage."""
    outputs = dvc.locked_outputs(dvc.read_lock(root, commit=version.commit))
    if not any(TEST_SEEDS == path or TEST_SEEDS.startswith(f"{path}/") for path in outputs):
        return None
    return read_scores(root, version, TEST_SEEDS, remote)


def assess_against(
    root: Path, current: ModelVersion, candidate: ModelVersion, gate: GateParams, remote: str
) -> Assessment:
    """The gate's assessment of the candidate's test metrics against the current holder's.

    Both sides are scored by their replicates (the model and the other seeds), so the
    interval covers training noise too; a version without seeds leaves the tolerance alone
    to decide, as the pull-request gate does.
    """
    base = catalog.split_metrics(catalog.read_metrics(root, current.commit), "test")
    branch = catalog.split_metrics(catalog.read_metrics(root, candidate.commit), "test")
    paired = pair_predictions(
        read_scores(root, current, TEST_PREDICTIONS, remote),
        read_scores(root, candidate, TEST_PREDICTIONS, remote),
        read_seeds(root, current, remote),
        read_seeds(root, candidate, remote),
    )
    log.info(
        "assessing %s against %s (%d paired resamples)",
        candidate.version,
        current.version,
        gate.bootstrap_samples,
    )
    return assess(base or None, branch, paired, gate)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m src.registry.promote",
        description="Assign a registered model version to a stage through GTO (<model>#<stage>#N). "
        "To prod only if it is not worse than the version in prod (the gate's rule).",
    )
    parser.add_argument("version", help="a registered version, e.g. v1.2.0")
    parser.add_argument("--stage", required=True, help="dev, staging or prod (the stages in .gto)")
    parser.add_argument("--model", help="a model declared in dvc.yaml artifacts (default: the only one)")
    parser.add_argument("-r", "--remote", help="the DVC remote to check (default: the default remote)")
    parser.add_argument("--force", action="store_true", help="assign to prod even if worse (needs --reason)")
    parser.add_argument("--reason", help="why --force: kept in the tag's message")
    parser.add_argument("--push", action="store_true", help="push the new tag to origin")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    root = dvc.repository_root()
    model = catalog.pick_model(catalog.read_models(root), args.model)
    stage = catalog.check_stage(args.stage, catalog.read_stages(root))
    version = parse_version(args.version)
    reason = (args.reason or "").strip() or None
    if args.force and reason is None:
        raise PipelineError('--force needs --reason "why": the reason is kept in the tag\'s message')
    if reason is not None and not args.force:
        raise PipelineError("--reason goes with --force: without it there is nothing to override")
    versions = catalog.read_versions(root, model.name)
    candidate = catalog.find_version(versions, version, model.name)
    if stage in candidate.stages:
        raise PipelineError(f"{model.name} {version} is already in {stage}: nothing to assign")

    remote = storage.remote_name(root, args.remote)
    log.info("checking %s of %s in remote '%s'", model.path, version, remote)
    storage.verified_model(root, candidate.commit, model.path, remote)
    current = catalog.holder(versions, stage) if stage == PROD else None
    assessment = None
    if current is not None:
        assessment = assess_against(root, current, candidate, load_params(root / "params.yaml").gate, remote)
        log.info("%s against %s: %s", version, current.version, describe_assessment(assessment))
        refused = refusal(model.name, candidate, current, assessment)
        if refused and not args.force:
            raise PipelineError(refused)
    message = assignment_message(model.name, candidate, stage, current, assessment, reason)
    push = ["--push"] if args.push else []
    # GTO refuses a version that held the stage before (a roll-back) unless forced; that
    # it does not hold it now was checked above.
    assign = ["assign", model.name, "--version", str(version), "--stage", stage, "--force"]
    dvc.gto(*assign, "--message", message, *push, cwd=root)
    print(message)


if __name__ == "__main__":
    run_stage("promote", main)
