"""What the release workflow runs on a pushed stage tag: ``python -m src.registry.release TAG --out DIR``.

GTO says what the tag is (``gto check-ref --json``): which model, version and stage,
at which commit. The model file of that commit is read from the DVC remote (never a
local cache) and written to ``DIR`` only if its MD5 is the one the commit's
``dvc.lock`` records; its card goes beside it as ``card.md`` and ``card.json``. Only
assignments to ``--stage`` (default ``prod``) are released.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from src import dvc
from src.core.files import atomic_path
from src.core.stage import PipelineError, run_stage
from src.registry import card, catalog, storage
from src.registry.catalog import PROD

log = logging.getLogger("pipeline")


def describe_tag(root: Path, tag: str) -> dict:
    """GTO's reading of ``tag``: artifact, version, stage, event, commit."""
    if tag.startswith("-") or tag not in dvc.tags(tag, cwd=root):
        raise PipelineError(f"no tag {tag!r} in this repository (fetch tags with `git fetch --tags`)")
    found = dvc.gto_json("check-ref", tag, cwd=root)
    if not found:
        raise PipelineError(
            f"tag {tag!r} is not a GTO registration or assignment (<model>@vX.Y.Z, <model>#<stage>#N)"
        )
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.registry.release",
        description="Verify the model a stage tag assigns is in the DVC remote with the MD5 its dvc.lock "
        "records, and write it with its model card (card.md, card.json) to --out.",
    )
    parser.add_argument("tag", help="a GTO assignment tag, e.g. 'late-arrival#prod#3'")
    parser.add_argument("--out", type=Path, default=Path("release"), help="default: release/")
    parser.add_argument(
        "--stage", default=PROD, help="the stage whose assignments are released (default: prod)"
    )
    parser.add_argument("-r", "--remote", help="the DVC remote (default: the default remote)")
    args = parser.parse_args(argv)
    root = dvc.repository_root()
    found = describe_tag(root, args.tag)
    if found.get("event") != "assignment" or found.get("stage") != args.stage:
        raise PipelineError(f"tag {args.tag!r} does not assign a version to {args.stage}: nothing to release")
    commit = found["commit_hexsha"]
    model = catalog.pick_model(catalog.read_models(root, commit), found["artifact"])
    remote = storage.remote_name(root, args.remote)
    log.info(
        "reading %s of %s (commit %s) from remote '%s'", model.path, found["version"], commit[:12], remote
    )
    content = storage.verified_model(root, commit, model.path, remote)
    with atomic_path(args.out / Path(model.path).name) as staged:
        staged.write_bytes(content)
    model_card = card.version_card(root, model, found["version"], commit, remote)
    card.write_card(model_card, args.out)
    print(
        f"{model.name} {found['version']} ({args.tag}, commit {commit[:12]}): {model.path} verified "
        f"(MD5 {storage.md5_of(content)}) and written to {args.out} with its card"
    )


if __name__ == "__main__":
    run_stage("release", main)
