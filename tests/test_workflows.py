"""The GitHub workflows pass zizmor and the workflow schema, and keep the security rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from src.sandbox import REPO_ROOT, VENV_BIN, run

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yaml"))
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the key `on` as True.
    on = workflow.get("on", workflow.get(True))
    return on if isinstance(on, dict) else {name: None for name in ([on] if isinstance(on, str) else on)}


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


def test_the_expected_workflows_exist():
    assert {path.name for path in WORKFLOWS} >= {
        "ci.yaml",
        "cml.yaml",
        "release.yaml",
        "sweep.yaml",
        "monitor.yaml",
    }


@pytest.mark.slow
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_zizmor_finds_nothing(path: Path):
    result = run([str(VENV_BIN / "zizmor"), "--offline", "--no-progress", str(path)], REPO_ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_the_github_workflow_schema(path: Path):
    result = run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_security_rules(path: Path):
    text, workflow = path.read_text(), load(path)
    assert not {"pull_request_target", "workflow_run"} & set(triggers(workflow))
    assert workflow["permissions"] == {}, "no workflow-wide token permissions: each job states its own"
    for line in text.splitlines():
        if re.match(r"^\s*(-\s+)?uses:", line):
            assert PINNED.match(line), f"not pinned to a full commit SHA with its version: {line.strip()}"
    for job_name, job, step in steps(workflow):
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{job_name}: no permissions block"
        if "run" in step:
            assert "${{" not in step["run"], f"{step.get('name')}: expressions belong in env:, not run:"
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        if uses.startswith("aws-actions/configure-aws-credentials@"):
            assert set(step["with"]) <= {
                "role-to-assume",
                "aws-region",
                "output-credentials",
                "output-env-credentials",
            }, "OIDC role only, no stored keys"
            assert re.fullmatch(r"\$\{\{ vars\.AWS_(\w+_)?ROLE_ARN \}\}", step["with"]["role-to-assume"])
    assert "secrets." not in text, "no stored secrets: OIDC for AWS, the job token for comments"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_write_permissions_only_where_they_are_used(path: Path):
    for job_name, job in load(path)["jobs"].items():
        job_steps = job.get("steps", [])
        runs = "\n".join(step.get("run", "") for step in job_steps)
        uses = [step.get("uses", "") for step in job_steps]
        permissions = job["permissions"]
        comments = "cml comment" in runs or "gh pr create" in runs
        assert (permissions.get("pull-requests") == "write") == comments, job_name
        reaches_aws = any(use.startswith("aws-actions/configure-aws-credentials@") for use in uses)
        assert (permissions.get("id-token") == "write") == reaches_aws, job_name
        # Only two kinds of job write to the repository: the sweep's runners (`dvc exp push`:
        # experiment refs) and the monitor's retrain job (git push of a branch).
        pushes_experiments = "python -m src.experiments.fanout push" in runs
        pushes_branch = re.search(r"^\s*git\b.* push ", runs, re.M) is not None
        writes = pushes_experiments or pushes_branch
        assert permissions.get("contents") == ("write" if writes else "read"), job_name
        assert set(permissions) <= {"contents", "pull-requests", "id-token"}, job_name


def test_superseded_runs_are_cancelled_for_pull_requests_only():
    for name in ("ci.yaml", "cml.yaml"):
        concurrency = load(REPO_ROOT / ".github" / "workflows" / name)["concurrency"]
        assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}", name
        assert "github.event_name" in concurrency["group"], f"{name}: main and pull requests share no group"


HASHED_INSTALLS = WORKFLOWS  # every install step, release.yaml included


def test_installs_use_hashed_artifacts_only():
    for path in HASHED_INSTALLS:
        for _, _, step in steps(load(path)):
            if "pip install" in step.get("run", ""):
                assert step["run"].split("\n")[:2] == [
                    "python -m pip install --require-hashes -r requirements-build.txt",
                    "python -m pip install --require-hashes --no-build-isolation -r requirements.txt",
                ], path.name
            if step.get("with", {}).get("cache") == "pip":
                assert step["with"]["cache-dependency-path"].split() == [
                    "requirements-build.txt",
                    "requirements.txt",
                ], path.name


def test_cml_workflow_posts_one_sticky_comment_and_only_main_pushes():
    workflow = load(REPO_ROOT / ".github" / "workflows" / "cml.yaml")
    assert triggers(workflow) == {"pull_request": {"branches": ["main"]}, "push": {"branches": ["main"]}}
    assert workflow["jobs"]["report"]["if"] == "github.event_name == 'pull_request'"
    assert workflow["jobs"]["publish"]["if"].startswith(
        "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    )
    assert (
        "BASE_SHA: ${{ github.event.pull_request.base.sha }}"
        in (REPO_ROOT / ".github" / "workflows" / "cml.yaml").read_text()
    )
    job_steps = [step for _, _, step in steps(workflow)]
    runs = "\n".join(step.get("run", "") for step in job_steps)
    assert "cml comment update" in runs
    assert not re.search(r"cml (publish|send-comment|comment create)|cml-send-comment|--show-md", runs)
    # CML from its source at a pinned commit, its dependencies from its lockfile (integrity hashes)
    cml_source = next(step for step in job_steps if step.get("with", {}).get("repository") == "iterative/cml")
    assert re.fullmatch(r"[0-9a-f]{40}", cml_source["with"]["ref"])
    assert not any("setup-cml" in step.get("uses", "") for step in job_steps)
    assert "npm ci --prefix .cml" in runs and "npm install" not in runs
    checkout = next(step for step in job_steps if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0, "comparing with the base needs its history"
    names = [step["name"] for step in job_steps]
    assert names.index("Post the report as the pull-request comment") < names.index("Gate"), (
        "the gate fails the job only after the comment is posted"
    )
    comment = next(
        step for step in job_steps if step["name"] == "Post the report as the pull-request comment"
    )
    assert comment["continue-on-error"] is True and comment["id"] == "comment"
    report_steps = workflow["jobs"]["report"]["steps"]
    after = report_steps[report_steps.index(comment) + 1 :]
    assert [step["if"] for step in after][0] == "${{ !cancelled() && steps.comment.outcome == 'failure' }}"
    assert all(step["if"].startswith("${{ !cancelled()") for step in after)


def test_the_monitor_runs_on_a_schedule_and_retrains_only_on_its_decision():
    workflow = load(REPO_ROOT / ".github" / "workflows" / "monitor.yaml")
    assert set(triggers(workflow)) == {"schedule", "workflow_dispatch"}
    monitor, retrain = workflow["jobs"]["monitor"], workflow["jobs"]["retrain"]
    assert monitor["permissions"] == {"contents": "read", "id-token": "write"}
    assert monitor["outputs"]["decision"] == "${{ steps.monitor.outputs.decision }}"
    assert retrain["needs"] == "monitor" and retrain["if"] == "needs.monitor.outputs.decision == 'retrain'"
    runs = "\n".join(step.get("run", "") for step in retrain["steps"])
    # made with the job token, the pull request starts no workflow: its body carries the reports
    assert (
        "--body-file" in runs
        and "GH_TOKEN: ${{ github.token }}"
        in (REPO_ROOT / ".github" / "workflows" / "monitor.yaml").read_text()
    )
    assert "dvc push" not in runs, "only main's publish job writes the remote"
