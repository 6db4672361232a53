"""`src.remote.reproduce` and `src.remote.run_cache` logic on hand-made locks and statuses; the CLI's refusals
on tiny git repositories (no DVC needed); and the committed remote settings they rely on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.config import Config

from src.remote.reproduce import (
    CORRUPT_IN_CACHE,
    FAILED_VERIFICATION,
    NOT_IN_REMOTE,
    LockedOutput,
    Summary,
    changed_deps,
    changed_outputs,
    classify,
    explain_missing,
    format_summary,
    lock_mismatches,
    locked_outputs,
    mark_rebuilt,
    stages_to_rebuild,
)
from src.remote.run_cache import run_records
from src.sandbox import REPO_ROOT, command_env, git

LOCK = {
    "schema": "2.0",
    "stages": {
        "ingest": {"cmd": "ingest", "outs": [{"path": "data/raw", "hash": "md5", "md5": "aa.dir"}]},
        "train": {
            "cmd": "train",
            "deps": [{"path": "data/raw", "md5": "aa.dir"}],
            "outs": [
                {"path": "models/model.pkl", "hash": "md5", "md5": "bb"},
                {"path": "metrics/train/metrics.json", "hash": "md5", "md5": "cc"},
            ],
        },
    },
}
OUTPUTS = locked_outputs(LOCK)


def test_locked_outputs_lists_every_output_with_its_stage_and_hash():
    assert OUTPUTS == [
        LockedOutput("ingest", "data/raw", "aa.dir"),
        LockedOutput("train", "models/model.pkl", "bb"),
        LockedOutput("train", "metrics/train/metrics.json", "cc"),
    ]
    assert locked_outputs({}) == []


# The shape `dvc status --json` prints (seen with dvc 3.67), stage -> list of changes.
STATUS_MISSING_MODEL = {
    "train": [{"changed outs": {"models/model.pkl": "not in cache"}}],
    "evaluate": [{"changed deps": {"models/model.pkl": "deleted", "src/stages/evaluate.py": "modified"}}],
    "featurize": ["always changed"],
}


def test_changed_outputs_and_stale_dependencies_are_read_from_dvc_status():
    assert changed_outputs(STATUS_MISSING_MODEL) == {"models/model.pkl": "not in cache"}
    # a missing upstream output is not a stale lock; a changed source file is
    assert changed_deps(STATUS_MISSING_MODEL, {"models/model.pkl"}) == {
        "evaluate": ["src/stages/evaluate.py"]
    }
    assert changed_outputs({}) == {} and changed_deps({}, set()) == {}


def test_classify_tells_fetched_from_cached_from_git_tracked_and_missing():
    before = {
        "ingest": [{"changed outs": {"data/raw": "not in cache"}}],
        "train": [{"changed outs": {"models/model.pkl": "deleted"}}],
    }
    after = {"train": [{"changed outs": {"models/model.pkl": "not in cache"}}]}
    summary = classify(OUTPUTS, before, after)
    assert summary.fetched == ["data/raw"]
    assert summary.from_cache == []
    assert summary.in_place == ["metrics/train/metrics.json"]
    assert summary.missing == {"models/model.pkl": "not in cache"}
    assert summary.verified == ["data/raw", "metrics/train/metrics.json"]

    everything_restored = classify(OUTPUTS, before, {})
    assert everything_restored.from_cache == ["models/model.pkl"]
    assert everything_restored.missing == {}


def test_missing_outputs_are_explained_by_the_remote_status():
    missing = {"data/raw": "not in cache", "models/model.pkl": "not in cache", "data/split": "modified"}
    # after a verified pull, "deleted" means: the remote has the object, the cache refused it
    cloud = {"data/raw/flights.parquet": "deleted", "data/rawish/x": "missing", "models/model.pkl": "missing"}
    assert explain_missing(missing, cloud) == {
        "data/raw": FAILED_VERIFICATION,
        "models/model.pkl": NOT_IN_REMOTE,
        "data/split": CORRUPT_IN_CACHE,
    }
    assert explain_missing({"data/rawish": "not in cache"}, {"data/raw/a": "deleted"}) == {
        "data/rawish": NOT_IN_REMOTE
    }


def test_stages_to_rebuild_keep_pipeline_order_without_repeats():
    missing = {"metrics/train/metrics.json": "x", "models/model.pkl": "x", "data/raw": "x"}
    assert stages_to_rebuild(OUTPUTS, missing) == ["ingest", "train"]
    assert stages_to_rebuild(OUTPUTS, {}) == []


def test_lock_mismatches_name_each_output_whose_rebuild_differs():
    rebuilt = [LockedOutput("ingest", "data/raw", "aa.dir"), LockedOutput("train", "models/model.pkl", "zz")]
    assert lock_mismatches(OUTPUTS, rebuilt) == [
        "models/model.pkl: locked bb, rebuilt zz",
        "metrics/train/metrics.json: locked cc, rebuilt nothing",
    ]
    assert lock_mismatches(OUTPUTS, OUTPUTS) == []


def test_mark_rebuilt_moves_outputs_into_their_own_category():
    summary = Summary(fetched=["data/raw"], from_cache=["models/model.pkl"], in_place=["m.json"])
    marked = mark_rebuilt(summary, {"models/model.pkl"})
    assert marked.rebuilt == ["models/model.pkl"]
    assert marked.from_cache == [] and marked.fetched == ["data/raw"]
    assert sorted(marked.verified) == sorted(summary.verified)


def test_summary_counts_every_category_and_the_verified_total():
    summary = Summary(
        fetched=["data/raw", "models/model.pkl"],
        in_place=["metrics/train/metrics.json"],
        missing={"data/split": NOT_IN_REMOTE},
        stale_deps={"evaluate": ["src/stages/evaluate.py"]},
    )
    text = format_summary("0123456789abcdef", "Train more", Path("/tmp/wt"), "s3", summary, 4)
    lines = text.splitlines()
    assert lines[0] == "commit 0123456789ab  Train more"
    counts = {
        line.split("  ")[1].strip(): int(re.findall(r"\s(\d+)(?:\s|$)", line)[0]) for line in lines[2:6]
    }
    assert counts == {
        "fetched from 's3'": 2,
        "from the local cache": 0,
        "in git (cache: false)": 1,
        "missing from the remote": 1,
    }
    assert f"data/split ({NOT_IN_REMOTE})" in text
    assert re.search(r"verified against dvc.lock\s+3\s+of 4 outputs", text)
    assert "stage 'evaluate' no longer matches its lock" in text
    # the count column lines up
    assert len({line.index(str(count)) for line, count in zip(lines[2:6], [2, 0, 1, 1], strict=True)}) == 1


def test_run_records_are_found_in_the_run_cache_layout(tmp_path):
    runs = tmp_path / "runs"
    (runs / "ab" / "abcd").mkdir(parents=True)
    (runs / "ab" / "abcd" / "v1").write_text("cmd: x\n")
    (runs / "ab" / "abcd" / "v2").write_text("cmd: x\n")
    assert run_records(runs) == [("abcd", "v1"), ("abcd", "v2")]
    assert run_records(tmp_path / "absent") == []


# --- the command's refusals: one line on stderr, exit 1, no worktree -------------------------


def reproduce(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.remote.reproduce", *args],
        cwd=project,
        env=command_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("[reproduce] error: ")
    for phrase in phrases:
        assert phrase in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.fixture
def history_before_the_pipeline(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Three commits: a README only, then dvc.yaml without a lock, then both."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commits = {}
    for name, files in [
        ("readme", {"README.md": "flights\n"}),
        ("no-lock", {"dvc.yaml": "stages: {}\n"}),
        ("locked", {"dvc.lock": "schema: '2.0'\nstages: {}\n"}),
    ]:
        for path, text in files.items():
            (repo / path).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", name)
        commits[name] = git(repo, "rev-parse", "HEAD").stdout.strip()
    return repo, commits


def test_unknown_revision_is_refused_in_one_line(history_before_the_pipeline):
    repo, _ = history_before_the_pipeline
    assert_one_line_refusal(reproduce(repo, "no-such-branch"), "unknown revision 'no-such-branch'")
    assert_one_line_refusal(reproduce(repo, "HEAD~3"), "unknown revision 'HEAD~3'")  # before the first commit
    assert not (repo / ".dvc").exists()


def test_commits_before_the_pipeline_are_refused_in_one_line(history_before_the_pipeline):
    repo, commits = history_before_the_pipeline
    assert_one_line_refusal(reproduce(repo, commits["readme"]), "predates the pipeline", "no dvc.yaml")
    assert_one_line_refusal(reproduce(repo, "HEAD~1"), "no dvc.lock", commits["no-lock"][:12])
    assert git(repo, "worktree", "list").stdout.count("\n") == 1  # the main worktree only


def test_unknown_or_absent_remotes_are_refused_before_any_worktree(history_before_the_pipeline, tmp_path):
    repo, _ = history_before_the_pipeline
    (repo / ".dvc").mkdir()
    missing = tmp_path / "never-pushed"
    (repo / ".dvc" / "config").write_text(
        f"[core]\n    remote = local\n['remote \"local\"']\n    url = {missing}\n"
    )
    assert_one_line_refusal(
        reproduce(repo, "HEAD"), "remote 'local' is a local directory that does not exist"
    )
    assert_one_line_refusal(reproduce(repo, "HEAD", "--remote", "nope"), "unknown DVC remote 'nope'")
    assert git(repo, "worktree", "list").stdout.count("\n") == 1


def test_outside_a_git_repository_is_refused_in_one_line(tmp_path):
    assert_one_line_refusal(reproduce(tmp_path, "HEAD"), "not inside a git repository")


def test_help_explains_the_command():
    result = reproduce(REPO_ROOT, "--help")
    assert result.returncode == 0
    for phrase in ("worktree", "dvc.lock", "--rebuild", "--remote", "exit status"):
        assert phrase in result.stdout


# --- the committed remote settings ----------------------------------------------------------


def test_committed_remotes_verify_downloads_and_hold_no_credentials():
    config = Config.load_file(str(REPO_ROOT / ".dvc" / "config"))
    assert config["core"]["remote"] == "local"
    assert set(config["remote"]) >= {"local", "s3"}
    assert config["remote"]["s3"]["url"].startswith("s3://")
    secrets = {"access_key_id", "secret_access_key", "session_token", "credentialpath", "profile"}
    for name, remote in config["remote"].items():
        # without verify, a corrupted object in the remote is checked out silently
        assert str(remote.get("verify")).lower() == "true", name
        # version ids in dvc.lock would never reproduce
        assert str(remote.get("version_aware", "false")).lower() == "false", name
        assert not secrets & set(remote), name
    # the default remote is a directory outside the working tree
    assert not (REPO_ROOT / ".dvc" / config["remote"]["local"]["url"]).resolve().is_relative_to(REPO_ROOT)


def test_machine_settings_file_is_ignored_by_git():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".dvc/config.local"], cwd=REPO_ROOT, capture_output=True
    )
    assert ignored.returncode == 0
