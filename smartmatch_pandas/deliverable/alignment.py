"""Whether a deliverable's rows line up with the rows sent.

A result row is placed on the input row its ``matchback_id`` names. A service
that numbers rows from 1, or shuffles them, would give each row another
person's voter data with no other sign. The deliverable echoes the columns
that were sent, so one of them (the :class:`Witness`, kept from the upload)
is compared, row by row, with what was sent for the row each result names:
text folded for case and spaces, only where both sides have a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DeliverableError
from ..identifiers import MATCHBACK_ID

#: Rows compared that may disagree before a deliverable is refused: a share of them.
MISALIGNED_SHARE: Final = 0.01


@dataclass(frozen=True)
class Witness:
    """One sent column, as uploaded, to check the deliverable's echo against.

    Attributes
    ----------
    identifier
        The column's name in the upload (and in the deliverable's echo).
    values
        What was sent for it, one value per row sent, in upload order.
    """

    identifier: str
    values: pa.Array


@dataclass
class AlignmentTally:
    """Rows compared and rows that disagree, counted over one table or many batches."""

    compared: int = 0
    disagreeing: int = 0

    def add(self, table: pa.Table, positions: np.ndarray, witness: Witness) -> None:
        """Count the rows of ``table`` (each on the input row of ``positions``, all valid)."""
        if witness.identifier not in table.column_names or not len(positions):
            return
        in_order = len(positions) == len(witness.values) and bool(
            np.array_equal(positions, np.arange(len(positions)))
        )
        sent = witness.values if in_order else witness.values.take(pa.array(positions))
        echoed = table[witness.identifier]
        both = pc.and_(_has_text(sent), _has_text(echoed))
        self.compared += int(pc.sum(both).as_py() or 0)
        # Equal as sent, the usual case, is cheap; only the others are folded and compared.
        differ = pc.and_(both, pc.fill_null(pc.not_equal(_text(sent), _text(echoed)), False))
        if not pc.any(differ).as_py():
            return
        sent, echoed = pc.filter(_text(sent), differ), pc.filter(_text(echoed), differ)
        self.disagreeing += int(pc.sum(pc.not_equal(_folded(sent), _folded(echoed))).as_py() or 0)

    def check(self, witness: Witness, filename: str | None) -> None:
        """Refuse the deliverable when more than :data:`MISALIGNED_SHARE` of the rows
        compared disagree."""
        if self.disagreeing <= self.compared * MISALIGNED_SHARE:
            return
        raise DeliverableError(
            "the service's rows do not line up with the rows sent (matchback_id shifted "
            f"or shuffled?): the echoed {witness.identifier!r} of {self.disagreeing:,} of "
            f"{self.compared:,} rows compared is not what was sent for the row its "
            f"{MATCHBACK_ID} names. Not merged, as each row would get another person's "
            "voter data: resume the job to download it again, and report it if it persists",
            filename=filename,
        )


def check_alignment(
    table: pa.Table, positions: np.ndarray, witness: Witness | None, filename: str | None
) -> None:
    """Refuse ``table`` (its rows on the input rows ``positions``) if its echo of the
    witness column disagrees with what was sent (see :meth:`AlignmentTally.check`)."""
    if witness is None:
        return
    tally = AlignmentTally()
    tally.add(table, positions, witness)
    tally.check(witness, filename)


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def _folded(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Text as compared: case folded, spaces trimmed and runs of them made one."""
    lower = pc.utf8_lower(values)
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(lower), r"\s+", " ")


def _has_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.fill_null(pc.greater(pc.utf8_length(values), 0), False)
