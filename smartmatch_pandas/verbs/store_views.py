"""The job store seen from the verbs: :func:`jobs` lists it, :func:`clear_cache` empties it."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from ..job.store import JobRecord, JobStore
from ..options import check_flag

#: The columns of :func:`jobs`.
JOB_COLUMNS = (
    "filename",
    "state",
    "submitted",
    "rows",
    "host",
    "max_matches",
    "format",
    "polls",
    "last_poll",
    "cached",
    "error",
    "note",
)


def jobs() -> pd.DataFrame:
    """The jobs in the job store, newest first, with their states.

    Returns
    -------
    pandas.DataFrame
        One row per job: ``filename``, ``state`` (``registered``: never
        uploaded; ``uploaded``: at the service; ``ready``; ``downloaded``;
        ``failed``; ``damaged``: its record cannot be read, and ``note`` says
        what to do), ``submitted`` and ``last_poll`` (UTC), ``rows``,
        ``host``, ``max_matches``, ``format``, ``polls`` (by every process),
        ``cached`` (its result is in the result cache), ``error`` and
        ``note`` (what to do next).

    Examples
    --------
    >>> smartmatch_pandas.jobs()        # doctest: +SKIP
    """
    store = JobStore()
    rows = []
    for record in store.records():
        cached = store.results.filename_of(record.key) == record.filename
        rows.append(
            {
                "filename": record.filename,
                "state": record.state,
                "submitted": record.submitted_at,
                "rows": record.rows,
                "host": record.host,
                "max_matches": record.options.get("max_matches"),
                "format": record.options.get("format"),
                "polls": record.polls,
                "last_poll": record.last_poll,
                "cached": cached,
                "error": record.error,
                "note": _next_step(record, cached),
            }
        )
    for path, advice in store.damaged():
        rows.append(
            {"filename": path.stem, "state": "damaged", "rows": 0, "host": "", "polls": 0}
            | {"cached": False, "error": advice, "note": advice}
        )
    frame = pd.DataFrame(rows, columns=list(JOB_COLUMNS))
    frame["submitted"] = pd.to_datetime(frame["submitted"], utc=True, format="ISO8601")
    frame["last_poll"] = pd.to_datetime(frame["last_poll"], unit="s", utc=True)
    return frame.astype({"rows": "int64", "polls": "int64", "cached": "bool"})


def _next_step(record: JobRecord, cached: bool) -> str:
    if record.state == "registered":
        return "never uploaded: resume it with the frame to upload it"
    if record.pending:
        return "at the service: resume it to wait for the result"
    if record.state == "failed":
        return "failed at the service"
    return "done; result cached" if cached else "done"


class Cleared(NamedTuple):
    """What :func:`clear_cache` removed."""

    results: int
    bytes: int
    jobs: int


def clear_cache(*, jobs: bool = False) -> Cleared:
    """Remove every cached result from the job store.

    Parameters
    ----------
    jobs
        Also forget the records of finished jobs (downloaded or failed).
        Records of unfinished jobs are always kept: they are how those jobs
        are found again.

    Returns
    -------
    Cleared
        Results removed, their size in bytes, and job records removed.
    """
    check_flag("jobs", jobs)
    store = JobStore()
    forgotten = 0
    if jobs:
        for record in store.records():
            if not record.pending:
                store.remove(record.filename)
                forgotten += 1
    results, size = store.results.clear()
    return Cleared(results, size, forgotten)
