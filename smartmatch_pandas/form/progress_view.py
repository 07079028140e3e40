"""The form's progress display: the stages a job went through, a bar, and a line of detail."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..progress import ProgressEvent
from .html import AMBER, GREY, note, size_text, stage_line


class ProgressView:
    """The stages as pills, a bar for transfers, and what is happening, in words.

    Parameters
    ----------
    w
        The ``ipywidgets`` module.
    """

    def __init__(self, w: Any) -> None:
        self._stages = w.HTML()
        self._bar = w.FloatProgress(
            value=0,
            min=0,
            max=1,
            description="transferred",  # its accessible name; the line beside it says more
            layout=w.Layout(width="260px", margin="0 10px 0 0"),
        )
        self._bar.add_class("sm-hidden-label")
        self._detail = w.HTML()
        #: The display's root widget, hidden until a job starts.
        self.widget = w.VBox(
            [self._stages, w.HBox([self._bar, self._detail])],
            layout=w.Layout(display="none"),
        )

    def show(self) -> None:
        """Show the display, bar included, for a job starting."""
        self.widget.layout.display = "flex"
        self._bar.layout.display = ""

    def hide(self, *, failed: bool = False) -> None:
        """Hide the display; a failed job's stages are shown none done."""
        if failed:
            self._stages.value = stage_line(None)
        self.widget.layout.display = "none"

    def draw(self, event: ProgressEvent) -> None:
        """Show where the job is: its stage, and the transfer or the wait."""
        self._stages.value = stage_line(event.stage)
        if event.stage in {"uploading", "downloading"}:
            self._bar.layout.display = ""
            total = event.total or 0
            self._bar.max = max(total, 1)
            self._bar.value = min(event.done, total) if total else 0
            self._bar.bar_style = ""
            shown = size_text(event.done) + (f" of {size_text(total)}" if total else "")
            self._detail.value = note(f"{event.stage} {shown}", GREY)
        elif event.stage == "waiting":
            # A moving stripe, not a full bar: a full bar reads as finished.
            self._bar.layout.display = "none"
            self._detail.value = waiting_html(event)
        elif event.stage == "done":
            self._bar.layout.display = "none"
            self._detail.value = ""
        else:
            self._detail.value = note(f"{event.stage}…", GREY)


def waiting_html(event: ProgressEvent) -> str:
    """The wait: a moving stripe and what is awaited; why the last poll failed, if it did."""
    status = event.message
    trouble = status is not None and "failed in a row" in status
    if status is None:
        status = (
            f"next poll in {int(np.ceil(event.next_poll_in))} s"
            if event.next_poll_in
            else "polling"
        )
    text = f"waiting for the service: {event.elapsed:.0f} s, {event.polls} poll(s), {status}"
    busy = "<span class='sm-busy' aria-hidden='true'></span>"
    return (
        f"<div role='status' style='display:flex;align-items:center'>{busy}"
        f"{note(text, AMBER if trouble else GREY)}</div>"
    )
