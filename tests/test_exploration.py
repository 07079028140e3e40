"""MatchResult.explore(): its tables against a hand count, its HTML well formed, its text.

The fast tests explore frames made here (a small list whose every figure is
counted by hand in the test); one end-to-end test explores a list matched by
the session's local service and checks the tables against the list itself.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
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
    # States as sent: MA three times, NY twice (New York, NY), TX once, none once, and
    # Narnia, which is no state, apart from the row sent with none.
    states = tables["by_state"]
    assert states["rows"].to_dict() == {"MA": 3, "NY": 2, "(none)": 1, "(unreadable)": 1, "TX": 1}
    assert states["matched"].to_dict() == {
        "MA": 3,
        "NY": 2,
        "(none)": 0,
        "(unreadable)": 0,
        "TX": 1,
    }
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
    # Its table is there, empty, with the columns it has when shown.
    for name in ("party", "gender"):
        assert exploration.tables[name].empty
        assert list(exploration.tables[name].columns) == ["rows", "share"]
    assert exploration.skipped["party"] == "the service did not append vb.vf_party"
    assert "Party (matched rows)" not in str(exploration)
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
    assert "Democrat: 3 rows, 50.0% of matched" in page  # the figures are read out


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
    # The list's columns, then the appended block; the rate per identifier is counted
    # from the rows (for every identifier sent), as the job's summary counts it.
    from_frame = LIST.smartmatch.explore().tables
    for name, table in explored().tables.items():
        counted = from_frame[name]
        if name == "by_identifier":  # SUMMARY has only these two
            counted = counted.loc[table.index]
        pd.testing.assert_frame_equal(table, counted, check_names=False)
    assert list(from_frame["by_identifier"].index) == ["first_name", "last_name", "zip", "state"]


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


# -- what a user found: each panel of the rows explored, and said plainly ------------------


def test_the_matched_rows_a_chart_leaves_out_are_counted_and_said() -> None:
    # Matched ages: 19, 24, 44, 67, 91 and "x" (not a number); then one under 18, one none.
    young = LIST.assign(**{"vb.voterbase_age": ["19", "24", "44", "67", "91", "x", None, None]})
    young.loc[0, "vb.voterbase_age"], young.loc[1, "vb.voterbase_age"] = "16", " "
    young.loc[2, "vb.tsmart_partisan_score"] = "n/a"
    exploration = explored(young)
    assert int(exploration.tables["age"].to_numpy().sum()) == 3
    assert exploration.notes == (
        "3 of 6 matched rows are not in the age pyramid: 1 with no value, "
        "1 with a value that is not a number, 1 under 18.",
        "1 of 6 matched rows are not in the partisan score: 1 with a value that is not a number.",
    )
    text, page = str(exploration), exploration._repr_html_()
    assert "1 under 18" in text
    assert "1 under 18" in page
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_skipped_panel_has_its_table_empty_with_its_columns() -> None:
    exploration = explore(LIST)  # no summary, nothing known of what was sent
    for name in ("by_identifier", "by_state", "unmatched"):
        assert exploration.tables[name].empty
    assert list(exploration.tables["by_state"].columns) == ["rows", "matched", "match_rate"]
    assert "Match rate by state" not in str(exploration)


def test_the_registration_panel_gives_the_share_of_the_whole_list_too() -> None:
    registration = explored().tables["registration"]
    # 5 of 6 matched rows are registered: 83% of matched rows, 5 of 8 (62.5%) of the list.
    assert registration.loc["Registered", "share"] == pytest.approx(5 / 6)
    assert registration.loc["Registered", "share_of_list"] == 5 / 8
    assert "of matched" in str(explored())


def test_with_no_state_sent_the_voter_files_state_counts_the_matched_rows() -> None:
    voter_states = ["MA", "NY", "TX", "MA", "MA", "NY", None, None]
    frame = LIST.assign(**{"vb.tsmart_state": voter_states})
    exploration = explore(frame, SUMMARY, sent_profile(frame, PAIRS[:3]))  # no state sent
    states = exploration.tables["by_state"]
    assert states["rows"].to_dict() == {"MA": 3, "NY": 2, "(not matched)": 2, "TX": 1}
    assert states.loc["(not matched)", "matched"] == 0
    assert "by_state" not in exploration.skipped
    assert any("vb.tsmart_state" in note for note in exploration.notes)
    assert "Rows by voter file state (none sent)" in str(exploration)


def test_the_html_is_saved_as_a_whole_page_readable_by_its_owner_alone(tmp_path: Path) -> None:
    exploration = explored()
    page = exploration.to_html()
    assert page.startswith("<!DOCTYPE html>")
    root = ET.fromstring(page.split("\n", 1)[1])  # the document is well-formed
    assert root.tag == "html"
    assert root.find("./head/title") is not None
    assert len(root.findall(".//{http://www.w3.org/2000/svg}svg")) == 8  # every chart
    target = tmp_path / "exploration.html"
    exploration.save(target)
    saved = target.read_text(encoding="utf-8")  # the same page (its charts' ids aside)
    assert re.sub(r"sm-x\d+", "", saved) == re.sub(r"sm-x\d+", "", page)
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.fixture(scope="module")
def enriched(service: LocalService, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """120 contacts matched with typed fields, as a user would (the session's service)."""
    contacts = sample_contacts(service.voters, 120, seed=19).drop(columns="true_voterbase_id")
    with pytest.MonkeyPatch.context() as patch:  # a job store of its own, as each test's
        patch.setenv("SMARTMATCH_HOME", str(tmp_path_factory.mktemp("smartmatch-home")))
        return contacts.smartmatch.match(**service.settings, progress=False, typed=True)


def test_a_filtered_frame_is_explored_by_its_own_rows(enriched: pd.DataFrame) -> None:
    states = enriched["state"].value_counts().index[:3]
    subset = enriched[enriched["state"].isin(states)]
    assert subset.attrs["smartmatch"]["rows"] == 120  # pandas carries the job's attrs over
    exploration = subset.smartmatch.explore()
    assert exploration.rows == len(subset) < 120
    by_id = exploration.tables["by_identifier"]
    with_name = subset["first_name"].notna() & (subset["first_name"].str.strip() != "")
    assert by_id.loc["first_name", "rows_with_value"] == with_name.sum()
    hits = subset["tsmart_match_code"] == "Y"
    assert by_id.loc["first_name", "match_rate_with"] == (with_name & hits).sum() / with_name.sum()
    assert by_id.loc["state", "rows_with_value"] == len(subset)
    assert re.search(rf"with first_name +{with_name.sum()} ", str(exploration))
    # The whole frame, counted from its rows, gives the job's own figures.
    whole = enriched.smartmatch.explore().tables["by_identifier"]
    attrs = enriched.attrs["smartmatch"]["by_identifier"]
    assert whole["rows_with_value"].to_dict() == {
        name: figures["rows_with_value"] for name, figures in attrs.items()
    }


def test_every_candidate_is_explored_by_the_best_match_of_each_row(
    service: LocalService, tmp_path: Path
) -> None:
    contacts = sample_contacts(service.voters, 60, seed=7).drop(columns="true_voterbase_id")
    options = {**service.settings, "progress": False, "max_matches": 3}
    best = contacts.smartmatch.match(**options).smartmatch.explore()
    candidates = contacts.smartmatch.match(**options, all_matches=True)
    assert len(candidates) > 60  # some rows have more than one candidate
    # As written by the command line's --all-matches, and read back.
    candidates.to_parquet(tmp_path / "all.parquet")
    for frame in (candidates, pd.read_parquet(tmp_path / "all.parquet")):
        exploration = frame.smartmatch.explore()
        assert (
            (exploration.rows, exploration.matched)
            == (best.rows, best.matched)
            == (60, best.matched)
        )
        for name, table in best.tables.items():
            pd.testing.assert_frame_equal(table, exploration.tables[name], check_names=False)
        assert "best match" in exploration.notes[0]
        assert "best match" in str(exploration)


def test_a_list_enriched_before_is_typed_and_explored_by_its_fresh_columns(
    enriched: pd.DataFrame, service: LocalService
) -> None:
    stale = enriched.assign(**{"vb.vf_party": "Stale", "tsmart_match_code": "N"})
    with pytest.warns(sm.SmartMatchWarning, match="vb.vf_party_2"):
        again = stale.smartmatch.match(**service.settings, progress=False, typed=True)
    # The renamed columns are typed by the field each holds.
    assert isinstance(again["vb.vf_party_2"].dtype, pd.CategoricalDtype)
    assert str(again["vb.voterbase_age_2"].dtype) == "Int64"
    assert again.attrs["smartmatch"]["renamed"]["vb.vf_party_2"] == "vb.vf_party"
    fresh = enriched.smartmatch.explore().tables
    for frame in (again, again.copy().__finalize__(pd.DataFrame())):  # attrs, or the rule
        if frame is not again:
            frame.attrs = {}
        exploration = frame.smartmatch.explore()
        assert exploration.matched == int((enriched["tsmart_match_code"] == "Y").sum())
        assert "Stale" not in exploration.tables["party"].index
        pd.testing.assert_frame_equal(
            exploration.tables["party"], fresh["party"], check_names=False
        )


def test_the_command_lines_every_candidate_output_explores_by_best_match(
    service: LocalService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartmatch_pandas.cli import main

    for name, value in service.environ.items():
        monkeypatch.setenv(name, value)
    contacts = sample_contacts(service.voters, 40, seed=3).drop(columns="true_voterbase_id")
    contacts.to_csv(tmp_path / "list.csv", index=False)
    written = tmp_path / "all.parquet"
    options = ["--max-matches", "3", "--all-matches", "--in-memory", "--no-progress"]
    assert main(["match", str(tmp_path / "list.csv"), "-o", str(written), *options]) == 0
    back = pd.read_parquet(written)
    exploration = back.smartmatch.explore()
    assert exploration.rows == 40 < len(back)
    assert exploration.matched == back.attrs["smartmatch"]["matched"]
    assert exploration.tables["by_state"]["rows"].sum() == 40


@pytest.mark.parametrize("stream", ["--in-memory", "--stream"])
def test_a_file_enriched_before_names_its_renamed_columns_in_memory_or_in_batches(
    enriched: pd.DataFrame,
    service: LocalService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stream: str,
) -> None:
    from smartmatch_pandas.cli import main

    for name, value in service.environ.items():
        monkeypatch.setenv(name, value)
    stale = enriched.head(40).assign(**{"vb.vf_party": "Stale", "tsmart_match_code": "N"})
    stale.to_csv(tmp_path / "list.csv", index=False)
    written = tmp_path / "again.parquet"
    given = [str(tmp_path / "list.csv"), "-o", str(written), "--typed", stream, "--no-progress"]
    assert main(["match", *given]) == 0  # the command line says what it renamed
    back = pd.read_parquet(written)
    assert back.attrs["smartmatch"]["renamed"]["vb.vf_party_2"] == "vb.vf_party"
    assert isinstance(back["vb.vf_party_2"].dtype, pd.CategoricalDtype)
    exploration = back.smartmatch.explore()
    assert exploration.matched == int((enriched.head(40)["tsmart_match_code"] == "Y").sum())
    assert "Stale" not in exploration.tables["party"].index
