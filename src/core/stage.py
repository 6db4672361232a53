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
        sys.exit(1)
