"""Faults the local service injects on request, to test a client: this package's or yours.

A :class:`Fault` says what goes wrong, where (an endpoint), for which job
(optionally one filename) and how often (the first ``times`` matching
requests or jobs, or every one with ``times=None``)::

    from smartmatch_pandas.local import Fault, LocalService

    with LocalService(faults=[Fault.status_code(503, "poll", times=2)]) as service:
        service.inject(Fault.drop("download"), Fault.webhook_twice())
        ...
        service.faults.fired          # what was injected, in order

From the shell, ``smartmatch-pandas serve --fault poll:status=503,times=2``
takes the same faults in the text form :meth:`Fault.parse` reads and
``str(fault)`` writes.

Endpoints and the faults each takes:

=============  ===========================================================
``register``   status, delay, drop, trickle
``poll``       status, delay, drop, trickle, never_ready
``upload``     status, delay, drop, expired (the upload URLs handed out)
``download``   status, delay, drop, trickle, expired (the download URLs
               handed out), truncated, corrupt
``job``        fail, missing_rows, unknown_ids (when a job is processed)
``webhook``    lost, twice
=============  ===========================================================

This module knows nothing of HTTP or of the client: the server and the
service ask :class:`Faults` whether a fault applies where they could
inject one, and do the injecting themselves.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Final, Literal, get_args

import numpy as np
import pyarrow as pa

from ..identifiers import MATCHBACK_ID

Endpoint = Literal["register", "poll", "upload", "download", "job", "webhook"]
Kind = Literal[
    "status",
    "delay",
    "drop",
    "trickle",
    "expired",
    "never_ready",
    "truncated",
    "corrupt",
    "fail",
    "missing_rows",
    "unknown_ids",
    "lost",
    "twice",
]
ENDPOINTS: Final[tuple[str, ...]] = get_args(Endpoint)
KINDS: Final[tuple[str, ...]] = get_args(Kind)

_HTTP: Final = frozenset({"register", "poll", "upload", "download"})
#: Where each kind of fault can be injected.
WHERE: Final[dict[str, frozenset[str]]] = {
    "status": _HTTP,
    "delay": _HTTP,
    "drop": _HTTP,
    "trickle": frozenset({"register", "poll", "download"}),
    "expired": frozenset({"upload", "download"}),
    "never_ready": frozenset({"poll"}),
    "truncated": frozenset({"download"}),
    "corrupt": frozenset({"download"}),
    "fail": frozenset({"job"}),
    "missing_rows": frozenset({"job"}),
    "unknown_ids": frozenset({"job"}),
    "lost": frozenset({"webhook"}),
    "twice": frozenset({"webhook"}),
}
#: The faults a request can meet when it arrives, before it is served.
REQUEST_KINDS: Final = frozenset({"status", "delay", "drop", "trickle", "truncated", "corrupt"})
#: The value ``ENDPOINT:KIND=VALUE`` sets, per kind.
_VALUE_OF: Final = {
    "status": "status",
    "delay": "seconds",
    "trickle": "rate",
    "truncated": "keep",
    "fail": "message",
    "missing_rows": "rows",
    "unknown_ids": "rows",
}
_OPTIONS: Final = ("times", "filename", "retry_after", "body", "content_type")
_OPTION_SPLIT: Final = re.compile(rf",(?=(?:{'|'.join(_OPTIONS)})=)")
_DEFAULT_FAILURE: Final = "Internal Error: the job could not be processed (injected fault)"
#: ``matchback_id`` values of the rows an ``unknown_ids`` fault adds: far beyond any row sent.
_UNKNOWN_BASE: Final = 9_000_000_000


@dataclass(frozen=True)
class Fault:
    """One fault: what goes wrong, where, for which job, how often.

    Build one with the constructors (:meth:`status`, :meth:`delay`,
    :meth:`drop`, ...) or :meth:`parse`.

    Attributes
    ----------
    kind
        What goes wrong (see the module's table).
    endpoint
        Where: ``register``, ``poll``, ``upload``, ``download``, ``job`` or ``webhook``.
    times
        How many matching requests (or jobs, or webhooks) it affects; None: every one.
    filename
        Only the job of this filename; None: any job.
    status, retry_after, body, content_type
        ``status``: the HTTP status answered, its ``Retry-After`` header, and
        a body (default: the endpoint's own error body, SmartMatch JSON or S3 XML).
    seconds
        ``delay``: seconds the answer waits.
    rate
        ``trickle``: bytes per second the answer's body is sent at.
    keep
        ``truncated``: the share of the deliverable's bytes served.
    message
        ``fail``: the job's error string, as the poll reports it.
    rows
        ``missing_rows``: rows left out of the best-match file; ``unknown_ids``:
        rows added to it with a ``matchback_id`` that was never sent.
    """

    kind: Kind
    endpoint: Endpoint
    times: int | None = 1
    filename: str | None = None
    status: int | None = None
    retry_after: float | None = None
    body: str | None = None
    content_type: str | None = None
    seconds: float = 0.0
    rate: float = 0.0
    keep: float = 0.5
    message: str | None = None
    rows: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: choose from {', '.join(KINDS)}")
        if self.endpoint not in WHERE[self.kind]:
            raise ValueError(
                f"a {self.kind} fault applies to {_either(WHERE[self.kind])}, "
                f"not to {self.endpoint!r}"
            )
        if self.times is not None and (isinstance(self.times, bool) or self.times < 1):
            raise ValueError(f"times={self.times!r} must be a positive count, or None for always")
        checks = {
            "status": self.status is not None and 100 <= self.status <= 599,
            "delay": self.seconds >= 0,
            "trickle": self.rate > 0,
            "truncated": 0 <= self.keep < 1,
            "missing_rows": self.rows >= 1,
            "unknown_ids": self.rows >= 1,
        }
        if not checks.get(self.kind, True):
            name = _VALUE_OF[self.kind]
            raise ValueError(f"{self.kind} fault: {name}={getattr(self, name)!r} is out of range")
        if self.kind == "fail" and not self.message:
            object.__setattr__(self, "message", _DEFAULT_FAILURE)

    # -- constructors ----------------------------------------------------------------

    @classmethod
    def status_code(
        cls,
        status: int,
        endpoint: Endpoint,
        *,
        times: int | None = 1,
        filename: str | None = None,
        retry_after: float | None = None,
        body: str | None = None,
        content_type: str | None = None,
    ) -> Fault:
        """Answer ``status`` instead (500, 502, 503, 504, 429, 403, or any other).

        ``body`` replaces the endpoint's own error body (an HTML page from a
        proxy, plain text, JSON of another shape); ``retry_after`` adds the header.
        """
        return cls(
            "status",
            endpoint,
            times=times,
            filename=filename,
            status=status,
            retry_after=retry_after,
            body=body,
            content_type=content_type,
        )

    @classmethod
    def delay(
        cls,
        seconds: float,
        endpoint: Endpoint,
        *,
        times: int | None = 1,
        filename: str | None = None,
    ) -> Fault:
        """Wait ``seconds`` before answering (then answer as usual)."""
        return cls("delay", endpoint, times=times, filename=filename, seconds=seconds)

    @classmethod
    def drop(
        cls, endpoint: Endpoint, *, times: int | None = 1, filename: str | None = None
    ) -> Fault:
        """Drop the connection mid-body: half the answer is sent (for an upload,
        half the body is read), then the connection is closed."""
        return cls("drop", endpoint, times=times, filename=filename)

    @classmethod
    def trickle(
        cls,
        rate: float,
        endpoint: Endpoint,
        *,
        times: int | None = 1,
        filename: str | None = None,
    ) -> Fault:
        """Send the answer's body at ``rate`` bytes per second."""
        return cls("trickle", endpoint, times=times, filename=filename, rate=rate)

    @classmethod
    def expired(
        cls, endpoint: Endpoint, *, times: int | None = 1, filename: str | None = None
    ) -> Fault:
        """Hand out presigned URLs (``upload`` or ``download``) that have already expired."""
        return cls("expired", endpoint, times=times, filename=filename)

    @classmethod
    def never_ready(cls, *, times: int | None = None, filename: str | None = None) -> Fault:
        """Polls answer "not ready" even once the job is done (every poll by default)."""
        return cls("never_ready", "poll", times=times, filename=filename)

    @classmethod
    def truncated(
        cls, *, keep: float = 0.5, times: int | None = 1, filename: str | None = None
    ) -> Fault:
        """Serve the deliverable cut short: its first ``keep`` share, as if the file were."""
        return cls("truncated", "download", times=times, filename=filename, keep=keep)

    @classmethod
    def corrupt(cls, *, times: int | None = 1, filename: str | None = None) -> Fault:
        """Serve the deliverable with bytes in its middle replaced by noise."""
        return cls("corrupt", "download", times=times, filename=filename)

    @classmethod
    def fail(
        cls,
        message: str = _DEFAULT_FAILURE,
        *,
        times: int | None = 1,
        filename: str | None = None,
    ) -> Fault:
        """The job fails: its polls report ``message`` as the error."""
        return cls("fail", "job", times=times, filename=filename, message=message)

    @classmethod
    def missing_rows(
        cls, rows: int = 1, *, times: int | None = 1, filename: str | None = None
    ) -> Fault:
        """The deliverable's best-match file leaves out ``rows`` rows that were sent."""
        return cls("missing_rows", "job", times=times, filename=filename, rows=rows)

    @classmethod
    def unknown_ids(
        cls, rows: int = 1, *, times: int | None = 1, filename: str | None = None
    ) -> Fault:
        """The best-match file gains ``rows`` rows whose ``matchback_id`` was never sent."""
        return cls("unknown_ids", "job", times=times, filename=filename, rows=rows)

    @classmethod
    def no_webhook(cls, *, times: int | None = 1, filename: str | None = None) -> Fault:
        """The webhook of a finished job is never posted."""
        return cls("lost", "webhook", times=times, filename=filename)

    @classmethod
    def webhook_twice(cls, *, times: int | None = 1, filename: str | None = None) -> Fault:
        """The webhook of a finished job is posted twice."""
        return cls("twice", "webhook", times=times, filename=filename)

    # -- the text form ------------------------------------------------------------------

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """A fault from its text form, ``ENDPOINT:KIND[=VALUE][,OPTION=VALUE...]``.

        Options: ``times`` (a count, or ``always``; default 1, but ``always`` for
        ``never_ready``), ``filename``, ``retry_after``, ``body`` and
        ``content_type``. Examples: ``poll:status=503,times=2``,
        ``register:status=429,retry_after=2``,
        ``download:trickle=512``, ``upload:expired``, ``poll:never_ready``,
        ``job:fail=Internal Error: disk full,filename=job_1``, ``webhook:twice``.

        Raises
        ------
        ValueError
            The text is not a fault; the message says which part.
        """
        where, colon, rest = spec.partition(":")
        if not colon or not rest:
            raise ValueError(f"fault {spec!r} must look like ENDPOINT:KIND[=VALUE][,times=N]")
        first, *options = _OPTION_SPLIT.split(rest)
        kind, _, value = first.partition("=")
        if kind not in KINDS:
            raise ValueError(
                f"fault {spec!r}: unknown kind {kind!r}; choose from {', '.join(KINDS)}"
            )
        if where not in ENDPOINTS:
            raise ValueError(
                f"fault {spec!r}: unknown endpoint {where!r}; choose from {', '.join(ENDPOINTS)}"
            )
        # A poll that is "never ready" is so on every poll, unless told otherwise.
        values: dict[str, object] = {"times": None} if kind == "never_ready" else {}
        if value:
            if kind not in _VALUE_OF:
                raise ValueError(f"fault {spec!r}: a {kind} fault takes no value")
            values[_VALUE_OF[kind]] = value
        for option in options:
            name, _, text = option.partition("=")
            values[name] = None if name == "times" and text == "always" else text
        return cls(kind, where, **_typed(values, spec))  # type: ignore[arg-type]

    def __str__(self) -> str:
        text = f"{self.endpoint}:{self.kind}"
        if self.kind in _VALUE_OF:
            value = getattr(self, _VALUE_OF[self.kind])
            text += f"={_shown(value)}"
        defaults = {f.name: f.default for f in fields(self)}
        if self.kind == "never_ready":
            defaults["times"] = None
        for name in _OPTIONS:
            value = getattr(self, name)
            if value != defaults[name]:
                text += f",{name}={'always' if value is None else _shown(value)}"
        return text


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _either(names: frozenset[str]) -> str:
    ordered = [n for n in ENDPOINTS if n in names]
    return " or ".join(repr(n) for n in ordered)


_NUMBERS: Final = {
    "times": int,
    "status": int,
    "rows": int,
    "retry_after": float,
    "seconds": float,
    "rate": float,
    "keep": float,
}


def _typed(values: dict[str, object], spec: str) -> dict[str, object]:
    """The text values of a parsed spec, as the fields' types."""
    known = {f.name for f in fields(Fault)}
    out: dict[str, object] = {}
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"fault {spec!r}: unknown option {name!r}")
        convert = _NUMBERS.get(name)
        if convert is None or not isinstance(value, str):
            out[name] = value
            continue
        try:
            out[name] = convert(value)
        except ValueError:
            raise ValueError(f"fault {spec!r}: {name}={value!r} is not a number") from None
    return out


@dataclass(frozen=True)
class Fired:
    """A fault that was injected: which, into which job, when (``time.time()``)."""

    fault: Fault
    filename: str | None
    at: float


@dataclass
class _Armed:
    fault: Fault
    left: int | None


class Faults:
    """The faults a service injects: thread-safe, changeable while it runs.

    Each fault is consumed by the requests (or jobs, or webhooks) it hits,
    the first ``times`` of them; an exhausted fault is dropped.
    """

    def __init__(self, faults: tuple[Fault, ...] | list[Fault] = ()) -> None:
        self._armed: list[_Armed] = []
        self._fired: list[Fired] = []
        self._lock = threading.Lock()
        self.add(*faults)

    def __repr__(self) -> str:
        return f"Faults({', '.join(str(f) for f in self.active) or 'none'})"

    def add(self, *faults: Fault) -> None:
        """Arm ``faults``, after those already armed."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected a Fault, got {fault!r}: see Fault.parse for text")
        with self._lock:
            self._armed += [_Armed(fault, fault.times) for fault in faults]

    def remove(self, fault: Fault) -> None:
        """Disarm ``fault`` (every armed copy of it)."""
        with self._lock:
            self._armed = [a for a in self._armed if a.fault != fault]

    def clear(self) -> None:
        """Disarm every fault, and forget what fired."""
        with self._lock:
            self._armed.clear()
            self._fired.clear()

    @property
    def active(self) -> list[Fault]:
        """The faults still armed, each with the ``times`` it has left."""
        with self._lock:
            return [replace(a.fault, times=a.left) for a in self._armed]

    @property
    def fired(self) -> list[Fired]:
        """Every fault injected, in order."""
        with self._lock:
            return list(self._fired)

    def count(self, kind: str | None = None, endpoint: str | None = None) -> int:
        """How many faults were injected (of ``kind``, at ``endpoint``)."""
        return sum(
            1
            for f in self.fired
            if kind in (None, f.fault.kind) and endpoint in (None, f.fault.endpoint)
        )

    def take(self, endpoint: str, kinds: frozenset[str], filename: str | None) -> Fault | None:
        """The first armed fault of ``kinds`` at ``endpoint`` for ``filename``, consumed once."""
        with self._lock:
            for armed in self._armed:
                fault = armed.fault
                if fault.endpoint != endpoint or fault.kind not in kinds:
                    continue
                if fault.filename is not None and fault.filename != filename:
                    continue
                if armed.left is not None:
                    armed.left -= 1
                    if armed.left == 0:
                        self._armed.remove(armed)
                self._fired.append(Fired(fault, filename, time.time()))
                return fault
        return None


# -- what the faults do to a deliverable ---------------------------------------------------


def leave_out_rows(table: pa.Table, rows: int) -> pa.Table:
    """``table`` without ``rows`` of its rows, spread over it."""
    n = table.num_rows
    gone = np.unique(np.linspace(0, n - 1, num=min(rows, n)).round().astype(np.int64))
    keep = np.ones(n, dtype=bool)
    keep[gone] = False
    return table.filter(pa.array(keep))


def add_unknown_ids(table: pa.Table, rows: int) -> pa.Table:
    """``table`` with ``rows`` more rows (copies of its first) whose ids were never sent."""
    if MATCHBACK_ID not in table.column_names or table.num_rows == 0:
        return table
    copies = table.take(pa.array(np.arange(rows) % table.num_rows))
    ids = pa.array([str(_UNKNOWN_BASE + i) for i in range(rows)], pa.string())
    position = copies.column_names.index(MATCHBACK_ID)
    copies = copies.set_column(position, MATCHBACK_ID, ids.cast(copies.schema.field(position).type))
    return pa.concat_tables([table, copies])


def cut_short(data: bytes, keep: float) -> bytes:
    """The first ``keep`` share of ``data``: a file cut short."""
    return data[: int(len(data) * keep)]


def damage(data: bytes) -> bytes:
    """``data`` with up to 64 bytes in its middle replaced by noise (same length)."""
    size = min(64, len(data) // 4)
    start = len(data) // 2
    noise = secrets.token_bytes(size)
    return data[:start] + noise + data[start + size :]
