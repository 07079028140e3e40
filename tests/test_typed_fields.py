"""Typed voter fields (``typed=True``): the data dictionary's rules, the conversions, their
misfits, Parquet round trips, and the option end to end against the local service."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import smartmatch_pandas as sm
from smartmatch_pandas.deliverable import TEXT_DTYPE, MatchSummary
from smartmatch_pandas.deliverable.voter_fields import (
    DATE_DTYPE,
    KINDS,
    type_columns,
    typed_values,
    voter_fields,
)
from smartmatch_pandas.identifiers import MATCH_CODE
from smartmatch_pandas.local import LocalService
from smartmatch_pandas.local.service import AVAILABLE_FIELDS, ROW_FIELDS, SCORE_FIELDS
from smartmatch_pandas.options import OPTION

#: The kind of every field the local service can append.
LOCAL_FIELDS = {
    MATCH_CODE: "category",
    "ts__input_row": "integer",
    "ts__row": "integer",
    "ts.match_score": "float",
    "ts.match_method": "category",
    "vb.voterbase_id": "text",
    "vb.tsmart_exact_track": "text",
    "vb.vf_state_voter_id": "text",
    "vb.vf_smartvan_id": "text",
    "vb.tsmart_first_name": "text",
    "vb.tsmart_middle_name": "text",
    "vb.tsmart_last_name": "text",
    "vb.tsmart_name_suffix": "text",
    "vb.tsmart_full_address": "text",
    "vb.tsmart_address1": "text",
    "vb.tsmart_address2": "text",
    "vb.tsmart_city": "text",
    "vb.tsmart_state": "category",
    "vb.tsmart_zip": "text",
    "vb.tsmart_county_name": "text",
    "vb.tsmart_latitude": "float",
    "vb.tsmart_longitude": "float",
    "vb.voterbase_age": "integer",
    "vb.voterbase_dob": "date",
    "vb.voterbase_gender": "category",
    "vb.voterbase_registration_status": "category",
    "vb.vf_party": "category",
    "vb.tsmart_partisan_score": "float",
    "vb.tsmart_household_id": "text",
    "vb.email_address": "text",
    "vb.landline_phone": "text",
    "vb.wireless_phone": "text",
    "vb.voip_phone": "text",
}


def test_every_field_the_local_service_appends_has_its_rule() -> None:
    appended = {*AVAILABLE_FIELDS, *SCORE_FIELDS, *ROW_FIELDS, MATCH_CODE}
    assert appended == set(LOCAL_FIELDS)
    dictionary = voter_fields()
    for name, kind in LOCAL_FIELDS.items():
        rule = dictionary.rule_of(name)
        assert rule is not None, name
        assert (rule.field, rule.kind) == (name, kind), name  # by its exact name


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ts.tsmart_college_graduate_score", "float"),
        ("tsp.cell_tsmart_wireless_confidence_score", "float"),
        ("vb.phone_confidence_score", "float"),  # a score before a phone: patterns in order
        ("vb.spouse_age", "integer"),
        ("vb.household_member_count", "integer"),
        ("vb.vf_absentee_request_date", "date"),
        ("vb.spouse_dob", "date"),
        ("vb.reg_latitude", "float"),
        ("vb.mail_longitude", "float"),
        ("vb.vf_precinct_id", "text"),
        ("vb.cell_phone", "text"),
        ("vb.vf_mail_zip5", "text"),
        ("vb.spouse_gender", "category"),
        ("vb.primary_party", "category"),
        ("vb.vf_absentee_status", "category"),
        ("vb.deceased_flag", "category"),
        ("VB.VOTERBASE_AGE", "integer"),  # names are matched without regard to case
        ("vb.tsmart_occupation", None),  # no rule: it stays text
        ("notes", None),
    ],
)
def test_fields_the_dictionary_does_not_list_are_typed_by_pattern(
    name: str, kind: str | None
) -> None:
    assert voter_fields().kind_of(name) == kind


def test_every_rule_has_a_kind_and_a_source_and_names_one_field_once() -> None:
    rules = voter_fields().rules
    assert len(rules) >= 50
    assert all(r.kind in KINDS and r.source for r in rules)
    assert all(r.source.startswith("pattern") for r in rules if r.is_pattern)
    names = [r.field.lower() for r in rules]
    assert len(names) == len(set(names))


def _text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype=TEXT_DTYPE)


def test_integers_fit_or_are_counted_and_blanks_are_missing() -> None:
    typed, misfits = typed_values(
        _text("54", " 7 ", "+3", "54.0", "n/a", "5.5", "", "  ", None), "integer"
    )
    assert typed.dtype == "Int64"
    assert typed.tolist() == [54, 7, 3, 54, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA]
    assert misfits == 2  # "n/a" and "5.5"; blanks are missing, not misfits


def test_floats_fit_or_are_counted() -> None:
    values = _text("75.8", "-1.5e2", ".5", "3", "1e400", "nan", "x", "", None)
    typed, misfits = typed_values(values, "float")
    assert typed.dtype == "Float64"
    assert typed.tolist() == [75.8, -150.0, 0.5, 3.0, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA]
    assert misfits == 3


def test_dates_in_targetsmarts_iso_and_us_forms() -> None:
    values = _text(
        "19860714", "1986-07-14", "1986-7-4", "7/4/1986", "12/31/1999", "2024-02-29T00:00:00",
        "20240229", "20230229", "20230230", "13/01/2020", "00000000", "1986", "", None,
    )  # fmt: skip
    typed, misfits = typed_values(values, "date")
    assert typed.dtype == DATE_DTYPE
    expected = pd.to_datetime(
        ["1986-07-14", "1986-07-14", "1986-07-04", "1986-07-04", "1999-12-31", "2024-02-29",
         "2024-02-29", None, None, None, None, None, None, None]
    ).astype(DATE_DTYPE)  # fmt: skip
    pd.testing.assert_series_equal(typed, pd.Series(expected), check_names=False)
    assert misfits == 5


@pytest.mark.parametrize("kind", ["integer", "float", "date"])
def test_digits_of_other_scripts_are_misfits_not_errors(kind: str) -> None:
    # Arabic-Indic and full-width digits: Unicode digits that Arrow's casts do not read.
    arabic, wide = "\u0661\u0669\u0668\u0666\u0660\u0667\u0661\u0664", "\uff11\uff19\uff18\uff16"
    typed, misfits = typed_values(_text(arabic, wide * 2, "\u0665"), kind)  # type: ignore[arg-type]
    assert typed.isna().all()
    assert misfits == 3


def test_a_column_of_mixed_objects_is_read_as_text() -> None:
    mixed = pd.Series([54, "61", None, 7.0, "x"], dtype=object)
    typed, misfits = typed_values(mixed, "integer")
    assert typed.tolist() == [54, 61, pd.NA, 7, pd.NA]
    assert misfits == 1


def test_categories_keep_the_values_and_blanks_are_missing() -> None:
    typed, misfits = typed_values(
        _text("Democrat", " Republican ", "", None, "Democrat"), "category"
    )
    assert isinstance(typed.dtype, pd.CategoricalDtype)
    assert sorted(typed.cat.categories) == ["Democrat", "Republican"]
    assert typed.isna().tolist() == [False, False, True, True, False]
    assert misfits == 0


@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=30))
def test_no_value_makes_typing_raise(values: list[str | None]) -> None:
    given_values = sum(1 for v in values if v is not None and v.strip())
    for kind in ("integer", "float", "date", "category"):
        typed, misfits = typed_values(_text(*values), kind)  # type: ignore[arg-type]
        assert len(typed) == len(values)
        assert 0 <= misfits <= given_values
        assert int(typed.notna().sum()) == given_values - misfits


def _appended() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Ann", "Bob", "Cy"],
            "vb.voterbase_age": ["54", "oops", ""],
            "vb.voterbase_dob": ["19700101", "19860714", "20230230"],
            "vb.tsmart_partisan_score": ["75.8", "12", None],
            "vb.vf_party": ["Democrat", None, "Republican"],
            "vb.tsmart_zip": ["02134", "10001", None],
            "vb.tsmart_occupation": ["teacher", "", None],
        },
        index=pd.Index([10, 20, 30], name="row"),
    ).astype({c: TEXT_DTYPE for c in ("vb.voterbase_age", "vb.tsmart_zip")})


def test_type_columns_types_the_named_columns_alone_and_counts_misfits() -> None:
    frame = _appended()
    before = frame.copy()
    appended = [c for c in frame.columns if c != "name"]
    typed, misfits = type_columns(frame, appended)
    pd.testing.assert_frame_equal(frame, before)  # the given frame is left as it was
    assert list(typed.columns) == list(frame.columns)
    assert typed.index.equals(frame.index)
    assert typed["name"].dtype == frame["name"].dtype
    assert typed["vb.tsmart_zip"].tolist() == ["02134", "10001", pd.NA]  # text, zeros kept
    assert typed["vb.tsmart_occupation"].dtype == frame["vb.tsmart_occupation"].dtype
    assert typed["vb.voterbase_age"].tolist() == [54, pd.NA, pd.NA]
    assert misfits == {
        "vb.voterbase_age": 1,
        "vb.voterbase_dob": 1,
        "vb.tsmart_partisan_score": 0,
        "vb.vf_party": 0,
    }


def test_a_renamed_column_is_typed_by_the_field_it_came_from() -> None:
    frame = pd.DataFrame({"vb.voterbase_age": ["own"], "vb.voterbase_age_2": ["61"]})
    typed, misfits = type_columns(frame, {"vb.voterbase_age_2": "vb.voterbase_age"})
    assert typed["vb.voterbase_age_2"].tolist() == [61]
    assert typed["vb.voterbase_age"].tolist() == ["own"]
    assert misfits == {"vb.voterbase_age_2": 0}


def test_typed_columns_survive_a_parquet_round_trip_with_their_dtypes() -> None:
    typed, _ = type_columns(_appended(), [c for c in _appended().columns if c != "name"])
    buffer = io.BytesIO()
    typed.to_parquet(buffer)
    back = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    for column in typed.columns.drop("name"):
        if isinstance(typed[column].dtype, pd.StringDtype):
            # Text comes back as text; pandas 2.2 reads it with its default storage.
            assert isinstance(back[column].dtype, pd.StringDtype), column
            pd.testing.assert_series_equal(back[column], typed[column], check_dtype=False)
        else:
            pd.testing.assert_series_equal(back[column], typed[column], check_index=True)


def test_the_summary_says_what_did_not_fit_and_keeps_its_attrs_otherwise() -> None:
    plain = MatchSummary(rows=10, matched=8)
    assert "typed" not in plain.as_attrs()
    assert "typed" not in plain.describe()
    typed = MatchSummary(rows=10, matched=8, typed=True, misfits={"vb.voterbase_age": 2})
    assert typed.as_attrs()["typed"] == {"misfits": {"vb.voterbase_age": 2}}
    assert "2 values did not fit their type and are missing (vb.voterbase_age 2)" in (
        typed.describe()
    )


def test_typed_is_read_on_this_side_only() -> None:
    option = OPTION["typed"]
    assert not option.service
    assert option.verbs == ("match", "resume")
    assert option.cli is not None
    assert option.cli.flag == "--typed"
    assert option.form is not None
    assert option.form.kind == "checkbox"


# -- end to end, against the session's local service ---------------------------------------


def _appended_columns(frame: pd.DataFrame, df: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in df.columns]


def test_match_typed_types_the_appended_fields_of_the_same_job(
    contacts: pd.DataFrame, settings: dict[str, Any], service: LocalService
) -> None:
    df = contacts.head(60)
    plain = sm.match(df, **settings)
    jobs = service.stats.get("registrations", 0)
    typed = sm.match(df, typed=True, **settings)
    # One job, one cached result: the option is not sent and is not part of the key.
    assert typed.attrs["smartmatch"]["filename"] == plain.attrs["smartmatch"]["filename"]
    assert service.stats.get("registrations", 0) == jobs
    pd.testing.assert_frame_equal(typed[df.columns], plain[df.columns])
    assert typed["vb.voterbase_age"].dtype == "Int64"
    assert typed["vb.voterbase_dob"].dtype == DATE_DTYPE
    assert typed["vb.tsmart_partisan_score"].dtype == "Float64"
    assert isinstance(typed["vb.vf_party"].dtype, pd.CategoricalDtype)
    assert typed["vb.voterbase_id"].dtype == TEXT_DTYPE
    ages = plain["vb.voterbase_age"].dropna().astype(int).tolist()
    assert typed["vb.voterbase_age"].dropna().tolist() == ages
    dobs = pd.to_datetime(plain["vb.voterbase_dob"], format="%Y%m%d").astype(DATE_DTYPE)
    pd.testing.assert_series_equal(typed["vb.voterbase_dob"], dobs)
    assert typed.attrs["smartmatch"]["typed"] == {"misfits": {}}


def test_typed_false_keeps_the_text_exactly(
    contacts: pd.DataFrame, settings: dict[str, Any], tmp_path: Path
) -> None:
    df = contacts.head(40)
    default = sm.match(df, **settings)
    told = sm.match(df, typed=False, **settings)
    pd.testing.assert_frame_equal(told, default)
    assert told.attrs == default.attrs
    assert "typed" not in told.attrs["smartmatch"]
    assert all(told[c].dtype == TEXT_DTYPE for c in _appended_columns(told, df))
    default.to_parquet(tmp_path / "a.parquet")
    told.to_parquet(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert told.to_csv(index=False) == default.to_csv(index=False)


def test_resume_typed_and_the_candidates_keep_their_types(
    contacts: pd.DataFrame, settings: dict[str, Any]
) -> None:
    df = contacts.head(50)
    job = sm.submit(df, max_matches=3, **settings)
    result = sm.resume(job.filename, df, typed=True, **settings)
    assert result.summary.typed
    assert result.frame["vb.voterbase_age"].dtype == "Int64"
    candidates = result.candidates
    assert len(candidates) > len(df)  # some rows have further candidates
    assert isinstance(candidates["vb.vf_party"].dtype, pd.CategoricalDtype)
    assert candidates["vb.voterbase_dob"].dtype == DATE_DTYPE
    untyped = sm.resume(job.filename, df, **settings)
    assert untyped.frame["vb.voterbase_age"].dtype == TEXT_DTYPE
    assert np.array_equal(
        untyped.candidates["vb.voterbase_age"].isna(), candidates["vb.voterbase_age"].isna()
    )


def test_categories_are_sorted_whatever_order_the_values_come_in() -> None:
    first, _ = typed_values(_text("Republican", "Democrat", None, "Green"), "category")
    second, _ = typed_values(_text("Green", "Democrat", "Republican"), "category")
    assert list(first.cat.categories) == ["Democrat", "Green", "Republican"]
    assert first.dtype == second.dtype
    assert first.tolist() == ["Republican", "Democrat", np.nan, "Green"]


def test_every_path_gives_the_same_attrs_and_categories(
    contacts: pd.DataFrame, settings: dict[str, Any], listed: Path, tmp_path: Path
) -> None:
    df = contacts.head(40)
    matched = sm.match(df, typed=True, **settings)
    filename = matched.attrs["smartmatch"]["filename"]
    assert matched.attrs["smartmatch"]["typed"] == {"misfits": {}}
    resumed = sm.resume(filename, df, typed=True, **settings)
    result = sm.submit(df, **settings).wait(progress=False).result(typed=True)
    for frame in (resumed.frame, resumed.candidates, result.frame):
        assert frame.attrs == matched.attrs  # the same job: its result cache
        for column in ("vb.vf_party", "vb.voterbase_gender", "tsmart_match_code"):
            assert frame[column].dtype == matched[column].dtype, column
            categories = list(frame[column].cat.categories)
            assert categories == sorted(categories), column
    untyped = sm.resume(filename, df, **settings).frame.attrs["smartmatch"]
    assert "typed" not in untyped
    assert untyped == {k: v for k, v in matched.attrs["smartmatch"].items() if k != "typed"}
    # The command line's resume, with no input: the attrs say the fields are typed.
    written = tmp_path / "resumed.parquet"
    _cli("resume", filename, "-o", str(written), "--typed")
    assert pd.read_parquet(written).attrs["smartmatch"]["typed"] == {"misfits": {}}


# -- the command line: typed Parquet, Excel and CSV outputs, in memory and in batches ------


@pytest.fixture
def listed(
    contacts: pd.DataFrame, service: LocalService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """30 contacts in a CSV file, and the environment that reaches the session's service."""
    for name, value in service.environ.items():
        monkeypatch.setenv(name, value)
    given = tmp_path / "list.csv"
    contacts.head(30).to_csv(given, index=False)
    return given


def _cli(*args: str) -> None:
    from smartmatch_pandas.cli import main

    assert main([*args, "--no-progress"]) == 0


TYPED_DTYPES = {
    "vb.voterbase_age": "Int64",
    "vb.voterbase_dob": str(DATE_DTYPE),
    "vb.tsmart_partisan_score": "Float64",
    "vb.vf_party": "category",
    "vb.voterbase_id": str(TEXT_DTYPE),
}


@pytest.mark.parametrize("stream", ["--in-memory", "--stream"])
def test_the_command_line_writes_typed_parquet_and_plain_text_otherwise(
    listed: Path, tmp_path: Path, stream: str
) -> None:
    typed, plain = tmp_path / "typed.parquet", tmp_path / "plain.parquet"
    _cli("match", str(listed), "-o", str(typed), "--typed", stream)
    _cli("match", str(listed), "-o", str(plain), stream)
    back, text = pd.read_parquet(typed), pd.read_parquet(plain)
    for column, dtype in TYPED_DTYPES.items():
        assert str(back[column].dtype) == dtype, column
    assert back.attrs["smartmatch"]["typed"] == {"misfits": {}}
    assert "typed" not in text.attrs["smartmatch"]
    assert back.attrs["smartmatch"]["filename"] == text.attrs["smartmatch"]["filename"]
    assert text["vb.voterbase_age"].dtype != "Int64"  # text, as ever
    ages = text["vb.voterbase_age"].dropna().astype(int).tolist()
    assert back["vb.voterbase_age"].dropna().tolist() == ages


@pytest.mark.parametrize("stream", ["--in-memory", "--stream"])
def test_a_typed_csv_holds_the_typed_values_as_text(
    listed: Path, tmp_path: Path, stream: str
) -> None:
    typed, plain = tmp_path / "typed.csv", tmp_path / "plain.csv"
    _cli("match", str(listed), "-o", str(typed), "--typed", stream)
    _cli("match", str(listed), "-o", str(plain), stream)
    back = pd.read_csv(typed, dtype=str, keep_default_na=False)
    text = pd.read_csv(plain, dtype=str, keep_default_na=False)
    dobs = text["vb.voterbase_dob"]
    iso = dobs.where(dobs == "", dobs.str[:4] + "-" + dobs.str[4:6] + "-" + dobs.str[6:])
    assert back["vb.voterbase_dob"].tolist() == iso.tolist()  # dates as YYYY-MM-DD
    for same in ("vb.voterbase_id", "vb.voterbase_age", "vb.vf_party", "vb.tsmart_zip"):
        assert back[same].tolist() == text[same].tolist(), same


@pytest.mark.parametrize("stream", ["--in-memory", "--stream"])
def test_a_typed_workbook_holds_numbers_and_dates(
    listed: Path, tmp_path: Path, stream: str
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = tmp_path / "typed.xlsx"
    _cli("match", str(listed), "-o", str(book), "--typed", stream)
    back = pd.read_excel(book)
    assert pd.api.types.is_numeric_dtype(back["vb.voterbase_age"])
    assert pd.api.types.is_float_dtype(back["vb.tsmart_partisan_score"])
    assert pd.api.types.is_datetime64_any_dtype(back["vb.voterbase_dob"])
    sheet = openpyxl.load_workbook(book).active
    column = list(next(sheet.iter_rows(max_row=1, values_only=True))).index("vb.voterbase_dob")
    dobs = [row[column] for row in sheet.iter_rows(min_row=2) if row[column].value is not None]
    assert dobs
    assert {cell.number_format for cell in dobs} == {"yyyy-mm-dd"}  # a day, no time of day


# -- the form: a checkbox, shown in "the same in code", honoured by the result -------------


def test_the_forms_checkbox_types_the_result_and_shows_in_the_code(
    contacts: pd.DataFrame, service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ipywidgets")
    from smartmatch_pandas.form import MatchForm

    for name, value in service.environ.items():
        monkeypatch.setenv(name, value)
    df = contacts.head(30)
    form = MatchForm(df)
    assert "typed=True" not in form._code.value
    form.controls["typed"].value = True
    assert form.kwargs == {"typed": True}
    assert "typed=True" in form._code.value
    form.match_button.click()
    result = form.wait(60)
    assert result is not None, form.error
    pd.testing.assert_frame_equal(result, df.smartmatch.match(**form.kwargs, progress=False))
    assert result["vb.voterbase_age"].dtype == "Int64"


# -- misfits from a deliverable, in memory and in batches (the local service's all fit) ----

#: A deliverable whose second row carries values that do not fit their fields.
ODD_DELIVERABLE = {
    "results.csv": (
        b"first_name,matchback_id,tsmart_match_code,vb.voterbase_id,vb.voterbase_age,"
        b"vb.voterbase_dob,vb.vf_party\n"
        b"Ann,0,Y,IL-1,54,19700101,Democrat\n"
        b"Bob,1,Y,IL-2,unknown,19860230,Republican\n"
        b"Cy,2,N,,,,\n"
    )
}


def test_misfits_from_a_deliverable_are_missing_and_in_the_summary() -> None:
    from smartmatch_pandas.deliverable import merge_back, read_files

    df = pd.DataFrame({"first_name": ["Ann", "Bob", "Cy"], "crm": ["a", "b", "c"]})
    result = merge_back(df, read_files(ODD_DELIVERABLE), ["first_name", "matchback_id"])
    typed = result.typed()
    assert typed.typed() is typed  # typed once
    assert typed.frame["vb.voterbase_age"].tolist() == [54, pd.NA, pd.NA]
    assert typed.frame["vb.voterbase_dob"].isna().tolist() == [False, True, True]
    assert typed.frame["crm"].tolist() == ["a", "b", "c"]  # the input's own, untouched
    assert typed.summary.misfits == {"vb.voterbase_age": 1, "vb.voterbase_dob": 1}
    assert "2 values did not fit their type and are missing" in typed.summary.describe()
    assert result.frame["vb.voterbase_age"].tolist() == ["54", "unknown", pd.NA]  # untouched


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_batched_merge_types_and_counts_the_same(tmp_path: Path, suffix: str) -> None:
    from smartmatch_pandas.deliverable import merge_file
    from smartmatch_pandas.files.tables import TableFile

    source = tmp_path / "list.csv"
    pd.DataFrame({"first_name": ["Ann", "Bob", "Cy"]}).to_csv(source, index=False)
    out = tmp_path / f"out{suffix}"
    summary, written = merge_file(
        TableFile(source),
        ODD_DELIVERABLE,
        out,
        sent=["first_name", "matchback_id"],
        rows=3,
        presence={},
        typed=True,
    )
    assert written == 3
    assert summary.misfits == {"vb.voterbase_age": 1, "vb.voterbase_dob": 1}
    if suffix == ".parquet":
        back = pd.read_parquet(out)
        assert back.attrs["smartmatch"]["typed"] == {"misfits": dict(summary.misfits)}
        assert str(back["vb.voterbase_age"].dtype) == "Int64"
        assert back["vb.voterbase_dob"].dtype == DATE_DTYPE
        assert isinstance(back["vb.vf_party"].dtype, pd.CategoricalDtype)
        assert back["vb.voterbase_age"].tolist() == [54, pd.NA, pd.NA]
    else:
        back = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert back["vb.voterbase_dob"].tolist() == ["1970-01-01", "", ""]
        assert back["vb.voterbase_age"].tolist() == ["54", "", ""]
        assert back["vb.vf_party"].tolist() == ["Democrat", "Republican", ""]


def test_resume_on_the_command_line_and_match_lists_read_typed(
    listed: Path, tmp_path: Path, contacts: pd.DataFrame, settings: dict[str, Any]
) -> None:
    first = tmp_path / "first.parquet"
    _cli("match", str(listed), "-o", str(first), "--in-memory")
    filename = pd.read_parquet(first).attrs["smartmatch"]["filename"]
    again = tmp_path / "again.parquet"
    _cli("resume", filename, "-i", str(listed), "-o", str(again), "--typed")
    assert str(pd.read_parquet(again)["vb.voterbase_age"].dtype) == "Int64"
    results = sm.match_lists([contacts.head(10), contacts.tail(10)], typed=True, **settings)
    assert results.ok
    assert all(str(results[k]["vb.voterbase_age"].dtype) == "Int64" for k in (0, 1))


def test_the_forms_summary_says_what_did_not_fit() -> None:
    from smartmatch_pandas.deliverable import merge_back, read_files
    from smartmatch_pandas.form.html import summary_html

    df = pd.DataFrame({"first_name": ["Ann", "Bob", "Cy"]})
    result = merge_back(df, read_files(ODD_DELIVERABLE), ["first_name", "matchback_id"])
    assert "did not fit" not in summary_html(result)
    shown = summary_html(result.typed())
    assert "Typed: 2 values did not fit their type and are missing" in shown
    assert "vb.voterbase_age 1, vb.voterbase_dob 1" in shown
