"""Lists that can only match poorly are warned of before anything is sent; ids that may
not be voter-file ids are flagged in mapping() and check()."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import PoorMatchWarning, SmartMatchWarning
from smartmatch_pandas.local import LocalService
from smartmatch_pandas.local.sample import sample_contacts

NAMES = pd.DataFrame({"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Diaz"]})


def requests_seen(service: LocalService) -> dict[str, int]:
    stats = service.stats
    return {k: stats.get(k, 0) for k in ("registrations", "uploads")}


@pytest.mark.parametrize(
    ("frame", "what"),
    [
        (NAMES, "only names are sent"),
        (NAMES.assign(state=["MA", "IL"]), "only names and a state are sent"),
        (pd.DataFrame({"Name": ["Ann Lee"], "City": ["Boston"]}), "only names and city are sent"),
    ],
)
@pytest.mark.network
def test_a_list_of_names_only_is_warned_of_before_anything_is_sent(
    fresh_service: LocalService, frame: pd.DataFrame, what: str
) -> None:
    before = requests_seen(fresh_service)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PoorMatchWarning)  # stop at the warning
        with pytest.raises(PoorMatchWarning, match=what) as caught:
            frame.smartmatch.match(**fresh_service.settings, progress=False)
    assert requests_seen(fresh_service) == before  # nothing registered, nothing uploaded
    message = str(caught.value)
    assert "add one of those columns" in message
    assert "The list is sent all the same: to stop at this warning" in message
    assert "filterwarnings('error', category=smartmatch_pandas.PoorMatchWarning)" in message
    assert "category=smartmatch_pandas.PoorMatchWarning" in message
    assert issubclass(PoorMatchWarning, SmartMatchWarning)


@pytest.mark.network
def test_the_warning_can_be_silenced_and_the_list_is_then_sent(
    fresh_service: LocalService,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=PoorMatchWarning)
        result = NAMES.smartmatch.match(**fresh_service.settings, progress=False)
    assert len(result) == len(NAMES)
    assert not [w for w in caught if issubclass(w.category, PoorMatchWarning)]
    assert requests_seen(fresh_service)["uploads"] == 1


def test_a_list_that_locates_people_is_not_warned_of() -> None:
    from smartmatch_pandas.preparation.check import poor_match_message

    assert poor_match_message(["first_name", "last_name", "zip"]) is None
    assert poor_match_message(["first_name", "last_name", "state", "dob"]) is None
    assert poor_match_message(["zip"]) is None  # no names: a different problem
    assert poor_match_message(["full_name", "state"]) is not None


def test_a_van_id_of_unknown_origin_is_flagged_in_mapping_and_check() -> None:
    frame = pd.DataFrame(
        {"VANID": ["1001", "1002"], "FirstName": ["Ann", "Bo"], "LastName": ["Lee", "Diaz"]}
    )
    with pytest.warns(SmartMatchWarning, match=r"'VANID' is sent as smartvan_id"):
        mapping = frame.smartmatch.mapping()
    (note,) = mapping.id_notes
    assert "MyCampaign" in note
    assert "cannot tell which state" in note
    assert "columns={'VANID': None}" in note
    assert note in str(mapping)
    report = frame.smartmatch.check()
    assert report.notes == (note,)
    assert f"note: {note}" in str(report)
    # With a state, the note stays (the id may still be the committee's own) without
    # the part about the state; from the voter file, there is nothing to say.
    with_state = frame.assign(State=["MA", "IL"])
    (note,) = with_state.smartmatch.check().notes
    assert "cannot tell which state" not in note
    voter_file = with_state.rename(columns={"VANID": "Voter File VANID"})
    assert voter_file.smartmatch.check().notes == ()
    assert voter_file.smartmatch.mapping().id_notes == []


@pytest.mark.network
def test_a_sample_list_with_locators_is_sent_without_a_poor_match_warning(
    service: LocalService,
) -> None:
    frame = sample_contacts(service.voters, 20, seed=3).drop(columns="true_voterbase_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmartMatchWarning)
        warnings.simplefilter("error", PoorMatchWarning)
        result = sm.match(frame, **service.settings, progress=False)
    assert len(result) == 20


def test_the_command_line_says_how_to_silence_it_in_its_own_words() -> None:
    from smartmatch_pandas.cli.messages import command_line_words
    from smartmatch_pandas.preparation.check import warn_if_poor
    from smartmatch_pandas.preparation.mapping import resolve_mapping

    with pytest.warns(PoorMatchWarning) as caught:
        warn_if_poor(resolve_mapping(["first_name", "last_name"]))
    said = command_line_words(str(caught[0].message))
    assert "filterwarnings" not in said
    assert "to silence it, --quiet" in said
