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
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from src.core.stage import PipelineError, run_stage

log = logging.getLogger("pipeline")

WORKTREES_DIR = Path(".dvc") / "tmp" / "reproduce"
SHORT_SHA = 12

# `dvc status --json` (workspace): an output whose object is not in the local cache.
NOT_IN_CACHE = "not in cache"
# `dvc status --cloud --json`: an object the remote has and the local cache lacks.
ONLY_IN_REMOTE = "deleted"

NOT_IN_REMOTE = "not in the remote"
FAILED_VERIFICATION = "corrupt in the remote: failed verification"
CORRUPT_IN_CACHE = "corrupt object in the local cache"


@dataclass(frozen=True)
class LockedOutput:
    """An output recorded in ``dvc.lock``: the stage that writes it, its path and hash."""

    stage: str
    path: str
    md5: str


@dataclass
class Summary:
    """Which outputs came from where, and which could not be restored (path -> why)."""

    fetched: list[str] = field(default_factory=list)
    from_cache: list[str] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    stale_deps: dict[str, list[str]] = field(default_factory=dict)

    @property
    def verified(self) -> list[str]:
        return self.fetched + self.from_cache + self.in_place + self.rebuilt


# ---------------------------------------------------------------------------------
# Pure logic: reading locks and `dvc status --json`, classifying, reporting.


def locked_outputs(lock: Mapping[str, Any]) -> list[LockedOutput]:
    """Every output of a parsed ``dvc.lock``, in stage order."""
    return [
        LockedOutput(stage=stage, path=out["path"], md5=str(out.get("md5", "")))
        for stage, entry in (lock.get("stages") or {}).items()
        for out in entry.get("outs") or []
    ]


def _status_entries(status: Mapping[str, Any]) -> list[tuple[str, dict]]:
    """(stage, entry) pairs of ``dvc status --json``; a stage's entries may also be plain strings."""
    return [
        (stage, entry)
        for stage, entries in status.items()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]


def changed_outputs(status: Mapping[str, Any]) -> dict[str, str]:
    """Output path -> what is wrong with it ("deleted", "modified", "not in cache").

    An output that ``dvc status --json`` does not list matches the lock.
    """
    return {
        path: str(state)
        for _, entry in _status_entries(status)
        for path, state in (entry.get("changed outs") or {}).items()
    }


def changed_deps(status: Mapping[str, Any], output_paths: set[str]) -> dict[str, list[str]]:
    """Stage -> dependencies that differ from the lock and are no stage's output.

    A missing upstream output shows up as a changed dependency of every stage below
    it; only the other ones (code, params, data in git) mean the lock is stale.
    """
    stale: dict[str, list[str]] = {}
    for stage, entry in _status_entries(status):
        deps = [path for path in entry.get("changed deps") or {} if path not in output_paths]
        if deps:
            stale.setdefault(stage, []).extend(deps)
    return stale


def classify(outputs: list[LockedOutput], before: Mapping[str, Any], after: Mapping[str, Any]) -> Summary:
    """Sort outputs by where they came from, given ``dvc status --json`` before and after the pull."""
    changed_before, changed_after = changed_outputs(before), changed_outputs(after)
    summary = Summary(stale_deps=changed_deps(after, {out.path for out in outputs}))
    for out in outputs:
        if out.path in changed_after:
            summary.missing[out.path] = changed_after[out.path]
        elif changed_before.get(out.path) == NOT_IN_CACHE:
            summary.fetched.append(out.path)
        elif out.path in changed_before:
            summary.from_cache.append(out.path)
        else:
            summary.in_place.append(out.path)
    return summary


def explain_missing(missing: Mapping[str, str], cloud_status: Mapping[str, str]) -> dict[str, str]:
    """Why each missing output could not be pulled, from ``dvc status --cloud --json``.

    ``missing`` holds what ``dvc status`` said after the pull. "modified" means DVC
    checked the output out, from a local cache object whose bytes are wrong. Else, an
    object the remote still lists but the cache lacks is one that failed DVC's
    verification on download; anything else is absent from the remote. Cloud entries
    are per file: a directory output counts as corrupt if any file in it is.
    """
    reasons = {}
    for path, state in missing.items():
        if state == "modified":
            reasons[path] = CORRUPT_IN_CACHE
            continue
        inside = [
            state
            for name, state in cloud_status.items()
            if name == path or name.startswith(path.rstrip("/") + "/")
        ]
        reasons[path] = FAILED_VERIFICATION if ONLY_IN_REMOTE in inside else NOT_IN_REMOTE
    return reasons


def mark_rebuilt(summary: Summary, rebuilt: set[str]) -> Summary:
    """The same summary with the ``rebuilt`` paths moved out of the other categories."""
    return Summary(
        fetched=[path for path in summary.fetched if path not in rebuilt],
        from_cache=[path for path in summary.from_cache if path not in rebuilt],
        in_place=[path for path in summary.in_place if path not in rebuilt],
        rebuilt=[path for path in summary.verified if path in rebuilt],
        missing=dict(summary.missing),
        stale_deps=dict(summary.stale_deps),
    )


def stages_to_rebuild(outputs: list[LockedOutput], missing: Mapping[str, str]) -> list[str]:
    """The stages whose outputs are missing, in pipeline order, without repeats."""
    return list(dict.fromkeys(out.stage for out in outputs if out.path in missing))


def lock_mismatches(expected: list[LockedOutput], rebuilt: list[LockedOutput]) -> list[str]:
    """One line per output whose rebuilt hash differs from (or is absent in) the original lock."""
    rebuilt_by_path = {out.path: out.md5 for out in rebuilt}
    return [
        f"{out.path}: locked {out.md5}, rebuilt {rebuilt_by_path.get(out.path) or 'nothing'}"
        for out in expected
        if rebuilt_by_path.get(out.path) != out.md5
    ]


def _listing(paths: list[str], limit: int = 6) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def format_summary(
    commit: str,
    subject: str,
    worktree: Path,
    remote: str,
    summary: Summary,
    total: int,
    reused: bool = False,
) -> str:
    """The short report printed at the end of a run: one line per category, counts aligned.

    In a new worktree the outputs in place before the pull are the ones git checked
    out (``cache: false``); in a reused worktree they may also be from an earlier run.
    """
    missing = [f"{path} ({why})" for path, why in summary.missing.items()]
    rows = [
        (f"fetched from '{remote}'", summary.fetched),
        ("from the local cache", summary.from_cache),
        ("already in the worktree" if reused else "in git (cache: false)", summary.in_place),
    ]
    if summary.rebuilt:
        rows.append(("rebuilt by dvc repro", summary.rebuilt))
    rows.append(("missing from the remote", missing))
    width = max(len(label) for label, _ in rows + [("verified against dvc.lock", [])])
    lines = [f"commit {commit[:SHORT_SHA]}  {subject}", f"  {'worktree':<{width}}      {worktree}"]
    lines += [f"  {label:<{width}}  {len(paths):>3}  {_listing(paths)}".rstrip() for label, paths in rows]
    lines.append(
        f"  {'verified against dvc.lock':<{width}}  {len(summary.verified):>3}"
        f"  of {total} outputs, hashes recomputed from the files"
    )
    for stage, deps in summary.stale_deps.items():
        lines.append(
            f"  warning: stage '{stage}' no longer matches its lock at this commit: {', '.join(deps)}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------
# Commands: git, dvc, and the worktree's configuration.


def dvc_executable() -> str:
    """The dvc installed beside this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dvc")
    return str(beside) if beside.exists() else "dvc"


def git_output(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def repository_root() -> Path:
    found = git_output(Path.cwd(), "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise PipelineError("not inside a git repository: run this from the project's directory")
    return Path(found.stdout.strip())


def resolve_commit(root: Path, revision: str) -> str:
    """The full hash of ``revision``; a one-line error when it names no commit."""
    found = git_output(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if revision.startswith("-") or found.returncode != 0:
        raise PipelineError(
            f"unknown revision '{revision}': no such commit, branch or tag in this repository"
        )
    return found.stdout.strip()


def read_committed_file(root: Path, commit: str, path: str) -> str | None:
    shown = git_output(root, "show", f"{commit}:{path}")
    return shown.stdout if shown.returncode == 0 else None


def committed_lock(root: Path, commit: str) -> dict[str, Any]:
    """The commit's parsed ``dvc.lock``; a one-line error when the commit has no pipeline."""
    short = commit[:SHORT_SHA]
    if read_committed_file(root, commit, "dvc.yaml") is None:
        raise PipelineError(
            f"commit {short} predates the pipeline: it has no dvc.yaml, so no outputs to fetch"
        )
    lock_text = read_committed_file(root, commit, "dvc.lock")
    if lock_text is None:
        raise PipelineError(
            f"commit {short} predates the pipeline's first run: it has a dvc.yaml but no dvc.lock, "
            "so no outputs were recorded or pushed"
        )
    return yaml.safe_load(lock_text) or {}


def add_worktree(root: Path, commit: str, path: Path) -> bool:
    """A detached worktree of ``commit`` at ``path``; True when an existing one is reused."""
    if path.exists():
        head = git_output(path, "rev-parse", "HEAD")
        if head.returncode == 0 and head.stdout.strip() == commit:
            log.info("reusing the worktree %s", path)
            return True
        raise PipelineError(f"{path} exists and is not a worktree of {commit[:SHORT_SHA]}: remove it first")
    log.info("creating a worktree at %s", path)
    git_output(root, "worktree", "prune")  # forget worktrees whose directory was deleted by hand
    added = git_output(root, "worktree", "add", "--detach", str(path), commit)
    if added.returncode != 0:
        raise PipelineError(f"git worktree add failed: {added.stderr.strip()}")
    return False


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


def dvc_json(worktree: Path, *args: str, fresh_hashes: bool = False) -> dict[str, Any]:
    """The parsed output of a ``dvc ... --json`` command run in the worktree.

    With ``fresh_hashes`` DVC gets an empty state database, so it hashes every file's
    bytes instead of trusting the hashes it recorded when it checked them out.
    """
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="dvc-state-") as state_dir:
        if fresh_hashes:
            env["DVC_SITE_CACHE_DIR"] = state_dir
        result = subprocess.run(
            [dvc_executable(), *args, "--json"], cwd=worktree, env=env, stdout=subprocess.PIPE, text=True
        )
    if result.returncode != 0:
        raise PipelineError(f"dvc {' '.join(args)} failed in {worktree} (exit {result.returncode})")
    return json.loads(result.stdout or "{}")


def dvc_pull(worktree: Path, remote: str, jobs: int | None) -> None:
    """Pull the commit's outputs; DVC's own progress and messages go straight to the terminal.

    ``--allow-missing``: objects the remote lacks are reported, and the rest still
    checked out, instead of stopping the whole pull.
    """
    args = [dvc_executable(), "pull", "--allow-missing", "--remote", remote]
    args += ["--jobs", str(jobs)] if jobs else []
    result = subprocess.run(args, cwd=worktree)
    if result.returncode != 0:
        raise PipelineError(
            f"dvc pull from remote '{remote}' failed (exit {result.returncode}): see DVC's message above; "
            f"check the remote's URL, endpoint and credentials with `dvc remote list` and docs/remote-storage.md"
        )


def ask_to_rebuild(stages: list[str]) -> bool:
    answer = input(f"Rebuild {', '.join(stages)} with `dvc repro` in the worktree? [y/N] ")
    return answer.strip().lower() in {"y", "yes"}


def rebuild(worktree: Path, outputs: list[LockedOutput]) -> list[str]:
    """Run ``dvc repro`` in the worktree; the outputs whose hashes then differ from the lock."""
    result = subprocess.run([dvc_executable(), "repro"], cwd=worktree)
    if result.returncode != 0:
        raise PipelineError(f"dvc repro failed in {worktree} (exit {result.returncode})")
    rebuilt = yaml.safe_load((worktree / "dvc.lock").read_text()) or {}
    return lock_mismatches(outputs, locked_outputs(rebuilt))


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
    root = repository_root()
    commit = resolve_commit(root, args.revision)
    outputs = locked_outputs(committed_lock(root, commit))
    subject = git_output(root, "log", "-1", "--format=%s", commit).stdout.strip()
    worktree = (args.worktree or root / WORKTREES_DIR / commit[:SHORT_SHA]).absolute()

    remote = chosen_remote(root, args.remote)

    log.info("commit %s: %d outputs in its dvc.lock", commit[:SHORT_SHA], len(outputs))
    reused = add_worktree(root, commit, worktree)
    share_main_configuration(root, worktree)

    before = dvc_json(worktree, "status")
    log.info("pulling from remote '%s'", remote)
    dvc_pull(worktree, remote, args.jobs)
    log.info("verifying every output against dvc.lock (hashing the files)")
    summary = classify(outputs, before, dvc_json(worktree, "status", fresh_hashes=True))

    if summary.missing:
        summary.missing = explain_missing(
            summary.missing, dvc_json(worktree, "status", "--cloud", "--remote", remote)
        )
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
            raise PipelineError("the rebuild does not match the commit's dvc.lock: " + "; ".join(mismatches))
        previously_missing = set(summary.missing)
        summary = classify(outputs, before, dvc_json(worktree, "status", fresh_hashes=True))
        if summary.missing:
            raise PipelineError(f"after the rebuild, still not as locked: {', '.join(summary.missing)}")
        summary = mark_rebuilt(summary, previously_missing)
        log.info("the rebuilt outputs match the lock")

    print(format_summary(commit, subject, worktree, remote, summary, len(outputs), reused), flush=True)
    log.info("done in %.1f s", time.perf_counter() - started)


if __name__ == "__main__":
    run_stage("reproduce", main)
