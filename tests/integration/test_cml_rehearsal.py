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
from src.sandbox import (
    ACCESS_KEY,
    REGION,
    REPO_ROOT,
    SECRET_KEY,
    command_env,
    dvc,
    git,
    read_params,
    run,
    set_params,
)

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "cml.yaml"
JOB = "report"
PUBLISH_JOB = "publish"
BUCKET = "rehearsal-dvc"
CHANGED_PARAMETER = "train.hist_gradient_boosting.max_iter"
#: Stages downstream of a train parameter: the only ones that may run.
DOWNSTREAM_OF_TRAIN = ["train", "evaluate", "replay", "seeds"]
RUN_URL = "https://github.com/example/repo/actions/runs/1"
#: The stand-in's session token: moto accepts any.
SESSION_TOKEN = "rehearsal-session-token"  # noqa: S105


@dataclass(frozen=True)
class Case:
    """Who opened the pull request, as far as the workflow can tell, and the repository's variables."""

    same_repository: bool
    has_aws_role: bool
    #: The repository variable REPORT_IMAGES ("" when unset).
    report_images: str = ""

    @property
    def use_remote(self) -> bool:
        return self.same_repository and self.has_aws_role


SAME_REPOSITORY = Case(same_repository=True, has_aws_role=True)
FORK = Case(same_repository=False, has_aws_role=True)
IMAGES_OFF = Case(same_repository=True, has_aws_role=True, report_images="off")


def flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class Event:
    """What GitHub's expressions would read: the case and the pull request's base commit."""

    case: Case
    base_sha: str = ""


#: Values GitHub would give the jobs' expression-valued ``env:`` entries.
JOB_ENV: dict[str, Callable[[Event], str]] = {
    "BASE_SHA": lambda event: event.base_sha,
    "SAME_REPOSITORY": lambda event: flag(event.case.same_repository),
    "USE_REMOTE": lambda event: flag(event.case.use_remote),
    "REPORT_IMAGES": lambda event: event.case.report_images,
    "RUN_URL": lambda event: RUN_URL,
}

#: Every job-level ``if:``, for the event it is rehearsed on.
JOB_CONDITIONS: dict[str, dict[str, str]] = {
    JOB: {"if": "github.event_name == 'pull_request'", "event": "pull_request"},
    PUBLISH_JOB: {
        "if": "github.event_name == 'push' && github.ref == 'refs/heads/main' && vars.AWS_MAIN_ROLE_ARN != ''",
        "event": "push",
    },
}


@dataclass
class JobState:
    """What GitHub's status functions and ``steps.<id>`` read while a job runs."""

    env: dict[str, str]
    failed: bool = False
    outcomes: dict[str, str] = field(default_factory=dict)


#: Every step ``if:``, evaluated as GitHub does: without a status function, `success() &&` is implied.
CONDITIONS: dict[str, Callable[[JobState], bool]] = {
    "env.USE_REMOTE == 'true'": lambda job: not job.failed and job.env["USE_REMOTE"] == "true",
    "env.USE_REMOTE != 'true'": lambda job: not job.failed and job.env["USE_REMOTE"] != "true",
    "env.SAME_REPOSITORY == 'true'": lambda job: not job.failed and job.env["SAME_REPOSITORY"] == "true",
    "${{ !cancelled() }}": lambda job: True,
    "${{ !cancelled() && steps.comment.outcome == 'failure' }}": lambda job: (
        job.outcomes.get("comment") == "failure"
    ),
}

#: ``uses:`` steps: GitHub's own machinery, stood in for by the test's setup.
GITHUB_ONLY_STEPS = {
    "Check out with full history": "the test clones the repository with its history",
    "Check out main": "the test clones the repository at the merged branch",
    "Set up Python": "the test's interpreter is the job's Python",
    "Check out CML's source": "a stand-in cml is first on PATH",
    "Assume the read-only AWS role": "its step outputs are the moto server's keys (AWS_STEP_ENV)",
    "Assume main's AWS role": "the moto server's keys are in the publish job's environment",
    "Upload the report and its pictures": "the test reads reports/ directly (the paths are checked)",
}

#: Builds CML from npm (no downloads while tests run): the stand-in cml takes its place.
INSTALL_CML = (
    "npm ci --prefix .cml --omit=dev --ignore-scripts --no-audit --no-fund\n"
    'mkdir -p "$RUNNER_TEMP/cml-bin"\n'
    'ln -s "$PWD/.cml/bin/cml.js" "$RUNNER_TEMP/cml-bin/cml"\n'
    'echo "$RUNNER_TEMP/cml-bin" >> "$GITHUB_PATH"'
)

INSTALL = (
    "python -m pip install --require-hashes -r requirements-build.txt\n"
    "python -m pip install --require-hashes --no-build-isolation -r requirements.txt"
)


def aws_step_env(workspace: Path) -> dict[str, Callable[[Path], str]]:
    """The read-only role's keys as configure-aws-credentials' step outputs would give them."""
    return {
        "AWS_ACCESS_KEY_ID": lambda workspace: ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": lambda workspace: SECRET_KEY,
        "AWS_SESSION_TOKEN": lambda workspace: SESSION_TOKEN,
        "AWS_REGION": lambda workspace: REGION,
    }


@dataclass(frozen=True)
class RunStep:
    """How the rehearsal runs one ``run:`` step."""

    #: Values for the step's expression-valued ``env:`` entries.
    env: dict[str, Callable[[Path], str]] = field(default_factory=dict)
    #: The exact script of a step the rehearsal does not execute, and why.
    skip_script: str | None = None


AWS_STEP_ENV = aws_step_env(Path())

RUN_STEPS: dict[str, RunStep] = {
    "Install CML from its lockfile": RunStep(skip_script=INSTALL_CML),
    "Install the pinned requirements": RunStep(skip_script=INSTALL),
    "Use the S3 remote": RunStep(env={"DVC_S3_BUCKET": lambda workspace: BUCKET}),
    "Fetch the base's predictions and seeds": RunStep(env=AWS_STEP_ENV),
    "Reproduce, pulling what did not change": RunStep(env=AWS_STEP_ENV),
    "Reproduce from scratch (no remote)": RunStep(),
    "Build the report": RunStep(),
    "Post the report as the pull-request comment": RunStep(env={"REPO_TOKEN": lambda workspace: "rehearsal"}),
    "Warn that the comment was not posted": RunStep(),
    "Write the report to the job summary": RunStep(),
    "Gate": RunStep(),
    "Reproduce main, pulling what did not change": RunStep(),
    "Push outputs and run-cache": RunStep(),
}

#: Steps that read the remote in the pull-request job: the only ones given AWS keys.
AWS_STEPS = {"Fetch the base's predictions and seeds", "Reproduce, pulling what did not change"}

STAND_IN_CML = """#!{python}
# Stand-in for CML: records its arguments and the Markdown file it was given;
# fails (as an image upload refused would) when CML_REHEARSAL_FAIL is set.
import json, os, sys
markdown = [arg for arg in sys.argv[1:] if arg.endswith(".md")]
record = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "files": {{}}}}
for name in markdown:
    path = os.path.abspath(name)
    record["files"][path] = open(path, encoding="utf-8").read()
with open(os.environ["CML_REHEARSAL_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
if os.environ.get("CML_REHEARSAL_FAIL"):
    sys.exit("Error: Failed to upload image roc.png (rehearsal)")
print("https://github.com/example/repo/pull/1#issuecomment-1")
"""


def load_job(name: str) -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"][name]


def report_job() -> dict:
    return load_job(JOB)


def has_expression(value: object) -> bool:
    return isinstance(value, str) and "${{" in value


@dataclass
class StepResult:
    name: str
    returncode: int
    output: str
    outcome: str
    conclusion: str


@dataclass
class JobRun:
    steps: list[StepResult]
    #: "success" or "failure", as GitHub would mark the job.
    conclusion: str

    def ran(self) -> list[str]:
        return [step.name for step in self.steps]

    def step(self, name: str) -> StepResult:
        return next(step for step in self.steps if step.name == name)


def rehearse(
    workspace: Path,
    event: Event,
    environment: dict[str, str],
    job_name: str = JOB,
    start_at: str | None = None,
) -> JobRun:
    """Run a job's ``run:`` steps in ``workspace`` as GitHub would; return what each did."""
    job = load_job(job_name)
    assert job.get("if") == JOB_CONDITIONS[job_name]["if"], f"job {job_name}: its if: changed"
    shell = job.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash", "the rehearsal runs steps as GitHub's `shell: bash` does"
    job_env = {}
    for key, value in job.get("env", {}).items():
        if has_expression(value):
            assert key in JOB_ENV, f"job env {key} = {value!r} has no rehearsal value"
            job_env[key] = JOB_ENV[key](event)
        else:
            job_env[key] = str(value)

    state = JobState(env=job_env)
    results = []
    started = start_at is None
    for index, step in enumerate(job["steps"]):
        name = step.get("name")
        assert name, f"step {index} has no name: the rehearsal finds steps by name"
        started = started or name == start_at
        if not started:
            continue
        condition = step.get("if")
        if condition is not None:
            assert condition in CONDITIONS, f"step {name!r}: condition {condition!r} is not known"
            runs = CONDITIONS[condition](state)
        else:
            runs = not state.failed
        if "uses" in step:
            assert name in GITHUB_ONLY_STEPS, f"uses: step {name!r} is not known to the rehearsal"
            continue
        assert name in RUN_STEPS, f"run: step {name!r} is not known to the rehearsal"
        if not runs:
            continue
        how = RUN_STEPS[name]
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
        outcome = "success" if result.returncode == 0 else "failure"
        conclusion = "success" if step.get("continue-on-error") is True else outcome
        if "id" in step:
            state.outcomes[step["id"]] = outcome
        state.failed = state.failed or conclusion == "failure"
        results.append(
            StepResult(name, result.returncode, result.stdout + result.stderr, outcome, conclusion)
        )
    return JobRun(results, "failure" if state.failed else "success")


def assert_succeeded(job: JobRun) -> None:
    for step in job.steps:
        assert step.conclusion == "success", f"step {step.name!r} failed:\n{step.output}"
    assert job.conclusion == "success"


def test_every_step_of_the_workflow_is_known_to_the_rehearsal():
    """Fast guard (the slow rehearsals check it too): workflow and rehearsal name the same steps."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert set(jobs) == set(JOB_CONDITIONS)
    steps = [step for job in jobs.values() for step in job["steps"]]
    assert {step["name"] for step in steps if "run" in step} == set(RUN_STEPS)
    assert {step["name"] for step in steps if "uses" in step} == set(GITHUB_ONLY_STEPS)
    assert {step["if"] for step in steps if "if" in step} <= set(CONDITIONS)
    for name, job in jobs.items():
        assert job.get("if") == JOB_CONDITIONS[name]["if"], name


def test_only_main_writes_the_remote_and_only_the_remote_steps_get_credentials():
    """Issue 11: the pull-request job pushes nothing; AWS keys reach only the steps that read S3."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    pull_request, publish = jobs[JOB], jobs[PUBLISH_JOB]
    pr_scripts = "\n".join(step.get("run", "") for step in pull_request["steps"])
    assert "dvc push" not in pr_scripts and "src.remote.run_cache" not in pr_scripts
    publish_scripts = "\n".join(step.get("run", "") for step in publish["steps"])
    assert "dvc push --run-cache" in publish_scripts and "python -m src.remote.run_cache" in publish_scripts
    assert "pull-requests" not in publish["permissions"]

    roles = {
        job_name: next(
            step["with"] for step in job["steps"] if step.get("uses", "").startswith("aws-actions/")
        )
        for job_name, job in jobs.items()
    }
    assert roles[JOB]["role-to-assume"] == "${{ vars.AWS_PR_ROLE_ARN }}"
    assert roles[JOB]["output-env-credentials"] is False and roles[JOB]["output-credentials"] is True
    assert roles[PUBLISH_JOB]["role-to-assume"] == "${{ vars.AWS_MAIN_ROLE_ARN }}"
    for step in pull_request["steps"]:
        keys = {key for key in step.get("env", {}) if key.startswith("AWS_")}
        assert bool(keys) == (step["name"] in AWS_STEPS), step["name"]
        if step["name"] in AWS_STEPS:
            assert "cml" not in step["run"] and "src.review" not in step["run"]
    assert not {key for key in pull_request.get("env", {}) if key.startswith("AWS_")}

    # The artifact holds the report and its pictures only, and dvc's log is not under reports/.
    upload = next(
        step for step in pull_request["steps"] if step.get("uses", "").startswith("actions/upload-artifact")
    )
    assert upload["with"]["path"].split() == ["reports/*.md", "reports/*.png"]
    assert "reports/repro.log" not in WORKFLOW.read_text()


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
    and no worse on a sample) and raises its own gate's floor out of reach, and commits
    nothing else, as a pull request that leaves reproduction to CI does.
    """
    s3_endpoint.create_bucket(BUCKET)
    dvc(sample_project, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/flight-delays")
    dvc(sample_project, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    dvc(sample_project, "push", "--remote", "s3", "--run-cache", **s3_endpoint.env)
    git(sample_project, "checkout", "-q", "-b", "feature")
    before = read_params(sample_project)["train"]["hist_gradient_boosting"]["max_iter"]
    after = max(10, before * 3 // 10)
    # It also sets a floor no model reaches: the job passes only if the base's gate applies.
    set_params(sample_project, **{CHANGED_PARAMETER: after, "gate.floors.roc_auc": 0.99})
    git(sample_project, "commit", "-q", "-am", "Fewer boosting iterations")
    return Origin(sample_project, f"`{CHANGED_PARAMETER}` {before} → {after}")


def runner_workspace(origin: Origin, directory: Path, branch: str = "feature") -> Path:
    """What actions/checkout leaves: a clone at the pull request's head, main's history fetched."""
    workspace = directory / "workspace"
    git(directory, "clone", "-q", "--branch", branch, str(origin.path), str(workspace))
    return workspace


def runner_environment(directory: Path, aws_env: dict[str, str]) -> dict[str, str]:
    """The job's process environment: stand-in cml first on PATH, a step-summary file, RUNNER_TEMP."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    (directory / "temp").mkdir()
    cml = bin_dir / "cml"
    cml.write_text(STAND_IN_CML.format(python=sys.executable))
    cml.chmod(cml.stat().st_mode | stat.S_IEXEC)
    environment = {key: value for key, value in command_env().items() if not key.startswith("AWS_")}
    environment.update(
        GITHUB_STEP_SUMMARY=str(directory / "step-summary.md"),
        RUNNER_TEMP=str(directory / "temp"),
        CML_REHEARSAL_LOG=str(directory / "cml-calls.jsonl"),
        **aws_env,
    )
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment['PATH']}"
    return environment


def no_aws_env(directory: Path) -> dict[str, str]:
    """No credentials in the job's environment (empty AWS files, no keys): a fork's, and the
    pull-request job's outside the steps that get the read-only role's keys."""
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
def test_pull_request_from_the_repository_reads_the_remote_writes_nothing_and_posts_the_report(
    origin: Origin, s3_endpoint, tmp_path: Path
):
    runner = tmp_path / "runner"
    runner.mkdir()
    workspace = runner_workspace(origin, runner)
    dvc(workspace, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    base_sha = git(origin.path, "rev-parse", "main").stdout.strip()
    # main moves on after the pull request was opened: the report must still compare with base.sha.
    git(origin.path, "checkout", "-q", "main")
    git(origin.path, "commit", "-q", "--allow-empty", "-m", "later on main")
    git(workspace, "fetch", "-q", "origin")
    before = s3_endpoint.objects(BUCKET)
    # Credentials only in the two steps that read S3 (AWS_STEP_ENV), none in the job's environment.
    environment = runner_environment(runner, no_aws_env(runner))

    job = rehearse(workspace, Event(SAME_REPOSITORY, base_sha), environment)

    assert_succeeded(job)
    ran = job.ran()
    assert "Reproduce, pulling what did not change" in ran
    assert "Reproduce from scratch (no remote)" not in ran
    assert "Warn that the comment was not posted" not in ran
    repro_log = (runner / "temp" / "repro.log").read_text()
    assert set(adapter.stages_ran(repro_log)) == set(DOWNSTREAM_OF_TRAIN)
    assert not (workspace / "data" / "raw").exists()  # upstream outputs not even pulled
    assert s3_endpoint.objects(BUCKET) == before, "the pull-request job wrote to the shared remote"

    report_path = workspace / "reports" / "report.md"
    report = report_path.read_text()
    assert f"against `{base_sha}`" in report.splitlines()[0]
    assert (
        sorted(path.name for path in (workspace / "reports").iterdir() if path.suffix not in {".md", ".png"})
        == []
    )
    calls = cml_calls(runner)
    assert len(calls) == 1
    assert calls[0]["argv"][:2] == ["comment", "update"] and "--target=pr" in calls[0]["argv"]
    assert calls[0]["files"] == {str(report_path): report}
    assert origin.change in report
    assert "This branch changes its own gate settings: `gate.floors.roc_auc`; the base's apply." in report
    # The base's predictions were fetched by a step with credentials; the report, without any, paired them.
    assert "Paired bootstrap over the" in report
    links = image_links(report)
    assert {"roc.png", "precision_recall.png"} <= set(links)
    for link in links:
        assert (report_path.parent / link).is_file(), link

    summary = (runner / "step-summary.md").read_text()
    assert image_links(summary) == [] and "#### Pictures" not in summary
    assert summary.rstrip().endswith(
        f"Pictures: in the artifact `pull-request-report` of [this run]({RUN_URL})."
    )
    assert summary.splitlines()[0] == report.splitlines()[0]

    # The comment step fails (CML could not upload an image), with REPORT_IMAGES=off: a warning,
    # the later steps still run, the job succeeds; the comment's body has no pictures.
    (runner / "step-summary.md").unlink()
    job = rehearse(
        workspace,
        Event(IMAGES_OFF, base_sha),
        {**environment, "CML_REHEARSAL_FAIL": "1"},
        start_at="Post the report as the pull-request comment",
    )
    comment = job.step("Post the report as the pull-request comment")
    assert (comment.outcome, comment.conclusion) == ("failure", "success")
    warning = job.step("Warn that the comment was not posted")
    assert warning.output.startswith("::warning title=Report comment not posted::")
    assert job.ran()[-2:] == ["Write the report to the job summary", "Gate"]
    assert job.conclusion == "success"
    body = next(iter(cml_calls(runner)[-1]["files"].values()))
    assert image_links(body) == [] and RUN_URL in body
    assert (runner / "step-summary.md").read_text() == body


@pytest.mark.slow
def test_main_job_pushes_outputs_and_run_cache(origin: Origin, s3_endpoint, tmp_path: Path):
    """The publish job on main (the feature branch as if merged) writes the shared remote."""
    runner = tmp_path / "runner"
    runner.mkdir()
    workspace = runner_workspace(origin, runner)
    dvc(workspace, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    before = s3_endpoint.objects(BUCKET)

    job = rehearse(
        workspace, Event(SAME_REPOSITORY), runner_environment(runner, s3_endpoint.env), PUBLISH_JOB
    )

    assert_succeeded(job)
    pushed = set(s3_endpoint.objects(BUCKET)) - set(before)
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
    base_sha = git(origin.path, "rev-parse", "main").stdout.strip()
    before = s3_endpoint.objects(BUCKET)

    job = rehearse(workspace, Event(FORK, base_sha), runner_environment(runner, no_aws_env(runner)))

    assert_succeeded(job)
    ran = job.ran()
    assert "Reproduce from scratch (no remote)" in ran
    assert not {
        "Use the S3 remote",
        "Fetch the base's predictions and seeds",
        "Post the report as the pull-request comment",
    } & set(ran)
    repro_log = (runner / "temp" / "repro.log").read_text()
    assert set(adapter.stages_ran(repro_log)) == {
        "ingest",
        "validate",
        "featurize",
        "split",
        *DOWNSTREAM_OF_TRAIN,
    }

    assert cml_calls(runner) == []
    assert s3_endpoint.objects(BUCKET) == before
    report = (workspace / "reports" / "report.md").read_text()
    summary = (runner / "step-summary.md").read_text()
    assert image_links(summary) == [] and summary.splitlines()[0] == report.splitlines()[0]
    assert origin.change in report
    # No remote, so no base predictions: the report says what it could not assess.
    assert "**Verdict: not assessed (the base's" in report.splitlines()[1]
    assert run(["git", "status", "--porcelain", "--", ".dvc/config"], workspace).stdout == ""
