"""The appended fields (the account's configuration, the include_* flags) and the summary,
end to end over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import (
    AVAILABLE_FIELDS,
    DEFAULT_FIELDS,
    INCLUDE_FIELDS,
    LocalService,
    VoterFile,
    sample_contacts,
)

from ..conftest import POLL

PHONE_AND_EMAIL = [f for fields in INCLUDE_FIELDS.values() for f in fields]


@pytest.fixture(scope="module")
def noisy(voters: VoterFile) -> pd.DataFrame:
    return sample_contacts(voters, 300, seed=21)


@pytest.fixture(scope="module")
def configured(voters: VoterFile) -> Iterator[LocalService]:
    fields = ["vb.tsmart_first_name", "vb.vf_party", "vb.tsmart_county_name"]
    with LocalService(poll_interval=POLL, voters=voters, fields=fields) as running:
        yield running


def _settings(service: LocalService) -> dict[str, Any]:
    return {**service.settings, "progress": False}


@pytest.mark.parametrize("flag", list(INCLUDE_FIELDS))
def test_an_include_flag_adds_its_fields_alone(
    flag: str, noisy: pd.DataFrame, service: LocalService
) -> None:
    contacts = noisy.drop(columns="true_voterbase_id")
    enriched = contacts.smartmatch.match(**{flag: True}, **_settings(service))
    appended = set(enriched.columns) - set(contacts.columns)
    assert set(INCLUDE_FIELDS[flag]) <= appended
    assert not (set(PHONE_AND_EMAIL) - set(INCLUDE_FIELDS[flag])) & appended
    people = service.voters.people.set_index("voterbase_id")
    (name, column), *_ = INCLUDE_FIELDS[flag].items()
    matched = enriched[enriched["tsmart_match_code"] == "Y"]
    expected = people.loc[matched["vb.voterbase_id"], column].astype(object)
    got = matched[name].astype(object)
    assert (got.isna().to_numpy() == expected.isna().to_numpy()).all()
    assert (got.dropna().to_numpy() == expected.dropna().to_numpy()).all()


def test_without_flags_no_phone_or_email_is_appended(
    noisy: pd.DataFrame, service: LocalService
) -> None:
    contacts = noisy.drop(columns="true_voterbase_id")
    enriched = contacts.smartmatch.match(**_settings(service))
    assert not set(PHONE_AND_EMAIL) & set(enriched.columns)
    assert set(DEFAULT_FIELDS) <= set(enriched.columns)


def test_the_accounts_fields_are_configurable(
    noisy: pd.DataFrame, configured: LocalService
) -> None:
    contacts = noisy.drop(columns="true_voterbase_id")
    enriched = contacts.smartmatch.match(include_email=True, **_settings(configured))
    appended = [c for c in enriched.columns if c.startswith("vb.")]
    assert appended == [
        "vb.voterbase_id",
        "vb.tsmart_first_name",
        "vb.vf_party",
        "vb.tsmart_county_name",
        "vb.email_address",
    ]
    county = enriched.loc[enriched["tsmart_match_code"] == "Y", "vb.tsmart_county_name"]
    assert county.str.endswith(("County", "Parish", "Borough", "Area", "city")).mean() > 0.9


def test_unknown_fields_are_refused_at_start(voters: VoterFile) -> None:
    with pytest.raises(ValueError, match=r"unknown field 'vb\.shoe_size'"):
        LocalService(voters=voters, fields=["vb.shoe_size"])
    with pytest.raises(ValueError, match="names 'shoe_size'"):
        LocalService(voters=voters, fields={"vb.shoe": "shoe_size"})
    assert {"vb.voterbase_id", "vb.email_address"} <= set(AVAILABLE_FIELDS)


def test_the_summary_counts_rows_matches_and_methods(
    noisy: pd.DataFrame, fresh_service: LocalService
) -> None:
    contacts = noisy.drop(columns="true_voterbase_id")
    job = sm.submit(contacts, max_matches=3, **_settings(fresh_service))
    result = job.wait(progress=False).result()
    summary = fresh_service.service.jobs[job.filename].summary
    matched = int((result.frame["tsmart_match_code"] == "Y").sum())
    assert summary["rows_in"] == len(contacts)
    assert summary["rows_matched"] == matched == result.summary.matched
    assert summary["match_rate"] == pytest.approx(matched / len(contacts), abs=1e-4)
    methods = summary["matches_by_method"]
    assert sum(methods.values()) == matched
    assert {"name+address", "name+dob"} <= set(methods)
    report = result.summary.report or ""
    assert "rows in: 300" in report
    assert f"rows matched: {matched}" in report
    assert "name+address:" in report
    shown = result.frame.loc[result.frame["tsmart_match_code"] == "Y", "ts.match_method"]
    assert shown.value_counts().to_dict() == methods
