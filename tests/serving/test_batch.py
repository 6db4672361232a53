"""Batch scoring of a drop: outputs, rejects, chunks, shadow, and nothing written on an error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.core.tables import SizeLimits
from src.sandbox import REPO_ROOT
from src.serving import batch
from src.serving.drop import open_drop
from src.serving.model_ref import ScoringModel
from src.serving.settings import ScoreParams
from tests.serving.frames import MD5, schedule, scoring_model, write_drop

LIMITS = SizeLimits(2**30, 2**30)


def doubled() -> pd.DataFrame:
    """Every flight twice (other flight numbers): two departures per origin and hour."""
    return pd.concat([schedule(), schedule().assign(flight=lambda f: f["flight"] + 100)], ignore_index=True)


def score(tmp_path: Path, flights: pd.DataFrame, chunk_rows: int = 1000, **kwargs: object) -> pd.DataFrame:
    drop = open_drop(write_drop(tmp_path / "drop", flights), LIMITS, LIMITS)
    out = tmp_path / f"scored-{chunk_rows}.parquet"
    batch.score_drop(
        drop,
        scoring_model(),
        out,
        tmp_path / "rejects.csv",
        ScoreParams(chunk_rows=chunk_rows),
        LIMITS,
        **kwargs,
    )
    return pd.read_parquet(out)


def test_every_flight_gets_key_probability_flag_version_and_md5(tmp_path: Path) -> None:
    scored = score(tmp_path, schedule())
    assert list(scored.columns) == [
        "row", "year", "month", "day", "carrier", "flight", "origin",
        "probability", "flagged_late", "model_version", "model_md5",
    ]  # fmt: skip
    assert scored["row"].tolist() == list(range(6))
    assert scored[["year", "month", "day", "flight"]].dtypes.eq("Int64").all()  # as the drop gave them
    pd.testing.assert_frame_equal(
        scored[["year", "month", "day", "flight"]],
        schedule()[["year", "month", "day", "flight"]].astype("Int64"),
    )
    expected = (schedule()["distance"] / 5000 + 0.1).to_numpy()
    np.testing.assert_array_equal(scored["probability"].to_numpy(), expected)
    assert scored["flagged_late"].tolist() == (expected >= 0.5).tolist()
    assert set(scored["model_version"]) == {"v1.0.0"} and set(scored["model_md5"]) == {MD5}


def test_the_departure_count_is_the_whole_drops_whatever_the_chunks(tmp_path: Path) -> None:
    small, large = score(tmp_path, doubled(), chunk_rows=2), score(tmp_path, doubled(), chunk_rows=1000)
    pd.testing.assert_frame_equal(small, large)
    expected = (doubled()["distance"] / 5000 + 0.2).to_numpy()  # two departures each
    np.testing.assert_array_equal(small["probability"].to_numpy(), expected)


def test_rows_that_cannot_be_scored_are_rejected_with_reasons_the_rest_scored(tmp_path: Path) -> None:
    flights = doubled().astype({"sched_dep_time": float})
    flights.loc[1, "carrier"] = None
    flights.loc[7, "sched_dep_time"] = 2575.0
    flights = flights.astype({"flight": float})
    flights.loc[9, "flight"] = 745.5
    scored = score(tmp_path, flights, chunk_rows=4)
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert rejects["row"].tolist() == [1, 7, 9]
    assert rejects["reason"].tolist() == [
        "carrier is missing",
        "sched_dep_time=2575.0 fails clock_time_hhmm; sched_dep_time=2575.0 fails in_range(0, 2359)",
        "flight=745.5 fails whole_number",
    ]
    assert list(rejects.columns) == ["row", "year", "month", "day", "carrier", "flight", "origin", "reason"]
    assert sorted(scored["row"].tolist() + rejects["row"].tolist()) == list(range(12))
    assert scored["flight"].dtype == "Int64"  # chunks with and without the rejected row agree


def test_a_column_of_the_wrong_type_fails_the_drop_and_writes_nothing(tmp_path: Path) -> None:
    flights = schedule().assign(distance=["far"] * 6)
    with pytest.raises(
        PipelineError, match=r"flights.parquet: column 'distance' has the wrong type: none of its 6"
    ):
        score(tmp_path, flights)
    assert not (tmp_path / "scored-1000.parquet").exists() and not (tmp_path / "rejects.csv").exists()


def test_shadow_scores_beside_and_summarises_the_difference(tmp_path: Path) -> None:
    shadow = ScoringModel("late-arrival", "v1.1.0", "f" * 32, 0.5, scoring_model(scale=2.0).model)
    scored = score(tmp_path, schedule(), shadow=shadow, shadow_summary=tmp_path / "shadow.json")
    np.testing.assert_array_equal(scored["shadow_probability"], np.clip(scored["probability"] * 2, 0, 1))
    assert set(scored["shadow_model_version"]) == {"v1.1.0"}
    summary = json.loads((tmp_path / "shadow.json").read_text())
    assert summary["flights"] == 6 and summary["rank_correlation"] == 1.0
    assert summary["flag_changes"]["newly_flagged"] == int(
        (scored["shadow_flagged_late"] & ~scored["flagged_late"]).sum()
    )


def run_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flights: pd.DataFrame, model: str = "stub"
) -> Path:
    monkeypatch.chdir(REPO_ROOT)  # params.yaml
    drop = write_drop(tmp_path / "drop", flights)

    def resolve(reference: str) -> ScoringModel:
        if reference != "stub":
            raise PipelineError(f"model reference {reference!r} resolves to nothing")
        return scoring_model()

    batch.main(["--model", model, "--input", str(drop), "--out", str(tmp_path / "scored.parquet")], resolve)
    return tmp_path / "scored.parquet"


def test_the_command_prints_one_line_and_exits_3_when_rows_were_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    flights = schedule()
    flights.loc[2, "carrier"] = "u-a"
    with pytest.raises(SystemExit) as exit_status:
        run_main(tmp_path, monkeypatch, flights)
    assert exit_status.value.code == batch.REJECTED_EXIT
    line = capsys.readouterr().out.strip()
    assert line.startswith("5 of 6 flights scored, 1 rejected (reasons in ")
    assert "scored.rejects.csv" in line and "late-arrival v1.0.0" in line
    assert len(pd.read_parquet(tmp_path / "scored.parquet")) == 5


def test_an_unresolvable_model_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PipelineError, match="'v9.9.9' resolves to nothing"):
        run_main(tmp_path, monkeypatch, schedule(), model="v9.9.9")
    assert not (tmp_path / "scored.parquet").exists()
