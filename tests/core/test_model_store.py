import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from src.core.model_store import file_md5, load_verified_model, save_model
from src.core.stage import PipelineError


def write_lock(path, model_path, md5):
    lock = {"schema": "2.0", "stages": {"train": {"outs": [{"path": str(model_path), "md5": md5}]}}}
    path.write_text(yaml.safe_dump(lock))


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = make_pipeline(LogisticRegression()).fit([[0.0], [1.0]], [0, 1])
    save_model(model, tmp_path / "models" / "model.pkl")
    return tmp_path


def test_model_whose_hash_matches_the_lock_loads(saved):
    write_lock(saved / "dvc.lock", "models/model.pkl", file_md5(saved / "models/model.pkl"))
    model = load_verified_model(saved / "models" / "model.pkl", saved / "dvc.lock")
    assert model.predict([[1.0]]).tolist() == [1]


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
    model = make_pipeline(LogisticRegression(random_state=0)).fit([[0.0], [1.0], [2.0]], [0, 1, 1])
    save_model(model, tmp_path / "a.pkl")
    save_model(model, tmp_path / "b.pkl")
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()
