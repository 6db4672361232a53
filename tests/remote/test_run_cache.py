"""The run-cache records ``python -m src.remote.run_cache`` finds (the push itself: tests/integration/test_remote.py)."""

from __future__ import annotations

from src.remote.run_cache import run_records


def test_run_records_are_found_in_the_run_cache_layout(tmp_path):
    runs = tmp_path / "runs"
    (runs / "ab" / "abcd").mkdir(parents=True)
    (runs / "ab" / "abcd" / "v1").write_text("cmd: x\n")
    (runs / "ab" / "abcd" / "v2").write_text("cmd: x\n")
    assert run_records(runs) == [("abcd", "v1"), ("abcd", "v2")]
    assert run_records(tmp_path / "absent") == []
