import builtins
import io
import os
import pickle
import pickletools

import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from src.core.model_store import ALLOWED_GLOBALS, ForbiddenGlobal, file_md5, load_verified_model, save_model
from src.core.stage import PipelineError
from src.stages.train import fit_model
from tests.stages.frames import feature_table, small_params

MODELS = ["hist_gradient_boosting", "logistic_regression"]


def write_lock(path, model_path, md5):
    lock = {"schema": "2.0", "stages": {"train": {"outs": [{"path": str(model_path), "md5": md5}]}}}
    path.write_text(yaml.safe_dump(lock))


def plant(project, data: bytes):
    """Write ``data`` as the model and record its MD5 in the lock, as a restored run-cache record does."""
    path = project / "models" / "model.pkl"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    write_lock(project / "dvc.lock", "models/model.pkl", file_md5(path))
    return path


def pickled_globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs a pickle's GLOBAL and STACK_GLOBAL opcodes name.

    STACK_GLOBAL takes its two strings from the stack; they are pushed just before it,
    directly or from the memo, which is tracked here.
    """
    found, strings, memo = set(), [], []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "MEMOIZE":
            memo.append(strings[-1] if strings else None)
        elif opcode.name in ("BINGET", "LONG_BINGET", "GET"):
            strings.append(memo[int(arg)])
        elif opcode.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        assert opcode.name not in ("EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"), opcode.name
    return found


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = make_pipeline(LogisticRegression(C=0.25))  # unfitted: the bytes are what matters here
    save_model(model, tmp_path / "models" / "model.pkl")
    return tmp_path


@pytest.fixture(scope="module")
def fitted_models():
    flights = feature_table()
    return {model: fit_model(small_params(model), flights, flights.tail(100)) for model in MODELS}


def test_model_whose_hash_matches_the_lock_loads(saved):
    write_lock(saved / "dvc.lock", "models/model.pkl", file_md5(saved / "models/model.pkl"))
    model = load_verified_model(saved / "models" / "model.pkl", saved / "dvc.lock")
    assert model.get_params()["logisticregression__C"] == 0.25


def test_tampered_model_is_refused_before_unpickling(saved):
    path = saved / "models" / "model.pkl"
    write_lock(saved / "dvc.lock", "models/model.pkl", file_md5(path))
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(PipelineError, match="refusing to unpickle"):
        load_verified_model(path, saved / "dvc.lock")


def test_model_not_in_the_lock_is_refused(saved):
    write_lock(saved / "dvc.lock", "models/other.pkl", "0" * 32)
    with pytest.raises(PipelineError, match="records no output"):
        load_verified_model(saved / "models" / "model.pkl", saved / "dvc.lock")


def test_same_model_saves_to_the_same_bytes(tmp_path):
    model = make_pipeline(LogisticRegression(random_state=0))
    save_model(model, tmp_path / "a.pkl")
    save_model(model, tmp_path / "b.pkl")
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()


def test_the_file_is_read_once_for_both_the_hash_and_the_load(saved, monkeypatch):
    path = saved / "models" / "model.pkl"
    write_lock(saved / "dvc.lock", "models/model.pkl", file_md5(path))
    real_open, opened = io.open, []

    def counting_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    load_verified_model(path, saved / "dvc.lock")
    assert len(opened) == 1


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("model", MODELS)
def test_both_model_families_load_and_predict_the_same(saved, fitted_models, model):
    fitted = fitted_models[model]
    path = saved / "models" / "model.pkl"
    save_model(fitted, path)
    write_lock(saved / "dvc.lock", "models/model.pkl", file_md5(path))
    loaded = load_verified_model(path, saved / "dvc.lock")
    rows = feature_table().head(50)[list(fitted.feature_names_in_)]
    assert (loaded.predict_proba(rows) == fitted.predict_proba(rows)).all()


@pytest.mark.slow  # trains a model
def test_the_allow_list_is_exactly_what_both_families_pickle(fitted_models):
    """Derived afresh: an upgrade of scikit-learn or numpy that changes the set fails here."""
    derived = set()
    for fitted in fitted_models.values():
        derived |= pickled_globals(pickle.dumps(fitted, protocol=5))
    assert derived - ALLOWED_GLOBALS == set(), "add these to ALLOWED_GLOBALS after checking what they are"
    assert ALLOWED_GLOBALS - derived == set(), "no model references these any more: drop them"


class RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class ExecsCode:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (builtins.exec, (self.code,))


@pytest.mark.parametrize(
    ("payload", "forbidden"),
    [
        (lambda marker: RunsCommand(f"touch {marker}"), "posix.system"),
        (lambda marker: ExecsCode(f"open({str(marker)!r}, 'w').close()"), "builtins.exec"),
        # hidden inside a real pipeline: the allowed outer objects do not let it through
        (
            lambda marker: make_pipeline(LogisticRegression()).set_params(
                logisticregression__C=RunsCommand(f"touch {marker}")
            ),
            "posix.system",
        ),
    ],
    ids=["os.system", "exec", "inside-a-pipeline"],
)
def test_a_hostile_pickle_is_refused_even_when_the_lock_records_it(tmp_path, payload, forbidden):
    marker = tmp_path / "payload-ran"
    path = plant(tmp_path, pickle.dumps(payload(marker), protocol=5))
    with pytest.raises(ForbiddenGlobal) as refused:
        load_verified_model(path, tmp_path / "dvc.lock")
    assert str(refused.value).startswith(f"{path}: the pickle references {forbidden}, which no model")
    assert not marker.exists()


def test_an_allowed_object_reached_by_another_name_is_refused(tmp_path):
    # protocol 4 lets a name be a dotted path: ("sklearn", "pipeline.Pipeline") is the
    # allowed class by another route, and such routes can lead anywhere.
    data = b"\x80\x04\x8c\x07sklearn\x94\x8c\x11pipeline.Pipeline\x94\x93\x94."
    path = plant(tmp_path, data)
    with pytest.raises(ForbiddenGlobal, match=r"references sklearn\.pipeline\.Pipeline"):
        load_verified_model(path, tmp_path / "dvc.lock")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (pickle.dumps({"not": "a model"}, protocol=5), "holds a dict, not a scikit-learn Pipeline"),
        (pickle.dumps(make_pipeline(LogisticRegression()), protocol=5)[:-40], "not a loadable model pickle"),
    ],
    ids=["not-a-pipeline", "truncated"],
)
def test_bytes_that_are_not_a_model_are_refused(tmp_path, data, expected):
    path = plant(tmp_path, data)
    with pytest.raises(PipelineError, match=expected):
        load_verified_model(path, tmp_path / "dvc.lock")
