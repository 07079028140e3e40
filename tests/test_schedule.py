"""The poll schedule and a job's waits, on a manual clock: no sockets, no sleeps.

The rate limit's logic (one poll per interval, a slot held while a poll is out,
Retry-After, giving up after refusals or failures in a row, timeouts, the webhook's
fallback poll) runs here in no time against a scripted client. The end-to-end
versions in test_jobs.py and test_faults.py prove the same against the local service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import cast

import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.clock import ManualClock
from smartmatch_pandas.job.handle import Job
from smartmatch_pandas.job.schedule import GRACE, PollSchedule
from smartmatch_pandas.job.waiting import WEBHOOK_CHECK_EVERY
from smartmatch_pandas.options import MatchOptions
from smartmatch_pandas.wire.http import PollResult, SmartMatchClient
from smartmatch_pandas.wire.retry import MAX_POLL_FAILURES, MAX_REFUSED_POLLS
from smartmatch_pandas.wire.secrets import SecretURL

INTERVAL = 30.0
JOB = "job-1"
LANE = ("api.example.test", "key-fingerprint")

#: One poll's answer: ready, not yet, or an error to raise.
Answer = bool | Exception


class ScriptedClient:
    """A stand-in for the HTTP client whose polls answer from a script, on a manual clock.

    Each poll is recorded at the clock's time, then takes ``latency`` seconds of it.
    After the script runs out, every poll answers "not ready".
    """

    host = LANE[0]

    def __init__(self, clock: ManualClock, script: list[Answer], latency: float = 0.0) -> None:
        self.clock = clock
        self.script: Iterator[Answer] = iter(script)
        self.latency = latency
        self.polled_at: list[float] = []
        self.during_poll: Callable[[], None] | None = None

    def poll(self, filename: str) -> PollResult:
        self.polled_at.append(self.clock.monotonic())
        if self.during_poll is not None:
            self.during_poll()
        self.clock.advance(self.latency)
        answer = next(self.script, False)
        if isinstance(answer, Exception):
            raise answer
        return PollResult(SecretURL("https://storage.example.test/deliverable") if answer else None)

    def key_fingerprint(self, salt: bytes) -> str:
        return LANE[1]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever waits here must wait on the manual clock."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s for real")

    monkeypatch.setattr(time, "sleep", refuse)


def job_on(clock: ManualClock, client: ScriptedClient, *, filename: str = JOB) -> Job:
    """A job polled through ``client`` on a schedule of its own, timed by ``clock``."""
    return Job(
        cast(SmartMatchClient, client),
        filename,
        options=MatchOptions(),
        mapping=None,
        rows=10,
        poll_interval=INTERVAL,
        schedule=PollSchedule(clock),
    )


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(times)]


# -- the schedule -----------------------------------------------------------------------------


def test_a_job_never_polled_is_due_at_once(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    assert schedule.delay(LANE, JOB) == 0.0
    assert schedule.claim(LANE, JOB)


def test_a_claimed_slot_is_held_until_the_answer_is_recorded(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    assert schedule.claim(LANE, JOB)
    clock.advance(10 * INTERVAL)  # however long the answer takes
    assert schedule.delay(LANE, JOB) == math.inf
    assert not schedule.claim(LANE, JOB)
    schedule.record(LANE, JOB, INTERVAL)
    assert schedule.delay(LANE, JOB) == INTERVAL  # counted from the answer, not the request
    clock.advance(INTERVAL - 0.001)
    assert not schedule.claim(LANE, JOB)
    clock.advance(0.001)
    assert schedule.claim(LANE, JOB)


def test_the_jobs_under_one_key_share_one_poll(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    assert schedule.claim(LANE, JOB)
    assert not schedule.claim(LANE, "job-2")  # the key's poll is out
    schedule.record(LANE, JOB, INTERVAL)
    assert not schedule.claim(LANE, "job-2")  # and the next is an interval away
    assert schedule.delay(LANE, "job-2") == INTERVAL
    assert schedule.claim(("elsewhere.example.test", LANE[1]), JOB)  # another service
    assert schedule.claim((LANE[0], "another-key"), JOB)  # another key


def test_waiting_jobs_take_turns_longest_waiting_first(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    jobs = ["job-a", "job-b", "job-c"]
    for name in jobs:  # they begin to wait a moment apart, c last
        schedule.delay(LANE, name)
        schedule.claim(LANE, name) and schedule.record(LANE, name, INTERVAL)
        clock.advance(1.0)
    order = []
    for _ in range(9):
        clock.advance(INTERVAL)
        # Every job asks, in an order that would favour c: only the one whose turn it is wins.
        winners = [name for name in reversed(jobs) if schedule.claim(LANE, name)]
        assert len(winners) == 1, winners
        order.append(winners[0])
        schedule.record(LANE, winners[0], INTERVAL)
    assert order == ["job-a", "job-b", "job-c"] * 3  # a, polled longest ago, first


def test_a_job_asking_when_its_turn_comes_is_queued(clock: ManualClock) -> None:
    # Waiting jobs ask delay() before they claim: asking must queue them, or the first
    # job to claim would keep the key to itself.
    schedule = PollSchedule(clock)
    for name in ("job-a", "job-b", "job-c"):
        assert schedule.delay(LANE, name) == 0.0 or name != "job-a"
    polled = []
    for _ in range(6):
        ready = [name for name in ("job-a", "job-b", "job-c") if schedule.delay(LANE, name) == 0]
        assert len(ready) == 1, ready
        assert schedule.claim(LANE, ready[0])
        polled.append(ready[0])
        schedule.record(LANE, ready[0], INTERVAL)
        clock.advance(INTERVAL)
    assert polled == ["job-a", "job-b", "job-c"] * 2


def test_a_job_that_stops_asking_is_passed_over(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    assert schedule.claim(LANE, "job-b")
    assert not schedule.claim(LANE, "job-gone")  # it queues behind b's poll, then goes away
    schedule.record(LANE, "job-b", INTERVAL, done=True)
    clock.advance(INTERVAL)
    assert not schedule.claim(LANE, "job-late")  # job-gone's turn first
    for _ in range(int(GRACE)):  # job-late keeps asking; job-gone never comes
        clock.advance(1.0)
        assert schedule.delay(LANE, "job-late") > 0
    clock.advance(1.0)
    assert schedule.delay(LANE, "job-late") == 0.0
    assert schedule.claim(LANE, "job-late")


def test_a_status_refresh_polls_only_when_nobody_waits(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    assert schedule.claim(LANE, "waiting-a")
    schedule.record(LANE, "waiting-a", INTERVAL)
    clock.advance(INTERVAL)
    assert not schedule.claim(LANE, "refreshed", queue=False)  # a waits for its turn
    assert schedule.delay(LANE, "refreshed") > 0
    schedule.leave(LANE, "waiting-a")
    assert schedule.claim(LANE, "refreshed", queue=False)  # nobody waits: it may
    schedule.record(LANE, "refreshed", INTERVAL, done=True)
    clock.advance(INTERVAL)
    assert schedule.claim(LANE, "waiting-b")  # a refresh never queued: b's turn at once


def test_a_slot_given_back_with_no_wait_is_free_again(clock: ManualClock) -> None:
    schedule = PollSchedule(clock)
    assert schedule.claim(LANE, JOB)
    schedule.pause(LANE, 0.0)
    assert schedule.claim(LANE, JOB)


def test_a_429_pauses_every_job_under_the_key(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [sm.RateLimitError("too soon", retry_after=300)])
    first, second = job_on(clock, client), job_on(clock, client, filename="job-2")
    second.schedule = first.schedule
    first.status()
    assert client.polled_at == [1_000.0]
    clock.advance(299)
    assert second.status().polls == 0  # the key is paused, whichever job asks
    assert first.status().polls == 1
    clock.advance(1)
    # One poll when the pause ends: the turn of the job polled longest ago.
    assert first.status().polls + second.status().polls == 2
    assert client.polled_at == [1_000.0, 1_300.0]


def test_jobs_on_one_schedule_poll_one_interval_apart_in_turn(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [])
    jobs = [job_on(clock, client, filename=f"job_{n}") for n in range(3)]
    for job in jobs[1:]:
        job.schedule = jobs[0].schedule
    polled: list[str] = []
    original = client.poll

    def poll(filename: str) -> PollResult:
        polled.append(filename)
        return original(filename)

    client.poll = poll  # type: ignore[method-assign]
    for _ in range(6):
        # All ask (as their threads would, at once); the one whose turn it is polls.
        granted = [job for job in jobs if job._claim()]
        assert len(granted) == 1
        granted[0]._poll_once()
        clock.advance(INTERVAL)
    assert polled == ["job_0", "job_1", "job_2"] * 2
    assert gaps(client.polled_at) == [INTERVAL] * 5


# -- waiting by polling -----------------------------------------------------------------------


def test_polls_come_one_interval_apart_until_ready(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [False, False, False, True], latency=2.0)
    job = job_on(clock, client)
    job.wait(progress=False)
    assert job.state == "ready"
    assert job.status().polls == 4
    # The interval counts from each answer: the request after it is a full interval later.
    assert gaps(client.polled_at) == [2.0 + INTERVAL] * 3


def test_status_between_polls_does_not_poll(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [False, True])
    job = job_on(clock, client)
    assert job.status().polls == 1
    clock.advance(INTERVAL - 1)
    assert job.status() == sm.JobStatus("uploaded", 1)
    clock.advance(1)
    assert job.status() == sm.JobStatus("ready", 2)
    assert gaps(client.polled_at) == [INTERVAL]


def test_a_poll_slower_than_the_interval_holds_its_slot(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [False, True], latency=4 * INTERVAL)
    job = job_on(clock, client)
    twin = job_on(clock, client)  # the same job, another handle, on the same schedule
    twin.schedule = job.schedule
    seen: list[sm.JobStatus] = []
    client.during_poll = lambda: seen.append(twin.status())
    job.wait(progress=False)
    # While a poll was out, every other asker got the last status and polled nothing.
    assert [status.polls for status in seen] == [0, 0]
    assert gaps(client.polled_at) == [4 * INTERVAL + INTERVAL]


def test_a_429_waits_the_retry_after_asked(clock: ManualClock) -> None:
    refused = sm.RateLimitError("too soon", retry_after=3 * INTERVAL)
    client = ScriptedClient(clock, [refused, True])
    job = job_on(clock, client)
    job.wait(progress=False)
    assert job.state == "ready"
    assert gaps(client.polled_at) == [3 * INTERVAL]


def test_a_429_without_retry_after_waits_the_interval(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [sm.RateLimitError("too soon"), True])
    job_on(clock, client).wait(progress=False)
    assert gaps(client.polled_at) == [INTERVAL]


def test_a_short_retry_after_never_shortens_the_interval(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [sm.RateLimitError("too soon", retry_after=1.0), True])
    job_on(clock, client).wait(progress=False)
    assert gaps(client.polled_at) == [INTERVAL]


def test_refusals_in_a_row_end_the_wait(clock: ManualClock) -> None:
    refusals: list[Answer] = [sm.RateLimitError("too soon")] * MAX_POLL_FAILURES
    client = ScriptedClient(clock, refusals)
    with pytest.raises(sm.RateLimitError, match=f"refused {MAX_POLL_FAILURES} polls in a row"):
        job_on(clock, client).wait(progress=False)
    assert len(client.polled_at) == MAX_POLL_FAILURES
    assert gaps(client.polled_at) == [INTERVAL] * (MAX_POLL_FAILURES - 1)


def test_an_answer_between_refusals_starts_the_count_again(clock: ManualClock) -> None:
    refused = sm.RateLimitError("too soon")
    script: list[Answer] = [*[refused] * (MAX_POLL_FAILURES - 1), False]
    client = ScriptedClient(clock, [*script, *[refused] * (MAX_POLL_FAILURES - 1), True])
    job = job_on(clock, client)
    job.wait(progress=False)
    assert job.state == "ready"


def test_server_errors_poll_again_after_the_interval(clock: ManualClock) -> None:
    failing = sm.ServiceError("HTTP 503", status=503)
    client = ScriptedClient(clock, [failing, sm.TransportError("reset"), True])
    job = job_on(clock, client)
    job.wait(progress=False)
    assert job.state == "ready"
    assert gaps(client.polled_at) == [INTERVAL, INTERVAL]


def test_server_errors_in_a_row_end_the_wait(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [sm.ServiceError("HTTP 503", status=503)] * 20)
    with pytest.raises(sm.ServiceError, match="HTTP 503") as caught:
        job_on(clock, client).wait(progress=False)
    assert "pick SmartMatch job 'job-1' up again" in str(caught.value)
    assert len(client.polled_at) == MAX_POLL_FAILURES


def test_a_client_error_ends_the_wait_at_once(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [sm.AuthorizationError("HTTP 403", status=403)])
    with pytest.raises(sm.AuthorizationError):
        job_on(clock, client).wait(progress=False)
    assert len(client.polled_at) == 1


def test_a_failed_job_is_not_polled_again(clock: ManualClock) -> None:
    failed = sm.JobFailedError("failed", service_message="Internal Error")
    client = ScriptedClient(clock, [failed])
    job = job_on(clock, client)
    with pytest.raises(sm.JobFailedError):
        job.wait(progress=False)
    assert job.state == "failed"
    with pytest.raises(sm.JobFailedError, match="failed at the service: Internal Error"):
        job.wait(progress=False)
    assert len(client.polled_at) == 1


# -- time limits --------------------------------------------------------------------------------


def test_the_timeout_ends_the_wait_when_the_next_poll_would_miss_it(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [])
    job = job_on(clock, client)
    started = clock.monotonic()
    with pytest.raises(sm.JobTimeoutError, match=r"not ready within the timeout \(4 polls\)"):
        job.wait(timeout=3.5 * INTERVAL, progress=False)
    assert clock.monotonic() - started == pytest.approx(3.5 * INTERVAL)
    assert gaps(client.polled_at) == [INTERVAL] * 3
    assert job.state == "uploaded"  # it goes on at the service


def test_a_zero_timeout_polls_once(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [])
    with pytest.raises(sm.JobTimeoutError, match=r"\(1 polls\)"):
        job_on(clock, client).wait(timeout=0, progress=False)


def test_a_job_ready_at_the_last_poll_before_the_timeout_is_not_timed_out(
    clock: ManualClock,
) -> None:
    client = ScriptedClient(clock, [False, False, True])
    job = job_on(clock, client)
    job.wait(timeout=2 * INTERVAL + 1, progress=False)
    assert job.state == "ready"


def test_a_delivery_from_elsewhere_ends_the_wait_ready(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [])
    job = job_on(clock, client)
    url = SecretURL("https://storage.example.test/deliverable")
    client.during_poll = lambda: job.deliver(url) if len(client.polled_at) == 2 else None
    job.wait(timeout=10 * INTERVAL, progress=False)
    assert job.state == "ready"
    assert len(client.polled_at) == 2


# -- waiting for a webhook --------------------------------------------------------------------


def test_a_lost_webhook_falls_back_to_a_poll(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [True])
    job = job_on(clock, client)
    job.channel = "webhook"
    started = clock.monotonic()
    job.wait(progress=False)
    assert job.state == "ready"
    assert client.polled_at == [started + WEBHOOK_CHECK_EVERY * INTERVAL]


def test_waiting_for_a_webhook_times_out_without_polling(clock: ManualClock) -> None:
    client = ScriptedClient(clock, [True])
    job = job_on(clock, client)
    job.channel = "webhook"
    with pytest.raises(sm.JobTimeoutError):
        job.wait(timeout=5 * INTERVAL, progress=False)
    assert client.polled_at == []


def test_a_webhook_that_keeps_not_coming_is_checked_every_few_intervals(
    clock: ManualClock,
) -> None:
    client = ScriptedClient(clock, [False, sm.TransportError("reset"), True])
    job = job_on(clock, client)
    job.channel = "webhook"
    job.wait(progress=False)
    assert gaps(client.polled_at) == [WEBHOOK_CHECK_EVERY * INTERVAL] * 2


def _refused() -> sm.UnreachableError:
    return sm.UnreachableError(
        "could not connect to the SmartMatch service at api.example.test: the connection was "
        "refused (nothing listens at that port)",
        host="api.example.test",
        not_running=True,
    )


def test_a_service_not_running_ends_the_wait_at_the_second_refused_poll(
    clock: ManualClock,
) -> None:
    client = ScriptedClient(clock, [_refused()] * 20)
    with pytest.raises(sm.UnreachableError, match="the service is not running") as caught:
        job_on(clock, client).wait(progress=False)
    assert len(client.polled_at) == MAX_REFUSED_POLLS  # not the ten of other failures
    assert gaps(client.polled_at) == [INTERVAL] * (MAX_REFUSED_POLLS - 1)  # past a blip
    assert caught.value.filename == JOB  # the job is kept, and said how to resume
    assert "pick SmartMatch job 'job-1' up again" in str(caught.value)


def test_one_refused_poll_is_a_blip_that_the_next_answer_forgets(clock: ManualClock) -> None:
    script: list[Answer] = [_refused(), False, _refused(), False, _refused(), True]
    job = job_on(clock, client := ScriptedClient(clock, script))
    job.wait(progress=False)
    assert job.state == "ready"
    assert len(client.polled_at) == 6


def test_a_service_that_cannot_be_reached_keeps_the_longer_budget(clock: ManualClock) -> None:
    timeout = sm.UnreachableError("connecting timed out", host="api.example.test")
    client = ScriptedClient(clock, [timeout] * 20)
    with pytest.raises(sm.UnreachableError, match="timed out"):
        job_on(clock, client).wait(progress=False)
    assert len(client.polled_at) == MAX_POLL_FAILURES


def test_a_webhook_wait_ends_when_its_checks_find_the_service_not_running(
    clock: ManualClock,
) -> None:
    client = ScriptedClient(clock, [_refused(), False, _refused(), _refused(), True])
    job = job_on(clock, client)
    job.channel = "webhook"
    with pytest.raises(sm.UnreachableError, match="no webhook will come from it") as caught:
        job.wait(progress=False)
    assert len(client.polled_at) == 4  # a refusal between answers is let pass
    assert caught.value.filename == JOB
