"""What batch scoring writes, chunk by chunk: the scores (Parquet) and the rejects (CSV), and its tally.

Scores: per flight its row number in the drop, its key, and for each model (the primary,
then the ``--shadow`` one with the prefix ``shadow_``) the probability of arriving late,
the flag at that version's threshold, the version and the model file's MD5. Rejects: row
number, key as the drop gave it, and the reasons.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from src.serving.features import unseen_categories
from src.serving.model_ref import ScoringModel
from src.serving.schema import KEY_COLUMNS

log = logging.getLogger("pipeline")

REJECT_COLUMNS = ("row", *KEY_COLUMNS, "reason")


@dataclass
class Tally:
    """What a run scored and rejected, and the probabilities a shadow comparison needs."""

    scored: int = 0
    rejected: int = 0
    flagged: int = 0
    unseen: dict[str, int] = field(default_factory=dict)
    primary: list[np.ndarray] = field(default_factory=list)
    shadow: list[np.ndarray] = field(default_factory=list)
    non_null: dict[str, int] = field(default_factory=dict)
    unconverted: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int], into: dict[str, int]) -> None:
        for name, count in counts.items():
            into[name] = into.get(name, 0) + int(count)


@dataclass(frozen=True)
class Prepared:
    """A chunk checked and featurized, waiting for its scores."""

    number: int
    rows: tuple[int, int]
    valid: pd.DataFrame
    features: pd.DataFrame | None
    rejected: pd.DataFrame


def model_columns(
    flights: pd.DataFrame, scoring: ScoringModel, probability: np.ndarray, prefix: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            f"{prefix}probability": probability,
            f"{prefix}flagged_late": probability >= scoring.threshold,
            f"{prefix}model_version": pd.Series(scoring.version, index=flights.index, dtype="str"),
            f"{prefix}model_md5": pd.Series(scoring.md5, index=flights.index, dtype="str"),
        },
        index=flights.index,
    )


def key_columns(flights: pd.DataFrame) -> pd.DataFrame:
    """The flights' key with whole numbers as integers (``validate`` stores them as floats;
    the scoring schema accepts only whole year, month, day and flight numbers)."""
    whole = [name for name in KEY_COLUMNS if pd.api.types.is_float_dtype(flights[name])]
    return flights[list(KEY_COLUMNS)].astype(dict.fromkeys(whole, "Int64"))


def output_rows(prepared: Prepared, models: list[ScoringModel], scores: list[np.ndarray]) -> pd.DataFrame:
    """Row number, key, and each model's probability, flag, version and MD5."""
    valid = prepared.valid
    columns = [valid.index.to_series(name="row").astype("int64"), key_columns(valid)]
    for scoring, probability, prefix in zip(models, scores, ("", "shadow_"), strict=False):
        columns.append(model_columns(valid, scoring, probability, prefix))
    return pd.concat(columns, axis=1)


class Outputs:
    """The scores (Parquet, one row group per chunk) and the rejects (CSV), appended chunk by chunk."""

    def __init__(self, scores: Path, rejects: TextIO, models: list[ScoringModel], tally: Tally) -> None:
        self.scores, self.rejects, self.models, self.tally = scores, rejects, models, tally
        self.writer: pq.ParquetWriter | None = None
        pd.DataFrame(columns=list(REJECT_COLUMNS)).to_csv(rejects, index=False)

    def write(self, prepared: Prepared, scores: list[np.ndarray], started: float) -> None:
        table = pyarrow.Table.from_pandas(output_rows(prepared, self.models, scores), preserve_index=False)
        self.writer = self.writer or pq.ParquetWriter(self.scores, table.schema, compression="snappy")
        self.writer.write_table(table.cast(self.writer.schema))
        prepared.rejected.rename_axis("row").reset_index().to_csv(self.rejects, header=False, index=False)
        tally, primary = self.tally, self.models[0]
        tally.scored += len(prepared.valid)
        tally.rejected += len(prepared.rejected)
        tally.flagged += int((scores[0] >= primary.threshold).sum())
        if prepared.features is not None:
            tally.add(unseen_categories(primary.model, prepared.features), tally.unseen)
        if len(self.models) > 1:
            tally.primary.append(scores[0])
            tally.shadow.append(scores[1])
        log.info(
            "chunk %d: rows %d-%d, %d scored, %d rejected (%.1f s)",
            prepared.number, *prepared.rows, len(prepared.valid), len(prepared.rejected), time.perf_counter() - started,
        )  # fmt: skip

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
