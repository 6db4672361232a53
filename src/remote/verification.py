"""Where each output of a commit came from, and whether it matches the commit's ``dvc.lock`` (pure).

:mod:`src.remote.reproduce` asks DVC (``dvc status --json`` before and after the pull,
``dvc status --cloud --json``, the parsed locks); these functions sort the outputs
into fetched, from the local cache, in place, rebuilt and missing (with why), and
write the summary it prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHORT_SHA = 12

# `dvc status --json` (workspace): an output whose object is not in the local cache.
NOT_IN_CACHE = "not in cache"
# `dvc status --cloud --json`: an object the remote has and the local cache lacks.
ONLY_IN_REMOTE = "deleted"

NOT_IN_REMOTE = "not in the remote"
FAILED_VERIFICATION = "corrupt in the remote: failed verification"
CORRUPT_IN_CACHE = "corrupt object in the local cache"


#: Output path -> its ``dvc.lock`` entry (``md5``, ``stage``...), in pipeline order:
#: :func:`src.dvc.locked_outputs`.
Outputs = Mapping[str, Mapping[str, Any]]


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


def classify(outputs: Outputs, before: Mapping[str, Any], after: Mapping[str, Any]) -> Summary:
    """Sort outputs by where they came from, given ``dvc status --json`` before and after the pull."""
    changed_before, changed_after = changed_outputs(before), changed_outputs(after)
    summary = Summary(stale_deps=changed_deps(after, set(outputs)))
    for path in outputs:
        if path in changed_after:
            summary.missing[path] = changed_after[path]
        elif changed_before.get(path) == NOT_IN_CACHE:
            summary.fetched.append(path)
        elif path in changed_before:
            summary.from_cache.append(path)
        else:
            summary.in_place.append(path)
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


def stages_to_rebuild(outputs: Outputs, missing: Mapping[str, str]) -> list[str]:
    """The stages whose outputs are missing, in pipeline order, without repeats."""
    return list(dict.fromkeys(entry["stage"] for path, entry in outputs.items() if path in missing))


def lock_mismatches(expected: Outputs, rebuilt: Outputs) -> list[str]:
    """One line per output whose rebuilt hash differs from (or is absent in) the original lock."""
    mismatches = []
    for path, entry in expected.items():
        after = rebuilt.get(path, {}).get("md5")
        if after != entry.get("md5"):
            mismatches.append(f"{path}: locked {entry.get('md5')}, rebuilt {after or 'nothing'}")
    return mismatches


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
