"""Each identifier's values are normalised as documented, for every dtype, column-wise.

The vectorised rules are checked three ways: tables of edge cases written by
hand; the row-by-row reference of benchmarks/row_by_row.py as an oracle on
generated values (hypothesis) and on the benchmark's messy frame; and
properties (normalising twice is normalising once; no row is dropped or moved).
"""

from __future__ import annotations

import datetime as dt
import string
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.prepare import messy_frame
from benchmarks.row_by_row import normalize_column, prepare_rows
from smartmatch_pandas import IDENTIFIERS, InputError, OptionError, SmartMatchWarning
from smartmatch_pandas.options import check_policy
from smartmatch_pandas.preparation.mapping import resolve_mapping
from smartmatch_pandas.preparation.normalize import (
    MAX_AGE,
    RULES,
    STATES,
    digits_only,
    normalize,
    read_as_missing,
    to_text,
)
from smartmatch_pandas.preparation.table import prepare_table

TODAY = dt.date(2026, 6, 15)
OK = object()  # in the tables below: "valid, and unchanged"


def normalised(identifier: str, values: list[Any]) -> list[str | None]:
    return normalize(pd.Series(values, dtype=object), identifier, today=TODAY).value.to_pylist()


def check_table(identifier: str, table: list[tuple[Any, Any]]) -> None:
    values = [given for given, _ in table]
    expected = [given if want is OK else want for given, want in table]
    assert normalised(identifier, values) == expected


# -- each identifier, edge cases ---------------------------------------------------------


def test_zip() -> None:
    check_table(
        "zip",
        [
            ("02134", OK),
            (2134, "02134"),  # an integer that lost its leading zero
            (2134.0, "02134"),
            ("2134.0", "02134"),  # a float written out as text
            ("2134", "02134"),
            (501, "00501"),  # the lowest ZIP in use
            ("500", None),
            (12, None),
            ("02134-1234", "02134"),  # ZIP+4
            ("02134 1234", "02134"),
            ("021341234", "02134"),
            (" 02134 ", "02134"),
            ("99999", OK),
            ("1234567", None),
            ("21341234", None),  # 8 digits: not guessed at
            ("02134-12", None),
            ("n/a", None),
            ("0213A", None),
            ("2134.5", None),
            ("", None),
            (None, None),
            ("٠٢١٣٤", None),  # digits, but not ASCII ones
        ],
    )


def test_dob() -> None:
    check_table(
        "dob",
        [
            ("1976-01-14", "19760114"),
            ("1976-1-4", "19760104"),
            ("1976/01/14", "19760114"),
            ("01/14/1976", "19760114"),
            ("1/14/1976", "19760114"),
            ("1-14-1976", "19760114"),
            ("19760114", OK),
            (19760114, "19760114"),
            (19760114.0, "19760114"),
            (dt.date(1976, 1, 14), "19760114"),
            (dt.datetime(1976, 1, 14), "19760114"),
            (pd.Timestamp("1976-01-14"), "19760114"),
            (np.datetime64("1976-01-14"), "19760114"),
            ("1976-01-14T00:00:00", "19760114"),
            ("1976-01-14 00:00", "19760114"),
            ("2000-02-29", "20000229"),  # leap year
            ("1900-02-29", None),  # not a leap year (and too long ago)
            ("2023-02-29", None),
            ("2/30/1990", None),
            ("1990-13-01", None),
            ("1990-00-10", None),
            ("1990-01-00", None),
            ("2026-06-15", "20260615"),  # today
            ("2026-06-16", None),  # tomorrow
            ("2099-01-01", None),
            ("1906-06-16", "19060616"),  # 119 years, 364 days
            ("1906-06-15", None),  # 120 years ago
            ("1900-01-01", None),  # the placeholder many CRMs use
            ("14/01/1976", None),  # day first: not read
            ("76-1-14", None),  # year first with two digits: not read
            ("1/14/76", "19760114"),  # a two-digit year is the past
            ("6/14/26", "20260614"),  # yesterday
            ("6/16/26", "19260616"),  # tomorrow a century ago
            ("Jan 14 1976", "19760114"),
            ("14.01.1976", None),  # day first: not read
            ("", None),
            (None, None),
        ],
    )


def test_age() -> None:
    check_table(
        "age",
        [
            ("42", OK),
            (42, "42"),
            (42.0, "42"),
            ("42.0", "42"),
            (" 42 ", "42"),
            ("042", "42"),
            (0, "0"),
            (MAX_AGE, str(MAX_AGE)),
            (MAX_AGE + 1, None),
            (-1, None),
            ("42.5", None),
            ("forty", None),
            ("42 years", None),
            (None, None),
        ],
    )


def test_gender() -> None:
    check_table(
        "gender",
        [
            ("F", OK),
            ("f", "F"),
            ("female", "F"),
            ("Woman", "F"),
            (" FEMALE ", "F"),
            ("M", OK),
            ("m", "M"),
            ("Male", "M"),
            ("man", "M"),
            ("M.", "M"),
            ("U", OK),
            ("unknown", "U"),
            ("Prefer not to say", "U"),
            ("", None),  # blank stays blank: not invalid
            (None, None),
            ("X", None),
            ("nonbinary", None),
            ("fem ale", None),
        ],
    )


def test_state() -> None:
    check_table(
        "state",
        [
            ("MA", OK),
            ("ma", "MA"),
            ("Ma", "MA"),
            ("Massachusetts", "MA"),
            ("MASSACHUSETTS", "MA"),
            ("new  york", "NY"),
            ("New\u00a0York", "NY"),
            ("DC", OK),
            ("D.C.", "DC"),
            ("District of Columbia", "DC"),
            ("Washington, D.C.", "DC"),
            ("Washington", "WA"),
            ("Puerto Rico", "PR"),
            ("XX", None),
            ("Mass.", "MA"),  # the AP's abbreviations
            ("Calif", "CA"),
            ("N.Y.", "NY"),
            ("N.C.", "NC"),
            ("W.Va.", "WV"),
            ("Penn.", "PA"),
            ("Penna.", "PA"),
            ("N. Carolina", "NC"),
            ("So. Carolina", "SC"),
            ("Wash DC", "DC"),
            ("Wash.", "WA"),
            ("M A", None),
            (None, None),
        ],
    )


def test_every_state_name_and_code() -> None:
    for code, names in STATES.items():
        spellings = [code, code.lower(), *names, *(n.upper() for n in names)]
        assert normalised("state", spellings) == [code] * len(spellings)


def test_phone() -> None:
    check_table(
        "phone",
        [
            ("5552345678", OK),
            ("555-234-5678", "5552345678"),
            ("(555) 234-5678", "5552345678"),
            ("(555)234-5678", "5552345678"),
            ("555.234.5678", "5552345678"),
            ("555 234 5678", "5552345678"),
            ("+1 555 234 5678", "5552345678"),
            ("+1-555-234-5678", "5552345678"),
            ("'+1 555 234 5678 ext 12", "5552345678"),  # as a CSV output neutralised it
            ("1 (555) 234-5678", "5552345678"),
            ("15552345678", "5552345678"),
            (5552345678, "5552345678"),
            (15552345678, "5552345678"),
            (5552345678.0, "5552345678"),
            ("555-234-5678 x12", "5552345678"),
            ("555-234-5678 ext. 12", "5552345678"),
            ("555-234-5678 Ext 12", "5552345678"),
            ("555-234-5678, extension 1234", "5552345678"),
            ("555-234-5678#12", "5552345678"),
            ("555-123-4567", None),  # no exchange starts with 1
            ("155-234-5678", None),  # nor an area code
            ("555-234-567", None),
            ("25552345678", None),  # 11 digits not starting with 1
            ("+44 20 7946 0958", None),
            ("+5552345678", None),
            ("555-CALL-NOW", None),
            ("555-234-5678 x", None),
            ("tel:5552345678", None),
            (None, None),
        ],
    )


def test_email() -> None:
    check_table(
        "email",
        [
            ("ann.lee@gmail.com", OK),
            (" Ann.Lee@GMail.COM ", "Ann.Lee@gmail.com"),  # the local part is kept as given
            ("ANN@EXAMPLE.ORG", "ANN@example.org"),
            ("ann+news@mail.example.co.uk", OK),
            ("zoë@Müller.DE", "zoë@müller.de"),
            ("o'brien@example.com", OK),
            ("ann@xn--mller-kva.de", OK),
            ("ann at gmail.com", None),
            ("ann@gmail", None),
            ("ann@gmail.c", None),
            ("ann@@gmail.com", None),
            ("a@b@c.com", None),
            ("ann@.com", None),
            ("ann@gmail..com", None),
            ("ann lee@gmail.com", None),
            ("Ann <ann@gmail.com>", None),
            ("mailto:ann@gmail.com", None),
            ("@gmail.com", None),
            (None, None),
        ],
    )


@pytest.mark.parametrize("identifier", ["first_name", "last_name", "address1", "city"])
def test_names_and_addresses(identifier: str) -> None:
    check_table(
        identifier,
        [
            ("Ann", OK),
            ("  Ann  ", "Ann"),
            ("Mary  Ann", "Mary Ann"),
            ("Mary\tAnn\n", "Mary Ann"),
            ("Mary\u00a0Ann", "Mary Ann"),
            ("Zoë", OK),  # accents kept
            ("Zoe\u0308", "Zoë"),  # composed: matches the voter file's spelling
            ("O'Brien-Smith", OK),
            ("123  Main St.", "123 Main St."),
            ("   ", None),
            (None, None),
        ],
    )


@pytest.mark.parametrize("identifier", ["full_name", "first_name_combined"])
def test_full_names_are_sent_exactly_as_given(identifier: str) -> None:
    values = ["  Ann  Lee ", "Lee, Ann", "Zoe\u0308", "Ann"]
    assert normalised(identifier, values) == values


@pytest.mark.parametrize("identifier", ["voterbase_id", "smartvan_id", "voter_id", "exact_track"])
def test_ids_are_trimmed_only(identifier: str) -> None:
    assert normalised(identifier, [" IL-000012345678 ", "00123", 4567, 12.0, None]) == [
        "IL-000012345678",
        "00123",
        "4567",
        "12",
        None,
    ]


def test_latitude_and_longitude() -> None:
    check_table(
        "latitude",
        [
            ("42.3601", OK),
            (42.3601, "42.3601"),
            (-90, "-90"),
            ("90.0", OK),
            ("+42.36", "42.36"),
            (" 42.36 ", "42.36"),
            (".5", OK),
            (90.0001, None),
            ("N 42.36", None),
            ("42.36°", None),
            ("42,36", None),
            ("1e2", None),
            (None, None),
        ],
    )
    assert normalised("longitude", [-71.0589, "-180", 180.5, "200"]) == [
        "-71.0589",
        "-180",
        None,
        None,
    ]


def test_every_identifier_has_a_documented_rule() -> None:
    assert list(RULES) == list(IDENTIFIERS)
    for rule in RULES.values():
        assert rule.what
        assert rule.doc


def test_unknown_identifier() -> None:
    with pytest.raises(OptionError):
        normalize(pd.Series(["x"]), "zipcode")


# -- every dtype ---------------------------------------------------------------------------


def test_every_dtype_to_text() -> None:
    n = pd.NA
    cases: list[tuple[pd.Series, list[str | None]]] = [
        (pd.Series(["a", None, "b"], dtype=object), ["a", None, "b"]),
        (pd.Series(["a", None], dtype="string"), ["a", None]),
        (pd.Series(["a", None], dtype="string[pyarrow]"), ["a", None]),
        (pd.Series(["a", None], dtype="str"), ["a", None]),
        (pd.Series(["b", "a", None, "b"], dtype="category"), ["b", "a", None, "b"]),
        (pd.Series([2134, 501], dtype="category"), ["2134", "501"]),
        (pd.Series([2134, n], dtype="Int64"), ["2134", None]),
        (pd.Series([2134, 7], dtype="int64"), ["2134", "7"]),
        (pd.Series([2134, 7], dtype="uint16"), ["2134", "7"]),
        (pd.Series([2134.0, np.nan, 42.5], dtype="float64"), ["2134", None, "42.5"]),
        (pd.Series([2134.0, n, 42.5], dtype="Float64"), ["2134", None, "42.5"]),
        (pd.Series([5552345678.0, 15552345678.0]), ["5552345678", "15552345678"]),
        (pd.Series([1.5], dtype="float32"), ["1.5"]),
        (pd.Series([True, False, None], dtype="boolean"), ["True", "False", None]),
        (pd.Series([2134, None], dtype="int64[pyarrow]"), ["2134", None]),
        (pd.Series(["1976-01-14", None], dtype="datetime64[ns]"), ["1976-01-14", None]),
        (
            pd.Series(pd.to_datetime(["1976-01-14 05:30", None])),
            ["1976-01-14T05:30:00", None],
        ),
        (
            pd.Series(pd.to_datetime(["1976-01-14"]).tz_localize("US/Eastern")),
            ["1976-01-14"],  # the date where it was recorded, not in UTC
        ),
        (
            pd.Series(pd.to_datetime(["1976-01-14 04:00"], utc=True)),
            ["1976-01-14T04:00:00"],
        ),
        (pd.Series([dt.date(1976, 1, 14)], dtype="date32[pyarrow]"), ["1976-01-14"]),
        (
            pd.Series(pd.to_datetime(["1976-01-14"]), dtype="timestamp[us][pyarrow]"),
            ["1976-01-14"],
        ),
        (pd.Series([b"Zo\xc3\xab", None], dtype=object), ["Zoë", None]),
        (
            pd.Series(
                [1, "a", 2.5, 3.0, True, b"x", dt.date(1976, 1, 14), None, np.nan, n],
                dtype=object,
            ),
            ["1", "a", "2.5", "3", "True", "x", "1976-01-14", None, None, None],
        ),
        (
            pd.Series([np.int64(7), np.float64(2.0), Decimal("2134")], dtype=object),
            ["7", "2", "2134"],
        ),
        (pd.Series([], dtype=object), []),
    ]
    for series, expected in cases:
        assert to_text(series).to_pylist() == expected, series.dtype


def test_bytes_that_are_not_utf8_name_the_column_and_row() -> None:
    series = pd.Series([b"ok", b"caf\xe9"], index=["r1", "r2"], dtype=object)
    with pytest.raises(InputError, match=r"column 'City', row 'r2': bytes that are not UTF-8"):
        normalize(series, "city", label="City")
    categorical = pd.Series([b"ok", b"caf\xe9"], index=["r1", "r2"], dtype="category")
    with pytest.raises(InputError, match=r"row 'r2'"):
        normalize(categorical, "city", label="City")


@pytest.mark.parametrize("dtype", [object, "string", "string[pyarrow]", "str", "category"])
def test_text_dtypes_normalise_alike(dtype: Any) -> None:
    values = [" Ann ", "ma", "02134-1234", None, "x"]
    expected = normalize(pd.Series(values, dtype=object), "state", today=TODAY)
    got = normalize(pd.Series(values, dtype=dtype), "state", today=TODAY)
    assert got.value.to_pylist() == expected.value.to_pylist()
    assert (got.invalid == expected.invalid).all()


def test_datetimes_normalise_as_birth_dates() -> None:
    naive = pd.Series(pd.to_datetime(["1976-01-14", None, "2099-01-01"]))
    aware = naive.dt.tz_localize("America/Chicago")
    with_time = pd.Series(pd.to_datetime(["1976-01-14 13:45", None, "2099-01-01 00:00"]))
    for series in (naive, aware, with_time):
        column = normalize(series, "dob", today=TODAY)
        assert column.value.to_pylist() == ["19760114", None, None]
        assert column.invalid.tolist() == [False, False, True]


# -- what is counted ------------------------------------------------------------------------


def test_present_changed_and_invalid_are_counted_per_row() -> None:
    column = normalize(pd.Series(["02134", 2134, " ", None, "n.a.", "N/A"]), "zip")
    assert column.present.tolist() == [True, True, False, False, True, False]
    assert column.changed.tolist() == [False, True, False, False, False, False]
    assert column.invalid.tolist() == [False, False, False, False, True, False]
    assert column.placeholders == 1


# -- values as people type them ----------------------------------------------------------

TYPED = [
    # Birth dates as spreadsheets and the field's tools write them.
    ("dob", "March 3, 1985", "19850303"),
    ("dob", "Mar 3 1985", "19850303"),
    ("dob", "Mar. 3, 1985", "19850303"),
    ("dob", "3 March 1985", "19850303"),
    ("dob", "3-Mar-85", "19850303"),
    ("dob", "03-MAR-1985", "19850303"),
    ("dob", "Sunday, March 3, 1985", "19850303"),
    ("dob", "Sept 9, 1999", "19990909"),
    ("dob", "3/3/85", "19850303"),
    ("dob", "12/25/30", "19301225"),
    ("dob", "03/03/1985 12:00:00 AM", "19850303"),
    ("dob", "3/3/1985 0:00", "19850303"),
    ("dob", "1985-03-03T00:00:00Z", "19850303"),
    ("dob", "1985-03-03T00:00:00.000Z", "19850303"),
    ("dob", "1985-03-03 08:30:00+05:00", "19850303"),
    ("dob", "1985.03.03", "19850303"),
    ("dob", "31109", "19850303"),  # an Excel serial day number
    ("dob", "31109.0", "19850303"),
    ("dob", 31109, "19850303"),
    ("dob", "Smarch 3, 1985", None),
    ("dob", "3/3/1985 25:00 XM", None),
    # States with dots, AP abbreviations and full names.
    ("state", "N.Y.", "NY"),
    ("state", "N.C.", "NC"),
    ("state", "D.C.", "DC"),
    ("state", "Calif.", "CA"),
    ("state", "Mass.", "MA"),
    ("state", "Tenn.", "TN"),
    ("state", "W. Va.", "WV"),
    ("state", "Wis.", "WI"),
    ("state", "north carolina", "NC"),
    # Phones, ZIPs and ids that went through a float.
    ("phone", "6175551234.0", "6175551234"),
    ("zip", "2134.0", "02134"),
    ("smartvan_id", "1001.0", "1001"),
    ("voter_id", "123456.00", "123456"),
    ("voterbase_id", "MA-1.0", "MA-1.0"),  # not a number: kept
]


@pytest.mark.parametrize(("identifier", "given", "expected"), TYPED)
def test_values_as_people_type_them(identifier: str, given: Any, expected: str | None) -> None:
    assert normalised(identifier, [given]) == [expected]
    # The row-by-row reference reads them alike.
    assert normalize_column([given], identifier, TODAY)[1] == [expected]


@pytest.mark.parametrize(
    "placeholder", ["NULL", "null", "nan", "NaN", "N/A", "n/a", "#N/A", "None", "-", " NULL "]
)
@pytest.mark.parametrize("identifier", IDENTIFIERS)
def test_placeholders_are_missing_in_every_identifier(placeholder: str, identifier: str) -> None:
    column = normalize(pd.Series([placeholder, None]), identifier, today=TODAY)
    assert column.value.to_pylist() == [None, None]
    assert column.present.tolist() == [False, False]
    assert column.invalid.tolist() == [False, False]
    assert column.placeholders == 1
    assert column.sent("keep").to_pylist() == [None, None]


@pytest.mark.parametrize("rows", [10, 4096, 20_000])
def test_placeholders_stay_missing_beside_invalid_values_kept_at_any_size(rows: int) -> None:
    # Past 4,096 rows a column of repeated values is normalised once per distinct value
    # (a dictionary): "keep" sends the invalid value as given, never a placeholder.
    given = ["NULL", "#N/A", "n/a", "-", "None", "Pensylvania"] + ["NY"] * (rows - 6)
    column = normalize(pd.Series(given), "state", today=TODAY)
    sent = pa.array(column.sent("keep")).to_pylist()
    assert sent[:7] == [None] * 5 + ["Pensylvania", "NY"]
    assert column.placeholders == 5
    assert int(column.invalid.sum()) == 1


def test_the_placeholder_rule_can_be_turned_off() -> None:
    previous = read_as_missing(())
    try:
        assert normalised("first_name", ["None", "NULL"]) == ["None", "NULL"]
        read_as_missing(["unknown"])
        assert normalised("first_name", ["None", " Unknown "]) == ["None", None]
    finally:
        read_as_missing(previous)
    assert normalised("first_name", ["None", "NULL"]) == [None, None]


def test_placeholders_are_counted_in_check() -> None:
    frame = pd.DataFrame(
        {"ZIP": ["02134", "NULL", "#N/A", "-"], "Last Name": ["a", "b", "N/A", "d"]}
    )
    report = frame.smartmatch.check()
    counts = dict(zip(report.frame["column"], report.frame["placeholders"], strict=True))
    assert counts == {"ZIP": 3, "Last Name": 1}
    assert not any(c.invalid for c in report.columns)  # missing, not invalid
    assert "placeholders" in str(report)


# -- the policy for invalid values ---------------------------------------------------------


def test_policies() -> None:
    column = normalize(pd.Series([2134, "n.a.", None], index=["a", "b", "c"]), "zip")
    assert column.sent("keep").to_pylist() == ["02134", "n.a.", None]
    assert column.sent("blank").to_pylist() == ["02134", None, None]
    with pytest.raises(InputError) as caught:
        column.sent("raise", "ZIP Code", pd.Index(["a", "b", "c"]))
    assert "column 'ZIP Code' (zip): 1 value(s) are not a ZIP code (row 'b': 'n.a.')" in str(
        caught.value
    )
    assert "invalid='keep'" in str(caught.value)
    assert "invalid='blank'" in str(caught.value)


@pytest.mark.parametrize("value", ["drop", "", None, True, "KEEP"])
def test_policy_is_validated(value: Any) -> None:
    with pytest.raises(OptionError, match=r"invalid=.*must be one of 'keep', 'blank', 'raise'"):
        check_policy(value)


def test_invalid_values_are_counted_per_column_in_one_warning() -> None:
    frame = pd.DataFrame(
        {"ZIP Code": [2134, "n.a.", "x"], "Phone": ["5552345678", "nope", None], "city": ["a"] * 3}
    )
    mapping = resolve_mapping(frame.columns)
    with pytest.warns(SmartMatchWarning) as caught:
        table = prepare_table(frame, mapping)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'ZIP Code' (zip) 2 of 3" in message
    assert "'Phone' (phone) 1 of 3" in message
    assert "city" not in message
    assert "sent as given (invalid='keep')" in message
    assert table["zip"].to_pylist() == ["02134", "n.a.", "x"]
    with pytest.warns(SmartMatchWarning, match=r"sent empty \(invalid='blank'\)"):
        blank = prepare_table(frame, mapping, invalid="blank")
    assert blank["zip"].to_pylist() == ["02134", None, None]
    with pytest.raises(InputError, match=r"column 'ZIP Code' \(zip\): 2 value"):
        prepare_table(frame, mapping, invalid="raise")


def test_no_warning_when_every_value_is_valid(recwarn: pytest.WarningsRecorder) -> None:
    frame = pd.DataFrame({"zip": [2134, "02134-1234"], "first_name": ["Ann", " Bob"]})
    prepare_table(frame, resolve_mapping(frame.columns))
    assert not [w for w in recwarn if issubclass(w.category, SmartMatchWarning)]


# -- the row-by-row oracle ------------------------------------------------------------------


def test_the_benchmark_frame_agrees_with_the_row_by_row_reference() -> None:
    frame = messy_frame(6_000, seed=5)
    mapping = resolve_mapping(frame.columns)
    with pytest.warns(SmartMatchWarning):
        table = prepare_table(frame, mapping, today=TODAY)
    reference = prepare_rows(frame, mapping.pairs, TODAY)
    assert table.column_names == list(reference)
    for name in table.column_names:
        assert table[name].to_pylist() == reference[name], name


def test_the_per_distinct_path_agrees_with_the_per_row_path() -> None:
    """Many repeated values take the dictionary path; the answer must not change."""
    values = ["02134", 2134, "n/a", None, " 2134.0 ", "02134-1234"] * 3_000
    column = normalize(pd.Series(values, dtype=object), "zip", today=TODAY)
    _, value, invalid = normalize_column(values, "zip", TODAY)
    assert column.value.to_pylist() == value
    assert column.invalid.tolist() == invalid


def _formatted_dates() -> st.SearchStrategy[Any]:
    def spell(day: dt.date, style: int) -> Any:
        y, m, d = day.year, day.month, day.day
        return [
            f"{y:04d}-{m:02d}-{d:02d}",
            f"{m}/{d}/{y:04d}",
            f"{m:02d}-{d:02d}-{y:04d}",
            f"{y:04d}{m:02d}{d:02d}",
            y * 10_000 + m * 100 + d,
            day,
            pd.Timestamp(day),
            f"{y:04d}/{m}/{d} 00:00:00",
            # As people, their tools and Excel write them:
            day.strftime("%B %-d, %Y"),
            f"{m}/{d}/{y % 100:02d}",
            day.strftime("%m/%d/%Y 12:00:00 AM"),
            day.strftime("%Y-%m-%dT00:00:00Z"),
            day.strftime("%-d-%b-%y"),
            day.strftime("%A, %B %-d, %Y"),
            day.strftime("%Y-%m-%dT08:30:00-05:00"),
            str((day - dt.date(1899, 12, 30)).days),  # an Excel serial day number
        ][style]

    days = st.dates(dt.date(1890, 1, 1), dt.date(2040, 12, 31))
    return st.builds(spell, days, st.integers(0, 15))


def _noise(alphabet: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=14)


DIGITS = string.digits
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "zip": st.one_of(
        st.integers(-10, 10**10),
        st.floats(0, 10**6).filter(lambda x: x == 0 or x >= 1e-4),
        st.just(float("nan")),
        _noise(DIGITS + "-. +"),
        st.text(max_size=8),
    ),
    "age": st.one_of(
        st.integers(-5, 200),
        st.floats(-1, 200).filter(lambda x: x == 0 or abs(x) >= 1e-4),
        _noise(DIGITS + ". -"),
    ),
    "dob": st.one_of(
        _formatted_dates(),
        _noise(DIGITS + "-/ T:."),
        _noise(DIGITS + "-/ ,.:MarchJunepmAPZ"),
        st.integers(0, 10**9),
    ),
    "phone": st.one_of(
        st.builds(
            lambda prefix, a, b, c, sep, ext: f"{prefix}{a}{sep}{b}{sep}{c}{ext}",
            st.sampled_from(["", "1", "+1 ", "1-", "(", "+44 "]),
            st.integers(100, 999),
            st.integers(100, 999),
            st.integers(0, 9999).map(lambda n: f"{n:04d}"),
            st.sampled_from(["", "-", ".", " ", ") ", ""]),
            st.sampled_from(["", " x12", " ext. 7", "#99", " X", ", extension 12"]),
        ),
        st.integers(10**9, 2 * 10**10),
        _noise(DIGITS + "()-. +xXet#"),
    ),
    "email": st.one_of(
        st.emails().map(lambda e: e.upper() if len(e) % 2 else e),
        _noise("aZ.@-_ +é" + DIGITS),
    ),
    "state": st.one_of(
        st.sampled_from([s for c, n in STATES.items() for s in (c, *n)]).map(
            lambda s: s.lower() if len(s) % 3 == 0 else f" {s.replace(' ', '  ')}."
        ),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ abc.,", max_size=6),
    ),
    "gender": st.one_of(
        st.sampled_from(["F", "female", "Woman", "M", "Male", "m", "unknown", "U", "", "X"]),
        st.text(max_size=6),
    ),
    "first_name": st.text(alphabet="Ann Zoëe\u0308\t\n\u00a0\u2003-'", max_size=12),
    "address1": st.text(max_size=16),
    "full_name": st.text(max_size=12),
    "voter_id": st.one_of(st.text(max_size=10), st.integers(0, 10**12)),
    "latitude": st.one_of(
        st.floats(-100, 100, allow_nan=False).filter(lambda x: x == 0 or abs(x) >= 1e-4),
        _noise(DIGITS + ".-+ "),
    ),
    "longitude": st.one_of(st.integers(-200, 200), _noise(DIGITS + ".-+e")),
}


# Placeholders for nothing, in any case and with spaces around, in every column.
PLACEHOLDER_SPELLINGS = st.sampled_from(
    ["NULL", "null", "nan", "NaN", "N/A", "n/a", "#N/A", "None", "-", " NULL ", "NONE", "#n/a"]
)
VALUES = {name: st.one_of(values, PLACEHOLDER_SPELLINGS) for name, values in VALUES.items()}


@pytest.mark.parametrize("identifier", list(VALUES))
@given(data=st.data())
def test_the_vectorised_rules_agree_with_the_row_by_row_reference(
    identifier: str, data: st.DataObject
) -> None:
    values = data.draw(st.lists(st.one_of(st.none(), VALUES[identifier]), max_size=25))
    column = normalize(pd.Series(values, dtype=object), identifier, today=TODAY)
    given_text, value, invalid = normalize_column(values, identifier, TODAY)
    assert column.given.to_pylist() == given_text
    assert column.value.to_pylist() == value
    assert column.invalid.tolist() == invalid


@pytest.mark.parametrize("identifier", list(VALUES))
@given(data=st.data())
def test_normalising_twice_is_normalising_once(identifier: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.one_of(st.none(), VALUES[identifier]), max_size=25))
    once = normalize(pd.Series(values, dtype=object), identifier, today=TODAY)
    for policy in ("keep", "blank"):
        sent = once.sent(policy)  # type: ignore[arg-type]
        twice = normalize(pd.Series(sent.to_pylist(), dtype=object), identifier, today=TODAY)
        assert twice.sent(policy).to_pylist() == sent.to_pylist()  # type: ignore[arg-type]
        assert not twice.changed.any()


@given(
    rows=st.lists(
        st.tuples(VALUES["zip"], VALUES["phone"], VALUES["dob"], VALUES["first_name"]),
        max_size=30,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_row_is_dropped_or_moved(rows: list[tuple[Any, ...]], seed: int) -> None:
    frame = pd.DataFrame(rows, columns=["zip", "phone", "dob", "first_name"], dtype=object)
    mapping = resolve_mapping(frame.columns)
    order = np.random.default_rng(seed).permutation(len(frame))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmartMatchWarning)
        table = prepare_table(frame, mapping, today=TODAY)
        shuffled = prepare_table(frame.iloc[order], mapping, today=TODAY)
    assert table.num_rows == len(frame)
    assert table["matchback_id"].to_pylist() == [str(i) for i in range(len(frame))]
    for name in ["zip", "phone", "dob", "first_name"]:
        assert shuffled[name].to_pylist() == table[name].take(pa.array(order)).to_pylist()


# -- the byte-level digit filter -----------------------------------------------------------


def test_digits_only_on_sliced_and_empty_arrays() -> None:
    array = pa.array(["x1", "(555) 234-5678", "", "é9z", "12"])
    assert digits_only(array).to_pylist() == ["1", "5552345678", "", "9", "12"]
    assert digits_only(array.slice(1, 3)).to_pylist() == ["5552345678", "", "9"]
    assert digits_only(pa.array([], pa.string())).to_pylist() == []
    assert digits_only(pa.array(["", ""])).to_pylist() == ["", ""]


def test_composing_accents_without_arrow_s_normaliser(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow 21 and 22 do not compose: Python's normaliser takes over, same result."""
    values = ["Zoe\u0308", "A\u030angstro\u0308m", "Ann", None, "  Jose\u0301  Luis "]
    expected = normalised("first_name", values)
    monkeypatch.setattr(
        "smartmatch_pandas.preparation.normalize.rules._arrow_composes", lambda: False
    )
    assert (
        normalised("first_name", values)
        == expected
        == [
            "Zoë",
            "Ångström",
            "Ann",
            None,
            "José Luis",
        ]
    )


def test_the_threaded_path_gives_the_same_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large frames are normalised on threads, object columns read on the calling one."""
    frame = messy_frame(5_000, seed=9)
    mapping = resolve_mapping(frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmartMatchWarning)
        serial = prepare_table(frame, mapping, today=TODAY)
        monkeypatch.setattr("smartmatch_pandas.preparation.table._ROWS_FOR_THREADS", 0)
        monkeypatch.setattr("smartmatch_pandas.preparation.table.os.cpu_count", lambda: 2)
        threaded = prepare_table(frame, mapping, today=TODAY)
    assert threaded.equals(serial)


def test_a_file_and_the_frame_pandas_reads_from_it_give_the_same_upload(tmp_path: Any) -> None:
    # pd.read_csv reads NULL, nan, #N/A as missing; the file read in batches (the command
    # line's path) keeps them as text: the placeholder rule makes both uploads one.
    from smartmatch_pandas.files.tables import TableFile
    from smartmatch_pandas.preparation.batched import file_mapping, upload_file
    from smartmatch_pandas.preparation.table import frame_upload

    path = tmp_path / "list.csv"
    path.write_text(
        "First Name,Last Name,ZIP,Phone,DOB\n"
        "Ann,Lee,02134,NULL,March 3 1985\n"
        "Bo,#N/A,nan,617-555-2345,N/A\n"
        "Cy,Park,-,None,3/3/85\n",
        encoding="utf-8",
    )
    frame = pd.read_csv(path, dtype=str)
    assert frame.isna().sum().sum() > 0  # pandas read some of them as missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmartMatchWarning)
        body, _ = frame_upload(frame, resolve_mapping(frame.columns))
        table = TableFile(path)
        upload = upload_file(table, file_mapping(table, None), "keep")
    try:
        assert upload.body.getvalue() == body.getvalue()
        lines = body.getvalue().decode().replace('"', "").splitlines()
        assert lines[1:] == [
            "Ann,Lee,02134,,19850303,0",
            "Bo,,,6175552345,,1",
            "Cy,Park,,,19850303,2",
        ]
    finally:
        upload.body.close()
        body.close()
