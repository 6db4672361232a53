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


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` on success.

    Works for files and directories: the caller writes to the yielded path, and
    only a body that finishes without an exception replaces ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staged = scratch / target.name
    try:
        yield staged
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
