"""Every fault the local service injects, and what the client makes of it.

For each: the client recovers by itself (retrying where the request is safe
to repeat), or stops with an error that names what happened and the job,
says how to resume it, and the job is then resumed to prove it. No fault may
lose a job, hang, or merge wrongly without a word. Each test registers the
row of docs/reliability.md it proves (:func:`proves`).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
import requests

import smartmatch_pandas as sm
import smartmatch_pandas.wire.http as client_module
from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import Fault, LocalService, sample_contacts
from smartmatch_pandas.wire.webhook import WebhookReceiver

from . import doc_tables

# A wait that outlives this is the hang the faults must never cause.
pytestmark = pytest.mark.timeout(90)

POLL = 0.1
#: (fault, outcome, test) rows of the table in docs/reliability.md.
ROWS: list[tuple[str, str, str]] = []
_F = TypeVar("_F", bound=Callable[..., Any])


def proves(fault: str, outcome: str) -> Callable[[_F], _F]:
    """Record that the decorated test proves ``outcome`` for ``fault``."""

    def register(test: _F) -> _F:
        ROWS.append((fault, outcome, test.__name__))
        return test

    return register


def table() -> str:
    """The faults table of docs/reliability.md."""
    rows = [(f"`{fault}`", outcome, f"`{test}`") for fault, outcome, test in ROWS]
    return doc_tables.markdown(["fault (`serve --fault`)", "what the client does", "test"], rows)


# -- the service, the data, and the answer a fault-free run gives ---------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[LocalService]:
    # Each test has a job store of its own, so the key's poll budget (kept in the store)
    # starts afresh while the module's service remembers the last test's poll: the limit
    # is per filename here. The per-key budget is proved in test_fidelity.
    with LocalService(poll_interval=POLL, voters=20_000, seed=0, poll_scope="filename") as service:
        yield service


@pytest.fixture
def faulty(running: LocalService) -> Iterator[LocalService]:
    """The module's service, its faults cleared before and after the test."""
    running.faults.clear()
    running.config.delay = 0.0
    yield running
    running.faults.clear()
    running.config.delay = 0.0


@pytest.fixture(autouse=True)
def _short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads time out in 2 s, not 120 s, so that slow answers are met in a test's time."""
    monkeypatch.setattr(client_module, "TIMEOUT", (2.0, 2.0))


@pytest.fixture(scope="module")
def frame(running: LocalService) -> pd.DataFrame:
    contacts = sample_contacts(running.voters, 12, seed=5).drop(columns="true_voterbase_id")
    return contacts.set_index(pd.Index([f"r{i}" for i in range(12)], name="key"))


@pytest.fixture(scope="module")
def expected(
    running: LocalService, frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    """What match() gives without any fault."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARTMATCH_HOME", str(tmp_path_factory.mktemp("clean-home")))
        return sm.match(frame, **running.settings, progress=False, cache=False)


def match(service: LocalService, frame: pd.DataFrame, **options: Any) -> pd.DataFrame:
    return sm.match(frame, **{**service.settings, "progress": False, **options})


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def fired(service: LocalService, kind: str | None = None) -> int:
    return service.faults.count(kind)


def stopped(
    service: LocalService,
    error: sm.SmartMatchError,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    *,
    says: str,
) -> None:
    """The error names the job, what happened and how to resume; then the job is resumed."""
    text = str(error)
    filename = error.filename
    assert filename, text
    assert filename in text
    assert says in text, text
    assert f"smartmatch_pandas.resume({filename!r}, df)" in text, text
    record = JobStore().load(filename)
    assert record is not None, "the job was lost"
    assert record.pending, record.state
    service.faults.clear()
    result = sm.resume(filename, frame, api_key=service.api_key, progress=False)
    same(result.frame, expected)


# -- registration -----------------------------------------------------------------------------


@proves("register:status=500|502|503|504,times=2", "retries with backoff and jitter; completes")
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_register_server_errors_are_retried(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, status: int
) -> None:
    faulty.inject(Fault.status_code(status, "register", times=2))
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2


@proves("register:status=429,times=2", "retries with backoff (the request was refused, not done)")
def test_register_429_is_retried(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("register:status=429,times=2")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2


@proves("register:status=429,retry_after=1", "waits the Retry-After asked, then completes")
def test_register_429_with_retry_after_waits_as_asked(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("register:status=429,retry_after=1")
    start = time.monotonic()
    same(match(faulty, frame), expected)
    assert time.monotonic() - start >= 1.0


@proves(
    "register:status=429,retry_after=600",
    "RateLimitError: the service asks to wait 600 s (above MAX_RETRY_AFTER, not slept "
    "through); nothing was registered, and a rerun then completes",
)
def test_register_429_asking_a_long_wait_is_reported(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("register:status=429,retry_after=600")
    start = time.monotonic()
    with pytest.raises(sm.RateLimitError, match="asks to wait 600 s") as caught:
        match(faulty, frame)
    assert time.monotonic() - start < 10
    assert not caught.value.resumable  # refused: named in words, not offered to resume
    assert "was not registered" in str(caught.value)
    assert caught.value.retry_after == 600
    assert sm.jobs().empty  # refused: there is no job to lose
    same(match(faulty, frame), expected)


@proves(
    "register:status=503,times=always",
    "ServiceError after 5 retries: the job may be registered but is not uploaded; "
    "resume(filename, df) registers and uploads it",
)
def test_register_failing_for_good_leaves_a_job_to_resume(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.status_code(503, "register", times=None))
    with pytest.raises(sm.ServiceError) as caught:
        match(faulty, frame)
    assert JobStore().load(caught.value.filename).state == "registered"  # type: ignore[union-attr]
    stopped(faulty, caught.value, frame, expected, says="not uploaded")


@proves(
    "register:status=403",
    "AuthorizationError naming the job: use the local service's key; nothing was registered, "
    "so nothing is offered to resume",
)
def test_register_403_is_an_authorization_error(faulty: LocalService, frame: pd.DataFrame) -> None:
    faulty.inject("register:status=403")
    with pytest.raises(sm.AuthorizationError, match="use the key it was started with") as caught:
        match(faulty, frame)
    assert re.search(r"job 'sm_\w+' was not registered", str(caught.value))
    assert caught.value.filename is None
    assert not caught.value.resumable
    assert sm.jobs().empty


@proves("register:drop,times=2", "the answer broke off: registers again (allowed before upload)")
def test_register_dropped_answers_are_asked_again(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("register:drop,times=2")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2


@proves(
    "register:drop,times=always",
    "TransportError after 3 attempts, naming the job; resume(filename, df) uploads it",
)
def test_register_dropped_for_good_leaves_a_job_to_resume(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.drop("register", times=None))
    with pytest.raises(sm.TransportError, match="broke off") as caught:
        match(faulty, frame)
    stopped(faulty, caught.value, frame, expected, says="not uploaded")


@proves("register:delay=0.5", "waits; completes")
def test_register_slow_answer_is_waited_for(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("register:delay=0.5")
    same(match(faulty, frame), expected)


@proves(
    "register:delay=5,times=always",
    "each attempt times out after the read timeout; TransportError naming the job, resumable",
)
def test_register_that_never_answers_in_time(
    faulty: LocalService,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "TIMEOUT", (1.0, 0.5))
    faulty.inject(Fault.delay(5, "register", times=None))
    start = time.monotonic()
    with pytest.raises(sm.TransportError, match="timed out") as caught:
        match(faulty, frame)
    assert time.monotonic() - start < 15
    stopped(faulty, caught.value, frame, expected, says="not uploaded")


@proves(
    "register:trickle=50,times=always",
    "the answer lags behind MIN_TRANSFER_RATE: given up after a read timeout's grace "
    "(3 attempts); TransportError naming the job, resumable",
)
def test_register_trickled_answer_is_given_up_in_time(
    faulty: LocalService,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "TIMEOUT", (1.0, 1.0))
    faulty.inject(Fault.trickle(50, "register", times=None))
    start = time.monotonic()
    with pytest.raises(sm.TransportError, match="too slowly") as caught:
        match(faulty, frame)
    assert time.monotonic() - start < 12  # a trickled answer of ~700 bytes takes 14 s each
    stopped(faulty, caught.value, frame, expected, says="not uploaded")


# -- polling ----------------------------------------------------------------------------------


@proves(
    "poll:status=500|502|503|504,times=3",
    "polls again after the interval (not sooner); completes",
)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_poll_server_errors_poll_again(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, status: int
) -> None:
    faulty.inject(Fault.status_code(status, "poll", times=3))
    same(match(faulty, frame), expected)
    assert fired(faulty) == 3
    assert faulty.stats.get("rate_limit_violations", 0) == 0


@proves(
    "poll:status=503,times=always",
    "ServiceError after 10 failed polls in a row, naming the job; resumable (was: the "
    "job was marked failed)",
)
def test_poll_failing_for_good_stops_resumable(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.status_code(503, "poll", times=None))
    with pytest.raises(sm.ServiceError, match="HTTP 503") as caught:
        match(faulty, frame)
    assert not isinstance(caught.value, sm.JobFailedError)
    assert fired(faulty) == 10
    stopped(faulty, caught.value, frame, expected, says="Internal Error")


@proves("poll:status=429,times=3", "waits a full interval each time; completes")
def test_poll_429_waits_the_interval(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("poll:status=429,times=3")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 3


@proves("poll:status=429,retry_after=1", "waits the Retry-After asked; completes")
def test_poll_429_with_retry_after_waits_as_asked(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("poll:status=429,retry_after=1")
    start = time.monotonic()
    same(match(faulty, frame), expected)
    assert time.monotonic() - start >= 1.0


@proves(
    "poll:status=429,times=always",
    "RateLimitError after 10 refusals in a row, naming the job; resumable (was: polled for ever)",
)
def test_poll_refused_for_good_stops_resumable(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.status_code(429, "poll", times=None))
    with pytest.raises(sm.RateLimitError, match="refused 10 polls in a row") as caught:
        match(faulty, frame)
    stopped(faulty, caught.value, frame, expected, says="sooner")


@proves(
    "poll:status=403", "AuthorizationError naming the job: use the local service's key; resumable"
)
def test_poll_403_stops_resumable(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("poll:status=403")
    with pytest.raises(sm.AuthorizationError) as caught:
        match(faulty, frame)
    stopped(faulty, caught.value, frame, expected, says="use the key it was started with")


@proves("poll:drop,times=2", "counted as a failed poll; polls again after the interval")
def test_poll_dropped_answers_poll_again(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("poll:drop,times=2")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2
    assert faulty.stats.get("rate_limit_violations", 0) == 0


@proves(
    "poll:delay=3 / poll:trickle=20",
    "the answer times out, or lags and is given up: a failed poll; polls again; completes",
)
@pytest.mark.parametrize("fault", ["poll:delay=3", "poll:trickle=20"])
def test_poll_too_slow_polls_again(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, fault: str
) -> None:
    faulty.inject(fault)
    start = time.monotonic()
    same(match(faulty, frame), expected)
    assert fired(faulty) == 1
    assert time.monotonic() - start < 8


@proves(
    "poll:never_ready",
    "JobTimeoutError at the timeout, naming the job and the resume call; resumable",
)
def test_poll_never_ready_times_out_resumable(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.never_ready())
    with pytest.raises(sm.JobTimeoutError, match="not ready within the timeout") as caught:
        match(faulty, frame, timeout=1.0)
    assert fired(faulty) >= 3
    stopped(faulty, caught.value, frame, expected, says="goes on at the service")


# -- upload -----------------------------------------------------------------------------------


@proves(
    "upload:status=429|500|502|503|504,times=2",
    "retries the PUT (the body is rewound) with backoff; completes",
)
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_upload_errors_are_retried(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, status: int
) -> None:
    uploads = faulty.stats.get("uploads", 0)
    faulty.inject(Fault.status_code(status, "upload", times=2))
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2
    assert faulty.stats["uploads"] == uploads + 1


@proves(
    "upload:status=503,times=always",
    "StorageError: registered but not uploaded, naming the job; resume(filename, df) "
    "registers again and uploads",
)
def test_upload_failing_for_good_leaves_a_job_to_resume(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.status_code(503, "upload", times=None))
    with pytest.raises(sm.StorageError, match="HTTP 503") as caught:
        match(faulty, frame)
    assert JobStore().load(caught.value.filename).state == "registered"  # type: ignore[union-attr]
    stopped(faulty, caught.value, frame, expected, says="not uploaded")


@proves(
    "upload:status=403 / upload:expired",
    "the upload URL was refused or had expired: registers again for a fresh one; completes",
)
@pytest.mark.parametrize("fault", ["upload:status=403", "upload:expired"])
def test_upload_refused_url_is_renewed(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, fault: str
) -> None:
    registrations = faulty.stats.get("registrations", 0)
    faulty.inject(fault)
    same(match(faulty, frame), expected)
    assert faulty.stats["registrations"] == registrations + 2
    if fault.endswith("expired"):
        assert faulty.stats["storage_errors"] >= 1


@proves(
    "upload:status=403,times=2",
    "StorageError (AccessDenied) after one renewal, naming the job; resumable",
)
def test_upload_refused_twice_leaves_a_job_to_resume(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("upload:status=403,times=2")
    with pytest.raises(sm.StorageError, match="AccessDenied") as caught:
        match(faulty, frame)
    stopped(faulty, caught.value, frame, expected, says="not uploaded")


@proves("upload:drop,times=2", "the PUT is sent again from the start; completes")
def test_upload_dropped_is_sent_again(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("upload:drop,times=2")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2


@proves("upload:delay=0.5", "waits; completes")
def test_upload_slow_answer_is_waited_for(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("upload:delay=0.5")
    same(match(faulty, frame), expected)


# -- download ---------------------------------------------------------------------------------


@proves(
    "download:status=429|500|502|503|504,times=2",
    "retries the GET with backoff; completes",
)
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_download_errors_are_retried(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, status: int
) -> None:
    faulty.inject(Fault.status_code(status, "download", times=2))
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2


@proves(
    "download:status=503,times=always",
    "StorageError naming the job; resumable (the resumed job polls for a fresh URL)",
)
def test_download_failing_for_good_stops_resumable(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.status_code(503, "download", times=None))
    with pytest.raises(sm.StorageError, match="HTTP 503") as caught:
        match(faulty, frame)
    stopped(faulty, caught.value, frame, expected, says="storage refused the download")


@proves(
    "download:status=403,times=2 / download:expired,times=2",
    "the download URL was refused or had expired: polls for a fresh one (up to 3 times); completes",
)
@pytest.mark.parametrize("fault", ["download:status=403,times=2", "download:expired,times=2"])
def test_download_refused_url_is_renewed(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame, fault: str
) -> None:
    faulty.inject(fault)
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2
    assert faulty.stats.get("rate_limit_violations", 0) == 0


@proves("download:drop,times=2", "the body broke off: downloaded again; completes")
def test_download_dropped_is_fetched_again(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("download:drop,times=2")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 2


@proves(
    "download:drop,times=always",
    "TransportError after 3 attempts, naming the job; resumable",
)
def test_download_dropped_for_good_stops_resumable(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.drop("download", times=None))
    with pytest.raises(sm.TransportError, match="broke off 3 times") as caught:
        match(faulty, frame)
    stopped(faulty, caught.value, frame, expected, says="download")


@proves(
    "download:trickle=2048",
    "a slow body that keeps up with MIN_TRANSFER_RATE after the grace is taken whole",
)
def test_download_slow_but_steady_completes(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("download:trickle=2048")
    same(match(faulty, frame), expected)
    assert fired(faulty) == 1


@proves(
    "download:trickle=100,times=always",
    "given up once it lags a read timeout behind MIN_TRANSFER_RATE (3 attempts); "
    "TransportError naming the job, resumable",
)
def test_download_trickle_is_given_up_in_time(
    faulty: LocalService,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "TIMEOUT", (1.0, 1.0))
    faulty.inject(Fault.trickle(100, "download", times=None))
    start = time.monotonic()
    with pytest.raises(sm.TransportError, match="too slowly") as caught:
        match(faulty, frame)
    assert time.monotonic() - start < 12
    stopped(faulty, caught.value, frame, expected, says="download")


@proves("download:delay=3", "the read times out; the GET is retried; completes")
def test_download_slow_answer_is_retried(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject("download:delay=3")
    same(match(faulty, frame), expected)


@proves(
    "download:truncated / download:corrupt (csv, zip, gzip)",
    "DeliverableError naming the job: corrupt, truncated or not valid CSV; nothing is "
    "cached; resume(filename, df) downloads it again",
)
@pytest.mark.parametrize("fault", ["download:truncated", "download:corrupt"])
@pytest.mark.parametrize("format", ["csv", "zip", "gzip"])
def test_damaged_deliverable_is_refused_and_fetched_again(
    faulty: LocalService,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    fault: str,
    format: str,
    store_home: Path,
) -> None:
    faulty.inject(fault)
    with pytest.raises(sm.DeliverableError) as caught:
        match(faulty, frame, format=format)
    assert not list((store_home / "results").iterdir())
    stopped(faulty, caught.value, frame, expected, says="download it again")


def test_a_damaged_deliverable_of_a_file_match_is_refused_and_fetched_again(
    faulty: LocalService, frame: pd.DataFrame, store_home: Path, tmp_path: Path
) -> None:
    from smartmatch_pandas.verbs.large_files import match_file, resume_file

    given, written = tmp_path / "list.parquet", tmp_path / "out.parquet"
    frame.to_parquet(given)
    faulty.inject("download:corrupt")
    with pytest.raises(sm.DeliverableError) as caught:
        match_file(given, written, **faulty.settings, progress=False)
    filename = caught.value.filename
    assert filename
    assert "download it again" in str(caught.value)
    assert "smartmatch_pandas.resume(" in str(caught.value)
    assert not written.exists()
    assert not list((store_home / "results").iterdir())
    record = JobStore().load(filename)
    assert record is not None
    assert record.pending, record.state
    faulty.faults.clear()
    assert resume_file(filename, given, written, api_key=faulty.api_key, progress=False).written
    assert len(pd.read_parquet(written)) == len(frame)


# -- the job and its deliverable ------------------------------------------------------------


@proves(
    "job:fail=Internal Error: disk full",
    "JobFailedError with the service's message, naming the job; recorded as failed "
    "and never polled again",
)
def test_failed_job_is_reported_and_recorded(faulty: LocalService, frame: pd.DataFrame) -> None:
    faulty.inject(Fault.fail("Internal Error: disk full"))
    with pytest.raises(sm.JobFailedError, match="Internal Error: disk full") as caught:
        match(faulty, frame)
    filename = caught.value.filename
    assert filename in str(caught.value)
    assert caught.value.service_message == "Internal Error: disk full"
    record = JobStore().load(filename)  # type: ignore[arg-type]
    assert record is not None
    assert (record.state, record.error) == ("failed", "Internal Error: disk full")
    polls = faulty.stats["polls"]
    with pytest.raises(sm.JobFailedError):
        sm.resume(filename, frame, api_key=faulty.api_key, progress=False)  # type: ignore[arg-type]
    assert faulty.stats["polls"] == polls


@proves(
    "job:missing_rows=3",
    "SmartMatchWarning: 3 of 12 rows are missing, naming the first rows; their appended "
    "columns are empty, every other row is as without the fault; summary.missing == 3",
)
def test_missing_rows_are_reported_never_guessed(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.missing_rows(3))
    with pytest.warns(sm.SmartMatchWarning, match=r"3 of 12 rows are missing .*'r0'"):
        got = match(faulty, frame)
    assert got.attrs["smartmatch"]["missing"] == 3
    appended = list(expected.columns[len(frame.columns) :])
    empty = got[appended].isna().all(axis=1)
    assert empty.sum() == 3
    same(got[~empty], expected[~empty])
    same(got[frame.columns.tolist()], frame)


@proves(
    "job:unknown_ids=2",
    "SmartMatchWarning: 2 rows carry a matchback_id never sent and are left out; the "
    "merge is as without the fault; summary.unknown == 2",
)
def test_unknown_ids_are_reported_and_left_out(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.unknown_ids(2))
    with pytest.warns(sm.SmartMatchWarning, match="2 rows of the deliverable .* never sent"):
        got = match(faulty, frame)
    assert got.attrs["smartmatch"]["unknown"] == 2
    same(got, expected)


# -- webhooks ---------------------------------------------------------------------------------


@proves(
    "webhook:lost",
    "the job is polled once every 20 poll intervals all the same: completes (was: "
    "waited for ever); with a timeout, JobTimeoutError, resumable",
)
def test_lost_webhook_falls_back_to_a_poll(
    faulty: LocalService,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fallback's timing is proven on a manual clock (test_schedule.py); here, that it
    # reaches the service, after a few intervals rather than the usual twenty.
    check_every = 5
    monkeypatch.setattr("smartmatch_pandas.job.waiting.WEBHOOK_CHECK_EVERY", check_every)
    faulty.inject(Fault.no_webhook(times=2))
    with WebhookReceiver() as receiver:
        with pytest.raises(sm.JobTimeoutError) as caught:
            match(faulty, frame, webhook=receiver, timeout=0.5)
        stopped(faulty, caught.value, frame, expected, says="goes on")
        faulty.inject(Fault.no_webhook())
        polls = faulty.stats.get("polls", 0)
        start = time.monotonic()
        same(match(faulty, frame, webhook=receiver, cache=False), expected)
    assert time.monotonic() - start >= check_every * POLL
    assert faulty.stats["polls"] > polls
    assert faulty.stats["webhooks_lost"] >= 2


@proves("webhook:twice", "the second callback is ignored; one download; completes")
def test_webhook_twice_is_harmless(
    faulty: LocalService, frame: pd.DataFrame, expected: pd.DataFrame
) -> None:
    faulty.inject(Fault.webhook_twice())
    downloads = faulty.stats.get("downloads", 0)
    with WebhookReceiver() as receiver:
        same(match(faulty, frame, webhook=receiver), expected)
        deadline = time.monotonic() + 5
        while receiver.stats["accepted"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.stats["accepted"] == 2
    assert faulty.stats["downloads"] == downloads + 1


# -- time limits everywhere --------------------------------------------------------------------


def test_every_socket_wait_has_a_time_limit(
    faulty: LocalService,
    frame: pd.DataFrame,
    expected: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No blocking read, write or connect in the process (client, service, webhook) lacks one."""
    unbounded: list[tuple[str, str]] = []
    checked = 0

    def bounded(name: str) -> Callable[..., Any]:
        original = getattr(socket.socket, name)

        def call(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            nonlocal checked
            checked += 1
            if self.getblocking() and self.gettimeout() is None:
                unbounded.append((name, threading.current_thread().name))
            return original(self, *args, **kwargs)

        return call

    for name in ("recv", "recv_into", "send", "sendall", "connect"):
        monkeypatch.setattr(socket.socket, name, bounded(name))
    same(match(faulty, frame, cache=False), expected)
    faulty.inject(Fault.webhook_twice())
    with WebhookReceiver() as receiver:
        same(match(faulty, frame, webhook=receiver, cache=False), expected)
    assert checked > 20
    assert unbounded == []


# -- the fault API itself, and the table ------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "poll:status=503,times=2",
        "register:status=429,retry_after=2",
        "register:status=200,body=<html>hi</html>,content_type=text/html",
        "download:trickle=512",
        "upload:expired,times=always",
        "poll:never_ready",
        "poll:never_ready,times=3",
        "job:fail=Internal Error: disk full, again,filename=job_1",
        "job:missing_rows=2",
        "download:truncated=0.25",
        "webhook:twice",
        "register:delay=1.5",
    ],
)
def test_a_fault_reads_back_from_its_text(spec: str) -> None:
    fault = Fault.parse(spec)
    assert str(fault) == spec
    assert Fault.parse(str(fault)) == fault


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("poll", "must look like"),
        ("poll:explode", "unknown kind"),
        ("nowhere:status=500", "unknown endpoint"),
        ("job:status=500", "applies to 'register' or 'poll' or 'upload' or 'download'"),
        ("poll:status=abc", "not a number"),
        ("poll:status=700", "out of range"),
        ("poll:drop,times=0", "positive count"),
        ("poll:drop=3", "takes no value"),
        ("poll:drop,colour=red", "must look like|unknown"),
    ],
)
def test_a_malformed_fault_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.parse(spec)


def test_faults_are_matched_by_endpoint_and_filename_and_counted(faulty: LocalService) -> None:
    faulty.inject(Fault.status_code(500, "poll", filename="not_this_one", times=None))
    faulty.inject(Fault.delay(0, "register", times=2))
    assert [str(f) for f in faulty.faults.active] == [
        "poll:status=500,times=always,filename=not_this_one",
        "register:delay=0,times=2",
    ]
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    match(faulty, frame, cache=False)
    assert [str(f) for f in faulty.faults.active] == [
        "poll:status=500,times=always,filename=not_this_one",
        "register:delay=0",
    ]
    assert faulty.faults.fired[0].fault.kind == "delay"
    assert faulty.faults.count("status") == 0


@pytest.mark.slow  # a service of its own in a subprocess: 3-5 s
@pytest.mark.subprocess
def test_serve_injects_the_faults_it_is_given() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "SMARTMATCH_"))}
    command = [sys.executable, "-m", "smartmatch_pandas.cli", "serve", "--port", "0"]
    command += ["--voters", "5000", "--fault", "register:status=503,times=always"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=clean)
    assert process.stdout is not None
    try:
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("# serving"):
                break
        assert "# injecting the fault register:status=503,times=always\n" in printed
        env = dict(
            line.removeprefix("export ").strip().partition("=")[::2]
            for line in printed
            if line.startswith("export ")
        )
        answer = requests.get(
            env["SMARTMATCH_BASE_URL"] + "service/smartmatch",
            params={"filename": "f"},
            headers={"x-api-key": env["TS_API_KEY"]},
            timeout=10,
        )
        assert answer.status_code == 503
        assert answer.json()["error"].startswith("Internal Error (injected fault")
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_serve_refuses_a_malformed_fault() -> None:
    from smartmatch_pandas import cli

    with pytest.raises(SystemExit, match="--fault: fault 'poll:explode'"):
        cli.main(["serve", "--fault", "poll:explode", "--voters", "100"])


def test_every_fault_kind_and_status_is_proven() -> None:
    from smartmatch_pandas.local.faults import KINDS

    shown = " ".join(fault for fault, _, _ in ROWS)
    names = {"lost": "webhook:lost", "twice": "webhook:twice"}
    for kind in KINDS:
        assert names.get(kind, kind) in shown, kind
    for status in ("500", "502", "503", "504", "429", "retry_after", "403"):
        assert status in shown


def test_the_docs_table_is_current() -> None:
    doc_tables.check("faults", table())
