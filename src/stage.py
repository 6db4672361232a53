"""What every stage entry point shares: logging, user-facing errors, atomic writes.

A stage's ``main()`` raises :class:`PipelineError` for anything the user can fix
(bad parameters, bad input data); :func:`run_stage` turns it into one clear message
on stderr and exit status 1, so no traceback reaches the user. Outputs are written
to a temporary sibling and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("pipeline")


class PipelineError(Exception):
    """An error caused by input the user controls; reported without a traceback."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main`` with the project's logging and error reporting."""
    logging.basicConfig(
        level=os.environ.get("PIPELINE_LOG_LEVEL", "INFO"),
        format=f"[{name}] %(message)s",
        stream=sys.stderr,
    )
    try:
        main()
    except PipelineError as error:
        log.error("error: %s", error)
        sys.exit(1)


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
