"""The one adapter through which tools run dvc, git and gto and read what they answer.

Everything goes through :func:`run`: the command's output is captured as text, and a
failure (when ``check``) is a :class:`PipelineError` naming the command and showing
what it printed, so no tool has its own subprocess code. Answers are read from
machine interfaces: ``--json`` outputs and the files DVC writes (``dvc.lock``).

Where DVC has no machine output (the log lines of ``dvc repro``: which stages ran,
which came from the run-cache), the parsing lives here, next to a test that runs the
real command, so a DVC release that rewords a message fails that test loudly instead
of silently breaking a report.

Revisions given by users are resolved to a commit SHA before they reach any other
command (:func:`resolve_commit`), so a value such as ``--output=x`` or ``main;id`` is
data, never an option or shell syntax.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml

from src.core.stage import PipelineError

LOCK_FILE = "dvc.lock"

#: The lines ``dvc repro`` / ``dvc exp run`` print per stage (DVC 3.x).
STAGE_RAN = re.compile(r"^Running stage '(?P<stage>[^']+)'", re.MULTILINE)
STAGE_RESTORED = re.compile(r"^Stage '(?P<stage>[^']+)' is cached - skipping run", re.MULTILINE)


def executable(name: str) -> str:
    """The program ``name`` of this interpreter's environment, else the one on PATH.

    Tools run from ``.venv`` must use its dvc (and gto), whatever else PATH holds.
    """
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else name


def run(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    check: bool = True,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command with its output captured as text (or, ``capture=False``, shown live).

    ``dvc``, ``gto`` as the first word are this environment's. A failure, when
    ``check``, is a :class:`PipelineError` naming the command and showing its output.
    """
    command = list(args)
    if command and command[0] in ("dvc", "gto"):
        command[0] = executable(command[0])
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=capture,
        text=True,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env=None if env is None else dict(env),
    )
    if check and result.returncode != 0:
        output = "\n".join(
            part.strip() for part in (result.stderr or "", result.stdout or "") if part.strip()
        )
        shown = " ".join(args)
        raise PipelineError(f"`{shown}` exited {result.returncode}:\n{output}")
    return result


def dvc(
    *args: str, cwd: Path | str | None = None, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    return run(["dvc", *args], cwd=cwd, check=check, env=env)


def git(*args: str, cwd: Path | str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return run(["git", *args], cwd=cwd, check=check)


def dvc_json(*args: str, cwd: Path | str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """The parsed ``--json`` output of ``dvc ARGS``; an error naming the command otherwise."""
    output = dvc(*args, "--json", cwd=cwd, env=env).stdout
    try:
        return json.loads(output or "{}")
    except json.JSONDecodeError as error:
        raise PipelineError(
            f"`dvc {' '.join(args)} --json` printed something that is not JSON: {error}"
        ) from None


def status(
    cwd: Path | str | None = None, *, remote: str | None = None, rehash: bool = False
) -> dict[str, Any]:
    """``dvc status --json``: empty when ``dvc repro`` would do nothing.

    ``remote``: ``dvc status --cloud`` against that remote instead (file -> state, such
    as "deleted": in the remote, not in the local cache). ``rehash``: DVC gets an empty
    state database, so it hashes every file's bytes instead of trusting the hashes it
    recorded when it checked the files out.
    """
    args = ["status", *(["--cloud", "--remote", remote] if remote else [])]
    if not rehash:
        return dvc_json(*args, cwd=cwd)
    with tempfile.TemporaryDirectory(prefix="dvc-state-") as state_dir:
        return dvc_json(*args, cwd=cwd, env={**os.environ, "DVC_SITE_CACHE_DIR": state_dir})


def exp_show(cwd: Path | str | None = None) -> list[dict]:
    """``dvc exp show --json``: the current commit and its experiments."""
    return dvc_json("exp", "show", "--no-pager", cwd=cwd)


# --- git ----------------------------------------------------------------------------------


def resolve_commit(revision: str, cwd: Path | str | None = None) -> str:
    """The full SHA of ``revision``; a clear error for anything that is not a commit.

    A revision is data: one starting with ``-`` is refused, and the lookup passes it
    after ``--end-of-options``, so it can never act as an option of git.
    """
    if not revision or revision.startswith("-"):
        raise PipelineError(f"revision {revision!r} is not a commit, branch or tag (it reads as an option)")
    result = git(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}", cwd=cwd, check=False
    )
    if result.returncode != 0:
        raise PipelineError(
            f"unknown revision {revision!r}: no such commit, branch or tag in this repository (try `git fetch`)"
        )
    return result.stdout.strip()


def show_file(commit: str, path: str, cwd: Path | str | None = None) -> str | None:
    """The text of ``path`` at ``commit`` (a SHA from :func:`resolve_commit`); None if absent."""
    result = git("show", f"{commit}:{path}", cwd=cwd, check=False)
    return result.stdout if result.returncode == 0 else None


def repository_root(cwd: Path | str | None = None) -> Path:
    """The top of the git work tree ``cwd`` is in."""
    result = git("rev-parse", "--show-toplevel", cwd=cwd, check=False)
    if result.returncode != 0:
        raise PipelineError("not inside a git repository (run this from the project's clone)")
    return Path(result.stdout.strip())


def porcelain(untracked: bool, cwd: Path | str | None = None) -> list[str]:
    """``git status --porcelain`` lines, with or without untracked files."""
    flag = "--untracked-files=all" if untracked else "--untracked-files=no"
    return [line for line in git("status", "--porcelain", flag, cwd=cwd).stdout.splitlines() if line]


# --- dvc.lock -------------------------------------------------------------------------------


def parse_lock(text: str | None) -> dict[str, Any] | None:
    """A parsed ``dvc.lock``, or None for no text."""
    return yaml.safe_load(text) or {} if text is not None else None


def read_lock(cwd: Path | str | None = None, commit: str | None = None) -> dict[str, Any] | None:
    """``dvc.lock`` of the work tree, or of ``commit`` as git holds it; None if there is none."""
    if commit is not None:
        return parse_lock(show_file(commit, LOCK_FILE, cwd=cwd))
    path = Path(cwd or ".") / LOCK_FILE
    return parse_lock(path.read_text(encoding="utf-8")) if path.is_file() else None


def locked_outputs(lock: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every output a parsed ``dvc.lock`` records: path -> its entry (md5, size, stage...)."""
    outputs: dict[str, dict[str, Any]] = {}
    for stage, entry in ((lock or {}).get("stages") or {}).items():
        for out in entry.get("outs") or []:
            outputs[out["path"]] = {**out, "stage": stage}
    return outputs


# --- what dvc repro prints ------------------------------------------------------------------


def stages_ran(log_text: str) -> list[str]:
    """Stages that ``dvc repro`` / ``dvc exp run`` ran (not restored, not skipped), in order."""
    return [match["stage"] for match in STAGE_RAN.finditer(log_text)]


def stages_restored(log_text: str) -> list[str]:
    """Stages restored from the run-cache instead of run, in order."""
    return [match["stage"] for match in STAGE_RESTORED.finditer(log_text)]


# --- DVC's nested JSON ----------------------------------------------------------------------


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"model": "x"}}`` -> ``{"train.model": "x"}``, as DVC names params and metrics.

    Lists are values, not branches. The one flattener of nested params and metrics.
    """
    if not isinstance(tree, Mapping):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def is_number(value: Any) -> bool:
    """A metric value: an int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- experiments ----------------------------------------------------------------------------


def start_dvc(*args: str, log: Path, cwd: Path | str | None = None) -> subprocess.Popen:
    """Start ``dvc ARGS`` without waiting, its stdout and stderr going to the file ``log``.

    A file rather than a pipe: nobody has to read it for the command to go on, and it
    stays as the run's log. The command gets a session of its own, so a Ctrl-C at the
    terminal reaches the caller only, which stops it with :func:`interrupt` when it sees fit.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    # Unbuffered: the log shows each line when it happens (a stage starting, not only the
    # whole output when the command ends), for `tail -f` and for callers that watch it.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf-8") as output:
        return subprocess.Popen(
            [executable("dvc"), *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def interrupt(process: subprocess.Popen, grace_seconds: float = 60.0) -> int:
    """Stop a command from :func:`start_dvc` as Ctrl-C would, and wait for it; its exit status.

    SIGINT to its process group (DVC and the stage it runs) lets DVC clean up after
    itself; a group still running after ``grace_seconds`` is killed.
    """
    import signal  # here, not at the top: this section is the experiments' own

    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGINT)
            return process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.wait()


# --- registry (gto) ---------------------------------------------------------------------------


def gto(*args: str, cwd: Path | str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return run(["gto", *args], cwd=cwd, check=check)


def gto_json(*args: str, cwd: Path | str | None = None) -> Any:
    """The parsed ``--json`` output of ``gto ARGS``; None when it printed nothing (an unknown tag)."""
    output = gto(*args, "--json", cwd=cwd).stdout
    try:
        return json.loads(output) if output.strip() else None
    except json.JSONDecodeError as error:
        raise PipelineError(
            f"`gto {' '.join(args)} --json` printed something that is not JSON: {error}"
        ) from None


def tags(*patterns: str, cwd: Path | str | None = None) -> list[str]:
    """Names of the tags matching ``git tag --list`` patterns (``name@*``), sorted by git."""
    return git("tag", "--list", *patterns, cwd=cwd).stdout.split()


def default_remote(cwd: Path | str | None = None) -> str | None:
    """The default DVC remote's name (``core.remote``), or None when there is none."""
    result = dvc("remote", "default", cwd=cwd, check=False)
    return (result.stdout.strip() or None) if result.returncode == 0 else None


# --- DVC's Python API -------------------------------------------------------------------------


class OutputNotFound(Exception):
    """The path is not a DVC output of that revision, or its object is in neither cache nor remote."""


def read_output(
    path: str,
    rev: str | None,
    repo: Path | str = ".",
    remote: str | None = None,
    remote_only: bool = False,
) -> bytes:
    """The bytes of ``path`` at ``rev`` (a commit SHA; None: the default branch) of ``repo`` (a
    path or a git URL), through ``dvc.api.open``: a DVC output or a file git tracks.

    From the cache, else the remote; with ``remote_only``, through an empty throw-away
    cache, so a read that succeeds proves the object is in the remote. Raises
    :class:`OutputNotFound` when it is missing; any other failure (remote down, no
    credentials) as DVC, dvc-data, fsspec or botocore raised it.
    """
    from dvc.exceptions import PathMissingError  # DVC loads in about a second: only when used

    from dvc import api

    # Only a remote-only read needs the throw-away cache directory.
    scratch = tempfile.TemporaryDirectory(prefix="dvc-empty-cache-") if remote_only else nullcontext()
    with scratch as empty_cache:
        config = {"cache": {"dir": empty_cache}} if remote_only else None
        try:
            with api.open(path, repo=str(repo), rev=rev, remote=remote, mode="rb", config=config) as stream:
                return stream.read()
        except (FileNotFoundError, PathMissingError) as error:
            raise OutputNotFound(str(error) or path) from None


# --- serving ----------------------------------------------------------------------------------


def start_module(
    module: str, *args: str, log: Path, cwd: Path | str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """Start ``python -m MODULE ARGS`` with this interpreter, without waiting (the HTTP service).

    Like :func:`start_dvc`: output to the file ``log``, a session of its own, stopped with
    :func:`interrupt` (uvicorn shuts down cleanly on SIGINT).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as output:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )


# --- params.yaml ------------------------------------------------------------------------------


def apply_params(path: Path | str, overrides: Sequence[str]) -> None:
    """Set ``key=value`` overrides in a params file the way ``dvc exp run -S`` does.

    DVC's own writer keeps the file in its style (block lists, quoted dates, comments), so
    only the lines whose values change are rewritten (tests/test_params_style.py).
    """
    from dvc.utils.hydra import apply_overrides  # DVC loads in about a second: only when used

    apply_overrides(str(path), list(overrides))
