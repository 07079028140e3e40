"""The export layouts of the field's tools are mapped and recognised from their headers alone.

Each fixture is a few rows laid out with the headers the tool's export has (as
recorded, with its source, in ``smartmatch_pandas/preparation/aliases.csv``);
no ``columns=`` is given anywhere here.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import IDENTIFIERS
from smartmatch_pandas.local import LocalService
from smartmatch_pandas.preparation.mapping import (
    ALIASES,
    KNOWN_HEADERS,
    ColumnMapping,
    auto_identifier,
    canonical,
    detect_layout,
    layout_identifier,
    resolve_mapping,
)

from .doc_tables import PREPARING, check, markdown
from .test_match import assert_merged_exactly

TOOLS = sorted({row.tool for row in KNOWN_HEADERS if row.tool})

# Three people, each as the tools below would hold them.
FIRST = ["Ann", "José", "Lee"]
LAST = ["Smith", "Núñez", "O'Brien"]
STREETS = ["12 Elm St", "400 Main Street", "9 Oak Ave"]
CITIES = ["Boston", "Chicago", "Austin"]
STATES = ["MA", "IL", "TX"]
ZIPS = ["02134", "60614", "78701"]
PHONES = ["(617) 555-2345", "312-555-3456", "512.555.4567"]
EMAILS = ["ann@example.com", "jose@example.org", "lee@example.net"]


def van_export() -> pd.DataFrame:
    """A VAN / EveryAction export: VoteBuilder headers, one phone and the preferred email."""
    return pd.DataFrame(
        {
            "Voter File VANID": ["1001", "1002", "1003"],
            "LastName": LAST,
            "FirstName": FIRST,
            "MiddleName": ["B", "", "C"],
            "Suffix": ["", "Jr", ""],
            "vAddress": STREETS,
            "City": CITIES,
            "State": STATES,
            "Zip5": ZIPS,
            "CellPhone": PHONES,
            "PreferredEmail": EMAILS,
            "DOB": ["3/3/1985", "11/21/1970", "7/4/1990"],
            "Sex": ["F", "M", "M"],
            "Age": ["41", "56", "36"],
            "Party": ["D", "U", "R"],
            "PrecinctName": ["W-5 P-2", "W-26 P-36", "P-104"],
        }
    )


def nationbuilder_export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "nationbuilder_id": ["17", "18", "19"],
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAILS,
            "born_at": ["1985-03-03", "1970-11-21", "1990-07-04"],
            "mobile_number": PHONES,
            "sex": ["F", "M", "M"],
            "email_opt_in": ["true", "false", "true"],
            "support_level": ["1", "2", ""],
            "tag_list": ["volunteer", "", "donor, volunteer"],
        }
    )


def action_network_export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAILS,
            "zip_code": ZIPS,
            "can2_phone": PHONES,
            "can2_user_address": STREETS,
            "can2_user_city": CITIES,
            "can2_state_abbreviated": STATES,
            "can2_county": ["Suffolk", "Cook", "Travis"],
        }
    )


def actblue_export() -> pd.DataFrame:
    """ActBlue's contribution CSV, its donor columns and some of the others."""
    return pd.DataFrame(
        {
            "Receipt ID": ["AB1", "AB2", "AB3"],
            "Date": ["2026-01-01 04:33:42"] * 3,
            "Amount": ["2.00", "25.00", "10.00"],
            "Recurring Total Months": ["36", "", ""],
            "Fundraising Page": ["https://secure.actblue.com/donate/x"] * 3,
            "Reference Code": ["", "email", ""],
            "Donor First Name": FIRST,
            "Donor Last Name": LAST,
            "Donor Addr1": STREETS,
            "Donor Addr2": ["Apt 6", "", ""],
            "Donor City": CITIES,
            "Donor State": STATES,
            "Donor ZIP": ZIPS,
            "Donor Country": ["United States"] * 3,
            "Donor Occupation": ["Engineer", "Teacher", "Nurse"],
            "Donor Employer": ["Acme", "CPS", "Seton"],
            "Donor Email": EMAILS,
            "Donor Phone": PHONES,
            "Lineitem ID": ["1", "2", "3"],
            "Mobile": ["t", "f", "f"],  # a yes/no flag, not a phone
        }
    )


def l2_export() -> pd.DataFrame:
    """An L2 voter-file extract: both address sets, both phones."""
    return pd.DataFrame(
        {
            "LALVOTERID": ["LALMA1", "LALIL2", "LALTX3"],
            "Voters_StateVoterID": ["MA0001", "IL0002", "TX0003"],
            "Voters_FirstName": FIRST,
            "Voters_MiddleName": ["B", "", "C"],
            "Voters_LastName": LAST,
            "Voters_NameSuffix": ["", "Jr", ""],
            "Residence_Addresses_AddressLine": STREETS,
            "Residence_Addresses_ExtraAddressLine": ["", "Apt 2", ""],
            "Residence_Addresses_City": CITIES,
            "Residence_Addresses_State": STATES,
            "Residence_Addresses_Zip": ZIPS,
            "Residence_Addresses_ZipPlus4": ["1234", "", "5678"],
            "Mailing_Addresses_AddressLine": ["PO Box 1", *STREETS[1:]],
            "Mailing_Addresses_City": CITIES,
            "Mailing_Addresses_State": STATES,
            "Mailing_Addresses_Zip": ZIPS,
            "VoterTelephones_CellPhoneFormatted": PHONES,
            "VoterTelephones_LandlineFormatted": ["(617) 555-9999", "", ""],
            "Voters_Gender": ["F", "M", "M"],
            "Voters_Age": ["41", "56", "36"],
            "Voters_BirthDate": ["03/03/1985", "11/21/1970", "07/04/1990"],
            "Parties_Description": ["Democratic", "Non-Partisan", "Republican"],
        }
    )


def spoke_export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "assignmentId": ["5", "5", "6"],
            "texter[firstName]": ["Sam"] * 3,
            "texter[lastName]": ["Texter"] * 3,
            "texter[email]": ["sam@example.org"] * 3,
            "texter[cell]": ["5555550100"] * 3,
            "texter[assignedCell]": ["5555550101"] * 3,
            "contact[firstName]": FIRST,
            "contact[lastName]": LAST,
            "contact[cell]": PHONES,
            "contact[zip]": ZIPS,
            "contact[city]": CITIES,
            "contact[state]": STATES,
            "contact[optOut]": ["false", "true", "false"],
            "contact[messageStatus]": ["messaged", "closed", "needsResponse"],
        }
    )


def smartmatch_output() -> pd.DataFrame:
    """A frame SmartMatch already enriched, to be matched again."""
    return pd.DataFrame(
        {
            "First Name": FIRST,
            "Last Name": LAST,
            "ZIP Code": ZIPS,
            "tsmart_match_code": ["Y", "Y", ""],
            "vb.voterbase_id": ["MA-000000000001", "IL-000000000002", ""],
            "vb.tsmart_first_name": ["Ann", "Jose", ""],
            "vb.tsmart_last_name": ["Smith", "Nunez", ""],
            "vb.tsmart_city": ["Boston", "Chicago", ""],
            "vb.tsmart_state": ["MA", "IL", ""],
            "vb.tsmart_zip": [*ZIPS[:2], ""],
            "vb.voterbase_age": ["41", "56", ""],
            "vb.vf_party": ["Democrat", "Unaffiliated", ""],
        }
    )


def generic_spreadsheet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Name": [f"{f} {last}" for f, last in zip(FIRST, LAST, strict=True)],
            "Phone #": PHONES,
            "E-mail Address": EMAILS,
            "Zip/Postal Code": ZIPS,
            "Birthday": ["March 3, 1985", "11/21/1970", "7/4/1990"],
            "Notes": ["", "met at rally", ""],
        }
    )


# (fixture, expected {column: identifier} with no columns=, expected layout)
LAYOUTS: dict[str, tuple[Any, dict[Hashable, str], str | None]] = {
    "NGP VAN / EveryAction": (
        van_export,
        {
            "Voter File VANID": "smartvan_id",
            "LastName": "last_name",
            "FirstName": "first_name",
            "MiddleName": "middle_name",
            "Suffix": "name_suffix",
            "vAddress": "address1",
            "City": "city",
            "State": "state",
            "Zip5": "zip",
            "CellPhone": "phone",
            "PreferredEmail": "email",
            "DOB": "dob",
            "Sex": "gender",
            "Age": "age",
        },
        "NGP VAN / EveryAction",
    ),
    "NationBuilder": (
        nationbuilder_export,
        {
            "first_name": "first_name",
            "last_name": "last_name",
            "email": "email",
            "born_at": "dob",
            "mobile_number": "phone",
            "sex": "gender",
        },
        "NationBuilder",
    ),
    "Action Network": (
        action_network_export,
        {
            "first_name": "first_name",
            "last_name": "last_name",
            "email": "email",
            "zip_code": "zip",
            "can2_phone": "phone",
            "can2_user_address": "address1",
            "can2_user_city": "city",
            "can2_state_abbreviated": "state",
        },
        "Action Network",
    ),
    "ActBlue": (
        actblue_export,
        {
            "Donor First Name": "first_name",
            "Donor Last Name": "last_name",
            "Donor Addr1": "address1",
            "Donor Addr2": "address2",
            "Donor City": "city",
            "Donor State": "state",
            "Donor ZIP": "zip",
            "Donor Email": "email",
            "Donor Phone": "phone",
        },
        "ActBlue",
    ),
    "L2": (
        l2_export,
        {
            "Voters_StateVoterID": "voter_id",
            "Voters_FirstName": "first_name",
            "Voters_MiddleName": "middle_name",
            "Voters_LastName": "last_name",
            "Voters_NameSuffix": "name_suffix",
            "Residence_Addresses_AddressLine": "address1",
            "Residence_Addresses_ExtraAddressLine": "address2",
            "Residence_Addresses_City": "city",
            "Residence_Addresses_State": "state",
            "Residence_Addresses_Zip": "zip",
            "VoterTelephones_CellPhoneFormatted": "phone",
            "Voters_Gender": "gender",
            "Voters_Age": "age",
            "Voters_BirthDate": "dob",
        },
        "L2",
    ),
    "Spoke": (
        spoke_export,
        {
            "contact[firstName]": "first_name",
            "contact[lastName]": "last_name",
            "contact[cell]": "phone",
            "contact[zip]": "zip",
            "contact[city]": "city",
            "contact[state]": "state",
        },
        "Spoke",
    ),
    "TargetSmart SmartMatch": (
        smartmatch_output,
        {
            "First Name": "first_name",
            "Last Name": "last_name",
            "ZIP Code": "zip",
            "vb.voterbase_id": "voterbase_id",
        },
        "TargetSmart SmartMatch",
    ),
    "generic spreadsheet": (
        generic_spreadsheet,
        {
            "Name": "full_name",
            "Phone #": "phone",
            "E-mail Address": "email",
            "Zip/Postal Code": "zip",
            "Birthday": "dob",
        },
        None,
    ),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_layout_maps_without_columns_and_is_recognised(name: str) -> None:
    make, expected, layout = LAYOUTS[name]
    mapping = make().smartmatch.mapping()
    assert mapping.as_dict() == expected
    assert mapping.layout == layout
    if layout is not None:
        assert mapping.layout_note is not None
        assert layout in mapping.layout_note
        assert f"layout={layout!r}" in repr(mapping)  # what mapping() shows in a notebook
    else:
        assert mapping.layout_note is None


def test_every_tool_in_the_table_has_a_fixture() -> None:
    assert set(TOOLS) <= set(LAYOUTS)


def test_the_notes_read_as_english() -> None:
    notes = {tool: ColumnMapping((), tool).layout_note for tool in TOOLS}
    assert notes["NGP VAN / EveryAction"] == "looks like an NGP VAN / EveryAction export"
    assert notes["L2"] == "looks like an L2 export"
    assert notes["ActBlue"] == "looks like an ActBlue export"
    assert notes["NationBuilder"] == "looks like a NationBuilder export"
    assert notes["Spoke"] == "looks like a Spoke export"


# The header row of ActBlue's contributions CSV as move-coop/parsons'
# test/test_actblue/test_csv_data.csv has it (its repeated "Reserved" once).
ACTBLUE_HEADER = [
    "Receipt ID",
    "Date",
    "Amount",
    "Recurring Total Months",
    "Recurrence Number",
    "Recipient",
    "Fundraising Page",
    "Fundraising Partner",
    "Reference Code 2",
    "Reference Code",
    "Donor First Name",
    "Donor Last Name",
    "Donor Addr1",
    "Donor Addr2",
    "Donor City",
    "Donor State",
    "Donor ZIP",
    "Donor Country",
    "Donor Occupation",
    "Donor Employer",
    "Donor Email",
    "Donor Phone",
    "New Express Signup",
    "Comments",
    "Check Number",
    "Check Date",
    "Employer Addr1",
    "Employer Addr2",
    "Employer City",
    "Employer State",
    "Employer ZIP",
    "Employer Country",
    "Donor ID",
    "Fundraiser ID",
    "Fundraiser Recipient ID",
    "Fundraiser Contact Email",
    "Fundraiser Contact First Name",
    "Fundraiser Contact Last Name",
    "Partner ID",
    "Partner Contact Email",
    "Partner Contact First Name",
    "Partner Contact Last Name",
    "Reserved",
    "Lineitem ID",
    "AB Test Name",
    "AB Variation",
    "Recipient Committee",
    "Recipient ID",
    "Recipient Gov ID",
    "Recipient Election",
    "Payment ID",
    "Payment Date",
    "Disbursement ID",
    "Disbursement Date",
    "Recovery ID",
    "Recovery Date",
    "Refund ID",
    "Refund Date",
    "Fee",
    "Recur Weekly",
    "ActBlue Express Lane",
    "Card Type",
    "Mobile",
    "Recurring Upsell Shown",
    "Recurring Upsell Succeeded",
    "Double Down",
    "Smart Recurring",
    "Monthly Recurring Amount",
    "Apple Pay",
    "Card Replaced by Account Updater",
    "ActBlue Express Donor",
    "Custom Field 1 Label",
    "Custom Field 1 Value",
    "Donor US Passport Number",
    "Text Message Opt In",
    "Gift Identifier",
    "Gift Declined",
    "Shipping Addr1",
    "Shipping City",
    "Shipping State",
    "Shipping Zip",
    "Shipping Country",
    "Weekly Recurring Amount",
    "Smart Boost Amount",
    "Smart Boost Shown",
]


def test_a_whole_actblue_header_row_maps_its_donor_columns_only() -> None:
    mapping = resolve_mapping(ACTBLUE_HEADER)
    assert mapping.layout == "ActBlue"
    assert mapping.as_dict() == LAYOUTS["ActBlue"][1]


def test_a_mobile_column_outside_actblue_is_still_a_phone() -> None:
    assert resolve_mapping(["First Name", "Last Name", "Mobile"]).as_dict()["Mobile"] == "phone"
    # Donor columns any CRM may have do not make a list an ActBlue export.
    donors = ["Donor First Name", "Donor Last Name", "Donor ZIP", "Mobile"]
    assert resolve_mapping(donors).as_dict()["Mobile"] == "phone"


def test_two_phones_of_one_layout_are_chosen_per_row_cell_first() -> None:
    frame = van_export()
    frame.insert(10, "HomePhone", ["(617) 555-1111", "", "(512) 555-2222"])
    frame.insert(11, "WorkPhone", ["", "(312) 555-3333", "(512) 555-3333"])
    frame["CellPhone"] = ["(617) 555-2345", "", ""]
    mapping = frame.smartmatch.mapping()
    assert mapping.as_dict()["CellPhone"] == "phone"
    assert [c.options for c in mapping.choices] == [
        (("CellPhone",), ("HomePhone",), ("WorkPhone",))
    ]
    assert dict(mapping.supplied) == {"CellPhone": 1, "HomePhone": 1, "WorkPhone": 1}
    assert "phone from 'CellPhone' (1 row), else 'HomePhone' (1 row), else 'WorkPhone'" in str(
        mapping
    )
    sent = frame.smartmatch.prepare()
    assert sent["phone"].tolist() == ["6175552345", "3125553333", "5125552222"]
    report = frame.smartmatch.check()
    assert report.ok
    assert report.choices == (
        "phone from 'CellPhone' (1 row), else 'HomePhone' (1 row), else 'WorkPhone' (1 row)",
    )
    assert "each row: phone from 'CellPhone'" in str(report)
    nationbuilder = nationbuilder_export().assign(phone_number=PHONES)
    assert nationbuilder.smartmatch.prepare()["phone"].tolist() == [
        "6175552345",
        "3125553456",
        "5125554567",
    ]
    preference = {
        row.header: row.preference
        for row in KNOWN_HEADERS
        if row.tool in {"NGP VAN / EveryAction", "NationBuilder", "L2"}
        and row.identifier == "phone"
    }
    assert preference["CellPhone"] < preference["HomePhone"] < preference["WorkPhone"]
    assert (
        preference["mobile_number"] < preference["phone_number"] < preference["work_phone_number"]
    )
    assert (
        preference["VoterTelephones_CellPhoneFormatted"]
        < preference["VoterTelephones_LandlineFormatted"]
    )


@pytest.mark.parametrize(
    ("headers", "order"),
    [
        (["Home Phone", "Cell Phone"], ["Cell Phone", "Home Phone"]),
        (["Phone", "Mobile Phone"], ["Mobile Phone", "Phone"]),
        (["Home Phone", "Phone", "Primary Phone"], ["Primary Phone", "Phone", "Home Phone"]),
        (["Cell Phone", "Primary Phone"], ["Primary Phone", "Cell Phone"]),
        (["email", "Primary Email"], ["Primary Email", "email"]),
        (["Email", "PreferredEmail"], ["PreferredEmail", "Email"]),
    ],
)
def test_the_order_of_preference_of_generic_headers(headers: list[str], order: list[str]) -> None:
    mapping = resolve_mapping(["First Name", "Last Name", *headers])
    (choice,) = mapping.choices
    assert [option[0] for option in choice.options] == order


def test_a_valid_later_column_is_sent_before_an_invalid_earlier_one() -> None:
    frame = pd.DataFrame(
        {
            "First Name": ["Ann", "Bo", "Cy"],
            "Cell Phone": ["not a phone", "", "n/a?"],
            "Home Phone": ["617-555-2345", "312-555-3456", ""],
        }
    )
    with pytest.warns(sm.SmartMatchWarning, match=r"'Cell Phone' \(phone\) 1 of 3"):
        sent = frame.smartmatch.prepare()
    assert sent["phone"].tolist() == ["6175552345", "3125553456", "n/a?"]
    blank = frame.smartmatch.prepare(invalid="blank")
    assert blank["phone"].isna().tolist() == [False, False, True]


def test_columns_still_decide_when_given() -> None:
    frame = van_export().assign(HomePhone=PHONES)
    mapping = frame.smartmatch.mapping({"HomePhone": "phone"})
    assert mapping.choices == ()
    assert "CellPhone" not in mapping.as_dict()
    assert mapping.as_dict()["HomePhone"] == "phone"


def test_a_residential_address_comes_before_a_mailing_one() -> None:
    l2 = {row.header: row for row in KNOWN_HEADERS if row.tool == "L2"}
    for field in ("AddressLine", "ExtraAddressLine", "City", "State", "Zip"):
        residence, mailing = l2[f"Residence_Addresses_{field}"], l2[f"Mailing_Addresses_{field}"]
        assert residence.identifier == mailing.identifier
        assert (residence.preference, mailing.preference) == (1, 2)
    frame = l2_export()
    # Row 1 has no residential street: its whole mailing address is sent, never mixed.
    frame.loc[1, ["Residence_Addresses_AddressLine", "Residence_Addresses_Zip"]] = ""
    frame.loc[1, "Mailing_Addresses_City"] = "Evanston"
    frame.loc[1, "Mailing_Addresses_Zip"] = "60201"
    sent = frame.smartmatch.prepare()
    assert sent["address1"].tolist() == [STREETS[0], STREETS[1], STREETS[2]]
    assert sent["city"].tolist() == ["Boston", "Evanston", "Austin"]
    assert sent["zip"].tolist() == ["02134", "60201", "78701"]
    # The residential set's second line is not sent with the mailing address.
    assert pd.isna(sent["address2"][1])
    (choice,) = [c for c in frame.smartmatch.mapping().choices if c.is_address]
    assert choice.options[0][0] == "Residence_Addresses_AddressLine"
    assert choice.options[1][0] == "Mailing_Addresses_AddressLine"
    assert any(c.startswith("address from (") for c in frame.smartmatch.check().choices)


def test_a_file_too_large_for_memory_chooses_as_a_frame_does(tmp_path: Path) -> None:
    from smartmatch_pandas.files.tables import TableFile
    from smartmatch_pandas.preparation.batched import file_mapping, upload_file
    from smartmatch_pandas.preparation.table import frame_upload

    frame = l2_export()
    frame.loc[1, ["Residence_Addresses_AddressLine", "Residence_Addresses_Zip"]] = ""
    frame.loc[2, "VoterTelephones_CellPhoneFormatted"] = ""
    frame.loc[2, "VoterTelephones_LandlineFormatted"] = "512-555-0000"
    path = tmp_path / "l2.csv"
    frame.to_csv(path, index=False)
    read = pd.read_csv(path, dtype=str, keep_default_na=False)
    body, _ = frame_upload(read.replace("", None), resolve_mapping(read.columns))
    table = TableFile(path)
    upload = upload_file(table, file_mapping(table, None), "keep")
    try:
        assert upload.body.getvalue() == body.getvalue()
        assert b"512-555-0000" not in upload.body.getvalue()
        assert b"5125550000" in upload.body.getvalue()
    finally:
        upload.body.close()
        body.close()


@pytest.mark.parametrize("tool", TOOLS)
def test_a_frame_of_a_layouts_own_headers_is_recognised(tool: str) -> None:
    headers = [row.header for row in KNOWN_HEADERS if row.tool == tool]
    assert detect_layout(headers) == tool


@pytest.mark.parametrize(
    "columns",
    [
        ["First Name", "Last Name", "ZIP Code"],
        ["First Name", "Last Name", "HomePhone"],  # one VAN-style header is not a VAN export
        ["first_name", "last_name", "email", "phone_number"],
        ["Voter File VANID", "can2_phone", "First Name"],  # a tie names no tool
        [],
        [3, None],
    ],
)
def test_lists_that_are_no_tools_export_name_no_tool(columns: list[Hashable]) -> None:
    assert detect_layout(columns) is None


def test_a_wide_voter_file_is_recognised_by_enough_of_its_headers() -> None:
    l2 = l2_export().columns.tolist()[:8]
    others = [f"CommercialData_Field{i}" for i in range(200)]
    assert detect_layout(l2 + others) == "L2"


def test_the_table_agrees_with_the_mapping() -> None:
    for row in KNOWN_HEADERS:
        assert row.identifier is None or row.identifier in IDENTIFIERS, row
        assert row.source, row
        assert row.preference is None or row.preference >= 1, row
        sent_as = layout_identifier(row.header, row.tool or None)
        if row.auto:
            assert sent_as == row.identifier, row
        else:
            # Recorded to recognise a layout or for a preference order, never sent unasked.
            assert sent_as is None, row
        if row.tool and sent_as is None:
            # Only a header a layout itself sends stops being sent in it.
            read = auto_identifier(row.header)
            assert read is None or (row.tool, row.header) == ("ActBlue", "Mobile"), row
        assert row.auto == (row.identifier is not None and row.auto), row


def test_no_header_is_read_as_two_identifiers() -> None:
    seen: dict[str, str | None] = {}
    for row in KNOWN_HEADERS:
        key = canonical(row.header)
        if row.auto:
            assert seen.setdefault(key, row.identifier) == row.identifier, row


def test_aliases_are_the_rows_of_no_one_tool() -> None:
    generic = [row for row in KNOWN_HEADERS if not row.tool]
    assert sum(len(names) for names in ALIASES.values()) == len(generic)
    assert all(row.header in ALIASES[row.identifier or ""] for row in generic)


def table() -> str:
    """The recognised layouts and their sources, as docs/preparing.md shows them."""
    layouts = []
    sources = []
    for tool in TOOLS:
        rows = [row for row in KNOWN_HEADERS if row.tool == tool]
        layouts.append(
            [
                tool,
                _headers([row for row in rows if row.auto]),
                _headers([row for row in rows if row.identifier and not row.auto]),
                ", ".join(f"`{row.header}`" for row in rows if row.identifier is None),
            ]
        )
        sources += [[tool, source] for source in dict.fromkeys(row.source for row in rows)]
    return (
        markdown(
            [
                "export",
                "sent as (preference order)",
                "holding an identifier, sent only with `columns=`",
                "also recognised by",
            ],
            layouts,
        )
        + "\n\n"
        + markdown(["export", "headers taken from"], sources)
    )


def _headers(rows: list[Any]) -> str:
    def shown(row: Any) -> str:
        order = f" ({row.preference})" if row.preference is not None else ""
        return f"`{row.header}` → {row.identifier}{order}"

    return ", ".join(shown(row) for row in rows)


def test_the_documentation_lists_every_layout_and_its_sources() -> None:
    check("layouts", table(), PREPARING)


def test_a_van_export_matches_end_to_end(service: LocalService, settings: dict[str, Any]) -> None:
    truth = voters_with_a_cell(service)
    phone = truth["phone_wireless"]
    dob = pd.to_datetime(truth["dob"], format="%Y%m%d")
    frame = pd.DataFrame(
        {
            "Voter File VANID": truth["smartvan_id"],
            "LastName": truth["last_name"],
            "FirstName": truth["first_name"],
            "vAddress": truth["address1"],
            "City": truth["city"],
            "State": truth["state"],
            "Zip5": truth["zip"],
            "CellPhone": "(" + phone.str[:3] + ") " + phone.str[3:6] + "-" + phone.str[6:],
            "PreferredEmail": truth["email"],
            "DOB": dob.dt.month.astype(str)
            + "/"
            + dob.dt.day.astype(str)
            + "/"
            + truth["dob"].str[:4],
            "Sex": truth["gender"],
            "Party": truth["party"],
        }
    )
    assert frame.smartmatch.mapping().layout == "NGP VAN / EveryAction"
    enriched = sm.match(frame, **settings)
    assert_merged_exactly(frame, enriched)
    assert (enriched["vb.voterbase_id"] == truth["voterbase_id"]).all()


def test_an_l2_export_matches_end_to_end(service: LocalService, settings: dict[str, Any]) -> None:
    truth = voters_with_a_cell(service)
    phone = truth["phone_wireless"]
    dob = pd.to_datetime(truth["dob"], format="%Y%m%d")
    frame = pd.DataFrame(
        {
            "LALVOTERID": "LAL" + truth["state"] + truth.index.astype(str),
            "Voters_StateVoterID": truth["voter_id"],
            "Voters_FirstName": truth["first_name"],
            "Voters_LastName": truth["last_name"],
            "Residence_Addresses_AddressLine": truth["address1"],
            "Residence_Addresses_City": truth["city"],
            "Residence_Addresses_State": truth["state"],
            "Residence_Addresses_Zip": truth["zip"],
            "Mailing_Addresses_AddressLine": "PO Box " + truth.index.astype(str),
            "VoterTelephones_CellPhoneFormatted": (
                "(" + phone.str[:3] + ") " + phone.str[3:6] + "-" + phone.str[6:]
            ),
            "Voters_Gender": truth["gender"],
            "Voters_BirthDate": dob.dt.strftime("%m/%d/%Y"),
            "Parties_Description": truth["party"],
        }
    )
    assert frame.smartmatch.mapping().layout == "L2"
    enriched = sm.match(frame, **settings)
    assert_merged_exactly(frame, enriched)
    assert (enriched["vb.voterbase_id"] == truth["voterbase_id"]).all()


def _truth_value(truth: pd.DataFrame, identifier: str, header: Hashable) -> pd.Series:
    """What a tool's column for ``identifier`` holds for these voters, as it writes it."""
    if identifier == "full_name":
        return truth["first_name"] + " " + truth["last_name"]
    if identifier == "phone":
        phone = truth["phone_wireless"]
        return "(" + phone.str[:3] + ") " + phone.str[3:6] + "-" + phone.str[6:]
    if identifier == "dob":
        dob = pd.to_datetime(truth["dob"], format="%Y%m%d")
        if header == "Birthday":  # a spreadsheet's own long form
            return dob.dt.strftime("%B %-d, %Y")
        return dob.dt.strftime("%m/%d/%Y" if header != "born_at" else "%Y-%m-%d")
    return truth[identifier]


@pytest.mark.network
@pytest.mark.parametrize("name", LAYOUTS)
def test_each_layout_matches_end_to_end_without_columns(
    service: LocalService, settings: dict[str, Any], name: str
) -> None:
    make, expected, layout = LAYOUTS[name]
    truth = voters_with_a_cell(service)
    shape = make()
    frame = pd.DataFrame(index=truth.index)
    for header in shape.columns:
        identifier = expected.get(header)
        if identifier is None:  # a column the tool exports that is not sent
            frame[header] = shape[header].iloc[0]
        else:
            frame[header] = _truth_value(truth, identifier, header)
    if "State" not in frame and "state" not in expected.values():
        frame["State"] = truth["state"]  # ids are read with their state
    mapping = frame.smartmatch.mapping()
    assert mapping.layout == layout
    enriched = sm.match(frame, **settings)
    found = "vb.voterbase_id"
    if found in frame:  # SmartMatch's own output matched again: its columns come back _2
        found += "_2"
        assert enriched.columns[: len(frame.columns)].tolist() == frame.columns.tolist()
    else:
        assert_merged_exactly(frame, enriched)
    matched = enriched[found] == truth["voterbase_id"]
    assert matched.mean() >= 0.95, (name, matched.mean())


def voters_with_a_cell(service: LocalService, n: int = 30) -> pd.DataFrame:
    voters = service.voters.people
    has = voters[["phone_wireless", "email"]].fillna("").ne("").all(axis=1)
    usable = voters[has]
    return usable.iloc[:n].reset_index(drop=True)


@pytest.mark.network
def test_a_job_that_chose_per_row_is_resumed_from_its_frame(
    service: LocalService, settings: dict[str, Any]
) -> None:
    truth = voters_with_a_cell(service)
    phone = truth["phone_wireless"]
    frame = pd.DataFrame(
        {
            "FirstName": truth["first_name"],
            "LastName": truth["last_name"],
            "Zip5": truth["zip"],
            "CellPhone": phone.where(truth.index % 2 == 0, None),
            "HomePhone": phone.where(truth.index % 2 == 1, None),
        }
    )
    job = sm.submit(frame, **settings, cache=False)
    job.wait(progress=False)
    keywords = {k: v for k, v in settings.items() if k in {"api_key", "progress"}}
    result = sm.resume(job.filename, frame, **keywords)  # its upload rebuilt, choices and all
    assert_merged_exactly(frame, result.frame)
    assert (result.frame["vb.voterbase_id"] == truth["voterbase_id"]).mean() >= 0.95
