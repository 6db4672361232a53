"""Push the outputs that DVC's run-cache records name, so other clones can restore those runs.

``dvc push --run-cache`` (DVC 3) uploads only the run records (``.dvc/cache/runs``). A
record restores a stage on another machine only when every output it names can be
pulled too, and DVC pushes just the outputs that a pushed ``dvc.lock`` names as cached:
never the ``cache: false`` ones (metrics and plots, kept in git, which the run-cache
copies into the local cache for this purpose), nor the outputs of runs that no pushed
commit locks. Without them ``dvc repro`` in a fresh clone retrains even though the
team's run-cache knows the result. ``python -m src.remote.run_cache`` (part of ``make push``)
sends those objects, with DVC's own transfer code.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from src.core.stage import PipelineError, run_stage

log = logging.getLogger("pipeline")


def run_records(runs_dir: Path) -> list[tuple[str, str]]:
    """(stage key, run value) of every record under ``.dvc/cache/runs/<xx>/<key>/<value>``."""
    if not runs_dir.is_dir():
        return []
    return sorted((path.parent.name, path.name) for path in runs_dir.glob("*/*/*") if path.is_file())


def push_run_outputs(project: Path, remote: str | None, jobs: int | None) -> tuple[int, int, int]:
    """Push every object the local run records name; (records, objects pushed, objects failed)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        records = run_records(Path(repo.stage_cache.cache_dir))
        objects, incomplete = set(), 0
        for record in records:
            # A record pulled from the remote may name outputs this clone never
            # downloaded (`dvc repro --pull --allow-missing` skips unchanged stages):
            # those are in the remote already, or not ours to send.
            try:
                used = repo.stage_cache.get_used_objs([record])
            except (OSError, DvcException):
                incomplete += 1
                continue
            objects.update(*used.values())
        log.info(
            "%d run records name %d objects (%d records skipped: outputs not in the local cache)",
            len(records),
            len(objects),
            incomplete,
        )
        if not objects:
            return len(records), 0, 0
        try:
            result = repo.cloud.push(objects, jobs=jobs, remote=remote)
        except DvcException as error:
            raise PipelineError(f"pushing run-cache outputs failed: {error}") from error
    return len(records), len(result.transferred), len(result.failed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.remote.run_cache",
        description=(
            "Push the outputs named by the local run-cache records (after `dvc push --run-cache`, "
            "which sends only the records), so that `dvc repro --pull` in another clone restores "
            "those runs instead of re-running them."
        ),
    )
    parser.add_argument("-r", "--remote", help="the DVC remote (default: core.remote)")
    parser.add_argument("-j", "--jobs", type=int, help="parallel uploads")
    args = parser.parse_args(argv)
    records, pushed, failed = push_run_outputs(Path.cwd(), args.remote, args.jobs)
    if failed:
        raise PipelineError(f"{failed} run-cache objects failed to upload; run it again")
    log.info("%d objects pushed (the others were already in the remote) for %d run records", pushed, records)


if __name__ == "__main__":
    run_stage("run-cache", main)
