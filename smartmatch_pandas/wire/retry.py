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
  expired presigned URL (:func:`is_expired_url`).

Waits go through the injectable clock (:mod:`smartmatch_pandas.clock`), so
tests can run every backoff without sleeping.
"""

from __future__ import annotations

import random
from types import TracebackType
from typing import Final, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .. import clock as clocks
from ..errors import StorageError, TransportError

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
CONNECT_RETRIES: Final = 5
READ_RETRIES: Final = 3
STATUS_RETRIES: Final = 5
#: Attempts at a registration whose answer broke off (re-registering is allowed).
REGISTER_ATTEMPTS: Final = 3
#: Attempts at a download whose body was cut short.
DOWNLOAD_ATTEMPTS: Final = 3
#: Attempts at an SFTP operation whose connection dropped (each on a fresh connection).
SFTP_ATTEMPTS: Final = 5
#: Consecutive failed polls (network, HTTP 5xx), or polls refused as too soon,
#: tolerated before giving up.
MAX_POLL_FAILURES: Final = 10
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


def retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header given in seconds, else None."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


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
        return super().increment(method, url, response, error, _pool, _stacktrace)

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
