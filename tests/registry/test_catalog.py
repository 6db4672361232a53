"""Reading the registry: declared models, stages, GTO's answer about versions (pure parts)."""

from __future__ import annotations

import pytest
import yaml

from src.core.stage import PipelineError
from src.registry.catalog import (
    DEFAULT_STAGES,
    ModelVersion,
    allowed_stages,
    check_stage,
    declared_models,
    find_version,
    holder,
    parse_versions,
    pick_model,
    split_metrics,
)
from src.registry.versions import Version
from src.sandbox import REPO_ROOT

PROJECT = """
stages: {}
artifacts:
  late-arrival:
    path: models/model.pkl
    type: model
    desc: >-
      Probability of a late
      arrival.
    labels: [tabular]
  flights-table:
    path: data/features/flights.parquet
    type: dataset
"""


def assignment(stage: str, active: bool, ref: str) -> dict:
    return {"stage": stage, "is_active": active, "ref": ref}


#: The shape of `gto show <model> --json` (GTO 1.10), trimmed to the fields read.
SHOWN = [
    {
        "artifact": "late-arrival",
        "commit_hexsha": "b" * 40,
        "version": "v1.0.1",
        "ref": "late-arrival@v1.0.1",
        "registrations": [{"message": "late-arrival v1.0.1: changed since v1.0.0: parameters\n"}],
        "stages": [
            assignment("prod", True, "late-arrival#prod#2"),
            assignment("dev", True, "late-arrival#dev#1"),
        ],
    },
    {
        "artifact": "late-arrival",
        "commit_hexsha": "a" * 40,
        "version": "v1.0.0",
        "ref": "late-arrival@v1.0.0",
        "registrations": [{"message": "late-arrival v1.0.0: first registered version"}],
        "stages": [assignment("staging", False, "late-arrival#staging#1")],
    },
]


def test_only_models_are_read_from_the_artifacts_section():
    models = declared_models(PROJECT)
    assert list(models) == ["late-arrival"]
    assert models["late-arrival"].path == "models/model.pkl"
    assert models["late-arrival"].description == "Probability of a late arrival."
    assert models["late-arrival"].labels == ("tabular",)


def test_the_project_declares_the_trained_model():
    project = (REPO_ROOT / "dvc.yaml").read_text()
    models = declared_models(project)
    trained = yaml.safe_load(project)["stages"]["train"]["outs"]
    assert len(models) == 1
    assert next(iter(models.values())).path in trained


def test_the_only_model_is_the_default_and_an_unknown_name_is_refused():
    models = declared_models(PROJECT)
    assert pick_model(models, None).name == "late-arrival"
    with pytest.raises(PipelineError, match="unknown model 'late': dvc.yaml artifacts declare late-arrival"):
        pick_model(models, "late")
    with pytest.raises(PipelineError, match="declares none"):
        pick_model({}, None)


def test_stages_come_from_the_gto_config_which_the_repository_has():
    assert allowed_stages((REPO_ROOT / ".gto").read_text()) == DEFAULT_STAGES == ("dev", "staging", "prod")
    assert allowed_stages("stages: [qa, live]\n") == ("qa", "live")
    assert check_stage("prod", DEFAULT_STAGES) == "prod"
    with pytest.raises(PipelineError, match="unknown stage 'production': the stages are dev, staging, prod"):
        check_stage("production", DEFAULT_STAGES)


def test_versions_are_sorted_and_hold_only_their_active_stages():
    versions = parse_versions(SHOWN)
    assert [str(item.version) for item in versions] == ["v1.0.0", "v1.0.1"]
    assert versions[0].stages == ()
    assert versions[1].stages == ("prod", "dev")
    assert versions[1].message.startswith("late-arrival v1.0.1: changed since v1.0.0")
    assert holder(versions, "prod") == versions[1]
    assert holder(versions, "staging") is None


def test_an_unregistered_version_is_refused_with_the_registered_ones():
    versions = [ModelVersion(Version(1, 0, 0), "a" * 40, "late-arrival@v1.0.0")]
    assert find_version(versions, Version(1, 0, 0), "late-arrival") is versions[0]
    with pytest.raises(PipelineError, match=r"late-arrival v2.0.0 is not registered \(registered: v1.0.0\)"):
        find_version(versions, Version(2, 0, 0), "late-arrival")


def test_split_metrics_keep_the_numbers_of_one_split():
    text = '{"test": {"roc_auc": 0.7, "rows": 10, "note": "x"}, "threshold": 0.3}'
    assert split_metrics(text, "test") == {"roc_auc": 0.7, "rows": 10}
    assert split_metrics(None, "test") == {}
