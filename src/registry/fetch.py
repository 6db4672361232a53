"""Fetch a version of the model from anywhere, verified: ``python -m src.registry.fetch REPO --stage prod``.

``REPO`` is a checkout's path or a git URL. GTO resolves the stage (or version) to a
version and commit; ``dvc artifacts get REPO MODEL --rev VERSION`` downloads the file;
the commit's ``dvc.lock`` is written beside it and the file is kept only if its MD5 is
the one that lock records. ``--out DIR`` then holds ``dvc.lock`` and the model at its
path in the repository (``DIR/models/model.pkl``), so
``src.core.model_store.load_verified_model(DIR / "models/model.pkl", DIR / "dvc.lock")``
checks it again before unpickling.

A git URL is cloned by DVC into a temporary directory, where a local remote given by a
relative path (the default ``../../dvc-storage/...``) no longer points at the storage:
pass ``--remote-config url=/absolute/path/to/dvc-storage/flight-delays`` (docs/registry.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from src import dvc
from src.core.files import atomic_path
from src.core.model_store import file_md5
from src.core.stage import PipelineError, run_stage
from src.registry import catalog, storage
from src.registry.catalog import ModelVersion
from src.registry.versions import parse_version

log = logging.getLogger("pipeline")

#: DVC clones a repository given by URL: a local remote with a relative path then points nowhere.
CLONED_REMOTE_HINT = (
    " (DVC cloned the repository, so a local remote given by a relative path no longer points at "
    "the storage: pass --remote-config url=/absolute/path/to/the/storage)"
)


def read_from_repo(repo: str, path: str, rev: str | None = None) -> str:
    """A git-tracked file of ``repo`` (path or URL) at ``rev``."""
    try:
        return dvc.read_output(path, rev, repo=repo).decode("utf-8")
    except Exception as error:  # noqa: BLE001 - dvc, scmrepo and git each raise their own
        raise PipelineError(f"cannot read {path} from {repo}: {storage.first_line(error)}") from None


def choose(versions: list[ModelVersion], model: str, stage: str | None, version: str | None) -> ModelVersion:
    if version is not None:
        return catalog.find_version(versions, parse_version(version), model)
    found = catalog.holder(versions, stage or catalog.PROD)
    if found is None:
        raise PipelineError(f"no version of {model} is in stage {stage or catalog.PROD}")
    return found


def artifacts_get(
    repo: str, model: str, version: str, out: Path, remote: str | None, settings: list[str]
) -> None:
    args = ["dvc", "artifacts", "get", repo, model, "--rev", version, "-o", str(out), "--force"]
    args += ["--remote", remote] if remote else []
    args += ["--remote-config", *settings] if settings else []
    result = dvc.run(args, check=False)
    if result.returncode != 0:
        errors = [line for line in (result.stderr or "").splitlines() if line.startswith("ERROR")]
        reason = errors[-1].removeprefix("ERROR: ") if errors else f"exit {result.returncode}"
        hint = "" if (Path(repo) / ".dvc").is_dir() or settings else CLONED_REMOTE_HINT
        raise PipelineError(f"dvc artifacts get could not download {model} {version}: {reason}{hint}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.registry.fetch",
        description="Download a model version with `dvc artifacts get` and keep it only if its MD5 is the "
        "one its commit's dvc.lock records.",
    )
    parser.add_argument("repo", help="the repository: a checkout's path or a git URL")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--stage", help="the version now in this stage (default: prod)")
    choice.add_argument("--version", help="this version, e.g. v1.2.0")
    parser.add_argument(
        "--model", help="a model declared in the repository's dvc.yaml (default: the only one)"
    )
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for dvc.lock and the model")
    parser.add_argument("-r", "--remote", help="the DVC remote to download from (default: the repository's)")
    parser.add_argument(
        "--remote-config", nargs="*", default=[], metavar="KEY=VALUE", help="passed to dvc artifacts get"
    )
    args = parser.parse_args(argv)
    repo = str(Path(args.repo).resolve()) if os.path.exists(args.repo) else args.repo
    model = catalog.pick_model(
        catalog.declared_models(read_from_repo(repo, catalog.PROJECT_FILE)), args.model
    )
    versions = catalog.parse_versions(dvc.gto_json("show", model.name, "--repo", repo))
    chosen = choose(versions, model.name, args.stage, args.version)
    lock_text = read_from_repo(repo, "dvc.lock", chosen.commit)
    expected = dvc.locked_outputs(dvc.parse_lock(lock_text)).get(model.path, {}).get("md5")
    if expected is None:
        raise PipelineError(f"{chosen.version}'s dvc.lock records no {model.path}")
    target = args.out / model.path
    with tempfile.TemporaryDirectory(prefix="registry-fetch-") as scratch:
        download = Path(scratch) / Path(model.path).name
        log.info("downloading %s %s (commit %s)", model.name, chosen.version, chosen.commit[:12])
        artifacts_get(repo, model.name, str(chosen.version), download, args.remote, args.remote_config)
        actual = file_md5(download)
        if actual != expected:
            raise PipelineError(
                f"the downloaded {model.path} has MD5 {actual}, not the {expected} that {chosen.version}'s "
                "dvc.lock records: it was not kept"
            )
        with atomic_path(target) as staged:
            os.replace(download, staged)
    with atomic_path(args.out / "dvc.lock") as staged:
        staged.write_text(lock_text, encoding="utf-8")
    print(f"{model.name} {chosen.version} (commit {chosen.commit[:12]}): {target} verified, MD5 {actual}")


if __name__ == "__main__":
    run_stage("fetch", main)
