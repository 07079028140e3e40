"""The per-user job store: a record of every job (and, beside them, the result cache).

A SmartMatch job costs money, cannot be cancelled and can run for hours,
so every job is written down the moment it is registered (before its
upload) and kept up to date as it is polled and downloaded. Any process can
then pick it up again by its filename.

Layout, under :func:`store_home`::

    jobs/<filename>.json      one record per job: no API key, no URL, no contact data
    results/<key>.parquet     a finished job's deliverable (:mod:`~smartmatch_pandas.job.cache`)
    polls.json                the poll budget of each API key (see ``job.schedule``),
                              known by a keyed fingerprint, never the key
    .key_salt                 the secret that fingerprint is keyed with
    .lock                     taken while a record is read, changed and written back

Folders are created readable by the user alone (0700) and files written
atomically with mode 0600 (see :mod:`smartmatch_pandas.private_files`). Changes to
a record happen under an exclusive lock on ``.lock``, so two processes
(a notebook and ``smartmatch-pandas resume``) can use the store at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Hashable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from .._version import __version__
from ..errors import DiskError, OptionError, SmartMatchWarning
from ..options import FILENAME_RULE, check_filename, shown_url
from ..paths import configured_dir, user_cache_dir
from ..private_files import make_private_dirs, write_private
from .cache import ResultCache
from .schedule import Budget

if TYPE_CHECKING:
    from ..options import MatchOptions
    from ..preparation.mapping import ColumnMapping

#: The environment variable that moves the store.
HOME_ENV: Final = "SMARTMATCH_HOME"
_RECORD_FORMAT: Final = 1
#: Options that do not change what a job returns, left out of its cache key.
_DELIVERY_OPTIONS: Final = frozenset({"filename", "webhook"})

State = Literal["registered", "uploaded", "ready", "downloaded", "failed"]
#: States of a job that has not finished at the service (or was never uploaded).
PENDING: Final[frozenset[str]] = frozenset({"registered", "uploaded", "ready"})


def store_home() -> Path:
    """Where the job store lives: ``SMARTMATCH_HOME``, else the user's cache folder
    (see :func:`smartmatch_pandas.paths.user_cache_dir`)."""
    return configured_dir(HOME_ENV, user_cache_dir())


def service_url(base_url: str) -> str:
    """``base_url`` without any user name, password, query or fragment: safe to store."""
    parts = urlsplit(base_url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))


def cache_key(base_url: str, data: str, options: MatchOptions) -> str:
    """The key of a result: the service, the uploaded data's fingerprint, the options.

    The filename and the webhook only say how a job is named and delivered,
    so they are left out: the same data and options give the same key. Options
    at their defaults are left out too, so that a new option (at its default)
    does not change the key of every result kept, nor of every job running.
    """
    chosen = {k: v for k, v in options.chosen().items() if k not in _DELIVERY_OPTIONS}
    text = json.dumps(
        {"service": service_url(base_url), "data": data, "options": chosen},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def label_to_json(label: Hashable) -> Any:
    """A column label as JSON: itself when JSON keeps it, else its ``repr``."""
    if label is None or isinstance(label, str | bool | int | float):
        return label
    return {"repr": repr(label)}


def label_matches(stored: Any, label: Hashable) -> bool:
    """Whether a frame's column ``label`` is the one stored by :func:`label_to_json`."""
    if isinstance(stored, dict):
        return repr(label) == stored.get("repr")
    if isinstance(stored, bool) != isinstance(label, bool):
        return False
    try:
        return bool(stored == label)
    except (TypeError, ValueError):
        return False


@dataclass
class JobRecord:
    """What the store keeps of one job: enough to find it, resume it and merge it back.

    Never an API key, a presigned URL or contact data: the uploaded data is
    known only by its fingerprint.

    Attributes
    ----------
    filename
        The job's name at the service.
    service
        The service's base URL, without credentials (see :func:`service_url`).
    host
        The service's host (and port, if any).
    options
        The job's options, as :meth:`MatchOptions.as_dict` gives them.
    mapping
        ``[frame column, identifier]`` pairs, in upload order.
    submitted_at
        When the job was registered (ISO 8601, UTC).
    rows
        Rows uploaded.
    fingerprint
        The uploaded data's fingerprint (:attr:`Spool.fingerprint
        <smartmatch_pandas.files.spool.Spool.fingerprint>`).
    key
        The result's cache key (:func:`cache_key`).
    poll_interval
        Seconds between polls the submitting process used.
    state
        ``registered`` (never uploaded), ``uploaded``, ``ready``,
        ``downloaded`` or ``failed``.
    error
        The service's error string, if the job failed.
    polls
        Polls made for this job, by every process.
    last_poll, next_poll
        When the latest poll was answered, and the earliest moment the next
        may be sent (seconds since the epoch), so that a process resuming
        the job keeps the rate limit.
    cache
        Whether the job's result is kept in the result cache.
    invalid
        The ``invalid=`` policy the upload was prepared with, so a resumed
        job rebuilds exactly the upload that was sent.
    choices
        Where a row sent one of several columns: per choice, its identifiers and
        its options' columns (``None`` where an option has none), in order of
        preference, so a resumed job chooses as the submitted one did.
    version
        The smartmatch-pandas version that submitted it.
    updated_at
        When the record last changed (ISO 8601, UTC).
    """

    filename: str
    service: str
    host: str
    options: dict[str, Any]
    mapping: list[list[Any]]
    submitted_at: str
    rows: int
    fingerprint: str
    key: str
    poll_interval: float
    state: State = "registered"
    error: str | None = None
    #: The service's ``gateway_id`` of the answer that said the job failed (for support).
    gateway_id: str | None = None
    polls: int = 0
    last_poll: float | None = None
    next_poll: float | None = None
    cache: bool = True
    invalid: str = "keep"
    choices: list[dict[str, Any]] = field(default_factory=list)
    version: str = __version__
    updated_at: str = field(default_factory=_now)

    def __repr__(self) -> str:
        # A webhook's token (its query) is a secret: the URL is shown without it.
        webhook = self.options.get("webhook")
        options = {**self.options, "webhook": shown_url(webhook)} if webhook else self.options
        shown = {**{f.name: getattr(self, f.name) for f in fields(self)}, "options": options}
        return f"JobRecord({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @classmethod
    def new(
        cls,
        *,
        filename: str,
        base_url: str,
        options: MatchOptions,
        mapping: ColumnMapping,
        rows: int,
        fingerprint: str,
        key: str,
        poll_interval: float,
        cache: bool,
        invalid: str = "keep",
    ) -> JobRecord:
        """The record of a job about to be registered."""
        service = service_url(base_url)
        return cls(
            filename=filename,
            service=service,
            host=urlsplit(service).netloc,
            options=options.as_dict(),
            mapping=[[label_to_json(column), ident] for column, ident in mapping.pairs],
            submitted_at=_now(),
            rows=rows,
            fingerprint=fingerprint,
            key=key,
            poll_interval=poll_interval,
            cache=cache,
            invalid=invalid,
            choices=[
                {
                    "identifiers": list(choice.identifiers),
                    "options": [
                        [None if c is None else label_to_json(c) for c in option]
                        for option in choice.options
                    ],
                }
                for choice in mapping.choices
            ],
        )

    @property
    def pending(self) -> bool:
        """Whether the job has not finished (or was never uploaded)."""
        return self.state in PENDING

    @property
    def identifiers(self) -> list[str]:
        """The identifiers uploaded, in order."""
        return [str(ident) for _, ident in self.mapping]

    def to_json(self) -> bytes:
        return json.dumps({"format": _RECORD_FORMAT, **asdict(self)}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str | None = None) -> JobRecord:
        """The record in ``data``, read from the file of job ``name``.

        Raises
        ------
        DamagedRecordError
            ``data`` is not a whole record of job ``name``: not JSON, a field
            missing or of the wrong type, or a filename other than its file's
            (a record never points outside the store).
        """
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise DamagedRecordError(f"it is not JSON ({type(exc).__name__})") from None
        if not isinstance(raw, dict):
            raise DamagedRecordError("it is not a JSON object")
        for field_name, kinds in _FIELD_TYPES.items():
            if field_name not in raw and field_name in _REQUIRED:
                raise DamagedRecordError(f"its {field_name!r} is missing")
            value = raw.get(field_name)
            if field_name in raw and not isinstance(value, kinds):
                raise DamagedRecordError(f"its {field_name!r} is a {type(value).__name__}")
        filename = raw["filename"]
        if not FILENAME_RULE.fullmatch(filename) or (name is not None and filename != name):
            raise DamagedRecordError(f"its filename {filename[:60]!r} is not its file's name")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


class DamagedRecordError(ValueError):
    """A job record's file does not hold a whole, valid record (the reason is the message)."""


_NUMBER: Final = (int, float)
_TEXT_OR_NONE: Final = (str, type(None))
#: The type of every field a record's JSON must have right, before it is trusted.
_FIELD_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "filename": str,
    "service": str,
    "host": str,
    "options": dict,
    "mapping": list,
    "submitted_at": str,
    "rows": int,
    "fingerprint": str,
    "key": str,
    "poll_interval": _NUMBER,
    "state": str,
    "error": _TEXT_OR_NONE,
    "polls": int,
    "last_poll": (*_NUMBER, type(None)),
    "next_poll": (*_NUMBER, type(None)),
    "cache": bool,
    "invalid": str,
}
_REQUIRED: Final = frozenset(
    {"filename", "service", "host", "options", "mapping", "submitted_at", "rows", "key"}
)


class JobStore:
    """The job store at ``home`` (default :func:`store_home`).

    Raises
    ------
    OptionError
        The folder cannot be created or written: set ``SMARTMATCH_HOME``.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home) if home is not None else store_home()
        self.jobs_dir = self.home / "jobs"
        self.results_dir = self.home / "results"
        try:
            if self.home.exists():
                _warn_if_loose(self.home)
            self._make_private_dir(self.home, chmod=not self.home.exists())
            for folder in (self.jobs_dir, self.results_dir):
                self._make_private_dir(folder, chmod=True)
        except OSError as exc:
            raise OptionError(
                f"the job store at {self.home} cannot be used ({exc.strerror or exc}): set "
                f"{HOME_ENV} to a folder you can write, where job records are kept"
            ) from None
        self._lock_path = self.home / ".lock"
        #: The result cache, in ``results/``.
        self.results = ResultCache(self.results_dir)

    def __repr__(self) -> str:
        return f"JobStore({str(self.home)!r})"

    @staticmethod
    def _make_private_dir(path: Path, *, chmod: bool) -> None:
        # Missing parents too (~/.cache on a fresh account) are made 0700, as XDG asks.
        make_private_dirs(path)
        if chmod and os.name == "posix":
            path.chmod(0o700)

    # -- job records ------------------------------------------------------------

    def _record_path(self, filename: str) -> Path:
        check_filename(filename)  # a name such as ../../victim never becomes a path
        return self.jobs_dir / f"{filename}.json"

    def load(self, filename: str) -> JobRecord | None:
        """The record of job ``filename``, or None if there is none.

        Raises
        ------
        DiskError
            The record is damaged: the message names its file and what to do.
        """
        path = self._record_path(filename)
        try:
            return JobRecord.from_json(_read_no_link(path), filename)
        except FileNotFoundError:
            return None
        except (DamagedRecordError, OSError) as exc:
            raise DiskError(damaged_advice(path, exc), filename=filename) from None

    def save(self, record: JobRecord) -> None:
        """Write ``record``, replacing any record of the same filename."""
        with self._locked():
            self._write(record)

    def _write(self, record: JobRecord) -> None:
        record.updated_at = _now()
        path = self._record_path(record.filename)
        try:
            write_private(path, record.to_json())
        except OSError as exc:
            raise DiskError(
                f"the record of job {record.filename!r} could not be written to {path} "
                f"({exc.strerror or exc}): free some space there, or set {HOME_ENV} to "
                "another folder; the record before this change is as it was",
                filename=record.filename,
            ) from None

    def modify(self, filename: str, change: Callable[[JobRecord], object]) -> JobRecord | None:
        """Apply ``change`` to the record of ``filename`` under the lock; None if there is none."""
        with self._locked():
            record = self.load(filename)
            if record is None:
                return None
            change(record)
            self._write(record)
            return record

    def update(self, filename: str, **values: Any) -> JobRecord | None:
        """Set fields of the record of ``filename``; None if there is none."""

        def assign(record: JobRecord) -> None:
            for name, value in values.items():
                setattr(record, name, value)

        return self.modify(filename, assign)

    def remove(self, filename: str) -> None:
        """Forget job ``filename`` (its record only)."""
        with self._locked():
            self._record_path(filename).unlink(missing_ok=True)

    def records(self) -> list[JobRecord]:
        """Every job record, newest first (damaged ones are left out: see :meth:`damaged`)."""
        out = []
        for path in self.jobs_dir.glob("*.json"):
            with contextlib.suppress(OSError, DamagedRecordError):
                out.append(JobRecord.from_json(_read_no_link(path), path.stem))
        return sorted(out, key=lambda r: (r.submitted_at, r.filename), reverse=True)

    def damaged(self) -> list[tuple[Path, str]]:
        """The record files that cannot be read, each with what to do about it."""
        out = []
        for path in sorted(self.jobs_dir.glob("*.json")):
            try:
                JobRecord.from_json(_read_no_link(path), path.stem)
            except (OSError, DamagedRecordError) as exc:
                out.append((path, damaged_advice(path, exc)))
        return out

    def pending(self, key: str) -> JobRecord | None:
        """The newest unfinished job for the same data and options, if any."""
        return next((r for r in self.records() if r.key == key and r.pending), None)

    # -- the poll rate limit, across processes ------------------------------------

    # -- the poll budget of each API key, shared by every process ------------------------

    def key_salt(self) -> bytes:
        """The secret API keys are fingerprinted with here: made once, readable by the
        user alone, the same for every process using this store."""
        path = self.home / ".key_salt"
        with self._locked():
            try:
                salt = path.read_bytes()
            except FileNotFoundError:
                salt = b""
            if len(salt) < 32:
                salt = os.urandom(32)
                write_private(path, salt)
        return salt

    def take_poll_turn(
        self, lane: str, filename: str, interval: float, *, queue: bool = True, waited: float = 0.0
    ) -> float:
        """Take the one poll of ``lane`` (a service and key) for ``filename``: 0.0 if
        taken, else seconds to wait. ``waited``: how long the job has waited already.

        Taken, the lane is held for ``interval`` until :meth:`poll_answered`, so a
        process that dies in the middle of a poll still holds it.
        """
        wait = 0.0

        def take(budget: Budget, now: float) -> None:
            nonlocal wait
            wait = budget.turn(filename, now, queue=queue, waited=waited)
            if wait == 0.0:
                budget.next = now + interval

        self._change_budget(lane, take)
        return wait

    def poll_answered(self, lane: str, filename: str, wait: float, *, done: bool) -> None:
        """A poll under ``lane`` was answered: the next is due ``wait`` seconds from now."""
        self._change_budget(
            lane, lambda budget, now: budget.answered(filename, now, wait, done=done)
        )

    def leave_poll_queue(self, lane: str, filename: str) -> None:
        """``filename`` no longer waits for a poll under ``lane``."""
        self._change_budget(lane, lambda budget, now: budget.leave(filename))

    def _change_budget(self, lane: str, change: Callable[[Budget, float], object]) -> None:
        path = self.home / "polls.json"
        with self._locked():
            try:
                lanes = json.loads(path.read_bytes())
            except (FileNotFoundError, ValueError):
                lanes = {}
            if not isinstance(lanes, dict):
                lanes = {}
            budget = Budget.from_json(lanes.get(lane))
            change(budget, time.time())
            lanes[lane] = budget.as_json()
            write_private(path, json.dumps(lanes).encode())

    def polled(self, filename: str, wait: float, **values: Any) -> None:
        """A poll of ``filename`` was answered: the next is due ``wait`` seconds from now."""

        def record_poll(record: JobRecord) -> None:
            now = time.time()
            record.polls += 1
            record.last_poll = now
            record.next_poll = now + wait
            for name, value in values.items():
                setattr(record, name, value)

        self.modify(filename, record_poll)

    # -- locking ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with _THREAD_LOCK, _file_lock(self._lock_path):
            yield


# flock() excludes other processes; this lock also spares a process's own
# threads from queueing on the file lock one after another.
_THREAD_LOCK = threading.RLock()


def _warn_if_loose(home: Path) -> None:
    """Warn if others may read or enter the store's folder (it was made by someone else,
    or with a loose mode): its records and results hold job details and contact data."""
    if os.name != "posix":
        return
    mode = home.stat().st_mode & 0o777
    if mode & 0o077:
        warnings.warn(
            f"the job store {home} can be read by others (mode {mode:o}): its records and "
            f"cached results hold job details and contact data. Run chmod 700 {home}, or set "
            f"{HOME_ENV} to a folder of your own",
            SmartMatchWarning,
            stacklevel=3,
        )


def damaged_advice(path: Path, exc: BaseException) -> str:
    """What to say of the damaged record at ``path``, and what to do."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (
        f"the job record {path} is damaged ({why}): restore it from a backup, or delete it "
        "and match again (the job cannot be resumed without its record); the other jobs "
        "are not affected"
    )


def _read_no_link(path: Path) -> bytes:
    """The bytes of ``path``, refusing a symbolic link (ELOOP) rather than following it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as file:
        data = file.read(_MAX_RECORD_BYTES + 1)
    if len(data) > _MAX_RECORD_BYTES:
        raise DamagedRecordError(f"it is larger than {_MAX_RECORD_BYTES:,} bytes")
    return data


#: A record is a few KiB; a file larger than this is not one.
_MAX_RECORD_BYTES: Final = 4 * 2**20


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Never through a link planted under the lock's name: it would create its target.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        link = " (it is a symbolic link, which is never followed)" if path.is_symlink() else ""
        raise DiskError(
            f"the job store's lock {path} cannot be opened{link}: {exc.strerror or exc}. "
            "Remove it; it is made again as needed"
        ) from None
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
