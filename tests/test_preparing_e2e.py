"""Frames as users hold them, matched end to end through the local service over real sockets.

Headers as people write them, every dtype, values in every format: the right
people are found, the frame comes back exactly as it went in, and what was
uploaded is the normalised form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import InputError, OptionError, SmartMatchWarning
from smartmatch_pandas.local import LocalService

from .test_match import assert_merged_exactly

STATE_NAMES = {"MA": "Massachusetts", "IL": "illinois", "TX": "Texas", "DC": "D.C."}


def people(service: LocalService, n: int = 40) -> pd.DataFrame:
    """Voters with a phone and an email, Boston-area ZIPs (leading zero) among them."""
    voters = service.voters.people
    usable = voters[(voters["phone_wireless"] != "") & (voters["email"] != "")]
    boston = usable[usable["zip"].str.startswith("0")].iloc[: n // 2]
    rest = usable[~usable["zip"].str.startswith("0")].iloc[: n - len(boston)]
    return pd.concat([boston, rest]).sample(frac=1, random_state=2).reset_index(drop=True)


def uploaded(service: LocalService, filename: str) -> pd.DataFrame:
    body = service.service.store.get(f"uploads/{filename}")
    from io import BytesIO

    return pd.read_csv(BytesIO(body), dtype=str, keep_default_na=False)


def as_users_hold_it(truth: pd.DataFrame) -> pd.DataFrame:
    """The same people, the way a CRM export would hold them: headers, dtypes, formats."""
    n = len(truth)
    dob = pd.to_datetime(truth["dob"], format="%Y%m%d")
    phone = truth["phone_wireless"]
    email = truth["email"].str.split("@", n=1)  # the domain shouted: EXAMPLE.COM
    return pd.DataFrame(
        {
            "First Name": pd.Categorical(" " + truth["first_name"]),
            "Last Name": truth["last_name"].str.upper().astype("string[pyarrow]"),
            "Street Address": truth["address1"].str.replace(" ", "  ", n=1),
            "City": truth["city"].str.encode("utf-8"),  # bytes
            "State": truth["state"].map(lambda s: STATE_NAMES.get(s, s.lower())),
            "ZIP Code": truth["zip"].astype(int),  # lost its leading zeros
            "Cell Phone": np.where(
                np.arange(n) % 2 == 0,
                "(" + phone.str[:3] + ") " + phone.str[3:6] + "-" + phone.str[6:],
                "+1 " + phone.str[:3] + "." + phone.str[3:6] + "." + phone.str[6:] + " x12",
            ),
            "E-mail Address": email.str[0] + "@" + email.str[1].str.upper(),
            "Birth Date": dob.dt.tz_localize("US/Eastern"),
            "Age": truth["age"].astype(int).astype("Int64"),
            "Sex": truth["gender"].map({"F": "female", "M": "Male", "U": "unknown"}),
            "Latitude": truth["latitude"].astype(float).astype("Float64"),
            "Email Opt In": ["Y"] * n,
        }
    )


def test_a_crm_export_matches_as_it_is(service: LocalService, settings: dict[str, Any]) -> None:
    truth = people(service)
    frame = as_users_hold_it(truth)
    job = sm.submit(frame, **settings)
    sent = uploaded(service, job.filename)
    enriched = job.wait(progress=False).result().frame
    assert_merged_exactly(frame, enriched)
    assert (enriched["vb.voterbase_id"] == truth["voterbase_id"]).all()

    assert sent.columns.tolist() == [
        "first_name",
        "last_name",
        "address1",
        "city",
        "state",
        "zip",
        "phone",
        "email",
        "dob",
        "age",
        "gender",
        "latitude",
        "matchback_id",
    ]
    assert (sent["zip"] == truth["zip"]).all()
    assert (sent["phone"] == truth["phone_wireless"]).all()
    assert (sent["dob"] == truth["dob"]).all()
    assert (sent["state"] == truth["state"]).all()
    assert (sent["gender"] == truth["gender"]).all()
    assert (sent["email"] == truth["email"]).all()
    assert (sent["first_name"] == truth["first_name"]).all()
    assert (sent["address1"] == truth["address1"]).all()
    assert (sent["city"] == truth["city"]).all()


ZIP_DTYPES: dict[str, Any] = {
    "object mixed": lambda z: pd.Series(
        [
            int(v) if i % 3 == 0 else (float(v) if i % 3 == 1 else v + "-1234")
            for i, v in enumerate(z)
        ],
        dtype=object,
    ),
    "str": lambda z: z.astype("str"),
    "string": lambda z: z.astype("string"),
    "string[pyarrow]": lambda z: z.astype("string[pyarrow]"),
    "category": lambda z: z.astype("category"),
    "Int64": lambda z: z.astype(int).astype("Int64"),
    "Float64": lambda z: z.astype(float).astype("Float64"),
    "int64": lambda z: z.astype(int),
    "float64 with NaN": lambda z: z.astype(float).where(z.index != 0, np.nan),
    "bytes": lambda z: z.str.encode("utf-8"),
}
DOB_DTYPES: dict[str, Any] = {
    "datetime64": lambda d: d,
    "datetime64 with tz": lambda d: d.dt.tz_localize("America/Los_Angeles"),
    "datetime64 with NaT": lambda d: d.where(d.index != 0),
    "object dates": lambda d: pd.Series(d.dt.date, dtype=object),
    "object Timestamps and text": lambda d: pd.Series(
        [v if i % 2 else v.strftime("%m/%d/%Y") for i, v in enumerate(d)], dtype=object
    ),
    "int64 YYYYMMDD": lambda d: d.dt.strftime("%Y%m%d").astype(int),
    "date32[pyarrow]": lambda d: pd.Series(d.dt.date, dtype="date32[pyarrow]"),
}


@pytest.mark.parametrize(
    ("column", "kind"),
    [("zip", k) for k in ZIP_DTYPES] + [("dob", k) for k in DOB_DTYPES],
)
def test_every_dtype_end_to_end(
    service: LocalService, settings: dict[str, Any], column: str, kind: str
) -> None:
    truth = people(service, 20)
    frame = truth[["first_name", "last_name"]].copy()
    if column == "zip":
        frame["ZIP Code"] = ZIP_DTYPES[kind](truth["zip"])
    else:
        frame["zip"] = truth["zip"]
        frame["DOB"] = DOB_DTYPES[kind](pd.to_datetime(truth["dob"], format="%Y%m%d"))
    job = sm.submit(frame, **settings)
    sent = uploaded(service, job.filename)
    enriched = job.wait(progress=False).result().frame
    assert_merged_exactly(frame, enriched)
    expected = (
        truth[column].where(frame.index != 0, "")
        if "NaN" in kind or "NaT" in kind
        else truth[column]
    )
    assert sent[column].tolist() == expected.tolist()
    assert (enriched["vb.voterbase_id"] == truth["voterbase_id"]).all()


def test_bytes_that_are_not_utf8_stop_before_any_request(
    service: LocalService, settings: dict[str, Any]
) -> None:
    frame = pd.DataFrame(
        {"last_name": ["Lee", "Ray"], "city": [b"Boston", b"Espa\xf1ola"]}, index=["a", "b"]
    )
    before = service.stats.get("registrations", 0)
    with pytest.raises(InputError, match=r"column 'city', row 'b': bytes that are not UTF-8"):
        frame.smartmatch.match(**settings)
    assert service.stats.get("registrations", 0) == before


def test_invalid_policies_end_to_end(service: LocalService, settings: dict[str, Any]) -> None:
    truth = people(service, 6)
    frame = truth[["first_name", "last_name", "zip"]].copy()
    frame["DOB"] = truth["dob"].astype(object)
    frame.loc[1, "DOB"] = "2/30/1990"
    frame.loc[2, "zip"] = "n.a."

    with pytest.warns(SmartMatchWarning, match=r"'zip' \(zip\) 1 of 6; 'DOB' \(dob\) 1 of 6"):
        job = sm.submit(frame, **settings)
    kept = uploaded(service, job.filename)
    assert kept.loc[1, "dob"] == "2/30/1990"
    assert kept.loc[2, "zip"] == "n.a."
    job.wait(progress=False)

    with pytest.warns(SmartMatchWarning, match=r"sent empty"):
        job = sm.submit(frame, invalid="blank", **settings)
    blank = uploaded(service, job.filename)
    assert blank.loc[1, "dob"] == ""
    assert blank.loc[2, "zip"] == ""
    enriched = job.wait(progress=False).result().frame
    assert_merged_exactly(frame, enriched)

    before = service.stats.get("registrations", 0)
    with pytest.raises(InputError) as caught:
        frame.smartmatch.match(invalid="raise", **settings)
    message = str(caught.value)
    assert "column 'zip' (zip): 1 value(s) are not a ZIP code (row 2: 'n.a.')" in message
    assert "column 'DOB' (dob): 1 value(s) are not a date of birth (row 1: '2/30/1990')" in message
    assert "Nothing was sent" in message
    with pytest.raises(OptionError, match=r"invalid='skip'"):
        frame.smartmatch.match(invalid="skip", **settings)  # type: ignore[typeddict-item]
    assert service.stats.get("registrations", 0) == before


def test_the_summary_shows_the_match_rate_next_to_each_identifiers_share(
    service: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = people(service, 20)
    frame = truth[["first_name", "last_name", "zip"]].copy()
    frame["email"] = truth["email"].where(frame.index < 5)  # a quarter have an email
    frame.loc[frame.index >= 10, "zip"] = None  # half have a ZIP
    job = sm.submit(frame, **service.settings, progress=False)
    summary = job.wait(progress=False).result().summary
    table = summary.by_identifier
    assert table.index.tolist() == ["first_name", "last_name", "zip", "email"]
    assert table.loc["zip", "rows_with_value"] == 10
    assert table.loc["zip", "share_of_rows"] == 0.5
    assert table.loc["email", "share_of_rows"] == 0.25
    assert table.loc["email", "match_rate_with"] == 1.0
    with_zip = summary.coverage[2]
    assert with_zip.identifier == "zip"
    assert with_zip.matched == 10
    assert table.loc["zip", "match_rate_without"] == (summary.matched - 10) / 10
    assert str(summary).count("\n") == 0  # still one line
    assert summary.as_attrs()["by_identifier"]["zip"] == {"rows_with_value": 10, "matched": 10}

    frame.smartmatch.match(**service.settings, progress=True)
    out = capsys.readouterr().out
    assert "SmartMatch: 20 rows sent" in out
    assert "  email                in  25.0% of rows; matched 100.0% of those" in out


def test_a_job_sent_with_invalid_blank_resumes_with_its_frame(
    service: LocalService, settings: dict[str, Any]
) -> None:
    truth = people(service, 8)
    frame = truth[["first_name", "last_name", "zip"]].copy()
    frame.loc[3, "zip"] = "n.a."
    with pytest.warns(SmartMatchWarning):
        job = sm.submit(frame, invalid="blank", **settings)
    job.wait(progress=False)
    sm.clear_cache()
    with pytest.warns(SmartMatchWarning):
        result = sm.resume(job.filename, frame, api_key=service.api_key, progress=False)
    assert_merged_exactly(frame, result.frame)
