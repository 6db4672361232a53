"""What a fan-out reads and writes in the shared remotes: experiment refs in git, the DVC remote.

Each function asks one question of the git remote or the DVC remote, through the
adapter, and turns a refusal into one sentence naming the remote and what to check.
"""

from __future__ import annotations

import logging
import subprocess

from src import dvc
from src.core.stage import PipelineError

log = logging.getLogger("pipeline")


def remote_experiments(git_remote: str, baseline: str) -> list[str]:
    """Names of the experiments of ``baseline`` that the git remote already has."""
    result = dvc.dvc("exp", "list", git_remote, "--rev", baseline, "--name-only", check=False)
    if result.returncode != 0:
        raise PipelineError(
            f"cannot list the experiments in git remote {git_remote!r}: {last_line(result)}; "
            "check its name or URL and that this clone may read it"
        )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def last_line(result: subprocess.CompletedProcess | str) -> str:
    """The reason a command gave: its last ``ERROR:`` line (DVC ends with a support notice), else its last line."""
    text = result if isinstance(result, str) else (result.stderr or "") + (result.stdout or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["no message"])[-1]


def check_remote() -> str:
    """The default DVC remote's name, after checking this runner can read it.

    ``dvc status --cloud`` lists the baseline's outputs against the remote: it fails at
    once without credentials or with a wrong URL, before any experiment starts.
    """
    remote = dvc.default_remote()
    if remote is None:
        raise PipelineError(
            "no default DVC remote: a runner restores and pushes through one (dvc remote default)"
        )
    try:
        states = dvc.status(remote=remote)
    except PipelineError as error:
        reason = last_line(str(error))
        raise PipelineError(
            f"the DVC remote {remote!r} cannot be read from this runner: {reason}; "
            "check its credentials, URL and endpoint (dvc remote list)"
        ) from None
    missing = sorted(path for path, state in states.items() if state in ("missing", "new"))
    if missing:
        log.warning("not in the remote %r, so rebuilt here if needed: %s", remote, ", ".join(missing))
    return remote


def experiment_ref(baseline: str, name: str) -> str:
    """The git ref DVC keeps experiment ``name`` of commit ``baseline`` under."""
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def remote_commit(git_remote: str, ref: str) -> str | None:
    """The commit ``ref`` points at in the git remote, or None when it has no such ref."""
    result = dvc.git("ls-remote", "--end-of-options", git_remote, ref, check=False)
    if result.returncode != 0:
        raise PipelineError(f"cannot read git remote {git_remote!r}: {last_line(result)}")
    found = result.stdout.split()
    return found[0] if found else None


def push_one(git_remote: str, baseline: str, name: str) -> str | None:
    """Push one experiment; why it is not in the git remote afterwards, or None when it is.

    ``dvc exp push`` exits 0 when it declines to replace a remote experiment of the same
    name ("diverged"), so the remote's ref is read before and after: an experiment is
    pushed when the remote holds exactly this runner's commit.
    """
    ref = experiment_ref(baseline, name)
    mine = dvc.git("rev-parse", "--verify", ref).stdout.strip()
    theirs = remote_commit(git_remote, ref)
    if theirs is not None and theirs != mine:
        return (
            f"the git remote already has an experiment {name} of this commit ({theirs[:7]}, from another "
            "runner or an earlier run of this plan): not replaced; run `expand` again for fresh names"
        )
    # Also when the remote has it already: a push cut short after git may lack its outputs.
    result = dvc.dvc("exp", "push", "--run-cache", git_remote, name, check=False)
    if result.returncode != 0:
        return f"`dvc exp push {git_remote} {name}` failed: {last_line(result)}"
    if remote_commit(git_remote, ref) != mine:
        return f"the git remote did not take it: {last_line(result)}"
    return None
