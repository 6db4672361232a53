"""The sweep fan-out, rehearsed: .github/workflows/sweep.yaml's ``run:`` steps in clones.

GitHub Actions cannot run here, so the test reads the workflow and runs its jobs' ``run:``
steps in order (``bash -eo pipefail``, job and step ``env:``, ``if:`` conditions) as the
runners would: the expand job in one clone, three runner jobs at the same time in three
more clones, the collect job in a fifth. The clones share a bare git repository (the
GitHub repository) and moto's S3 server (the team's DVC remote), where main's outputs
and run-cache were pushed first, as cml.yaml's publish job does. Runner 3 has no AWS
credentials. Then the experiments are compared, bit for bit, with the same
configurations run by ``python -m src.experiments.sweep`` (``make sweep``) on one machine;
a retried runner restores its experiment from the run-cache and is refused the push of
a name the remote already has; an invalid sweep file stops the workflow in expand.

``uses:`` steps are GitHub's machinery (check-out, Python, AWS role, artifacts), stood
in for by the setup; every ``run:`` step and expression must be known to the maps
below, so a step added to the workflow without its rehearsal fails this test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from src import dvc as adapter
from src.experiments.fanout_remote import experiment_ref
from src.sandbox import ACCESS_KEY, REGION, REPO_ROOT, SECRET_KEY, command_env, dvc, git, run

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "sweep.yaml"
BUCKET = "fanout-rehearsal"
LR = "train.hist_gradient_boosting.learning_rate"
#: Cheap experiments: few boosting iterations, a small permutation importance, no extra seeds.
QUICK = [
    "train.hist_gradient_boosting.max_iter=20",
    "evaluate.importance_repeats=1",
    "evaluate.importance_rows=500",
    "noise.extra_seeds=0",
]
RATES = (0.05, 0.2, 0.4)
SPEC = "sweeps/fanout-rehearsal.yaml"
RUNNERS = 3
NO_CREDENTIALS_RUNNER = 3

#: ``uses:`` steps: GitHub's machinery, stood in for by the test's setup.
GITHUB_ONLY_STEPS = {
    "Check out with full history": "each job gets a full clone of the bare origin",
    "Set up Python": "the test's interpreter is the job's Python",
    "Assume the sweep's AWS role": "its step outputs are moto's keys (none for runner 3)",
    "Upload the experiments' logs": "the test reads the clone's logs directly",
    "Upload the comparison": "the test reads reports/fanout.md directly",
}
INSTALL = (
    "python -m pip install --require-hashes -r requirements-build.txt\n"
    "python -m pip install --require-hashes --no-build-isolation -r requirements.txt"
)
#: Steps whose script is checked but not run (nothing is downloaded while tests run).
SKIPPED_SCRIPTS = {"Install the pinned requirements": INSTALL}


@dataclass
class Context:
    """What GitHub's expressions would read for one job."""

    inputs: dict[str, str]
    plan: str = ""
    runner: int = 0
    credentials: bool = True


def aws(key: str) -> Callable[[Context], str]:
    """configure-aws-credentials' step output: moto's keys, or nothing for a runner without them."""
    values = {"ACCESS": ACCESS_KEY, "SECRET": SECRET_KEY, "SESSION": "rehearsal-session", "REGION": REGION}
    return lambda context: values[key] if context.credentials or key == "REGION" else ""


#: Every expression-valued ``env:`` entry, job or step level.
EXPRESSIONS: dict[str, Callable[[Context], str]] = {
    "SPEC": lambda context: context.inputs["spec"],
    "RUNNERS": lambda context: context.inputs["runners"],
    "RUNNER_NUMBER": lambda context: str(context.runner),
    "PLAN": lambda context: context.plan,
    "GIT_TOKEN": lambda context: "rehearsal-token",  # a file remote asks for none
    "DVC_S3_BUCKET": lambda context: BUCKET,
    "AWS_ACCESS_KEY_ID": aws("ACCESS"),
    "AWS_SECRET_ACCESS_KEY": aws("SECRET"),
    "AWS_SESSION_TOKEN": aws("SESSION"),
    "AWS_REGION": aws("REGION"),
}
#: Every step ``if:``: without a status function, `success() &&` is implied.
CONDITIONS: dict[str, Callable[[bool], bool]] = {"${{ !cancelled() }}": lambda failed: True}
COLLECT_IF = "${{ !cancelled() && needs.expand.result == 'success' }}"


@dataclass
class JobRun:
    temp: Path  # RUNNER_TEMP
    steps: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    failed: bool = False

    def output(self, name: str) -> str:
        return self.steps[name].stdout + self.steps[name].stderr


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def rehearse(job_name: str, workspace: Path, context: Context, environment: dict[str, str]) -> JobRun:
    """Run a job's ``run:`` steps in ``workspace`` as GitHub would."""
    job = workflow()["jobs"][job_name]
    assert job["defaults"]["run"]["shell"] == "bash"
    temp = Path(tempfile.mkdtemp(prefix=f"{job_name}-temp-", dir=workspace.parent))
    job_env = {
        key: EXPRESSIONS[key](context) if "${{" in str(value) else str(value)
        for key, value in job["env"].items()
    }
    result = JobRun(temp=temp)
    for index, step in enumerate(job["steps"]):
        name = step["name"]
        if "uses" in step:
            assert name in GITHUB_ONLY_STEPS, f"uses: step {name!r} is not known to the rehearsal"
            continue
        condition = step.get("if")
        assert condition is None or condition in CONDITIONS, f"{name}: condition {condition!r} unknown"
        if not (CONDITIONS[condition](result.failed) if condition else not result.failed):
            continue
        if name in SKIPPED_SCRIPTS:
            assert step["run"].strip() == SKIPPED_SCRIPTS[name], (
                f"step {name!r} changed: update its rehearsal"
            )
            continue
        assert "${{" not in step["run"], f"{name}: expressions belong in env:"
        step_env = {}
        for key, value in step.get("env", {}).items():
            assert "${{" not in str(value) or key in EXPRESSIONS, f"{name}: env {key} has no rehearsal value"
            step_env[key] = EXPRESSIONS[key](context) if "${{" in str(value) else str(value)
        outputs = temp / f"output-{index}"
        outputs.touch()
        script = temp / f"step-{index}.sh"
        script.write_text(step["run"])
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={
                **environment,
                **job_env,
                **step_env,
                "RUNNER_TEMP": str(temp),
                "GITHUB_OUTPUT": str(outputs),
                "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
            },
            capture_output=True,
            text=True,
        )
        result.steps[name] = completed
        result.failed = result.failed or completed.returncode != 0
        for line in outputs.read_text().splitlines():
            key, _, value = line.partition("=")
            if step.get("id"):
                result.outputs[f"{step['id']}.{key}"] = value
    return result


def base_environment(directory: Path) -> dict[str, str]:
    """A runner's process environment: no AWS keys (they come as step env), AWS files empty."""
    empty = directory / "aws-empty"
    empty.write_text("")
    environment = {key: value for key, value in command_env().items() if not key.startswith("AWS_")}
    environment.update(
        AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty), AWS_EC2_METADATA_DISABLED="true"
    )
    return environment


def checkout(origin: Path, workspace: Path, endpoint: str) -> Path:
    """What actions/checkout leaves (a full clone), plus moto's endpoint for the S3 remote."""
    git(origin.parent, "clone", "-q", str(origin), str(workspace))
    dvc(workspace, "remote", "modify", "--local", "s3", "endpointurl", endpoint)
    return workspace


def evaluated(project: Path, rev: str) -> dict:
    """An experiment's metrics files and its model's hash, as its commit holds them."""
    lock = yaml.safe_load(git(project, "show", f"{rev}:dvc.lock").stdout)
    return {
        "evaluate": git(project, "show", f"{rev}:metrics/evaluate/metrics.json").stdout,
        "train": git(project, "show", f"{rev}:metrics/train/metrics.json").stdout,
        "model": next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.pkl"),
    }


def experiments_by_rate(project: Path) -> dict[float, SimpleNamespace]:
    """This clone's experiments of HEAD, by learning rate: name, commit, state."""
    payload = json.loads(dvc(project, "exp", "show", "--json").stdout)
    head = next(entry for entry in payload if entry["rev"] != "workspace")
    found = {}
    for entry in head.get("experiments") or []:
        revision = entry["revs"][0]
        rate = revision["data"]["params"]["params.yaml"]["data"]["train"]["hist_gradient_boosting"][
            "learning_rate"
        ]
        found[rate] = SimpleNamespace(name=entry["name"], rev=revision["rev"], error=revision["error"])
    return found


@pytest.fixture(scope="module")
def fanout(
    sample_project_template: Path, s3_endpoint, tmp_path_factory: pytest.TempPathFactory
) -> SimpleNamespace:
    """main pushed to a bare origin and to S3; then the workflow: expand, 3 runners at once, collect."""
    work = tmp_path_factory.mktemp("fanout")
    main = work / "main"
    shutil.copytree(sample_project_template, main, symlinks=True)
    spec = {"grids": [{"name": "rates", "set": [f"{LR}={','.join(map(str, RATES))}", *QUICK]}]}
    (main / SPEC).write_text(yaml.safe_dump(spec, sort_keys=False))
    git(main, "add", SPEC)
    git(main, "commit", "-q", "-m", "a sweep file")
    s3_endpoint.create_bucket(BUCKET)
    dvc(main, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/flight-delays")
    dvc(main, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    dvc(main, "remote", "default", "--local", "s3")
    dvc(main, "push", "--run-cache", **s3_endpoint.env)
    run([sys.executable, "-m", "src.remote.run_cache"], main, **s3_endpoint.env)
    origin = work / "origin.git"
    git(work, "clone", "-q", "--bare", str(main), str(origin))

    inputs = {"spec": SPEC, "runners": str(RUNNERS), "max_parallel": str(RUNNERS)}
    expand = rehearse(
        "expand",
        checkout(origin, work / "expand", s3_endpoint.url),
        Context(inputs),
        base_environment(work),
    )
    plan = expand.outputs.get("expand.plan", "")

    def runner_job(number: int) -> tuple[Path, JobRun]:
        workspace = checkout(origin, work / f"runner-{number}", s3_endpoint.url)
        context = Context(inputs, plan, number, credentials=number != NO_CREDENTIALS_RUNNER)
        return workspace, rehearse("runner", workspace, context, base_environment(work))

    with ThreadPoolExecutor(RUNNERS) as pool:
        runners = dict(zip(range(1, RUNNERS + 1), pool.map(runner_job, range(1, RUNNERS + 1)), strict=True))
    assert workflow()["jobs"]["collect"]["if"] == COLLECT_IF
    collect_dir = checkout(origin, work / "collect", s3_endpoint.url)
    collect = rehearse("collect", collect_dir, Context(inputs, plan), base_environment(work))
    return SimpleNamespace(
        work=work,
        main=main,
        origin=origin,
        inputs=inputs,
        expand=expand,
        plan=plan,
        runners=runners,
        collect=collect,
        collect_dir=collect_dir,
        endpoint=s3_endpoint,
    )


def test_every_step_of_the_workflow_is_known_to_the_rehearsal():
    jobs = workflow()["jobs"]
    assert set(jobs) == {"expand", "runner", "collect"}
    steps = [step for job in jobs.values() for step in job["steps"]]
    assert {step["name"] for step in steps if "uses" in step} == set(GITHUB_ONLY_STEPS)
    assert {step["if"] for step in steps if "if" in step} <= set(CONDITIONS)
    expressions = {
        key
        for holder in [*jobs.values(), *steps]
        for key, value in holder.get("env", {}).items()
        if "${{" in str(value)
    }
    assert expressions <= set(EXPRESSIONS)
    runner = jobs["runner"]
    assert runner["needs"] == "expand" and runner["strategy"]["fail-fast"] is False
    assert runner["strategy"]["matrix"] == "${{ fromJSON(needs.expand.outputs.plan).matrix }}"
    assert runner["strategy"]["max-parallel"] == "${{ inputs.max_parallel }}"
    # The module's commands are the workflow's: expand, run, push, collect.
    scripts = "\n".join(step.get("run", "") for step in steps)
    for command in ("expand", "run", "push", "collect"):
        assert f"python -m src.experiments.fanout {command} " in scripts


@pytest.mark.slow
def test_runners_deliver_their_experiments_and_the_collector_lists_the_missing_one(fanout):
    plan = json.loads(fanout.plan)
    names = [c["name"] for c in plan["configurations"]]
    assert names == ["rates-1", "rates-2", "rates-3"]
    assert [c["runner"] for c in plan["configurations"]] == [1, 2, 3]
    assert plan["baseline"] == git(fanout.main, "rev-parse", "HEAD").stdout.strip()

    for number in (1, 2):
        _, job = fanout.runners[number]
        assert not job.failed, {name: step.stderr[-2000:] for name, step in job.steps.items()}
    workspace, failed = fanout.runners[NO_CREDENTIALS_RUNNER]
    assert failed.failed
    message = failed.output("Run this runner's configurations")
    assert "the DVC remote 's3' cannot be read from this runner" in message
    assert "Unable to locate credentials" in message and "Traceback" not in message
    assert not (workspace / ".dvc/tmp/sweep/logs").exists(), "runner 3 started an experiment"
    assert "not finished on this runner, so not pushed: rates-3" in failed.output(
        "Push this runner's experiments"
    )

    refs = git(fanout.origin, "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
    assert sorted(ref.rsplit("/", 1)[1] for ref in refs) == ["rates-1", "rates-2"]

    collect = fanout.collect
    assert collect.failed  # it says what it did not get
    assert "1 of 3 experiment(s) not received: rates-3" in collect.output(
        "Collect and compare the experiments"
    )
    report = (fanout.collect_dir / "reports/fanout.md").read_text()
    assert "Write the comparison to the job summary" in collect.steps
    assert (collect.temp / "summary.md").read_text() == report
    assert "2 of 3 experiment(s) received" in report.splitlines()[0]
    assert "| rates-3 " in report and "**not received**" in report and "runner(s) 3" in report
    # The best on validation, from the experiments' own metrics files.
    seen = experiments_by_rate(fanout.collect_dir)
    scores = {
        e.name: json.loads(evaluated(fanout.collect_dir, e.rev)["evaluate"])["validation"]["roc_auc"]
        for e in seen.values()
    }
    best = max(sorted(scores), key=lambda name: scores[name])
    assert f"Best on validation roc_auc: **{best}**" in report
    assert sorted(scores) == ["rates-1", "rates-2"]


@pytest.mark.slow
def test_fanned_out_experiments_equal_the_one_machine_sweep_bit_for_bit(fanout, tmp_path):
    """One configuration is enough to compare (each costs a training): runner 1's."""
    local = tmp_path / "local"
    shutil.copytree(fanout.main, local, symlinks=True)
    spec = {"grids": [{"name": "one machine", "set": [f"{LR}={RATES[0]}", *QUICK]}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    run(
        [sys.executable, "-m", "src.experiments.sweep", "--spec", str(tmp_path / "spec.yaml"), "--jobs", "1"],
        local,
    )

    swept, fanned = experiments_by_rate(local), experiments_by_rate(fanout.collect_dir)
    assert list(swept) == [RATES[0]] and sorted(fanned) == sorted(RATES[:2])
    mine = evaluated(local, swept[RATES[0]].rev)
    assert evaluated(fanout.collect_dir, fanned[RATES[0]].rev) == mine
    assert evaluated(fanout.collect_dir, fanned[RATES[1]].rev) != mine  # the comparison can fail


@pytest.mark.slow
def test_a_retried_runner_restores_from_the_run_cache_and_may_not_replace_the_pushed_experiment(fanout):
    workspace = checkout(fanout.origin, fanout.work / "runner-2-retry", fanout.endpoint.url)
    ref = experiment_ref(json.loads(fanout.plan)["baseline"], "rates-2")
    pushed = git(fanout.origin, "rev-parse", ref).stdout.strip()

    job = rehearse("runner", workspace, Context(fanout.inputs, fanout.plan, 2), base_environment(fanout.work))

    log = (workspace / ".dvc/tmp/sweep/logs/rates-2.log").read_text()
    assert "train" in adapter.stages_restored(log) and adapter.stages_ran(log) == []
    assert (
        "Run this runner's configurations" in job.steps
        and job.steps["Run this runner's configurations"].returncode == 0
    )
    refused = job.output("Push this runner's experiments")
    assert job.failed and "the git remote already has an experiment rates-2 of this commit" in refused
    assert "not pushed to origin: rates-2" in refused and "Traceback" not in refused
    assert git(fanout.origin, "rev-parse", ref).stdout.strip() == pushed


@pytest.mark.slow
def test_an_invalid_sweep_file_stops_the_workflow_in_expand(fanout):
    workspace = checkout(fanout.origin, fanout.work / "expand-invalid", fanout.endpoint.url)
    bad = "sweeps/typo.yaml"
    (workspace / bad).write_text(
        yaml.safe_dump(
            {"grids": [{"name": "typo", "set": ["train.hist_gradient_boosting.learnig_rate=0.1,0.2"]}]}
        )
    )
    git(workspace, "add", bad)
    git(workspace, "commit", "-q", "-m", "a typo")

    job = rehearse(
        "expand", workspace, Context({**fanout.inputs, "spec": bad}), base_environment(fanout.work)
    )

    message = job.output("Expand the sweep into a plan")
    assert job.failed and "expand.plan" not in job.outputs  # so no runner job starts
    assert "train.hist_gradient_boosting.learnig_rate: unknown parameter path" in message
    assert "nothing was run" in message and "Traceback" not in message

    outside = rehearse(
        "expand",
        workspace,
        Context({**fanout.inputs, "spec": "../params.yaml"}),
        base_environment(fanout.work),
    )
    assert "must be a .yaml file under sweeps/" in outside.output("Expand the sweep into a plan")
