"""Columns are mapped from the headers users really have, and only from those."""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import IDENTIFIERS, InputError, OptionError, SmartMatchWarning
from smartmatch_pandas.preparation.mapping import (
    ALIASES,
    QUALIFIERS,
    auto_identifier,
    canonical,
    resolve_mapping,
)

EVERY_ALIAS = [(alias, identifier) for identifier, names in ALIASES.items() for alias in names]

# Headers as they come out of sign-up forms, CRMs, VAN, ActBlue and spreadsheets.
REAL_HEADERS = {
    "First Name": "first_name",
    "fname": "first_name",
    "given_name": "first_name",
    "FirstName": "first_name",
    "FIRST_NAME": "first_name",
    "Donor First Name": "first_name",
    "Surname": "last_name",
    "family_name": "last_name",
    "Last Name": "last_name",
    "ST": "state",  # as many CRM exports head the state column
    "Name": "full_name",
    "Full Name": "full_name",
    "Contact Name": "full_name",
    "Middle Initial": "middle_name",
    "Suffix": "name_suffix",
    "Address": "address1",
    "Street": "address1",
    "Street Address": "address1",
    "Address Line 1": "address1",
    "Home Address": "address1",
    "Donor Addr1": "address1",
    "Apt": "address2",
    "Apt #": "address2",
    "Apt/Unit": "address2",
    "Unit": "address2",
    "Address Line 2": "address2",
    "Town": "city",
    "City": "city",
    "State": "state",
    "State Code": "state",
    "ZIP Code": "zip",
    "zipcode": "zip",
    "postal_code": "zip",
    "zip5": "zip",
    "Zip/Postal Code": "zip",
    "Donor ZIP": "zip",
    "Phone Number": "phone",
    "Phone #": "phone",
    "cell": "phone",
    "Cell Phone": "phone",
    "Mobile": "phone",
    "Mobile Phone": "phone",
    "tel": "phone",
    "Home Phone": "phone",
    "E-mail": "email",
    "email_address": "email",
    "E-mail Address": "email",
    "Primary Email": "email",
    "DOB": "dob",
    "D.O.B.": "dob",
    "birthdate": "dob",
    "Birth Date": "dob",
    "date_of_birth": "dob",
    "sex": "gender",
    "Gender": "gender",
    "Age": "age",
    "VAN ID": "smartvan_id",
    "vanid": "smartvan_id",
    "Voter File VANID": "smartvan_id",
    "state_voter_id": "voter_id",
    "StateFileID": "voter_id",
    "Voter ID": "voter_id",
    "vb.voterbase_id": "voterbase_id",
    "VB.VOTERBASE_ID": "voterbase_id",
    "vb.smartvan_id": "smartvan_id",
    "exact_track": "exact_track",
    "lat": "latitude",
    "Latitude": "latitude",
    "lng": "longitude",
    "lon": "longitude",
    "long": "longitude",
}

# Columns a real list has that are NOT identifiers: never sent unless mapped.
NOT_IDENTIFIERS = [
    "Email Opt In",
    "email_opt_out",
    "Phone Type",
    "Cell Phone Opt In",
    "Address Type",
    "Mailing Address",
    "Mailing Zip",
    "Full Address",
    "City Council District",
    "State House District",
    "State Senate District",
    "Zip4",
    "ZIP+4",
    "Country",
    "County",
    "Name Prefix",
    "Title",
    "Nickname",
    "Preferred Name",
    "Work Email",
    "Employer",
    "Occupation",
    "Company Name",
    "Birth Year",
    "Age Range",
    "Gender Identity",
    "Contact Type",
    "Voter Status",
    "Party",
    "Precinct",
    "Spouse First Name",
    "tsmart_match_code",
    "vb.tsmart_first_name",
    "vb.vf_party",
    "matchback_id",
    "id",
    "Notes",
    "Response",
    "Prénom",
]


@pytest.mark.parametrize(("alias", "identifier"), EVERY_ALIAS)
def test_every_documented_alias_maps_to_its_identifier(alias: str, identifier: str) -> None:
    assert auto_identifier(alias) == identifier
    assert auto_identifier(alias.upper()) == identifier
    assert auto_identifier(f"vb.{alias}") == identifier


@pytest.mark.parametrize("identifier", IDENTIFIERS)
def test_every_identifier_maps_to_itself_however_written(identifier: str) -> None:
    spelled = identifier.replace("_", " ").title()
    for header in (identifier, spelled, identifier.upper(), f" {identifier} ", f"vb.{identifier}"):
        assert auto_identifier(header) == identifier, header


@pytest.mark.parametrize(("header", "identifier"), sorted(REAL_HEADERS.items()))
def test_real_headers(header: str, identifier: str) -> None:
    assert auto_identifier(header) == identifier


@pytest.mark.parametrize("header", NOT_IDENTIFIERS)
def test_columns_that_are_not_identifiers_are_left_alone(header: str) -> None:
    assert auto_identifier(header) is None


@pytest.mark.parametrize("label", [3, 2.5, None, ("first_name", "x"), pd.Timestamp("2020-01-01")])
def test_labels_that_are_not_text_are_never_identifiers(label: Hashable) -> None:
    assert auto_identifier(label) is None


def test_each_qualifier_works_before_an_alias() -> None:
    for qualifier in QUALIFIERS:
        assert auto_identifier(f"{qualifier.title()} Email") == "email"
        assert auto_identifier(f"{qualifier}_first_name") == "first_name"


def test_no_alias_is_claimed_by_two_identifiers() -> None:
    seen: dict[str, str] = {}
    for identifier in IDENTIFIERS:
        for name in (identifier, *ALIASES.get(identifier, ())):
            assert seen.setdefault(canonical(name), identifier) == identifier, name


def test_canonical_ignores_case_spaces_punctuation_and_vb_prefix() -> None:
    assert {canonical(h) for h in ["Zip Code", "zip_code", "ZIP-CODE", "vb.ZipCode"]} == {"zipcode"}


def test_a_realistic_crm_export_maps_as_expected() -> None:
    columns = [
        "Contact ID",
        "First Name",
        "Last Name",
        "Street Address",
        "Apt",
        "City",
        "State",
        "ZIP Code",
        "Zip4",
        "Cell Phone",
        "Phone Type",
        "E-mail Address",
        "Email Opt In",
        "DOB",
        "Notes",
    ]
    mapping = resolve_mapping(columns)
    assert mapping.as_dict() == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Street Address": "address1",
        "Apt": "address2",
        "City": "city",
        "State": "state",
        "ZIP Code": "zip",
        "Cell Phone": "phone",
        "E-mail Address": "email",
        "DOB": "dob",
    }
    assert str(mapping) == (
        "sending First Name → first_name, Last Name → last_name, Street Address → address1, "
        "Apt → address2, City → city, State → state, ZIP Code → zip, Cell Phone → phone, "
        "E-mail Address → email, DOB → dob"
    )


def test_columns_extends_overrides_and_excludes() -> None:
    columns = ["First Name", "Surname", "Postcode Area", "Cell", "Notes"]
    mapping = resolve_mapping(
        columns, {"Postcode Area": "zip", "Surname": None, "Notes": "address2"}
    )
    assert mapping.as_dict() == {
        "First Name": "first_name",
        "Postcode Area": "zip",
        "Cell": "phone",
        "Notes": "address2",
    }


def test_columns_gives_an_identifier_to_one_column_and_takes_it_from_the_automatic_one() -> None:
    mapping = resolve_mapping(["Phone", "Cell Phone", "zip"], {"Cell Phone": "phone"})
    assert mapping.as_dict() == {"Cell Phone": "phone", "zip": "zip"}


def test_two_columns_for_one_identifier_name_both_and_the_fix() -> None:
    columns = ["First Name", "Home Phone", "Cell Phone", "Email", "E-mail Address", "zip"]
    with pytest.raises(InputError) as caught:
        resolve_mapping(columns)
    message = str(caught.value)
    # Two emails have no order between them; a home and a cell phone do.
    for label in ["Email", "E-mail Address"]:
        assert repr(label) in message
    assert "Phone" not in message
    # The columns= the message shows really settles it.
    suggested = eval(message.split("columns=", 1)[1])
    mapping = resolve_mapping(columns, suggested)
    assert mapping.as_dict() == {
        "First Name": "first_name",
        "Cell Phone": "phone",
        "Email": "email",
        "zip": "zip",
    }
    assert [c.options for c in mapping.choices] == [(("Cell Phone",), ("Home Phone",))]


def test_the_suggested_fix_keeps_the_fuller_column() -> None:
    frame = pd.DataFrame(
        {
            "First Name": ["Ann", None, "", "Lee"],
            "FirstName": ["Ann", "Bo", "Cy", "Lee"],
            "zip": ["02134"] * 4,
        }
    )
    with pytest.raises(InputError) as caught:
        resolve_mapping(frame.columns, frame=frame)
    message = str(caught.value)
    assert "'First Name' (2 filled) and 'FirstName' (4 filled) as first_name" in message
    suggested = eval(message.split("columns=", 1)[1])
    assert suggested == {"First Name": None, "FirstName": "first_name"}
    assert resolve_mapping(frame.columns, suggested).as_dict()["FirstName"] == "first_name"


def test_the_suggested_fix_keeps_one_whole_address_never_fields_of_two() -> None:
    # Two exports stacked: one address set fills the first rows, the other the rest, and
    # one set's state is filled everywhere. Field by field, the fuller column would mix them.
    frame = pd.DataFrame(
        {
            "Address": ["1 Main St", "2 Elm St", None, None],
            "City": ["Boston", "Albany", None, None],
            "State": ["MA", "NY", None, None],
            "Zip5": ["02134", "12207", None, None],
            "Donor Addr1": [None, None, "3 Oak St", "4 Pine St"],
            "Donor City": [None, None, "Austin", "Dallas"],
            "Donor State": ["TX", "TX", "TX", "TX"],
            "Donor ZIP": [None, None, "78701", "75201"],
        }
    )
    with pytest.raises(InputError) as caught:
        resolve_mapping(frame.columns, frame=frame)
    message = str(caught.value)
    assert "combine each pair into one column first" in message
    suggested = eval(message.split("columns=", 1)[1].split(" (an address", 1)[0])
    sent = {label for label, identifier in suggested.items() if identifier is not None}
    assert sent == {"Donor Addr1", "Donor City", "Donor State", "Donor ZIP"}


def test_two_explicit_columns_for_one_identifier_are_refused_too() -> None:
    with pytest.raises(InputError, match=r"'a' and 'b' as zip"):
        resolve_mapping(["a", "b"], {"a": "zip", "b": "zip"})


def test_no_identifier_at_all() -> None:
    with pytest.raises(InputError, match=r"no column of the frame is a SmartMatch identifier"):
        resolve_mapping(["Notes", "Email Opt In"])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"Nope": "zip"}, r"columns names 'Nope', which is not a column"),
        ({"Notes": "zipcode"}, r"columns\['Notes'\]='zipcode' is not a SmartMatch identifier"),
        ({"Notes": "matchback_id"}, r"the client adds it itself"),
        (["Notes"], r"must be a dict"),
    ],
)
def test_bad_columns_option(columns: Any, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        resolve_mapping(["Notes", "zip"], columns)


@pytest.mark.parametrize("identifier", ["smartvan_id", "voter_id"])
def test_an_id_without_state_warns(identifier: str) -> None:
    with pytest.warns(SmartMatchWarning, match=rf"{identifier} is sent without a state"):
        resolve_mapping([identifier, "last_name"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_mapping([identifier, "last_name", "State"])


def test_the_accessor_inspects_without_sending(fresh_service: Any) -> None:
    frame = pd.DataFrame({"First Name": ["Ann"], "Surname": ["Lee"], "Notes": ["x"]})
    mapping = frame.smartmatch.mapping()
    assert mapping.as_dict() == {"First Name": "first_name", "Surname": "last_name"}
    assert frame.smartmatch.mapping({"Notes": "city"}).identifiers == [
        "first_name",
        "last_name",
        "city",
    ]
    assert fresh_service.stats.get("registrations", 0) == 0


def test_a_clash_stops_match_before_any_request(service: Any, settings: dict[str, Any]) -> None:
    frame = pd.DataFrame({"Phone": ["5552345678"], "Telephone": ["5552345679"]})
    before = service.stats.get("registrations", 0)
    with pytest.raises(InputError, match=r"'Phone' \(1 filled\) and 'Telephone' \(1 filled\)"):
        sm.match(frame, **settings)
    assert service.stats.get("registrations", 0) == before


def test_the_documentation_lists_every_alias_and_qualifier() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "preparing.md").read_text()
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[2]
        for line in doc.splitlines()
        if line.startswith("| `")
    }
    for identifier in IDENTIFIERS:
        for alias in ALIASES.get(identifier, ()):
            assert alias in rows[identifier], (identifier, alias)
    for qualifier in QUALIFIERS:
        assert f"`{qualifier}`" in doc
