"""The wire's one retry policy: backoffs, the cap, Retry-After, transient failures.

Every wait goes through the injectable clock, so these run without sleeping.
"""

from __future__ import annotations

import pytest
from urllib3.response import HTTPResponse

from smartmatch_pandas import clock as clocks
from smartmatch_pandas.clock import ManualClock
from smartmatch_pandas.errors import (
    AuthorizationError,
    ServiceError,
    StorageError,
    TransportError,
)
from smartmatch_pandas.wire import retry


@pytest.fixture
def manual(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    clock = ManualClock()
    monkeypatch.setattr(clocks, "CLOCK", clock)
    return clock


def test_backoff_doubles_with_jitter_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BACKOFF_FACTOR", 0.5)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, retry.BACKOFF_MAX)]:
        waits = [retry.backoff(attempt) for _ in range(50)]
        assert all(base <= w <= base + 0.5 for w in waits), (attempt, waits)
        assert len(set(waits)) > 1  # jittered, so clients do not retry in step


def test_pause_waits_on_the_clock(manual: ManualClock) -> None:
    retry.pause(1)
    retry.pause(2)
    assert len(manual.sleeps) == 2
    assert manual.sleeps[1] >= retry.BACKOFF_FACTOR * 2
    other = ManualClock()
    retry.pause(3, other)  # a clock given is used instead
    assert len(other.sleeps) == 1
    assert len(manual.sleeps) == 2


def test_retry_after_header() -> None:
    assert retry.retry_after("3") == 3.0
    assert retry.retry_after("-1") == 0.0
    # An HTTP date: the seconds until it (none once past); a text that is neither, nothing.
    date, minute_before = "Wed, 21 Oct 2015 07:28:00 GMT", 1445412420.0
    assert retry.retry_after(date, now=minute_before) == 60.0
    assert retry.retry_after(date) == 0.0
    assert retry.retry_after("Wed, 99 Foo 2015 07:28:00 GMT") is None
    assert retry.retry_after("soon") is None
    assert retry.retry_after(None) is None
    assert retry.retry_after("nan") is None
    assert retry.retry_after("1e400") is None


@pytest.mark.parametrize("header", ["nan", "-5", "1e400", "soon"])
def test_an_unreadable_retry_after_asks_for_nothing(header: str) -> None:
    # urllib3 would fail the request as unreachable; the backoff applies instead.
    assert retry.http_retry(status=True, reads=False).parse_retry_after(header) == 0.0


def test_which_failures_are_transient() -> None:
    assert retry.is_transient(TransportError("connection reset"))
    assert retry.is_transient(ServiceError("bad gateway", status=502))
    assert not retry.is_transient(ServiceError("bad request", status=400))
    assert not retry.is_transient(AuthorizationError("Authorization Error", status=403))
    assert retry.is_expired_url(StorageError("expired", status=403))
    assert not retry.is_expired_url(StorageError("gone", status=404))
    assert not retry.is_expired_url(AuthorizationError("Authorization Error", status=403))


def _answer(status: int, retry_after: str | None = None) -> HTTPResponse:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return HTTPResponse(body=b"", headers=headers, status=status)


def test_http_retries_wait_on_the_clock(manual: ManualClock) -> None:
    policy = retry.http_retry(status=True, reads=True)
    policy = policy.increment("GET", "/", response=_answer(503, "7"))
    policy.sleep(_answer(503, "7"))
    assert manual.sleeps == [7.0]  # the Retry-After asked for
    policy = policy.increment("GET", "/", response=_answer(503))
    policy.sleep(_answer(503))
    assert len(manual.sleeps) == 2  # then the backoff, on the clock too


def test_a_long_retry_after_goes_back_to_the_caller(manual: ManualClock) -> None:
    from urllib3.exceptions import MaxRetryError

    policy = retry.http_retry(status=True, reads=True)
    too_long = f"{retry.MAX_RETRY_AFTER + 1:g}"
    with pytest.raises(MaxRetryError, match="Retry-After"):
        policy.increment("GET", "/", response=_answer(429, too_long))
    assert manual.sleeps == []


def test_polls_are_not_retried_on_status() -> None:
    policy = retry.http_retry(status=False, reads=False)
    assert policy.status == 0
    assert policy.read == 0
    assert policy.connect == retry.CONNECT_RETRIES
