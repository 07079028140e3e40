"""What the form's job thread says: its warnings, routed to the form rather than to stderr."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def quiet() -> Iterator[None]:
    """Checks and previews the form shows itself: their warnings would say it twice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


_ROUTE = threading.local()


_ROUTER_LOCK = threading.Lock()


@contextmanager
def collect_warnings(sink: Callable[[str], None]) -> Iterator[None]:
    """Hand the warnings of this thread to ``sink`` (the form) rather than to stderr.

    ``warnings.catch_warnings`` swaps process-wide state, which would also
    swallow the warnings of the user's own cells while the job runs; this
    routes by thread instead.
    """
    _install_router()
    _ROUTE.sink = sink
    try:
        yield
    finally:
        _ROUTE.sink = None


def _install_router() -> None:
    with _ROUTER_LOCK:
        current = warnings.showwarning
        if getattr(current, "_smartmatch_router", False):
            return

        def route(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: Any = None,
            line: str | None = None,
        ) -> None:
            sink = getattr(_ROUTE, "sink", None)
            if sink is not None:
                sink(f"Warning: {message}")
            else:
                current(message, category, filename, lineno, file, line)

        route._smartmatch_router = True  # type: ignore[attr-defined]
        warnings.showwarning = route
