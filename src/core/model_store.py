"""Saving the fitted model, and loading it only if its bytes are recorded and harmless.

The model is a pickle (protocol fixed), because the same environment, seed and thread
count give the same bytes, which ``dvc.lock`` can then pin (a skops archive changes on
every save). Loading defends twice, on one read of the file:

* the bytes' MD5 must be the one ``dvc.lock`` records for the file, so a file changed
  in the workspace or corrupted in the remote is refused;
* the bytes are unpickled with an allow-list: a pickle may name only the classes and
  functions that a model built by ``src/stages/train.py`` contains
  (:data:`ALLOWED_GLOBALS`). Any other global (``os.system``, ``builtins.exec``...) stops
  the load before it is called. This is what protects a run restored from a run-cache
  record someone else wrote: DVC then writes that record's hash into ``dvc.lock`` itself,
  so the MD5 check passes (see docs/threat-model.md).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import yaml
from sklearn.pipeline import Pipeline

from src.core.files import atomic_path
from src.core.stage import PipelineError

PICKLE_PROTOCOL = 5
LOCK_FILE = Path("dvc.lock")

#: Every global (module, name) that a pickled model of this project references: both
#: families (``hist_gradient_boosting``, ``logistic_regression``) as ``train.build_model``
#: builds and fits them, listed from the GLOBAL/STACK_GLOBAL opcodes (``pickletools.genops``)
#: of their pickles, with scikit-learn 1.9.1 and numpy 2.4.6. A library upgrade that adds
#: one fails ``tests/core/test_model_store.py`` (which derives the set afresh), not a run.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "slice"),
        ("functools", "partial"),  # HistGradientBoosting's preprocessor: partial(check_array, ...)
        # numpy arrays, scalars, dtypes and the boosting model's random generator
        ("numpy", "dtype"),
        ("numpy", "float64"),
        ("numpy", "ndarray"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.random._pcg64", "PCG64"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("numpy.random.bit_generator", "SeedSequence"),
        ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
        # both families
        ("sklearn.compose._column_transformer", "ColumnTransformer"),
        ("sklearn.pipeline", "Pipeline"),
        # hist_gradient_boosting
        ("sklearn._loss._loss", "CyHalfBinomialLoss"),
        ("sklearn._loss.link", "Interval"),
        ("sklearn._loss.link", "LogitLink"),
        ("sklearn._loss.loss", "HalfBinomialLoss"),
        ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"),
        ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting", "HistGradientBoostingClassifier"),
        ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"),
        ("sklearn.preprocessing._encoders", "OrdinalEncoder"),
        ("sklearn.preprocessing._function_transformer", "FunctionTransformer"),
        ("sklearn.preprocessing._label", "LabelEncoder"),
        ("sklearn.utils.validation", "check_array"),
        # logistic_regression
        ("sklearn.impute._base", "MissingIndicator"),
        ("sklearn.impute._base", "SimpleImputer"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.preprocessing._data", "StandardScaler"),
        ("sklearn.preprocessing._encoders", "OneHotEncoder"),
    }
)


class ForbiddenGlobal(PipelineError):
    """A pickle names a global that no model of this project contains."""


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`; anything else raises.

    Every global a pickle calls or builds goes through ``find_class`` (GLOBAL,
    STACK_GLOBAL and the copyreg extension opcodes alike), so refusing here means the
    object is never looked up, let alone called. Persistent ids are refused by
    ``pickle.Unpickler`` itself (no ``persistent_load``).
    """

    def __init__(self, data: bytes, origin: Path) -> None:
        super().__init__(io.BytesIO(data))
        self.origin = origin

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in ALLOWED_GLOBALS:
            raise ForbiddenGlobal(
                f"{self.origin}: the pickle references {module}.{name}, which no model of this "
                "project contains; refused before anything in it ran (see docs/threat-model.md)"
            )
        return super().find_class(module, name)


def save_model(model: Pipeline, path: Path) -> None:
    """Pickle ``model`` to ``path`` atomically, with a fixed protocol."""
    with atomic_path(Path(path)) as staged:
        staged.write_bytes(pickle.dumps(model, protocol=PICKLE_PROTOCOL))


def bytes_md5(data: bytes) -> str:
    """MD5 of ``data``, as DVC 3 records it for a file output."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()  # DVC's content address, not a signature


def file_md5(path: Path) -> str:
    """MD5 of the file's bytes, as DVC 3 records it for a file output."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locked_md5(path: Path, lock_file: Path = LOCK_FILE) -> str:
    """The MD5 that ``lock_file`` records for the output ``path``."""
    if not lock_file.is_file():
        raise PipelineError(f"{lock_file}: not found, so {path} cannot be verified (run `dvc repro`)")
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
    wanted = Path(path).resolve()
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            # dvc.lock paths are relative to the directory that holds it.
            if (lock_file.parent / out["path"]).resolve() == wanted:
                return out["md5"]
    raise PipelineError(f"{lock_file}: records no output {path}, so it cannot be verified")


def unpickle_model(data: bytes, origin: Path) -> Pipeline:
    """Unpickle a model from ``data`` with :class:`AllowListUnpickler`; it must be a Pipeline."""
    try:
        model = AllowListUnpickler(data, origin).load()
    except ForbiddenGlobal:
        raise
    except Exception as error:  # noqa: BLE001 - truncated or malformed bytes: not a model
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{origin}: not a loadable model pickle ({reason})") from None
    if not isinstance(model, Pipeline):
        raise PipelineError(f"{origin}: holds a {type(model).__name__}, not a scikit-learn Pipeline")
    return model


def load_verified_model(path: Path, lock_file: Path = LOCK_FILE) -> Pipeline:
    """Load the model at ``path`` if its MD5 is the one ``lock_file`` records.

    The file is read once: those bytes are hashed and those same bytes unpickled, so
    the file cannot change between the check and the load.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise PipelineError(f"{path}: model file not found (run `dvc pull` or `dvc repro`)") from None
    expected, actual = locked_md5(path, lock_file), bytes_md5(data)
    if actual != expected:
        raise PipelineError(
            f"{path}: MD5 {actual} differs from {expected} recorded in {lock_file}; "
            "refusing to unpickle it (restore it with `dvc checkout` or `dvc pull`)"
        )
    return unpickle_model(data, path)
