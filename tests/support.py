"""Helpers for tests that drive real git and dvc commands in temporary repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def command_env(**extra: str) -> dict[str, str]:
    """The environment for dvc and stage commands: this interpreter's tools first, no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        DO_NOT_TRACK="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; on unexpected failure show what it printed."""
    result = subprocess.run(args, cwd=cwd, env=command_env(**env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def dvc(cwd: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    return run([str(VENV_BIN / "dvc"), *args], cwd, check=check, **env)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["git", *args], cwd, check=check)


def project_files() -> list[str]:
    """The files of the working tree that git tracks or would track (not ignored)."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], REPO_ROOT).stdout
    return [name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]


def copy_project(destination: Path) -> Path:
    """A new git repository holding the working tree's files as one commit.

    Copies the working tree rather than cloning HEAD, so tests see uncommitted edits.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for name in project_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "project copy")
    return destination


def read_params(project: Path) -> dict:
    return yaml.safe_load((project / "params.yaml").read_text())


def write_params(project: Path, params: dict) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def set_params(project: Path, **dotted: object) -> None:
    """Set parameters by dotted name, e.g. ``set_params(p, **{"train.seed": 1})``."""
    params = read_params(project)
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        section = params
        for part in parents:
            section = section[part]
        section[leaf] = value
    write_params(project, params)


def tree_snapshot(project: Path, *paths: str) -> dict[str, bytes]:
    """File contents under ``paths`` (files or directories), for before/after comparisons."""
    snapshot = {}
    for path in paths:
        root = project / path
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            snapshot[str(file.relative_to(project))] = file.read_bytes()
    return snapshot
