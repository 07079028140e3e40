"""The matching engine: what each identifier contributes, thresholds, ranking, determinism."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from smartmatch_pandas.local import LinkageMatcher, VoterFile, sample_contacts
from smartmatch_pandas.local.matcher import DEFAULT_MARGIN

from .conftest import best_of, person, score_of

Contact = dict[str, str | None]


def _first(mask: pd.Series) -> int:
    """The position of the first voter ``mask`` holds for."""
    return int(np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))[0])


@pytest.fixture(scope="module")
def rich(voters: VoterFile) -> int:
    """A voter with every field filled in (no suffix, a full middle name)."""
    p = voters.people
    full = (
        p[["email", "phone_wireless", "middle_name", "address1"]].notna().all(axis=1)
        & p["name_suffix"].isna()
        & (p["middle_name"].str.len() > 1)
        & p["address2"].isna()
    )
    return _first(full)


@pytest.fixture(scope="module")
def other(voters: VoterFile, rich: int) -> int:
    """A voter unlike ``rich``: another state, sex, name, birthday, middle name."""
    p = voters.people
    me = p.iloc[rich]
    unlike = (
        (p["state"] != me["state"])
        & (p["gender"] != me["gender"])
        & (p["first_name"] != me["first_name"])
        & (p["last_name"] != me["last_name"])
        & (p["middle_name"].str.len() > 1)
        & (p["middle_name"].str[0] != me["middle_name"][0])
        & (p["dob"].str[:4] != me["dob"][:4])
        & p["email"].notna()
    )
    return _first(unlike)


def _phone(p: Contact) -> str:
    d = p["phone_wireless"] or ""
    return f"({d[:3]}) {d[3:6]}-{d[6:]}"


# identifier → (base the contact starts from, extra fields given their value from a person)
CONTRIBUTIONS: dict[str, tuple[str, Callable[[Contact], Contact]]] = {
    "voterbase_id": ("zip", lambda p: {"voterbase_id": p["voterbase_id"]}),
    "exact_track": ("zip", lambda p: {"exact_track": p["exact_track"]}),
    "voter_id": ("dob", lambda p: {"voter_id": p["voter_id"], "state": p["state"]}),
    "smartvan_id": ("dob", lambda p: {"smartvan_id": p["smartvan_id"], "state": p["state"]}),
    "middle_name": ("zip", lambda p: {"middle_name": p["middle_name"]}),
    "address1": ("first+zip", lambda p: {"address1": p["address1"]}),
    "city": ("dob", lambda p: {"city": p["city"]}),
    "state": ("dob", lambda p: {"state": p["state"]}),
    "zip": ("dob", lambda p: {"zip": p["zip"]}),
    "age": ("zip", lambda p: {"age": p["age"]}),
    "gender": ("zip", lambda p: {"gender": p["gender"]}),
    "dob": ("zip", lambda p: {"dob": p["dob"]}),
    "phone": ("zip", lambda p: {"phone": _phone(p)}),
    "email": ("zip", lambda p: {"email": (p["email"] or "").upper()}),
    "latitude/longitude": (
        "first+zip",
        lambda p: {"latitude": p["latitude"], "longitude": p["longitude"]},
    ),
}


@pytest.mark.parametrize("identifier", list(CONTRIBUTIONS))
def test_each_identifier_contributes(
    identifier: str, open_matcher: LinkageMatcher, voters: VoterFile, rich: int, other: int
) -> None:
    me, them = person(voters, rich), person(voters, other)
    base_field, extra = CONTRIBUTIONS[identifier]
    # (An address tells more without a last name: beside one, it mostly tells the family.)
    base: Contact = {"first_name": me["first_name"], "last_name": me["last_name"]}
    if base_field == "first+zip":
        base = {"first_name": me["first_name"], "zip": me["zip"]}
    else:
        base[base_field] = me[base_field]
    alone = score_of(open_matcher, base, rich)
    agreeing = score_of(open_matcher, {**base, **extra(me)}, rich)
    disagreeing = score_of(open_matcher, {**base, **extra(them)}, rich)
    assert alone is not None
    assert agreeing is not None
    assert disagreeing is not None
    # It counts: agreement scores well above disagreement, never below saying nothing.
    assert agreeing > disagreeing + 1, identifier
    assert agreeing >= alone >= disagreeing, identifier


def test_names_contribute(open_matcher: LinkageMatcher, voters: VoterFile, rich: int) -> None:
    me = person(voters, rich)
    base = {"zip": me["zip"], "dob": me["dob"]}
    both = score_of(
        open_matcher, {**base, "first_name": me["first_name"], "last_name": me["last_name"]}, rich
    )
    wrong_first = score_of(
        open_matcher, {**base, "first_name": "Zebulon", "last_name": me["last_name"]}, rich
    )
    no_first = score_of(open_matcher, {**base, "last_name": me["last_name"]}, rich)
    assert both is not None
    assert wrong_first is not None
    assert no_first is not None
    assert both > no_first > wrong_first


@pytest.mark.parametrize(
    "form",
    [
        "{first_name} {middle_name} {last_name}",
        "{last_name}, {first_name} {middle_name}",
        "MR. {first_name} {last_name}",
        "{first_name} {last_name} jr",
    ],
)
def test_full_name_is_parsed(
    form: str, matcher: LinkageMatcher, open_matcher: LinkageMatcher, voters: VoterFile, rich: int
) -> None:
    me = person(voters, rich)
    contact = {"full_name": form.format(**me).upper(), "zip": me["zip"], "dob": me["dob"]}
    assert best_of(matcher, contact) == rich
    split = {
        "first_name": me["first_name"],
        "last_name": me["last_name"],
        "zip": me["zip"],
        "dob": me["dob"],
    }
    assert score_of(open_matcher, contact, rich) >= score_of(open_matcher, split, rich) - 3  # type: ignore[operator]


def test_first_name_combined_gives_first_and_middle(
    open_matcher: LinkageMatcher, voters: VoterFile, rich: int, other: int
) -> None:
    me, them = person(voters, rich), person(voters, other)
    base = {"last_name": me["last_name"], "zip": me["zip"]}
    right = score_of(
        open_matcher,
        {**base, "first_name_combined": f"{me['first_name']} {me['middle_name']}"},
        rich,
    )
    wrong_middle = score_of(
        open_matcher,
        {**base, "first_name_combined": f"{me['first_name']} {them['middle_name']}"},
        rich,
    )
    assert right is not None
    assert wrong_middle is not None
    assert right > wrong_middle + 3


def test_a_nickname_finds_the_formal_name(matcher: LinkageMatcher, voters: VoterFile) -> None:
    p = voters.people
    william = _first((p["first_name"] == "William") & p["dob"].notna())
    me = person(voters, william)
    for nickname in ("Bill", "WILL", "billy"):
        contact = {
            "first_name": nickname,
            "last_name": me["last_name"],
            "dob": me["dob"],
            "state": me["state"],
        }
        assert best_of(matcher, contact) == william, nickname


@pytest.mark.parametrize(
    ("field", "variant"),
    [
        ("phone", lambda v: f"+1 {v[:3]}.{v[3:6]}.{v[6:]}"),
        ("phone", lambda v: f"1-{v[:3]}-{v[3:6]}-{v[6:]}"),
        ("dob", lambda v: f"{v[4:6]}/{v[6:]}/{v[:4]}"),
        ("dob", lambda v: f"{v[:4]}-{v[4:6]}-{v[6:]}"),
        ("zip", lambda v: f"{v}-1234"),
        ("state", lambda v: {"CA": "California", "NY": "new york"}.get(v, v.lower())),
        ("last_name", lambda v: f"  {v.upper()} "),
    ],
)
def test_raw_formats_are_normalised(
    field: str,
    variant: Callable[[str], str],
    open_matcher: LinkageMatcher,
    voters: VoterFile,
    rich: int,
) -> None:
    me = person(voters, rich)
    contact = {
        "first_name": me["first_name"],
        "last_name": me["last_name"],
        "zip": me["zip"],
        "state": me["state"],
        "dob": me["dob"],
        "phone": me["phone_wireless"],
    }
    canonical = score_of(open_matcher, contact, rich)
    raw = score_of(open_matcher, {**contact, field: variant(contact[field] or "")}, rich)
    assert raw == pytest.approx(canonical)


def test_a_zip_code_that_lost_its_leading_zero(matcher: LinkageMatcher, voters: VoterFile) -> None:
    p = voters.people
    index = _first(p["zip"].str[0] == "0")
    me = person(voters, index)
    contact = {
        "first_name": me["first_name"],
        "last_name": me["last_name"],
        "zip": str(int(me["zip"] or 0)),
    }
    assert best_of(matcher, {**contact, "address1": me["address1"]}) == index


def test_the_threshold_decides_the_match(
    open_matcher: LinkageMatcher, voters: VoterFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = sample_contacts(voters, 300, seed=4).drop(columns="true_voterbase_id")
    # The session's open index for every threshold: the threshold and the margin apply
    # when matching, not indexing (restored for the other tests when this one ends).
    scores = open_matcher.match(contacts, 1).score
    strict, loose = np.quantile(scores, 0.5), -1e9
    for threshold in (loose, 2.0, strict):
        monkeypatch.setattr(open_matcher, "threshold", threshold)
        found = open_matcher.match(contacts, 1)
        assert (found.score >= threshold).all()
        assert len(found.row) == int((scores >= threshold).sum())
    monkeypatch.setattr(open_matcher, "threshold", 1e9)
    monkeypatch.setattr(open_matcher, "margin", DEFAULT_MARGIN)
    assert len(open_matcher.match(contacts, 1).row) == 0


def test_an_ambiguous_row_is_left_unmatched(matcher: LinkageMatcher, voters: VoterFile) -> None:
    """A Jr and his father at one address, and nothing to tell them apart: no guess."""
    p = voters.people
    juniors = p[p["name_suffix"] == "Jr"]
    fathers = p.reset_index().merge(
        juniors, on=["household_id", "first_name"], suffixes=("", "_jr")
    )
    fathers = fathers[
        fathers["index"].to_numpy()
        != fathers["voterbase_id_jr"]
        .map(dict(zip(p["voterbase_id"], range(len(p)), strict=True)))
        .to_numpy()
    ]
    pair = fathers.iloc[0]
    junior = _first(p["voterbase_id"] == pair["voterbase_id_jr"])
    me = person(voters, junior)
    contact = {k: me[k] for k in ("first_name", "last_name", "address1", "zip")}
    assert best_of(matcher, contact) is None
    assert best_of(matcher, {**contact, "dob": me["dob"]}) == junior
    assert best_of(matcher, {**contact, "name_suffix": "JR."}) == junior


def test_max_matches_ranks_candidates_best_first(
    matcher: LinkageMatcher, voters: VoterFile
) -> None:
    contacts = sample_contacts(voters, 400, seed=8).drop(columns="true_voterbase_id")
    found = matcher.match(contacts, max_matches=3)
    frame = pd.DataFrame({"row": found.row, "rank": found.rank, "score": found.score})
    assert frame["rank"].between(1, 3).all()
    for _, group in frame.groupby("row"):
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert group["score"].is_monotonic_decreasing
    assert (frame.groupby("row").size() > 1).any()
    one = matcher.match(contacts, max_matches=1)
    firsts = frame[frame["rank"] == 1]
    assert np.array_equal(one.row, firsts["row"].to_numpy())
    assert np.array_equal(one.person, found.person[found.rank == 1])
    assert (one.rank == 1).all()


def test_matching_is_deterministic(matcher: LinkageMatcher, voters: VoterFile) -> None:
    contacts = sample_contacts(voters, 500, seed=9).drop(columns="true_voterbase_id")
    first = matcher.match(contacts, 3)
    again = LinkageMatcher(voters).match(contacts, 3)
    for name in ("row", "person", "score", "method", "rank"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    order = np.random.default_rng(0).permutation(len(contacts))
    shuffled = matcher.match(contacts.iloc[order].reset_index(drop=True), 3)
    back = pd.DataFrame(
        {"row": order[shuffled.row], "person": shuffled.person, "rank": shuffled.rank}
    )
    straight = pd.DataFrame({"row": first.row, "person": first.person, "rank": first.rank})
    pd.testing.assert_frame_equal(
        back.sort_values(["row", "rank"]).reset_index(drop=True), straight
    )


def test_people_not_in_the_file_are_not_matched(matcher: LinkageMatcher, voters: VoterFile) -> None:
    outsiders = sample_contacts(voters, 1000, seed=12, outsiders=1.0, labels=True)
    assert outsiders["true_voterbase_id"].isna().all()
    assert set(outsiders["noise"]) == {"not_in_file", "housemate_not_in_file"}
    found = matcher.match(outsiders.drop(columns=["true_voterbase_id", "noise"]), 1)
    assert len(found.row) <= 10  # at most 1%


def test_quality_on_a_noisy_list(matcher: LinkageMatcher, voters: VoterFile) -> None:
    contacts = sample_contacts(voters, 3000, seed=13)
    truth = contacts.pop("true_voterbase_id").to_numpy(object)
    found = matcher.match(contacts, 1)
    got = voters.people["voterbase_id"].to_numpy(object)[found.person]
    right = int((got == truth[found.row]).sum())
    assert right / len(found.row) >= 0.99  # precision
    assert right / int(pd.notna(truth).sum()) >= 0.95  # recall


def test_method_names_what_the_match_rests_on(
    matcher: LinkageMatcher, voters: VoterFile, rich: int
) -> None:
    me = person(voters, rich)
    cases = {
        "voterbase_id": {"voterbase_id": me["voterbase_id"]},
        "email": {"first_name": me["first_name"], "email": me["email"]},
        "phone": {"last_name": me["last_name"], "phone": me["phone_wireless"]},
        "name+address": {k: me[k] for k in ("first_name", "last_name", "address1", "zip")},
        "name+dob": {k: me[k] for k in ("first_name", "last_name", "dob", "state")},
    }
    for method, contact in cases.items():
        found = matcher.match(pd.DataFrame([contact]), 1)
        assert list(found.method) == [method]
        assert list(found.person) == [rich]


def test_weights_are_documented(matcher: LinkageMatcher) -> None:
    weights = matcher.weights()
    assert {"comparison", "level", "m", "u", "weight"} <= set(weights.columns)
    exact = weights[weights["level"] == "exact"].set_index("comparison")["weight"]
    assert (exact > 0).all()
    disagree = weights[weights["level"] == "disagree"]["weight"]
    assert (disagree < 0).all()


def test_odd_inputs_and_concurrent_calls(matcher: LinkageMatcher, voters: VoterFile) -> None:
    empty = matcher.match(pd.DataFrame({"first_name": pd.Series([], dtype=object)}), 3)
    assert len(empty.row) == 0
    blank = pd.DataFrame({"first_name": [None, ""], "zip": [None, "n/a"], "rid": [1, 2]})
    assert len(matcher.match(blank, 3).row) == 0
    contacts = sample_contacts(voters, 1000, seed=14).drop(columns="true_voterbase_id")
    expected = matcher.match(contacts, 3)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(matcher.match(contacts, 3)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for found in results:
        assert isinstance(found, type(expected))
        assert np.array_equal(found.person, expected.person)
        assert np.array_equal(found.score, expected.score)


@pytest.mark.parametrize("identifier", ["smartvan_id", "voter_id"])
def test_an_id_of_another_system_does_not_veto_a_clear_match(
    matcher: LinkageMatcher, voters: VoterFile, rich: int, identifier: str
) -> None:
    me = person(voters, rich)
    p = voters.people
    # Another voter of the same state, whose id the list holds by collision.
    neighbour = _first((p["state"] == me["state"]) & (p["last_name"] != me["last_name"]))
    clear: Contact = {
        "first_name": me["first_name"],
        "last_name": me["last_name"],
        "address1": me["address1"],
        "city": me["city"],
        "state": me["state"],
        "zip": me["zip"],
        "phone": _phone(me),
    }
    assert best_of(matcher, clear) == rich
    nobody = {**clear, identifier: "99999999999"}  # an id no voter has
    assert best_of(matcher, nobody) == rich
    colliding = {**clear, identifier: person(voters, neighbour)[identifier]}
    assert best_of(matcher, colliding) == rich
    # Its own id still counts for it.
    own = score_of(matcher, {**clear, identifier: me[identifier]}, rich)
    foreign = score_of(matcher, nobody, rich)
    assert own is not None
    assert foreign is not None
    assert own > foreign


def test_an_id_alone_against_disagreeing_names_is_not_a_match(
    matcher: LinkageMatcher, voters: VoterFile, rich: int, other: int
) -> None:
    me, them = person(voters, rich), person(voters, other)
    # Their VAN id, with a stranger's name and no address: the id is no verdict.
    contact: Contact = {
        "first_name": me["first_name"],
        "last_name": me["last_name"],
        "state": them["state"],
        "smartvan_id": them["smartvan_id"],
    }
    assert best_of(matcher, contact) != other


def test_quality_on_a_list_with_ids_of_other_systems(
    matcher: LinkageMatcher, voters: VoterFile
) -> None:
    contacts = sample_contacts(voters, 2_000, seed=11)
    truth = contacts.pop("true_voterbase_id")
    rng = np.random.default_rng(3)
    foreign = rng.random(len(contacts)) < 0.5
    # Half the rows carry a number of another system's and no date of birth; a third of
    # those numbers are another voter's VAN id in the same state.
    ids = rng.integers(10**7, 10**8, len(contacts)).astype(str).astype(object)
    same_state = voters.people.groupby("state")["smartvan_id"].first()
    collide = foreign & (rng.random(len(contacts)) < 1 / 3) & contacts["state"].notna()
    ids[collide] = same_state.reindex(contacts.loc[collide, "state"]).to_numpy(object)
    contacts["smartvan_id"] = np.where(foreign, ids, None)
    contacts.loc[foreign, ["dob", "age"]] = None
    found = matcher.match(contacts, max_matches=1)
    got = pd.Series(voters.people["voterbase_id"].to_numpy(object)[found.person], index=found.row)
    got = got.reindex(range(len(contacts)))
    right = int((got == truth).sum())
    precision = right / max(int(got.notna().sum()), 1)
    recall = right / max(int(truth.notna().sum()), 1)
    assert precision >= 0.99
    assert recall >= 0.93
