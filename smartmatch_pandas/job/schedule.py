"""The poll budget: one poll per interval per API key, taken in turn by the jobs waiting.

TargetSmart's poll endpoint is "rate-limited to 1 request every 30 seconds" and
names no scope; its API sits behind a gateway whose throttles are per key. The
safe reading is one poll per interval per key, whichever job it is for, so the
jobs waiting under one key share one :class:`Budget`: the one that has waited
longest since its last poll goes next, and a 429's ``Retry-After`` pauses them
all. The same rule runs in two places:

- in the process, :data:`SCHEDULE` (a :class:`PollSchedule`) keeps a budget per
  lane (the service's host and the key's fingerprint), timed by a
  :class:`~smartmatch_pandas.clock.Clock`, so tests run it on a
  :class:`~smartmatch_pandas.clock.ManualClock` instead of sleeping;
- across processes, the job store keeps the budgets of every lane in one file
  under its lock (:meth:`~smartmatch_pandas.job.store.JobStore.take_poll_turn`),
  timed by the wall clock.

A job that stops waiting without saying so (its process died) is passed over
once it is :data:`GRACE` seconds late for a turn.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Final

from .. import clock as clocks
from ..clock import Clock

#: A poll budget's lane: (the service's host, the API key's fingerprint).
Lane = tuple[str, str]
#: Seconds a waiting job may be late for its turn before the others are let past it.
GRACE: Final = 10.0
#: Seconds after which a job whose turn it is not looks again, while the slot is free or
#: another job's poll is out (asking costs no request, only a look at the schedule).
TURN_CHECK: Final = 0.05


@dataclass
class Budget:
    """One lane's poll budget: when the next poll may go, and who waits for it.

    Attributes
    ----------
    next
        The earliest moment of the next poll (infinite while a poll is out, in a
        process; the end of the hold, in the store).
    waiting
        For each job waiting its turn: ``[since, seen]``, when it last polled (or
        began to wait) and when it last asked.
    """

    next: float = 0.0
    waiting: dict[str, list[float]] = field(default_factory=dict)

    def turn(
        self, filename: str, now: float, *, queue: bool = True, waited: float | None = None
    ) -> float:
        """0.0 if ``filename`` may poll now, else the seconds before it asks again.

        ``queue`` False asks without joining the queue (a status refresh: it
        polls only when nobody waits); ``waited`` says how long the job has
        waited already (elsewhere), to keep its place: its place is the earlier of
        that and the one it holds.
        """
        self._forget_the_absent(now)
        entry = self.waiting.get(filename)
        if queue:
            since = now - (waited or 0.0)
            self.waiting[filename] = [min(since, entry[0]) if entry else since, now]
        return self.delay(filename, now)

    def delay(self, filename: str, now: float, *, join: bool = False) -> float:
        """Seconds until ``filename`` may try its turn (0 if now); asking keeps its place,
        and with ``join`` takes one at the back of the queue if it has none."""
        self._forget_the_absent(now)
        if filename in self.waiting:
            self.waiting[filename][1] = now
        elif join:
            self.waiting[filename] = [now, now]
        if self.next > now:
            return self.next - now
        return 0.0 if self.first() in (None, filename) else TURN_CHECK

    def first(self) -> str | None:
        """The job whose turn it is: the one waiting longest (by name, on a tie)."""
        if not self.waiting:
            return None
        return min(self.waiting, key=lambda name: (self.waiting[name][0], name))

    def answered(self, filename: str, now: float, wait: float, *, done: bool) -> None:
        """A poll of ``filename`` was answered (or none was made): the next poll of the
        lane is due ``wait`` seconds from now; the job goes to the back of the queue,
        or leaves it when ``done``."""
        self.next = now + wait
        if done:
            self.waiting.pop(filename, None)
        elif filename in self.waiting:
            # Behind every other job, even one that began to wait this same instant.
            others = [since for name, (since, _) in self.waiting.items() if name != filename]
            self.waiting[filename] = [max([now, *(s + 1e-6 for s in others)]), now]

    def leave(self, filename: str) -> None:
        """``filename`` no longer waits."""
        self.waiting.pop(filename, None)

    def waited(self, filename: str, now: float) -> float:
        """Seconds ``filename`` has waited for its turn (0 if it is not waiting)."""
        entry = self.waiting.get(filename)
        return max(0.0, now - entry[0]) if entry else 0.0

    def _forget_the_absent(self, now: float) -> None:
        # Only judged while the slot is open: a job may sleep until then.
        opened = self.next if math.isfinite(self.next) else now
        for name, (_, seen) in list(self.waiting.items()):
            if now - max(seen, opened) > GRACE:
                del self.waiting[name]

    def as_json(self) -> dict[str, Any]:
        """The budget as JSON (the store's file)."""
        return {"next": self.next if math.isfinite(self.next) else None, "waiting": self.waiting}

    @classmethod
    def from_json(cls, data: object) -> Budget:
        """The budget that :meth:`as_json` wrote; an empty one for anything else."""
        if not isinstance(data, dict):
            return cls()
        waiting = data.get("waiting")
        entries = {
            str(name): [float(entry[0]), float(entry[1])]
            for name, entry in (waiting.items() if isinstance(waiting, dict) else ())
            if isinstance(entry, list) and len(entry) == 2
        }
        next_ = data.get("next")
        return cls(next_ if isinstance(next_, int | float) else 0.0, entries)


class PollSchedule:
    """The poll budgets of this process, one per lane, on one clock.

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
        self._budgets: dict[Lane, Budget] = {}
        self._lock = threading.Lock()

    @property
    def clock(self) -> Clock:
        """The clock given, or else the package's clock as it is now (a test may swap it)."""
        return self._clock if self._clock is not None else clocks.CLOCK

    def _budget(self, lane: Lane) -> Budget:
        return self._budgets.setdefault(lane, Budget())

    def delay(self, lane: Lane, filename: str) -> float:
        """Seconds until ``filename`` may try its turn (0 if now; infinite while a poll
        of the lane is out). The job asking waits for its turn: it joins the queue, or
        keeps its place there."""
        with self._lock:
            return self._budget(lane).delay(filename, self.clock.monotonic(), join=True)

    def claim(self, lane: Lane, filename: str, *, queue: bool = True) -> bool:
        """Take the lane's one poll for ``filename`` now; False if it is not its turn.

        While the poll is under way nobody else under the key may poll: the slot
        is held, however long the answer takes (retries, a slow network), until
        :meth:`record` is told when the next poll is due.
        """
        with self._lock:
            budget = self._budget(lane)
            if budget.turn(filename, self.clock.monotonic(), queue=queue) > 0:
                return False
            budget.next = math.inf
            return True

    def record(self, lane: Lane, filename: str, wait: float, *, done: bool = False) -> None:
        """A poll of the lane was answered (or none was made, or another process's
        schedule stands): its next poll is due ``wait`` seconds from now."""
        with self._lock:
            self._budget(lane).answered(filename, self.clock.monotonic(), wait, done=done)

    def pause(self, lane: Lane, wait: float) -> None:
        """Nobody under the lane polls for ``wait`` seconds (another process's turn)."""
        with self._lock:
            self._budget(lane).next = self.clock.monotonic() + wait

    def leave(self, lane: Lane, filename: str) -> None:
        """``filename`` stops waiting (done, timed out, interrupted)."""
        with self._lock:
            self._budget(lane).leave(filename)

    def waited(self, lane: Lane, filename: str) -> float:
        """Seconds ``filename`` has waited for its turn in this process."""
        with self._lock:
            return self._budget(lane).waited(filename, self.clock.monotonic())


#: The schedule every job of this process polls by, unless it is given its own.
SCHEDULE: Final = PollSchedule()
