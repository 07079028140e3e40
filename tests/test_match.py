"""``df.smartmatch.match()`` end to end against the local service over real sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.deliverable import TEXT_DTYPE
from smartmatch_pandas.local import LocalService

from .conftest import violations


def assert_merged_exactly(original: pd.DataFrame, enriched: pd.DataFrame) -> None:
    """Same rows, order, index, columns and dtypes, then the appended columns as text."""
    n = len(original.columns)
    pd.testing.assert_frame_equal(enriched.iloc[:, :n], original)
    appended = enriched.iloc[:, n:]
    # In the order seen in the wild: the row numbers, the match code, the voterbase id.
    assert list(appended.columns[:4]) == [
        "ts__input_row",
        "ts__row",
        "tsmart_match_code",
        "vb.voterbase_id",
    ]
    assert all(dtype == TEXT_DTYPE for dtype in appended.dtypes)


@pytest.mark.parametrize("format", ["csv", "zip", "gzip"])
@pytest.mark.parametrize("max_matches", [1, 3])
def test_every_format_and_max_matches(
    contacts: pd.DataFrame, settings: dict[str, Any], format: str, max_matches: int
) -> None:
    enriched = contacts.smartmatch.match(format=format, max_matches=max_matches, **settings)
    assert_merged_exactly(contacts, enriched)
    matched = enriched["tsmart_match_code"] == "Y"
    assert matched.mean() > 0.7
    assert enriched.loc[matched, "vb.voterbase_id"].str.fullmatch(r"[A-Z]{2}-\d{12}").all()


def test_matches_find_the_right_people(service: LocalService, settings: dict[str, Any]) -> None:
    people = service.voters.people.iloc[[5, 50, 500]]
    frame = people[["first_name", "last_name", "zip", "dob"]].reset_index(drop=True)
    enriched = frame.smartmatch.match(**settings)
    assert list(enriched["vb.voterbase_id"]) == list(people["voterbase_id"])


def test_all_matches_gives_every_candidate_best_first(
    contacts: pd.DataFrame, settings: dict[str, Any]
) -> None:
    frame = contacts.set_axis([f"c{i}" for i in range(len(contacts))])
    long = frame.smartmatch.match(max_matches=3, all_matches=True, **settings)
    best = frame.smartmatch.match(max_matches=3, **settings)
    assert set(long.index) == set(frame.index)
    assert long["match_rank"].between(1, 3).all()
    assert (
        long.groupby(level=0)["match_rank"]
        .apply(lambda r: list(r) == list(range(1, len(r) + 1)))
        .all()
    )
    assert (long.groupby(level=0).size() > 1).any()
    firsts = long[long["match_rank"] == 1].drop(columns="match_rank")
    pd.testing.assert_frame_equal(firsts, best)
    order = [frame.index.get_loc(label) for label in long.index]
    assert order == sorted(order)


def test_all_matches_of_an_earlier_all_matches_result_names_its_rank_apart(
    contacts: pd.DataFrame, settings: dict[str, Any]
) -> None:
    earlier = contacts.head(20).smartmatch.match(max_matches=3, all_matches=True, **settings)
    with pytest.warns(sm.SmartMatchWarning, match="'match_rank_2'"):
        again = earlier.smartmatch.match(max_matches=3, all_matches=True, **settings)
    assert list(again.columns[: len(earlier.columns)]) == list(earlier.columns)
    assert again.columns[len(earlier.columns)] == "match_rank_2"
    assert again["match_rank_2"].between(1, 3).all()
    firsts = again[again["match_rank_2"] == 1]
    assert list(firsts["match_rank"]) == list(earlier["match_rank"])
    assert again.attrs["smartmatch"]["rank"] == "match_rank_2"


def test_additional_candidates_differ_from_the_best(
    contacts: pd.DataFrame, service: LocalService
) -> None:
    job = sm.submit(contacts, max_matches=3, **service.settings, progress=False)
    result = job.wait(progress=False).result()
    extra = result.additional
    assert len(extra) > 0
    best_ids = result.frame["vb.voterbase_id"].reindex(extra.index)
    assert (extra["vb.voterbase_id"].to_numpy() != best_ids.to_numpy()).all()
    assert set(extra["match_rank"]) <= {2, 3}


INDEXES = {
    "range": lambda n: pd.RangeIndex(n),
    "shuffled ints": lambda n: pd.Index(np.random.default_rng(1).permutation(n) * 7),
    "strings": lambda n: pd.Index([f"row-{i}" for i in range(n)]),
    "duplicates": lambda n: pd.Index([i // 3 for i in range(n)]),
    "multiindex": lambda n: pd.MultiIndex.from_arrays([[i % 4 for i in range(n)], list(range(n))]),
    "datetimes": lambda n: pd.date_range("2024-01-01", periods=n, freq="h"),
}


@pytest.mark.parametrize("kind", list(INDEXES))
def test_index_kinds_survive(kind: str, contacts: pd.DataFrame, settings: dict[str, Any]) -> None:
    frame = contacts.set_axis(INDEXES[kind](len(contacts)))
    enriched = frame.smartmatch.match(**settings)
    assert_merged_exactly(frame, enriched)


def test_shuffled_rows_keep_their_own_results(
    contacts: pd.DataFrame, settings: dict[str, Any]
) -> None:
    straight = contacts.smartmatch.match(**settings)
    shuffled = contacts.sample(frac=1, random_state=3)
    enriched = shuffled.smartmatch.match(**settings)
    # ts__input_row is the row's place in the upload: the one column a shuffle changes.
    row_numbers = ["ts__input_row", "ts__row"]
    assert enriched["ts__input_row"].tolist() == [str(n) for n in range(1, len(enriched) + 1)]
    pd.testing.assert_frame_equal(
        enriched.drop(columns=row_numbers), straight.loc[shuffled.index].drop(columns=row_numbers)
    )


def test_dtypes_survive(service: LocalService, settings: dict[str, Any]) -> None:
    people = service.voters.people.iloc[:40].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "first_name": people["first_name"].astype("string[pyarrow]"),
            "last_name": people["last_name"].astype("category"),
            "zip": people["zip"],
            "age": people["age"].astype(int).astype("Int64"),
            "score": pd.array([1.5, None] * 20, dtype="Float64"),
            "signed_up": pd.date_range("2020-01-01", periods=40, freq="D", tz="US/Eastern"),
            "flag": pd.array([True, None] * 20, dtype="boolean"),
            "arrow_int": pd.Series(range(40), dtype="int64[pyarrow]"),
            "plain_float": np.linspace(0, 1, 40),
            "objects": [None, 1, "a", 2.5] * 10,
        }
    )
    frame.loc[3, "age"] = pd.NA
    frame.columns.name = "fields"
    frame.attrs["source"] = {"crm": "export of May"}
    enriched = frame.smartmatch.match(**settings)
    assert_merged_exactly(frame, enriched)
    assert (enriched["tsmart_match_code"] == "Y").mean() > 0.8
    # The frame's own metadata too: the columns' name and the user's attrs.
    assert enriched.columns.name == "fields"
    assert enriched.attrs["source"] == {"crm": "export of May"}
    assert "smartmatch" in enriched.attrs
    assert "smartmatch" not in frame.attrs


def test_the_result_shares_no_memory_with_the_frame(
    service: LocalService, settings: dict[str, Any]
) -> None:
    people = service.voters.people.iloc[:20].reset_index(drop=True)
    frame = people[["first_name", "last_name", "zip"]].assign(score=np.linspace(0, 1, 20))
    kept = frame.copy()
    enriched = frame.smartmatch.match(**settings)
    enriched.loc[0, "score"] = 99.0  # the user edits the result ...
    frame.loc[1, "score"] = -1.0  # ... and their list
    assert kept.loc[0, "score"] == frame.loc[0, "score"]
    assert enriched.loc[1, "score"] == kept.loc[1, "score"]


def test_zip_codes_keep_leading_zeros(service: LocalService, settings: dict[str, Any]) -> None:
    people = service.voters.people
    boston = people[people["zip"].str.startswith("0")].iloc[:20].reset_index(drop=True)
    frame = boston[["first_name", "last_name", "zip", "dob"]]
    enriched = frame.smartmatch.match(**settings)
    assert enriched["zip"].tolist() == boston["zip"].tolist()
    assert enriched["vb.tsmart_zip"].str.startswith("0").all()
    assert (enriched["vb.voterbase_id"] == boston["voterbase_id"]).all()


def test_awkward_text_survives(service: LocalService, settings: dict[str, Any]) -> None:
    people = service.voters.people.iloc[:6].reset_index(drop=True)
    frame = people[["first_name", "last_name", "zip"]].copy()
    frame["note"] = [
        "accents: Zoë André",
        "emoji 🗳️",
        "comma, here",
        'quote " here',
        "new\nline",
        "",
    ]
    frame.loc[1, "last_name"] = frame.loc[1, "last_name"] + " "  # a stray space
    frame.loc[4, "first_name"] = 'O"Brien,\nJr'
    enriched = frame.smartmatch.match(**settings)
    assert_merged_exactly(frame, enriched)


def test_users_own_matchback_id_is_left_untouched(
    contacts: pd.DataFrame, settings: dict[str, Any]
) -> None:
    frame = contacts.assign(matchback_id=[f"crm-{i}" for i in range(len(contacts))])
    enriched = frame.smartmatch.match(**settings)
    assert_merged_exactly(frame, enriched)
    assert enriched["matchback_id"].tolist() == frame["matchback_id"].tolist()
    assert "matchback_id_2" not in enriched.columns


def test_only_identifier_columns_are_uploaded(fresh_service: LocalService) -> None:
    frame = pd.DataFrame(
        {
            "first_name": ["Ann"],
            "last_name": ["Lee"],
            "secret_note": ["do not send"],
            "zip": ["02134"],
        }
    )
    job = sm.submit(frame, **fresh_service.settings, progress=False)
    stored = fresh_service.service.store.get(f"uploads/{job.filename}")
    assert stored.decode() == 'first_name,last_name,zip,matchback_id\n"Ann","Lee","02134","0"\n'
    job.wait(progress=False)


def test_missing_values_are_sent_empty(fresh_service: LocalService) -> None:
    frame = pd.DataFrame(
        {
            "first_name": ["Ann", None, pd.NA, np.nan],
            "dob": pd.to_datetime(["1970-01-02", None, "1980-03-04", None]),
            "age": pd.array([40, None, 50, None], dtype="Int64"),
        }
    )
    job = sm.submit(frame, **fresh_service.settings, progress=False)
    stored = fresh_service.service.store.get(f"uploads/{job.filename}").decode()
    assert stored.splitlines() == [
        "first_name,dob,age,matchback_id",
        '"Ann","19700102","40","0"',
        ',,,"1"',
        ',"19800304","50","2"',
        ',,,"3"',
    ]


def test_columns_maps_other_names(service: LocalService, settings: dict[str, Any]) -> None:
    people = service.voters.people.iloc[:5]
    frame = pd.DataFrame(
        {
            "First": people["first_name"].to_numpy(),
            "Surname": people["last_name"].to_numpy(),
            "Postcode": people["zip"].to_numpy(),
        }
    )
    enriched = frame.smartmatch.match(
        columns={"First": "first_name", "Surname": "last_name", "Postcode": "zip"}, **settings
    )
    assert (enriched["vb.voterbase_id"].to_numpy() == people["voterbase_id"].to_numpy()).all()


def test_the_rate_limit_is_never_broken(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 1.2  # several polls before the job is ready
    frame = fresh_service.voters.people.iloc[:20][["first_name", "last_name", "zip"]]
    frame.smartmatch.match(**fresh_service.settings, progress=False)
    assert fresh_service.stats["polls"] >= 4
    assert violations(fresh_service) == 0
    assert fresh_service.stats.get("storage_requests_with_api_key", 0) == 0


def test_one_line_summary_and_filename_are_shown(
    contacts: pd.DataFrame, service: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts.smartmatch.match(**service.settings, progress=True, filename="shown_job")
    out = capsys.readouterr().out
    assert "SmartMatch job shown_job: 200 rows" in out
    assert "SmartMatch: 200 rows sent," in out
    assert "matched (" in out


def test_the_summary_and_filename_come_with_the_frame(
    contacts: pd.DataFrame, settings: dict[str, Any], tmp_path: Path
) -> None:
    enriched = contacts.smartmatch.match(max_matches=2, format="zip", **settings)
    info = enriched.attrs["smartmatch"]
    assert info["filename"].startswith("sm_")
    assert info["rows"] == len(contacts)
    assert info["matched"] == (enriched["tsmart_match_code"] == "Y").sum()
    assert "rows in: 200" in info["report"]
    enriched.to_parquet(tmp_path / "enriched.parquet")  # pandas writes attrs as JSON
    assert pd.read_parquet(tmp_path / "enriched.parquet").attrs == json.loads(
        json.dumps(enriched.attrs)
    )


def test_progress_can_be_a_callable(contacts: pd.DataFrame, service: LocalService) -> None:
    events: list[sm.ProgressEvent] = []
    contacts.smartmatch.match(**service.settings, progress=events.append)
    stages = [e.stage for e in events]
    for stage in [
        "preparing",
        "registering",
        "uploading",
        "waiting",
        "downloading",
        "merging",
        "done",
    ]:
        assert stage in stages
    uploaded = [e for e in events if e.stage == "uploading"][-1]
    assert uploaded.total
    assert uploaded.done == uploaded.total


def test_environment_variables_configure_the_client(
    contacts: pd.DataFrame, service: LocalService
) -> None:
    service.activate()
    try:
        enriched = contacts.smartmatch.match(progress=False)
    finally:
        service.deactivate()
    assert len(enriched) == len(contacts)
