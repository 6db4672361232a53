"""Remote storage for real: every commit's outputs pushed, then pulled back byte for byte.

A history of two commits with different models is pushed through dvc-s3 to a moto S3
server on loopback (the session's, or one a test starts and stops itself) and to the
default local remote; fresh clones pull each commit back. Then the faults a team meets:
an unreachable server, missing or wrong credentials, a push killed part-way, an object
corrupted in the remote; and ``python -m src.remote.reproduce`` on that history.

Hashes are checked here with an implementation of DVC's md5 scheme of our own (a file's
md5; a directory's md5 of its sorted JSON listing + ".dir"), so a DVC bug that reports
success cannot hide a wrong byte.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import yaml

from src import dvc as adapter
from src.sandbox import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    VENV_BIN,
    aws_test_env,
    command_env,
    dvc,
    git,
    read_params,
    run,
    set_params,
    tree_snapshot,
)

pytestmark = pytest.mark.slow

PREFIX = "flight-delays"
METRICS = ("metrics/validation.json", "metrics/train/metrics.json", "metrics/evaluate/metrics.json")
#: One attempt per request: tests of an unreachable server need not wait through botocore's retries.
ONE_ATTEMPT = {"AWS_MAX_ATTEMPTS": "1"}


# --- hashes, locks and commands ----------------------------------------------------------------


def dvc_md5(path: Path) -> str | None:
    """DVC's md5 of a file or directory, computed from the bytes here, not by DVC."""
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    files = sorted((f for f in path.rglob("*") if f.is_file()), key=lambda f: f.relative_to(path).parts)
    listing = [
        {"md5": hashlib.md5(f.read_bytes()).hexdigest(), "relpath": f.relative_to(path).as_posix()}
        for f in files
    ]
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"


def locked_hashes(lock: dict) -> dict[str, str]:
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def assert_outputs_match_lock(project: Path, lock: dict) -> None:
    expected = locked_hashes(lock)
    assert len(expected) >= 10
    assert {path: dvc_md5(project / path) for path in expected} == expected


def cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def s3_config(endpoint_url: str, bucket: str) -> str:
    """A machine's .dvc/config.local: the s3 remote at ``endpoint_url``, made the default."""
    return (
        f"[core]\n    remote = s3\n"
        f"['remote \"s3\"']\n    url = s3://{bucket}/{PREFIX}\n    endpointurl = {endpoint_url}\n"
    )


def local_config(store: Path) -> str:
    return f"['remote \"local\"']\n    url = {store}\n"


def s3_client(endpoint_url: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY):
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def object_key(md5: str) -> str:
    return f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"


def stored_keys(endpoint_url: str, bucket: str) -> set[str]:
    pages = s3_client(endpoint_url).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


# --- the history and the remotes holding it -----------------------------------------------------


@dataclass
class History:
    """A repository of two commits whose models differ, with both in its cache."""

    origin: Path
    older: str
    newer: str

    def lock(self, rev: str) -> dict:
        return yaml.safe_load(self.committed(rev, "dvc.lock"))

    def committed(self, rev: str, path: str) -> str:
        return git(self.origin, "show", f"{rev}:{path}").stdout


def clone(history: History, dest: Path, *, share_cache: bool = False, config: str = "") -> Path:
    """A git clone of the history; ``share_cache`` gives it the origin's DVC cache (a pusher)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", str(history.origin), dest.name)
    if share_cache:
        config += f"[cache]\n    dir = {history.origin / '.dvc' / 'cache'}\n"
    if config:
        (dest / ".dvc" / "config.local").write_text(config)
    return dest


def push_history(pusher: Path, history: History, **env: str) -> None:
    """What `make push` does, at each commit: outputs, run records, and the outputs they name."""
    git(pusher, "checkout", "-q", history.older)
    dvc(pusher, "push", **env)
    git(pusher, "checkout", "-q", history.newer)
    dvc(pusher, "push", "--run-cache", **env)
    run([sys.executable, "-m", "src.remote.run_cache"], pusher, **env)


@pytest.fixture(scope="module")
def history(sample_project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    origin = tmp_path_factory.mktemp("history") / "origin"
    shutil.copytree(sample_project_template, origin, symlinks=True)
    older = git(origin, "rev-parse", "HEAD").stdout.strip()
    max_iter = read_params(origin)["train"]["hist_gradient_boosting"]["max_iter"]
    set_params(origin, **{"train.hist_gradient_boosting.max_iter": max(10, max_iter // 5)})
    dvc(origin, "repro")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "fewer boosting iterations")
    made = History(origin, older, git(origin, "rev-parse", "HEAD").stdout.strip())
    # two different models, or the round trips below would prove little
    assert (
        locked_hashes(made.lock(older))["models/model.pkl"]
        != locked_hashes(made.lock(made.newer))["models/model.pkl"]
    )
    return made


@pytest.fixture(scope="module")
def local_remote(history: History, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose clones share the committed default remote, pushed from one of them.

    .dvc/config's ``../../dvc-storage/flight-delays`` is relative to .dvc/, so every
    clone in this directory uses ``<directory>/dvc-storage/flight-delays``.
    """
    base = tmp_path_factory.mktemp("local-remote")
    push_history(clone(history, base / "pusher", share_cache=True), history)
    assert (base / "dvc-storage" / PREFIX / "files" / "md5").is_dir()
    return base


@pytest.fixture(scope="module")
def s3_bucket(history: History, s3_endpoint, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bucket on the session's S3 server holding both commits and the run-cache."""
    bucket = s3_endpoint.create_bucket("issue3-history")
    pusher = clone(
        history,
        tmp_path_factory.mktemp("s3-pusher") / "pusher",
        share_cache=True,
        config=s3_config(s3_endpoint.url, bucket),
    )
    push_history(pusher, history, **s3_endpoint.env)
    return bucket


def assert_round_trip(history: History, fresh: Path, **env: str) -> None:
    """At each commit: pull, every output as locked, metrics as committed, nothing to redo."""
    evaluated = {}
    for rev in (history.older, history.newer):
        git(fresh, "checkout", "-q", rev)
        dvc(fresh, "pull", **env)
        assert_outputs_match_lock(fresh, history.lock(rev))
        for path in METRICS:
            assert (fresh / path).read_text() == history.committed(rev, path), path
        assert "Data and pipelines are up to date." in dvc(fresh, "status", **env).stdout
        assert adapter.stages_ran(dvc(fresh, "repro", **env).stdout) == []
        assert git(fresh, "status", "--porcelain").stdout == ""
        evaluated[rev] = (fresh / "metrics/evaluate/metrics.json").read_text()
    assert evaluated[history.older] != evaluated[history.newer]


# --- round trips ---------------------------------------------------------------------------------


def test_default_local_remote_round_trip_needs_no_configuration(history, local_remote):
    fresh = clone(history, local_remote / "fresh")
    assert not (fresh / ".dvc" / "config.local").exists()
    assert_round_trip(history, fresh)


def test_s3_round_trip_restores_each_commit_exactly(history, s3_endpoint, s3_bucket, tmp_path):
    fresh = clone(history, tmp_path / "fresh")
    # the documented per-machine setup; nothing of it lands in a committed file
    dvc(fresh, "remote", "modify", "--local", "s3", "url", f"s3://{s3_bucket}/{PREFIX}")
    dvc(fresh, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    dvc(fresh, "remote", "default", "--local", "s3")
    assert f"endpointurl = {s3_endpoint.url}" in (fresh / ".dvc" / "config.local").read_text()
    assert git(fresh, "status", "--porcelain").stdout == ""  # config.local is ignored
    assert_round_trip(history, fresh, **s3_endpoint.env)


def test_pulled_run_cache_restores_train_instead_of_training(history, s3_endpoint, s3_bucket, tmp_path):
    fresh = clone(history, tmp_path / "fresh", config=s3_config(s3_endpoint.url, s3_bucket))
    dvc(fresh, "pull", "--run-cache", **s3_endpoint.env)
    # the newer commit's clone goes back to the older parameters: train's inputs are those of
    # a run recorded in the run-cache but in no dvc.lock of this checkout
    (fresh / "params.yaml").write_text(history.committed(history.older, "params.yaml"))
    result = dvc(fresh, "repro", "--pull", "train", **s3_endpoint.env)
    assert adapter.stages_restored(result.stdout) == ["train"]
    assert adapter.stages_ran(result.stdout) == []
    older = locked_hashes(history.lock(history.older))
    assert dvc_md5(fresh / "models/model.pkl") == older["models/model.pkl"]
    assert dvc_md5(fresh / "metrics/train/metrics.json") == older["metrics/train/metrics.json"]


# --- faults --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server(**env: str) -> Iterator[str]:
    """A moto S3 server of the test's own, in a subprocess: stopped when the block ends."""
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=command_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_unreachable_server_fails_naming_the_remote_and_changes_nothing(history, tmp_path):
    env = aws_test_env(tmp_path)
    with moto_server() as url:
        s3_client(url).create_bucket(Bucket="stopped")
        pusher = clone(history, tmp_path / "pusher", share_cache=True, config=s3_config(url, "stopped"))
        dvc(pusher, "push", **env)
        fresh = clone(history, tmp_path / "fresh", config=s3_config(url, "stopped"))
    # the server is gone: the same endpoint now refuses connections
    for project, command, cache in [
        (fresh, "pull", fresh / ".dvc" / "cache"),
        (pusher, "push", history.origin / ".dvc" / "cache"),
    ]:
        tree, cached = tree_snapshot(project, "data", "models", "metrics"), cache_files(cache)
        result = dvc(project, command, check=False, **env, **ONE_ATTEMPT)
        message = result.stdout + result.stderr
        assert result.returncode != 0, command
        assert f"stopped/{PREFIX}" in message and "Could not connect" in message, message
        assert "Traceback" not in message
        assert tree_snapshot(project, "data", "models", "metrics") == tree
        assert cache_files(cache) == cached
        assert git(project, "status", "--porcelain").stdout == ""


def test_missing_credentials_are_reported_without_a_traceback(history, s3_endpoint, s3_bucket, tmp_path):
    fresh = clone(history, tmp_path / "fresh", config=s3_config(s3_endpoint.url, s3_bucket))
    # no AWS_* variable at all, and empty AWS files: nothing to authenticate with
    env = {name: value for name, value in command_env().items() if not name.startswith("AWS_")}
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env[name] = str(tmp_path / name.lower())
        Path(env[name]).write_text("")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    for command in ("pull", "push"):
        result = subprocess.run(
            [str(VENV_BIN / "dvc"), command], cwd=fresh, env=env, capture_output=True, text=True
        )
        message = result.stdout + result.stderr
        assert result.returncode != 0, command
        assert "Unable to locate credentials" in message, message
        assert "Traceback" not in message
    assert not (fresh / "models" / "model.pkl").exists()


def test_wrong_credentials_are_reported_without_a_traceback(history, tmp_path):
    # moto checks credentials after its first 3 requests, which create the only valid key
    with moto_server(INITIAL_NO_AUTH_ACTION_COUNT="3") as url:
        iam = boto3.client(
            "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
        )
        iam.create_user(UserName="ci")
        key = iam.create_access_key(UserName="ci")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="ci", PolicyName="s3", PolicyDocument=json.dumps(policy))
        s3_client(url, key["AccessKeyId"], key["SecretAccessKey"]).create_bucket(Bucket="guarded")

        files = aws_test_env(tmp_path)
        right = {
            **files,
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        wrong = {
            **files,
            "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1",
            "AWS_SECRET_ACCESS_KEY": "not-the-secret",
        }
        pusher = clone(history, tmp_path / "pusher", share_cache=True, config=s3_config(url, "guarded"))
        dvc(pusher, "push", **right)
        fresh = clone(history, tmp_path / "fresh", config=s3_config(url, "guarded"))
        for project, command in [(fresh, "pull"), (pusher, "push")]:
            result = dvc(project, command, check=False, **wrong, **ONE_ATTEMPT)
            message = result.stdout + result.stderr
            assert result.returncode != 0, command
            assert "Forbidden" in message and "403" in message, message
            assert "Traceback" not in message
        assert not (fresh / "models" / "model.pkl").exists()


class GatedProxy:
    """An HTTP proxy to an S3 server that passes the first ``allow`` object uploads and holds
    every later one unanswered, like a network that dies in the middle of a push."""

    def __init__(self, upstream: str, allow: int):
        self.upstream = urlsplit(upstream)
        self.allow = allow
        self.uploads = 0
        self.count_lock = threading.Lock()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.forwarding = 0
        self.idle = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> GatedProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        with self.idle:  # uploads already admitted finish, whether or not their client is alive
            self.idle.wait_for(lambda: self.forwarding == 0, timeout=60)
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _admit(self, method: str, path: str) -> bool:
        if method != "PUT" or "/files/md5/" not in path:
            return True
        with self.count_lock:
            self.uploads += 1
            return self.uploads <= self.allow

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers `Expect: 100-continue` before the body

            def log_message(self, *args) -> None:
                pass

            def forward(self) -> None:
                with proxy.idle:
                    proxy.forwarding += 1
                try:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    admitted = proxy._admit(self.command, self.path)
                    if admitted:
                        response, data = self.ask_upstream(body)
                finally:
                    with proxy.idle:
                        proxy.forwarding -= 1
                        proxy.idle.notify_all()
                if not admitted:
                    proxy.holding.set()
                    proxy.release.wait()
                    self.close_connection = True
                    return
                self.send_response_only(response.status, response.reason)
                skip = ("connection", "transfer-encoding", "content-length")
                for name, value in response.getheaders():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def ask_upstream(self, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    return response, response.read()
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

        return Handler


def test_interrupted_push_completes_when_pushed_again(history, s3_endpoint, tmp_path):
    bucket = s3_endpoint.create_bucket("issue3-interrupted")
    pusher = clone(history, tmp_path / "pusher", share_cache=True)
    config = pusher / ".dvc" / "config.local"
    with GatedProxy(s3_endpoint.url, allow=3) as proxy:
        config.write_text(config.read_text() + s3_config(proxy.url, bucket))
        push = subprocess.Popen(
            [str(VENV_BIN / "dvc"), "push"],
            cwd=pusher,
            env=command_env(**s3_endpoint.env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert proxy.holding.wait(120), "dvc push never got past its first uploads"
        finally:
            os.killpg(push.pid, signal.SIGKILL)
            push.wait()
    partial = stored_keys(s3_endpoint.url, bucket)
    assert len(partial) == 3

    config.write_text(config.read_text().replace(proxy.url, s3_endpoint.url))
    again = dvc(pusher, "push", **s3_endpoint.env)
    pushed = int(re.search(r"(\d+) files? pushed", again.stdout).group(1))
    complete = stored_keys(s3_endpoint.url, bucket)
    assert partial < complete and len(complete) == len(partial) + pushed

    fresh = clone(history, tmp_path / "fresh", config=s3_config(s3_endpoint.url, bucket))
    dvc(fresh, "pull", **s3_endpoint.env)
    assert_outputs_match_lock(fresh, history.lock(history.newer))


def flip_first_byte(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:]


def test_object_corrupted_in_s3_is_not_checked_out(history, s3_endpoint, tmp_path):
    bucket = s3_endpoint.create_bucket("issue3-corrupted")
    config = s3_config(s3_endpoint.url, bucket)
    dvc(clone(history, tmp_path / "pusher", share_cache=True, config=config), "push", **s3_endpoint.env)
    lock = locked_hashes(history.lock(history.newer))
    client, key = s3_endpoint.client(), object_key(lock["models/model.pkl"])
    good = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.put_object(Bucket=bucket, Key=key, Body=flip_first_byte(good))  # same size, other bytes

    fresh = clone(history, tmp_path / "fresh", config=config)
    result = dvc(fresh, "pull", check=False, **s3_endpoint.env)
    assert result.returncode != 0
    assert "Checkout failed for following targets:\nmodels/model.pkl" in result.stderr
    assert not (fresh / "models" / "model.pkl").exists()
    assert not any(
        name.endswith(lock["models/model.pkl"][2:]) for name in cache_files(fresh / ".dvc" / "cache")
    )
    assert dvc_md5(fresh / "data" / "split") == lock["data/split"]  # the intact objects came through


def test_object_corrupted_in_the_local_remote_is_not_checked_out(history, local_remote, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(local_remote / "dvc-storage" / PREFIX, store)
    lock = locked_hashes(history.lock(history.newer))
    damaged = store / "files" / "md5" / lock["models/model.pkl"][:2] / lock["models/model.pkl"][2:]
    mode = damaged.stat().st_mode
    damaged.chmod(0o644)
    damaged.write_bytes(flip_first_byte(damaged.read_bytes()))
    damaged.chmod(mode)  # still read-only, as DVC left it: it must not be trusted for that

    fresh = clone(history, tmp_path / "fresh", config=local_config(store))
    result = dvc(fresh, "pull", check=False)
    assert result.returncode != 0
    assert "Checkout failed for following targets:\nmodels/model.pkl" in result.stderr
    assert not (fresh / "models" / "model.pkl").exists()
    assert dvc_md5(fresh / "data" / "split") == lock["data/split"]


# --- python -m src.remote.reproduce ---------------------------------------------------------------------


def reproduce(project: Path, *args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it; stdin is not a terminal, so it never prompts."""
    return subprocess.run(
        [sys.executable, "-m", "src.remote.reproduce", *args],
        cwd=project,
        env=command_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def summary_count(output: str, label: str) -> int:
    return int(re.search(rf"^  {re.escape(label)}\s+(\d+)", output, re.MULTILINE).group(1))


def test_reproduce_fetches_and_verifies_an_older_commit_beside_the_work(history, local_remote, tmp_path):
    user = clone(history, tmp_path / "user", config=local_config(local_remote / "dvc-storage" / PREFIX))
    dvc(user, "pull")
    (user / "params.yaml").write_text((user / "params.yaml").read_text() + "# an edit in progress\n")
    watched = ("data", "models", "metrics", "params.yaml", "dvc.lock")
    before = tree_snapshot(user, *watched), git(user, "status", "--porcelain").stdout

    result = reproduce(user, history.older[:8])
    assert result.returncode == 0, result.stderr
    worktree = user / ".dvc" / "tmp" / "reproduce" / history.older[:12]
    assert git(worktree, "rev-parse", "HEAD").stdout.strip() == history.older
    assert_outputs_match_lock(worktree, history.lock(history.older))
    outputs = len(locked_hashes(history.lock(history.older)))
    assert re.search(rf"verified against dvc.lock\s+{outputs}\s+of {outputs} outputs", result.stdout)
    assert summary_count(result.stdout, "missing from the remote") == 0
    assert summary_count(result.stdout, "fetched from 'local'") >= 1  # at least the older model
    assert adapter.stages_ran(result.stdout + result.stderr) == []
    # the user's checkout, edits and data are as they were
    assert (tree_snapshot(user, *watched), git(user, "status", "--porcelain").stdout) == before

    # A rebuild that did not match left its own model and lock in the worktree (issue 14):
    # the next run verifies against the commit's lock from git, never against that one.
    (worktree / "models" / "model.pkl").write_bytes(b"a rebuilt model that differs")
    dvc(worktree, "commit", "--force", "train")
    assert git(worktree, "status", "--porcelain").stdout != ""
    again = reproduce(user, history.older)
    assert again.returncode == 0, again.stderr
    assert git(worktree, "status", "--porcelain").stdout == ""
    assert_outputs_match_lock(worktree, history.lock(history.older))


def test_reproduce_lists_what_the_remote_lacks_and_rebuilds_it_to_the_lock(history, local_remote, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(local_remote / "dvc-storage" / PREFIX, store)
    raw = locked_hashes(history.lock(history.older))["data/raw"]
    manifest = store / "files" / "md5" / raw[:2] / raw[2:]
    for entry in json.loads(manifest.read_text()):
        (store / "files" / "md5" / entry["md5"][:2] / entry["md5"][2:]).unlink()
    manifest.unlink()
    user = clone(history, tmp_path / "user", config=local_config(store))

    refused = reproduce(user, history.older)
    assert refused.returncode == 1
    assert summary_count(refused.stdout, "missing from the remote") == 1
    assert "data/raw (not in the remote)" in refused.stdout
    assert "`dvc repro` would rebuild them by running: ingest" in refused.stdout
    assert refused.stderr.strip().splitlines()[-1].startswith("[reproduce] error: 1 of ")

    rebuilt = reproduce(user, history.older, "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert adapter.stages_ran(rebuilt.stdout) == ["ingest"]
    assert summary_count(rebuilt.stdout, "rebuilt by dvc repro") == 1
    worktree = user / ".dvc" / "tmp" / "reproduce" / history.older[:12]
    assert git(worktree, "status", "--porcelain").stdout == ""  # dvc.lock rewritten identically
    assert_outputs_match_lock(worktree, history.lock(history.older))
