"""Each stage's floor: what its essential work alone costs, to set against its measured time.

A stage's floor is the sum of three parts, each measured on its own in a reproduced copy:

- **start-up**: the stage's process with nothing to do, ``python -m <module> --help``
  (the interpreter and every import the stage makes);
- **I/O**: reading its inputs and writing its outputs as the stage does (the same files,
  formats and writers), nothing between;
- **core**: its essential computation on data already in memory (the booster's fit for
  ``train``, scoring and permutation importance for ``evaluate``, the stage's pure function
  for the data stages; ``ingest`` has none: it copies files).

What a stage takes beyond its floor is slack: checks, metrics, plots, logging,
conversions, or work repeated from another stage. A stage with no floor model here (a
new one) gets its start-up only.

The harness (``bench/run.py``) calls :func:`measure_floors`, which times the start-ups
itself and runs ``python -m bench.floors --runs N --json OUT`` in the copy for the
in-process parts: that process imports everything first, so no part pays for imports.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import run_measured

#: The module a stage command runs: ``python -m <module> ...``.
STAGE_MODULE = re.compile(r"python -m (?P<module>[\w.]+)")
PART_KINDS = ("io", "core")


def stage_module(command: str) -> str | None:
    """The Python module a stage's ``cmd`` runs, or None when it runs something else."""
    match = STAGE_MODULE.match(command.strip())
    return match["module"] if match else None


@dataclass(frozen=True)
class Part:
    """One timed piece of a stage's floor: ``prepare`` (untimed) makes what ``run`` needs."""

    stage: str
    kind: str  # "io" or "core"
    what: str  # for the report
    prepare: Callable[[Path, Path], Any]  # (project, scratch) -> state
    run: Callable[[Any], object]


def cpu_seconds() -> float:
    """CPU time of this process, every thread included (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_part(part: Part, project: Path, runs: int) -> dict[str, Any]:
    """Wall and CPU seconds of ``runs`` runs of ``part`` (prepared once), each in a fresh scratch."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix=f"floor-{part.stage}-") as scratch_dir:
        state = part.prepare(project, Path(scratch_dir))
        for run in range(runs):
            out = Path(scratch_dir) / f"run-{run}"
            out.mkdir()
            gc.collect()
            wall, cpu = time.perf_counter(), cpu_seconds()
            part.run((state, out))
            walls.append(time.perf_counter() - wall)
            cpus.append(cpu_seconds() - cpu)
            shutil.rmtree(out)
    return {"what": part.what, "wall_s": walls, "cpu_s": cpus}


# --- the parts, stage by stage -------------------------------------------------------------
# Imports are inside: this module is also loaded by the harness and the report, which must
# not pay for the stages' libraries.


def _params(project: Path) -> Any:
    from src.core.params import load_params

    return load_params(project / "params.yaml")


def _ingest_io(project: Path, scratch: Path) -> list[Path]:
    from src.stages.ingest import present_tables, resolve_source

    return list(present_tables(resolve_source(_params(project).ingest.source, root=project)).values())


def _copy_files(job: tuple[list[Path], Path]) -> None:
    sources, out = job
    for source in sources:
        shutil.copyfile(source, out / source.name)


def _raw_tables(project: Path) -> dict[str, Path]:
    from src.core.tables import TABLE_NAMES, find_table

    return {name: find_table(project / "data/raw", name) for name in TABLE_NAMES}


def _validate_io(project: Path, scratch: Path) -> tuple[dict[str, Path], dict]:
    from src.core.tables import read_table
    from src.stages.validate import validate_tables

    paths = _raw_tables(project)
    typed, _ = validate_tables(
        {name: read_table(path) for name, path in paths.items()}, _params(project).validate_
    )
    return paths, typed


def _read_raw_write_typed(job: tuple[tuple[dict[str, Path], dict], Path]) -> None:
    from src.core.tables import read_table, write_parquet

    (paths, typed), out = job
    for path in paths.values():
        read_table(path)
    for name, frame in typed.items():
        write_parquet(frame, out / f"{name}.parquet")


def _validate_core(project: Path, scratch: Path) -> tuple[dict, Any]:
    from src.core.tables import read_table

    return {name: read_table(path) for name, path in _raw_tables(project).items()}, _params(project).validate_


def _validate_tables(job: tuple[tuple[dict, Any], Path]) -> None:
    from src.stages.validate import validate_tables

    (raw, limits), _ = job
    validate_tables({name: frame.copy() for name, frame in raw.items()}, limits)


FEATURIZE_INPUTS = ("flights", "planes", "weather")


def _featurize_io(project: Path, scratch: Path) -> tuple[Path, Any]:
    import pandas as pd

    return project / "data/interim", pd.read_parquet(project / "data/features/flights.parquet")


def _read_interim_write_features(job: tuple[tuple[Path, Any], Path]) -> None:
    import pandas as pd

    from src.core.tables import write_parquet

    (interim, features), out = job
    for name in FEATURIZE_INPUTS:
        pd.read_parquet(interim / f"{name}.parquet")
    write_parquet(features, out / "flights.parquet")


def _featurize_core(project: Path, scratch: Path) -> tuple[dict, Any]:
    import pandas as pd

    tables = {name: pd.read_parquet(project / f"data/interim/{name}.parquet") for name in FEATURIZE_INPUTS}
    return tables, _params(project).featurize


def _build_features(job: tuple[tuple[dict, Any], Path]) -> None:
    from src.stages.featurize import build_features

    (tables, params), _ = job
    build_features(tables, params)


def _split_io(project: Path, scratch: Path) -> tuple[Path, dict]:
    import pandas as pd

    from src.stages.split import SPLIT_NAMES

    split_dir = project / "data/split"
    return project / "data/features/flights.parquet", {
        name: pd.read_parquet(split_dir / f"{name}.parquet") for name in SPLIT_NAMES
    }


def _read_features_write_splits(job: tuple[tuple[Path, dict], Path]) -> None:
    import pandas as pd

    from src.core.tables import write_parquet

    (features, parts), out = job
    pd.read_parquet(features)
    for name, part in parts.items():
        write_parquet(part, out / f"{name}.parquet")


def _split_core(project: Path, scratch: Path) -> tuple[Any, Any]:
    import pandas as pd

    return pd.read_parquet(project / "data/features/flights.parquet"), _params(project).split


def _split_by_period(job: tuple[tuple[Any, Any], Path]) -> None:
    from src.stages.split import split_by_period

    (features, periods), _ = job
    split_by_period(features, periods)


def _train_io(project: Path, scratch: Path) -> tuple[Path, list[str], Any]:
    from src.core.model_store import load_verified_model
    from src.stages.train import LABEL, feature_columns

    model_path = project / "models/model.pkl"
    model = load_verified_model(model_path, project / "dvc.lock")
    return project / "data/split", [*feature_columns(_params(project).train.feature_groups), LABEL], model


def _read_splits_write_model(job: tuple[tuple[Path, list[str], Any], Path]) -> None:
    import pandas as pd

    from src.core.model_store import save_model

    (split_dir, columns, model), out = job
    for name in ("train", "validation"):
        pd.read_parquet(split_dir / f"{name}.parquet", columns=columns)
    save_model(model, out / "model.pkl")


def _train_core(project: Path, scratch: Path) -> tuple[Any, ...]:
    import pandas as pd

    from src.stages.train import LABEL, build_model, feature_columns

    params = _params(project).train
    columns = feature_columns(params.feature_groups)
    train, validation = (
        pd.read_parquet(project / f"data/split/{name}.parquet") for name in ("train", "validation")
    )
    model = build_model(params, columns)
    encode, classifier = model[:-1], model[-1]
    X_train = encode.fit_transform(train[columns], train[LABEL])
    X_validation = encode.transform(validation[columns])
    return params, classifier, X_train, train[LABEL], X_validation, validation[LABEL]


def _fit_booster(job: tuple[tuple[Any, ...], Path]) -> None:
    from sklearn.base import clone

    from src.stages.train import fixed_thread_count

    (params, classifier, X_train, y_train, X_validation, y_validation), _ = job
    with fixed_thread_count(params.n_threads):
        if params.model == "hist_gradient_boosting":
            clone(classifier).fit(X_train, y_train, X_val=X_validation, y_val=y_validation)
        else:
            clone(classifier).fit(X_train, y_train)


def _evaluate_io(project: Path, scratch: Path) -> tuple[Path, Path, dict]:
    import pandas as pd

    from src.stages.evaluate import EVALUATED_SPLITS

    predictions = {
        name: pd.read_parquet(project / f"data/predictions/{name}.parquet") for name in EVALUATED_SPLITS
    }
    return project, project / "data/split", predictions


def _read_model_and_splits_write_predictions(job: tuple[tuple[Path, Path, dict], Path]) -> None:
    import pandas as pd

    from src.core.model_store import load_verified_model
    from src.core.tables import write_parquet

    (project, split_dir, predictions), out = job
    load_verified_model(project / "models/model.pkl", project / "dvc.lock")
    for name in predictions:
        pd.read_parquet(split_dir / f"{name}.parquet")
    for name, frame in predictions.items():
        write_parquet(frame, out / f"{name}.parquet")


def _evaluate_core(project: Path, scratch: Path) -> tuple[Any, ...]:
    import pandas as pd

    from src.core.model_store import load_verified_model
    from src.stages.evaluate import EVALUATED_SPLITS

    params = _params(project)
    model = load_verified_model(project / "models/model.pkl", project / "dvc.lock")
    splits = {name: pd.read_parquet(project / f"data/split/{name}.parquet") for name in EVALUATED_SPLITS}
    return model, splits, params.evaluate, params.train.seed, params.train.n_threads


def _score_and_explain(job: tuple[tuple[Any, ...], Path]) -> None:
    from src.stages.evaluate import score_and_explain

    (model, splits, settings, seed, n_threads), _ = job
    score_and_explain(model, splits, settings, seed, n_threads)


PARTS: tuple[Part, ...] = (
    Part("ingest", "io", "copy the source tables", _ingest_io, _copy_files),
    Part(
        "validate", "io", "parse the raw tables, write the typed Parquet", _validate_io, _read_raw_write_typed
    ),
    Part(
        "validate",
        "core",
        "schema and reference checks (`validate_tables`)",
        _validate_core,
        _validate_tables,
    ),
    Part(
        "featurize",
        "io",
        "read the typed tables, write the feature table",
        _featurize_io,
        _read_interim_write_features,
    ),
    Part("featurize", "core", "`build_features`", _featurize_core, _build_features),
    Part("split", "io", "read the feature table, write the splits", _split_io, _read_features_write_splits),
    Part("split", "core", "`split_by_period`", _split_core, _split_by_period),
    Part(
        "train",
        "io",
        "read the training and validation columns, pickle the model",
        _train_io,
        _read_splits_write_model,
    ),
    Part(
        "train",
        "core",
        "the classifier's `fit` alone on the encoded training matrix, `train.n_threads` threads",
        _train_core,
        _fit_booster,
    ),
    Part(
        "evaluate",
        "io",
        "load the verified model, read validation and test, write the predictions",
        _evaluate_io,
        _read_model_and_splits_write_predictions,
    ),
    Part(
        "evaluate",
        "core",
        "score validation and test, permutation importance (`score_and_explain`)",
        _evaluate_core,
        _score_and_explain,
    ),
)


def measure_parts(project: Path, runs: int, stages: list[str] | None = None) -> dict[str, dict[str, dict]]:
    """Time every part of the given stages (default: all) in this process: stage -> kind -> timings."""
    import src.stages.evaluate  # noqa: F401 - every library loaded before the first timing
    import src.stages.ingest  # noqa: F401
    import src.stages.split  # noqa: F401

    measured: dict[str, dict[str, dict]] = {}
    for part in PARTS:
        if stages is None or part.stage in stages:
            measured.setdefault(part.stage, {})[part.kind] = time_part(part, project, runs)
    return measured


def measure_floors(
    project: Path, env: Mapping[str, str], stage_cmds: Mapping[str, str], runs: int, log_dir: Path
) -> dict[str, Any]:
    """Start-up of every stage's process, and the in-process parts, in the reproduced ``project``.

    Returns ``{"start_up": {stage: [{"wall_s", "cpu_s"}...]}, "parts": {stage: {kind: timings}}}``.
    """
    start_up: dict[str, list[dict[str, float]]] = {}
    for stage, command in stage_cmds.items():
        module = stage_module(command)
        if module is None:
            continue
        start_up[stage] = []
        for run in range(runs):
            measurement = run_measured(
                ["python", "-m", module, "--help"],
                project,
                env,
                log_path=log_dir / f"floor-{stage}-{run}.log",
            )
            start_up[stage].append({"wall_s": measurement.wall_s, "cpu_s": measurement.cpu_s})
    out = project / "floors.json"
    run_measured(
        ["python", "-m", "bench.floors", "--runs", str(runs), "--json", str(out)],
        project,
        env,
        log_path=log_dir / "floor-parts.log",
    )
    parts = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return {"start_up": start_up, "parts": parts}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floors",
        description="Time the I/O and core parts of each stage's floor in this reproduced project.",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each part (default 3)")
    parser.add_argument("--stage", action="append", help="only this stage (repeatable)")
    parser.add_argument("--json", type=Path, help="write the timings here (default: print them)")
    args = parser.parse_args(argv)
    measured = measure_parts(Path.cwd(), args.runs, args.stage)
    text = json.dumps(measured, indent=1, sort_keys=True) + "\n"
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
