"""Sweeps of real ``dvc exp run --temp`` experiments, two at a time, on the 20,000-flight sample.

One sweep (four configurations that work and one that fails at run time, two jobs) is
shared by the tests that read its results; promotion and sharing work on copies of it.
Fewer boosting iterations and a cheaper permutation importance keep it quick, and the
Ctrl-C test runs the sweep runner on a toy pipeline whose stage only sleeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from src.dvc import stages_ran
from src.sandbox import REPO_ROOT, command_env, dvc, git, run, tree_snapshot

pytestmark = pytest.mark.slow

LR = "train.hist_gradient_boosting.learning_rate"
LEAVES = "train.hist_gradient_boosting.max_leaf_nodes"
QUICK = [
    "train.hist_gradient_boosting.max_iter=20",
    "evaluate.importance_repeats=1",
    "evaluate.importance_rows=500",
]
UPSTREAM = ("ingest", "validate", "featurize", "split")
#: Workspace files an experiment must never touch.
WORKSPACE = ("params.yaml", "dvc.lock", "metrics", "models", "data/split", "data/predictions")
LOGS = Path(".dvc/tmp/sweep/logs")
#: The line DVC prints before each experiment a process reproduces.
REPRODUCING = re.compile(r"^Reproducing experiment '([^']+)'\n", re.MULTILINE)
SWEEP_TIMEOUT = 900


def write_spec(path: Path, grids: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"grids": grids}, sort_keys=False))
    return path


def sweep_command(spec: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "src.experiments.sweep", "--spec", str(spec), *extra]
    for override in QUICK:
        args += ["--set", override]
    return args


def exp_show(project: Path) -> dict[str, dict]:
    """Experiments of HEAD by name: state, commit, (learning rate, leaves), evaluation metrics."""
    payload = json.loads(dvc(project, "exp", "show", "--json").stdout)
    head = next(entry for entry in payload if entry["rev"] != "workspace")
    experiments = {}
    for entry in head.get("experiments") or []:
        revision = entry["revs"][0]
        data = revision["data"]
        hgb = data["params"]["params.yaml"]["data"]["train"]["hist_gradient_boosting"]
        experiments[entry["name"]] = {
            "state": (entry.get("executor") or {}).get("state")
            or ("failed" if revision["error"] else "success"),
            "rev": revision["rev"],
            "params": (hgb["learning_rate"], hgb["max_leaf_nodes"]),
            "metrics": data["metrics"]["metrics/evaluate/metrics.json"]["data"],
        }
    return experiments


def copy_repo(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, symlinks=True)
    return destination


@pytest.fixture(scope="module")
def swept(sample_project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The sample project after one sweep: 2 x 2 boosting grid, plus a learning rate of inf."""
    work = tmp_path_factory.mktemp("sweep")
    project = copy_repo(sample_project_template, work / "project")
    spec = write_spec(
        work / "spec.yaml",
        [
            {"name": "boosting", "set": [f"{LR}=0.05,0.2", f"{LEAVES}=15,63"]},
            # Infinity passes params.py (a positive float) and fails in scikit-learn.
            {"name": "broken on purpose", "set": [f"{LR}=inf"]},
        ],
    )
    before = tree_snapshot(project, *WORKSPACE)
    result = run(sweep_command(spec, "--jobs", "2"), project, check=False)
    return SimpleNamespace(
        project=project,
        result=result,
        output=result.stdout + result.stderr,
        before=before,
        experiments=exp_show(project),
    )


def test_sweep_finishes_the_others_and_reports_the_failed_one(swept):
    experiments = swept.experiments

    assert swept.result.returncode == 1, swept.output
    # DVC does not list a failed --temp run: the sweep knows of it from its exit status.
    assert sorted(experiments) == ["boosting-1", "boosting-2", "boosting-3", "boosting-4"]
    assert "1 of 5 experiment(s) did not finish: broken-on-purpose-1" in swept.output
    assert f"broken-on-purpose-1 failed ({LR}=inf" in swept.output
    assert "must be a float in the range (0.0, inf). Got inf instead" in swept.output  # its log, shown
    # The four others ran to the end, each with its own parameters and its own results.
    assert all(e["state"] == "success" for e in experiments.values())
    assert sorted(e["params"] for e in experiments.values()) == [(0.05, 15), (0.05, 63), (0.2, 15), (0.2, 63)]
    assert len({e["metrics"]["validation"]["roc_auc"] for e in experiments.values()}) == 4
    assert len({e["metrics"]["test"]["log_loss"] for e in experiments.values()}) == 4
    # Every configuration is accounted for in the summary...
    outcomes = dict(
        re.findall(r"^\| (\S+) +\|.*\| (success|exited [^|]*?) +\|", swept.result.stdout, re.MULTILINE)
    )
    # Exit 0 and not listed when another process took its entry from DVC's shared stash and ran it.
    assert outcomes.pop("broken-on-purpose-1") in (
        "exited 255",
        "exited 0, but `dvc exp show` does not list it",
    )
    assert outcomes == dict.fromkeys(experiments, "success")
    # ... and the closing table lists the finished ones, best validation score first.
    closing = swept.result.stdout.split("#### train.model = ", 1)[1]
    listed = [
        cells[0]
        for cells in (line.strip("|").split("|") for line in closing.splitlines() if line.startswith("| "))
        if cells[0].strip() not in ("Experiment",) and not cells[0].strip().endswith("(baseline)")
    ]
    listed = [name.strip() for name in listed]
    assert sorted(listed) == sorted(experiments)
    metric, sign = selection_metric(swept.project)
    scores = [sign * experiments[name]["metrics"]["validation"][metric] for name in listed]
    assert scores == sorted(scores, reverse=True)


def own_part(log: str, name: str) -> str:
    """What an experiment's log shows of its own run, without entries its process took over.

    After its own experiment, a ``dvc exp run --temp`` process also runs any entry another
    one has just recorded in DVC's shared stash (docs/decisions/sweep-runner.md); DVC
    heads that run with the other experiment's name.
    """
    parts = REPRODUCING.split(log)  # text, name, text, name, text ...
    return parts[0] + "".join(
        text for other, text in zip(parts[1::2], parts[2::2], strict=True) if other == name
    )


def test_upstream_stages_ran_once_not_per_experiment(swept):
    counts: Counter = Counter()
    own_counts: Counter = Counter()
    for name in [*swept.experiments, "broken-on-purpose-1"]:
        log = (swept.project / LOGS / f"{name}.log").read_text()
        ran = stages_ran(own_part(log, name))
        # train, then what depends on it; the failed one stops at train.
        assert ran[:2] == (["train", "evaluate"] if name in swept.experiments else ["train"]), (name, log)
        assert not set(stages_ran(log)) & set(UPSTREAM), (name, log)
        for stage in UPSTREAM:  # restored from the baseline's cached outputs
            assert f"Stage '{stage}' didn't change, skipping" in log
        own_counts.update(ran)
        counts.update(stages_ran(log))
    assert (own_counts["train"], own_counts["evaluate"]) == (5, 4)
    shown = ", ".join(f"{stage} x{count}" for stage, count in sorted(counts.items()))
    assert f"stage runs inside the sweep's experiments: {shown}" in swept.output


def test_sweep_leaves_the_workspace_and_lock_untouched(swept):
    assert tree_snapshot(swept.project, *WORKSPACE) == swept.before
    assert git(swept.project, "status", "--porcelain").stdout == ""
    assert git(swept.project, "stash", "list").stdout == ""


def selection_metric(project: Path) -> tuple[str, int]:
    """``select.metric`` and its direction: 1 when higher is better, -1 when lower is."""
    metric = yaml.safe_load((project / "params.yaml").read_text())["select"]["metric"]
    return metric, -1 if metric in {"log_loss", "brier"} else 1


def test_promotion_commits_the_best_validation_experiment(swept, tmp_path):
    project = copy_repo(swept.project, tmp_path / "project")
    metric, sign = selection_metric(project)
    succeeded = swept.experiments
    # Best by validation score; on a tie, the first name.
    best = min(sorted(succeeded), key=lambda name: -sign * succeeded[name]["metrics"]["validation"][metric])
    head_before = git(project, "rev-parse", "HEAD").stdout.strip()

    # A branch first: the workspace stays as it is.
    branched = run(
        [sys.executable, "-m", "src.experiments.promote", "--branch", "promoted", "--allow-worse"], project
    )
    assert (
        git(project, "show", "promoted:dvc.lock").stdout
        == git(project, "show", f"{succeeded[best]['rev']}:dvc.lock").stdout
    )
    assert git(project, "status", "--porcelain").stdout == ""
    assert best in branched.stderr

    promoted = run([sys.executable, "-m", "src.experiments.promote", "--allow-worse"], project)

    assert (
        f"Promote experiment {best}: validation {metric}" in git(project, "log", "-1", "--format=%B").stdout
    )
    assert git(project, "rev-parse", "HEAD~1").stdout.strip() == head_before
    for path in ("dvc.lock", "params.yaml", "metrics/evaluate/metrics.json"):
        assert (
            git(project, "show", f"HEAD:{path}").stdout
            == git(project, "show", f"{succeeded[best]['rev']}:{path}").stdout
        )
    assert git(project, "status", "--porcelain").stdout == ""
    assert json.loads(dvc(project, "status", "--json").stdout) == {}
    assert "Running stage" not in dvc(project, "repro").stdout
    assert "`dvc status`: up to date" in promoted.stderr


def test_promotion_refuses_an_experiment_that_does_not_beat_the_commit(swept, tmp_path):
    project = copy_repo(swept.project, tmp_path / "project")
    metric, sign = selection_metric(project)
    scores = [sign * e["metrics"]["validation"][metric] for e in swept.experiments.values()]
    head = sign * json.loads((project / "metrics/evaluate/metrics.json").read_text())["validation"][metric]

    result = run([sys.executable, "-m", "src.experiments.promote"], project, check=False)

    if max(scores) > head:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert "nothing promoted" in result.stderr
        assert git(project, "status", "--porcelain").stdout == ""


def test_a_colleague_gets_an_experiment_through_the_remotes(swept, tmp_path):
    project = copy_repo(swept.project, tmp_path / "project")
    origin, storage = tmp_path / "origin.git", tmp_path / "dvc-storage"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")
    dvc(project, "remote", "modify", "--local", "local", "url", str(storage))
    name, shared = sorted(swept.experiments.items())[0]

    dvc(project, "exp", "push", "origin", name)

    colleague = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", "--branch", "main", str(origin), str(colleague))
    dvc(colleague, "remote", "modify", "--local", "local", "url", str(storage))
    assert name not in exp_show(colleague)
    dvc(colleague, "exp", "pull", "origin", name)
    seen = exp_show(colleague)[name]
    assert seen["params"] == shared["params"]
    assert seen["metrics"]["validation"] == shared["metrics"]["validation"]
    dvc(colleague, "exp", "apply", name)
    assert json.loads(dvc(colleague, "status", "--json").stdout) == {}
    assert (colleague / "dvc.lock").read_text() == git(project, "show", f"{shared['rev']}:dvc.lock").stdout


def test_unknown_parameter_path_is_rejected_before_anything_runs(sample_project, tmp_path):
    spec = write_spec(
        tmp_path / "spec.yaml",
        [
            {"name": "fine", "set": [f"{LR}=0.05,0.2"]},
            {"name": "typo", "set": ["train.hist_gradient_boosting.learnig_rate=0.1"]},
        ],
    )

    result = run(sweep_command(spec), sample_project, check=False)

    assert result.returncode == 1
    assert "train.hist_gradient_boosting.learnig_rate: unknown parameter path" in result.stderr
    assert "nothing was run" in result.stderr
    assert exp_show(sample_project) == {}
    assert not (sample_project / LOGS).exists()
    assert git(sample_project, "status", "--porcelain").stdout == ""


@pytest.fixture
def toy_project(tmp_path: Path) -> Path:
    """A git + DVC repository with the real params.yaml and one cheap stage reading ``train``.

    The sweep runner's handling of Ctrl-C does not depend on what the stages compute,
    so a stage that sleeps a few seconds stands in for the pipeline here.
    """
    project = tmp_path / "toy"
    project.mkdir()
    shutil.copy2(REPO_ROOT / "params.yaml", project / "params.yaml")
    stage = "import time, yaml; time.sleep(8); open('model.txt', 'w').write(str(yaml.safe_load(open('params.yaml'))['train']))"
    (project / "dvc.yaml").write_text(
        yaml.safe_dump(
            {"stages": {"train": {"cmd": f'python -c "{stage}"', "params": ["train"], "outs": ["model.txt"]}}}
        )
    )
    git(project, "init", "-q", "-b", "main")
    dvc(project, "init", "-q")
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "toy pipeline")
    return project


def test_ctrl_c_stops_the_experiments_leaves_the_workspace_alone_and_resume_finishes(toy_project, tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", [{"name": "rates", "set": [f"{LR}=0.05,0.1,0.2"]}])
    files = ("params.yaml", "dvc.lock", "model.txt")
    before = tree_snapshot(toy_project, *files)
    # `src` comes from this repository; params.yaml and dvc.yaml from the toy's directory.
    env = command_env(PYTHONPATH=str(REPO_ROOT))
    # Its own session, so that Ctrl-C can be sent as a terminal sends it: to the group.
    sweep = subprocess.Popen(
        sweep_command(spec, "--jobs", "2"),
        cwd=toy_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    logs = [toy_project / LOGS / f"rates-{index}.log" for index in (1, 2)]
    try:
        deadline = time.monotonic() + SWEEP_TIMEOUT
        while not all(log.is_file() and stages_ran(log.read_text()) for log in logs):
            assert sweep.poll() is None and time.monotonic() < deadline, "the experiments never started"
            time.sleep(0.5)
        os.killpg(sweep.pid, signal.SIGINT)
        _, stderr = sweep.communicate(timeout=180)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)

    assert sweep.returncode == 130, stderr
    assert "interrupted: stopping rates-1, rates-2" in stderr
    assert "the workspace and dvc.lock are as they were" in stderr
    assert "python -m src.experiments.sweep --resume" in stderr
    assert tree_snapshot(toy_project, *files) == before
    assert git(toy_project, "status", "--porcelain").stdout == ""
    assert git(toy_project, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    payload = json.loads(dvc(toy_project, "exp", "show", "--json").stdout)
    assert not next(entry for entry in payload if entry["rev"] != "workspace").get("experiments")
    assert list((toy_project / ".dvc/tmp/exps/standalone").glob("tmp*")) == []  # DVC removed its copies

    resumed = run(
        [sys.executable, "-m", "src.experiments.sweep", "--resume"],
        toy_project,
        check=False,
        PYTHONPATH=str(REPO_ROOT),
    )

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming: 3 of 3 configuration(s) left to run" in resumed.stderr
    payload = json.loads(dvc(toy_project, "exp", "show", "--json").stdout)
    experiments = next(entry for entry in payload if entry["rev"] != "workspace")["experiments"]
    assert {entry["name"]: entry["revs"][0]["error"] for entry in experiments} == dict.fromkeys(
        ["rates-1", "rates-2", "rates-3"], None
    )
    assert tree_snapshot(toy_project, *files) == before
