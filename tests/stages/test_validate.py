import pandas as pd
import pytest

from src.core.params import ValidateParams
from src.core.stage import PipelineError
from src.stages.validate import validate_tables
from tests.stages import frames

LIMITS = ValidateParams(max_unmatched_fraction=0.5, max_missing_weather_fraction=0.5)


def failure(tables: dict[str, pd.DataFrame], limits: ValidateParams = LIMITS) -> str:
    with pytest.raises(PipelineError) as caught:
        validate_tables(tables, limits)
    return str(caught.value)


def test_valid_tables_pass_and_come_back_typed():
    typed, report = validate_tables(frames.raw_tables(), LIMITS)
    assert isinstance(typed["flights"]["time_hour"].dtype, pd.DatetimeTZDtype)
    assert report["tables"]["flights"]["rows"] == 6


def test_dropped_column_is_named():
    tables = frames.raw_tables()
    tables["flights"] = tables["flights"].drop(columns=["distance"])
    message = failure(tables)
    assert "table 'flights'" in message
    assert "'distance' missing" in message


def test_out_of_range_values_give_column_count_and_examples():
    tables = frames.raw_tables()
    tables["flights"].loc[[0, 1], "month"] = [13, 0]
    message = failure(tables)
    assert "flights.month: 2 row(s) fail in_range(1, 12)" in message
    assert "13" in message and "0" in message


def test_text_where_numbers_belong_is_reported_once_per_column():
    tables = frames.raw_tables()
    flights = tables["flights"].astype({"distance": object})
    flights.loc[2, "distance"] = "far"
    tables["flights"] = flights
    message = failure(tables)
    assert "flights.distance: 1 row(s) fail coerce_dtype" in message
    assert "'far'" in message
    assert message.count("flights.distance") == 1


def test_empty_table_is_rejected():
    tables = frames.raw_tables()
    tables["airlines"] = tables["airlines"].iloc[0:0]
    assert "table 'airlines' is empty (0 rows)" in failure(tables)


def test_missing_table_is_reported_with_the_other_problems():
    tables = frames.raw_tables()
    del tables["planes"]
    tables["weather"].loc[0, "humid"] = 150.0
    message = failure(tables)
    assert "table 'planes' is missing" in message
    assert "weather.humid" in message


@pytest.mark.parametrize(
    ("table", "key"),
    [("weather", "origin, time_hour"), ("planes", "tailnum"), ("airports", "faa"), ("airlines", "carrier")],
)
def test_duplicated_keys_are_rejected(table, key):
    tables = frames.raw_tables()
    tables[table] = pd.concat([tables[table], tables[table].head(1)], ignore_index=True)
    message = failure(tables)
    assert f"{table}[{key}]: 2 row(s) share a key" in message


def test_known_gaps_are_soft_findings_in_the_report():
    _, report = validate_tables(frames.raw_tables(), LIMITS)
    dest = report["references"]["flights.dest -> airports.faa"]
    assert dest["unmatched_rows"] == 1 and dest["top_unmatched"] == {"SJU": 1}
    tails = report["references"]["flights.tailnum -> planes.tailnum"]
    assert (tails["unmatched_rows"], tails["missing_rows"]) == (1, 1)
    assert report["weather"]["flights_without_weather"] == 1


def test_too_many_unmatched_references_is_a_hard_failure():
    tables = frames.raw_tables()
    tables["flights"]["carrier"] = "ZZ"
    message = failure(tables)
    assert "flights.carrier -> airlines.carrier" in message
    assert "validate.max_unmatched_fraction" in message
    assert "ZZ" in message


def test_too_little_weather_is_a_hard_failure():
    tables = frames.raw_tables()
    strict = ValidateParams(max_unmatched_fraction=0.5, max_missing_weather_fraction=0.1)
    assert "validate.max_missing_weather_fraction" in failure(tables, strict)


def test_implausible_reading_is_masked_and_reported():
    tables = frames.raw_tables()
    tables["weather"].loc[1, "wind_speed"] = 1048.36
    typed, report = validate_tables(tables, LIMITS)
    assert pd.isna(typed["weather"].loc[1, "wind_speed"])
    assert report["implausible_values"]["weather.wind_speed"]["rows"] == 1


def test_null_rates_are_recorded():
    _, report = validate_tables(frames.raw_tables(), LIMITS)
    assert report["tables"]["flights"]["null_fraction"]["dep_time"] == pytest.approx(1 / 6, abs=1e-6)
    assert "carrier" not in report["tables"]["flights"]["null_fraction"]
