"""Job: a submitted SmartMatch job, waited for and read back.

The poll endpoint allows one request per filename every 30 seconds. Polls
are scheduled by one process-wide :class:`PollSchedule`, so any number of
``Job`` objects, threads, or ``status()`` calls on the same filename never
poll it sooner than allowed. The schedule counts from when an answer
arrives, so the service sees the full interval between two requests
whatever the network's delays.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from ._secrets import SecretURL
from .client import SERVICE_POLL_INTERVAL, SmartMatchClient, is_real_service
from .errors import (
    InputError,
    JobFailedError,
    JobTimeoutError,
    OptionError,
    RateLimitError,
    ServiceError,
    StorageError,
    TransportError,
)
from .progress import ProgressArg, Reporter
from .results import MatchResult, merge_back, read_deliverable

if TYPE_CHECKING:
    import pandas as pd

    from .fields import ColumnMapping
    from .options import MatchOptions
    from .sftp import SFTPSettings

State = Literal["registered", "uploaded", "ready", "failed", "downloaded"]
#: How a job's results are fetched: the poll endpoint (and webhook), or the SFTP drop.
Via = Literal["poll", "sftp"]
VIAS: Final = ("poll", "sftp")
#: Consecutive failed polls (network, HTTP 5xx) tolerated before giving up.
MAX_POLL_FAILURES: Final = 10
#: Fresh download URLs asked for when storage says one expired.
MAX_URL_REFRESHES: Final = 3


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
    if isinstance(value, bool) or not seconds > 0:
        raise OptionError(f"poll_interval={value!r} must be a positive number of seconds")
    if is_real_service(base_url) and seconds < SERVICE_POLL_INTERVAL:
        raise OptionError(
            f"poll_interval={seconds:g} is below the {SERVICE_POLL_INTERVAL:g} s that "
            "TargetSmart's poll endpoint allows; use 30 or more"
        )
    return seconds


class PollSchedule:
    """The earliest moment each job may be polled again, shared by the whole process."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def delay(self, key: tuple[str, str]) -> float:
        """Seconds until ``key`` may be polled (0 if now)."""
        with self._lock:
            return max(0.0, self._next.get(key, 0.0) - time.monotonic())

    def claim(self, key: tuple[str, str], interval: float) -> bool:
        """Take the right to poll ``key`` now; False if it is not yet due.

        While the poll is under way nobody else may poll: the slot is held
        for ``interval`` and pushed back by :meth:`record` when the answer comes.
        """
        with self._lock:
            now = time.monotonic()
            if self._next.get(key, 0.0) > now:
                return False
            self._next[key] = now + interval
            return True

    def record(self, key: tuple[str, str], wait: float) -> None:
        """An answer came: the next poll is due ``wait`` seconds from now."""
        with self._lock:
            self._next[key] = time.monotonic() + wait


SCHEDULE: Final = PollSchedule()


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


class Job:
    """A SmartMatch job that has been submitted.

    Made by :func:`smartmatch_pandas.submit`; ``match()`` is ``submit()``,
    then :meth:`wait`, then :meth:`result`.

    Examples
    --------
    >>> job = df.smartmatch.submit(max_matches=3)     # doctest: +SKIP
    >>> job.filename                                  # doctest: +SKIP
    'sm_20261128_101500_3f9a1c7d2e'
    >>> enriched = job.wait().result().frame          # doctest: +SKIP
    """

    def __init__(
        self,
        client: SmartMatchClient,
        filename: str,
        *,
        options: MatchOptions,
        mapping: ColumnMapping,
        rows: int,
        poll_interval: float,
        frame: pd.DataFrame | None = None,
        state: State = "uploaded",
    ) -> None:
        self.client = client
        self.filename = filename
        self.options = options
        self.mapping = mapping
        self.rows = rows
        self.poll_interval = poll_interval
        self._frame = frame
        self._state: State = state
        self._polls = 0
        self._error: str | None = None
        self._url: SecretURL | None = None
        self._deliverable: bytes | None = None
        self._result: MatchResult | None = None
        self._delivered = threading.Event()

    def __repr__(self) -> str:
        return f"Job(filename={self.filename!r}, state={self._state!r}, rows={self.rows:,})"

    @property
    def state(self) -> State:
        """The job's state as last seen."""
        return self._state

    @property
    def _key(self) -> tuple[str, str]:
        return (self.client.host, self.filename)

    # -- waiting ----------------------------------------------------------------

    def status(self) -> JobStatus:
        """Poll once, if the rate limit allows now; else return the last known status."""
        if self._state == "uploaded" and SCHEDULE.claim(self._key, self.poll_interval):
            # On a 429 the schedule now holds the service's wait; the status stands.
            with contextlib.suppress(RateLimitError):
                self._poll_once()
        return JobStatus(self._state, self._polls, self._error)

    def deliver(self, url: SecretURL) -> None:
        """Hand the job its download URL from elsewhere (a webhook): waiting ends at once."""
        self._url = url
        self._state = "ready"
        self._delivered.set()

    def wait(
        self,
        timeout: float | None = None,
        progress: ProgressArg | Reporter = True,
        *,
        via: Via = "poll",
        sftp: SFTPSettings | Mapping[str, Any] | None = None,
    ) -> Job:
        """Poll until the deliverable is ready, within the rate limit.

        Parameters
        ----------
        timeout
            Seconds to wait at most; None waits as long as it takes.
        progress
            True for a tqdm bar, False for silence, or a callable receiving
            :class:`~smartmatch_pandas.progress.ProgressEvent`.
        via
            ``"poll"`` asks the poll endpoint; ``"sftp"`` never polls it, but
            fetches the deliverable from the account's SFTP folder (needs the
            ``sftp`` extra), looking every few minutes. See :mod:`smartmatch_pandas.sftp`.
        sftp
            With ``via="sftp"``: an :class:`~smartmatch_pandas.sftp.SFTPSettings`
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
        if timeout is not None and not (isinstance(timeout, int | float) and timeout >= 0):
            raise OptionError(f"timeout={timeout!r} must be a number of seconds, or None")
        if via not in VIAS:
            raise OptionError(f"via={via!r} must be one of {', '.join(map(repr, VIAS))}")
        if sftp is not None and via != "sftp":
            raise OptionError("sftp=... applies only with via='sftp'")
        reporter = progress if isinstance(progress, Reporter) else Reporter(progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if via == "sftp" and self._state in ("uploaded", "ready"):
                self._fetch_by_sftp(sftp, timeout, reporter)
            else:
                self._wait(deadline, reporter)
        except KeyboardInterrupt:
            reporter.close()
            print(
                f"\nStopped waiting. SmartMatch job {self.filename!r} goes on at the service; "
                f"pick it up again with: {self.resume_call}",
                flush=True,
            )
            raise
        finally:
            if not isinstance(progress, Reporter):
                reporter.close()
        return self

    @property
    def resume_call(self) -> str:
        """The Python call that picks this job up again, from any process."""
        return f"smartmatch_pandas.resume({self.filename!r}, df)"

    def _wait(self, deadline: float | None, reporter: Reporter) -> None:
        if self._state == "registered":
            raise InputError(
                f"job {self.filename!r} was registered but its upload did not finish; "
                f"submit it again with {self.resume_call}",
                filename=self.filename,
            )
        reporter.stage("waiting")
        failures = 0
        while self._state == "uploaded":
            self._sleep_until_due(deadline, reporter)
            if self._state != "uploaded" or not SCHEDULE.claim(self._key, self.poll_interval):
                continue
            try:
                self._poll_once()
                failures = 0
            except RateLimitError:
                continue
            except (TransportError, ServiceError) as exc:
                if isinstance(exc, JobFailedError) or not _transient(exc):
                    raise
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
            reporter.waiting(self._polls, None)

    def _fetch_by_sftp(
        self,
        sftp: SFTPSettings | Mapping[str, Any] | None,
        timeout: float | None,
        reporter: Reporter,
    ) -> None:
        """The deliverable from the SFTP drop: then :meth:`result` reads it like any other."""
        from .sftp import wait_for_deliverable  # the optional extra, loaded only when asked for

        try:
            self._deliverable = wait_for_deliverable(
                # rows: a job resumed without knowing its row count skips that check
                self.filename,
                rows=self.rows or None,
                timeout=timeout,
                progress=reporter,
                settings=sftp,
            )
        except JobTimeoutError as exc:
            exc.message += f"; pick it up again with {self.resume_call}, adding via='sftp'"
            raise
        self._state = "downloaded"
        self._delivered.set()

    def _poll_once(self) -> None:
        """One poll; the caller has claimed the slot in the schedule."""
        wait = self.poll_interval
        try:
            answer = self.client.poll(self.filename)
        except RateLimitError as exc:
            wait = max(wait, exc.retry_after or 0.0)
            raise
        except JobFailedError as exc:
            self._state, self._error = "failed", exc.service_message
            raise
        finally:
            self._polls += 1
            SCHEDULE.record(self._key, wait)
        if answer.ready:
            self.deliver(answer.url)  # type: ignore[arg-type]

    def _sleep_until_due(self, deadline: float | None, reporter: Reporter) -> None:
        while True:
            delay = SCHEDULE.delay(self._key)
            if deadline is not None and time.monotonic() + delay > deadline:
                self._delivered.wait(max(0.0, deadline - time.monotonic()))
                if self._state != "uploaded":
                    return
                raise JobTimeoutError(
                    f"SmartMatch job {self.filename!r} was not ready within the timeout "
                    f"({self._polls} polls); it goes on at the service: pick it up again "
                    f"with {self.resume_call}",
                    filename=self.filename,
                )
            if delay <= 0:
                return
            reporter.waiting(self._polls, delay)
            if self._delivered.wait(min(delay, 1.0)):
                return

    # -- results ----------------------------------------------------------------

    def download(self, progress: ProgressArg | Reporter = False) -> bytes:
        """The deliverable's bytes (downloaded once, then kept in memory)."""
        if self._deliverable is not None:
            return self._deliverable
        if self._url is None:
            self.wait(progress=progress)
        reporter = progress if isinstance(progress, Reporter) else Reporter(progress)
        for refresh in range(MAX_URL_REFRESHES + 1):
            reporter.stage("downloading")
            try:
                data = self.client.download(
                    self._url,  # type: ignore[arg-type]
                    on_progress=reporter.advance,
                    filename=self.filename,
                )
            except StorageError as exc:
                if exc.status != 403 or refresh == MAX_URL_REFRESHES:
                    raise
                # An expired download URL: the next poll gives a fresh one.
                self._state, self._url = "uploaded", None
                self._delivered.clear()
                self.wait(progress=reporter)
                continue
            assert data is not None
            self._deliverable = data
            self._state = "downloaded"
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def result(self, progress: ProgressArg | Reporter = False) -> MatchResult:
        """Download the deliverable and merge it back onto the submitted frame.

        Waits first if the job is not ready yet.

        Raises
        ------
        InputError
            The job has no frame to merge onto (resume it with the frame).
        DeliverableError
            The deliverable is unreadable or does not fit the rows sent.
        """
        if self._result is not None:
            return self._result
        if self._frame is None:
            raise InputError(
                f"job {self.filename!r} has no frame to merge the results onto: pass the "
                f"frame that was submitted, as in {self.resume_call}",
                filename=self.filename,
            )
        reporter = progress if isinstance(progress, Reporter) else Reporter(progress)
        data = self.download(reporter)
        reporter.stage("merging")
        deliverable = read_deliverable(data, filename=self.filename)
        sent = [*self.mapping.identifiers, "matchback_id"]
        self._result = merge_back(self._frame, deliverable, sent, filename=self.filename)
        reporter.stage("done")
        return self._result


def _transient(exc: Exception) -> bool:
    if isinstance(exc, TransportError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and status >= 500
