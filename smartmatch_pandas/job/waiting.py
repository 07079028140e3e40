"""Waiting for a job: polls within the rate limit, a webhook's call, the SFTP drop.

The poll endpoint allows one request every 30 seconds, read as one per API
key (:mod:`smartmatch_pandas.job.schedule` says why). Polls are scheduled by
one process-wide :class:`~smartmatch_pandas.job.schedule.PollSchedule`, so any
number of ``Job`` objects, threads, or ``status()`` calls under one key never
poll sooner than allowed, and the jobs waiting take turns, the longest waiting
first. A poll holds its slot until it is answered, however long that takes,
and the schedule counts from when the answer arrives, so the service sees the
full interval between two requests whatever the network's delays. Across
processes, the job store (:mod:`smartmatch_pandas.job.store`) holds the same
budget, so jobs resumed elsewhere, or waited on by several processes, keep the
limit too.

A job learns that it is done through a delivery channel: ``"poll"`` (the
default), ``"webhook"`` (a :class:`~smartmatch_pandas.wire.webhook.WebhookReceiver`
hands it the download URL) or ``"sftp"``. :meth:`Waiting.wait` picks the
channel's waiter; another channel plugs in as one more waiter.
:class:`Waiting` is the half of :class:`~smartmatch_pandas.job.handle.Job`
that does it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

from ..errors import (
    DiskError,
    InputError,
    JobFailedError,
    JobTimeoutError,
    OptionError,
    RateLimitError,
    ServiceError,
    SmartMatchError,
    StorageError,
    TransportError,
    UnreachableError,
    ValidationError,
)
from ..options import VIAS, Via
from ..progress import ProgressArg, Reporter, reporting
from ..wire.http import SERVICE_POLL_INTERVAL, SmartMatchClient, download_limit, is_real_service
from ..wire.retry import MAX_POLL_FAILURES, MAX_REFUSED_POLLS, is_transient
from ..wire.secrets import SecretURL
from .schedule import TURN_CHECK, PollSchedule
from .store import State
from .vetting import DeliverableCheck

if TYPE_CHECKING:
    import pandas as pd

    from ..clock import Clock
    from ..deliverable import Deliverable
    from ..files.spool import Spool
    from ..options import MatchOptions
    from ..wire.sftp import SFTPSettings
    from .schedule import Lane
    from .store import JobStore

#: How a job learns it is done: it polls, a webhook receiver calls it, or the
#: deliverable is fetched from the account's SFTP drop.
Channel = Literal["poll", "webhook", "sftp"]
#: While a job waits for its webhook, it is polled once every this many poll
#: intervals all the same, so a callback that never comes cannot hold it for ever.
WEBHOOK_CHECK_EVERY: Final = 20
#: Errors after which a job is picked up again with ``resume()``, as their message says.
RESUMABLE: Final = (ServiceError, StorageError, TransportError, DiskError)
_T = TypeVar("_T")


def resolve_poll_interval(poll_interval: float | None, base_url: str) -> float:
    """Seconds between polls: the argument, ``SMARTMATCH_POLL_INTERVAL``, or 30.

    Raises
    ------
    OptionError
        Not a positive number, or below 30 s against TargetSmart's API.
    """
    value: object = poll_interval
    if value is None:
        value = os.environ.get("SMARTMATCH_POLL_INTERVAL") or SERVICE_POLL_INTERVAL
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not 0 < seconds < math.inf:
        name = "poll_interval" if poll_interval is not None else "SMARTMATCH_POLL_INTERVAL"
        raise OptionError(f"{name}={value!r} must be a positive number of seconds")
    if is_real_service(base_url) and seconds < SERVICE_POLL_INTERVAL:
        raise OptionError(
            f"poll_interval={seconds:g} is below the {SERVICE_POLL_INTERVAL:g} s that "
            "TargetSmart's poll endpoint allows; use 30 or more"
        )
    return seconds


def check_wait_options(timeout: object, via: object = None, sftp: object = None) -> None:
    """Check the options of :meth:`Job.wait`; raise `OptionError` naming the one at fault."""
    if timeout is not None and not (
        isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout >= 0
    ):
        raise OptionError(
            f"timeout={timeout!r} must be a number of seconds (0 or more), or None to wait "
            "as long as it takes"
        )
    if via is not None and via not in VIAS:
        raise OptionError(f"via={via!r} must be one of {', '.join(map(repr, VIAS))}")
    if sftp is not None and via != "sftp":
        raise OptionError("sftp=... applies only with via='sftp'")


def _not_running(exc: SmartMatchError) -> bool:
    """Whether a poll's connection was refused: nothing listens at the service's address."""
    return isinstance(exc, TransportError) and exc.not_running


@dataclass(frozen=True)
class JobStatus:
    """What is known of a job after its latest poll.

    Attributes
    ----------
    state
        ``"uploaded"`` (waiting at the service), ``"ready"``, ``"failed"``,
        ``"downloaded"``, or ``"registered"`` (never uploaded).
    polls
        Polls made by this process.
    error
        The service's error string, when it failed.
    """

    state: State
    polls: int
    error: str | None = None


#: Set on an interruption whose resume advice was printed already, so that a download
#: that waited first does not print it twice.
RESUME_SAID: Final = "smartmatch_resume_said"


class Waiting:
    """How a :class:`~smartmatch_pandas.job.handle.Job` waits until its deliverable is
    ready: its :meth:`status`, :meth:`wait` and :meth:`deliver`.

    A part of ``Job``, never used alone: the job's state below is set by
    ``Job.__init__``, and declared here for the type checker.
    """

    client: SmartMatchClient
    filename: str
    rows: int
    options: MatchOptions
    poll_interval: float
    channel: Channel
    progress: ProgressArg
    schedule: PollSchedule
    _frame: pd.DataFrame | None
    _state: State
    _polls: int
    _error: str | None
    _gateway_id: str | None
    _url: SecretURL | None
    _deliverable: Spool | None
    _read: Deliverable | None
    _delivered: threading.Event

    if TYPE_CHECKING:  # the rest of Job (job.handle), which waiting uses

        @property
        def resume_call(self) -> str: ...
        @property
        def _lane(self) -> Lane: ...
        @property
        def _lane_id(self) -> str: ...
        @property
        def _clock(self) -> Clock: ...
        def _stored(self, call: Callable[[JobStore], _T], default: _T) -> _T: ...
        def _set_state(self, state: State, error: str | None = None) -> None: ...
        def _say_how_to_resume(self, exc: SmartMatchError) -> None: ...
        def _interrupted(self, stopped: str = ...) -> str: ...
        def _skipped(self) -> tuple[str, ...]: ...

    def status(self) -> JobStatus:
        """Poll once, if the rate limit allows now; else return the last known status."""
        # Refreshes take their turn in the key's queue like waits (a job refreshed and
        # then left is passed over once it is late for its turn).
        if self._state == "uploaded" and self._claim():
            # On a 429 the schedule now holds the service's wait; the status stands.
            with contextlib.suppress(RateLimitError):
                self._poll_once()
        return JobStatus(self._state, self._polls, self._error)

    def stop_waiting(self) -> None:
        """Ask a wait under way (in another thread) to stop as Ctrl-C would: within a
        second it says how to resume the job and raises ``KeyboardInterrupt``. The job
        itself goes on at the service."""
        self._stop_requested = True

    def _check_stop(self) -> None:
        if getattr(self, "_stop_requested", False):
            self._stop_requested = False
            raise KeyboardInterrupt

    def deliver(self, url: SecretURL) -> None:
        """Hand the job its download URL from elsewhere (a webhook): waiting ends at once."""
        if self._state == "downloaded":
            return  # a repeated callback
        self._url = url
        if self._state != "ready":
            self._set_state("ready")
        self._delivered.set()

    def wait(
        self,
        timeout: float | None = None,
        progress: ProgressArg | Reporter | None = None,
        *,
        via: Via | None = None,
        sftp: SFTPSettings | Mapping[str, Any] | None = None,
    ) -> Self:
        """Wait until the deliverable is ready: poll within the rate limit, await the
        webhook, or fetch it from the SFTP drop.

        Parameters
        ----------
        timeout
            Seconds to wait at most; None waits as long as it takes. The
            download that follows (:meth:`result`) must end by the same time.
        progress
            True for a tqdm bar, False for silence, or a callable receiving
            :class:`~smartmatch_pandas.progress.ProgressEvent`; None (the default)
            as the job was submitted (a bar, unless ``submit(progress=False)``).
        via
            ``"poll"`` asks the poll endpoint; ``"sftp"`` never polls it, but
            fetches the deliverable from the account's SFTP folder (needs the
            ``sftp`` extra), looking every few minutes. See :mod:`smartmatch_pandas.wire.sftp`.
        sftp
            With ``via="sftp"``: an :class:`~smartmatch_pandas.wire.sftp.SFTPSettings`
            or a dict of its fields; the ``TS_SFTP_*`` environment fills the rest.

        Raises
        ------
        JobTimeoutError
            Not ready within ``timeout``; the job goes on and can be resumed.
        JobFailedError
            The service reports that the job failed.
        KeyboardInterrupt
            Re-raised after saying how to resume: the job itself goes on.
        """
        check_wait_options(timeout, via, sftp)
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        self.deadline = deadline
        with reporting(self.progress if progress is None else progress) as reporter:
            try:
                self._wait(deadline, reporter, via or self.channel, sftp)
            except RESUMABLE as exc:
                self._say_how_to_resume(exc)
                raise
            except KeyboardInterrupt as stop:
                reporter.close()
                # On stderr: stdout is the data's (a command line's result, a pipe).
                print(self._interrupted(), file=sys.stderr, flush=True)
                setattr(stop, RESUME_SAID, True)
                raise
        return self

    def _wait(
        self,
        deadline: float | None,
        reporter: Reporter,
        channel: Channel,
        sftp: SFTPSettings | Mapping[str, Any] | None = None,
    ) -> None:
        if self._state == "registered":
            raise InputError(
                f"job {self.filename!r} was registered but its upload did not finish, so "
                f"nothing is being matched; upload it with {self.resume_call}",
                filename=self.filename,
            )
        if self._state == "failed":
            raise JobFailedError.at_service(self._error, filename=self.filename).with_answer(
                gateway_id=self._gateway_id, function_id=None, service_input=None
            )
        if self._state != "uploaded" and not (channel == "sftp" and self._state == "ready"):
            return  # nothing to wait for (asked for by SFTP, a ready job is still fetched so)
        reporter.stage("waiting")
        waiters: dict[Channel, Callable[[float | None, Reporter], None]] = {
            "poll": self._wait_polling,
            "webhook": self._wait_for_webhook,
            "sftp": partial(self._wait_for_sftp, sftp),
        }
        waiters[channel](deadline, reporter)
        reporter.waiting(self._polls, None, status="ready")

    def _wait_polling(self, deadline: float | None, reporter: Reporter) -> None:
        try:
            self._poll_in_turn(deadline, reporter)
        finally:
            self._leave_queue()

    def _leave_queue(self) -> None:
        """This job no longer waits its turn (ready, failed, timed out or interrupted)."""
        self.schedule.leave(self._lane, self.filename)
        self._stored(lambda store: store.leave_poll_queue(self._lane_id, self.filename), None)

    def _poll_in_turn(self, deadline: float | None, reporter: Reporter) -> None:
        failures = refused = not_running = 0
        trouble: str | None = None  # why the last poll failed, shown until one succeeds
        answered = False  # whether the service answered a poll of this wait
        # The last poll's failure while no poll of this wait has been answered: if the time
        # runs out so (every answer dripping past the deadline, say), it is the news, not a
        # job that was not ready. A poll the deadline cut after others were answered is not.
        failed: SmartMatchError | None = None
        while self._state == "uploaded":
            self._check_stop()
            try:
                self._sleep_until_due(deadline, reporter, trouble)
            except JobTimeoutError:
                if failed is None:
                    raise
                failed.with_context(before="no poll was answered before the timeout")
                raise failed from None
            if self._state != "uploaded" or not self._claim():
                continue
            try:
                self._poll_once()
                failures = refused = not_running = 0
                trouble, answered = None, True
            except RateLimitError as exc:
                answered = True
                refused += 1
                if refused >= MAX_POLL_FAILURES:
                    exc.with_context(before=f"the service refused {refused} polls in a row")
                    raise
                continue
            except (TransportError, ServiceError) as exc:
                if isinstance(exc, JobFailedError) or not is_transient(exc):
                    raise
                failures += 1
                failed = None if answered else exc
                not_running = not_running + 1 if _not_running(exc) else 0
                if not_running >= MAX_REFUSED_POLLS:
                    exc.with_context(
                        before=f"the service is not running: {not_running} polls in a row "
                        "found nothing listening at its address"
                    )
                    raise
                if failures >= MAX_POLL_FAILURES:
                    raise
                what = exc.message
                if isinstance(exc, UnreachableError):
                    state = "is not running" if exc.not_running else "cannot be reached"
                    what = f"the service {state}: {what}"
                count, limit = (failures, MAX_POLL_FAILURES)
                if not_running:
                    count, limit = (not_running, MAX_REFUSED_POLLS)
                trouble = f"poll {count} of {limit} failed in a row, trying again: {what}"
            reporter.waiting(self._polls, None, trouble)

    def _wait_for_webhook(self, deadline: float | None, reporter: Reporter) -> None:
        """Wait for :meth:`deliver`; poll only if it is long in coming (it may never come)."""
        every = WEBHOOK_CHECK_EVERY * self.poll_interval
        check_at = self._clock.monotonic() + every
        not_running = 0  # checks in a row that found nothing listening at the service
        while self._state == "uploaded":
            now = self._clock.monotonic()
            left = None if deadline is None else deadline - now
            if left is not None and left <= 0:
                raise self._timeout_error()
            if now >= check_at:
                check_at = now + every
                not_running = self._check_without_webhook(not_running)
                continue
            self._check_stop()
            reporter.waiting(self._polls, None, status="waiting for the webhook")
            limits = (1.0, check_at - now, *(() if left is None else (left,)))
            self._clock.wait(self._delivered, min(limits))

    def _check_without_webhook(self, not_running: int) -> int:
        """One poll, in case the webhook was lost; a poll that fails is no reason to stop,
        but a service that is not running is (``not_running``: checks in a row that found
        nothing listening; returned, counted again). It takes a turn only when no job
        waits for one."""
        if not self._claim(queue=False):
            return not_running
        try:
            self._poll_once()
        except (RateLimitError, TransportError) as exc:
            if not _not_running(exc):
                return 0
            if not_running + 1 >= MAX_REFUSED_POLLS:
                exc.with_context(
                    before=f"the service is not running: {not_running + 1} polls in a row "
                    "found nothing listening at its address (no webhook will come from it)"
                )
                raise
            return not_running + 1
        except ServiceError as exc:
            if isinstance(exc, JobFailedError) or not is_transient(exc):
                raise
        return 0

    def _claim(self, *, queue: bool = True) -> bool:
        """Take the key's poll now, in this process and in the job store; ``queue``
        False takes it only when no job waits for it (the webhook's fallback poll)."""
        lane = self._lane
        if not self.schedule.claim(lane, self.filename, queue=queue):
            return False
        waited = self.schedule.waited(lane, self.filename)
        try:
            wait = self._stored(
                lambda store: store.take_poll_turn(
                    self._lane_id, self.filename, self.poll_interval, queue=queue, waited=waited
                ),
                0.0,
            )
        except BaseException:
            self.schedule.pause(lane, 0.0)  # no poll was made: the slot must not stay held
            raise
        if wait > 0:
            # Another process polled (or is polling) under this key, or its job's turn
            # came first: its schedule stands.
            self.schedule.pause(lane, wait)
            return False
        return True

    def _wait_for_sftp(
        self,
        sftp: SFTPSettings | Mapping[str, Any] | None,
        deadline: float | None,
        reporter: Reporter,
    ) -> None:
        """The deliverable from the SFTP drop: then :meth:`result` reads it like any other."""
        from ..wire.sftp import (
            wait_for_deliverable,  # the optional extra, loaded only when asked for
        )

        timeout = None if deadline is None else max(0.0, deadline - self._clock.monotonic())
        # Read by the one deliverable reader as it is vetted, and kept: read once.
        # rows: a job resumed without knowing its row count skips that check.
        check = DeliverableCheck(
            self.filename,
            self.rows or None,
            skip=self._skipped(),
            max_matches=self.options.max_matches,
        )
        try:
            spool = wait_for_deliverable(
                self.filename,
                vet=check,
                timeout=timeout,
                progress=reporter,
                settings=sftp,
                limit=download_limit(self.rows),
            )
        except JobTimeoutError as exc:
            exc.with_context(advice=f"pick it up again with {self.resume_call}, adding via='sftp'")
            raise
        self._deliverable, self._read = spool, check.accepted
        self._set_state("downloaded")
        self._delivered.set()

    def _poll_once(self) -> None:
        """One poll; the caller has claimed the slot in the schedule."""
        wait = self.poll_interval
        state: State = self._state
        done = False
        try:
            answer = self.client.poll(self.filename)
            done = answer.ready
        except RateLimitError as exc:
            # The key is refused, whichever job asked: every job under it waits.
            wait = max(wait, exc.retry_after or 0.0)
            raise
        except (JobFailedError, ValidationError) as exc:
            # The job failed, or the service does not know it: polling again cannot help.
            state, self._error, done = "failed", exc.service_message, True
            self._state, self._gateway_id = state, exc.gateway_id
            raise
        finally:
            self._polls += 1
            self.schedule.record(self._lane, self.filename, wait, done=done)
            self._stored(
                lambda store: store.poll_answered(self._lane_id, self.filename, wait, done=done),
                None,
            )
            self._stored(
                lambda store: store.polled(
                    self.filename,
                    wait,
                    state=state,
                    error=self._error,
                    gateway_id=self._gateway_id,
                ),
                None,
            )
        if answer.ready:
            self.deliver(answer.url)  # type: ignore[arg-type]

    def _sleep_until_due(
        self, deadline: float | None, reporter: Reporter, trouble: str | None = None
    ) -> None:
        """Wait for the poll slot, reporting the time to it (or ``trouble``, why the last
        poll failed)."""
        while True:
            delay = self.schedule.delay(self._lane, self.filename)
            if delay <= 0:
                return
            # Infinite while another thread's poll is out: look again in a moment.
            due = delay if math.isfinite(delay) else None
            if deadline is not None and self._clock.monotonic() + (due or 0.0) >= deadline:
                self._clock.wait(self._delivered, max(0.0, deadline - self._clock.monotonic()))
                if self._state != "uploaded":
                    return
                raise self._timeout_error()
            reporter.waiting(self._polls, due, trouble)
            # While another job's poll is out, look again soon: the key is free once it is
            # answered.
            if self._clock.wait(self._delivered, min(delay, 1.0) if due else TURN_CHECK):
                return
            self._check_stop()

    def _timeout_error(self) -> JobTimeoutError:
        return JobTimeoutError(
            f"SmartMatch job {self.filename!r} was not ready within the timeout "
            f"({self._polls} polls); it goes on at the service: pick it up again "
            f"with {self.resume_call}",
            filename=self.filename,
        )
