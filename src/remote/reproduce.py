"""Get any commit's artifacts back from the DVC remote, in a worktree of its own.

``python -m src.remote.reproduce REV`` (or ``make reproduce REV=...``) checks the commit out
as a separate git worktree under ``.dvc/tmp/reproduce/`` (ignored by git, so the
user's working tree and index are never touched), pulls the outputs its ``dvc.lock``
names from the remote, then verifies every output against that lock with
``dvc status``, its hashes recomputed from the bytes on disk rather than taken from
DVC's record of what it checked out. Outputs the remote lacks are listed with the
stages ``dvc repro`` would run; ``--rebuild`` (or a yes at the prompt, when run from a
terminal) runs them and checks that the rebuilt outputs match the lock.

The worktree shares the main repository's cache and remotes (URLs, endpoints,
profiles from ``.dvc/config`` and ``.dvc/config.local``), so what one pull fetched is
not fetched again, and relative paths still point where they did.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from src import dvc
from src.core.stage import PipelineError, run_stage
from src.remote.verification import (
    SHORT_SHA,
    Outputs,
    classify,
    explain_missing,
    format_summary,
    lock_mismatches,
    mark_rebuilt,
    stages_to_rebuild,
)

log = logging.getLogger("pipeline")

WORKTREES_DIR = Path(".dvc") / "tmp" / "reproduce"


def committed_lock(root: Path, commit: str) -> dict[str, Any]:
    """The commit's parsed ``dvc.lock``; a one-line error when the commit has no pipeline."""
    short = commit[:SHORT_SHA]
    if dvc.show_file(commit, "dvc.yaml", cwd=root) is None:
        raise PipelineError(
            f"commit {short} predates the pipeline: it has no dvc.yaml, so no outputs to fetch"
        )
    lock = dvc.read_lock(root, commit=commit)
    if lock is None:
        raise PipelineError(
            f"commit {short} predates the pipeline's first run: it has a dvc.yaml but no dvc.lock, "
            "so no outputs were recorded or pushed"
        )
    return lock


def add_worktree(root: Path, commit: str, path: Path) -> bool:
    """A detached worktree of ``commit`` at ``path``; True when an existing one is reused."""
    if path.exists():
        head = dvc.git("rev-parse", "HEAD", cwd=path, check=False)
        if head.returncode == 0 and head.stdout.strip() == commit:
            log.info("reusing the worktree %s, reset to the commit", path)
            reset_to_commit(path, commit)
            return True
        raise PipelineError(f"{path} exists and is not a worktree of {commit[:SHORT_SHA]}: remove it first")
    log.info("creating a worktree at %s", path)
    # Forget worktrees whose directory was deleted by hand.
    dvc.git("worktree", "prune", cwd=root, check=False)
    dvc.git("worktree", "add", "--detach", str(path), commit, cwd=root)
    return False


def reset_to_commit(worktree: Path, commit: str) -> None:
    """The worktree's tracked files as the commit has them.

    A rebuild rewrites ``dvc.lock``; verifying against that would check the rebuild
    against itself. Every verification is against the commit's own lock, from git.
    """
    dvc.git("reset", "--quiet", "--hard", commit, cwd=worktree)


def share_main_configuration(root: Path, worktree: Path) -> None:
    """Give the worktree the main repository's remotes and cache, in its ignored config.local.

    The remotes come from today's configuration rather than the commit's: that is where
    the team's storage lives now, and machine settings (endpoint, profile) are in the
    main repository's config.local, which no commit contains. DVC's own config code
    resolves relative paths and re-anchors them for the worktree's .dvc directory.
    """
    from dvc.config import Config, merge

    main = Config(dvc_dir=str(root / ".dvc"), validate=False)
    current: dict[str, Any] = {}
    for level in ("repo", "local"):
        merge(current, main.load_one(level))
    cache = current.get("cache", {})
    shared: dict[str, Any] = {
        "remote": current.get("remote", {}),
        "cache": {**cache, "dir": cache.get("dir") or str(root / ".dvc" / "cache")},
    }
    if current.get("core", {}).get("remote"):
        shared["core"] = {"remote": current["core"]["remote"]}
    with Config(dvc_dir=str(worktree / ".dvc")).edit("local") as local:
        merge(local, shared)


def chosen_remote(root: Path, requested: str | None) -> str:
    """The remote to pull from, as the repository configures it (and the worktree will).

    A one-line error for an unknown name, or a local remote whose directory is missing
    (DVC itself would report every object as missing, one hash per line).
    """
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    name = requested or config["core"].get("remote")
    if not name:
        raise PipelineError("no DVC remote configured: pass --remote NAME (see `dvc remote list`)")
    if name not in config["remote"]:
        known = ", ".join(config["remote"]) or "none"
        raise PipelineError(f"unknown DVC remote '{name}' (configured: {known})")
    url = str(config["remote"][name]["url"])
    if "://" not in url and not Path(url).is_dir():
        raise PipelineError(
            f"remote '{name}' is a local directory that does not exist: {url} "
            f"(nothing was pushed there yet, or it is not mounted; change it with "
            f"`dvc remote modify --local {name} url PATH`)"
        )
    return name


def dvc_pull(worktree: Path, remote: str, jobs: int | None) -> None:
    """Pull the commit's outputs; DVC's own progress and messages go straight to the terminal.

    ``--allow-missing``: objects the remote lacks are reported, and the rest still
    checked out, instead of stopping the whole pull.
    """
    # --force: outputs a failed rebuild left behind are replaced by the locked ones (the
    # worktree is this tool's own; nothing of the user's is there).
    args = [
        "dvc",
        "pull",
        "--allow-missing",
        "--force",
        "--remote",
        remote,
        *(["--jobs", str(jobs)] if jobs else []),
    ]
    result = dvc.run(args, cwd=worktree, check=False, capture=False)
    if result.returncode != 0:
        raise PipelineError(
            f"dvc pull from remote '{remote}' failed (exit {result.returncode}): see DVC's message above; "
            f"check the remote's URL, endpoint and credentials with `dvc remote list` and docs/remote-storage.md"
        )


def ask_to_rebuild(stages: list[str]) -> bool:
    answer = input(f"Rebuild {', '.join(stages)} with `dvc repro` in the worktree? [y/N] ")
    return answer.strip().lower() in {"y", "yes"}


def rebuild(worktree: Path, outputs: Outputs) -> list[str]:
    """Run ``dvc repro`` in the worktree (its output shown); the outputs whose hashes then differ from the lock."""
    result = dvc.run(["dvc", "repro"], cwd=worktree, check=False, capture=False)
    if result.returncode != 0:
        raise PipelineError(
            f"dvc repro failed in {worktree} (exit {result.returncode}): see DVC's message above"
        )
    return lock_mismatches(outputs, dvc.locked_outputs(dvc.read_lock(worktree)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m src.remote.reproduce",
        description=(
            "Check out REV in a separate git worktree (.dvc/tmp/reproduce/<commit>), pull its "
            "outputs from the DVC remote, and verify every output against that commit's dvc.lock "
            "(hashes recomputed from the files). Your working tree is not touched. Outputs the "
            "remote lacks are listed with the stages `dvc repro` would run to rebuild them."
        ),
        epilog=(
            "examples:\n"
            "  python -m src.remote.reproduce HEAD~2\n"
            "  python -m src.remote.reproduce v1.0 --remote s3\n"
            "  make reproduce REV=5945ce7\n\n"
            "exit status: 0 when every output is in the worktree and matches the lock; 1 otherwise\n"
            "(unknown revision, commit without a pipeline, remote error, outputs missing and not\n"
            "rebuilt, or a rebuild that does not match the lock).\n\n"
            "The worktree stays for you to inspect; remove it with: git worktree remove --force PATH"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "revision", metavar="REV", help="a commit, branch or tag (anything git rev-parse accepts)"
    )
    parser.add_argument(
        "-r",
        "--remote",
        help="the DVC remote to pull from (default: core.remote, i.e. 'local' unless changed)",
    )
    parser.add_argument(
        "--worktree",
        type=Path,
        help="where to put the worktree (default: .dvc/tmp/reproduce/<commit> in this repository)",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="run `dvc repro` for outputs the remote lacks, without asking, and check them against the lock "
        "(without it, you are asked only when standard input is a terminal)",
    )
    parser.add_argument("-j", "--jobs", type=int, help="parallel downloads (dvc pull --jobs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    root = dvc.repository_root()
    commit = dvc.resolve_commit(args.revision, cwd=root)
    outputs = dvc.locked_outputs(committed_lock(root, commit))
    subject = dvc.git("log", "-1", "--format=%s", commit, cwd=root).stdout.strip()
    worktree = (args.worktree or root / WORKTREES_DIR / commit[:SHORT_SHA]).absolute()

    remote = chosen_remote(root, args.remote)

    log.info("commit %s: %d outputs in its dvc.lock", commit[:SHORT_SHA], len(outputs))
    reused = add_worktree(root, commit, worktree)
    share_main_configuration(root, worktree)

    before = dvc.status(worktree)
    log.info("pulling from remote '%s'", remote)
    dvc_pull(worktree, remote, args.jobs)
    log.info("verifying every output against dvc.lock (hashing the files)")
    summary = classify(outputs, before, dvc.status(worktree, rehash=True))

    if summary.missing:
        summary.missing = explain_missing(summary.missing, dvc.status(worktree, remote=remote))
        stages = stages_to_rebuild(outputs, summary.missing)
        print(format_summary(commit, subject, worktree, remote, summary, len(outputs), reused), flush=True)
        print(f"  `dvc repro` would rebuild them by running: {', '.join(stages)}", flush=True)
        if not (args.rebuild or (sys.stdin.isatty() and ask_to_rebuild(stages))):
            raise PipelineError(
                f"{len(summary.missing)} of {len(outputs)} outputs could not be pulled from remote '{remote}': "
                f"rerun with --rebuild, or `cd {worktree} && dvc repro`"
            )
        log.info("rebuilding: dvc repro (runs %s)", ", ".join(stages))
        mismatches = rebuild(worktree, outputs)
        if mismatches:
            reset_to_commit(worktree, commit)  # the commit's lock again, for the next run and for you
            raise PipelineError("the rebuild does not match the commit's dvc.lock: " + "; ".join(mismatches))
        previously_missing = set(summary.missing)
        summary = classify(outputs, before, dvc.status(worktree, rehash=True))
        if summary.missing:
            raise PipelineError(f"after the rebuild, still not as locked: {', '.join(summary.missing)}")
        summary = mark_rebuilt(summary, previously_missing)
        log.info("the rebuilt outputs match the lock")

    print(format_summary(commit, subject, worktree, remote, summary, len(outputs), reused), flush=True)
    log.info("done in %.1f s", time.perf_counter() - started)


if __name__ == "__main__":
    run_stage("reproduce", main)
