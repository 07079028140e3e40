"""Reading lists as people save them, and cells made safe to open: the rules, without a service."""

from __future__ import annotations

import codecs
import re
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmatch_pandas.errors import InputError, OptionError, SmartMatchWarning
from smartmatch_pandas.files.cells import HARMLESS, PREFIX, TRIGGERS, neutral, neutral_array
from smartmatch_pandas.files.csv import detect_layout
from smartmatch_pandas.files.tables import TableOutput, read_table, unique_names, write_table

TEXT = "first_name;last_name;notes\r\nJosé;Muñoz;café\r\nZoë;Ørsted;crème brûlée\r\n"


@pytest.mark.parametrize(
    ("data", "encoding", "delimiter"),
    [
        (TEXT.encode(), "utf-8", ";"),
        (codecs.BOM_UTF8 + TEXT.replace(";", ",").encode(), "utf-8", ","),
        (TEXT.replace(";", "\t").encode("cp1252"), "cp1252", "\t"),
        (TEXT.replace(";", "|").encode("latin-1"), "cp1252", "|"),
        (TEXT.replace(";", "\t").encode("utf-16"), "utf-16", "\t"),
        (b"name\nAnn\n", "utf-8", ","),  # one column: a comma, as ever
        (b'a,b;c\n"1;2",3\n', "utf-8", ","),  # a quoted delimiter does not count
    ],
)
def test_the_layout_is_told_from_the_first_bytes(
    data: bytes, encoding: str, delimiter: str
) -> None:
    assert detect_layout(data) == type(detect_layout(data))(encoding, delimiter)


def test_a_character_cut_by_the_end_of_the_head_is_still_utf8() -> None:
    head = ("name\n" + "é" * 40).encode()[:-1]
    assert detect_layout(head).encoding == "utf-8"


def test_what_is_given_is_not_told() -> None:
    assert detect_layout(TEXT.encode(), encoding="latin-1", delimiter=",").delimiter == ","
    assert detect_layout(TEXT.encode(), encoding="latin-1").encoding == "latin-1"


def test_a_frame_of_arrow_dictionaries_and_lists_is_written_as_pandas_reads_it(
    tmp_path: Path,
) -> None:
    table = pa.table(
        {"size": pa.array(["S", "M", None]).dictionary_encode(), "n": [[1], [2, 3], None]}
    )
    frame = read_table_of(table, tmp_path / "in.parquet")  # as the command line reads it
    assert isinstance(frame["size"].dtype, pd.ArrowDtype)
    write_table(frame, tmp_path / "out.parquet")
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert back["size"].dtype == "category"
    assert back["size"].tolist()[:2] == ["S", "M"]
    assert [list(v) for v in back["n"].tolist()[:2]] == [[1], [2, 3]]


def read_table_of(table: pa.Table, path: Path) -> pd.DataFrame:
    pq.write_table(table, path)
    return read_table(path)


def test_headers_are_made_unique_with_one_warning() -> None:
    with pytest.warns(SmartMatchWarning) as said:
        names = unique_names(["Phone", "", "Phone", "Phone_2", " ", "Phone"], "list.csv")
    assert names == ["Phone", "column_2", "Phone_3", "Phone_2", "column_5", "Phone_4"]
    assert len(said) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert unique_names(["a", "b"], "list.csv") == ["a", "b"]  # no warning


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\t1", "'\t1"),
        ("-- prefers text", "'-- prefers text"),
        ("+1 430 997 6005 ext 12", "'+1 430 997 6005 ext 12"),
        ("-2+A1", "'-2+A1"),
        # Digits, spaces and + - ( ) . / alone can do no harm: left as they are.
        ("+1 430 997 6005", "+1 430 997 6005"),
        ("+1 (202) 555-0100", "+1 (202) 555-0100"),
        ("-2+3", "-2+3"),
        ("-", "-"),
        ("-1/2", "-1/2"),
        ("-77.0387", "-77.0387"),
        ("+1", "+1"),
        ("-1.5e-3", "-1.5e-3"),
        ("+.5", "+.5"),
        ("Ann", "Ann"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_get_an_apostrophe(cell: str, written: str) -> None:
    assert neutral(cell) == written
    assert neutral_array(pa.array([cell, None])).to_pylist() == [written, None]


@given(st.text(alphabet=st.sampled_from("=+-@\t\r0123456789.eE aZ'()/"), max_size=12))
def test_arrow_and_python_agree_and_nothing_runnable_is_left(cell: str) -> None:
    import re

    made = neutral(cell)
    assert made in (cell, PREFIX + cell)
    assert not made.startswith(TRIGGERS) or re.fullmatch(HARMLESS, made)
    for kind in (pa.string(), pa.large_string()):
        assert neutral_array(pa.array([cell], kind)).to_pylist() == [made]


def test_a_workbooks_text_cells_are_text_shown_as_they_are(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    cells = ["=HYPERLINK(1)", "-- prefers text", "+1 430 997 6005", "@SUM(1)", "Ann"]
    frame = pd.DataFrame({"=notes": cells, "n": [1, 2, 3, 4, 5]})
    for neutral_ in (True, False):
        book = tmp_path / f"out{neutral_}.xlsx"
        write_table(frame, TableOutput.of(book, neutral=neutral_))
        sheet = openpyxl.load_workbook(book).active
        header, *rows = list(sheet.iter_rows())
        assert [c.value for c in header] == ["=notes", "n"]  # no apostrophe of its own
        assert [row[0].value for row in rows] == cells
        assert {row[0].data_type for row in [header, *rows]} == {"s"}  # never a formula
        quoted = [row[0].quotePrefix for row in [header, *rows]]
        expected = [True, True, True, False, True, False] if neutral_ else [False] * 6
        assert quoted == expected  # Excel's quote prefix: text, even when edited


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("out.csv", "csv"),
        ("OUT.CSV", "csv"),
        ("out.csv.gz", "csv.gz"),
        ("out.parquet", "parquet"),
        ("out.xlsx", "xlsx"),
    ],
)
def test_the_output_kind_is_its_extension(name: str, kind: str) -> None:
    assert TableOutput.of(name).kind == kind
    assert TableOutput.of(name, neutral=True).neutral is (kind != "parquet")


@pytest.mark.parametrize("name", ["out.json", "out.txt", "out", ".csv", "out.xls", "out.gz"])
def test_an_output_of_no_known_kind_is_refused(name: str) -> None:
    with pytest.raises(OptionError, match=r"name it \.csv, \.csv\.gz, \.parquet or \.xlsx"):
        TableOutput.of(name)


def test_the_additional_candidates_go_beside() -> None:
    assert TableOutput.of("x/out.csv.gz").beside("additional").path.name == "out.additional.csv.gz"


def test_without_openpyxl_a_workbook_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from smartmatch_pandas.files.tables import TableFile

    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as without the excel extra
    book = tmp_path / "list.xlsx"
    book.write_bytes(b"PK")
    with pytest.raises(InputError, match=r"pip install 'smartmatch-pandas\[excel\]'"):
        TableFile(book)


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet", "out.xlsx"])
def test_each_output_kind_reads_back_as_written(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame(
        {"name": ["José", "=1+1", None], "zip": ["02134", "-77.0387", "+1"]}, dtype="string"
    )
    write_table(frame, TableOutput.of(tmp_path / name, neutral=True))
    back = read_table(tmp_path / name)
    expected = ["José", "'=1+1" if ".csv" in name else "=1+1", None]  # a workbook: text cells
    assert back["name"].tolist()[:2] == expected[:2]
    assert pd.isna(back["name"].iloc[2])
    assert back["zip"].tolist() == ["02134", "-77.0387", "+1"]
    assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"PK\x03\x04rest of a workbook", "an Excel workbook (.xlsx)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),
        (b"PAR1\x15\x04", "a Parquet file"),
    ],
)
def test_a_file_named_csv_that_is_no_text_is_refused_in_words(
    tmp_path: Path, head: bytes, what: str
) -> None:
    misnamed = tmp_path / "list.csv"
    misnamed.write_bytes(head)
    with pytest.raises(InputError, match=rf"list\.csv is {re.escape(what)}.*not CSV text"):
        read_table(misnamed)


def test_a_folder_that_refuses_files_is_found_before_paying(tmp_path: Path) -> None:
    # access() says yes to root everywhere: the place is tried with a file.
    with pytest.raises(OptionError, match=r"the folder /proc cannot be written"):
        TableOutput.of("/proc/enriched.csv").check_place()
    TableOutput.of(tmp_path / "enriched.csv").check_place()  # a writable folder passes
    assert list(tmp_path.iterdir()) == []  # and nothing is left there
