"""Job: a submitted SmartMatch job, waited for and read back.

The handle holds the job's state and keeps its record in the job store; its
waiting (:class:`~smartmatch_pandas.job.waiting.Waiting`: polls, a webhook, the
SFTP drop, deadlines) and its reading
(:class:`~smartmatch_pandas.job.reading.Reading`: fetch, unpack, merge, cache)
are in modules of their own.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import fields
from typing import TYPE_CHECKING, Final, TypeVar

import pandas as pd
import pyarrow as pa

from ..clock import Clock
from ..deliverable import Deliverable, MatchResult
from ..deliverable.alignment import Witness
from ..errors import JobFailedError, SmartMatchError, SmartMatchWarning
from ..files.spool import Spool
from ..options import MatchOptions
from ..preparation.mapping import ColumnMapping
from ..preparation.table import SentPresence
from ..progress import ProgressArg
from ..wire.http import SmartMatchClient
from ..wire.secrets import SecretURL
from .reading import Reading
from .schedule import SCHEDULE, Lane, PollSchedule
from .store import JobRecord, JobStore, State
from .waiting import Channel, Waiting

if TYPE_CHECKING:
    from .cache import CachedResult

#: How the resume call is spelled in messages; the command line sets its own.
RESUME_COMMAND: ContextVar[Callable[[str], str] | None] = ContextVar("RESUME_COMMAND", default=None)
_T = TypeVar("_T")
#: Fingerprints API keys when the job store cannot: the same in this process only.
_PROCESS_SALT = os.urandom(32)


#: What an interrupted wait says of the job, before how to resume it.
WAITING_STOPPED: Final = (
    "Stopped waiting. SmartMatch job {filename!r} goes on at the service (a job cannot be "
    "cancelled, and nothing is lost)."
)


class Job(Waiting, Reading):
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
        # What wait() shows when not told: what the job was submitted with.
        self.progress: ProgressArg = True
        # The process's poll schedule, whose clock every wait of this job asks too.
        self.schedule = SCHEDULE if schedule is None else schedule
        self._lane_cache: Lane | None = None
        # The gateway_id of the answer that said the job failed, kept for support.
        self._gateway_id: str | None = None
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
        self.deadline: float | None = None  # set by wait(timeout=...); the download keeps to it
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
        job._gateway_id = record.gateway_id
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
    def _lane(self) -> Lane:
        """The poll budget this job draws on: its service's and its API key's."""
        if self._lane_cache is None:
            salt = self._stored(lambda store: store.key_salt(), _PROCESS_SALT)
            self._lane_cache = (self.client.host, self.client.key_fingerprint(salt))
        return self._lane_cache

    @property
    def _lane_id(self) -> str:
        """The lane's name in the job store."""
        host, fingerprint = self._lane
        return f"{host}/{fingerprint}"

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
        """Keep which rows the upload sent a value for (the summary's coverage), and its
        witness column, if it has one (see
        :class:`~smartmatch_pandas.preparation.table.SentPresence`)."""
        self._presence = presence

    @property
    def witness(self) -> Witness | None:
        """The sent column the deliverable's rows are checked against, when it is known."""
        sent = self._presence.witness if isinstance(self._presence, SentPresence) else None
        return Witness(*sent) if sent is not None and len(sent[1]) == self.rows else None

    # -- saying how to pick the job up again ------------------------------------------

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

    def _skipped(self) -> tuple[str, ...]:
        """Identifiers whose presence is known from the upload: not read back."""
        known = self._presence is not None and self._frame is not None
        if not known or self.mapping is None:
            return ()
        witness = self.witness  # read back, to be checked
        checked = witness.identifier if witness is not None else None
        return tuple(i for i in self.mapping.identifiers if i != checked)

    def _interrupted(self, stopped: str = WAITING_STOPPED) -> str:
        """What an interrupted wait (or download: ``stopped`` says which) prints: what
        became of the job, and the call that picks it up again."""
        lines = [
            "",
            stopped.format(filename=self.filename),
            "Pick it up again, in this or any other process, with:",
            f"    {self.resume_call}",
        ]
        if RESUME_COMMAND.get() is None and self._frame is not None:
            lines.append(
                "(df: the frame you submitted; it returns a MatchResult, whose .frame is the "
                "enriched frame)"
            )
        return "\n".join(lines)
