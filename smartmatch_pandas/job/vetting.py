"""Whether a file found in the SFTP drop is this job's deliverable, read once.

The SFTP drop (:mod:`smartmatch_pandas.wire.sftp`) finds files named after a
job and checks that they are whole; whether one really is the job's
deliverable takes reading it, which is the deliverable layer's work, not the
wire's. A :class:`DeliverableCheck` is handed to the drop as its ``vet``: it
unpacks and parses a candidate with the same reader as an HTTP download, and
keeps what it read for the job, so the deliverable is unpacked and parsed once,
whichever channel brought it.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..deliverable import Deliverable, RowAllowance, read_files, unpack_deliverable
from ..errors import DeliverableError
from ..files.spool import Spool, SpooledFiles
from ..identifiers import MATCHBACK_ID


class DeliverableCheck:
    """A ``vet`` for the SFTP drop: why a file is not the job's deliverable, or None.

    Parameters
    ----------
    filename
        The job's filename (named in messages).
    rows
        The number of rows the job sent: a file whose best-match CSV has not
        exactly one row for each is not taken. None skips that check.
    skip
        Columns not read (as :func:`~smartmatch_pandas.deliverable.read.read_files`).
    max_matches
        Candidates asked for per row: a file with more result rows than ``rows``
        times this is not taken (and not read past them).

    Attributes
    ----------
    accepted
        The deliverable read from the last file that fitted, else None.

    Examples
    --------
    >>> check = DeliverableCheck("job_1", rows=200)
    >>> spool = smartmatch_pandas.wire.sftp.fetch_deliverable("job_1", vet=check)  # doctest: +SKIP
    >>> check.accepted.best.num_rows                                               # doctest: +SKIP
    200
    """

    def __init__(
        self,
        filename: str,
        rows: int | None = None,
        *,
        skip: Collection[str] = (),
        max_matches: int = 1,
    ) -> None:
        self.filename, self.rows, self.skip = filename, rows, tuple(skip)
        self.allowance = RowAllowance(rows, max_matches) if rows else None
        self.accepted: Deliverable | None = None

    def __repr__(self) -> str:
        return f"DeliverableCheck({self.filename!r}, rows={self.rows!r})"

    def __call__(self, spool: Spool) -> str | None:
        """Read ``spool``; return why it is not the job's deliverable, or None if it is."""
        try:
            files = unpack_deliverable(spool, filename=self.filename)
        except DeliverableError as exc:
            return exc.message
        try:
            deliverable = read_files(
                files, filename=self.filename, skip=self.skip, allowance=self.allowance
            )
            misfit = rows_misfit(deliverable, self.rows)
        except DeliverableError as exc:
            misfit = exc.message
        if misfit is not None:
            _close_members(files, spool)
            return misfit
        self.accepted = deliverable
        return None


def rows_misfit(deliverable: Deliverable, rows: int | None) -> str | None:
    """Why ``deliverable`` does not hold one best-match row for each of ``rows`` rows sent,
    or None if it does (or ``rows`` is None)."""
    if rows is None:
        return None
    try:
        ids = pc.cast(pc.utf8_trim_whitespace(deliverable.best[MATCHBACK_ID]), pa.int64())
        positions = np.sort(ids.to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return f"its {MATCHBACK_ID} values are not the row numbers this job sent"
    if not np.array_equal(positions, np.arange(rows)):
        return (
            f"its best-match file has {len(positions):,} rows, not one for each of the "
            f"{rows:,} rows this job sent"
        )
    return None


def _close_members(files: SpooledFiles, source: Spool) -> None:
    """Free what a turned-down file unpacked to (the downloaded spool is the drop's)."""
    for name in files:
        member = files.spool(name)
        if member is not source:
            member.close()
