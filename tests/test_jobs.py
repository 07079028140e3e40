"""Jobs in one process: submit, wait, result, the cache, resume, interrupts of the wait."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.preparation.normalize import read_as_missing

from .conftest import POLL, violations


def frame_of(service: LocalService, rows: int = 40, seed: int = 5) -> pd.DataFrame:
    return sample_contacts(service.voters, rows, seed=seed).drop(columns="true_voterbase_id")


def requests_seen(service: LocalService) -> dict[str, int]:
    stats = service.stats
    return {k: stats.get(k, 0) for k in ("registrations", "uploads", "polls", "downloads")}


# -- submit, wait, result ------------------------------------------------------------


def test_submit_returns_once_uploaded_without_waiting(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 30.0  # the job cannot be ready before the test ends
    job = sm.submit(frame_of(fresh_service), **fresh_service.settings, progress=False)
    assert job.state == "uploaded"
    assert requests_seen(fresh_service) == {
        "registrations": 1,
        "uploads": 1,
        "polls": 0,
        "downloads": 0,
    }
    assert job.status().state == "uploaded"
    assert fresh_service.stats["polls"] == 1
    listed = sm.jobs()
    assert listed.loc[0, "filename"] == job.filename
    assert listed.loc[0, "state"] == "uploaded"


def test_result_holds_frame_additional_summary_and_files(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service)
    job = sm.submit(frame, max_matches=3, format="zip", **fresh_service.settings, progress=False)
    result = job.wait(progress=False).result()
    assert isinstance(result, sm.MatchResult)
    pd.testing.assert_frame_equal(result.frame.iloc[:, : frame.shape[1]], frame)
    assert (result.additional["match_rank"] >= 2).all()
    assert result.summary.rows == len(frame)
    assert "rows matched" in (result.summary.report or "")
    assert any(name.endswith(".csv") for name in result.files)
    assert not result.from_cache
    assert sm.jobs().loc[0, "state"] == "downloaded"


def test_the_job_is_recorded_before_its_upload(fresh_service: LocalService) -> None:
    seen: list[str] = []

    def on_progress(event: sm.ProgressEvent) -> None:
        if event.stage == "uploading" and not seen:
            listed = sm.jobs()
            seen.append(f"{len(listed)} {listed.loc[0, 'state']}")
            assert fresh_service.stats.get("uploads", 0) == 0

    sm.submit(frame_of(fresh_service), **fresh_service.settings, progress=on_progress)
    assert seen == ["1 registered"]


def test_a_refused_registration_leaves_no_record(fresh_service: LocalService) -> None:
    settings = {**fresh_service.settings, "api_key": "not-the-key"}
    with pytest.raises(sm.AuthorizationError):
        sm.submit(frame_of(fresh_service), **settings, progress=False)
    assert sm.jobs().empty


def test_a_filename_of_an_unfinished_job_is_not_reused(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 30.0
    sm.submit(frame_of(fresh_service), filename="mine", **fresh_service.settings, progress=False)
    other = frame_of(fresh_service, seed=9)
    with pytest.raises(sm.OptionError, match=r"has not finished.*resume"):
        sm.submit(other, filename="mine", **fresh_service.settings, progress=False)
    assert fresh_service.stats["registrations"] == 1


# -- several jobs at once --------------------------------------------------------------


def test_ten_jobs_wait_in_parallel_within_the_rate_limit(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 4 * POLL  # several polls each
    people = frame_of(fresh_service, rows=100)
    frames = [people.iloc[i * 10 : (i + 1) * 10] for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda f: sm.match(f, **fresh_service.settings), frames))
    assert [len(r) for r in results] == [10] * 10
    stats = fresh_service.stats
    assert stats["registrations"] == 10
    assert stats["polls"] >= 10  # one poll of the key at a time, each job in turn
    assert violations(fresh_service) == 0


def test_jobs_waited_one_after_another_and_polled_by_threads(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 4 * POLL
    people = frame_of(fresh_service, rows=30)
    jobs = [
        sm.submit(people.iloc[i * 10 : (i + 1) * 10], **fresh_service.settings, progress=False)
        for i in range(3)
    ]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            for job in jobs:
                job.status()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for job in jobs:
            job.wait(progress=False)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert all(len(job.result().frame) == 10 for job in jobs)
    assert violations(fresh_service) == 0


def test_a_poll_slower_than_the_interval_holds_its_slot_until_answered(
    fresh_service: LocalService,
) -> None:
    # Each poll takes four intervals to answer: the slot must not lapse while it is out.
    fresh_service.config.delay = 30.0
    fresh_service.inject(f"poll:delay={4 * POLL:g},times=always")
    job = sm.submit(frame_of(fresh_service), **fresh_service.settings, progress=False)
    until = time.monotonic() + 8 * POLL

    def keep_asking(_: int) -> set[str]:
        states = set()
        while time.monotonic() < until:
            states.add(job.status().state)
        return states

    with ThreadPoolExecutor(4) as pool:
        states = set().union(*pool.map(keep_asking, range(4)))
    assert states == {"uploaded"}
    assert fresh_service.stats["polls"] >= 2
    assert violations(fresh_service) == 0


def test_a_claim_the_job_store_fails_leaves_the_slot_free(
    fresh_service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_service.config.delay = 30.0
    job = sm.submit(frame_of(fresh_service), **fresh_service.settings, progress=False)

    def unreadable(*args: Any, **kwargs: Any) -> float:
        raise ValueError("the record is not JSON")

    with monkeypatch.context() as patched:
        patched.setattr(sm.job.store.JobStore, "take_poll_turn", unreadable)
        with pytest.raises(ValueError, match="not JSON"):
            job.status()
    assert job.status().polls == 1  # polled at once: nothing was holding its slot
    assert fresh_service.stats["polls"] == 1


# -- the result cache ---------------------------------------------------------------------


def test_a_rerun_returns_the_cached_result_without_a_request(
    fresh_service: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = frame_of(fresh_service)
    first = frame.smartmatch.match(max_matches=2, **fresh_service.settings, progress=False)
    seen = requests_seen(fresh_service)
    again = frame.smartmatch.match(max_matches=2, **fresh_service.settings, progress=True)
    assert requests_seen(fresh_service) == seen
    pd.testing.assert_frame_equal(again, first)
    assert "using that result, with no request to the service" in capsys.readouterr().out
    job = sm.submit(frame, max_matches=2, **fresh_service.settings, progress=False)
    assert job.from_cache
    assert job.result().from_cache
    assert requests_seen(fresh_service) == seen


def test_a_filename_given_is_that_job_never_another_of_the_same_data(
    fresh_service: LocalService,
) -> None:
    fresh_service.config.delay = 30.0
    frame = frame_of(fresh_service)
    east = sm.submit(frame, filename="east_walk", **fresh_service.settings, progress=False)
    west = sm.submit(frame, filename="west_walk", **fresh_service.settings, progress=False)
    unnamed = sm.submit(frame, **fresh_service.settings, progress=False)
    assert (east.filename, west.filename) == ("east_walk", "west_walk")
    assert unnamed.filename in {"east_walk", "west_walk"}  # a generated name: either answers
    assert fresh_service.stats["registrations"] == 2


def test_refresh_submits_anew(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service)
    first = sm.submit(frame, **fresh_service.settings, progress=False).wait(progress=False)
    first.result()
    refreshed = sm.submit(frame, refresh=True, **fresh_service.settings, progress=False)
    assert refreshed.filename != first.filename
    assert not refreshed.from_cache
    assert fresh_service.stats["registrations"] == 2
    pd.testing.assert_frame_equal(
        refreshed.wait(progress=False).result().frame, first.result().frame
    )


def test_other_options_or_data_are_not_served_from_the_cache(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service)
    frame.smartmatch.match(**fresh_service.settings, progress=False)
    frame.smartmatch.match(max_matches=2, **fresh_service.settings, progress=False)
    changed = frame.copy()
    changed.loc[changed.index[0], "last_name"] = "Different"
    changed.smartmatch.match(**fresh_service.settings, progress=False)
    # A column that is not uploaded does not change what is matched.
    frame.assign(note="x").smartmatch.match(**fresh_service.settings, progress=False)
    assert fresh_service.stats["registrations"] == 3


def test_cache_false_stores_nothing(fresh_service: LocalService, store_home: Path) -> None:
    frame = frame_of(fresh_service)
    frame.smartmatch.match(cache=False, **fresh_service.settings, progress=False)
    frame.smartmatch.match(cache=False, **fresh_service.settings, progress=False)
    assert fresh_service.stats["registrations"] == 2
    assert not list((store_home / "results").iterdir())
    assert not sm.jobs()["cached"].any()
    stored = b"".join(p.read_bytes() for p in store_home.rglob("*") if p.is_file())
    for value in frame["last_name"].tolist() + frame["email"].dropna().tolist():
        assert value.encode() not in stored


def test_clear_cache_removes_cached_results(fresh_service: LocalService, store_home: Path) -> None:
    frame = frame_of(fresh_service)
    frame.smartmatch.match(**fresh_service.settings, progress=False)
    assert sm.jobs()["cached"].all()
    cleared = sm.clear_cache()
    assert (cleared.results, cleared.jobs) == (1, 0)
    assert cleared.bytes > 0
    assert not list((store_home / "results").iterdir())
    assert sm.jobs().loc[0, "note"] == "done"
    frame.smartmatch.match(**fresh_service.settings, progress=False)
    assert fresh_service.stats["registrations"] == 2
    assert sm.clear_cache(jobs=True).jobs == 2
    assert sm.jobs().empty


def test_a_rerun_while_the_job_runs_picks_it_up(
    fresh_service: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_service.config.delay = 4 * POLL
    frame = frame_of(fresh_service)
    first = sm.submit(frame, **fresh_service.settings, progress=False)
    second = sm.submit(frame, **fresh_service.settings, progress=True)
    assert second.filename == first.filename
    assert "has not finished; picking it up rather than paying twice" in capsys.readouterr().out
    enriched = frame.smartmatch.match(**fresh_service.settings, progress=False)
    assert fresh_service.stats["registrations"] == 1
    pd.testing.assert_frame_equal(second.wait(progress=False).result().frame, enriched)
    assert violations(fresh_service) == 0


# -- resume ----------------------------------------------------------------------------------


def test_resume_with_the_frame_merges_back_as_match_would(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 4 * POLL
    frame = frame_of(fresh_service).set_axis([f"c{i}" for i in range(40)])
    job = sm.submit(frame, max_matches=3, cache=False, **fresh_service.settings, progress=False)
    result = sm.resume(job.filename, frame, api_key=fresh_service.api_key, progress=False)
    reference = frame.smartmatch.match(max_matches=3, **fresh_service.settings, progress=False)
    pd.testing.assert_frame_equal(result.frame, reference)
    assert fresh_service.stats["registrations"] == 2  # the reference: resume registered nothing
    assert violations(fresh_service) == 0


@pytest.mark.parametrize("invalid", ["keep", "blank"])
def test_resume_rebuilds_the_upload_with_the_jobs_own_invalid_policy(
    fresh_service: LocalService, invalid: str
) -> None:
    frame = frame_of(fresh_service)
    frame.loc[[2, 5], "zip"] = "not a zip"
    with pytest.warns(sm.SmartMatchWarning, match="invalid"):
        job = sm.submit(
            frame, invalid=invalid, cache=False, **fresh_service.settings, progress=False
        )
    assert sm.job.store.JobStore().load(job.filename).invalid == invalid  # type: ignore[union-attr]
    with pytest.warns(sm.SmartMatchWarning, match="invalid"):
        result = sm.resume(job.filename, frame, api_key=fresh_service.api_key, progress=False)
    assert len(result.frame) == len(frame)


def test_resume_without_the_frame_gives_the_uploaded_columns(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service).set_axis([f"c{i}" for i in range(40)])
    job = sm.submit(frame, max_matches=2, **fresh_service.settings, progress=False)
    enriched = job.wait(progress=False).result().frame
    sm.clear_cache()
    result = sm.resume(job.filename, api_key=fresh_service.api_key, progress=False)
    sent = job.mapping.identifiers if job.mapping else []
    assert list(result.frame.columns) == sent + list(enriched.columns[frame.shape[1] :])
    pd.testing.assert_index_equal(result.frame.index, pd.RangeIndex(len(frame)))
    appended = enriched.iloc[:, frame.shape[1] :].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.frame[appended.columns], appended)
    as_text = sm.prepare_frame(frame)[sent].astype("string").reset_index(drop=True)
    assert (result.frame[sent].astype("string").fillna("") == as_text.fillna("")).all().all()
    assert len(result.additional) > 0


def test_resume_with_another_frame_says_so(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service)
    job = sm.submit(frame, **fresh_service.settings, progress=False)
    key = {"api_key": fresh_service.api_key, "progress": False}
    with pytest.raises(
        sm.InputError, match=r"not the one submitted.*39 rows where the upload had 40"
    ):
        sm.resume(job.filename, frame.iloc[:-1], **key)
    changed = frame.copy()
    changed.iloc[3, 1] = "Someone"
    with pytest.raises(sm.InputError, match="other values, or its rows are in another order"):
        sm.resume(job.filename, changed, **key)
    with pytest.raises(sm.InputError, match="has no column 'zip'"):
        sm.resume(job.filename, frame.drop(columns="zip"), **key)
    # Columns that were not uploaded, or in another order, are no obstacle.
    same = frame[frame.columns[::-1]].assign(extra=1)
    result = sm.resume(job.filename, same, **key)
    assert list(result.frame.columns[: same.shape[1]]) == list(same.columns)


def test_resume_of_a_job_the_store_does_not_know(fresh_service: LocalService) -> None:
    job = sm.submit(frame_of(fresh_service), cache=False, **fresh_service.settings, progress=False)
    enriched = job.wait(progress=False).result().frame
    sm.clear_cache(jobs=True)
    key = {"api_key": fresh_service.api_key, "base_url": fresh_service.base_url}
    with pytest.raises(sm.InputError, match="no record of job"):
        sm.resume(job.filename, enriched, **key, progress=False)
    result = sm.resume(job.filename, **key, progress=False)
    assert result.frame["vb.voterbase_id"].tolist() == enriched["vb.voterbase_id"].tolist()
    with pytest.raises(sm.ValidationError, match="no job is registered"):
        sm.resume("never_submitted", **key, progress=False)
    # Fetched by name, each still waited its turn under the key's poll budget.
    assert violations(fresh_service) == 0


def test_resume_elsewhere_than_the_job_was_submitted_is_refused(
    fresh_service: LocalService,
) -> None:
    job = sm.submit(frame_of(fresh_service), **fresh_service.settings, progress=False)
    with pytest.raises(sm.OptionError, match=r"was submitted to http://127\.0\.0\.1"):
        sm.resume(job.filename, api_key="k", base_url="http://127.0.0.2:9/", progress=False)


@pytest.mark.network
def test_a_job_never_uploaded_is_shown_and_uploaded_on_resume() -> None:
    with LocalService(poll_interval=POLL, voters=20_000, max_upload_bytes=100) as service:
        frame = frame_of(service)
        with pytest.raises(sm.StorageError, match="registered but not uploaded") as caught:
            sm.submit(frame, **service.settings, progress=False)
        filename = caught.value.filename
        assert filename
        assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
        listed = sm.jobs()
        assert listed.loc[0, "state"] == "registered"
        assert "never uploaded" in listed.loc[0, "note"]
        with pytest.raises(sm.InputError, match=r"never uploaded.*pass the frame"):
            sm.resume(filename, api_key=service.api_key, progress=False)
        service.service.store.max_bytes = 10**9
        result = sm.resume(filename, frame, api_key=service.api_key, progress=False)
        assert result.filename == filename
        assert (service.stats["registrations"], service.stats["uploads"]) == (2, 1)


@pytest.mark.network
def test_a_rerun_uploads_a_job_that_was_never_uploaded() -> None:
    with LocalService(poll_interval=POLL, voters=20_000, max_upload_bytes=100) as service:
        frame = frame_of(service)
        with pytest.raises(sm.StorageError):
            sm.submit(frame, **service.settings, progress=False)
        service.service.store.max_bytes = 10**9
        enriched = frame.smartmatch.match(**service.settings, progress=False)
        assert len(enriched) == len(frame)
        assert (service.stats["registrations"], service.stats["uploads"]) == (2, 1)
        assert len(sm.jobs()) == 1


def test_an_upload_that_did_finish_is_waited_for(
    fresh_service: LocalService, store_home: Path
) -> None:
    frame = frame_of(fresh_service)
    job = sm.submit(frame, **fresh_service.settings, progress=False)
    # As if the process died between the upload and writing it down.
    path = store_home / "jobs" / f"{job.filename}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "state": "registered"}))
    key: dict[str, Any] = {"api_key": fresh_service.api_key, "progress": False}
    with pytest.raises(sm.ValidationError, match=r"reupload=False"):
        sm.resume(job.filename, frame, **key)
    result = sm.resume(job.filename, frame, reupload=False, **key)
    assert len(result.frame) == len(frame)
    assert fresh_service.stats["uploads"] == 1


class _BrokenMatcher:
    """A record-linkage engine that fails: the service then reports the job as failed."""

    def match(self, contacts: pd.DataFrame, max_matches: int) -> Any:
        raise RuntimeError("the engine broke")


@pytest.mark.network
def test_a_failed_job_is_recorded_and_not_polled_again() -> None:
    with LocalService(poll_interval=POLL, voters=20_000, matcher=_BrokenMatcher()) as service:
        job = sm.submit(frame_of(service), **service.settings, progress=False)
        with pytest.raises(sm.JobFailedError, match="Internal Error") as fresh:
            job.wait(progress=False)
        listed = sm.jobs()
        assert listed.loc[0, "state"] == "failed"
        assert "Internal Error" in listed.loc[0, "error"]
        polls = service.stats["polls"]
        with pytest.raises(sm.JobFailedError) as resumed:
            sm.resume(job.filename, api_key=service.api_key, progress=False)
        assert service.stats["polls"] == polls
    # One wording, whether the poll just said so or the record did (the guide quotes it);
    # the fresh one adds the gateway id of the answer that said so.
    assert fresh.value.message == resumed.value.message
    assert str(fresh.value).startswith(str(resumed.value))
    assert str(resumed.value).startswith(f"SmartMatch job {job.filename!r} failed at the service: ")


# -- time limits ------------------------------------------------------------------------------


def test_timeout_carries_the_filename_and_the_job_stays_resumable(
    fresh_service: LocalService,
) -> None:
    fresh_service.config.delay = 8 * POLL
    frame = frame_of(fresh_service)
    with pytest.raises(sm.JobTimeoutError) as caught:
        frame.smartmatch.match(timeout=2 * POLL, **fresh_service.settings, progress=False)
    filename = caught.value.filename
    assert filename
    assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
    assert sm.jobs().loc[0, "state"] == "uploaded"
    result = frame.smartmatch.resume(filename, api_key=fresh_service.api_key, progress=False)
    assert len(result.frame) == len(frame)
    assert fresh_service.stats["registrations"] == 1
    assert violations(fresh_service) == 0


def test_interrupting_the_wait_prints_the_resume_call(
    fresh_service: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_service.config.delay = 30.0
    job = sm.submit(frame_of(fresh_service), **fresh_service.settings, progress=False)

    def interrupt(event: sm.ProgressEvent) -> None:
        if event.stage == "waiting" and event.polls >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.wait(progress=interrupt)
    out = capsys.readouterr().err  # stdout is left to the data
    assert f"SmartMatch job {job.filename!r} goes on at the service" in out
    assert f"    smartmatch_pandas.resume({job.filename!r}, df)\n" in out
    assert sm.jobs().loc[0, "state"] == "uploaded"


def test_interrupting_the_download_prints_the_resume_call(
    fresh_service: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(event: sm.ProgressEvent) -> None:
        if event.stage == "downloading":
            raise KeyboardInterrupt  # Ctrl-C, which the service cannot send

    with pytest.raises(KeyboardInterrupt):
        sm.match(frame_of(fresh_service), **fresh_service.settings, progress=interrupt)
    filename = sm.jobs().loc[0, "filename"]
    err = capsys.readouterr().err
    assert f"SmartMatch job {filename!r} is done at the service" in err
    assert f"    smartmatch_pandas.resume({filename!r}, df)\n" in err
    assert err.count("Stopped") == 1


# -- progress ------------------------------------------------------------------------------------


def test_progress_shows_every_stage(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 6 * POLL
    events: list[sm.ProgressEvent] = []
    sm.match(frame_of(fresh_service), **fresh_service.settings, progress=events.append)
    stages = [e.stage for e in events if e.stage != "note"]
    order = ["preparing", "registering", "uploading", "waiting", "downloading", "merging", "done"]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == order
    uploads = [e for e in events if e.stage == "uploading"]
    assert uploads[-1].done == uploads[-1].total > 0
    waits = [e for e in events if e.stage == "waiting"]
    assert max(e.polls for e in waits) >= 3
    assert any(e.next_poll_in and 0 < e.next_poll_in <= POLL for e in waits)
    assert waits[-1].elapsed >= waits[0].elapsed
    assert waits[-1].elapsed > 0.5 * fresh_service.config.delay
    assert waits[-1].message == "ready"
    assert [e for e in events if e.stage == "downloading"][-1].done > 0
    notes = [e.message for e in events if e.stage == "note"]
    assert notes[0]
    assert notes[0].startswith("SmartMatch job sm_")
    kinds = [e.kind for e in events if e.stage == "note"]
    assert kinds[0] == "job"
    assert set(kinds) <= {"job", "cost", "info"}
    assert all(e.kind is None for e in events if e.stage != "note")


def test_the_bytes_of_a_cached_job_are_fetched_on_request(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service)
    first = sm.submit(frame, format="zip", **fresh_service.settings, progress=False)
    first.result()
    data = first.download()
    cached = sm.submit(frame, format="zip", **fresh_service.settings, progress=False)
    assert cached.from_cache
    assert cached.download() == data


def test_a_submitted_job_knows_which_rows_it_sent(fresh_service: LocalService) -> None:
    frame = frame_of(fresh_service)
    job = sm.submit(frame, **fresh_service.settings, progress=False)
    assert job.presence is not None
    assert job.mapping is not None
    assert set(job.presence) == set(job.mapping.identifiers)
    assert all(len(flags) == len(frame) for flags in job.presence.values())


def test_names_that_look_like_missing_values_come_back_as_sent(
    fresh_service: LocalService,
) -> None:
    # With the placeholder rule off, "null", "nan", "None" are names too: the service
    # echoes them, resume reads them back.
    frame = frame_of(fresh_service).head(8).copy()
    names = ["NA", "null", "nan", "N/A", "NaN", "#N/A", "None", "n/a"]
    frame["first_name"] = names
    assert sm.prepare_frame(frame)["first_name"].isna().tolist() == [False, *[True] * 7]
    previous = read_as_missing(())
    try:
        job = sm.submit(frame, **fresh_service.settings, progress=False, cache=False)
        job.wait(progress=False)
        result = sm.resume(job.filename, api_key=fresh_service.api_key, progress=False)
        sent = sm.prepare_frame(frame)["first_name"].tolist()
    finally:
        read_as_missing(previous)
    assert sent == names  # sent as they are...
    assert result.frame["first_name"].tolist() == names  # ...and read back so
