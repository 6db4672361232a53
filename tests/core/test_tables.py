import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from src.core.stage import PipelineError
from src.core.tables import SizeLimits, TableTooLarge, check_table_size, read_table
from tests.stages import frames

MIB = 1 << 20
LIMITS = SizeLimits(max_file_bytes=MIB, max_uncompressed_bytes=MIB)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def write_zip(path, member: str, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr(member, data)


def forbid_extraction(monkeypatch) -> None:
    """Fail the test if anything opens a zip member (extracting it) from now on."""

    def refuse(*args, **kwargs):
        raise AssertionError("a zip member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.zip", ".parquet"])
def test_every_format_reads_within_the_limits(tmp_path, suffix):
    airlines = frames.airlines()
    path = tmp_path / f"airlines{suffix}"
    if suffix == ".csv":
        path.write_bytes(csv_bytes(airlines))
    elif suffix == ".csv.gz":
        path.write_bytes(gzip.compress(csv_bytes(airlines), mtime=0))
    elif suffix == ".csv.zip":
        write_zip(path, "airlines.csv", csv_bytes(airlines))
    else:
        airlines.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path, LIMITS), read_table(path), check_dtype=False)
    assert check_table_size(path, LIMITS) > 0


def test_a_zip_bomb_is_refused_from_its_declared_size_before_extracting(tmp_path, monkeypatch):
    bomb = tmp_path / "flights.csv.zip"
    write_zip(bomb, "flights.csv", b"0" * (8 * MIB))  # about 8 kB compressed
    assert bomb.stat().st_size < 64 * 1024
    forbid_extraction(monkeypatch)
    with pytest.raises(TableTooLarge) as refused:
        read_table(bomb, LIMITS)
    message = str(refused.value)
    assert str(bomb) in message
    assert "8,388,608 bytes uncompressed" in message
    assert "limit of 1,048,576 bytes (ingest.max_uncompressed_bytes" in message


def test_a_zip_that_understates_its_size_yields_no_more_than_it_declares(tmp_path):
    """Python's zip reader stops at the declared size and fails the CRC: no bomb gets through."""
    liar = tmp_path / "flights.csv.zip"
    write_zip(liar, "flights.csv", b"a,b\n" + b"1,2\n" * (4 * MIB))
    declared = (16 * MIB + 4).to_bytes(4, "little")
    data = liar.read_bytes().replace(declared, (1000).to_bytes(4, "little"))  # local and central headers
    liar.write_bytes(data)
    assert check_table_size(liar, LIMITS) == 1000
    with pytest.raises(PipelineError, match="cannot be read as a table"):
        read_table(liar, LIMITS)


def test_a_zip_member_compressed_with_another_method_is_refused(tmp_path):
    path = tmp_path / "flights.csv.zip"
    write_zip(path, "flights.csv", csv_bytes(frames.flights()), method=zipfile.ZIP_BZIP2)
    with pytest.raises(PipelineError, match="only stored or deflated members"):
        check_table_size(path, LIMITS)


def test_a_gzip_bomb_is_refused_as_soon_as_it_passes_the_limit(tmp_path):
    # Past the first 8 MiB of zeros the file is garbage: reading it whole would fail on
    # that, so a size error proves the check stopped at the limit.
    bomb = tmp_path / "flights.csv.gz"
    bomb.write_bytes(gzip.compress(b"0" * (8 * MIB), mtime=0) + b"not gzip at all")
    with pytest.raises(TableTooLarge, match=r"flights\.csv\.gz: decompresses to more than 1,048,576 bytes"):
        check_table_size(bomb, LIMITS)
    with pytest.raises(TableTooLarge, match="decompresses to more than"):
        read_table(bomb, LIMITS)


def test_an_oversized_file_is_refused_without_being_read(tmp_path, monkeypatch):
    huge = tmp_path / "flights.csv"
    with huge.open("wb") as handle:
        handle.truncate(2 << 30)  # 2 GiB, sparse: takes no disk space

    def refuse(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(io, "open", refuse)
    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(TableTooLarge) as refused:
        read_table(huge, LIMITS)
    assert str(refused.value) == (
        f"{huge}: the file is 2,147,483,648 bytes, over the limit of 1,048,576 bytes "
        "(ingest.max_file_bytes in params.yaml)"
    )


def test_a_parquet_file_is_refused_from_its_declared_uncompressed_size(tmp_path):
    path = tmp_path / "flights.parquet"
    # 2.4 MB of plain int64 pages, a few kB once compressed
    pd.DataFrame({"x": [0] * 300_000}).to_parquet(path, index=False, use_dictionary=False, compression="gzip")
    assert path.stat().st_size < MIB
    with pytest.raises(TableTooLarge, match=r"flights\.parquet: its content is [\d,]+ bytes uncompressed"):
        read_table(path, LIMITS)


def test_errors_name_the_file_as_received(tmp_path):
    copy = tmp_path / "copy" / "flights.csv.gz"
    copy.parent.mkdir()
    copy.write_bytes(gzip.compress(b"0" * (2 * MIB), mtime=0))
    with pytest.raises(TableTooLarge, match=r"^data/external/drop/flights\.csv\.gz: "):
        check_table_size(copy, LIMITS, shown_as=Path("data/external/drop/flights.csv.gz"))
