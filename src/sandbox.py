"""Throwaway copies of the project, for the tests and the benchmark alike.

Copy the working tree into a new git repository, set its parameters, run dvc and git
in it with this environment's tools and no telemetry, and serve S3 on loopback with
moto for the remote. The tests (``tests/``) and the benchmark (``bench/``) both use
this module, so neither imports the other.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # for the type only: commands run through src.dvc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from src import dvc as adapter

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
    """Run a command in a sandbox with :func:`command_env`, through the project's one runner."""
    return adapter.run(args, cwd=cwd, check=check, env=command_env(**env))


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


# --- S3 on loopback (moto) ---------------------------------------------------------------

REGION = "us-east-1"
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"  # noqa: S105 - moto accepts any dummy key


@dataclass
class S3Endpoint:
    """A running loopback S3 server and the environment that points AWS clients at it."""

    url: str
    env: dict[str, str]
    server: Any = field(repr=False)  # moto's ThreadedMotoServer

    def client(self) -> Any:
        import boto3  # a test and benchmark dependency only

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in ``bucket``: key -> bytes."""
        client, found = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found


def aws_test_env(directory: Path) -> dict[str, str]:
    """AWS settings that use files under ``directory`` and dummy credentials only."""
    config, credentials = directory / "aws-config", directory / "aws-credentials"
    config.write_text(f"[default]\nregion = {REGION}\n")
    credentials.write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    return {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@contextmanager
def s3_server(directory: Path) -> Iterator[S3Endpoint]:
    """A moto S3 server on a free loopback port, with AWS settings kept under ``directory``."""
    from moto.server import ThreadedMotoServer  # a test and benchmark dependency only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(url=f"http://{host}:{port}", env=aws_test_env(directory), server=server)
    finally:
        server.stop()
