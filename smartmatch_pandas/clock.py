"""The time the package waits by: one injectable clock for schedules, backoffs and timeouts.

Everything that waits asks :data:`CLOCK` (or a clock it was given) rather than the
:mod:`time` module, so tests can run a 30-second poll interval, a backoff or a
timeout in no time with a :class:`ManualClock`, without sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a way to wait them out."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        """Wait for ``event`` at most ``seconds`` (None: for ever); whether it is set."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and real waits."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        return event.wait(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to, or when something sleeps on it.

    ``sleep(s)`` and an unanswered ``wait(event, s)`` advance the time by ``s`` at
    once, so code that waits runs instantly and deterministically.

    Examples
    --------
    >>> clock = ManualClock()
    >>> clock.sleep(30); clock.monotonic()
    30.0
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: Every sleep and wait asked for, in seconds, in order.
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        with self._lock:
            self._now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        if event.is_set():
            return True
        if seconds is None:
            return event.wait()
        self.sleep(seconds)
        return event.is_set()

    def __repr__(self) -> str:
        return f"ManualClock(now={self.monotonic()})"


#: The clock used unless one is given.
CLOCK: Clock = SystemClock()
