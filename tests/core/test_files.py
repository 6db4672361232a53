import os

import pytest

from src.core import files
from src.core.files import atomic_path, write_json
from src.core.stage import PipelineError


def leftovers(directory):
    """Scratch directories atomic_path left behind (they start with a dot)."""
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


def test_a_file_is_replaced_and_the_old_one_stays_until_then(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as staged:
        staged.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_a_directory_is_replaced_and_the_old_one_stays_until_then(tmp_path):
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old.csv").write_text("old")
    with atomic_path(target) as staged:
        staged.mkdir()
        (staged / "new.csv").write_text("new")
        assert (target / "old.csv").read_text() == "old"
    assert sorted(path.name for path in target.iterdir()) == ["new.csv"]
    assert leftovers(tmp_path) == []


def test_a_failed_body_leaves_the_old_output(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as staged:
        staged.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_the_old_directory_is_put_back_if_the_new_one_cannot_be_moved_in(tmp_path, monkeypatch):
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old.csv").write_text("old")
    real_replace, calls = os.replace, []

    def failing_second_move(source, destination):
        calls.append((source, destination))
        if len(calls) == 2:  # the first moves the old directory aside, the second brings the new one in
            raise OSError("disk gone")
        real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", failing_second_move)
    with pytest.raises(OSError, match="disk gone"), atomic_path(target) as staged:
        staged.mkdir()
        (staged / "new.csv").write_text("new")
    assert (target / "old.csv").read_text() == "old"


def test_a_file_never_replaces_a_directory(tmp_path):
    """`report --out reports`: the directory and what it holds survive, with a clear error."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "keep.png").write_bytes(b"png")
    with pytest.raises(PipelineError, match=r"reports: is a directory, but a file belongs there"):
        write_json({"a": 1}, reports)
    assert (reports / "keep.png").read_bytes() == b"png"
    assert leftovers(tmp_path) == []


def test_a_directory_never_replaces_a_file(tmp_path):
    target = tmp_path / "raw"
    target.write_text("a file")
    with pytest.raises(PipelineError, match=r"raw: is a file, but a directory belongs there"):
        with atomic_path(target) as staged:
            staged.mkdir()
    assert target.read_text() == "a file"


@pytest.mark.parametrize("kind", ["file", "directory", "dangling"])
def test_a_symlink_target_is_refused_before_anything_is_written(tmp_path, kind):
    elsewhere = tmp_path / "elsewhere"
    if kind == "file":
        elsewhere.write_text("theirs")
    elif kind == "directory":
        elsewhere.mkdir()
    link = tmp_path / "out"
    link.symlink_to(elsewhere)
    with pytest.raises(PipelineError, match=r"out: is a symlink; refusing to write"):
        with atomic_path(link):
            pytest.fail("the body ran")
    assert link.is_symlink()
    if kind == "file":
        assert elsewhere.read_text() == "theirs"
    assert not (kind == "dangling" and elsewhere.exists())
