"""The model registry with real git, GTO and DVC: register, promote, fetch, release.

One repository serves the whole module (:func:`story`): the reproduced sample project
is v1.0.0; two more commits train with fewer (5, worse) and more (60, better)
boosting iterations and become v1.0.1 and v1.0.2. v1.0.0 goes to prod, v1.0.1 is kept
out as worse, v1.0.2 replaces v1.0.0. The later tests fetch what is in prod from empty
directories (local remote and moto S3), try bad input against the same repository, and
rehearse the release workflow's ``run:`` steps.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from src import dvc as adapter
from src.sandbox import REPO_ROOT, S3Endpoint, command_env, dvc, git, run, set_params

MODEL = "late-arrival"
MODEL_PATH = "models/model.pkl"
MAX_ITER = "train.hist_gradient_boosting.max_iter"
WORSE, BETTER = 5, 60  # boosting iterations: measurably worse and better than the sample's 200 on test
BUCKET = "registry-dvc"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "release.yaml"


# --- running the registry's commands ------------------------------------------------------------


def registry(
    project: Path, module: str, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    """``python -m src.registry.<module> ARGS`` with the project's code, as a user runs it."""
    command = [sys.executable, "-m", f"src.registry.{module}", *args]
    return run(command, cwd or project, check=False, PYTHONPATH=str(project), **env)


def tags(project: Path) -> dict[str, str]:
    """Every tag and the object it names: a failed command must leave this unchanged."""
    listed = git(project, "for-each-ref", "refs/tags", "--format=%(refname:short) %(objectname)").stdout
    return dict(line.split(" ", 1) for line in listed.splitlines())


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """Exit 1 and one error sentence holding ``phrases``, no traceback; the sentence."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "] error: " in line]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def locked_model_md5(project: Path, commit: str) -> str:
    return adapter.locked_outputs(adapter.read_lock(project, commit=commit))[MODEL_PATH]["md5"]


def prod(project: Path) -> tuple[str, str]:
    """The version in prod and its commit, as GTO reads the tags."""
    shown = adapter.gto_json("show", MODEL, cwd=project)
    version = next(
        entry for entry in shown if any(s["stage"] == "prod" and s["is_active"] for s in entry["stages"])
    )
    return version["version"], version["commit_hexsha"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the module's repository ------------------------------------------------------------------


@dataclass
class Story:
    base: Path  # holds project/, dvc-storage/ (the default local remote) and origin.git
    project: Path
    commits: dict[str, str] = field(default_factory=dict)  # version -> commit
    results: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    tags_before: dict[str, dict[str, str]] = field(default_factory=dict)  # step -> tags when it ran

    def step(self, name: str, module: str, *args: str, succeed: bool = True) -> subprocess.CompletedProcess:
        self.tags_before[name] = tags(self.project)
        result = self.results[name] = registry(self.project, module, *args)
        assert (result.returncode == 0) == succeed, result.stdout + result.stderr
        return result

    def origin(self) -> str:
        """A bare repository with the project's branches and tags, as a team's git server holds them."""
        bare = self.base / "origin.git"
        if not bare.exists():
            git(self.base, "clone", "-q", "--bare", str(self.project), bare.name)  # its HEAD is main
        git(bare, "fetch", "-q", str(self.project), "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
        return str(bare)

    @property
    def storage(self) -> Path:
        return self.base / "dvc-storage" / "flight-delays"


def train_and_commit(project: Path, max_iter: int) -> None:
    # One other seed: two replicates per version measure training noise, at half the fits.
    set_params(project, **{MAX_ITER: max_iter, "noise.extra_seeds": 1})
    dvc(project, "repro")
    git(project, "commit", "-q", "-am", f"{max_iter} boosting iterations")


@pytest.fixture(scope="module")
def story(sample_project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Story:
    base = tmp_path_factory.mktemp("registry")
    story = Story(base, base / "project")
    shutil.copytree(sample_project_template, story.project, symlinks=True)
    project = story.project

    story.step("unpushed", "register", succeed=False)
    dvc(project, "push")
    story.step("v1.0.0", "register")
    story.commits["v1.0.0"] = adapter.resolve_commit("HEAD", cwd=project)

    set_params(project, **{MAX_ITER: WORSE})
    story.step("dirty", "register", succeed=False)
    train_and_commit(project, WORSE)
    dvc(project, "push")
    story.step("v1.0.1", "register")
    story.commits["v1.0.1"] = adapter.resolve_commit("HEAD", cwd=project)

    train_and_commit(project, BETTER)
    dvc(project, "push")
    story.step("v1.0.2", "register")
    story.commits["v1.0.2"] = adapter.resolve_commit("HEAD", cwd=project)

    story.step("first in prod", "promote", "v1.0.0", "--stage", "prod")
    story.step("worse", "promote", "v1.0.1", "--stage", "prod", succeed=False)
    story.step("better", "promote", "v1.0.2", "--stage", "prod")
    return story


# --- register and promote ---------------------------------------------------------------------


@pytest.mark.slow
def test_registration_waits_for_a_pushed_and_committed_pipeline(story: Story):
    assert_refused(story.results["unpushed"], "not in remote 'local'", "models/model.pkl", "make push")
    assert story.tags_before["v1.0.0"] == {}, "the refused registration tagged nothing"
    assert_refused(story.results["dirty"], "uncommitted changes (params.yaml)")
    assert story.tags_before["v1.0.1"] == story.tags_before["dirty"], "nor did this one"


@pytest.mark.slow
def test_versions_are_annotated_tags_proposed_from_what_changed(story: Story):
    project = story.project
    for version, commit in story.commits.items():
        tag = f"{MODEL}@{version}"
        assert git(project, "cat-file", "-t", tag).stdout.strip() == "tag", "GTO tags are annotated"
        assert adapter.resolve_commit(tag, cwd=project) == commit
    assert "first registered version" in story.results["v1.0.0"].stdout
    for version, previous in (("v1.0.1", "v1.0.0"), ("v1.0.2", "v1.0.1")):
        assert f"changed since {previous}: parameters ({MAX_ITER})" in story.results[version].stdout


@pytest.mark.slow
def test_a_worse_candidate_stays_out_of_prod_and_a_better_one_replaces_the_first(story: Story):
    assert "no version was in prod" in story.results["first in prod"].stdout
    error = assert_refused(story.results["worse"], "late-arrival v1.0.1 may not replace v1.0.0 in prod")
    assert "interval of the change" in error and "excludes zero" in error and "--force" in error
    assert tags(story.project) != story.tags_before["worse"]
    assert story.tags_before["better"] == story.tags_before["worse"], "the refusal created or moved no tag"
    assert prod(story.project) == ("v1.0.2", story.commits["v1.0.2"])
    message = git(story.project, "tag", "-l", "--format=%(contents)", f"{MODEL}#prod#2").stdout
    assert message.startswith("late-arrival v1.0.2 to prod\nagainst v1.0.0 in prod: ")


@pytest.mark.slow
def test_models_lists_every_version_with_its_stage_commit_and_metrics(story: Story):
    result = registry(story.project, "models")
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| v1.")
    }
    assert set(rows) == {"v1.0.0", "v1.0.1", "v1.0.2"}
    assert "| prod " in rows["v1.0.2"] and story.commits["v1.0.2"][:12] in rows["v1.0.2"]
    metrics = yaml.safe_load(
        adapter.show_file(story.commits["v1.0.1"], "metrics/evaluate/metrics.json", story.project)
    )
    assert f"{metrics['test']['roc_auc']:.4f}" in rows["v1.0.1"]
    card = registry(story.project, "models", "--card", "v1.0.2")
    assert card.stdout.startswith("# Model card: late-arrival v1.0.2\n")
    assert card.stdout == registry(story.project, "card", "v1.0.2").stdout, "the same card every time"


@pytest.mark.slow
def test_a_forced_promotion_keeps_its_reason_in_the_tag(story: Story):
    project = story.project
    before = tags(project)
    assert_refused(
        registry(project, "promote", "v1.0.1", "--stage", "prod", "--force"), "--force needs --reason"
    )
    forced = registry(
        project, "promote", "v1.0.1", "--stage", "prod", "--force", "--reason", "rollback drill"
    )
    assert forced.returncode == 0, forced.stderr
    new = sorted(set(tags(project)) - set(before))
    assert len(new) == 1 and new[0].startswith(f"{MODEL}#prod#")
    message = git(project, "tag", "-l", "--format=%(contents)", new[0]).stdout
    assert "forced: rollback drill (overrode: test " in message and "got worse" in message
    assert prod(project)[0] == "v1.0.1"
    back = registry(project, "promote", "v1.0.2", "--stage", "prod")  # and back: better than v1.0.1
    assert back.returncode == 0, back.stderr
    assert prod(project) == ("v1.0.2", story.commits["v1.0.2"])


BAD_INPUT = {
    "unknown model": (("register", "--model", "late"), "unknown model 'late'"),
    "non-semver version": (("register", "--version", "2.0"), "is not a semantic version"),
    "already registered commit": (("register",), "this commit is already late-arrival@v1.0.2"),
    "unknown stage": (("promote", "v1.0.0", "--stage", "production"), "unknown stage 'production'"),
    "unregistered version": (("promote", "v3.0.0", "--stage", "dev"), "v3.0.0 is not registered"),
    "already there": (("promote", "v1.0.2", "--stage", "prod"), "already in prod"),
    "not a release tag": (("release", f"{MODEL}@v1.0.0"), "does not assign a version to prod"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_one_sentence_and_moves_no_tag(story: Story, case: str):
    (module, *args), phrase = BAD_INPUT[case]
    before = tags(story.project)
    assert_refused(registry(story.project, module, *args), phrase)
    assert tags(story.project) == before


@pytest.fixture
def branch_commit(story: Story) -> Callable[[dict], Path]:
    """Commit on a throw-away branch (HEAD then has no version); main is restored afterwards."""
    project = story.project

    def commit(params: dict) -> Path:
        git(project, "checkout", "-q", "-b", "scratch")
        set_params(project, **params)
        git(project, "commit", "-q", "-am", "scratch")
        return project

    yield commit
    git(project, "checkout", "-q", "-f", "main")
    git(project, "branch", "-q", "-D", "scratch")


@pytest.mark.slow
def test_registration_applies_the_gate_floors_and_checks_the_version_asked_for(story: Story, branch_commit):
    project = branch_commit({"gate.floors.roc_auc": 0.9})  # the gate section: no stage re-runs
    before = tags(project)
    assert_refused(registry(project, "register"), "the gate fails: test roc_auc is", "below its floor")
    set_params(project, **{"gate.floors.roc_auc": 0.65})
    git(project, "commit", "-q", "-am", "floors back")
    assert_refused(
        registry(project, "register", "--version", "v1.0.2"), "late-arrival@v1.0.2 is already registered"
    )
    assert_refused(registry(project, "register", "--version", "v0.9.0"), "does not increase")
    dry = registry(project, "register", "--dry-run")
    assert dry.returncode == 0 and "would register late-arrival@v1.0.3" in dry.stdout, dry.stderr
    assert tags(project) == before


@pytest.mark.slow
def test_an_unreachable_or_empty_remote_refuses_and_tags_nothing(story: Story, branch_commit):
    project = branch_commit({"gate.seed": 7})
    down = f"http://127.0.0.1:{free_port()}"
    dvc(project, "remote", "add", "--local", "down", f"s3://{BUCKET}/flight-delays")
    dvc(project, "remote", "modify", "--local", "down", "endpointurl", down)
    dvc(project, "remote", "add", "--local", "empty", str(story.base / "empty-storage"))
    before = tags(project)
    try:
        no_aws = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_MAX_ATTEMPTS": "1"}
        assert_refused(
            registry(project, "register", "--remote", "down", **no_aws), "cannot reach DVC remote 'down'"
        )
        assert_refused(
            registry(project, "promote", "v1.0.0", "--stage", "dev", "--remote", "down", **no_aws),
            "cannot read models/model.pkl of commit",
            "from remote 'down'",
        )
        assert_refused(
            registry(project, "promote", "v1.0.0", "--stage", "dev", "--remote", "empty"),
            "is not in remote 'empty': it was never pushed",
        )
    finally:
        dvc(project, "remote", "remove", "--local", "down")
        dvc(project, "remote", "remove", "--local", "empty")
    assert tags(project) == before


@pytest.mark.slow
def test_a_corrupt_model_in_the_remote_is_never_released_or_promoted(story: Story, tmp_path: Path):
    project, commit = story.project, story.commits["v1.0.0"]
    corrupt = tmp_path / "corrupt-storage"
    shutil.copytree(story.storage, corrupt)
    digest = locked_model_md5(project, commit)
    (corrupt / "files" / "md5" / digest[:2] / digest[2:]).write_bytes(b"not the model")
    dvc(project, "remote", "add", "--local", "corrupt", str(corrupt))
    before = tags(project)
    try:
        assert_refused(
            registry(project, "promote", "v1.0.0", "--stage", "dev", "--remote", "corrupt"),
            "in remote 'corrupt' has MD5",
            f"not the {digest}",
        )
        assert_refused(
            registry(
                project, "release", f"{MODEL}#prod#1", "--out", str(tmp_path / "out"), "--remote", "corrupt"
            ),
            "the remote copy is corrupt",
        )
    finally:
        dvc(project, "remote", "remove", "--local", "corrupt")
    assert not (tmp_path / "out" / "model.pkl").exists()
    assert tags(project) == before


# --- fetching from anywhere ---------------------------------------------------------------------


@pytest.mark.slow
def test_dvc_artifacts_get_fetches_the_prod_model_with_the_local_remote(story: Story, tmp_path: Path):
    version, commit = prod(story.project)
    origin = story.origin()
    checkout = story.base / "checkout"  # a clone beside the project: the same ../../dvc-storage, no cache
    git(story.base, "clone", "-q", origin, checkout.name)
    empty = tmp_path / "anywhere"
    empty.mkdir()
    dvc(empty, "artifacts", "get", str(checkout), MODEL, "--stage", "prod")
    assert md5(empty / "model.pkl") == locked_model_md5(story.project, commit)

    # A git URL is cloned by DVC into a temporary directory: the relative remote URL no
    # longer reaches the storage unless it is given (docs/registry.md).
    plain = dvc(empty, "artifacts", "get", origin, MODEL, "--stage", "prod", "-o", "cloned.pkl", check=False)
    assert plain.returncode != 0
    dvc(
        empty,
        "artifacts",
        "get",
        origin,
        MODEL,
        "--rev",
        "v1.0.0",
        "-o",
        "v1.pkl",
        "--remote-config",
        f"url={story.storage}",
    )
    assert md5(empty / "v1.pkl") == locked_model_md5(story.project, story.commits["v1.0.0"])
    assert version == "v1.0.2"


@pytest.fixture(scope="module")
def s3_bucket(story: Story, s3_endpoint: S3Endpoint) -> str:
    """A moto bucket holding the outputs of every tagged commit (``dvc push --all-tags``)."""
    bucket = s3_endpoint.create_bucket(BUCKET)
    dvc(story.project, "remote", "modify", "--local", "s3", "url", f"s3://{bucket}/flight-delays")
    dvc(story.project, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    dvc(story.project, "push", "--remote", "s3", "--all-tags", **s3_endpoint.env)
    return bucket


@pytest.mark.slow
def test_dvc_artifacts_get_and_the_verified_fetch_with_s3(
    story: Story, s3_endpoint: S3Endpoint, s3_bucket: str, tmp_path: Path
):
    project = story.project
    url = f"s3://{s3_bucket}/flight-delays"
    _, commit = prod(project)
    settings = [f"url={url}", f"endpointurl={s3_endpoint.url}"]
    origin = story.origin()
    empty = tmp_path / "anywhere"
    empty.mkdir()

    dvc(
        empty,
        "artifacts",
        "get",
        origin,
        MODEL,
        "--stage",
        "prod",
        "--remote",
        "s3",
        "--remote-config",
        *settings,
        **s3_endpoint.env,
    )
    assert md5(empty / "model.pkl") == locked_model_md5(project, commit)

    fetched = registry(
        project,
        "fetch",
        origin,
        "--stage",
        "prod",
        "--out",
        "got",
        "--remote",
        "s3",
        "--remote-config",
        *settings,
        cwd=empty,
        **s3_endpoint.env,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert md5(empty / "got" / MODEL_PATH) == locked_model_md5(project, commit)
    assert (empty / "got" / "dvc.lock").read_text() == adapter.show_file(commit, "dvc.lock", project)
    loaded = run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from src.core.model_store import load_verified_model as load; "
            f"print(type(load(Path('got/{MODEL_PATH}'), Path('got/dvc.lock'))).__name__)",
        ],
        empty,
        PYTHONPATH=str(project),
    )
    assert loaded.stdout.strip() == "Pipeline"


# --- the release workflow, rehearsed ------------------------------------------------------------


def release_job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["release"]


#: ``uses:`` steps: GitHub's own machinery, stood in for by the rehearsal's setup.
GITHUB_ONLY_STEPS = {
    "Check out the tagged commit with the registry's tags": "the rehearsal clones at the tag",
    "Set up Python": "the test's interpreter is the job's Python",
    "Assume the AWS role": "moto's test credentials are in the environment",
    "Upload the model and its card": "the test reads release/ directly",
}
#: ``run:`` steps -> the values of their expression-valued ``env:`` (None: the exact script, not run).
RUN_STEPS: dict[str, dict[str, str] | str] = {
    "Install the pinned requirements": (
        "python -m pip install --require-hashes -r requirements-build.txt\n"
        "python -m pip install --require-hashes --no-build-isolation -r requirements.txt"
    ),
    "Use the S3 remote": {"DVC_S3_BUCKET": "bucket"},
    "Verify the model in the remote and write its card": {},
    "Write the model card to the job summary": {},
}


def test_the_release_job_runs_on_prod_tags_in_the_production_environment():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True] == {"push": {"tags": ["*#prod#*"]}}  # YAML 1.1 reads `on` as True
    job = release_job()
    assert job["environment"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    steps = job["steps"]
    assert {step["name"] for step in steps if "uses" in step} == set(GITHUB_ONLY_STEPS)
    assert {step["name"] for step in steps if "run" in step} == set(RUN_STEPS)
    assert not any("if" in step for step in steps)


def rehearse(
    workspace: Path, tag: str, bucket: str, environment: dict[str, str]
) -> list[subprocess.CompletedProcess]:
    """Run the job's ``run:`` steps in order as GitHub would (``bash -eo pipefail``); stop at a failure."""
    job = release_job()
    assert job["defaults"]["run"]["shell"] == "bash"
    job_env = {key: (tag if "${{" in str(value) else str(value)) for key, value in job["env"].items()}
    assert [key for key, value in job["env"].items() if "${{" in str(value)] == ["RELEASE_TAG"]
    results = []
    for index, step in enumerate(job["steps"]):
        if "uses" in step:
            continue
        how = RUN_STEPS[step["name"]]
        if isinstance(how, str):
            assert step["run"].strip() == how, f"step {step['name']!r} changed: update its rehearsal"
            continue
        step_env = {}
        for key, value in step.get("env", {}).items():
            assert "${{" not in str(value) or key in how, f"{step['name']}: env {key} has no rehearsal value"
            step_env[key] = bucket if how.get(key) == "bucket" else str(value)
        script = workspace.parent / f"step-{index}.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={**environment, **job_env, **step_env},
            capture_output=True,
            text=True,
        )
        results.append(result)
        if result.returncode != 0:
            break
    return results


@pytest.fixture
def runner(story: Story, s3_endpoint: S3Endpoint, tmp_path: Path) -> Callable[[str], tuple[Path, list]]:
    """A runner that checks out the prod tag and rehearses the job against ``bucket``."""
    _, commit = prod(story.project)
    tag = max(
        (name for name in tags(story.project) if name.startswith(f"{MODEL}#prod#")),
        key=lambda name: int(name.rsplit("#", 1)[1]),
    )
    assert adapter.resolve_commit(tag, cwd=story.project) == commit

    def rehearsal(bucket: str) -> tuple[Path, list]:
        home = tmp_path / bucket
        home.mkdir()
        workspace = home / "workspace"
        git(home, "clone", "-q", story.origin(), "workspace")
        git(workspace, "checkout", "-q", tag)
        dvc(workspace, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
        environment = {key: value for key, value in command_env().items() if not key.startswith("AWS_")}
        environment.update(
            GITHUB_STEP_SUMMARY=str(home / "summary.md"), PYTHONPATH=str(workspace), **s3_endpoint.env
        )
        return workspace, rehearse(workspace, tag, bucket, environment)

    return rehearsal


@pytest.mark.slow
def test_release_rehearsal_verifies_the_prod_model_and_publishes_its_card(
    story: Story, s3_bucket: str, runner
):
    workspace, results = runner(s3_bucket)
    assert [result.returncode for result in results] == [0, 0, 0], [result.stderr for result in results]
    _, commit = prod(story.project)
    release = workspace / "release"
    assert md5(release / "model.pkl") == locked_model_md5(story.project, commit)
    card = (release / "card.md").read_text()
    assert (workspace.parent / "summary.md").read_text() == card
    version, _ = prod(story.project)
    assert card.startswith(f"# Model card: {MODEL} {version}\n")
    assert card == registry(story.project, "card", version).stdout, "the card is the same on any machine"
    assert yaml.safe_load((release / "card.json").read_text())["commit"] == commit


@pytest.mark.slow
def test_release_rehearsal_fails_when_the_model_was_never_pushed(s3_endpoint: S3Endpoint, runner):
    bucket = s3_endpoint.create_bucket(f"{BUCKET}-empty")
    workspace, results = runner(bucket)
    assert [result.returncode for result in results] == [0, 1]
    errors = [line for line in results[-1].stderr.splitlines() if "] error: " in line]
    assert len(errors) == 1 and "it was never pushed" in errors[0], results[-1].stderr
    assert not (workspace / "release").exists()
