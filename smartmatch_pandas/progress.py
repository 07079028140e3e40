"""Progress of a job through its stages, shown with tqdm or handed to a callable.

Stages: preparing, uploading (bytes), waiting (elapsed, polls, countdown to
the next poll), downloading (bytes), merging, done. ``progress=True`` draws
one ``tqdm.auto`` bar (a widget in a notebook, text in a terminal) that
moves through them; ``progress=False`` is silent; a callable receives a
:class:`ProgressEvent` at each change, for other UIs.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

Stage = Literal["preparing", "uploading", "waiting", "downloading", "merging", "done", "note"]


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
        A line for the user (the filename, the mapping, the summary).
    """

    stage: Stage
    done: int = 0
    total: int | None = None
    polls: int = 0
    next_poll_in: float | None = None
    elapsed: float = 0.0
    message: str | None = None


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

    @property
    def enabled(self) -> bool:
        """Whether anything is shown or called."""
        return self._show or self._callback is not None

    def note(self, message: str) -> None:
        """Tell the user one line (shown above the bar)."""
        if self._callback:
            self._callback(ProgressEvent("note", message=message))
        if self._show:
            if self._bar is not None:
                self._bar.write(message, file=sys.stdout)
            else:
                print(message, flush=True)

    def stage(self, stage: Stage, total: int | None = None) -> None:
        """Enter a stage; ``total`` bytes for a transfer."""
        self._started = time.monotonic()
        self._event = ProgressEvent(stage, total=total, polls=self._event.polls)
        if self._show and stage not in {"preparing", "done"}:
            self._draw_stage(stage, total)
        if stage == "done":
            self.close()
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
        """Finish the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _emit(self) -> None:
        if self._callback:
            self._callback(replace(self._event, elapsed=time.monotonic() - self._started))

    def _draw_stage(self, stage: Stage, total: int | None) -> None:
        from tqdm.auto import tqdm

        if self._bar is None:
            self._bar = tqdm(desc=stage, total=total, leave=True, dynamic_ncols=True)
        bytes_ = stage in {"uploading", "downloading"}
        self._bar.unit = "B" if bytes_ else (" polls" if stage == "waiting" else "it")
        self._bar.unit_scale = bytes_
        self._bar.unit_divisor = 1024 if bytes_ else 1000
        self._bar.set_description_str(stage, refresh=False)
        self._bar.set_postfix_str("", refresh=False)
        self._bar.total = total  # reset(total=None) would keep the previous total
        self._bar.reset(total)
