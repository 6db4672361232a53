"""The whole of ``params.yaml``, typed: the stages' sections and the tools' sections.

Stages validate only their own sections (``src/core/params.py``), so that editing a
tool's section re-runs no stage. This module adds the tools' sections and forbids any
other top-level key, so a typo anywhere in the file is caught: by every tool when it
starts, by ``make repro`` before DVC runs a stage (``python -m src.params``), and by
the sweep for each configuration before anything is queued.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pydantic import ConfigDict

from src.core.params import PARAMS_FILE, StageParams, parse_with, read_params_file
from src.core.stage import run_stage
from src.experiments.selection import SelectParams
from src.monitoring.decision import MonitorParams
from src.monitoring.replay_settings import ReplayParams
from src.review.assessment import GateParams
from src.serving.settings import ScoreParams, ServeParams

log = logging.getLogger("pipeline")


class Params(StageParams):
    """Every section of ``params.yaml``; an unknown top-level key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    select: SelectParams = SelectParams()
    gate: GateParams = GateParams()
    score: ScoreParams = ScoreParams()
    serve: ServeParams = ServeParams()
    monitor: MonitorParams = MonitorParams()
    replay: ReplayParams = ReplayParams()


def parse_params(raw: object, origin: str = str(PARAMS_FILE)) -> Params:
    """Validate a parsed ``params.yaml`` mapping; raise ``PipelineError`` naming the key."""
    return parse_with(Params, raw, origin)


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate the whole of ``params.yaml``."""
    return parse_params(read_params_file(path), str(Path(path)))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.params",
        description="Check every section of params.yaml (what `make repro` does before `dvc repro`, "
        "so a typo fails before DVC removes any output).",
    )
    parser.add_argument("path", nargs="?", type=Path, default=PARAMS_FILE, help="default: params.yaml")
    args = parser.parse_args()
    load_params(args.path)
    log.info("%s: every section is valid", args.path)


if __name__ == "__main__":
    run_stage("params", main)
