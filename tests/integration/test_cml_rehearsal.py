"""A rehearsal of .github/workflows/cml.yaml, because CML and Actions cannot run here.

The test reads the workflow, and runs the ``run:`` steps of its report job in order,
as GitHub would (``bash -eo pipefail``, job and step ``env:``, ``if:`` conditions), in a
fresh clone of a repository with a ``main`` branch and a feature branch that changes a
training parameter. The remote is moto's S3 server on loopback; ``cml`` is a stand-in
first on ``PATH`` that records its arguments and the Markdown file it was given.

Steps that exist only on GitHub (``uses:`` actions) are skipped by name. Every ``run:``
step, expression-valued ``env:`` entry and ``if:`` condition must be known to the maps
below, so a step added to the workflow without its rehearsal fails this test.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from src import dvc as adapter
from src.sandbox import REPO_ROOT, command_env, dvc, git, read_params, run, set_params

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "cml.yaml"
JOB = "report"
BUCKET = "rehearsal-dvc"
CHANGED_PARAMETER = "train.hist_gradient_boosting.max_iter"
#: Stages downstream of a train parameter: the only ones that may run.
DOWNSTREAM_OF_TRAIN = ["train", "evaluate"]


@dataclass(frozen=True)
class Case:
    """Who opened the pull request, as far as the workflow can tell."""

    same_repository: bool
    has_aws_role: bool

    @property
    def use_remote(self) -> bool:
        return self.same_repository and self.has_aws_role


SAME_REPOSITORY = Case(same_repository=True, has_aws_role=True)
FORK = Case(same_repository=False, has_aws_role=True)


def flag(value: bool) -> str:
    return "true" if value else "false"


#: Values GitHub would give the job's expression-valued ``env:`` entries.
JOB_ENV: dict[str, Callable[[Case], str]] = {
    "BASE_REF": lambda case: "origin/main",
    "SAME_REPOSITORY": lambda case: flag(case.same_repository),
    "USE_REMOTE": lambda case: flag(case.use_remote),
}

#: Every ``if:`` the report job uses, evaluated on the job's environment.
CONDITIONS: dict[str, Callable[[dict[str, str]], bool]] = {
    "env.USE_REMOTE == 'true'": lambda env: env["USE_REMOTE"] == "true",
    "env.USE_REMOTE != 'true'": lambda env: env["USE_REMOTE"] != "true",
    "env.SAME_REPOSITORY == 'true'": lambda env: env["SAME_REPOSITORY"] == "true",
}

#: ``uses:`` steps: GitHub's own machinery, stood in for by the test's setup.
GITHUB_ONLY_STEPS = {
    "Check out with full history": "the test clones the repository with its history",
    "Set up Python": "the test's interpreter is the job's Python",
    "Set up CML": "a stand-in cml is first on PATH",
    "Assume the AWS role": "the moto server's test credentials are in the environment",
    "Upload the report and its pictures": "the test reads reports/ directly",
}


@dataclass(frozen=True)
class RunStep:
    """How the rehearsal runs one ``run:`` step."""

    #: Values for the step's expression-valued ``env:`` entries.
    env: dict[str, Callable[[Path], str]] = field(default_factory=dict)
    #: The exact script of a step the rehearsal does not execute, and why.
    skip_script: str | None = None


RUN_STEPS: dict[str, RunStep] = {
    "Install the pinned requirements": RunStep(
        skip_script="python -m pip install --require-hashes -r requirements.txt",
    ),
    "Use the S3 remote": RunStep(env={"DVC_S3_BUCKET": lambda workspace: BUCKET}),
    "Reproduce, pulling what did not change": RunStep(),
    "Reproduce from scratch (no remote)": RunStep(),
    "Push outputs and run-cache": RunStep(),
    "Build the report": RunStep(),
    "Post the report as the pull-request comment": RunStep(env={"REPO_TOKEN": lambda workspace: "rehearsal"}),
    "Write the report to the job summary": RunStep(),
    "Gate": RunStep(),
}

STAND_IN_CML = """#!{python}
# Stand-in for CML: records its arguments and the Markdown file it was given.
import json, os, sys
markdown = [arg for arg in sys.argv[1:] if arg.endswith(".md")]
record = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "files": {{}}}}
for name in markdown:
    path = os.path.abspath(name)
    record["files"][path] = open(path, encoding="utf-8").read()
with open(os.environ["CML_REHEARSAL_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
print("https://github.com/example/repo/pull/1#issuecomment-1")
"""


def report_job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"][JOB]


def has_expression(value: object) -> bool:
    return isinstance(value, str) and "${{" in value


@dataclass
class StepResult:
    name: str
    returncode: int
    output: str


def rehearse(workspace: Path, case: Case, environment: dict[str, str]) -> list[StepResult]:
    """Run the report job's ``run:`` steps in ``workspace``; return what each did."""
    job = report_job()
    shell = job.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash", "the rehearsal runs steps as GitHub's `shell: bash` does"
    job_env = {}
    for key, value in job.get("env", {}).items():
        if has_expression(value):
            assert key in JOB_ENV, f"job env {key} = {value!r} has no rehearsal value"
            job_env[key] = JOB_ENV[key](case)
        else:
            job_env[key] = str(value)

    results = []
    for index, step in enumerate(job["steps"]):
        name = step.get("name")
        assert name, f"step {index} has no name: the rehearsal finds steps by name"
        if "uses" in step:
            assert name in GITHUB_ONLY_STEPS, f"uses: step {name!r} is not known to the rehearsal"
            continue
        assert name in RUN_STEPS, f"run: step {name!r} is not known to the rehearsal"
        how = RUN_STEPS[name]
        condition = step.get("if")
        if condition is not None:
            assert condition in CONDITIONS, f"step {name!r}: condition {condition!r} is not known"
            if not CONDITIONS[condition](job_env):
                continue
        if how.skip_script is not None:
            assert step["run"].strip() == how.skip_script, f"step {name!r} changed: update its rehearsal"
            continue
        step_env = {}
        for key, value in step.get("env", {}).items():
            if has_expression(value):
                assert key in how.env, f"step {name!r}: env {key} = {value!r} has no rehearsal value"
                step_env[key] = how.env[key](workspace)
            else:
                step_env[key] = str(value)
        assert not has_expression(step["run"]), f"step {name!r}: expressions belong in env:, not run:"
        script = workspace.parent / f"step-{index}.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={**environment, **job_env, **step_env},
            capture_output=True,
            text=True,
        )
        results.append(StepResult(name, result.returncode, result.stdout + result.stderr))
        assert result.returncode == 0, f"step {name!r} failed:\n{result.stdout}\n{result.stderr}"
    return results


def test_every_step_of_the_report_job_is_known_to_the_rehearsal():
    """Fast guard (the slow rehearsals check it too): workflow and rehearsal name the same steps."""
    steps = report_job()["steps"]
    run_names = {step["name"] for step in steps if "run" in step}
    uses_names = {step["name"] for step in steps if "uses" in step}
    assert run_names == set(RUN_STEPS)
    assert uses_names == set(GITHUB_ONLY_STEPS)
    assert {step["if"] for step in steps if "if" in step} <= set(CONDITIONS)


# --- the repository a pull request is opened against ----------------------------------


@dataclass(frozen=True)
class Origin:
    path: Path
    #: How the pull request's description of the change must read in the report.
    change: str


@pytest.fixture
def origin(sample_project: Path, s3_endpoint) -> Origin:
    """main (reproduced, its outputs and run-cache pushed to S3) and a feature branch.

    The feature branch changes one training parameter (fewer boosting iterations: fast,
    and no worse on a sample) and commits nothing else, as a pull request that leaves
    reproduction to CI does.
    """
    s3_endpoint.create_bucket(BUCKET)
    dvc(sample_project, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/flight-delays")
    dvc(sample_project, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    dvc(sample_project, "push", "--remote", "s3", "--run-cache", **s3_endpoint.env)
    git(sample_project, "checkout", "-q", "-b", "feature")
    before = read_params(sample_project)["train"]["hist_gradient_boosting"]["max_iter"]
    after = max(10, before * 3 // 10)
    set_params(sample_project, **{CHANGED_PARAMETER: after})
    git(sample_project, "commit", "-q", "-am", "Fewer boosting iterations")
    return Origin(sample_project, f"`{CHANGED_PARAMETER}` {before} → {after}")


def runner_workspace(origin: Origin, directory: Path) -> Path:
    """What actions/checkout leaves: a clone at the pull request's head, origin/main fetched."""
    workspace = directory / "workspace"
    git(directory, "clone", "-q", "--branch", "feature", str(origin.path), str(workspace))
    return workspace


def runner_environment(directory: Path, aws_env: dict[str, str]) -> dict[str, str]:
    """The job's process environment: stand-in cml first on PATH, a step-summary file."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    cml = bin_dir / "cml"
    cml.write_text(STAND_IN_CML.format(python=sys.executable))
    cml.chmod(cml.stat().st_mode | stat.S_IEXEC)
    environment = {key: value for key, value in command_env().items() if not key.startswith("AWS_")}
    environment.update(
        GITHUB_STEP_SUMMARY=str(directory / "step-summary.md"),
        CML_REHEARSAL_LOG=str(directory / "cml-calls.jsonl"),
        **aws_env,
    )
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment['PATH']}"
    return environment


def no_aws_env(directory: Path) -> dict[str, str]:
    """A fork's job: no credentials anywhere (empty AWS files, no keys in the environment)."""
    (directory / "aws-empty").write_text("")
    return {
        "AWS_CONFIG_FILE": str(directory / "aws-empty"),
        "AWS_SHARED_CREDENTIALS_FILE": str(directory / "aws-empty"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def image_links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)


def cml_calls(directory: Path) -> list[dict]:
    path = directory / "cml-calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the rehearsals -----------------------------------------------------------------------


@pytest.mark.slow
def test_pull_request_from_the_repository_reruns_what_changed_and_posts_the_report(
    origin: Origin, s3_endpoint, tmp_path: Path
):
    runner = tmp_path / "runner"
    runner.mkdir()
    workspace = runner_workspace(origin, runner)
    dvc(workspace, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    before = s3_endpoint.objects(BUCKET)

    results = rehearse(workspace, SAME_REPOSITORY, runner_environment(runner, s3_endpoint.env))

    ran = [result.name for result in results]
    assert "Reproduce, pulling what did not change" in ran
    assert "Reproduce from scratch (no remote)" not in ran
    repro_log = (workspace / "reports" / "repro.log").read_text()
    assert adapter.stages_ran(repro_log) == DOWNSTREAM_OF_TRAIN
    # Upstream outputs were not needed, so not even pulled: restored means untouched.
    assert not (workspace / "data" / "raw").exists()

    report_path = workspace / "reports" / "report.md"
    report = report_path.read_text()
    calls = cml_calls(runner)
    assert len(calls) == 1
    call = calls[0]
    assert call["argv"][:2] == ["comment", "update"]
    assert "--target=pr" in call["argv"]
    assert call["files"] == {str(report_path): report}

    head = report.splitlines()[:5]
    assert "**Warning:**" not in report  # data not pulled is not staleness
    assert any(line.startswith("**Verdict: ") and "test roc_auc" in line for line in head), head
    assert origin.change in report
    assert "re-run: train, evaluate;" in report
    assert "restored from cache: ingest, validate, featurize, split" in report
    for metric in ("validation.roc_auc", "test.roc_auc", "test.average_precision"):
        assert re.search(
            rf"^\| {re.escape(metric)} +\| +0\.\d{{4}} \| +0\.\d{{4}} \| +[+-]0\.\d{{4}} \|$", report, re.M
        )
    assert "Paired bootstrap over the" in report  # the base's predictions came from S3
    links = image_links(report)
    assert {"roc.png", "precision_recall.png"} <= set(links)
    assert any(link.startswith("base_confusion_matrix") for link in links)
    assert any(link.startswith("branch_confusion_matrix") for link in links)
    for link in links:
        assert (report_path.parent / link).is_file(), link

    assert (runner / "step-summary.md").read_text() == report
    after = s3_endpoint.objects(BUCKET)
    pushed = set(after) - set(before)
    assert any("/runs/" in key for key in pushed), "the run-cache of the new runs was not pushed"
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())
    model_md5 = next(
        out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.pkl"
    )
    assert any(key.endswith(f"{model_md5[:2]}/{model_md5[2:]}") for key in pushed), "new model not pushed"


@pytest.mark.slow
def test_pull_request_from_a_fork_rebuilds_without_the_remote_and_pushes_nothing(
    origin: Origin, s3_endpoint, tmp_path: Path
):
    runner = tmp_path / "runner"
    runner.mkdir()
    workspace = runner_workspace(origin, runner)
    before = s3_endpoint.objects(BUCKET)

    results = rehearse(workspace, FORK, runner_environment(runner, no_aws_env(runner)))

    ran = [result.name for result in results]
    assert "Reproduce from scratch (no remote)" in ran
    assert not {
        "Use the S3 remote",
        "Push outputs and run-cache",
        "Post the report as the pull-request comment",
    } & set(ran)
    repro_log = (workspace / "reports" / "repro.log").read_text()
    assert adapter.stages_ran(repro_log) == [
        "ingest",
        "validate",
        "featurize",
        "split",
        *DOWNSTREAM_OF_TRAIN,
    ]

    assert cml_calls(runner) == []
    assert s3_endpoint.objects(BUCKET) == before
    report = (workspace / "reports" / "report.md").read_text()
    assert (runner / "step-summary.md").read_text() == report
    assert origin.change in report
    assert "No confidence interval: the base's predictions" in report
    for link in image_links(report):
        assert (workspace / "reports" / link).is_file(), link
    assert run(["git", "status", "--porcelain", "--", ".dvc/config"], workspace).stdout == ""
