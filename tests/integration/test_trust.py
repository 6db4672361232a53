"""Untrusted input at the trust boundaries: a planted run-cache record, a hostile model in
place, and hostile values given to make.

DVC trusts its run-cache: when a stage's inputs match a record, it checks out the
outputs the record names and writes their hashes into ``dvc.lock`` itself, so the
model's MD5 check passes whatever the record says. The model loader's allow-list is
what stops the payload (docs/threat-model.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import pytest
import yaml

from src import dvc as adapter
from src.sandbox import REPO_ROOT, dvc, git, set_params

pytestmark = pytest.mark.slow

MODEL = "models/model.pkl"


class RunsCommand:
    """Unpickling this runs a shell command: what an attacker would put in a model file."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def train_record(project: Path, model: str) -> Path:
    """The run-cache record of the ``train`` run with ``train.model`` = ``model``."""
    found = []
    for record in (project / ".dvc/cache/runs").glob("*/*/*"):
        entry = yaml.safe_load(record.read_text())
        params = entry.get("params", {}).get("params.yaml", {})
        if entry["cmd"].startswith("python -m src.stages.train") and params["train"]["model"] == model:
            found.append(record)
    assert len(found) == 1, found
    return found[0]


def store_object(project: Path, data: bytes) -> str:
    """Put ``data`` in the DVC cache under its own MD5, as `dvc push` from another clone would."""
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    path = project / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


def locked_model_md5(project: Path) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == MODEL)


def test_a_planted_run_cache_record_is_restored_by_dvc_and_refused_by_evaluate(sample_project, tmp_path):
    project, marker = sample_project, tmp_path / "payload-ran"

    # A genuine run with other parameters leaves a genuine record (and loads that model:
    # the logistic-regression family passes the allow-list on real data).
    set_params(project, **{"train.model": "logistic_regression"})
    dvc(project, "repro")
    record = train_record(project, "logistic_regression")

    # The planted record: same inputs, but its model is a hostile pickle stored under its
    # own MD5, as anyone who can write the shared remote's run-cache could arrange.
    hostile = pickle.dumps(RunsCommand(f"touch {marker}"), protocol=5)
    hostile_md5 = store_object(project, hostile)
    entry = yaml.safe_load(record.read_text())
    for out in entry["outs"]:
        if out["path"] == MODEL:
            out.update(md5=hostile_md5, size=len(hostile))
    record.write_text(yaml.safe_dump(entry, sort_keys=False))

    # A clean checkout of the committed sample run; then ask for the recorded parameters.
    git(project, "checkout", "--", ".")
    dvc(project, "checkout", "--force")
    assert "up to date" in dvc(project, "status").stdout
    set_params(project, **{"train.model": "logistic_regression"})
    result = dvc(project, "repro", check=False)
    output = result.stdout + result.stderr

    assert "Stage 'train' is cached - skipping run" in output
    assert locked_model_md5(project) == hostile_md5  # DVC wrote the planted hash: the MD5 check passes
    assert result.returncode != 0
    assert f"[evaluate] error: {MODEL}: the pickle references posix.system, which no model" in output
    assert "Traceback" not in output
    assert not marker.exists()


def test_a_hostile_model_committed_in_place_is_refused(sample_project, tmp_path):
    project, marker = sample_project, tmp_path / "payload-ran"
    (project / MODEL).write_bytes(pickle.dumps(RunsCommand(f"touch {marker}"), protocol=5))
    dvc(project, "commit", "--force", "train")  # dvc.lock now records the hostile file's MD5

    result = dvc(project, "repro", "evaluate", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"[evaluate] error: {MODEL}: the pickle references posix.system" in output
    assert "Traceback" not in output
    assert not marker.exists()


# --- user values given to make ------------------------------------------------------------

STUB = """#!{python}
import json, os, sys
with open(os.environ["CALLS_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""


@pytest.mark.parametrize(
    ("target", "variable"),
    [
        ("report", "BASE"),
        ("gate", "BASE"),
        ("reproduce", "REV"),
        ("push", "REMOTE"),
        ("pull", "REMOTE"),
        ("sweep", "SPEC"),
        ("sweep", "JOBS"),
        ("compare", "TOP"),
        ("promote", "BRANCH"),
    ],
)
@pytest.mark.parametrize(
    "template",
    ["main;touch {marker}", "x'; touch {marker}; echo '", "$(shell touch {marker})", "`touch {marker}`"],
    ids=["semicolon", "quote", "make-function", "backticks"],
)
def test_a_value_given_to_make_reaches_the_tool_as_one_argument(tmp_path, target, variable, template):
    """The real Makefile runs with stand-ins for python and dvc that record their arguments."""
    marker = tmp_path / "injected"
    value = template.format(marker=marker)
    extra = ["REV=HEAD"] if target == "reproduce" and variable != "REV" else []
    recorded = make_with_stand_ins(tmp_path, target, f"{variable}={value}", *extra)

    assert not marker.exists()
    assert recorded and all(value in call for call in recorded), recorded


def make_with_stand_ins(tmp_path: Path, target: str, *assignments: str) -> list[list[str]]:
    """Run the real Makefile's ``target`` with stand-ins for python and dvc; the calls they got."""
    calls, stubs = tmp_path / "calls.jsonl", tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for name in ("python", "dvc"):
        (stubs / name).write_text(STUB.format(python=sys.executable))
        (stubs / name).chmod(0o755)
    workdir = tmp_path / "work"  # no .venv here: the Makefile's PATH then finds the stand-ins
    workdir.mkdir(exist_ok=True)
    command = ["make", "-s", "-C", str(workdir), "-f", str(REPO_ROOT / "Makefile")]
    command += ["-o", ".venv/.installed-from-requirements", target, *assignments]
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}", "CALLS_LOG": str(calls)}
    env = {key: value for key, value in env.items() if key not in MAKE_VARIABLES}
    adapter.run(command, cwd=tmp_path, env=env)
    return [json.loads(line) for line in calls.read_text().splitlines()]


CORES = len(os.sched_getaffinity(0))  # what `nproc` counts
MAKE_VARIABLES = {"BASE", "SPEC", "JOBS", "TOP", "MODEL", "OUT", "PORT", "INPUT", "REMOTE"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "assignments", "expected"),
    [
        ("report", [], ["-m", "src.review.report", "--base", "main"]),
        ("gate", [], ["-m", "src.review.gate", "--base", "main"]),
        (
            "sweep",
            [],
            ["-m", "src.experiments.sweep", "--spec", "sweeps/default.yaml", "--jobs", str(CORES)],
        ),
        ("compare", [], ["-m", "src.experiments.sweep", "--compare", "--top", "3"]),
        (
            "score",
            ["INPUT=drop"],
            ["-m", "src.serving.batch", "--model", "prod", "--input", "drop", "--out", "scored.parquet"],
        ),
        ("serve", [], ["-m", "src.serving.service", "--model", "prod", "--port", "8000"]),
    ],
)
def test_a_value_not_given_to_make_is_its_documented_default(tmp_path, target, assignments, expected):
    recorded = make_with_stand_ins(tmp_path, target, *assignments)
    assert recorded[-1] == ["python", *expected]
