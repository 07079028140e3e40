"""``df.smartmatch.check()``: what would be sent and what is wrong with it, before paying."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import CheckReport, InputError, OptionError
from smartmatch_pandas.preparation.check import ColumnCheck


def contacts(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "First Name": [f"Ann{i}" for i in range(n)],
            "Last Name": [f" Lee{i} " for i in range(n)],
            "ZIP Code": pd.Series([2134 + i for i in range(n)], dtype=object).to_numpy(),
            "Cell Phone": [f"(555) 234-{1000 + i}" for i in range(n)],
            "Email Opt In": ["Y"] * n,
        },
        index=[f"c{i}" for i in range(n)],
    )


def test_one_row_per_column_sent_with_counts() -> None:
    frame = contacts()
    frame.loc["c3", "ZIP Code"] = "n.a."
    frame.loc["c4", "ZIP Code"] = None
    frame.loc["c5", "Cell Phone"] = "555-CALL-NOW"
    report = frame.smartmatch.check()
    assert isinstance(report, CheckReport)
    assert report.rows == 10
    assert report.unsent == ("Email Opt In",)
    assert report.columns == (
        ColumnCheck("First Name", "first_name", present=10, changed=0, invalid=0),
        ColumnCheck("Last Name", "last_name", present=10, changed=10, invalid=0),
        ColumnCheck("ZIP Code", "zip", 9, changed=8, invalid=1, examples=(("c3", "n.a."),)),
        ColumnCheck("Cell Phone", "phone", 10, 9, 1, examples=(("c5", "555-CALL-NOW"),)),
    )
    assert report.problems == ()
    assert not report.ok
    assert report.frame.columns.tolist() == [
        "column",
        "identifier",
        "present",
        "changed",
        "invalid",
        "placeholders",
        "examples",
    ]
    assert report.frame["examples"].tolist() == ["", "", "c3: 'n.a.'", "c5: '555-CALL-NOW'"]


def test_a_clean_frame_is_ok() -> None:
    report = contacts().smartmatch.check()
    assert report.ok
    assert "no problems found" in str(report)
    assert "No problems found." in report._repr_html_()


def test_at_most_five_examples_and_none_when_asked() -> None:
    frame = pd.DataFrame({"zip": [f"bad{i}" for i in range(9)], "last_name": ["Lee"] * 9})
    report = frame.smartmatch.check()
    (zips, _) = report.columns
    assert zips.invalid == 9
    assert [row for row, _ in zips.examples] == [0, 1, 2, 3, 4]
    assert frame.smartmatch.check(examples=2).columns[0].examples == ((0, "bad0"), (1, "bad1"))
    assert frame.smartmatch.check(examples=0).columns[0].examples == ()


@pytest.mark.parametrize("examples", [-1, 6, 2.0, True, "5"])
def test_examples_is_validated(examples: Any) -> None:
    with pytest.raises(OptionError, match=r"examples=.*0 to 5"):
        contacts().smartmatch.check(examples=examples)


def test_no_contact_data_is_shown_beyond_the_examples() -> None:
    n = 40
    secrets = [f"secret{i:03d}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "first_name": secrets,
            "zip": [f"zz{i:03d}" for i in range(n)],  # all invalid: only 5 shown
            "notes": secrets,
        }
    )
    report = frame.smartmatch.check()
    shown = str(report) + report._repr_html_() + repr(report) + report.frame.to_string()
    assert not re.search(r"secret\d", shown)
    assert sorted(set(re.findall(r"zz\d{3}", shown))) == [f"zz{i:03d}" for i in range(5)]
    hidden = frame.smartmatch.check(examples=0)
    assert not re.search(r"zz\d|secret\d", str(hidden) + hidden._repr_html_())


def test_html_is_escaped_and_shows_the_table() -> None:
    frame = pd.DataFrame({"<b>zip</b>": ["<script>x</script>"], "last_name": ["Lee"]})
    report = frame.smartmatch.check(columns={"<b>zip</b>": "zip"})
    page = report._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;zip&lt;/b&gt;" in page
    assert "<table" in page
    assert page.count("<tr") == 3  # header and two columns


def test_text_form_is_a_readable_table() -> None:
    text = str(contacts().smartmatch.check())
    lines = text.splitlines()
    assert lines[0] == "SmartMatch check: 10 rows, 4 column(s) would be sent"
    assert "identifier" in lines[2]
    assert any(line.split()[:2] == ["ZIP", "Code"] for line in lines)
    assert lines[-1].startswith("not sent: Email Opt In")


def problems(frame: pd.DataFrame, **kwargs: Any) -> str:
    return "\n".join(frame.smartmatch.check(**kwargs).problems)


def test_frame_level_problems() -> None:
    assert "no rows" in problems(contacts().iloc[:0])
    assert "no column is a SmartMatch identifier" in problems(pd.DataFrame({"a": [1]}))
    clash = problems(pd.DataFrame({"Phone": ["5552345678"], "Telephone": ["5552345678"]}))
    assert "'Phone' (1 filled) and 'Telephone' (1 filled) as phone" in clash
    assert "smartvan_id is sent without a state" in problems(
        pd.DataFrame({"VAN ID": [1], "last_name": ["Lee"]})
    )
    multi = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("c", "d")]))
    assert "MultiIndex" in problems(multi)
    twice = pd.DataFrame([["Ann", "Ann", "Lee"]], columns=["first_name", "first_name", "zip"])
    assert "'first_name' appears more than once" in problems(twice)


def test_name_only_lists_are_flagged() -> None:
    names = pd.DataFrame({"First Name": ["Ann", "Bob"], "Last Name": ["Lee", "Ray"]})
    assert "only names are sent" in problems(names)
    assert "only names and age, state are sent" in problems(
        names.assign(State=["MA", "TX"], Age=[40, 50])
    )
    with_zip = names.assign(zip=["02134", None])
    found = problems(with_zip)
    assert "only names" not in found
    assert "1 row(s) (50%) have a name but no address, ZIP, birth date, phone, email" in found


def test_rows_with_nothing_usable_and_columns_with_nothing() -> None:
    frame = pd.DataFrame(
        {"zip": ["02134", "n.a.", None], "email": [None, None, " "], "dob": [None, None, None]}
    )
    found = problems(frame)
    assert "2 row(s) (67%) have no usable value in any column sent" in found
    assert "column 'dob' (dob) has no values" in found
    assert "column 'email' (email) has no values" in found


def test_a_column_of_mostly_invalid_values_is_probably_the_wrong_column() -> None:
    frame = pd.DataFrame({"Long": ["yes", "no", "yes", "12.5"], "last_name": ["a"] * 4})
    found = problems(frame)
    assert "3 of the 4 values of column 'Long' are not a longitude: is it the right column?" in (
        found
    )
    assert "columns={'Long': None}" in found


def test_bytes_that_are_not_utf8_are_a_problem_not_a_crash() -> None:
    frame = pd.DataFrame({"city": [b"ok", b"caf\xe9"], "zip": ["02134", "02135"]})
    report = frame.smartmatch.check()
    assert "column 'city', row 1: bytes that are not UTF-8" in "\n".join(report.problems)
    assert [c.identifier for c in report.columns] == ["zip"]


def test_check_takes_columns_like_match() -> None:
    frame = contacts()
    report = frame.smartmatch.check(columns={"Cell Phone": None, "Email Opt In": "email"})
    assert [c.identifier for c in report.columns] == ["first_name", "last_name", "zip", "email"]
    with pytest.raises(OptionError):
        frame.smartmatch.check(columns={"nope": "zip"})
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        sm.check_frame([1, 2])  # type: ignore[arg-type]


# -- prepare: exactly what is uploaded -----------------------------------------------------


def test_prepare_is_exactly_the_upload(service: Any) -> None:
    frame = contacts(6).assign(
        DOB=pd.to_datetime(["1976-01-14"] * 6), Age=pd.array([40, None] * 3, dtype="Int64")
    )
    frame.loc["c2", "ZIP Code"] = "n.a."
    with pytest.warns(sm.SmartMatchWarning):
        prepared = frame.smartmatch.prepare()
    assert prepared.columns.tolist() == [
        "first_name",
        "last_name",
        "zip",
        "phone",
        "dob",
        "age",
        "matchback_id",
    ]
    assert prepared.index.equals(frame.index)
    assert (prepared.dtypes == pd.StringDtype("pyarrow")).all()
    assert prepared.loc["c0"].tolist() == [
        "Ann0",
        "Lee0",
        "02134",
        "5552341000",
        "19760114",
        "40",
        "0",
    ]
    assert prepared.loc["c1", "age"] is pd.NA
    assert prepared.loc["c2", "zip"] == "n.a."

    with pytest.warns(sm.SmartMatchWarning):
        job = sm.submit(frame, **service.settings, progress=False)
    uploaded = service.service.store.get(f"uploads/{job.filename}").decode()
    job.wait(progress=False)
    rows = [line.split(",") for line in uploaded.splitlines()]
    assert rows[0] == prepared.columns.tolist()
    expected = prepared.astype(object).where(prepared.notna(), None).to_numpy().tolist()
    assert [[cell.strip('"') or None for cell in row] for row in rows[1:]] == expected


def test_prepare_with_blank_and_raise() -> None:
    frame = contacts(3)
    frame.loc["c1", "ZIP Code"] = "n.a."
    with pytest.warns(sm.SmartMatchWarning):
        assert frame.smartmatch.prepare(invalid="blank").loc["c1", "zip"] is pd.NA
    with pytest.raises(InputError, match=r"column 'ZIP Code' \(zip\).*row 'c1': 'n.a.'"):
        frame.smartmatch.prepare(invalid="raise")
    with pytest.raises(OptionError, match="invalid="):
        frame.smartmatch.prepare(invalid="drop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        sm.prepare_frame({"zip": ["02134"]})  # type: ignore[arg-type]


def test_prepare_keeps_every_row_in_order() -> None:
    frame = contacts(50).sample(frac=1, random_state=4)
    prepared = sm.prepare_frame(frame)
    assert prepared.index.equals(frame.index)
    assert prepared["matchback_id"].tolist() == [str(i) for i in range(50)]
    assert (prepared["first_name"].to_numpy() == frame["First Name"].to_numpy()).all()
    assert np.array_equal(
        prepared["zip"].to_numpy(dtype=object),
        frame["ZIP Code"].map(lambda z: f"{z:05d}").to_numpy(dtype=object),
    )
