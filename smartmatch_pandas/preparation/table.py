"""DataFrame → the table SmartMatch receives: normalised identifiers as text, plus matchback_id.

Pure data work, no I/O but writing CSV to a buffer. Each mapped column is
normalised for its identifier (:mod:`smartmatch_pandas.preparation.normalize`); every
value is sent as text, so nothing is reinterpreted on the way (a ZIP of
``02134`` stays ``02134``); missing and blank values become empty cells.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Final, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, warn
from ..files.csv import SLICE_ROWS, ByteSink, CSVWriter
from ..files.spool import Spool
from ..identifiers import MATCHBACK_ID
from ..options import InvalidPolicy, check_policy
from .final_check import check_sendable
from .frame import repeated, repeated_message, require_frame
from .mapping import Choice, ColumnMapping, resolve_mapping
from .normalize import (
    RAISE_REMEDY,
    Normalized,
    decoded,
    invalid_summary,
    normalize,
    normalize_text,
    to_text,
)

__all__ = [
    "SentPresence",
    "frame_mapping",
    "frame_upload",
    "prepare_frame",
    "prepare_table",
    "sent_presence",
    "to_text",
    "upload_body",
    "write_csv",
]

T = TypeVar("T")
# Below this many rows, starting threads costs more than it saves.
_ROWS_FOR_THREADS = 50_000
# How long an identifier's rule takes, roughly, next to a name's (their values are seldom
# repeated, and their rules are regular expressions of some length).
_COST = {"email": 4, "phone": 4, "dob": 3, "address1": 2, "address2": 2, "zip": 2}


def _per_column(
    df: pd.DataFrame,
    mapping: ColumnMapping,
    then: Callable[[Normalized, Hashable], T],
    today: dt.date | None,
) -> list[T]:
    """``then(normalized column, label)`` for every mapped column of ``df``, in upload order.

    Columns are independent, so large frames are normalised on a few threads:
    the Arrow kernels doing most of the work release the GIL. Reading an
    object column's Python values holds it, so this thread does that, one
    column after another, while the pool normalises the columns already read.
    ``then`` runs on the same thread, so only what it returns outlives the
    column's work: a few columns' worth of memory at a time, not all of them.
    """
    reads = mapping.reads
    labels, identifiers = [label for label, _ in reads], [identifier for _, identifier in reads]
    series = [df.iloc[:, _position(df, column)] for column in labels]

    def work(k: int, text: pa.Array | None = None) -> T:
        if text is None:
            normalized = normalize(series[k], identifiers[k], label=labels[k], today=today)
        else:
            normalized = normalize_text(text, identifiers[k], today=today)
        return then(normalized, labels[k])

    workers = _workers(len(series), len(df))
    if workers == 1:
        return [work(k) for k in range(len(series))]
    # The costliest columns first, so that no thread is left with a long one at the end.
    order = sorted(range(len(series)), key=lambda k: -_COST.get(identifiers[k], 1))
    objects = [k for k in order if series[k].dtype == object]
    with ThreadPoolExecutor(workers) as pool:
        done = {k: pool.submit(work, k) for k in order if k not in objects}
        for k in objects:
            done[k] = pool.submit(work, k, to_text(series[k], labels[k]))
        return [done[k].result() for k in range(len(series))]


def _workers(columns: int, rows: int) -> int:
    """Threads worth starting: one per core, at most 4; one for small frames."""
    if rows < _ROWS_FOR_THREADS:
        return 1
    return max(1, min(columns, os.cpu_count() or 1, 4))


@dataclass(frozen=True)
class SentColumn:
    """One column of the upload: its text, and the values its rule could not read.

    Attributes
    ----------
    values
        The text sent (null for an empty cell); None when ``invalid="raise"``
        stops the upload because of this column.
    invalid
        How many values are invalid.
    examples
        Up to five invalid values as given, with their row labels.
    """

    label: Hashable
    identifier: str
    values: pa.Array | None
    invalid: int
    examples: list[tuple[Hashable, str]]


@dataclass(frozen=True)
class Candidate:
    """One column of a :class:`~smartmatch_pandas.preparation.mapping.Choice`, before the
    choice: its values sent as given, and which rows hold a valid or an invalid value."""

    label: Hashable
    identifier: str
    values: pa.Array
    valid: np.ndarray
    invalid: np.ndarray


def sent_columns(
    df: pd.DataFrame,
    mapping: ColumnMapping,
    policy: InvalidPolicy,
    *,
    today: dt.date | None = None,
) -> list[SentColumn]:
    """Every identifier sent for ``df`` under ``policy``, in upload order (examples of
    invalid values labelled by ``df.index``); where a row chooses among columns
    (``mapping.choices``), the column each row chose."""
    in_choices = {pair for choice in mapping.choices for pair in choice.pairs}

    def sent(normalized: Normalized, label: Hashable) -> SentColumn | Candidate:
        if (label, normalized.identifier) in in_choices:
            invalid = normalized.invalid
            valid = normalized.present & ~invalid
            return Candidate(
                label, normalized.identifier, decoded(normalized.sent("keep")), valid, invalid
            )
        count = int(normalized.invalid.sum())
        examples = normalized.examples(df.index) if count else []
        # Columns normalised per distinct value are expanded here, on the threads too:
        # the CSV writer expands dictionary columns at half the speed.
        values = None if policy == "raise" and count else decoded(normalized.sent(policy))
        return SentColumn(label, normalized.identifier, values, count, examples)

    done = _per_column(df, mapping, sent, today)
    columns = {(c.label, c.identifier): c for c in done}
    for choice in mapping.choices:
        candidates = [columns.pop(pair) for pair in choice.pairs]
        columns.update(chosen_columns(choice, candidates, policy, df.index))  # type: ignore[arg-type]
    return [columns[pair] for pair in mapping.pairs]  # type: ignore[misc]


def choose_rows(choice: Choice, candidates: Sequence[Candidate]) -> np.ndarray:
    """The option each row sends (-1: none holds a value), by the order of preference.

    An option is taken for a row by the first of these it is the first to meet: a
    valid street address, a valid ZIP (addresses only), any valid value, any
    value at all. So a row never sends an invalid value where a later column
    holds a valid one, nor fields of two addresses.
    """
    by_pair = {(c.label, c.identifier): c for c in candidates}
    rows = len(candidates[0].valid) if candidates else 0
    chosen = np.full(rows, -1, dtype=np.int8)

    def fields(option: tuple[Hashable | None, ...]) -> list[Candidate]:
        return [
            by_pair[(label, identifier)]
            for label, identifier in zip(option, choice.identifiers, strict=True)
            if label is not None
        ]

    keys: list[str | None] = ["address1", "zip"] if choice.is_address else []
    for key in [*keys, None]:  # a valid street address; a valid ZIP; any valid value
        for k, option in enumerate(choice.options):
            valid = [c.valid for c in fields(option) if key is None or c.identifier == key]
            chosen[(chosen == -1) & _any(valid, rows)] = k
    for k, option in enumerate(choice.options):  # any value at all, invalid included
        chosen[(chosen == -1) & _any([c.valid | c.invalid for c in fields(option)], rows)] = k
    return chosen


def _any(masks: list[np.ndarray], rows: int) -> np.ndarray:
    return np.logical_or.reduce(masks) if masks else np.zeros(rows, bool)


def chosen_columns(
    choice: Choice, candidates: list[Candidate], policy: InvalidPolicy, index: pd.Index
) -> dict[tuple[Hashable, str], SentColumn]:
    """The columns sent for ``choice``: per identifier, each row's value from the option
    it chose; invalid values counted (and sent as ``policy`` says) where chosen only.
    Keyed by the pair the mapping sends the identifier as."""
    chosen = choose_rows(choice, candidates)
    by_pair = {(c.label, c.identifier): c for c in candidates}
    out: dict[tuple[Hashable, str], SentColumn] = {}
    for position, identifier in enumerate(choice.identifiers):
        options = [
            (k, by_pair[(option[position], identifier)])
            for k, option in enumerate(choice.options)
            if option[position] is not None
        ]
        values = pa.nulls(len(chosen), pa.string())
        invalid_rows = np.zeros(len(chosen), bool)
        for k, candidate in reversed(options):
            here = chosen == k
            values = pc.if_else(pa.array(here), candidate.values.cast(pa.string()), values)
            invalid_rows |= here & candidate.invalid
        count = int(invalid_rows.sum())
        rows = np.flatnonzero(invalid_rows)[:5]
        examples = [(index[r], values[int(r)].as_py()) for r in rows]
        if policy == "blank" and count:
            values = pc.if_else(pa.array(invalid_rows), pa.scalar(None, pa.string()), values)
        sent = None if policy == "raise" and count else values
        label = options[0][1].label
        out[(label, identifier)] = SentColumn(label, identifier, sent, count, examples)
    return out


def frame_mapping(
    df: pd.DataFrame, columns: Mapping[Hashable, str | None] | None = None
) -> ColumnMapping:
    """``df``'s column mapping (:func:`resolve_mapping`) with how many rows each column of
    a choice supplied (``mapping.supplied``): what ``df.smartmatch.mapping()`` shows."""
    mapping = resolve_mapping(df.columns, columns, frame=df)
    if not mapping.choices or repeated(df, mapping.columns):
        return mapping
    return dataclasses.replace(mapping, supplied=supplied_counts(df, mapping))


def supplied_counts(
    df: pd.DataFrame, mapping: ColumnMapping, *, today: dt.date | None = None
) -> tuple[tuple[Hashable, int], ...]:
    """How many rows each option of each choice supplied, keyed by the option's first
    column (for ``mapping()`` and ``check()``)."""
    if not mapping.choices:
        return ()
    in_choices = {pair for choice in mapping.choices for pair in choice.pairs}
    only = type(mapping)(tuple(in_choices), choices=mapping.choices)

    def candidate(normalized: Normalized, label: Hashable) -> Candidate:
        invalid = normalized.invalid
        valid = normalized.present & ~invalid
        return Candidate(label, normalized.identifier, pa.nulls(0), valid, invalid)

    found = {(c.label, c.identifier): c for c in _per_column(df, only, candidate, today)}
    counts: list[tuple[Hashable, int]] = []
    for choice in mapping.choices:
        chosen = choose_rows(choice, [found[pair] for pair in choice.pairs])
        for k, option in enumerate(choice.options):
            first = next(c for c in option if c is not None)
            counts.append((first, int((chosen == k).sum())))
    return tuple(counts)


def upload_table(columns: list[SentColumn], start: int = 0) -> pa.Table:
    """The upload as an Arrow table: the columns, then ``matchback_id`` from ``start``."""
    rows = len(columns[0].values) if columns and columns[0].values is not None else 0
    positions = pa.array(np.arange(start, start + rows, dtype=np.int64)).cast(pa.string())
    arrays = [c.values for c in columns]
    return pa.table([*arrays, positions], names=[*(c.identifier for c in columns), MATCHBACK_ID])


#: The identifiers that tell rows apart best, first: the one sent is the witness.
WITNESS_ORDER: Final = (
    "last_name", "full_name", "address1", "email", "phone", "first_name", "dob", "voterbase_id"
)  # fmt: skip


class SentPresence(dict[str, pa.Array]):
    """Per identifier, which rows are sent with a value; and the ``witness``: one sent
    column's values (its name, then them), that the deliverable's echo of it is checked
    against (rows shifted or shuffled by the service)."""

    witness: tuple[str, pa.Array] | None = None


def sent_presence(table: pa.Table) -> SentPresence:
    """Per identifier of an upload table: which rows are sent with a value (bit-packed),
    and its witness column (see :class:`SentPresence`)."""
    presence = SentPresence(
        (name, pc.is_valid(table[name]).combine_chunks())
        for name in table.column_names
        if name != MATCHBACK_ID
    )
    sent = [name for name in table.column_names if name != MATCHBACK_ID]
    ranked = sorted(sent, key=lambda n: WITNESS_ORDER.index(n) if n in WITNESS_ORDER else 99)
    if ranked:
        presence.witness = (ranked[0], table[ranked[0]].combine_chunks())
    return presence


class InvalidTally:
    """The invalid values of an upload, counted over one frame or many batches of it.

    :meth:`report` raises (``invalid="raise"``) or warns once, with the totals.
    """

    def __init__(self, policy: InvalidPolicy) -> None:
        self.policy = policy
        self._columns: dict[tuple[Hashable, str], tuple[int, list[tuple[Hashable, str]]]] = {}

    def add(self, columns: list[SentColumn]) -> None:
        """Count a frame's (or a batch's) columns."""
        for column in columns:
            key = (column.label, column.identifier)
            count, examples = self._columns.get(key, (0, []))
            self._columns[key] = (count + column.invalid, (examples + column.examples)[:5])

    @property
    def any(self) -> bool:
        """Whether any value is invalid."""
        return any(count for count, _ in self._columns.values())

    def report(self, rows: int) -> None:
        """Raise if the policy is ``"raise"`` and a value is invalid; else warn of them."""
        found = [(key, count, ex) for key, (count, ex) in self._columns.items() if count]
        if not found:
            return
        if self.policy == "raise":
            raise InputError(
                "; ".join(invalid_summary(label, ident, n, ex) for (label, ident), n, ex in found)
                + ". Nothing was sent: "
                + RAISE_REMEDY
            )
        counts = [f"{label!r} ({ident}) {n:,} of {rows:,}" for (label, ident), n, _ in found]
        fate = "sent as given" if self.policy == "keep" else "sent empty"
        other = (
            "invalid='blank' sends them empty"
            if self.policy == "keep"
            else "invalid='keep' as given"
        )
        warn(
            f"values that cannot be normalised are {fate} (invalid={self.policy!r}): "
            + "; ".join(counts)
            + f". See df.smartmatch.check() for examples; {other}, invalid='raise' stops"
        )


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
    columns = sent_columns(df, mapping, policy, today=today)
    tally = InvalidTally(policy)
    tally.add(columns)
    tally.report(len(df))
    return upload_table(columns)


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
    require_frame(df)
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
    upload_csv(out, table.column_names).write(table)
    return out.getvalue() if sink is None else None  # type: ignore[attr-defined]


def upload_body(table: pa.Table, threshold: int | None = None) -> Spool:
    """The upload CSV of ``table`` (as :func:`write_csv` writes it) in a :class:`Spool`
    that keeps its fingerprint: in memory up to ``threshold``, else in a private
    temporary file. The caller closes it.

    Large tables are written as slices on a few threads (pyarrow formats CSV
    without the GIL), appended to the spool in order.
    """
    # The CSV is about as large as the table's buffers: quotes and commas in, offsets out.
    spool = Spool(threshold, digest=True, expected=table.get_total_buffer_size())
    try:
        add_upload_rows(upload_csv(spool, table.column_names), table)
    except BaseException:
        spool.close()
        raise
    return spool


def upload_csv(sink: ByteSink, names: list[str]) -> CSVWriter:
    """A writer of the upload CSV into ``sink``, its header row written (identifiers
    need no quoting); :func:`add_upload_rows` appends the rows."""
    return CSVWriter(sink, names, quoted=False)


def add_upload_rows(writer: CSVWriter, table: pa.Table) -> None:
    """Append the rows of an upload table to its CSV: a large table's slices are
    formatted on a few threads (pyarrow formats CSV without the GIL)."""
    slices = -(-table.num_rows // SLICE_ROWS)
    writer.write(table, threads=_workers(slices, table.num_rows))


def _position(df: pd.DataFrame, column: object) -> int:
    """The position of a column label (labels are unique once mapped)."""
    where = df.columns.get_loc(column)
    if not isinstance(where, int):
        raise InputError(repeated_message(column))
    return where


def frame_upload(
    df: pd.DataFrame, mapping: ColumnMapping, invalid: InvalidPolicy = "keep"
) -> tuple[Spool, dict[str, pa.Array]]:
    """The upload CSV of ``df`` with its fingerprint (the caller closes it), and which
    rows it sends a value for, per identifier (for the summary)."""
    table = prepare_table(df, mapping, invalid=invalid)
    check_sendable(table, mapping, df.index)
    body, presence = upload_body(table), sent_presence(table)
    del table
    # What normalising used is free again: hand it back rather than keep it beside what
    # comes next (Arrow's allocator keeps freed memory for reuse, thread by thread).
    pa.default_memory_pool().release_unused()
    return body, presence
