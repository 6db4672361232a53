"""``replay`` in params.yaml: how the replay of the data's year walks and tunes (no pandas here).

Kept apart from :mod:`src.monitoring.replay` so that ``src/params.py``, which every tool
loads, validates the section without importing pandas, scipy or scikit-learn.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from src.core.params import Fraction, ParamsSection

PositiveInt = Annotated[int, Field(gt=0)]


class ThresholdGrid(ParamsSection):
    """The policy's candidate thresholds: every combination is replayed on the tuning months."""

    #: Candidates for ``monitor.score_psi_limit``.
    score_psi_limit: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = [0.1, 0.25]
    #: Candidates for ``monitor.max_performance_drop.roc_auc``.
    roc_auc_drop: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=1)] = [0.01, 0.02, 0.03]
    #: Candidates for ``monitor.max_model_age_days``.
    max_model_age_days: Annotated[list[PositiveInt], Field(min_length=1)] = [90, 120, 365]


class ReplayParams(ParamsSection):
    """``replay``: the stage ``replay`` (``python -m src.monitoring.replay``, docs/monitoring.md)."""

    #: Months the first model learns from; the month after them is its reference month.
    initial_months: PositiveInt = 3
    #: ``moving``: every fit learns from ``initial_months`` months (as ``make retrain``
    #: moves the periods); ``expanding``: from the data's first month on (``--expand``).
    window: Literal["moving", "expanding"] = "expanding"
    #: The first live months: the policy's thresholds are chosen on them alone.
    tuning_months: PositiveInt = 3
    #: The rule, stated before any month is seen: the highest mean monthly ROC AUC on the
    #: tuning months; among the combinations within ``tolerance`` of it, the fewest
    #: retrains; then the first in the grid's order.
    tolerance: Annotated[float, Field(ge=0)] = 0.005
    grid: ThresholdGrid = ThresholdGrid()
    #: The performance check's interval (the monitor takes these from ``gate``; the replay
    #: has its own, so editing the gate re-runs no stage).
    bootstrap_samples: Annotated[int, Field(ge=20)] = 100
    confidence: Annotated[Fraction, Field(gt=0.5, lt=1)] = 0.975
    seed: Annotated[int, Field(ge=0)] = 2013
