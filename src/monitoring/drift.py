"""How far a drop of flights has moved from the model's training reference (pure).

Every statistic compares a drop with a *profile* of the reference made once
(:func:`profile_feature`), so a replay can profile a model's reference once and compare
month after month, and the bins never move with the drop:

* **numeric** features: bins at the reference's quantiles (``bins`` of them, fewer when
  values repeat), the lowest and highest bins open-ended so every drop value has a bin;
  a two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``) on the raw values;
* **categorical** features: one bin per category the reference holds, and one "unseen"
  bin for the rest; the share of the drop's values that are unseen.

The population stability index of a feature is ``sum((q - p) * ln(q / p))`` over its
bins, ``p`` the reference's share of non-missing values in the bin and ``q`` the drop's.
Missing values are kept out of the bins and measured on their own (the change of the
missing rate), so a feature that goes missing reads as such rather than as a shift. An
empty bin counts as :data:`EMPTY_BIN_SHARE` of the values: a drop with new values gets a
large, finite index instead of an infinite one.

Prediction drift is the same numeric comparison on the model's scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

#: The share an empty bin counts as, on either side (a common choice; it bounds one bin's term).
EMPTY_BIN_SHARE = 1e-4
UNSEEN = "(unseen)"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureProfile:
    """A feature's reference, binned once: what every drop is compared with."""

    feature: str
    kind: Kind
    #: Numeric: the interior bin edges (bin ``i`` holds ``edges[i-1] < x <= edges[i]``).
    edges: tuple[float, ...]
    #: Categorical: the reference's categories, in order (the unseen bin comes last).
    categories: tuple[str, ...]
    #: The reference's share of its non-missing values in each bin.
    shares: tuple[float, ...]
    missing_share: float
    #: Numeric: the reference's non-missing values, sorted (what the KS test needs).
    values: np.ndarray
    rows: int


@dataclass(frozen=True)
class FeatureDrift:
    """One feature of a drop against its reference profile."""

    feature: str
    kind: Kind
    #: None when the drop has no non-missing value of the feature (see ``note``).
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    reference_missing: float
    drop_missing: float
    #: Categorical: share of the drop's non-missing values in no reference category.
    unseen_share: float | None
    #: The drop's share of its non-missing values in each bin (the profile's order).
    drop_shares: tuple[float, ...]
    rows: int
    #: Why a statistic could not be computed, else None.
    note: str | None = None

    @property
    def missing_change(self) -> float:
        return self.drop_missing - self.reference_missing


def numeric_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Interior edges at the ``bins``-quantiles of ``values`` (non-missing), duplicates merged.

    Edges are observed values (``inverted_cdf``), so a feature with a few distinct values
    (an hour, a flag) gets one bin per value instead of edges between them; an edge at the
    maximum is dropped, so the highest bin is never empty in the reference.
    """
    if len(values) == 0:
        return np.empty(0)
    quantiles = np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf")
    edges = np.unique(quantiles)
    return edges[edges < values.max()]


def numeric_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of each value: 0 up to the first edge (included), len(edges) above the last."""
    return np.searchsorted(edges, values, side="left")


def shares_of(bin_numbers: np.ndarray, bins: int) -> np.ndarray:
    """Share of the values in each of ``bins`` bins (zeros when there are no values)."""
    counts = np.bincount(bin_numbers, minlength=bins).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def population_stability_index(reference: Iterable[float], drop: Iterable[float]) -> float:
    """``sum((q - p) * ln(q / p))`` over bins, empty bins counted as :data:`EMPTY_BIN_SHARE`."""
    p = np.maximum(np.asarray(list(reference), dtype=np.float64), EMPTY_BIN_SHARE)
    q = np.maximum(np.asarray(list(drop), dtype=np.float64), EMPTY_BIN_SHARE)
    return float(np.sum((q - p) * np.log(q / p)))


def is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or isinstance(column.dtype, pd.CategoricalDtype)


def profile_feature(column: pd.Series, bins: int = 10, kind: Kind | None = None) -> FeatureProfile:
    """The reference profile of one feature (``kind``: from its dtype unless given)."""
    kind = kind or ("categorical" if is_categorical(column) else "numeric")
    present = column.dropna()
    missing = float(column.isna().mean()) if len(column) else 0.0
    if kind == "categorical":
        counts = present.astype(str).value_counts()
        categories = tuple(sorted(counts.index))
        shares = [*(counts[name] / len(present) for name in categories), 0.0]
        return FeatureProfile(
            str(column.name), kind, (), categories, tuple(shares), missing, np.empty(0), len(column)
        )
    values = np.sort(present.to_numpy(dtype=np.float64))
    edges = numeric_edges(values, bins)
    shares = shares_of(numeric_bins(values, edges), len(edges) + 1)
    return FeatureProfile(
        str(column.name), kind, tuple(edges), (), tuple(shares), missing, values, len(column)
    )


def profile_reference(
    frame: pd.DataFrame, features: Iterable[str], bins: int = 10
) -> dict[str, FeatureProfile]:
    """Profiles of ``features`` of the reference ``frame``, by name."""
    return {name: profile_feature(frame[name], bins) for name in features}


def feature_drift(profile: FeatureProfile, column: pd.Series, with_ks: bool = True) -> FeatureDrift:
    """One feature of a drop against its profile: PSI, KS (numeric), unseen share, missing rate.

    ``with_ks=False`` leaves the KS test out (None): it is reported, never decided on, and it
    is most of the cost on a large reference (a replay compares dozens of months).
    """
    present = column.dropna()
    missing = float(column.isna().mean()) if len(column) else 0.0
    common = dict(
        feature=profile.feature,
        kind=profile.kind,
        reference_missing=profile.missing_share,
        drop_missing=missing,
        rows=len(column),
    )
    if len(present) == 0:
        why = "no flights" if len(column) == 0 else "every value is missing"
        return FeatureDrift(
            psi=None, ks_statistic=None, ks_pvalue=None, unseen_share=None, drop_shares=(), note=why, **common
        )
    if sum(profile.shares) == 0:
        return FeatureDrift(
            psi=None, ks_statistic=None, ks_pvalue=None, unseen_share=None, drop_shares=(),
            note="the reference has no value of it", **common,
        )  # fmt: skip
    if profile.kind == "categorical":
        index = {name: position for position, name in enumerate(profile.categories)}
        positions = present.astype(str).map(index).fillna(len(profile.categories)).to_numpy(dtype=np.int64)
        drop_shares = shares_of(positions, len(profile.categories) + 1)
        return FeatureDrift(
            psi=population_stability_index(profile.shares, drop_shares),
            ks_statistic=None,
            ks_pvalue=None,
            unseen_share=float(drop_shares[-1]),
            drop_shares=tuple(drop_shares),
            **common,
        )
    values = present.to_numpy(dtype=np.float64)
    drop_shares = shares_of(numeric_bins(values, np.asarray(profile.edges)), len(profile.edges) + 1)
    test = stats.ks_2samp(profile.values, values) if with_ks else None
    return FeatureDrift(
        psi=population_stability_index(profile.shares, drop_shares),
        ks_statistic=None if test is None else float(test.statistic),
        ks_pvalue=None if test is None else float(test.pvalue),
        unseen_share=None,
        drop_shares=tuple(drop_shares),
        **common,
    )


def data_drift(
    profiles: Mapping[str, FeatureProfile], drop: pd.DataFrame, with_ks: bool = True
) -> dict[str, FeatureDrift]:
    """Every profiled feature of ``drop`` against its reference, by name."""
    return {name: feature_drift(profile, drop[name], with_ks) for name, profile in profiles.items()}


def score_profile(scores: np.ndarray, bins: int = 10) -> FeatureProfile:
    """The profile of the model's reference scores (prediction drift's reference)."""
    return profile_feature(pd.Series(scores, name="score", dtype="float64"), bins, kind="numeric")


def score_drift(profile: FeatureProfile, scores: np.ndarray) -> FeatureDrift:
    """The drop's scores against the reference's: PSI on the reference's score bins, and KS."""
    return feature_drift(profile, pd.Series(scores, name="score", dtype="float64"))
