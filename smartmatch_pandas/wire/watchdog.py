"""A deadline over a whole HTTP exchange: connect, request, status line, headers, body.

urllib3's read timeout bounds each read, not the exchange: a server that
drips its status line or headers one byte at a time, or a storage target
that reads an upload a few bytes at a time, keeps every read short and the
exchange going for ever. A :class:`Watchdog` holds the sockets of the
exchange it guards and, when the deadline passes, shuts them down from a
timer thread: the read or send blocked on them ends at once, and the
exchange fails with an error its caller turns into one of the family.

Each request of the exchange (a retry is a new one) is given until
``grace`` seconds after it starts, plus the time its body takes to send at
:data:`~smartmatch_pandas.wire.http.MIN_TRANSFER_RATE`, to be sent and
have its status line and headers back; the body that follows is the
caller's to time (it reads block by block, at a rate it checks), and the
caller's own ``deadline``, if given, bounds everything.

The sessions of :mod:`smartmatch_pandas.wire.http` open their connections
through :class:`WatchedAdapter`, whose connections hand their sockets to the
watchdog active in the thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any, Final

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError

from .. import clock as clocks

_ACTIVE: Final = threading.local()


class ExchangeCutError(ProtocolError):
    """The watchdog cut the exchange before its status line and headers had all come."""


class Watchdog:
    """Shuts an exchange's sockets down once its deadline passes.

    Parameters
    ----------
    deadline
        When the whole exchange must have ended (on :data:`clock.CLOCK`'s
        monotonic time), or None.
    grace
        Seconds each request has for being sent and answered with a status
        line and headers (the connect and read timeouts, say).
    sending
        Bytes of the request's body, which are given time to go at ``rate``.
    rate
        The slowest a request's body may go, in bytes per second.

    Examples
    --------
    >>> with Watchdog(deadline=None, grace=130.0) as dog:  # doctest: +SKIP
    ...     session.get(url)
    """

    def __init__(
        self, deadline: float | None, grace: float, sending: int = 0, rate: float = 8192.0
    ) -> None:
        self.deadline = deadline
        self.allowed = grace + sending / rate
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._done = False
        #: Why the exchange was cut, once it was: None until then.
        self.why: str | None = None

    @property
    def fired(self) -> bool:
        """Whether the deadline passed and the exchange's sockets were shut."""
        return self.why is not None

    def __enter__(self) -> Watchdog:
        self._previous = getattr(_ACTIVE, "dog", None)
        _ACTIVE.dog = self
        self._arm(self.deadline, "did not end within the time allowed")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _ACTIVE.dog = self._previous
        with self._lock:
            self._done = True
            self._sockets.clear()
            if self._timer is not None:
                self._timer.cancel()

    def request_started(self) -> None:
        """A request is about to be sent: it has ``allowed`` seconds until its headers."""
        until = clocks.CLOCK.monotonic() + self.allowed
        if self.deadline is None or until < self.deadline:
            self._arm(until, f"was not sent and answered with headers within {self.allowed:.0f} s")
        else:
            self._arm(self.deadline, "did not end within the time allowed")

    def headers_received(self) -> None:
        """The status line and headers came: only the caller's deadline is left."""
        self._arm(self.deadline, "did not end within the time allowed")

    def hold(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down with the others when the deadline passes (at once if it did)."""
        if sock is None:
            return
        with self._lock:
            if self._done:
                return
            self._sockets.append(sock)
            if self.why is None:
                return
        _shut(sock)

    def _arm(self, until: float | None, why: str) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if until is None or self._done or self.why is not None:
                return
            left = max(0.0, until - clocks.CLOCK.monotonic())
            self._timer = threading.Timer(left, self._fire, args=(why,))
            self._timer.daemon = True
            self._timer.start()

    def _fire(self, why: str) -> None:
        with self._lock:
            if self._done or self.why is not None:
                return
            self.why = why
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def active() -> Watchdog | None:
    """The watchdog guarding the exchange under way in this thread, if any."""
    return getattr(_ACTIVE, "dog", None)


def _shut(sock: socket.socket) -> None:
    """End every read and send on ``sock``, from any thread (its TLS layer aside: the
    plain socket's shutdown, so a thread reading through TLS is not left mid-record)."""
    with contextlib.suppress(OSError):  # closed already
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """What a connection does for the watchdog of its thread: hand it each socket it
    opens or reuses, and say when a request starts and when its headers came."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        dog = active()
        if dog is not None:
            dog.hold(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        dog = active()
        if dog is not None:
            dog.request_started()
            dog.hold(self.sock)  # a kept-alive connection: no new socket
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        response = super().getresponse()  # type: ignore[misc]
        dog = active()
        if dog is not None:
            if dog.fired:
                # http.client reads a head cut short as a whole one: the shut socket's end
                # ends the headers. An exchange the watchdog cut has no answer, whatever it
                # seems to say.
                response.close()
                raise ExchangeCutError(f"the exchange {dog.why}")
            dog.headers_received()
        return response


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections a :class:`Watchdog` can cut, moving bodies in
    ``blocksize`` blocks."""

    def __init__(self, *args: Any, blocksize: int = 1 << 20, **kwargs: Any) -> None:
        self._blocksize = blocksize
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", self._blocksize)
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
