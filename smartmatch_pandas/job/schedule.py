"""The poll schedule: when each job may be polled again, shared by the whole process.

The poll endpoint allows one request per filename every 30 seconds. One
process-wide :data:`SCHEDULE` holds, per (service host, filename), the earliest
moment of the next poll, so any number of jobs, threads or ``status()`` calls on
the same filename never poll it sooner than allowed. Time is read from a
:class:`~smartmatch_pandas.clock.Clock`, so tests run the schedule with a
:class:`~smartmatch_pandas.clock.ManualClock` instead of sleeping.
"""

from __future__ import annotations

import math
import threading
from typing import Final

from .. import clock as clocks
from ..clock import Clock

#: A job at a service: (the service's host, the job's filename).
JobKey = tuple[str, str]


class PollSchedule:
    """The earliest moment each job may be polled again.

    Parameters
    ----------
    clock
        What "now" is; the real clock unless a test gives another.

    Attributes
    ----------
    clock
        The schedule's clock, which the jobs waiting on it wait by too.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock
        self._next: dict[JobKey, float] = {}
        self._lock = threading.Lock()

    @property
    def clock(self) -> Clock:
        """The clock given, or else the package's clock as it is now (a test may swap it)."""
        return self._clock if self._clock is not None else clocks.CLOCK

    def delay(self, key: JobKey) -> float:
        """Seconds until ``key`` may be polled (0 if now; infinite while a poll is out)."""
        with self._lock:
            return max(0.0, self._next.get(key, 0.0) - self.clock.monotonic())

    def claim(self, key: JobKey) -> bool:
        """Take the right to poll ``key`` now; False if it is not yet due.

        While the poll is under way nobody else may poll: the slot is held,
        however long the answer takes (retries, a slow network), until
        :meth:`record` is told when the next poll is due.
        """
        with self._lock:
            if self._next.get(key, 0.0) > self.clock.monotonic():
                return False
            self._next[key] = math.inf
            return True

    def record(self, key: JobKey, wait: float) -> None:
        """An answer came (or no poll was made): the next poll is due ``wait`` seconds from now."""
        with self._lock:
            self._next[key] = self.clock.monotonic() + wait


#: The schedule every job of this process polls by, unless it is given its own.
SCHEDULE: Final = PollSchedule()
