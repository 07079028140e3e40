"""Job: a submitted SmartMatch job, waited for and read back.

The poll endpoint allows one request per filename every 30 seconds. Polls
are scheduled by one process-wide
:class:`~smartmatch_pandas.job.schedule.PollSchedule`, so any number of
``Job`` objects, threads, or ``status()`` calls on the same filename never
poll it sooner than allowed. A poll holds its slot until it is answered,
however long that takes, and the schedule counts from when the answer
arrives, so the service sees the full interval between two requests
whatever the network's delays. Across processes, the job's record in the
job store (:mod:`smartmatch_pandas.job.store`) holds the same schedule, so a
job resumed elsewhere, or waited on by two processes, keeps the limit too.

A job learns that it is done through a delivery channel: ``"poll"`` (the
default) or ``"webhook"`` (a :class:`~smartmatch_pandas.wire.webhook.WebhookReceiver`
hands it the download URL). :meth:`Job.wait` picks the channel's waiter;
another channel plugs in as one more waiter.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

import pandas as pd
import pyarrow as pa

from ..clock import Clock
from ..deliverable import (
    Deliverable,
    MatchResult,
    merge_back,
    read_files,
    unpack_deliverable,
    uploaded_frame,
)
from ..errors import (
    DeliverableError,
    InputError,
    JobFailedError,
    JobTimeoutError,
    OptionError,
    RateLimitError,
    ServiceError,
    SmartMatchError,
    SmartMatchWarning,
    StorageError,
    TransportError,
    ValidationError,
)
from ..files.spool import Spool, SpooledFiles
from ..identifiers import IDENTIFIERS, MATCHBACK_ID
from ..options import VIAS as VIAS
from ..options import MatchOptions
from ..options import Via as Via
from ..preparation.mapping import ColumnMapping
from ..progress import ProgressArg, Reporter, reporting
from ..wire.http import SERVICE_POLL_INTERVAL, SmartMatchClient, is_real_service
from ..wire.retry import MAX_POLL_FAILURES, MAX_URL_REFRESHES, is_expired_url, is_transient
from ..wire.secrets import SecretURL
from .schedule import SCHEDULE, JobKey, PollSchedule
from .store import JobRecord, JobStore, State
from .vetting import DeliverableCheck

if TYPE_CHECKING:
    from ..wire.sftp import SFTPSettings
    from .cache import CachedResult

#: How a job learns it is done: it polls, a webhook receiver calls it, or the
#: deliverable is fetched from the account's SFTP drop.
Channel = Literal["poll", "webhook", "sftp"]
#: The channels a caller may ask for with ``wait(via=...)``.
#: While a job waits for its webhook, it is polled once every this many poll
#: intervals all the same, so a callback that never comes cannot hold it for ever.
WEBHOOK_CHECK_EVERY: Final = 20

#: How the resume call is spelled in messages; the command line sets its own.
RESUME_COMMAND: ContextVar[Callable[[str], str] | None] = ContextVar("RESUME_COMMAND", default=None)
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
    if isinstance(value, bool) or not seconds > 0:
        raise OptionError(f"poll_interval={value!r} must be a positive number of seconds")
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

    Made by :func:`smartmatch_pandas.submit` (or :func:`~smartmatch_pandas.resume`);
    ``match()`` is ``submit()``, then :meth:`wait`, then :meth:`result`.
    Every change of its state is written to its record in the job store, so
    the job can be picked up again from any process by its ``filename``.

    Attributes
    ----------
    filename
        The job's name at the service: how it is found again.
    channel
        How the job learns that it is done: ``"poll"``, or ``"webhook"``
        when a :class:`~smartmatch_pandas.wire.webhook.WebhookReceiver` watches it.
    from_cache
        Whether its result comes from the result cache (no request was made).
    cache, cache_key
        Whether its result is kept in the result cache, and under which key
        (the service, the uploaded data's fingerprint and the options).
    schedule
        The :class:`~smartmatch_pandas.job.schedule.PollSchedule` it polls by (the
        process's own unless one is given); its clock times every wait.

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
        mapping: ColumnMapping | None,
        rows: int,
        poll_interval: float,
        frame: pd.DataFrame | None = None,
        state: State = "uploaded",
        store: JobStore | None = None,
        cache_key: str | None = None,
        cache: bool = True,
        schedule: PollSchedule | None = None,
    ) -> None:
        self.client = client
        self.filename = filename
        self.options = options
        self.mapping = mapping
        self.rows = rows
        self.poll_interval = poll_interval
        self.cache_key = cache_key
        self.cache = cache
        self.channel: Channel = "poll"
        self.from_cache = False
        # The process's poll schedule, whose clock every wait of this job asks too.
        self.schedule = SCHEDULE if schedule is None else schedule
        self._frame = frame
        self._state: State = state
        self._store = store
        self._polls = 0
        self._error: str | None = None
        self._url: SecretURL | None = None
        self._deliverable: Spool | None = None
        # The deliverable as read when it was vetted (SFTP), so it is read only once.
        self._read: Deliverable | None = None
        self._files: Mapping[str, bytes] | None = None
        # Per identifier, which rows the upload sent a value for (set when it is known).
        self._presence: Mapping[str, pa.Array] | None = None
        self._result: MatchResult | None = None
        self._delivered = threading.Event()
        self._store_failed = False

    @classmethod
    def from_record(
        cls,
        record: JobRecord,
        client: SmartMatchClient,
        store: JobStore,
        *,
        frame: pd.DataFrame | None = None,
        poll_interval: float | None = None,
        cache: bool | None = None,
    ) -> Job:
        """The job a store record describes, ready to be waited for again.

        A job once seen ready or downloaded is polled again: download URLs
        are secrets and expire, so none is ever stored.
        """
        known = {f.name for f in fields(MatchOptions)}
        options = MatchOptions(**{k: v for k, v in record.options.items() if k in known})
        pairs = tuple(
            (column if not isinstance(column, dict) else str(column.get("repr")), str(ident))
            for column, ident in record.mapping
        )
        job = cls(
            client,
            record.filename,
            options=options,
            mapping=ColumnMapping(pairs),
            rows=record.rows,
            poll_interval=poll_interval or record.poll_interval,
            frame=frame,
            state="uploaded" if record.state in {"ready", "downloaded"} else record.state,
            store=store,
            cache_key=record.key,
            cache=record.cache if cache is None else cache,
        )
        job._error = record.error
        return job

    @classmethod
    def from_cached(
        cls,
        cached: CachedResult,
        client: SmartMatchClient,
        *,
        options: MatchOptions,
        mapping: ColumnMapping | None,
        rows: int,
        poll_interval: float,
        frame: pd.DataFrame | None,
        cache_key: str,
    ) -> Job:
        """A finished job whose deliverable comes from the result cache."""
        job = cls(
            client,
            cached.filename,
            options=options,
            mapping=mapping,
            rows=rows,
            poll_interval=poll_interval,
            frame=frame,
            state="downloaded",
            cache_key=cache_key,
            cache=False,  # it is in the cache already
        )
        job._files = cached.files
        job.from_cache = True
        return job

    def __repr__(self) -> str:
        cached = ", from_cache=True" if self.from_cache else ""
        return f"Job(filename={self.filename!r}, state={self._state!r}, rows={self.rows:,}{cached})"

    @property
    def state(self) -> State:
        """The job's state as last seen."""
        return self._state

    @property
    def _key(self) -> JobKey:
        return (self.client.host, self.filename)

    @property
    def _clock(self) -> Clock:
        return self.schedule.clock

    @property
    def resume_call(self) -> str:
        """The call that picks this job up again, from any process."""
        command = RESUME_COMMAND.get()
        if command is not None:
            return command(self.filename)
        frame = ", df" if self._frame is not None else ""
        return f"smartmatch_pandas.resume({self.filename!r}{frame})"

    # -- the job's record ----------------------------------------------------------

    def _stored(self, call: Callable[[JobStore], _T], default: _T) -> _T:
        """Run ``call`` on the job store; a store that fails is reported once, not fatal."""
        if self._store is None or self._store_failed:
            return default
        try:
            return call(self._store)
        except OSError as exc:
            self._store_failed = True
            warnings.warn(
                f"the job store at {self._store.home} could not be updated "
                f"({exc.strerror or exc}); job {self.filename!r} goes on, but keep its "
                "filename to resume it",
                SmartMatchWarning,
                stacklevel=4,
            )
            return default

    def _set_state(self, state: State, error: str | None = None) -> None:
        self._state, self._error = state, error
        self._stored(lambda store: store.update(self.filename, state=state, error=error), None)

    def mark_uploaded(self) -> None:
        """Record that the job's upload finished: it is running at the service."""
        self._set_state("uploaded")

    @property
    def presence(self) -> Mapping[str, pa.Array] | None:
        """Per identifier, which rows the upload sent a value for; None until known."""
        return self._presence

    def keep_presence(self, presence: Mapping[str, pa.Array] | None) -> None:
        """Keep which rows the upload sent a value for (the summary's coverage)."""
        self._presence = presence

    # -- waiting ----------------------------------------------------------------

    def status(self) -> JobStatus:
        """Poll once, if the rate limit allows now; else return the last known status."""
        if self._state == "uploaded" and self._claim():
            # On a 429 the schedule now holds the service's wait; the status stands.
            with contextlib.suppress(RateLimitError):
                self._poll_once()
        return JobStatus(self._state, self._polls, self._error)

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
        progress: ProgressArg | Reporter = True,
        *,
        via: Via | None = None,
        sftp: SFTPSettings | Mapping[str, Any] | None = None,
    ) -> Job:
        """Wait until the deliverable is ready: poll within the rate limit, await the
        webhook, or fetch it from the SFTP drop.

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
        with reporting(progress) as reporter:
            try:
                self._wait(deadline, reporter, via or self.channel, sftp)
            except _RESUMABLE as exc:
                self._say_how_to_resume(exc)
                raise
            except KeyboardInterrupt:
                reporter.close()
                print(self._interrupted(), flush=True)
                raise
        return self

    def _say_how_to_resume(self, exc: SmartMatchError) -> None:
        """Add to ``exc`` that nothing is lost, and the call that picks the job up again."""
        if self._state == "failed" or isinstance(exc, JobFailedError):
            return  # a failed job cannot be resumed
        if self.resume_call in exc.message:
            return  # said already
        exc.with_context(
            advice=f"nothing is lost: pick SmartMatch job {self.filename!r} up again with "
            f"{self.resume_call}",
            filename=self.filename,
        )

    def _interrupted(self) -> str:
        lines = [
            "",
            f"Stopped waiting. SmartMatch job {self.filename!r} goes on at the service "
            "(a job cannot be cancelled, and nothing is lost).",
            "Pick it up again, in this or any other process, with:",
            f"    {self.resume_call}",
        ]
        if RESUME_COMMAND.get() is None and self._frame is not None:
            lines.append(
                "(df: the frame you submitted; it returns a MatchResult, whose .frame is the "
                "enriched frame)"
            )
        return "\n".join(lines)

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
            raise JobFailedError(
                f"SmartMatch job {self.filename!r} failed at the service: {self._error}",
                service_message=self._error,
                filename=self.filename,
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
        failures = refused = 0
        while self._state == "uploaded":
            self._sleep_until_due(deadline, reporter)
            if self._state != "uploaded" or not self._claim():
                continue
            try:
                self._poll_once()
                failures = refused = 0
            except RateLimitError as exc:
                refused += 1
                if refused >= MAX_POLL_FAILURES:
                    exc.with_context(before=f"the service refused {refused} polls in a row")
                    raise
                continue
            except (TransportError, ServiceError) as exc:
                if isinstance(exc, JobFailedError) or not is_transient(exc):
                    raise
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
            reporter.waiting(self._polls, None)

    def _wait_for_webhook(self, deadline: float | None, reporter: Reporter) -> None:
        """Wait for :meth:`deliver`; poll only if it is long in coming (it may never come)."""
        every = WEBHOOK_CHECK_EVERY * self.poll_interval
        check_at = self._clock.monotonic() + every
        while self._state == "uploaded":
            now = self._clock.monotonic()
            left = None if deadline is None else deadline - now
            if left is not None and left <= 0:
                raise self._timeout_error()
            if now >= check_at:
                check_at = now + every
                self._check_without_webhook()
                continue
            reporter.waiting(self._polls, None, status="waiting for the webhook")
            limits = (1.0, check_at - now, *(() if left is None else (left,)))
            self._clock.wait(self._delivered, min(limits))

    def _check_without_webhook(self) -> None:
        """One poll, in case the webhook was lost; a poll that fails is no reason to stop."""
        if not self._claim():
            return
        try:
            self._poll_once()
        except (RateLimitError, TransportError):
            pass
        except ServiceError as exc:
            if isinstance(exc, JobFailedError) or not is_transient(exc):
                raise

    def _claim(self) -> bool:
        """Take the right to poll now, in this process and in the job store."""
        if not self.schedule.claim(self._key):
            return False
        try:
            wait = self._stored(
                lambda store: store.claim_poll(self.filename, self.poll_interval), 0.0
            )
        except BaseException:
            self.schedule.record(self._key, 0.0)  # no poll was made: the slot must not stay held
            raise
        if wait > 0:
            # Another process polled (or is polling) this job: its schedule stands.
            self.schedule.record(self._key, wait)
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
        check = DeliverableCheck(self.filename, self.rows or None, skip=self._skipped())
        try:
            spool = wait_for_deliverable(
                self.filename, vet=check, timeout=timeout, progress=reporter, settings=sftp
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
        try:
            answer = self.client.poll(self.filename)
        except RateLimitError as exc:
            wait = max(wait, exc.retry_after or 0.0)
            raise
        except (JobFailedError, ValidationError) as exc:
            # The job failed, or the service does not know it: polling again cannot help.
            state, self._error = "failed", exc.service_message
            self._state = state
            raise
        finally:
            self._polls += 1
            self.schedule.record(self._key, wait)
            self._stored(
                lambda store: store.polled(self.filename, wait, state=state, error=self._error),
                None,
            )
        if answer.ready:
            self.deliver(answer.url)  # type: ignore[arg-type]

    def _sleep_until_due(self, deadline: float | None, reporter: Reporter) -> None:
        while True:
            delay = self.schedule.delay(self._key)
            if delay <= 0:
                return
            # Infinite while another thread's poll is out: look again in a moment.
            due = delay if math.isfinite(delay) else None
            if deadline is not None and self._clock.monotonic() + (due or 0.0) >= deadline:
                self._clock.wait(self._delivered, max(0.0, deadline - self._clock.monotonic()))
                if self._state != "uploaded":
                    return
                raise self._timeout_error()
            reporter.waiting(self._polls, due)
            if self._clock.wait(self._delivered, min(delay, 1.0)):
                return

    def _timeout_error(self) -> JobTimeoutError:
        return JobTimeoutError(
            f"SmartMatch job {self.filename!r} was not ready within the timeout "
            f"({self._polls} polls); it goes on at the service: pick it up again "
            f"with {self.resume_call}",
            filename=self.filename,
        )

    # -- results ----------------------------------------------------------------

    def download(self, progress: ProgressArg | Reporter = False) -> bytes:
        """The deliverable's bytes (downloaded once, then kept: in memory, or beyond the
        spill threshold in a private temporary file, deleted with the job)."""
        return self._fetch(progress).getvalue()

    def _fetch(self, progress: ProgressArg | Reporter = False) -> Spool:
        """The deliverable, downloaded once into a spool."""
        if self._deliverable is not None:
            return self._deliverable
        if self._url is None:
            if self._state == "downloaded":
                # Known from the result cache, which keeps the files, not these bytes.
                self._state = "uploaded"
            self.wait(progress=progress)
        with reporting(progress) as reporter:
            for refresh in range(MAX_URL_REFRESHES + 1):
                reporter.stage("downloading")
                spool = Spool()
                try:
                    self.client.download(
                        self._url,  # type: ignore[arg-type]
                        sink=cast(IO[bytes], spool),  # written, told, sought and truncated
                        on_progress=reporter.advance,
                        filename=self.filename,
                    )
                except StorageError as exc:
                    spool.close()
                    if not is_expired_url(exc) or refresh == MAX_URL_REFRESHES:
                        raise
                    # An expired download URL: the next poll gives a fresh one.
                    self._state, self._url, self.channel = "uploaded", None, "poll"
                    self._delivered.clear()
                    self.wait(progress=reporter)
                    continue
                except BaseException:
                    spool.close()
                    raise
                self._deliverable = spool
                self._set_state("downloaded")
                return spool
        raise AssertionError("unreachable")  # pragma: no cover

    def result(self, progress: ProgressArg | Reporter = False) -> MatchResult:
        """Download the deliverable and merge it back onto the submitted frame.

        Waits first if the job is not ready yet. A job resumed without its
        frame is merged onto the columns that were uploaded, read back from
        the deliverable: one row per uploaded row, in upload order (the
        index is the row's position), the uploaded identifiers then the
        appended columns. The deliverable is kept in the result cache unless
        the job was submitted with ``cache=False``.

        Raises
        ------
        DeliverableError
            The deliverable is unreadable or does not fit the rows sent.
        """
        if self._result is not None:
            return self._result
        with reporting(progress) as reporter:
            result = self._merged(reporter, partial(self._merge_onto_frame, reporter))
        result.from_cache = self.from_cache
        self._result = result
        return result

    def _merged(self, reporter: Reporter, merge: Callable[[Mapping[str, bytes]], _T]) -> _T:
        """What ``merge`` makes of the deliverable's files, which are then kept in the
        result cache. A deliverable that cannot be merged is forgotten (fetched again
        next time), and every error says how to pick the job up again."""
        try:
            files = self._unpacked(reporter)
            merged = merge(files)
        except DeliverableError as exc:
            self._unusable()
            self._say_how_to_resume(exc)
            raise
        except _RESUMABLE as exc:
            self._say_how_to_resume(exc)
            raise
        # Kept only once it merged: a deliverable that cannot be used is never cached.
        self._cache(files)
        reporter.stage("done")
        return merged

    def _skipped(self) -> tuple[str, ...]:
        """Identifiers whose presence is known from the upload: not read back."""
        known = self._presence is not None and self._frame is not None
        return tuple(self.mapping.identifiers) if known and self.mapping is not None else ()

    def _merge_onto_frame(self, reporter: Reporter, files: Mapping[str, bytes]) -> MatchResult:
        known = self._presence is not None and self._frame is not None
        deliverable = self._read
        if deliverable is None or deliverable.files is not files:
            deliverable = read_files(files, filename=self.filename, skip=self._skipped())
        reporter.stage("merging")
        sent = self._sent_columns(deliverable)
        frame = self._frame
        if frame is None:
            frame = uploaded_frame(deliverable, sent, self.rows)
        return merge_back(
            frame,
            deliverable,
            sent,
            filename=self.filename,
            presence=self._presence if known else None,
        )

    def _unpacked(self, reporter: Reporter) -> Mapping[str, bytes]:
        """The deliverable's files: from the result cache, or downloaded and unpacked."""
        if self._files is not None:
            return self._files
        if self._read is not None:
            return self._read.files  # read as the SFTP drop's file was vetted
        return unpack_deliverable(self._fetch(reporter), filename=self.filename)

    def _cache(self, files: Mapping[str, bytes]) -> None:
        """Keep a deliverable that merged in the result cache.

        Compressing it takes a core for a while, so it is done on a thread of
        its own while the caller goes on with the result (see
        :class:`~smartmatch_pandas.job.cache.PendingResult`, which warns if it
        fails); whatever reads the result cache waits for it.
        """
        if self._files is not None or not self.cache or self.cache_key is None:
            return
        key = self.cache_key
        spooled = SpooledFiles.of(files)
        self._stored(lambda store: store.results.saving(key, self.filename, spooled), None)

    def _unusable(self) -> None:
        """The deliverable could not be used: forget it, so that the job fetches it again."""
        if self._files is not None:
            return  # from the result cache, which a new match with refresh=True replaces
        if self._deliverable is not None:
            self._deliverable.close()
        self._deliverable, self._read, self._url, self.channel = None, None, None, "poll"
        self._delivered.clear()
        self._state = "uploaded"  # here: poll for a fresh URL; in the store: not done
        self._stored(lambda store: store.update(self.filename, state="ready"), None)

    def _sent_columns(self, deliverable: Deliverable) -> list[str]:
        if self.mapping is not None:
            return [*self.mapping.identifiers, MATCHBACK_ID]
        # No record of the upload: the service echoes it, identifiers first.
        echoed = [c for c in deliverable.best.column_names if c in IDENTIFIERS]
        return [*echoed, MATCHBACK_ID]


#: Errors after which a job is picked up again with ``resume()``, as their message says.
_RESUMABLE: Final = (ServiceError, StorageError, TransportError)
