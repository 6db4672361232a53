"""Monitoring a drop with the real registry, DVC cache and model: keep, retrain, and bad input.

One repository serves the module (:func:`registered`): the reproduced sample project,
registered as v1.0.0 and put in prod with GTO. Drops are the sample's November flights
(after the training period, January to August), in the raw format `make score` reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src.sandbox import REPO_ROOT, command_env, dvc, git, run
from src.stages.featurize import POST_DEPARTURE_COLUMNS

pytestmark = pytest.mark.slow

MODEL = "late-arrival"
SHIFTED = "distance"


def write_drop(project: Path, directory: Path, month: int, outcomes: bool, change=None) -> Path:
    """The sample's raw flights of ``month``, without post-flight columns (``arr_delay`` kept if ``outcomes``)."""
    directory.mkdir(parents=True)
    flights = pd.read_parquet(project / "data" / "raw" / "flights.parquet")
    dropped = [c for c in POST_DEPARTURE_COLUMNS if not (outcomes and c == "arr_delay")]
    wanted = flights[flights["month"] == month].drop(columns=dropped)
    (change or (lambda frame: frame))(wanted).to_parquet(directory / "flights.parquet", index=False)
    for table in ("planes.csv", "weather.csv"):
        shutil.copyfile(project / "data" / "raw" / table, directory / table)
    return directory


@pytest.fixture(scope="module")
def registered(sample_project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("monitor") / "project"
    shutil.copytree(sample_project_template, project, symlinks=True)
    run(["gto", "register", MODEL, "--version", "v1.0.0"], project)
    run(["gto", "assign", MODEL, "--version", "v1.0.0", "--stage", "prod"], project)
    return project


def monitor(project: Path, drop: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "src.monitoring.monitor", "--drop", str(drop), "--out", str(out), *args]
    return run(command, project, check=False, PYTHONPATH=str(project))


def test_a_later_month_like_the_reference_is_kept_and_says_what_it_could_not_assess(
    registered: Path, tmp_path
):
    drop = write_drop(registered, tmp_path / "november", 11, outcomes=False)
    result = monitor(registered, drop, tmp_path / "report")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("keep: late-arrival v1.0.0")
    report = json.loads((tmp_path / "report" / "monitor.json").read_text())
    assert report["decision"] == "keep" and report["reasons"] == []
    assert "performance: not assessed (no arr_delay column)" in report["not_assessed"]
    assert report["performance"] is None
    assert (
        report["features"]["month"]["psi"] > 1 and report["features"]["month"]["seasonal"]
    )  # new months, not counted
    assert "# Monitoring: keep" in (tmp_path / "report" / "monitor.md").read_text()
    assert (tmp_path / "report" / "drift.png").read_bytes().startswith(b"\x89PNG")


def test_a_shifted_feature_retrains_naming_that_feature_and_no_other(registered: Path, tmp_path):
    def longer(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{SHIFTED: frame[SHIFTED] * 1.6})

    drop = write_drop(registered, tmp_path / "shifted", 11, outcomes=True, change=longer)
    result = monitor(registered, drop, tmp_path / "report")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "monitor.json").read_text())
    assert report["decision"] == "retrain"
    data_reason = next(line for line in report["reasons"] if line.startswith("data drift"))
    assert f"{SHIFTED} (PSI" in data_reason
    flagged = [name for name, entry in report["features"].items() if entry["beyond_limits"]]
    assert flagged == [SHIFTED]
    roc = report["performance"]["roc_auc"]
    assert roc["interval"][0] <= roc["change"] <= roc["interval"][1]
    assert "retrain: late-arrival v1.0.0" in result.stdout and SHIFTED in result.stdout


def refused(result: subprocess.CompletedProcess, phrase: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "] error: " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert phrase in errors[0], errors[0]


def test_bad_input_is_one_sentence_and_leaves_the_last_report(registered: Path, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "monitor.md").write_text("the last report")
    overlapping = write_drop(registered, tmp_path / "march", 3, outcomes=False)
    refused(monitor(registered, overlapping, out), "fall in the training period 2013-01-01 to 2013-08-31")
    schema = write_drop(registered, tmp_path / "schema", 11, False, lambda f: f.drop(columns=["carrier"]))
    refused(monitor(registered, schema, out), "required column(s) 'carrier' missing")
    empty = write_drop(registered, tmp_path / "empty", 11, False, lambda f: f.iloc[:0])
    refused(monitor(registered, empty, out), "the drop holds no flights")
    november = write_drop(registered, tmp_path / "november", 11, outcomes=False)
    refused(monitor(registered, november, out, "--model", "v9.9.9"), "v9.9.9 is not registered")
    cache, aside = registered / ".dvc" / "cache", registered / ".dvc" / "cache-aside"
    cache.rename(aside)
    try:
        refused(monitor(registered, november, out), "data/split/train.parquet, is in neither the DVC cache")
    finally:
        aside.rename(cache)
    assert [p.name for p in out.iterdir()] == ["monitor.md"] and (
        out / "monitor.md"
    ).read_text() == "the last report"


# --- the replay stage, as the sample run left it ------------------------------------------


def test_the_replay_writes_its_declared_outputs_and_counts_retrains_by_strategy(registered: Path):
    from src.core.stage import stage_outputs

    declared = dict(stage_outputs(registered / "dvc.yaml", "replay"))
    assert declared and not any(declared.values()), "every replay output is kept in git"
    for path in declared:
        assert (registered / path).is_file(), path
    metrics = json.loads((registered / "metrics/replay/metrics.json").read_text())
    rows = json.loads((registered / "metrics/replay/months.json").read_text())["months"]
    features = pd.read_parquet(registered / "data/features/flights.parquet", columns=["date"])
    per_month = features["date"].dt.strftime("%Y-%m").value_counts()
    assert [row["flights"] for row in rows] == [per_month[row["month"]] for row in rows]
    assert metrics["all"]["never"]["retrains"] == 0
    assert metrics["all"]["every_month"]["retrains"] == len(rows) - 1
    policy_retrains = [row["retrained_after"] for row in rows]
    assert metrics["all"]["policy"]["retrains"] == sum(policy_retrains)
    assert all(row["decision"] == "retrain" for row in rows[:-1] if row["retrained_after"])
    chosen = [
        c
        for c in json.loads((registered / "metrics/replay/thresholds.json").read_text())["candidates"]
        if c["chosen"]
    ]
    assert (
        len(chosen) == 1
        and {k: chosen[0][k] for k in metrics["policy_thresholds"]} == metrics["policy_thresholds"]
    )


# --- a rehearsal of .github/workflows/monitor.yaml ------------------------------------------
# GitHub Actions cannot run here: the jobs' `run:` steps run in order (bash -eo pipefail) in
# a clone, with the remote on moto's S3 and a stand-in `gh` (GitHub's API) that records its
# arguments; `uses:` steps are GitHub's machinery, stood in for by the test's setup.

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "monitor.yaml"
BUCKET = "rehearsal-monitor"
DROP_NAME = "2013-11-30"
INSTALL = (
    "python -m pip install --require-hashes -r requirements-build.txt\n"
    "python -m pip install --require-hashes --no-build-isolation -r requirements.txt"
)
GITHUB_ONLY = {
    "Check out with the registry's tags",
    "Set up Python",
    "Assume the read-only AWS role",
    "Upload the report",
    "Upload the reports",
}
#: Values GitHub would give the expression-valued env: entries.
EXPRESSIONS = {
    "REQUESTED_DROP": "",
    "RUN_URL": "https://github.com/example/repo/actions/runs/1",
    "DVC_S3_BUCKET": BUCKET,
    "GH_TOKEN": "rehearsal",
}
STAND_IN_GH = """#!{python}
# Stand-in for the gh CLI (GitHub's API cannot be reached here): records its arguments and body.
import json, os, sys
args = sys.argv[1:]
body = open(args[args.index("--body-file") + 1], encoding="utf-8").read() if "--body-file" in args else None
with open(os.environ["GH_REHEARSAL_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"argv": args, "body": body}}) + "\\n")
print("https://github.com/example/repo/pull/2")
"""


def expression(key: str, value: object, values: dict[str, str], outputs: dict[str, str]) -> str:
    """A step's env value: an earlier step's output, what GitHub would give, or the literal."""
    if found := re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.(\w+) \}\}", str(value)):
        return outputs[f"{found[1]}.{found[2]}"]
    return values[key] if "${{" in str(value) else str(value)


def run_job(
    name: str, workspace: Path, environment: dict[str, str], values: dict[str, str]
) -> dict[str, str]:
    """The job's run: steps in order; its step outputs (GITHUB_OUTPUT) by step id."""
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"][name]
    job_env = {k: values[k] if "${{" in str(v) else str(v) for k, v in job.get("env", {}).items()}
    outputs: dict[str, str] = {}
    for index, step in enumerate(job["steps"]):
        if "uses" in step:
            assert step["name"] in GITHUB_ONLY, step["name"]
            continue
        if step["run"].strip() == INSTALL:
            continue  # the test's interpreter is the installed environment
        step_env = {k: expression(k, v, values, outputs) for k, v in step.get("env", {}).items()}
        output_file = workspace.parent / f"{name}-output-{index}"
        output_file.write_text("")
        script = workspace.parent / f"{name}-step-{index}.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={**environment, **job_env, **step_env, "GITHUB_OUTPUT": str(output_file)},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (
            f"{name}: step {step['name']!r} failed:\n{result.stdout}{result.stderr}"
        )
        for line in output_file.read_text().splitlines():
            key, _, value = line.partition("=")
            outputs[f"{step.get('id')}.{key}"] = value
    return outputs


def test_the_monitor_workflow_monitors_the_newest_drop_and_opens_a_retrain_pull_request(
    registered: Path, s3_endpoint, tmp_path: Path
):
    origin = tmp_path / "origin"
    shutil.copytree(registered, origin, symlinks=True)
    s3_endpoint.create_bucket(BUCKET)
    dvc(origin, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/flight-delays")
    dvc(origin, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    write_drop(origin, origin / "data/drops/2013-10-31", 10, outcomes=False)
    write_drop(
        origin,
        origin / "data/drops" / DROP_NAME,
        11,
        outcomes=True,
        change=lambda f: f.assign(**{SHIFTED: f[SHIFTED] * 1.6}),
    )
    dvc(origin, "add", "data/drops/2013-10-31", f"data/drops/{DROP_NAME}")
    git(origin, "add", "data/drops")
    git(origin, "commit", "-q", "-m", "two drops")
    dvc(origin, "push", "--remote", "s3", **s3_endpoint.env)
    before = s3_endpoint.objects(BUCKET)

    workspace = tmp_path / "runner" / "workspace"
    git(tmp_path, "clone", "-q", str(origin), str(workspace))
    dvc(workspace, "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint.url)
    bin_dir = tmp_path / "runner" / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(STAND_IN_GH.format(python=sys.executable))
    (bin_dir / "gh").chmod(0o755)
    (tmp_path / "runner" / "temp").mkdir()
    environment = command_env(**s3_endpoint.env)
    environment.update(
        PATH=f"{bin_dir}:{environment['PATH']}",
        GITHUB_STEP_SUMMARY=str(tmp_path / "runner" / "summary.md"),
        RUNNER_TEMP=str(tmp_path / "runner" / "temp"),
        GITHUB_SHA=git(workspace, "rev-parse", "HEAD").stdout.strip(),
        GITHUB_RUN_ID="1",
        GH_REHEARSAL_LOG=str(tmp_path / "runner" / "gh.jsonl"),
    )
    outputs = run_job("monitor", workspace, environment, EXPRESSIONS)
    assert outputs["drop.drop"] == DROP_NAME and outputs["monitor.decision"] == "retrain"
    summary = (tmp_path / "runner" / "summary.md").read_text()
    assert summary.startswith("# Monitoring: retrain") and "](drift.png)" not in summary

    run_job("retrain", workspace, environment, {**EXPRESSIONS, "DROP": DROP_NAME})
    branch = f"monitor/retrain-{DROP_NAME}-1"
    assert git(origin, "rev-parse", "--verify", "-q", branch).returncode == 0
    moved = yaml.safe_load(git(origin, "show", f"{branch}:params.yaml").stdout)["split"]["train"]
    assert str(moved["start"]) == "2013-02-01"
    (call,) = [json.loads(line) for line in (tmp_path / "runner" / "gh.jsonl").read_text().splitlines()]
    assert call["argv"][:2] == ["pr", "create"] and call["argv"][call["argv"].index("--head") + 1] == branch
    assert "# Monitoring: retrain" in call["body"] and "![" not in call["body"]
    assert s3_endpoint.objects(BUCKET) == before, "the monitor workflow wrote to the shared remote"
