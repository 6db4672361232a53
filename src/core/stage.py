"""What every entry point shares: logging and user-facing errors.

A ``main()`` raises :class:`PipelineError` for anything the user can fix (bad
parameters, bad input data, a missing revision); :func:`run_stage` turns it into one
clear message on stderr and exit status 1, so no traceback reaches the user.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

log = logging.getLogger("pipeline")


class PipelineError(Exception):
    """An error caused by input the user controls; reported without a traceback."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's or tool's ``main`` with the project's logging and error reporting."""
    logging.basicConfig(
        level=os.environ.get("PIPELINE_LOG_LEVEL", "INFO"),
        format=f"[{name}] %(message)s",
        stream=sys.stderr,
    )
    try:
        main()
    except PipelineError as error:
        log.error("error: %s", error)
        if hint := restore_hint(os.environ.get("DVC_STAGE"), os.environ.get("DVC_ROOT")):
            log.error("%s", hint)
        sys.exit(1)


def restore_hint(stage: str | None, root: str | None) -> str | None:
    """What a failed stage lost and how to get it back, when DVC ran it.

    DVC deletes a stage's outputs before running its command (``DVC_STAGE`` and
    ``DVC_ROOT`` are set in the command's environment), so a failure leaves them gone
    until the stage succeeds or they are restored: the cached ones by ``dvc checkout``,
    the ``cache: false`` ones (metrics files git tracks) by git.
    """
    if not stage or not root:
        return None
    outputs = stage_outputs(Path(root) / "dvc.yaml", stage)
    if not outputs:
        return None
    in_git = [path for path, cached in outputs if not cached]
    restore = f"dvc checkout {stage}" + (f" && git checkout -- {' '.join(in_git)}" if in_git else "")
    return (
        f"DVC removed the outputs of {stage} ({', '.join(path for path, _ in outputs)}) before running it: "
        f"`{restore}` puts back the last recorded ones; fix the cause above and `dvc repro` rebuilds them"
    )


def stage_outputs(dvc_yaml: Path, stage: str) -> list[tuple[str, bool]]:
    """The paths a stage of ``dvc.yaml`` declares as outs, metrics and plots, and whether DVC caches each."""
    try:
        stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")).get("stages", {})
        entry = stages[stage]
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return []
    found: dict[str, bool] = {}
    for kind in ("outs", "metrics", "plots"):
        for item in entry.get(kind) or []:
            path, options = next(iter(item.items())) if isinstance(item, dict) else (item, None)
            if isinstance(path, str):
                found.setdefault(path, (options or {}).get("cache", True) is not False)
    return list(found.items())
