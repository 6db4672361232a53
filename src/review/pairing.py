"""Two revisions' per-flight test scores, aligned flight by flight (pure).

Each revision brings evaluate's predictions (the ``train`` stage's model) and, when it
has them, the seeds stage's scores of the same configuration trained with other seeds:
together its *replicates*. The pairing keeps the flights every file holds, each
revision's own labels, and the branch's segment attributes; a seed whose scores are not
all numbers is left out, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.core.stage import PipelineError
from src.stages.seeds import SCORE_PREFIX, SEGMENT_COLUMNS

#: Column names of a predictions file (written by the evaluate stage).
KEY, LABEL, SCORE = "flight_id", "is_late", "score"


@dataclass(frozen=True)
class PairedScores:
    """Both revisions' labels and scores on the test flights they share, row by row."""

    base_labels: np.ndarray
    base_scores: np.ndarray  # the train stage's model
    branch_labels: np.ndarray
    branch_scores: np.ndarray
    base_rows: int
    branch_rows: int
    #: The same configuration trained with other seeds: one row per seed (None: not given).
    base_seed_scores: np.ndarray | None = None
    branch_seed_scores: np.ndarray | None = None
    #: Per flight, the columns segments are made of (``SEGMENT_COLUMNS`` found), row by row.
    attributes: pd.DataFrame | None = None
    #: What the pairing had to leave out, and why.
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.branch_scores)

    def replicates(self, side: str) -> np.ndarray:
        """One side's scores, one row per replicate, the train stage's model first."""
        main = getattr(self, f"{side}_scores")
        others = getattr(self, f"{side}_seed_scores")
        return np.vstack([main, others]) if others is not None and len(others) else main[None, :]

    def subset(self, rows: np.ndarray) -> PairedScores:
        """The same revisions on some of the rows (a segment)."""

        def take(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[..., rows]

        return PairedScores(
            base_labels=self.base_labels[rows],
            base_scores=self.base_scores[rows],
            branch_labels=self.branch_labels[rows],
            branch_scores=self.branch_scores[rows],
            base_rows=self.base_rows,
            branch_rows=self.branch_rows,
            base_seed_scores=take(self.base_seed_scores),
            branch_seed_scores=take(self.branch_seed_scores),
        )


def _check_frame(name: str, frame: pd.DataFrame, required: Sequence[str]) -> None:
    missing = set(required) - set(frame.columns)
    if missing:
        raise PipelineError(f"{name} lack the column(s) {', '.join(sorted(missing))}")
    if frame[KEY].duplicated().any():
        raise PipelineError(f"{name} list a {KEY} more than once")


def seed_columns(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if str(column).startswith(SCORE_PREFIX)]


def _seed_scores(
    joined: pd.DataFrame, columns: Sequence[str], side: str, notes: list[str]
) -> np.ndarray | None:
    """The seeds' scores (one row per seed), leaving out any seed whose scores are not all numbers."""
    kept = []
    for column in columns:
        values = joined[f"{side}:{column}"].to_numpy(dtype=np.float64)
        if np.isfinite(values).all():
            kept.append(values)
        else:
            notes.append(
                f"{side} seed {column.removeprefix(SCORE_PREFIX)} left out: its scores are not all numbers"
            )
    return np.vstack(kept) if kept else np.empty((0, len(joined)))


def pair_predictions(
    base: pd.DataFrame,
    branch: pd.DataFrame,
    base_seeds: pd.DataFrame | None = None,
    branch_seeds: pd.DataFrame | None = None,
) -> PairedScores:
    """Align two revisions' scores on the flights that all the given frames hold.

    ``base`` and ``branch`` are evaluate's predictions (``flight_id``, ``is_late``,
    ``score``); each revision keeps its own labels (a change to the label definition
    shows as such). ``*_seeds`` are the seeds stage's files (``flight_id`` and one
    ``seed_<n>`` column per seed), or None when a revision has none. Segment attributes
    come from the branch's files.
    """
    for name, frame in (("base predictions", base), ("branch predictions", branch)):
        _check_frame(name, frame, (KEY, LABEL, SCORE))
    columns = [KEY, LABEL, SCORE]
    joined = base[columns].merge(branch[columns], on=KEY, suffixes=("_base", "_branch"), sort=True)
    extra = [column for column in SEGMENT_COLUMNS if column in branch.columns]
    joined = joined.merge(branch[[KEY, *extra]], on=KEY) if extra else joined
    found: dict[str, list[str]] = {}
    for side, seeds in (("base", base_seeds), ("branch", branch_seeds)):
        if seeds is None:
            continue
        _check_frame(f"{side} seed predictions", seeds, (KEY,))
        found[side] = seed_columns(seeds)
        renamed = seeds[[KEY, *found[side]]].rename(columns={c: f"{side}:{c}" for c in found[side]})
        joined = joined.merge(renamed, on=KEY)
        if side == "branch":
            more = [c for c in SEGMENT_COLUMNS if c in seeds.columns and c not in joined.columns]
            joined = joined.merge(seeds[[KEY, *more]], on=KEY) if more else joined
    notes: list[str] = []
    seed_scores = {side: _seed_scores(joined, found[side], side, notes) for side in found}
    attributes = [column for column in SEGMENT_COLUMNS if column in joined.columns]
    return PairedScores(
        base_labels=joined[f"{LABEL}_base"].to_numpy(dtype=np.int8),
        base_scores=joined[f"{SCORE}_base"].to_numpy(dtype=np.float64),
        branch_labels=joined[f"{LABEL}_branch"].to_numpy(dtype=np.int8),
        branch_scores=joined[f"{SCORE}_branch"].to_numpy(dtype=np.float64),
        base_rows=len(base),
        branch_rows=len(branch),
        base_seed_scores=seed_scores.get("base"),
        branch_seed_scores=seed_scores.get("branch"),
        attributes=joined[attributes].reset_index(drop=True) if attributes else None,
        notes=tuple(notes),
    )


def training_note(paired: PairedScores) -> str | None:
    """Why training noise cannot be measured on ``paired``, or None when it can."""
    missing = [
        side
        for side in ("base", "branch")
        if getattr(paired, f"{side}_seed_scores") is None or not len(getattr(paired, f"{side}_seed_scores"))
    ]
    if not missing:
        return None
    return f"the {' and the '.join(missing)} {'has' if len(missing) == 1 else 'have'} no other seeds' scores"
