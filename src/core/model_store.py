"""Saving the fitted model, and loading it only once its bytes are the recorded ones.

The model is a pickle (protocol fixed), because the same environment, seed and thread
count give the same bytes, which ``dvc.lock`` can then pin (a skops archive changes on
every save). Unpickling runs code, so :func:`load_verified_model` first checks the
file's MD5 against the hash ``dvc.lock`` records for it, the same hash ``dvc pull``
and ``dvc repro`` wrote. A file tampered with in the remote or the workspace is
refused, not loaded.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import yaml
from sklearn.pipeline import Pipeline

from src.core.files import atomic_path
from src.core.stage import PipelineError

PICKLE_PROTOCOL = 5
LOCK_FILE = Path("dvc.lock")


def save_model(model: Pipeline, path: Path) -> None:
    """Pickle ``model`` to ``path`` atomically, with a fixed protocol."""
    with atomic_path(Path(path)) as staged:
        staged.write_bytes(pickle.dumps(model, protocol=PICKLE_PROTOCOL))


def file_md5(path: Path) -> str:
    """MD5 of the file's bytes, as DVC 3 records it for a file output."""
    digest = hashlib.md5(usedforsecurity=False)  # DVC's content address, not a signature
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locked_md5(path: Path, lock_file: Path = LOCK_FILE) -> str:
    """The MD5 that ``lock_file`` records for the output ``path``."""
    if not lock_file.is_file():
        raise PipelineError(f"{lock_file}: not found, so {path} cannot be verified (run `dvc repro`)")
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
    wanted = Path(path).resolve()
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            # dvc.lock paths are relative to the directory that holds it.
            if (lock_file.parent / out["path"]).resolve() == wanted:
                return out["md5"]
    raise PipelineError(f"{lock_file}: records no output {path}, so it cannot be verified")


def load_verified_model(path: Path, lock_file: Path = LOCK_FILE) -> Pipeline:
    """Unpickle the model at ``path`` only if its MD5 equals the one in ``lock_file``."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: model file not found (run `dvc pull` or `dvc repro`)")
    expected, actual = locked_md5(path, lock_file), file_md5(path)
    if actual != expected:
        raise PipelineError(
            f"{path}: MD5 {actual} differs from {expected} recorded in {lock_file}; "
            "refusing to unpickle it (restore it with `dvc checkout` or `dvc pull`)"
        )
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - verified against dvc.lock above
