"""Writing outputs so that a crash never leaves half a file, and the bytes never vary.

Outputs are written to a temporary sibling and renamed into place. JSON has sorted
keys and a fixed indent; PNGs carry no matplotlib version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from src.core.stage import PipelineError


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` on success.

    Works for files and directories: the caller writes to the yielded path, and only a
    body that finishes without an exception replaces ``target``. The old output stays
    until the new one is in place: a file is swapped in with one ``os.replace``; an old
    directory is renamed aside, the new one renamed in, and only then the old deleted.
    Never replaces a directory with a file or a file with a directory (a wrong ``--out``
    would otherwise delete a whole folder), and never writes through a symlink.
    """
    target = Path(target)
    refuse_symlink(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staged = scratch / target.name
    try:
        yield staged
        refuse_symlink(target)
        if staged.is_dir() and not staged.is_symlink():
            replace_directory(staged, target, aside=scratch / ".previous")
        else:
            if target.is_dir():
                raise PipelineError(
                    f"{target}: is a directory, but a file belongs there; nothing was replaced"
                )
            os.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def refuse_symlink(target: Path) -> None:
    if target.is_symlink():
        raise PipelineError(f"{target}: is a symlink; refusing to write an output through it")


def replace_directory(staged: Path, target: Path, aside: Path) -> None:
    """Put the directory ``staged`` at ``target``, keeping any old one until the new one is in."""
    if target.exists() and not target.is_dir():
        raise PipelineError(f"{target}: is a file, but a directory belongs there; nothing was replaced")
    if not target.exists():
        os.replace(staged, target)
        return
    os.replace(target, aside)
    try:
        os.replace(staged, target)
    except OSError:
        os.replace(aside, target)  # put the old output back rather than leave none
        raise
    # `aside` is inside the scratch directory: the caller's cleanup deletes it.


def write_png(figure: Any, path: Path, dpi: int = 100) -> None:
    """Write a matplotlib figure as PNG, atomically, and close it.

    Without matplotlib's version string (its only varying metadata), so the bytes
    depend on the picture alone.
    """
    import matplotlib.pyplot as plt  # here, so stages without pictures never load it

    with atomic_path(Path(path)) as staged:
        figure.savefig(staged, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)


def dump_json(data: Any) -> str:
    """Serialise ``data`` the same way every time: sorted keys, fixed indent."""
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as deterministic JSON, atomically."""
    with atomic_path(Path(path)) as staged:
        staged.write_text(dump_json(data), encoding="utf-8")
