"""The upload CSV of a contact-list file larger than memory, made batch by batch.

The file is read batch by batch (:class:`~smartmatch_pandas.files.tables.TableFile`);
each batch's identifier columns are normalised as for a frame and appended to
the upload CSV, which spills to a private temporary file: byte for byte what
:func:`~smartmatch_pandas.preparation.table.upload_body` makes of the whole list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from ..errors import InputError
from ..files.spool import Spool
from ..files.streams import StreamedList
from ..files.tables import TableFile, frame_of
from ..identifiers import MATCHBACK_ID
from ..options import InvalidPolicy
from .final_check import check_not_empty, check_values, empty_columns
from .frame import repeated_message
from .mapping import ColumnMapping, resolve_mapping
from .table import (
    InvalidTally,
    SentPresence,
    add_upload_rows,
    sent_columns,
    sent_presence,
    upload_csv,
    upload_table,
)


def file_mapping(
    table: TableFile | StreamedList, columns: Mapping[Hashable, str | None] | None
) -> ColumnMapping:
    """The file's columns mapped to identifiers, checked as a frame's would be.

    Raises
    ------
    InputError
        A mapped column's name appears more than once in the file.
    """
    mapping = resolve_mapping(pd.Index(table.columns).unique(), columns)
    for column in mapping.columns:
        if table.columns.count(str(column)) > 1:
            raise InputError(repeated_message(column, str(table.path)))
    return mapping


@dataclass
class Upload:
    """A list's upload CSV (in a spool: the caller closes it), its rows, and which rows
    it sends a value for, per identifier."""

    body: Spool
    rows: int
    presence: dict[str, pa.Array]


def upload_file(
    table: TableFile | StreamedList,
    mapping: ColumnMapping,
    invalid: InvalidPolicy,
    today: dt.date | None = None,
) -> Upload:
    """The upload CSV of a file, made batch by batch; byte for byte what
    :func:`~smartmatch_pandas.preparation.table.upload_body` makes of the whole list.

    Raises
    ------
    InputError
        The file has no rows; or ``invalid="raise"`` and values are invalid
        (counted over the whole file, as for a frame).
    """
    frames = (frame_of(_decoded(b)) for b in table.batches([str(c) for c in mapping.columns]))
    read_once = isinstance(table, StreamedList) and table.is_stream
    return upload_frames(frames, mapping, invalid, str(table.path), today, read_once=read_once)


def upload_frames(
    frames: Iterable[pd.DataFrame],
    mapping: ColumnMapping,
    invalid: InvalidPolicy,
    source: str,
    today: dt.date | None = None,
    *,
    read_once: bool = False,
) -> Upload:
    """The upload CSV of a list given as consecutive frames (a file's batches, a Dask
    frame's partitions); byte for byte what
    :func:`~smartmatch_pandas.preparation.table.upload_body` makes of them concatenated.

    Each frame's ``matchback_id`` goes on from the last one's, so ids are unique
    over the whole list. ``source`` names the list in errors; ``read_once``, it is a
    stream, which gives its rows once (an empty one may have been read already).

    Raises
    ------
    InputError
        The list has no rows; or ``invalid="raise"`` and values are invalid
        (counted over the whole list, as for a frame).
    """
    today = today or dt.date.today()
    tally = InvalidTally(invalid)
    body = Spool(digest=True)
    present: dict[str, list[pa.Array]] = {identifier: [] for identifier in mapping.identifiers}
    witness: tuple[str, list[pa.Array]] = ("", [])
    rows = 0
    empty = set(mapping.pairs)  # the columns with no value in any batch so far
    try:
        csv = upload_csv(body, [*mapping.identifiers, MATCHBACK_ID])
        for frame in frames:
            frame = frame.set_axis(pd.RangeIndex(rows, rows + len(frame)))
            columns = sent_columns(frame, mapping, invalid, today=today)
            tally.add(columns)
            if not (invalid == "raise" and tally.any):
                upload = upload_table(columns, start=rows)
                check_values(upload, mapping, frame.index)
                empty &= empty_columns(upload, mapping)
                add_upload_rows(csv, upload)
                sent = sent_presence(upload)
                for identifier, flags in sent.items():
                    present[identifier].append(flags)
                if sent.witness is not None:
                    witness = (sent.witness[0], [*witness[1], sent.witness[1]])
            rows += len(frame)
        if not rows:
            again = " (a stream gives its rows once: if it was read already, make it again)"
            raise InputError(
                f"{source} has no rows: there is nothing to match{again if read_once else ''}"
            )
        tally.report(rows)
        check_not_empty(empty, mapping)
    except BaseException:
        body.close()
        raise
    presence = SentPresence((k, pa.concat_arrays(v)) for k, v in present.items())
    if witness[1]:
        presence.witness = (witness[0], pa.concat_arrays(witness[1]))
    return Upload(body, rows, presence)


def _decoded(batch: pa.Table) -> pa.Table:
    """Dictionary columns (a Polars category, a pandas categorical in Parquet) as their
    values: what is normalised and sent (older pyarrow hands pandas no unsigned indices)."""
    if not any(pa.types.is_dictionary(field.type) for field in batch.schema):
        return batch
    columns = [
        _values(column) if pa.types.is_dictionary(column.type) else column
        for column in batch.columns
    ]
    return pa.Table.from_arrays(columns, names=batch.column_names)


def _values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary column's values, text views as plain text (which every kernel takes)."""
    kind = column.type.value_type
    kind = pa.large_string() if kind == pa.string_view() else kind
    return pa.chunked_array(
        [chunk.dictionary.cast(kind).take(chunk.indices) for chunk in column.chunks], kind
    )
