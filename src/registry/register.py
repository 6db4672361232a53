"""Register the current commit's model as a new version: ``python -m src.registry.register``.

GTO tags the commit ``<model>@vX.Y.Z`` (an annotated tag whose message says what
changed since the last version). Nothing is tagged unless every check passes, each
refusal being one sentence that says how to fix it:

1. the model is declared in ``dvc.yaml`` and the version (if given) is semantic;
2. the working tree has no uncommitted changes to tracked files;
3. the commit is not registered already;
4. ``dvc status`` is clean (the pipeline is reproduced) and the model file's bytes
   are the ones ``dvc.lock`` records;
5. the gate's floors (``gate`` in params.yaml) hold for the committed test metrics;
6. the version is new and above every registered one (proposed by
   :mod:`src.registry.versions` unless ``--version`` overrides it);
7. every output of the pipeline is in the DVC remote (``dvc status --cloud --json``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from src import dvc
from src.core.model_store import file_md5
from src.core.stage import PipelineError, run_stage
from src.params import load_params
from src.registry import catalog, storage
from src.registry.versions import (
    Version,
    check_new_version,
    lock_changes,
    parse_version,
    propose,
    version_tag,
)
from src.review.assessment import GateParams, assess

log = logging.getLogger("pipeline")

#: ``dvc status --cloud --json`` states of objects the remote lacks ("deleted" means
#: the remote has it and only the local cache lacks it).
NOT_IN_REMOTE = frozenset({"new", "missing"})


# --- the checks (pure) ----------------------------------------------------------------------


def dirty_tree_error(porcelain: list[str]) -> str | None:
    if not porcelain:
        return None
    shown = ", ".join(line[3:] for line in porcelain[:3]) + (" ..." if len(porcelain) > 3 else "")
    return f"the working tree has uncommitted changes ({shown}): commit or stash them first"


def unreproduced_error(status: dict) -> str | None:
    if not status:
        return None
    return f"the pipeline is not reproduced (`dvc status` lists {', '.join(sorted(status))}): run `make repro` and commit"


def model_bytes_error(path: str, actual: str | None, expected: str | None) -> str | None:
    if actual is None:
        return f"{path} is not in the workspace: run `dvc pull` or `make repro`"
    if actual != expected:
        return (
            f"{path} has MD5 {actual}, not the {expected} dvc.lock records: "
            "restore it with `dvc checkout` or reproduce with `make repro`"
        )
    return None


def not_pushed_error(cloud_status: dict, outputs: list[str], remote: str) -> str | None:
    """Which outputs (as dvc.lock names them) have files the remote lacks."""
    lacking = [path for path, state in cloud_status.items() if state in NOT_IN_REMOTE]
    missing = sorted(
        {
            next((out for out in outputs if path == out or path.startswith(f"{out}/")), path)
            for path in lacking
        }
    )
    if not missing:
        return None
    return f"not in remote '{remote}': {', '.join(missing)}; run `make push` first"


def gate_error(test_metrics: dict[str, float], gate: GateParams) -> str | None:
    """The gate's floors on the committed test metrics (there is no base to compare with here)."""
    failures = assess(None, test_metrics, None, gate).gate_failures
    return "the gate fails: " + " ".join(failures) if failures else None


def registration_message(model: str, version: Version, previous: Version | None, changes_text: str) -> str:
    if previous is None:
        return f"{model} {version}: first registered version"
    return f"{model} {version}: changed since {previous}: {changes_text}"


# --- running them ---------------------------------------------------------------------------


def refuse(error: str | None) -> None:
    if error:
        raise PipelineError(error)


def model_md5(root: Path, path: str) -> str | None:
    file = root / path
    return file_md5(file) if file.is_file() else None


def cloud_status(root: Path, remote: str) -> dict:
    try:
        return dvc.status(root, remote=remote)
    except PipelineError as error:
        reason = storage.first_line(str(error).split("\n", 1)[-1])  # past the "`dvc ...` exited" line
        raise PipelineError(
            f"cannot reach DVC remote '{remote}' to check the outputs are pushed: {reason}"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m src.registry.register",
        description="Tag the current commit's model as a new version through GTO (<model>@vX.Y.Z), "
        "after checking it is reproduced, committed, pushed and passes the gate's floors.",
        epilog="The version is proposed from what changed since the last registered version "
        "(label: major; data or features: minor; anything else: patch); see docs/registry.md.",
    )
    parser.add_argument("--model", help="a model declared in dvc.yaml artifacts (default: the only one)")
    parser.add_argument("--version", help="register this version instead of the proposed one (vX.Y.Z)")
    parser.add_argument("-r", "--remote", help="the DVC remote to check (default: the default remote)")
    parser.add_argument("--dry-run", action="store_true", help="check and propose, but tag nothing")
    parser.add_argument("--push", action="store_true", help="push the new tag to origin")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    root = dvc.repository_root()
    model = catalog.pick_model(catalog.read_models(root), args.model)
    requested = parse_version(args.version) if args.version else None
    refuse(dirty_tree_error(dvc.porcelain(untracked=False, cwd=root)))
    commit = dvc.resolve_commit("HEAD", cwd=root)
    versions = catalog.read_versions(root, model.name)
    here = [item for item in versions if item.commit == commit]
    if here:
        raise PipelineError(
            f"this commit is already {version_tag(model.name, here[0].version)}: nothing to register"
        )
    if requested is not None:  # before the slower checks: a wrong number is the quickest to fix
        check_new_version(requested, [item.version for item in versions], model.name)

    log.info("checking that the pipeline is reproduced (dvc status)")
    refuse(unreproduced_error(dvc.status(root)))
    lock = dvc.read_lock(root)
    expected = dvc.locked_outputs(lock).get(model.path, {}).get("md5")
    refuse(model_bytes_error(model.path, model_md5(root, model.path), expected))
    test_metrics = catalog.split_metrics(catalog.read_metrics(root, commit), "test")
    refuse(gate_error(test_metrics, load_params(root / "params.yaml").gate))

    previous = versions[-1] if versions else None
    changes = lock_changes(dvc.read_lock(root, commit=previous.commit), lock) if previous else None
    proposed = propose(previous.version if previous else None, changes)
    version = requested or proposed
    check_new_version(version, [item.version for item in versions], model.name)
    changes_text = changes.describe() if changes else ""
    if previous is not None:
        log.info("changed since %s: %s; proposed %s", previous.version, changes_text, proposed)

    remote = storage.remote_name(root, args.remote)
    log.info("checking that every output is in remote '%s' (dvc status --cloud)", remote)
    refuse(not_pushed_error(cloud_status(root, remote), list(dvc.locked_outputs(lock)), remote))

    tag = version_tag(model.name, version)
    if args.dry_run:
        print(f"would register {tag} at {commit[:12]}")
        return
    message = registration_message(model.name, version, previous.version if previous else None, changes_text)
    push = ["--push"] if args.push else []
    dvc.gto("register", model.name, commit, "--version", str(version), "--message", message, *push, cwd=root)
    print(f"registered {tag} at {commit[:12]}: {message}")


if __name__ == "__main__":
    run_stage("register", main)
