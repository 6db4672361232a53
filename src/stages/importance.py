"""Permutation feature importance, computed by the ``evaluate`` stage.

Not a stage of its own: on the full data its computation takes a few seconds, less than
another process's start-up and DVC's handling of another stage would add (BENCHMARKS.md,
"Each stage against its floor"). The method is scikit-learn's ``permutation_importance``
(mean drop in validation ROC AUC over ``evaluate.importance_repeats`` shuffles of each
column, on ``evaluate.importance_rows`` validation rows); for a boosting model it scores
the shuffled copies with :class:`PermutedSampleBooster`, which gives the same scores bit
for bit at about a third of the cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from src.core.params import EvaluateParams
from src.stages.train import LABEL


def columns_above(tree: TreePredictor) -> np.ndarray:
    """For each node of a fitted tree, the columns split on between the root and it, as bits."""
    nodes = tree.nodes
    above = np.zeros(len(nodes), dtype=np.int64)
    pending = [0]  # the root
    while pending:
        node = pending.pop()
        if nodes["is_leaf"][node]:
            continue
        for child in (nodes["left"][node], nodes["right"][node]):
            above[child] = above[node] | (1 << int(nodes["feature_idx"][node]))
            pending.append(child)
    return above


class PermutedSampleBooster(ClassifierMixin, BaseEstimator):
    """A fitted binary boosting classifier, scoring permuted copies of one sample.

    Permutation importance shuffles one column at a time. A row's value in a tree can only
    change if its path from the root crosses a split on a shuffled column: every other split
    on the path compares columns that did not move. So the sample's value in every tree, and
    for each row the columns its path splits on, are computed once (the leaf a row reaches is
    read through the tree's own prediction code, leaf values replaced by node numbers); each
    call runs a tree again only for the rows whose path crosses a changed column, and adds
    the trees up in the booster's order from its baseline, as ``decision_function`` does. The
    scores are therefore the booster's bit for bit; on the real data about one (row, tree)
    pair in seven is run again per shuffled column. It reads the fitted trees through
    scikit-learn's private attributes (pinned in requirements.txt);
    tests/stages/test_evaluate.py checks it against the library.
    """

    #: Columns are bits of an int64.
    MAX_COLUMNS = 63
    #: Above this share of rows, running the tree on all of them is cheaper than gathering them.
    RERUN_ALL_SHARE = 0.7

    def __init__(self, booster: HistGradientBoostingClassifier, sample: np.ndarray) -> None:
        self.booster = booster
        self.sample = sample
        self.classes_ = booster.classes_
        self._categories = booster._bin_mapper.make_known_categories_bitsets()
        self._trees = [tree for (tree,) in booster._predictors]
        self._sample_values, self._row_columns, self._tree_columns = [], [], []
        for tree in self._trees:
            above = columns_above(tree)
            self._sample_values.append(self._tree_values(tree, sample))
            self._row_columns.append(above[self._leaves(tree, sample)])
            self._tree_columns.append(int(np.bitwise_or.reduce(above)))
        self._sample_missing = np.isnan(sample)

    def fit(self, X: np.ndarray, y: np.ndarray) -> PermutedSampleBooster:
        """Nothing to fit (the booster is fitted); scikit-learn's helpers require the method."""
        return self

    def _tree_values(self, tree: TreePredictor, X: np.ndarray) -> np.ndarray:
        known_categories, feature_map = self._categories
        # One OpenMP thread: permutation importance spreads the columns over Python threads.
        return tree.predict(X, known_categories, feature_map, 1)

    def _leaves(self, tree: TreePredictor, X: np.ndarray) -> np.ndarray:
        """The node each row of ``X`` ends in."""
        numbered = tree.nodes.copy()
        numbered["value"] = np.arange(len(numbered))
        as_numbers = TreePredictor(numbered, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets)
        return self._tree_values(as_numbers, X).astype(np.intp)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        differs = ((X != self.sample) & ~(np.isnan(X) & self._sample_missing)).any(axis=0)
        changed = sum(1 << int(column) for column in np.flatnonzero(differs))
        raw = np.zeros(len(X))
        raw += self.booster._baseline_prediction[0, 0]
        for tree, values, row_columns, tree_columns in zip(
            self._trees, self._sample_values, self._row_columns, self._tree_columns, strict=True
        ):
            if tree_columns & changed:
                rows = np.flatnonzero(row_columns & changed)
                if len(rows) > self.RERUN_ALL_SHARE * len(X):
                    values = self._tree_values(tree, X)
                elif len(rows):
                    values = values.copy()
                    values[rows] = self._tree_values(tree, X[rows])
            raw += values
        return raw


def importance_inputs(model: Pipeline, sample: pd.DataFrame) -> tuple[object, object, list[str]]:
    """The estimator, input and column names that permutation importance should shuffle.

    The pipeline on raw columns, unless its encoding maps each column on its own (ordinal
    codes, passthrough): then shuffling an encoded column is shuffling the raw one, so the
    sample is encoded once rather than once per column and repeat. A binary boosting model
    whose trees see exactly those encoded values is then scored by
    :class:`PermutedSampleBooster`. The scores are the same on every path.
    """
    columns = list(model.feature_names_in_)
    encode, classifier = model[:-1], model[-1]
    encoded_columns = list(encode.get_feature_names_out())
    if sorted(encoded_columns) != sorted(columns):
        return model, sample[columns], columns
    encoded = encode.transform(sample[columns])
    if not isinstance(classifier, HistGradientBoostingClassifier) or classifier.n_trees_per_iteration_ != 1:
        return classifier, encoded, encoded_columns
    as_trees_see_it = classifier._preprocess_X(encoded, reset=False)
    same = np.array_equal(as_trees_see_it, encoded.to_numpy(np.float64), equal_nan=True)
    if not same or len(encoded_columns) > PermutedSampleBooster.MAX_COLUMNS:
        return classifier, encoded, encoded_columns
    return PermutedSampleBooster(classifier, as_trees_see_it), as_trees_see_it, encoded_columns


def feature_importance(
    model: Pipeline, frame: pd.DataFrame, params: EvaluateParams, seed: int, n_jobs: int = 1
) -> pd.Series:
    """Mean drop in ROC AUC when each input column is shuffled, largest first.

    ``n_jobs`` threads share the columns; the result does not depend on it.
    """
    columns = list(model.feature_names_in_)
    sample = frame.sample(n=min(params.importance_rows, len(frame)), random_state=seed)
    estimator, features, names = importance_inputs(model, sample)
    with parallel_config(backend="threading"):
        result = permutation_importance(
            estimator,
            features,
            sample[LABEL],
            scoring="roc_auc",
            n_repeats=params.importance_repeats,
            random_state=seed,
            n_jobs=n_jobs,
        )
    importance = pd.Series(result.importances_mean, index=names)
    # In the input's column order before sorting, so ties come out in the same order either way.
    return importance.reindex(columns).sort_values(ascending=False)
