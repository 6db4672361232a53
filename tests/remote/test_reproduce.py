"""``python -m src.remote.reproduce``: its refusals on tiny git repositories (no DVC run needed),
its help, and the committed remote settings it relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dvc.config import Config

from src.remote.reproduce import parse_args
from src.sandbox import REPO_ROOT, command_env, git

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


@pytest.mark.slow
def test_unknown_or_hostile_revisions_are_refused_in_one_line(history_before_the_pipeline):
    repo, _ = history_before_the_pipeline
    assert_one_line_refusal(reproduce(repo, "no-such-branch"), "unknown revision 'no-such-branch'")
    assert_one_line_refusal(reproduce(repo, "HEAD~3"), "unknown revision 'HEAD~3'")  # before the first commit
    assert_one_line_refusal(reproduce(repo, "main;touch x"), "unknown revision 'main;touch x'")
    # after `--`, argparse passes it on as REV: it must still not reach git as an option
    assert_one_line_refusal(reproduce(repo, "--", "--output=x"), "revision '--output=x' is not a commit")
    assert not (repo / "x").exists()
    assert not (repo / ".dvc").exists()


@pytest.mark.slow
def test_commits_before_the_pipeline_are_refused_in_one_line(history_before_the_pipeline):
    repo, commits = history_before_the_pipeline
    assert_one_line_refusal(reproduce(repo, commits["readme"]), "predates the pipeline", "no dvc.yaml")
    assert_one_line_refusal(reproduce(repo, "HEAD~1"), "no dvc.lock", commits["no-lock"][:12])
    assert git(repo, "worktree", "list").stdout.count("\n") == 1  # the main worktree only


@pytest.mark.slow
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


@pytest.mark.slow
def test_outside_a_git_repository_is_refused_in_one_line(tmp_path):
    assert_one_line_refusal(reproduce(tmp_path, "HEAD"), "not inside a git repository")


def test_help_explains_the_command(capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for phrase in ("worktree", "dvc.lock", "--rebuild", "--remote", "exit status"):
        assert phrase in shown


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


@pytest.mark.slow
def test_machine_settings_file_is_ignored_by_git():
    assert git(REPO_ROOT, "check-ignore", "-q", ".dvc/config.local", check=False).returncode == 0
