import copy

import pytest
import yaml

from src.core.params import IngestParams
from src.core.stage import PipelineError
from src.params import Params, parse_params
from src.sandbox import REPO_ROOT


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def error_for(raw: dict) -> str:
    with pytest.raises(PipelineError) as caught:
        parse_params(raw)
    return str(caught.value)


def test_repository_params_are_valid(raw):
    params = parse_params(raw)
    assert isinstance(params, Params)
    assert params.train.model in {"hist_gradient_boosting", "logistic_regression"}


def test_unknown_model_names_the_parameter_and_the_choices(raw):
    raw["train"]["model"] = "random_forest"
    message = error_for(raw)
    assert "train.model" in message
    assert "hist_gradient_boosting" in message and "logistic_regression" in message
    assert "random_forest" in message


def test_unknown_key_is_rejected_with_its_path(raw):
    raw["train"]["hist_gradient_boosting"]["learning_rat"] = 0.1
    message = error_for(raw)
    assert "train.hist_gradient_boosting.learning_rat" in message
    assert "unknown key" in message


def test_unknown_section_is_rejected(raw):
    raw["trian"] = {}
    assert "trian" in error_for(raw)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("hist_gradient_boosting", "max_iter", 0),
        ("hist_gradient_boosting", "learning_rate", -0.1),
        ("logistic_regression", "C", 0),
    ],
)
def test_non_positive_sizes_are_rejected(raw, section, key, value):
    raw["train"][section][key] = value
    message = error_for(raw)
    assert f"train.{section}.{key}" in message
    assert "greater than 0" in message


def test_negative_sample_size_is_rejected(raw):
    raw["ingest"]["sample_flights"] = -5
    assert "ingest.sample_flights" in error_for(raw)


@pytest.mark.parametrize("key", ["max_file_bytes", "max_uncompressed_bytes"])
@pytest.mark.parametrize("value", [0, -1, "1GB"])
def test_size_limits_must_be_positive_byte_counts(raw, key, value):
    raw["ingest"][key] = value
    assert f"ingest.{key}" in error_for(raw)


def test_the_documented_size_limits_are_the_defaults(raw):
    """params.yaml and IngestParams say the same thing (128 MiB each)."""
    defaults = IngestParams()
    assert raw["ingest"]["max_file_bytes"] == defaults.max_file_bytes == 128 * 2**20
    assert raw["ingest"]["max_uncompressed_bytes"] == defaults.max_uncompressed_bytes == 128 * 2**20


def test_overlapping_split_periods_are_rejected(raw):
    raw["split"]["validation"]["start"] = "2013-08-15"
    message = error_for(raw)
    assert "split" in message and "validation" in message and "overlap" in message


def test_period_ending_before_it_starts_is_rejected(raw):
    raw["split"]["test"]["end"] = "2013-10-01"
    message = error_for(raw)
    assert "split.test" in message and "before start" in message


def test_text_where_a_number_belongs_is_rejected(raw):
    raw["evaluate"]["threshold"] = "high"
    assert "evaluate.threshold" in error_for(raw)


def test_empty_feature_group_list_is_rejected(raw):
    raw["train"]["feature_groups"] = []
    assert "train.feature_groups" in error_for(raw)


def test_errors_list_every_problem_at_once(raw):
    bad = copy.deepcopy(raw)
    bad["train"]["model"] = "svm"
    bad["evaluate"]["threshold"] = 2
    message = error_for(bad)
    assert "train.model" in message and "evaluate.threshold" in message
