"""MatchResult.explore(): its tables against a hand count, its HTML well formed, its text.

The fast tests explore frames made here (a small list whose every figure is
counted by hand in the test); one end-to-end test explores a list matched by
the session's local service and checks the tables against the list itself.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.deliverable import Exploration, MatchSummary, explore
from smartmatch_pandas.deliverable.summary import IdentifierCoverage
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.preparation.standing import STANDINGS, sent_profile

#: Eight contacts: six matched, two not; the voter fields the local service appends, as text.
LIST = pd.DataFrame(
    {
        "first_name": ["Ann", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"],
        "last_name": ["Ames", "Burr", "Cole", "Dunn", "Eads", "Fay", "Gray", None],
        "zip": ["02139", "10001", "73301", "02139", None, "10001", None, "02139"],
        "state": ["MA", "New York", "tx", "MA", "MA", "NY", None, "Narnia"],
        "tsmart_match_code": ["Y", "Y", "Y", "Y", "Y", "Y", "N", "N"],
        "vb.vf_party": [
            "Democrat",
            "Republican",
            "Democrat",
            None,
            "Green",
            "Democrat",
            None,
            None,
        ],
        "vb.voterbase_registration_status": [
            *["Registered"] * 3,
            "Unregistered",
            *["Registered"] * 2,
            None,
            None,
        ],
        "vb.voterbase_gender": ["F", "M", "F", "M", "U", "F", None, None],
        "vb.voterbase_age": ["19", "24", "44", "67", "91", "x", None, None],
        "vb.tsmart_partisan_score": ["95.5", "3.0", "71.2", "40", "100", "10.0", None, None],
    }
)
PAIRS = (
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("zip", "zip"),
    ("state", "state"),
)
SUMMARY = MatchSummary(
    rows=8,
    matched=6,
    coverage=(IdentifierCoverage("zip", 6, 5), IdentifierCoverage("state", 7, 6)),
)


def explored(frame: pd.DataFrame = LIST) -> Exploration:
    return explore(frame, SUMMARY, sent_profile(frame, PAIRS))


def test_the_tables_agree_with_a_hand_count() -> None:
    tables = explored().tables
    assert tables["overall"].iloc[0].tolist() == [8, 6, 0.75]
    by_id = tables["by_identifier"]
    assert by_id.loc["zip", "match_rate_with"] == 5 / 6
    assert by_id.loc["zip", "match_rate_without"] == 1 / 2
    # States as sent: MA three times, NY twice (New York, NY), TX once, none twice (Narnia).
    states = tables["by_state"]
    assert states["rows"].to_dict() == {"MA": 3, "NY": 2, "(none)": 2, "TX": 1}
    assert states["matched"].to_dict() == {"MA": 3, "NY": 2, "(none)": 0, "TX": 1}
    assert states.loc["NY", "match_rate"] == 1.0
    party = tables["party"]
    assert party["rows"].to_dict() == {"Democrat": 3, "Republican": 1, "(none)": 1, "Green": 1}
    assert party.loc["Democrat", "share"] == 0.5
    assert tables["registration"]["rows"].to_dict() == {"Registered": 5, "Unregistered": 1}
    assert tables["gender"]["rows"].to_dict() == {"F": 3, "M": 2, "U": 1}


def test_the_age_pyramid_and_the_score_histogram_agree_with_a_hand_count() -> None:
    tables = explored().tables
    age = tables["age"]
    # Matched ages: 19 F, 24 M, 44 F, 67 M, 91 U, "x" F (not a number: not counted).
    assert age.loc["18-24"].tolist() == [1, 1, 0]
    assert age.loc["35-44"].tolist() == [1, 0, 0]
    assert age.loc["65-74"].tolist() == [0, 1, 0]
    assert age.loc["85+"].tolist() == [0, 0, 1]
    assert int(age.to_numpy().sum()) == 5
    scores = tables["partisan_score"]["rows"]
    # 95.5, 3.0, 71.2, 40, 100 (in the last bin), 10.0 (in the second).
    assert scores.to_dict() == {
        "0-10": 1,
        "10-20": 1,
        "20-30": 0,
        "30-40": 0,
        "40-50": 1,
        "50-60": 0,
        "60-70": 0,
        "70-80": 1,
        "80-90": 0,
        "90-100": 2,
    }


def test_the_unmatched_rows_are_told_by_what_they_were_sent_with() -> None:
    table = explored().tables["unmatched"]
    assert list(table.index) == list(STANDINGS)
    # Gus: names, no ZIP, no state: names only. Hal: a ZIP, and a state that is none.
    assert table["unmatched"].to_dict() == {
        "nothing usable": 0,
        "names only": 1,
        "no name or locator": 0,
        "unreadable values": 1,
        "had a locator": 0,
    }
    # Of all rows, Ed (matched) was sent with names and a state only too.
    assert table["rows"].to_dict() == {
        "nothing usable": 0,
        "names only": 2,
        "no name or locator": 0,
        "unreadable values": 1,
        "had a locator": 5,
    }
    assert table["unmatched"].sum() == 2
    assert table["share_of_unmatched"].sum() == pytest.approx(1.0)


def test_typed_voter_fields_explore_to_the_same_tables() -> None:
    typed = LIST.assign(
        **{
            "vb.vf_party": LIST["vb.vf_party"].astype("category"),
            "vb.voterbase_gender": LIST["vb.voterbase_gender"].astype("category"),
            "vb.voterbase_age": pd.to_numeric(LIST["vb.voterbase_age"], errors="coerce").astype(
                "Int64"
            ),
            "vb.tsmart_partisan_score": pd.to_numeric(LIST["vb.tsmart_partisan_score"]).astype(
                "Float64"
            ),
            "tsmart_match_code": LIST["tsmart_match_code"].astype("category"),
        }
    )
    text, typed_tables = explored().tables, explored(typed).tables
    assert text.keys() == typed_tables.keys()
    for name, table in text.items():
        pd.testing.assert_frame_equal(table, typed_tables[name], check_names=False)


def test_a_field_the_service_did_not_append_skips_its_panel_and_says_so() -> None:
    exploration = explored(LIST.drop(columns=["vb.vf_party", "vb.voterbase_gender"]))
    assert "party" not in exploration.tables
    assert "gender" not in exploration.tables
    assert exploration.skipped["party"] == "the service did not append vb.vf_party"
    # The pyramid without genders counts everyone as "other".
    assert exploration.tables["age"]["other"].sum() == 5
    assert "Not shown:" in str(exploration)
    assert "vb.vf_party" in exploration._repr_html_()


def test_without_what_was_sent_the_state_and_unmatched_panels_are_skipped() -> None:
    exploration = explore(LIST)  # no summary, no profile: the frame alone
    assert set(exploration.skipped) == {"by_identifier", "by_state", "unmatched"}
    assert exploration.matched == 6
    no_state = explore(LIST, SUMMARY, sent_profile(LIST, PAIRS[:3]))
    assert no_state.skipped == {"by_state": "no state was sent"}
    assert no_state.tables["unmatched"]["unmatched"].sum() == 2


def test_the_html_is_well_formed_and_accessible() -> None:
    page = explored()._repr_html_()
    root = ET.fromstring(page)  # well-formed XML, or this raises
    svgs = root.findall(".//{http://www.w3.org/2000/svg}svg")
    assert len(svgs) == 8  # 2 rates, 3 mixes, the pyramid, the histogram, the unmatched
    for svg in svgs:
        assert svg.get("role") == "img"
        title, desc = svg.get("aria-labelledby", "").split()
        ids = {e.get("id") for e in svg.iter()}
        assert title in ids
        assert desc in ids
    assert "<script" not in page
    assert "Democrat: 3 rows, 50.0% share" in page  # the figures are read out


def test_the_text_form_fits_a_terminal() -> None:
    text = str(explored())
    assert text.startswith("SmartMatch exploration: 6 of 8 rows matched (75.0%)")
    assert repr(explored()) == text
    assert max(len(line) for line in text.splitlines()) <= 80
    # A long value is cut short, so a line still fits 80 columns.
    long = LIST.assign(**{"vb.vf_party": "The Party of Very Long Names Indeed, Incorporated"})
    assert max(len(line) for line in str(explored(long)).splitlines()) <= 80
    for heading in ("Match rate by state", "Party (matched rows)", "Age and gender"):
        assert heading in text


def test_a_frame_match_returned_explores_as_its_result_does() -> None:
    # The list's columns, then the appended block (as match() returns it, attrs and all).
    frame = LIST.copy()
    frame.attrs["smartmatch"] = {"rows": 8, "matched": 6, "by_identifier": {
        "zip": {"rows_with_value": 6, "matched": 5},
        "state": {"rows_with_value": 7, "matched": 6},
    }}  # fmt: skip
    from_frame = frame.smartmatch.explore().tables
    for name, table in explored().tables.items():
        pd.testing.assert_frame_equal(table, from_frame[name], check_names=False)


def test_a_frame_that_was_not_matched_cannot_be_explored() -> None:
    with pytest.raises(sm.InputError, match="no tsmart_match_code column"):
        LIST.drop(columns="tsmart_match_code").smartmatch.explore()


@pytest.mark.slow
def test_two_hundred_thousand_rows_explore_in_a_second_or_two() -> None:
    big = pd.concat([LIST] * 25_000, ignore_index=True)
    start = time.perf_counter()
    exploration = explored(big)
    exploration._repr_html_()
    elapsed = time.perf_counter() - start
    assert exploration.tables["overall"].iloc[0].tolist() == [200_000, 150_000, 0.75]
    assert exploration.tables["by_state"].loc["NY", "rows"] == 50_000
    # About 1.5 s on an idle core of the development machine; a loaded CI gets room.
    assert elapsed < 10, f"{elapsed:.1f} s"


def test_a_matched_list_explores_to_its_own_figures(
    service: LocalService, settings: dict[str, Any]
) -> None:
    contacts = sample_contacts(service.voters, 120, seed=19).drop(columns="true_voterbase_id")
    contacts.loc[contacts.index[:6], ["address1", "zip", "phone", "email", "dob", "age"]] = None
    result = sm.submit(contacts, **settings).wait(progress=False).result()
    exploration = result.explore()
    frame = result.frame
    hits = frame["tsmart_match_code"] == "Y"
    assert exploration.matched == int(hits.sum()) == result.summary.matched
    states = exploration.tables["by_state"]
    assert states["rows"].sum() == len(contacts)
    party = frame.loc[hits, "vb.vf_party"].fillna("(none)").value_counts()
    assert exploration.tables["party"]["rows"].to_dict() == party.to_dict()
    ages = pd.to_numeric(frame.loc[hits, "vb.voterbase_age"])
    assert exploration.tables["age"].to_numpy().sum() == ages.notna().sum()
    unmatched = exploration.tables["unmatched"]
    assert unmatched["unmatched"].sum() == len(contacts) - exploration.matched
    # The six rows stripped of every locator were sent with names (and a state) only.
    assert unmatched.loc["names only", "rows"] >= 6
    assert np.isclose(exploration.tables["partisan_score"]["share"].sum(), 1.0)
    # match() on the same list (from the result cache) explores to the same tables.
    enriched = contacts.smartmatch.match(**settings)
    from_frame = enriched.smartmatch.explore().tables
    for name, table in exploration.tables.items():
        pd.testing.assert_frame_equal(table, from_frame[name], check_names=False)
    # The same list typed (as typed=True gives it) explores to the same tables.
    typed = result.typed().explore().tables
    for name, table in exploration.tables.items():
        pd.testing.assert_frame_equal(table, typed[name], check_names=False)
