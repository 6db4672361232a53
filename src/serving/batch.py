"""Score a schedule drop: ``python -m src.serving.batch --model prod --input DROP --out scored.parquet``.

Two passes over the drop's flights, each in chunks of ``score.chunk_rows``:

1. the origin-hour departure count, the one feature that needs the whole schedule, is
   counted over every flight of the drop whose origin, hour and scheduled times are
   valid (``featurize.schedule_features``, once, on those four columns);
2. each chunk is checked with the schedule schema (failing rows go to the rejects file
   with their reasons), featurized with ``featurize.build_features``, scored, and
   appended to the output: per flight its row number in the drop, its key, the
   probability of arriving late, the flag at the version's ``evaluate.threshold``, the
   model version and the model file's MD5 (and the same for ``--shadow``).

Everything is written to temporary files renamed into place at the end: on any error
nothing appears at ``--out``. Exit status 0: every flight scored; 3: some rejected
(scores and rejects written); 1: an error, with one sentence saying what.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from src.core.files import atomic_path, write_json
from src.core.stage import PipelineError, run_stage
from src.core.tables import SizeLimits
from src.params import load_params
from src.serving import shadow as shadow_mode
from src.serving.drop import Drop, check_rows, drop_limits, open_drop, read_flight_chunks
from src.serving.features import flight_features, late_probability, origin_hour_departures
from src.serving.model_ref import ScoringModel, resolve_model
from src.serving.outputs import Outputs, Prepared, Tally
from src.serving.schema import DEPARTURE_COLUMNS, KEY_COLUMNS, SCHEDULE_COLUMNS, SCHEDULE_SCHEMA
from src.serving.settings import ScoreParams
from src.stages.train import fixed_thread_count

log = logging.getLogger("pipeline")

REJECTED_EXIT = 3


def count_departures(drop: Drop, settings: ScoreParams, limits: SizeLimits) -> np.ndarray:
    """Pass 1: per row of the drop, departures its origin has scheduled in its hour (-1: not counted)."""
    schema = pa.DataFrameSchema({name: SCHEDULE_SCHEMA.columns[name] for name in DEPARTURE_COLUMNS})
    parts, rows = [], 0
    for chunk in read_flight_chunks(drop.flights, settings.chunk_rows, limits, DEPARTURE_COLUMNS):
        parts.append(check_rows(chunk, schema).valid)
        rows += len(chunk)
    if rows == 0:
        raise PipelineError(f"{drop.flights}: the drop holds no flights (0 rows)")
    departures = np.full(rows, -1, dtype=np.int64)
    counted = pd.concat(parts)
    if len(counted):
        departures[counted.index.to_numpy()] = origin_hour_departures(counted)
    log.info("pass 1: %d flights, departures per origin and hour counted over %d of them", rows, len(counted))
    return departures


def prepare(number: int, chunk: pd.DataFrame, drop: Drop, departures: np.ndarray, tally: Tally) -> Prepared:
    """Check a chunk's rows, set the failing ones aside with their reasons, featurize the rest."""
    checked = check_rows(chunk)
    tally.add(chunk[list(SCHEDULE_COLUMNS)].notna().sum().to_dict(), tally.non_null)
    tally.add(checked.unconverted, tally.unconverted)
    rejected = chunk.loc[checked.reasons.index, list(KEY_COLUMNS)].assign(reason=checked.reasons)
    valid, features = checked.valid, None
    if len(valid):
        counts = departures[valid.index.to_numpy()]
        if (counts < 0).any():  # pass 1 checks a subset of the columns, so it cannot happen
            raise PipelineError("internal error: a valid flight has no departure count")
        features = flight_features(valid, drop.planes, drop.weather, counts)
    return Prepared(number, (chunk.index[0], chunk.index[-1]), valid, features, rejected)


def predict(features: pd.DataFrame | None, models: list[ScoringModel]) -> list[np.ndarray]:
    """Each model's probabilities; on one OpenMP thread, beside the main thread preparing the next chunk.

    Per-tree parallel regions on two threads stall whenever another program takes a core
    (see ``src/stages/evaluate.py``); a whole chunk per thread does not, and the scores are
    the same bits on any thread count.
    """
    if features is None:
        return [np.empty(0) for _ in models]
    with fixed_thread_count(1):
        return [late_probability(scoring.model, features) for scoring in models]


def check_column_types(tally: Tally, flights: Path) -> None:
    """A column none of whose values converts to its type is the drop's error, not its rows'."""
    for column, count in tally.unconverted.items():
        if count and count == tally.non_null.get(column):
            kind = "a number" if str(SCHEDULE_SCHEMA.columns[column].dtype) == "float64" else "a timestamp"
            raise PipelineError(
                f"{flights}: column {column!r} has the wrong type: none of its {count:,} values is {kind}"
            )


def score_drop(
    drop: Drop,
    primary: ScoringModel,
    out: Path,
    rejects: Path,
    settings: ScoreParams,
    limits: SizeLimits,
    shadow: ScoringModel | None = None,
    shadow_summary: Path | None = None,
) -> Tally:
    """Score every valid flight of ``drop`` into ``out``; rejected rows and their reasons into ``rejects``.

    While one chunk is scored on a second thread (the trees release the GIL), the main
    thread reads, checks and featurizes the next: the two cores both work.
    """
    departures = count_departures(drop, settings, limits)
    models, tally = [primary] if shadow is None else [primary, shadow], Tally()
    with atomic_path(out) as staged_out, atomic_path(rejects) as staged_rejects:
        with open(staged_rejects, "w", encoding="utf-8", newline="") as rejects_file:
            outputs = Outputs(staged_out, rejects_file, models, tally)
            with ThreadPoolExecutor(1, thread_name_prefix="predict") as predictor:
                pending: tuple[Prepared, Future, float] | None = None
                for number, chunk in enumerate(read_flight_chunks(drop.flights, settings.chunk_rows, limits)):
                    started = time.perf_counter()
                    prepared = prepare(number, chunk, drop, departures, tally)
                    scoring = predictor.submit(predict, prepared.features, models)
                    if pending is not None:
                        outputs.write(pending[0], pending[1].result(), pending[2])
                    pending = (prepared, scoring, started)
                if pending is not None:
                    outputs.write(pending[0], pending[1].result(), pending[2])
            outputs.close()
        check_column_types(tally, drop.flights)
        if shadow is not None and shadow_summary is not None:
            summary = shadow_mode.compare_scores(
                np.concatenate(tally.primary),
                np.concatenate(tally.shadow),
                primary.threshold,
                shadow.threshold,
            )
            summary.update(primary=primary.label, shadow=shadow.label)
            write_json(summary, shadow_summary)
            print(shadow_mode.describe(summary, primary.version, shadow.version))
    return tally


def summary_line(tally: Tally, primary: ScoringModel, out: Path, rejects: Path, seconds: float) -> str:
    flights = tally.scored + tally.rejected
    rejected = (
        f", {tally.rejected:,} rejected (reasons in {rejects})" if tally.rejected else ", none rejected"
    )
    flagged = tally.flagged / tally.scored if tally.scored else 0.0
    return (
        f"{tally.scored:,} of {flights:,} flights scored{rejected}; {flagged:.1%} flagged late at "
        f"{primary.threshold} by {primary.label}; {out} in {seconds:.1f} s "
        f"({flights / seconds * 60 / 1e6:.2f} M flights/min)"
    )


def beside(out: Path, suffix: str) -> Path:
    """``scored.parquet`` -> ``scored<suffix>``."""
    return out.with_name(out.name.removesuffix(out.suffix) + suffix)


def main(argv: list[str] | None = None, resolve: Callable[[str], ScoringModel] = resolve_model) -> None:
    """The command line; ``resolve`` turns a ``--model`` reference into a loaded model."""
    parser = argparse.ArgumentParser(
        prog="python -m src.serving.batch",
        description="Score a schedule drop with a registered model version; write per-flight "
        "probabilities and flags, and the rows that could not be scored with their reasons.",
    )
    parser.add_argument("--model", required=True, help="a stage (prod), a version (v1.2.0) or a model file")
    parser.add_argument(
        "--input", required=True, type=Path, help="the drop: a directory of tables (flights, ...)"
    )
    parser.add_argument("--out", required=True, type=Path, help="scores, as Parquet (e.g. scored.parquet)")
    parser.add_argument(
        "--rejects", type=Path, help="rows not scored, as CSV (default: OUT's name + .rejects.csv)"
    )
    parser.add_argument("--shadow", help="also score with this version and compare (shadow mode)")
    parser.add_argument(
        "--shadow-summary", type=Path, help="the comparison, as JSON (default: OUT's name + .shadow.json)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = load_params()
    reference_limits, limits = drop_limits(params.ingest, params.score)
    drop = open_drop(args.input, reference_limits, limits)
    primary = resolve(args.model)
    shadow = resolve(args.shadow) if args.shadow else None
    rejects = args.rejects or beside(args.out, ".rejects.csv")
    shadow_summary = args.shadow_summary or beside(args.out, ".shadow.json")
    log.info(
        "scoring %s with %s%s", drop.flights, primary.label, f", shadow {shadow.label}" if shadow else ""
    )
    tally = score_drop(drop, primary, args.out, rejects, params.score, limits, shadow, shadow_summary)
    for column, count in sorted(tally.unseen.items()):
        log.warning(
            "%s: %d flight(s) have a value the model never saw in training (scored as unknown)", column, count
        )
    print(summary_line(tally, primary, args.out, rejects, time.perf_counter() - started))
    if tally.rejected:
        sys.exit(REJECTED_EXIT)


if __name__ == "__main__":
    run_stage("score", main)
