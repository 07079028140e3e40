"""The one retry policy of the wire: how often, how long between, and what is worth it.

Every channel that talks to the network (the API and storage over HTTP, the
SFTP drop) and every layer that tries again above it (the job's polls, the
re-registration of an expired upload URL) asks this module:

- how many attempts each kind of exchange gets (:data:`CONNECT_RETRIES`,
  :data:`REGISTER_ATTEMPTS`, :data:`DOWNLOAD_ATTEMPTS`, :data:`SFTP_ATTEMPTS`,
  :data:`MAX_POLL_FAILURES` ...);
- how long to wait before the next one (:func:`backoff`: exponential from
  :data:`BACKOFF_FACTOR`, capped at :data:`BACKOFF_MAX`, with jitter so that
  many clients do not retry in step);
- how long a ``Retry-After`` may be before it is the caller's call rather
  than a silent wait (:data:`MAX_RETRY_AFTER`);
- which failures are transient (:func:`is_transient`) and which mean an
  expired presigned URL (:func:`is_expired_url`);
- which failures to connect are final (:func:`is_final`): a name that does
  not resolve, or a refused connection, is reported at once rather than
  after a minute of backoffs, since trying again within seconds does not
  cure it; a connect timeout, a reset or a temporary DNS failure is retried.

A failure to connect (:func:`connection_failure`) means that no byte of the
request left: a registration that failed so was certainly not made, whereas
one whose answer was lost may have been.

Waits go through the injectable clock (:mod:`smartmatch_pandas.clock`), so
tests can run every backoff without sleeping.
"""

from __future__ import annotations

import datetime
import email.utils
import errno
import math
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ResponseError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .. import clock as clocks
from ..errors import StorageError, TransportError
from . import watchdog

#: Seconds of the first retry's backoff; each further retry doubles it (plus jitter).
BACKOFF_FACTOR = 0.5
#: The longest backoff between two attempts, in seconds (jitter aside).
BACKOFF_MAX: Final = 20.0
#: The longest ``Retry-After`` waited for without a word; a longer one is the caller's call.
MAX_RETRY_AFTER = 120.0
#: HTTP statuses retried where a request is safe to repeat (429: refused, not done).
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: urllib3's budget for one HTTP request: in all, and per kind of failure.
TOTAL_RETRIES: Final = 8
#: Connect timeouts and resets are retried; a refusal or an unknown name is not (:func:`is_final`).
CONNECT_RETRIES: Final = 3
READ_RETRIES: Final = 3
STATUS_RETRIES: Final = 5
#: Attempts at a registration whose answer broke off once it had begun (re-registering is
#: allowed); failures before an answer began are urllib3's to retry, not multiplied here.
REGISTER_ATTEMPTS: Final = 3
#: Attempts at a download whose body was cut short.
DOWNLOAD_ATTEMPTS: Final = 3
#: Attempts at an SFTP operation whose connection dropped (each on a fresh connection).
SFTP_ATTEMPTS: Final = 5
#: Consecutive failed polls (network, HTTP 5xx), or polls refused as too soon,
#: tolerated before giving up.
MAX_POLL_FAILURES: Final = 10
#: Consecutive polls whose connection was refused (nothing listens at the service's address)
#: that end a wait: the service is not running, and waiting on would only hide it. The second
#: comes a poll interval after the first, past a restart's blip; the job is kept and resumed
#: by its filename, so ending the wait loses nothing.
MAX_REFUSED_POLLS: Final = 2
#: Fresh download URLs asked for when storage says one expired (HTTP 403).
MAX_URL_REFRESHES: Final = 3
#: Consecutive looks at the SFTP folder that may fail before waiting gives up.
MAX_LOOK_FAILURES: Final = 10


def backoff(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first): exponential,
    capped at :data:`BACKOFF_MAX`, with up to :data:`BACKOFF_FACTOR` of jitter.

    Examples
    --------
    >>> 0.5 <= backoff(1) <= 1.0 + BACKOFF_FACTOR
    True
    """
    base = min(BACKOFF_MAX, BACKOFF_FACTOR * 2.0 ** max(0, retry - 1))
    return base + random.uniform(0, BACKOFF_FACTOR)


def pause(retry: int, clock: clocks.Clock | None = None) -> None:
    """Wait out :func:`backoff` before retry number ``retry``, on ``clock`` (default
    :data:`smartmatch_pandas.clock.CLOCK`)."""
    (clock or clocks.CLOCK).sleep(backoff(retry))


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header, given in seconds or as an HTTP date
    (counted from ``now``, seconds since the epoch, default the time now); else None."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _seconds_until(date: str, now: float) -> float:
    """Seconds from ``now`` to an HTTP date; NaN if ``date`` is none."""
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return math.nan
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp() - now


def is_transient(exc: Exception) -> bool:
    """Whether ``exc`` is a failure that trying again may cure: the network, or the
    service's own trouble (HTTP 5xx), as opposed to an answer."""
    if isinstance(exc, TransportError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and status >= 500


def is_expired_url(exc: Exception) -> bool:
    """Whether storage refused a presigned URL (HTTP 403): a fresh one may be asked for."""
    return isinstance(exc, StorageError) and exc.status == 403


#: Failures to connect that trying again at once does not cure: nothing listens at the
#: port, or the network or host cannot be reached at all.
_FINAL_ERRNOS: Final = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})
#: Name lookups that failed for good (the name does not exist), as opposed to EAI_AGAIN.
_FINAL_LOOKUPS: Final = frozenset(
    code
    for code in (getattr(socket, n, None) for n in ("EAI_NONAME", "EAI_NODATA", "EAI_FAIL"))
    if code is not None
)


def connection_failure(exc: BaseException) -> ConnectTimeoutError | None:
    """The failure to connect behind a request's exception, or None if a connection was made.

    A failure to connect (an unknown name, a refused connection, a connect
    timeout) means that no byte of the request left, so the service did nothing.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectTimeoutError):  # NewConnectionError, NameResolutionError
            return current
        if isinstance(current, MaxRetryError):
            current = current.reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]  # how requests wraps urllib3's errors
        else:
            current = current.__cause__ or current.__context__
    return None


def is_final(failure: BaseException) -> bool:
    """Whether a failure to connect is not worth retrying within seconds: the name does not
    resolve, or the connection was refused (nothing listens there) or cannot be routed."""
    if not isinstance(failure, NewConnectionError):
        return False  # a connect timeout: the network may recover
    cause = failure.__cause__
    if isinstance(cause, socket.gaierror):
        return cause.errno in _FINAL_LOOKUPS
    return isinstance(cause, OSError) and cause.errno in _FINAL_ERRNOS


def why_not_connected(failure: BaseException) -> str:
    """A few words on a failure to connect, without the request's URL or any secret."""
    cause = failure.__cause__
    if isinstance(failure, NameResolutionError) or isinstance(cause, socket.gaierror):
        if isinstance(cause, socket.gaierror) and cause.errno not in _FINAL_LOOKUPS:
            return f"the name could not be looked up for now ({cause.strerror or cause})"
        return "the name does not resolve"
    if isinstance(cause, ConnectionRefusedError):
        return "the connection was refused (nothing listens at that port)"
    if isinstance(cause, OSError) and cause.errno in _FINAL_ERRNOS:
        return f"it cannot be reached ({cause.strerror or cause})"
    if isinstance(failure, NewConnectionError) and isinstance(cause, OSError):
        return f"the connection failed ({cause.strerror or cause})"
    return "connecting timed out"


@dataclass(frozen=True)
class Retrying:
    """A request about to be tried again: told to the watcher of :func:`watching`.

    Attributes
    ----------
    connecting
        Whether no connection could be made (rather than an answer lost or refused).
    reason
        What failed, in a few words, without the URL or any secret.
    retry
        The number of this retry (1 for the first).
    """

    connecting: bool
    reason: str
    retry: int


_WATCHER: ContextVar[Callable[[Retrying], None] | None] = ContextVar("_WATCHER", default=None)


@contextmanager
def watching(watcher: Callable[[Retrying], None]) -> Iterator[None]:
    """Tell ``watcher`` of each HTTP retry made in this context (the progress shows it)."""
    token = _WATCHER.set(watcher)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def _tell_watcher(error: Exception | None, response: BaseHTTPResponse | None, retry: int) -> None:
    watcher = _WATCHER.get()
    if watcher is None:
        return
    failure = connection_failure(error) if error is not None else None
    if failure is not None:
        reason = why_not_connected(failure)
    elif response is not None:
        reason = f"HTTP {response.status}"
    else:
        reason = f"the answer was lost ({type(error).__name__})"
    watcher(Retrying(connecting=failure is not None, reason=reason, retry=retry))


class _Retry(Retry):
    """urllib3's Retry, but a ``Retry-After`` longer than :data:`MAX_RETRY_AFTER` is
    not slept through: the answer goes back to the caller, who says so."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        wait = self.get_retry_after(response) if response is not None else None
        if wait is not None and wait > MAX_RETRY_AFTER:
            reason = ResponseError(f"Retry-After {wait:g} s")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        if error is not None and is_final(error):
            raise MaxRetryError(_pool, url, error) from error  # type: ignore[arg-type]
        dog = watchdog.active()
        if dog is not None and dog.fired:  # the exchange's time is up: no attempt can end in it
            raise MaxRetryError(_pool, url, error) from error  # type: ignore[arg-type]
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        _tell_watcher(error, response, len(new.history))
        return new

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds of a ``Retry-After``; one that cannot be read (``nan``, ``-5``) asks for
        nothing, and the backoff applies (urllib3 would fail the request as unreachable)."""
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next attempt on the package's clock: ``Retry-After`` if the
        answer asked for it, else the backoff."""
        wait = self.get_retry_after(response) if response is not None else None
        clocks.CLOCK.sleep(wait if wait else self.get_backoff_time())


def http_retry(*, status: bool, reads: bool) -> Retry:
    """urllib3's retries for one kind of HTTP exchange.

    Parameters
    ----------
    status
        Retry answers with a status in :data:`RETRY_STATUSES` (honouring a
        ``Retry-After`` up to :data:`MAX_RETRY_AFTER`).
    reads
        Retry a request whose answer broke off: only where repeating it is harmless.
    """
    return _Retry(
        total=TOTAL_RETRIES,
        connect=CONNECT_RETRIES,
        read=READ_RETRIES if reads else 0,
        status=STATUS_RETRIES if status else 0,
        other=0,
        backoff_factor=BACKOFF_FACTOR,
        backoff_max=BACKOFF_MAX,
        backoff_jitter=BACKOFF_FACTOR,
        status_forcelist=RETRY_STATUSES if status else (),
        allowed_methods=frozenset({"GET", "PUT"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
