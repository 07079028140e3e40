"""DataFrame → the table SmartMatch receives: normalised identifiers as text, plus matchback_id.

Pure data work, no I/O but writing CSV to a buffer. Each mapped column is
normalised for its identifier (:mod:`smartmatch_pandas.normalize`); every
value is sent as text, so nothing is reinterpreted on the way (a ZIP of
``02134`` stays ``02134``); missing and blank values become empty cells.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import InputError, warn
from .fields import ColumnMapping, resolve_mapping
from .identifiers import MATCHBACK_ID
from .normalize import (
    RAISE_REMEDY,
    InvalidPolicy,
    Normalized,
    check_policy,
    normalize,
    normalize_text,
    to_text,
)

__all__ = ["normalize_columns", "prepare_frame", "prepare_table", "to_text", "write_csv"]

# The header is written by hand: pyarrow before 22 can only quote it, and the names
# are identifiers (letters and underscores) that need no quoting.
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)
T = TypeVar("T")
# Below this many rows, starting threads costs more than it saves.
_ROWS_FOR_THREADS = 50_000


def normalize_columns(
    df: pd.DataFrame, mapping: ColumnMapping, *, today: dt.date | None = None
) -> list[Normalized]:
    """Every mapped column of ``df`` normalised for its identifier, in upload order.

    Columns are independent, so large frames are normalised on a few threads:
    the Arrow kernels doing most of the work release the GIL. Reading an
    object column's Python values holds it, so this thread does that, one
    column after another, while the pool normalises the columns already read.
    """
    series = [df.iloc[:, _position(df, column)] for column in mapping.columns]
    identifiers, labels = mapping.identifiers, mapping.columns
    workers = _workers(len(series), len(df))
    if workers == 1:
        return [
            normalize(s, i, label=c, today=today)
            for s, i, c in zip(series, identifiers, labels, strict=True)
        ]
    objects = {k for k, s in enumerate(series) if s.dtype == object}
    with ThreadPoolExecutor(workers) as pool:
        done = {
            k: pool.submit(normalize, series[k], identifiers[k], label=labels[k], today=today)
            for k in range(len(series))
            if k not in objects
        }
        for k in sorted(objects):
            text = to_text(series[k], labels[k])
            done[k] = pool.submit(normalize_text, text, identifiers[k], today=today)
        return [done[k].result() for k in range(len(series))]


def _workers(columns: int, rows: int) -> int:
    """Threads worth starting: one per core, at most 4; one for small frames."""
    if rows < _ROWS_FOR_THREADS:
        return 1
    return max(1, min(columns, os.cpu_count() or 1, 4))


def _on_threads(work: Callable[[int], T], count: int, rows: int) -> list[T]:
    """``[work(0), ..., work(count - 1)]``, computed on a few threads for large frames."""
    workers = _workers(count, rows)
    if workers == 1:
        return [work(k) for k in range(count)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, range(count)))


def prepare_table(
    df: pd.DataFrame,
    mapping: ColumnMapping,
    *,
    invalid: InvalidPolicy = "keep",
    today: dt.date | None = None,
) -> pa.Table:
    """The upload as an Arrow table: one text column per identifier, then ``matchback_id``.

    ``matchback_id`` is the row's position in ``df`` (0, 1, 2, ...), whatever
    the frame's index or any ``matchback_id`` column it holds.

    Parameters
    ----------
    df
        The contact list.
    mapping
        The columns to send, and as which identifier.
    invalid
        What is sent for a value its identifier's rule cannot read: ``"keep"``
        sends it as given, ``"blank"`` sends an empty cell, ``"raise"`` stops.
    today
        The date birth dates must not be after; default today.

    Raises
    ------
    InputError
        ``invalid="raise"`` and a value is invalid; or bytes that are not UTF-8.

    Warns
    -----
    SmartMatchWarning
        Some values are invalid: how many, per column.
    """
    policy = check_policy(invalid)
    columns = normalize_columns(df, mapping, today=today)
    if policy == "raise":
        _raise_invalid(columns, mapping, df.index)
    # Columns normalised per distinct value are expanded here, on the threads too:
    # the CSV writer expands dictionary columns at half the speed.
    arrays = _on_threads(lambda k: _expanded(columns[k].sent(policy)), len(columns), len(df))
    _warn_invalid(columns, mapping, policy, len(df))
    positions = pa.array(np.arange(len(df), dtype=np.int64)).cast(pa.string())
    return pa.table([*arrays, positions], names=[*mapping.identifiers, MATCHBACK_ID])


def prepare_frame(
    df: pd.DataFrame,
    columns: Mapping[Hashable, str | None] | None = None,
    *,
    invalid: InvalidPolicy = "keep",
) -> pd.DataFrame:
    """Exactly what would be uploaded for ``df``, as a frame; nothing is sent.

    The columns are the identifiers, in upload order, then ``matchback_id``
    (the row position the results are merged back by); every value is text,
    ``<NA>`` where an empty cell is sent. The index is ``df``'s, so a row can
    be compared with the row it came from.

    Parameters
    ----------
    df
        The contact list.
    columns
        ``{frame column: identifier or None}``, as for :func:`smartmatch_pandas.match`.
    invalid
        ``"keep"``, ``"blank"`` or ``"raise"``, as for :func:`smartmatch_pandas.match`.

    Examples
    --------
    >>> df.smartmatch.prepare()                      # doctest: +SKIP
      first_name last_name    zip       dob matchback_id
    0        Ann       Lee  02134  19760114            0
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got a {type(df).__name__}")
    policy = check_policy(invalid)
    table = prepare_table(df, resolve_mapping(df.columns.unique(), columns), invalid=policy)
    text = pa.table([c.cast(pa.string()) for c in table.columns], names=table.column_names)
    frame: pd.DataFrame = text.to_pandas(types_mapper=lambda _: pd.StringDtype("pyarrow"))
    frame.index = df.index
    return frame


def write_csv(table: pa.Table, sink: IO[bytes] | None = None) -> bytes | None:
    """Write ``table`` as UTF-8 CSV with a plain header row.

    Returns the bytes when no ``sink`` is given.
    """
    out = sink if sink is not None else io.BytesIO()
    out.write((",".join(table.column_names) + "\n").encode())
    if table.num_rows:
        pacsv.write_csv(table, out, _CSV_OPTIONS)
    return out.getvalue() if sink is None else None  # type: ignore[attr-defined]


def _expanded(values: pa.Array) -> pa.Array:
    return values.dictionary_decode() if isinstance(values, pa.DictionaryArray) else values


def _raise_invalid(columns: list[Normalized], mapping: ColumnMapping, index: pd.Index) -> None:
    """One error naming every column that holds invalid values."""
    found = [
        column.invalid_summary(label, index)
        for column, label in zip(columns, mapping.columns, strict=True)
        if column.invalid.any()
    ]
    if found:
        raise InputError("; ".join(found) + ". Nothing was sent: " + RAISE_REMEDY)


def _warn_invalid(
    columns: list[Normalized], mapping: ColumnMapping, policy: InvalidPolicy, rows: int
) -> None:
    counts = [
        f"{label!r} ({column.identifier}) {int(column.invalid.sum()):,} of {rows:,}"
        for column, label in zip(columns, mapping.columns, strict=True)
        if column.invalid.any()
    ]
    if not counts:
        return
    fate = "sent as given" if policy == "keep" else "sent empty"
    other = "invalid='blank' sends them empty" if policy == "keep" else "invalid='keep' as given"
    warn(
        f"values that cannot be normalised are {fate} (invalid={policy!r}): "
        + "; ".join(counts)
        + f". See df.smartmatch.check() for examples; {other}, invalid='raise' stops"
    )


def _position(df: pd.DataFrame, column: object) -> int:
    """The position of a column label (labels are unique once mapped)."""
    where = df.columns.get_loc(column)
    if not isinstance(where, int):
        raise InputError(
            f"column {column!r} appears more than once in the frame; rename the duplicates"
        )
    return where
