"""A version's outputs in the DVC remote: are they there, and are they the bytes the lock records?

:func:`read_from_remote` reads an output of any commit through ``dvc.api`` with an
empty, throw-away cache, so the bytes can only come from the remote: a read that
succeeds proves the object was pushed. :func:`verified_model` then compares the MD5 of
those bytes with the commit's ``dvc.lock`` before anything may load them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from src import dvc
from src.core.stage import PipelineError

SHORT_SHA = 12


def first_line(error: BaseException | str) -> str:
    """An error cut to one line for a one-sentence message: DVC's ``ERROR:`` line if it printed one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[0]
    return lines[0] if lines else type(error).__name__


def remote_name(root: Path, remote: str | None) -> str:
    """The remote a command uses: the one asked for, else the repository's default."""
    name = remote or dvc.default_remote(cwd=root)
    if not name:
        raise PipelineError("no DVC remote configured: pass --remote NAME (see `dvc remote list`)")
    return name


def read_from_remote(root: Path, commit: str, path: str, remote: str) -> bytes:
    """The bytes of ``path`` at ``commit``, downloaded from ``remote`` (never the local cache)."""
    short = commit[:SHORT_SHA]
    try:
        return dvc.read_output(path, commit, repo=root, remote=remote, remote_only=True)
    except dvc.OutputNotFound:
        raise PipelineError(
            f"{path} of commit {short} is not in remote '{remote}': it was never pushed "
            f"(push it from a clone that has it: `git checkout {short} && dvc push -r {remote}`)"
        ) from None
    except Exception as error:  # noqa: BLE001 - dvc, dvc-data, fsspec and botocore each raise their own
        raise PipelineError(
            f"cannot read {path} of commit {short} from remote '{remote}': {first_line(error)}"
        ) from None


def locked_md5(root: Path, commit: str, path: str) -> str:
    """The MD5 that ``commit``'s ``dvc.lock`` records for the output ``path``."""
    outputs = dvc.locked_outputs(dvc.read_lock(root, commit=commit))
    if path not in outputs:
        raise PipelineError(f"commit {commit[:SHORT_SHA]}'s dvc.lock records no output {path}")
    return outputs[path]["md5"]


def md5_of(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()  # DVC's content address


def verified_model(root: Path, commit: str, path: str, remote: str) -> bytes:
    """The model file of ``commit`` from the remote, refused unless its MD5 is the lock's."""
    expected = locked_md5(root, commit, path)
    content = read_from_remote(root, commit, path, remote)
    actual = md5_of(content)
    if actual != expected:
        raise PipelineError(
            f"{path} in remote '{remote}' has MD5 {actual}, not the {expected} that commit "
            f"{commit[:SHORT_SHA]}'s dvc.lock records: the remote copy is corrupt, do not use it"
        )
    return content
