"""Reading a drop: its tables found and checked, its flights in chunks, bad rows set aside with reasons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.core.tables import SizeLimits
from src.serving.drop import check_rows, open_drop, read_flight_chunks
from tests.serving.frames import schedule, write_drop

LIMITS = SizeLimits(2**30, 2**30)


def test_a_drop_of_flights_planes_and_weather_opens_typed(tmp_path: Path) -> None:
    drop = open_drop(write_drop(tmp_path / "drop"), LIMITS, LIMITS)
    assert drop.flights.name == "flights.parquet"
    assert drop.rows == 6
    assert str(drop.weather["time_hour"].dtype) == "datetime64[ns, UTC]"
    assert list(drop.planes["tailnum"]) == ["N1", "N2"]


def test_absent_planes_and_weather_are_empty_tables(tmp_path: Path) -> None:
    drop = open_drop(write_drop(tmp_path / "drop", reference=False), LIMITS, LIMITS)
    assert drop.planes.empty and drop.weather.empty
    assert "tailnum" in drop.planes.columns and "time_hour" in drop.weather.columns


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.mkdir(), "table 'flights' is missing"),
        (
            lambda d: write_drop(d, schedule().drop(columns=["distance"])),
            "required column(s) 'distance' missing",
        ),
        (lambda d: write_drop(d, schedule().iloc[:0]), "holds no flights"),
        (
            lambda d: (d.mkdir(), (d / "flights.parquet").write_bytes(b"not parquet at all")),
            "cannot be read as a table",
        ),
        (lambda d: None, "the drop is not a directory"),
    ],
    ids=["no-flights", "missing-column", "empty", "not-a-table", "no-directory"],
)
def test_a_bad_drop_is_one_sentence_naming_it(tmp_path: Path, make, message: str) -> None:
    make(tmp_path / "drop")
    with pytest.raises(PipelineError, match=r"drop.*") as error:
        open_drop(tmp_path / "drop", LIMITS, LIMITS)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_broken_reference_table_fails_with_validates_message(tmp_path: Path) -> None:
    drop = write_drop(tmp_path / "drop")
    pd.read_csv(drop / "planes.csv").assign(seats=-1).to_csv(drop / "planes.csv", index=False)
    with pytest.raises(
        PipelineError, match=r"planes.csv: .*failed validation: planes.seats: 2 row\(s\) fail in_range"
    ):
        open_drop(drop, LIMITS, LIMITS)


@pytest.mark.parametrize("csv", [False, True], ids=["parquet", "csv"])
def test_flights_come_in_chunks_numbered_by_row(tmp_path: Path, csv: bool) -> None:
    flights = schedule().assign(tailnum=[None, None, "N1", "N2", None, None])
    drop = open_drop(write_drop(tmp_path / "drop", flights, csv=csv), LIMITS, LIMITS)
    chunks = list(read_flight_chunks(drop.flights, 2, LIMITS))
    assert [list(chunk.index) for chunk in chunks] == [[0, 1], [2, 3], [4, 5]]
    # A chunk whose tail numbers are all missing still reads them as text, not numbers.
    assert all(str(chunk["tailnum"].dtype) == "str" for chunk in chunks)
    assert "arr_delay" not in chunks[0].columns


def test_rows_that_fail_are_set_aside_with_every_reason() -> None:
    flights = schedule().astype({"distance": object, "month": float})
    flights.loc[1, "distance"] = "far"
    flights.loc[2, "sched_dep_time"] = 2575
    flights.loc[3, "carrier"] = None
    flights.loc[4, "carrier"] = "U-A"
    flights.loc[5, ["month", "day"]] = [2.0, 30.0]
    checked = check_rows(flights)
    assert list(checked.valid.index) == [0]
    assert checked.reasons.to_dict() == {
        1: "distance='far' is not a number",
        2: "sched_dep_time=2575.0 fails clock_time_hhmm; sched_dep_time=2575.0 fails in_range(0, 2359)",
        3: "carrier is missing",
        4: "carrier='U-A' fails str_matches('^[A-Z0-9]{2}$')",
        5: "year, month and day make no date",
    }
    assert checked.unconverted == {"distance": 1}
    assert str(checked.valid["time_hour"].dtype) == "datetime64[ns, UTC]"
