"""One CSV writer: the upload body and the enriched list are Arrow's own bytes, however written."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from smartmatch_pandas.files import csv as csvfiles
from smartmatch_pandas.files.csv import CSVWriter, header_line
from smartmatch_pandas.preparation import table as upload

NAMES = ["first_name", 'a "quoted" name', "comma, inside", "line\nbreak", "", "n"]
TABLE = pa.table(
    {
        **{name: pa.array(["Ann", None, 'x"y', "a,b", "c\nd"], pa.string()) for name in NAMES[:-1]},
        "n": pa.array([1, None, 3, 4, 5]),
    }
)


def arrow_csv(table: pa.Table) -> bytes:
    """What ``pyarrow.csv.CSVWriter`` writes of ``table``."""
    sink = pa.BufferOutputStream()
    with pacsv.CSVWriter(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("native", [True, False])
def test_the_writer_gives_arrows_bytes(
    monkeypatch: pytest.MonkeyPatch, threads: int, native: bool
) -> None:
    monkeypatch.setattr(csvfiles, "SLICE_ROWS", 2)  # several slices, formatted apart
    sink: pa.BufferOutputStream | io.BytesIO = pa.BufferOutputStream() if native else io.BytesIO()
    writer = CSVWriter(sink, TABLE.column_names)
    writer.write(TABLE.slice(0, 3), threads=threads)
    writer.write(TABLE.slice(3), threads=threads)
    written = sink.getvalue()
    assert (written.to_pybytes() if native else written) == arrow_csv(TABLE)


def test_a_plain_header_is_the_names_as_they_are() -> None:
    assert header_line(["first_name", "matchback_id"], quoted=False) == b"first_name,matchback_id\n"
    assert header_line(NAMES, quoted=True) == arrow_csv(TABLE.schema.empty_table())


def test_the_upload_body_is_the_same_bytes_on_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    table = pa.table(
        {
            "first_name": pa.array([f"name {k}" if k % 7 else None for k in range(50)]),
            "matchback_id": pa.array([str(k) for k in range(50)]),
        }
    )
    whole = upload.write_csv(table)
    monkeypatch.setattr(csvfiles, "SLICE_ROWS", 8)
    monkeypatch.setattr(upload, "SLICE_ROWS", 8)
    monkeypatch.setattr(upload, "_ROWS_FOR_THREADS", 0)
    monkeypatch.setattr(upload.os, "cpu_count", lambda: 2)
    with upload.upload_body(table) as body:
        assert body.getvalue() == whole
    assert whole is not None
    assert whole.startswith(b"first_name,matchback_id\n")
