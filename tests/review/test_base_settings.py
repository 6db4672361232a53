"""The gate's settings are read from the base revision's params.yaml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from src.core.stage import PipelineError
from src.review.assessment import GateParams
from src.review.base_settings import changed_gate_keys, gate_change_line, gate_params_from_base


def test_changed_gate_keys_names_every_differing_setting():
    base = GateParams()
    branch = GateParams(floors={"roc_auc": 0.5, "average_precision": 0.45}, confidence=0.8)
    assert changed_gate_keys(base, branch) == ["gate.confidence", "gate.floors.roc_auc"]
    assert changed_gate_keys(base, GateParams()) == []


def test_gate_change_line():
    assert gate_change_line([]) is None
    assert gate_change_line(["gate.floors.roc_auc"]) == (
        "This branch changes its own gate settings: `gate.floors.roc_auc`; the base's apply."
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit_params(repo: Path, params: dict | None, message: str) -> str:
    path = repo / "params.yaml"
    if params is None:
        path.unlink(missing_ok=True)
        (repo / "README").write_text(message)
    else:
        path.write_text(yaml.safe_dump(params))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


@pytest.mark.slow
def test_the_base_gate_applies_not_the_branch(repo: Path):
    strict = {"train": {"seed": 1}, "gate": {"floors": {"roc_auc": 0.7}, "tolerance": {"roc_auc": 0.001}}}
    base = commit_params(repo, strict, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    commit_params(repo, {**strict, "gate": {"floors": {"roc_auc": 0.1}}}, "relax my own gate")

    gate = gate_params_from_base("main", cwd=repo)
    assert gate.floors == {"roc_auc": 0.7}
    assert gate.tolerance == {"roc_auc": 0.001}
    assert gate_params_from_base(base, cwd=repo) == gate  # a SHA works as well as a branch


@pytest.mark.slow
@pytest.mark.parametrize(
    "params",
    [None, {"train": {"seed": 1}}, {"gate": {"no_such_setting": 1}}],
    ids=["no params.yaml", "no gate section", "a gate section of another shape"],
)
def test_an_older_base_gets_the_defaults(repo: Path, params: dict | None):
    commit_params(repo, params, "older main")
    assert gate_params_from_base("main", cwd=repo) == GateParams()


@pytest.mark.slow
@pytest.mark.parametrize("revision", ["no-such-branch", "--output=x"])
def test_a_bad_revision_is_refused(repo: Path, revision: str):
    commit_params(repo, {"gate": {}}, "main")
    with pytest.raises(PipelineError):
        gate_params_from_base(revision, cwd=repo)
