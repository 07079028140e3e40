"""Contact lists in files, CSV (every column as text) or Parquet: read and written whole or
in batches.

The command line reads a list and writes the enriched list through these, in
memory (:func:`read_table`, :func:`write_table`) or batch by batch for a file
larger than memory (:class:`TableFile`, :class:`TableWriter`): both ways give
the same columns, types and bytes. Every column is read as Arrow has it and
handed to pandas as :class:`pandas.ArrowDtype`, so what is written back is
what was read (a Parquet ``int32`` with gaps stays ``int32``, a CSV ZIP of
``02134`` stays ``02134``), followed by the appended columns.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import DiskError, InputError, SmartMatchError
from ..private_files import PrivateFile
from .csv import HEAD_BYTES, PARSE_BLOCK, CSVWriter, csv_header, text_csv_options, without_data

#: Rows per batch (fewer when they are wide: see :data:`BATCH_BYTES`).
BATCH_ROWS: Final = 65_536
#: Bytes per batch at most, roughly.
BATCH_BYTES: Final = 16 << 20
#: Bytes of CSV parsed at a time (see :data:`~smartmatch_pandas.files.csv.PARSE_BLOCK`).
CSV_BLOCK: Final = PARSE_BLOCK
#: Where pandas keeps ``DataFrame.attrs`` in a Parquet file.
_ATTRS_KEY: Final = b"PANDAS_ATTRS"


class TableFile:
    """A contact list in a CSV or Parquet file (by its extension), read in batches.

    A CSV's columns are all text, empty cells null and nothing else
    (``NA`` and ``null`` are names too). A Parquet file's columns are as
    stored; the index columns pandas may have stored are left out.

    Raises
    ------
    InputError
        The file cannot be read, or is neither CSV nor Parquet.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.parquet = self.path.suffix.lower() == ".parquet"
        try:
            if self.parquet:
                with pq.ParquetFile(self.path) as source:
                    schema = source.schema_arrow
                hidden = set(_pandas_index_columns(schema))
                self.schema = pa.schema([f for f in schema if f.name not in hidden])
            else:
                with self.path.open("rb") as head:
                    names = csv_header(head.read(HEAD_BYTES)) or []
                self.schema = pa.schema([(name, pa.string()) for name in names])
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(
                f"{self.path} cannot be read as a contact list: {without_data(str(exc))}"
            ) from None

    @property
    def columns(self) -> list[str]:
        """The list's column names, in order."""
        return list(self.schema.names)

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The rows, batch by batch, with ``columns`` (default all) in the file's order.

        A batch holds :data:`BATCH_ROWS` rows, or fewer wide ones
        (:data:`BATCH_BYTES`); the last may hold fewer.

        Raises
        ------
        InputError
            The file is not valid CSV or Parquet.
        """
        names = self.columns if columns is None else [c for c in self.columns if c in columns]
        held: list[pa.RecordBatch] = []
        rows = size = 0
        schema = pa.schema([self.schema.field(name) for name in names])
        for batch in self._read(names):
            held.append(batch)
            rows, size = rows + batch.num_rows, size + batch.nbytes
            if rows >= BATCH_ROWS or size >= BATCH_BYTES:
                yield pa.Table.from_batches(held, schema=schema)
                held, rows, size = [], 0, 0
        if held:
            yield pa.Table.from_batches(held, schema=schema)

    def _read(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        try:
            if self.parquet:
                with pq.ParquetFile(self.path) as source:
                    yield from source.iter_batches(batch_size=BATCH_ROWS // 4, columns=names)
                return
            options = text_csv_options(self.columns, include=names, block=CSV_BLOCK)
            reader = pacsv.open_csv(self.path, **options)
            yield from reader
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"{self.path} is not valid {self._kind}: {without_data(str(exc))}"
            ) from None

    def read(self) -> pa.Table:
        """All of it, as one table."""
        return pa.Table.from_batches(list(self._read(self.columns)), schema=self.schema)

    @property
    def _kind(self) -> str:
        return "Parquet" if self.parquet else "CSV"


def _pandas_index_columns(schema: pa.Schema) -> list[str]:
    """The columns pandas stored its index in (a RangeIndex is kept as metadata alone)."""
    raw = (schema.metadata or {}).get(b"pandas")
    if not raw:
        return []
    try:
        stored = json.loads(raw).get("index_columns", [])
    except ValueError:
        return []
    return [name for name in stored if isinstance(name, str)]


def frame_of(table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """A table as a pandas frame of :class:`pandas.ArrowDtype` columns (no copy of the text)."""
    frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)
    return frame


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV (every column as text) or Parquet file, as a frame (see :class:`TableFile`)."""
    return frame_of(TableFile(path).read())


def output_schema(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Schema:
    """The Arrow schema ``frame`` is written with: pandas' metadata, and its ``attrs``
    where pandas keeps them.

    ``frame`` may have no rows: a list written in batches gets the schema its
    whole frame would have. ``schema`` is the frame's as converted, if known.
    """
    schema = schema or pa.Schema.from_pandas(frame, preserve_index=False)
    if not frame.attrs:
        return schema
    return schema.with_metadata({**(schema.metadata or {}), _ATTRS_KEY: json.dumps(frame.attrs)})


class TableWriter:
    """Writes a table to Parquet or CSV (by the file's extension), batch by batch.

    The file is written beside its place under a temporary name and moved
    there by :meth:`close`, so a run that fails leaves no half-written list.
    It is readable by the user alone (mode 0600): it holds contact data (see
    :mod:`smartmatch_pandas.private_files`).
    """

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema) -> None:
        self.path = Path(path)
        # Contact data: readable by the user alone from the first byte (the writers
        # below open the private file by name and truncate it, keeping its mode).
        self._pending = PrivateFile(self.path)
        self._writer: pq.ParquetWriter | _CSVFile
        try:
            if self.path.suffix.lower() == ".parquet":
                self.schema = schema
                self._writer = pq.ParquetWriter(self._pending.path, schema)
            else:
                self.schema = schema.remove_metadata()
                self._writer = _CSVFile(self._pending.path, self.schema)
        except BaseException:
            self._pending.discard()
            raise

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is not None:
            self.abort()

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append rows (cast to the schema's types).

        Raises
        ------
        DiskError
            The disk is full (or the file cannot be written): nothing is left
            at the path, nor under a temporary name.
        """
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        with self._disk_errors():
            self._writer.write_table(table.cast(self.schema))

    def close(self) -> None:
        """Finish the file and move it into place."""
        with self._disk_errors():
            self._writer.close()
            self._pending.commit()

    @contextlib.contextmanager
    def _disk_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            if isinstance(exc, SmartMatchError):
                raise
            with contextlib.suppress(Exception):  # already half-closed: only discard
                self.abort()
            raise DiskError(
                f"{self.path} could not be written ({exc.strerror or exc}): nothing was "
                "left there. Free some space, or write it elsewhere; with the result cache "
                "on (the default), running the same command again fetches nothing"
            ) from None

    def abort(self) -> None:
        """Stop, and remove what was written."""
        try:
            self._writer.close()
        finally:
            self._pending.discard()


class _CSVFile:
    """A CSV file written by :class:`~smartmatch_pandas.files.csv.CSVWriter`, as
    ``pyarrow.csv.CSVWriter`` would write it (header quoted), table by table."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file = pa.OSFile(str(path), "wb")
        try:
            self._csv = CSVWriter(self._file, schema.names)
        except BaseException:
            self._file.close()
            raise

    def write_table(self, table: pa.Table) -> None:
        self._csv.write(table)

    def close(self) -> None:
        self._file.close()


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` (without its index) as Parquet or CSV, by the file's extension.

    ``frame.attrs`` (the job's summary) is kept in a Parquet file, where pandas
    reads it back.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with TableWriter(path, output_schema(frame, table.schema)) as writer:
        writer.write(table)
        writer.close()
