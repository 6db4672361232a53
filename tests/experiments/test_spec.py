"""A sweep file, the configurations DVC makes of it, their validation and their names."""

from __future__ import annotations

import re

import pytest

from src.core.stage import PipelineError
from src.experiments.spec import (
    Configuration,
    Grid,
    check_configurations,
    duplicates,
    expand,
    load_spec,
    name_configurations,
    parse_spec,
    slug,
    unknown_paths,
)
from src.sandbox import REPO_ROOT

PARAMS_TEXT = (REPO_ROOT / "params.yaml").read_text(encoding="utf-8")
LR = "train.hist_gradient_boosting.learning_rate"
LEAVES = "train.hist_gradient_boosting.max_leaf_nodes"


# --- the sweep file and its expansion ---------------------------------------------------------


def test_default_sweep_has_eight_valid_configurations_over_two_model_families():
    grids = load_spec(REPO_ROOT / "sweeps" / "default.yaml")
    configurations = [c for grid in grids for c in expand(grid.overrides)]

    assert len(configurations) == 8
    models = {o.split("=", 1)[1] for c in configurations for o in c if o.startswith("train.model=")}
    assert models == {"hist_gradient_boosting", "logistic_regression"}
    assert len(set(configurations)) == len(configurations)
    checked = check_configurations(PARAMS_TEXT, configurations)
    assert duplicates(configurations, checked) == []


def test_grid_syntax_expands_like_dvc_exp_run():
    configurations = expand([f"{LR}=0.05,0.1,0.2", f"{LEAVES}=15,63", "train.seed=1"])

    assert len(configurations) == 6
    assert (f"{LR}=0.2", f"{LEAVES}=63", "train.seed=1") in configurations
    assert expand(["train.seed=1"]) == [("train.seed=1",)]


def test_override_syntax_errors_are_reported():
    with pytest.raises(PipelineError, match=r"train\.seed=\[1"):
        expand(["train.seed=[1"])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "non-empty list under 'grids:'"),
        ({"grids": []}, "non-empty list under 'grids:'"),
        ({"grids": [{"name": "x"}]}, "'set' must be a non-empty list"),
        ({"grids": [{"set": ["a=1", 2]}]}, "'set' must be a non-empty list"),
        ({"grids": [{"set": ["a=1"], "sett": []}]}, "with 'name' and 'set' only"),
        ({"grids": [{"name": "A b", "set": ["a=1"]}, {"name": "a-B", "set": ["a=2"]}]}, "same name"),
    ],
)
def test_malformed_spec_is_rejected(raw, message):
    with pytest.raises(PipelineError, match=re.escape(message)):
        parse_spec(raw, "sweeps/x.yaml")


def test_spec_grids_keep_their_names_and_order():
    grids = parse_spec({"grids": [{"name": "a", "set": ["train.seed=1"]}, {"set": ["train.seed=2"]}]}, "x")
    assert grids == [Grid("a", ("train.seed=1",)), Grid("grid 2", ("train.seed=2",))]


# --- validation before anything runs -------------------------------------------------------------


def test_unknown_parameter_path_is_rejected_naming_it_once():
    with pytest.raises(PipelineError) as error:
        check_configurations(PARAMS_TEXT, expand(["train.hist_gradient_boosting.learnig_rate=0.1,0.2"]))
    message = str(error.value)
    assert "nothing was run" in message
    assert "train.hist_gradient_boosting.learnig_rate: unknown parameter path" in message
    assert message.count("unknown parameter path") == 1  # one problem, listed once for both values


def test_unknown_paths_walk_the_params_but_not_into_added_keys():
    params = {"train": {"seed": 1, "groups": ["a"]}}
    assert unknown_paths(params, ["train.seed=2", "train.groups=[b]", "+train.extra=1"]) == []
    assert unknown_paths(params, ["train.sed=2", "trian.seed=1", "train.seed.x=1"]) == [
        "train.sed",
        "trian.seed",
        "train.seed.x",
    ]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.model=xgboost", "train.model"),
        (f"{LR}=-1", LR),
        ("+train.extra=1", "train.extra"),  # DVC would add it; params.py forbids unknown keys
        ("train.feature_groups=[]", "train.feature_groups"),
    ],
)
def test_values_params_py_forbids_are_rejected_before_anything_runs(override, named):
    with pytest.raises(PipelineError, match=re.escape(named)):
        check_configurations(PARAMS_TEXT, [(override,)])


def test_valid_configurations_come_back_with_the_overrides_applied():
    (checked,) = check_configurations(
        PARAMS_TEXT, [("train.model=logistic_regression", "train.logistic_regression.C=0.1")]
    )
    assert checked.train.model == "logistic_regression"
    assert checked.train.logistic_regression.C == 0.1


def test_a_value_only_the_model_rejects_passes_validation():
    # Infinity is a positive float to params.py; scikit-learn refuses it when fitting.
    # Such a configuration runs and is reported as a failed experiment (tested in
    # tests/integration/test_sweep.py), not rejected up front.
    (checked,) = check_configurations(PARAMS_TEXT, [(f"{LR}=inf",)])
    assert checked.train.hist_gradient_boosting.learning_rate == float("inf")


def test_duplicate_configurations_are_found_by_their_parameters():
    configurations = [
        ("train.seed=1",),
        ("train.seed=2",),
        ("train.seed=1", "train.model=hist_gradient_boosting"),
    ]
    checked = check_configurations(PARAMS_TEXT, configurations)
    assert duplicates(configurations, checked) == [
        "train.seed=1 train.model=hist_gradient_boosting (same as train.seed=1)"
    ]


# --- experiment names --------------------------------------------------------------------------


GRIDS = [
    Grid("Gradient boosting", (f"{LR}=0.1,0.2",)),
    Grid("logistic", ("train.model=logistic_regression",)),
]
CONFIGURATIONS = {grid.name: expand(grid.overrides) for grid in GRIDS}


def test_names_come_from_the_grid_and_the_position():
    named = name_configurations(GRIDS, CONFIGURATIONS, taken=["unrelated"])

    assert named == [
        Configuration("gradient-boosting-1", "Gradient boosting", (f"{LR}=0.1",)),
        Configuration("gradient-boosting-2", "Gradient boosting", (f"{LR}=0.2",)),
        Configuration("logistic-1", "logistic", ("train.model=logistic_regression",)),
    ]


def test_a_later_sweep_of_the_same_commit_takes_the_first_free_round():
    taken = ["gradient-boosting-2", "logistic-r2-1"]  # round 1 and round 2 are partly taken

    names = [c.name for c in name_configurations(GRIDS, CONFIGURATIONS, taken)]

    assert names == ["gradient-boosting-r3-1", "gradient-boosting-r3-2", "logistic-r3-1"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("gradient boosting", "gradient-boosting"), (" L2 / C=1 ", "l2-c-1"), ("!!", "grid")],
)
def test_grid_names_become_ref_safe_slugs(name, expected):
    assert slug(name) == expected
