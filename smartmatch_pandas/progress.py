"""Progress of a job through its stages, shown with tqdm or handed to a callable.

Stages: preparing, registering (connecting while a connection is being
retried), uploading (bytes), waiting (elapsed, polls, countdown to the next
poll), downloading (bytes), merging, done. ``progress=True`` draws
one ``tqdm.auto`` line per stage (a widget in a notebook, text in a
terminal), each left in place when the next begins, so the whole journey
stays readable::

    preparing: 00:00
    registering: 00:00
    uploading: 100%|██████████| 8.34kB/8.34kB [00:00, 2.10MB/s]
    waiting: 00:31, polls: 2, ready
    downloading: 18.2kB [00:00, 3.55MB/s]
    merging: 00:00

``progress=False`` is silent; a callable receives a :class:`ProgressEvent`
at each change, for other UIs.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

Stage = Literal[
    "preparing",
    "connecting",
    "registering",
    "uploading",
    "waiting",
    "downloading",
    "merging",
    "done",
    "note",
]
#: What a note says: the new job's filename, rows and mapping (``"job"``), what its
#: options may cost (``"cost"``), that an earlier job of the same data and options is used
#: rather than a new one (``"earlier"``), or anything else (``"info"``).
NoteKind = Literal["info", "job", "cost", "earlier"]


@dataclass(frozen=True)
class ProgressEvent:
    """One change of a job's progress.

    Attributes
    ----------
    stage
        The stage the job is in; ``"note"`` carries a message for the user.
    done, total
        Bytes moved (uploading, downloading), or polls made (waiting); total
        is None where unknown.
    polls
        Polls made so far.
    next_poll_in
        Seconds until the next poll, while waiting.
    elapsed
        Seconds since the stage began.
    message
        A line for the user (the filename, the mapping, the summary), or
        while waiting what is awaited (``"waiting for the webhook"``, ``"ready"``).
    kind
        For a note, what it says (see :data:`NoteKind`), so a UI can pick notes
        without reading their words; None for other stages.
    job
        Which list the event is about, when several are matched at once
        (:func:`~smartmatch_pandas.match_lists`); None otherwise.
    """

    stage: Stage
    done: int = 0
    total: int | None = None
    polls: int = 0
    next_poll_in: float | None = None
    elapsed: float = 0.0
    message: str | None = None
    kind: NoteKind | None = None
    job: str | None = None


ProgressCallback = Callable[[ProgressEvent], Any]
ProgressArg = bool | ProgressCallback


def _check_progress(progress: object) -> None:
    if not (isinstance(progress, bool) or callable(progress)):
        from .errors import OptionError

        raise OptionError(
            f"progress={progress!r} must be True, False, or a callable taking a ProgressEvent"
        )


class Reporter:
    """Reports one job's progress to tqdm, to a callable, or nowhere."""

    def __init__(self, progress: ProgressArg = True) -> None:
        _check_progress(progress)
        self._callback = progress if callable(progress) and not isinstance(progress, bool) else None
        self._show = progress is True
        self._bar: Any = None
        self._event = ProgressEvent("preparing")
        self._started = time.monotonic()

    def note(self, message: str, kind: NoteKind = "info") -> None:
        """Tell the user one line (shown above the bar); ``kind`` says what it is about."""
        if self._callback:
            self._callback(ProgressEvent("note", message=message, kind=kind))
        if self._show:
            if self._bar is not None:
                self._bar.write(message, file=sys.stdout)
            else:
                print(message, flush=True)

    def stage(self, stage: Stage, total: int | None = None) -> None:
        """Enter a stage; ``total`` bytes for a transfer."""
        self._started = time.monotonic()
        self._event = ProgressEvent(stage, total=total, polls=self._event.polls)
        self.close()
        if self._show and stage != "done":
            self._bar = _stage_bar(stage, total)
        self._emit()

    def advance(self, n: int) -> None:
        """Count ``n`` more bytes moved."""
        self._event = replace(self._event, done=self._event.done + n)
        if self._bar is not None:
            self._bar.update(n)
        self._emit()

    def waiting(self, polls: int, next_poll_in: float | None, status: str | None = None) -> None:
        """While waiting: polls made, seconds to the next one, or what is awaited instead."""
        self._event = replace(
            self._event, polls=polls, done=polls, next_poll_in=next_poll_in, message=status
        )
        if self._bar is not None:
            self._bar.n = polls
            if status is None:
                status = f"next poll in {math.ceil(next_poll_in)} s" if next_poll_in else "polling"
            self._bar.set_postfix_str(status, refresh=True)
        self._emit()

    def close(self) -> None:
        """Finish the current stage's line, leaving it in place."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _emit(self) -> None:
        if self._callback:
            self._callback(replace(self._event, elapsed=time.monotonic() - self._started))


class Board:
    """One display of several jobs at once: a line that counts the lists finished and
    says where each other one is, and the notes of each, named.

    ``progress`` is as for one job: True draws the line (tqdm), False is silent, a
    callable receives every job's :class:`ProgressEvent`, each with its ``job``.
    """

    def __init__(self, progress: ProgressArg, names: list[str]) -> None:
        _check_progress(progress)
        self._progress = progress
        self._states = dict.fromkeys(names, "preparing")
        self._lock = threading.Lock()
        self._bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                desc="lists",
                total=len(names),
                bar_format="{desc}: {n}/{total} done [{elapsed}]{postfix}",
                leave=True,
                dynamic_ncols=True,
            )

    def reporter(self, name: str) -> Reporter:
        """The reporter of the job of list ``name``, drawing on this board."""
        return _BoardReporter(self, name)

    def show(self, name: str, state: str) -> None:
        """List ``name`` is at ``state`` now (a stage, polls, ``done``, ``failed``)."""
        with self._lock:
            self._states[name] = state
            if self._bar is not None:
                self._bar.n = sum(s in {"done", "failed"} for s in self._states.values())
                shown = ", ".join(f"{n}: {s}" for n, s in self._states.items() if s != "done")
                self._bar.set_postfix_str(shown, refresh=True)

    def note(self, message: str) -> None:
        """A line for the user, above the board."""
        with self._lock:
            if self._bar is not None:
                self._bar.write(message, file=sys.stdout)
            elif self._progress is True:
                print(message, flush=True)

    def emit(self, event: ProgressEvent) -> None:
        """Hand ``event`` to the callable given as ``progress``, if any."""
        if callable(self._progress) and not isinstance(self._progress, bool):
            self._progress(event)

    def close(self) -> None:
        """Leave the board's line in place."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


class _BoardReporter(Reporter):
    """A job's reporter that draws on a :class:`Board` rather than lines of its own."""

    def __init__(self, board: Board, name: str) -> None:
        super().__init__(False)
        self._board, self._name = board, name

    def note(self, message: str, kind: NoteKind = "info") -> None:
        self._board.emit(ProgressEvent("note", message=message, kind=kind, job=self._name))
        if kind != "info" or message.startswith("SmartMatch"):
            self._board.note(f"{self._name}: {message}")

    def stage(self, stage: Stage, total: int | None = None) -> None:
        super().stage(stage, total)
        self._board.show(self._name, stage)

    def waiting(self, polls: int, next_poll_in: float | None, status: str | None = None) -> None:
        super().waiting(polls, next_poll_in, status)
        self._board.show(self._name, status or f"waiting, {polls} polls")

    def _emit(self) -> None:
        event = replace(self._event, elapsed=time.monotonic() - self._started, job=self._name)
        self._board.emit(event)


@contextmanager
def reporting(progress: ProgressArg | Reporter) -> Iterator[Reporter]:
    """A :class:`Reporter` for ``progress``, its line closed at the end.

    A reporter given is used as it is and left open: whoever made it, a
    caller spanning several steps (``match()``), closes it.
    """
    if isinstance(progress, Reporter):
        yield progress
        return
    reporter = Reporter(progress)
    try:
        yield reporter
    finally:
        reporter.close()


#: What each stage's line shows (tqdm's ``bar_format``); byte counts scale to kB, MB.
_FORMATS: Final[dict[str, str]] = {
    "sized": "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B [{elapsed}, {rate_fmt}]",
    "bytes": "{desc}: {n_fmt}B [{elapsed}, {rate_fmt}]",
    "waiting": "{desc}: {elapsed}, polls: {n}{postfix}",
    "other": "{desc}: {elapsed}",
}


def _stage_bar(stage: Stage, total: int | None) -> Any:
    """A tqdm line (a widget in a notebook) for one stage, left in place when it closes."""
    from tqdm.auto import tqdm

    transfer = stage in {"uploading", "downloading"}
    if transfer:
        kind = "sized" if total else "bytes"
    else:
        kind = "waiting" if stage == "waiting" else "other"
    return tqdm(
        desc=stage,
        total=total if transfer else None,
        unit="B" if transfer else "it",
        unit_scale=transfer,
        unit_divisor=1024,
        bar_format=_FORMATS[kind],
        leave=True,
        dynamic_ncols=True,
    )
