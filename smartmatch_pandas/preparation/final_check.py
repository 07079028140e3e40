"""The last look at an upload before it is paid for: values a SmartMatch CSV cannot carry.

Normalising (:mod:`smartmatch_pandas.preparation.normalize`) reads each value for its
identifier; this looks at the columns as they would be sent. A NUL
character, a value of thousands of characters (a whole record pasted into a
cell) and identifier columns with nothing in them are refused before
anything is sent, naming the column and the row; one empty column among
others is only warned about. Pure data work over Arrow arrays.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, warn
from .mapping import ColumnMapping

#: The longest value sent, in characters. Identifiers are short: names, an address
#: line, an email (at most 254 by its standard); a longer value is a mistake.
MAX_VALUE_CHARS: Final = 1_000


def check_sendable(table: pa.Table, mapping: ColumnMapping, index: pd.Index) -> None:
    """Check the upload ``table`` (the mapped columns, in order, then ``matchback_id``).

    Raises
    ------
    InputError
        A value holds a NUL character or is longer than :data:`MAX_VALUE_CHARS`;
        or every column sent is empty in every row.

    Warns
    -----
    SmartMatchWarning
        A column sent is empty in every row (but not all of them are).
    """
    check_values(table, mapping, index)
    check_not_empty(empty_columns(table, mapping), mapping)


def check_values(table: pa.Table, mapping: ColumnMapping, index: pd.Index) -> None:
    """Refuse a value the CSV cannot carry (a part of a list will do: ``index`` labels its
    rows).

    Raises
    ------
    InputError
        A value holds a NUL character or is longer than :data:`MAX_VALUE_CHARS`.
    """
    for (label, identifier), column in zip(mapping.pairs, table.columns, strict=False):
        text = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        _check_values(text, label, identifier, index)


def empty_columns(table: pa.Table, mapping: ColumnMapping) -> set[tuple[Hashable, str]]:
    """The (column, identifier) pairs of ``table`` with no value in any row."""
    return {
        pair
        for pair, column in zip(mapping.pairs, table.columns, strict=False)
        if len(column) and column.null_count == len(column)
    }


def check_not_empty(empty: Collection[tuple[Hashable, str]], mapping: ColumnMapping) -> None:
    """Refuse a list whose every column sent is ``empty``; warn of each empty one else.

    Raises
    ------
    InputError
        Every column sent is empty in every row.
    """
    empty = [pair for pair in mapping.pairs if pair in empty]
    if empty and len(empty) == len(mapping):
        named = ", ".join(f"{label!r} ({identifier})" for label, identifier in empty)
        raise InputError(
            f"every column sent is empty in every row ({named}): there is nothing to match "
            "on. Check which columns are sent with df.smartmatch.mapping(), or map others "
            "with columns={'your column': 'identifier'}"
        )
    for label, identifier in empty:
        warn(
            f"column {label!r} ({identifier}) is empty in every row: it adds nothing to the "
            f"match. Is it the right column? Leave it out with columns={{{label!r}: None}}"
        )


def _check_values(text: pa.Array, label: Hashable, identifier: str, index: pd.Index) -> None:
    # Bytes bound characters from above, and Arrow has each value's bytes at hand: the
    # characters are counted only where the bytes are over.
    row = _first(pc.greater(pc.binary_length(text), MAX_VALUE_CHARS))
    if row is not None:
        row = _first(pc.greater(pc.utf8_length(text), MAX_VALUE_CHARS))
    if row is not None:
        length = len(text[row].as_py())
        raise InputError(
            f"column {label!r} ({identifier}), row {index[row]!r}: a value of {length:,} "
            f"characters, where {identifier} values are short (at most {MAX_VALUE_CHARS:,} "
            "here). Is it the right column? Shorten or blank such values first, or leave the "
            f"column out with columns={{{label!r}: None}}"
        )
    row = _first(pc.match_substring(text, "\x00")) if _may_hold_nul(text) else None
    if row is not None:
        raise InputError(
            f"column {label!r} ({identifier}), row {index[row]!r}: a NUL character (\\x00), "
            "which a CSV file cannot carry. Remove them first, for example "
            f"df[{label!r}] = df[{label!r}].str.replace('\\x00', '')"
        )


def _may_hold_nul(text: pa.Array) -> bool:
    """Whether the bytes behind ``text`` hold a NUL anywhere (one scan of its data
    buffer, which may reach beyond a slice: then the values are searched one by one)."""
    data = text.buffers()[-1]
    if data is None or not data.size:
        return False
    return bool(np.frombuffer(data, dtype=np.uint8).min() == 0)  # no copy, no mask


def _first(flags: pa.Array) -> int | None:
    """The position of the first true flag (nulls are false), or None."""
    if not pc.any(pc.fill_null(flags, False)).as_py():
        return None
    return int(np.argmax(np.asarray(pc.fill_null(flags, False).to_numpy(zero_copy_only=False))))
