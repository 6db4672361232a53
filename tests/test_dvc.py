"""The adapter ``src.dvc``: its readers of DVC's JSON and files, and its parsing of what
``dvc repro`` prints, against the real dvc in a tiny repository (so a DVC release that
rewords "Running stage" or "is cached - skipping run" fails here, loudly)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from src import dvc as adapter
from src.core.stage import PipelineError
from src.sandbox import command_env, dvc, git

# --- pure readers -------------------------------------------------------------------------


def test_flatten_names_leaves_as_dvc_does_and_keeps_lists_whole():
    tree = {"train": {"model": "hgb", "groups": ["a", "b"], "hgb": {"max_iter": 200}}, "seed": 1}
    assert adapter.flatten(tree) == {
        "train.model": "hgb",
        "train.groups": ["a", "b"],
        "train.hgb.max_iter": 200,
        "seed": 1,
    }
    assert adapter.flatten({}) == {}
    assert adapter.flatten(3) == {}  # a bare value has no name
    assert adapter.flatten({1: {"x": None}}) == {"1.x": None}


def test_a_metric_value_is_a_number_but_not_a_boolean():
    assert adapter.is_number(1) and adapter.is_number(0.5) and adapter.is_number(float("nan"))
    assert not adapter.is_number(True) and not adapter.is_number("0.5") and not adapter.is_number(None)


LOCK_TEXT = """\
schema: '2.0'
stages:
  ingest:
    cmd: python -m src.stages.ingest data/raw
    outs:
    - path: data/raw
      hash: md5
      md5: aa.dir
  train:
    cmd: python -m src.stages.train
    deps:
    - path: data/raw
      md5: aa.dir
    outs:
    - path: models/model.pkl
      hash: md5
      md5: bb
    - path: metrics/train/metrics.json
      hash: md5
      md5: cc
"""


def test_locked_outputs_list_every_output_with_its_stage_in_pipeline_order():
    outputs = adapter.locked_outputs(adapter.parse_lock(LOCK_TEXT))
    assert list(outputs) == ["data/raw", "models/model.pkl", "metrics/train/metrics.json"]
    assert outputs["models/model.pkl"] == {
        "path": "models/model.pkl",
        "hash": "md5",
        "md5": "bb",
        "stage": "train",
    }
    assert adapter.locked_outputs(None) == {} and adapter.locked_outputs({"schema": "2.0"}) == {}
    assert adapter.parse_lock(None) is None and adapter.parse_lock("") == {}


def test_repro_messages_are_read_stage_by_stage():
    log = (
        "Stage 'ingest' didn't change, skipping\n"
        "Stage 'train' is cached - skipping run, checking out outputs\n"
        "Running stage 'evaluate':\n> python -m src.stages.evaluate\n"
        "Running stage 'report':\n"
    )
    assert adapter.stages_ran(log) == ["evaluate", "report"]
    assert adapter.stages_restored(log) == ["train"]
    assert adapter.stages_ran("") == [] and adapter.stages_restored("") == []


@pytest.mark.parametrize("revision", ["--output=/tmp/x", "-x", "--end-of-options", ""])
def test_a_revision_that_reads_as_an_option_is_refused_before_any_command(revision, monkeypatch):
    def no_command(*args, **kwargs):
        raise AssertionError(f"a command ran: {args}")

    monkeypatch.setattr(adapter.subprocess, "run", no_command)
    with pytest.raises(PipelineError, match="is not a commit, branch or tag"):
        adapter.resolve_commit(revision)


# --- against the real git and dvc ------------------------------------------------------------


@pytest.fixture
def tiny_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git and DVC repository with one stage, ``copy``: in.txt -> out.txt, and one commit."""
    for name, value in command_env().items():  # no telemetry, a git identity, for the adapter too
        monkeypatch.setenv(name, value)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    (repo / "in.txt").write_text("a\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one stage")
    return repo


def repro_log(repo: Path) -> str:
    result = dvc(repo, "repro")
    return result.stdout + result.stderr


@pytest.mark.slow
def test_stages_run_and_restored_are_found_in_what_the_real_dvc_repro_prints(tiny_repo: Path):
    first = repro_log(tiny_repo)
    assert adapter.stages_ran(first) == ["copy"], first
    assert adapter.stages_restored(first) == [], first

    unchanged = repro_log(tiny_repo)
    assert adapter.stages_ran(unchanged) == [] and adapter.stages_restored(unchanged) == [], unchanged

    (tiny_repo / "in.txt").write_text("b\n")
    assert adapter.stages_ran(repro_log(tiny_repo)) == ["copy"]

    # Back to inputs the run-cache has seen: DVC restores the output instead of running.
    (tiny_repo / "in.txt").write_text("a\n")
    restored = repro_log(tiny_repo)
    assert adapter.stages_restored(restored) == ["copy"], restored
    assert adapter.stages_ran(restored) == [], restored
    assert (tiny_repo / "out.txt").read_text() == "a\n"


@pytest.mark.slow
def test_status_and_lock_are_read_from_the_real_dvc(tiny_repo: Path, tmp_path: Path):
    dvc(tiny_repo, "repro")
    assert adapter.status(tiny_repo) == {}
    lock = adapter.read_lock(tiny_repo)
    assert list(adapter.locked_outputs(lock)) == ["out.txt"]
    assert adapter.read_lock(tiny_repo, commit=adapter.resolve_commit("HEAD", cwd=tiny_repo)) is None

    # Same size, same modification time, other bytes: DVC trusts its recorded hash, unless
    # asked to hash the files again.
    out = tiny_repo / "out.txt"
    stamp = out.stat()
    out.chmod(0o644)
    out.write_text("z\n")
    os.utime(out, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert adapter.status(tiny_repo) == {}
    assert adapter.status(tiny_repo, rehash=True) == {"copy": [{"changed outs": {"out.txt": "modified"}}]}

    dvc(tiny_repo, "remote", "add", "store", str(tmp_path / "store"))
    assert adapter.status(tiny_repo, remote="store") == {"out.txt": "new"}


@pytest.mark.slow
def test_revisions_resolve_to_commits_and_hostile_ones_are_refused(tiny_repo: Path):
    head = git(tiny_repo, "rev-parse", "HEAD").stdout.strip()
    assert adapter.resolve_commit("main", cwd=tiny_repo) == head
    assert adapter.resolve_commit(head[:8], cwd=tiny_repo) == head
    for revision in ("main;id", "main && id", "HEAD~5", "HEAD^{tree}", "no-such-branch"):
        with pytest.raises(PipelineError, match="unknown revision"):
            adapter.resolve_commit(revision, cwd=tiny_repo)
    with pytest.raises(PipelineError, match="is not a commit, branch or tag"):
        adapter.resolve_commit("--output=out.txt", cwd=tiny_repo)
    assert not (tiny_repo / "out.txt").exists()


@pytest.mark.slow
def test_a_failed_command_names_itself_and_shows_what_it_printed(tiny_repo: Path):
    with pytest.raises(PipelineError) as raised:
        adapter.dvc("metrics", "diff", "no-such-rev", cwd=tiny_repo)
    command, _, output = str(raised.value).partition("\n")
    assert command.startswith("`dvc metrics diff no-such-rev` exited ")
    assert output.strip()
    streamed = adapter.run(["git", "--version"], capture=False)
    assert isinstance(streamed, subprocess.CompletedProcess) and streamed.stdout is None
