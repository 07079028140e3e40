"""Contact lists that are not pandas frames: any Arrow stream, read in batches, and the
enriched list gathered back as an Arrow table.

Anything that exposes the Arrow PyCapsule stream interface (``__arrow_c_stream__``:
a pyarrow Table or RecordBatchReader, a DuckDB relation, a Polars DataFrame...)
is matched the way a file larger than memory is (see
:mod:`smartmatch_pandas.verbs.large_files`), through a :class:`StreamedList`:

1. The first reading (the upload) takes the stream's batches as they come and
   copies each into a :class:`~smartmatch_pandas.files.spool.Spool` as Arrow IPC:
   in memory while small, past the spill threshold in an anonymous private
   temporary file that is gone once closed. A stream can be read only once;
   the merge needs the list a second time.
2. The second reading (the merge) reads that spool back batch by batch.

A pyarrow Table is held already: it is read twice as it is, with no copy.
The merged batches go to a :class:`TableCollector`, which gives them back as
one Arrow table: the input's columns as they came (types, values, order), the
appended ones as text. Memory never holds a pandas frame of the list.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Final, Protocol, runtime_checkable

import pyarrow as pa

from ..errors import InputError
from .spool import Spool
from .tables import ATTRS_KEY, BATCH_BYTES, BATCH_ROWS

#: The metadata an enriched table keeps from the schema it is written with: the job's
#: summary, where pandas keeps ``DataFrame.attrs`` in a Parquet file.
KEPT_METADATA: Final = (ATTRS_KEY,)
#: Where pyarrow keeps a pandas frame's index and columns in a schema's metadata.
PANDAS_KEY: Final = b"pandas"


@runtime_checkable
class ArrowStream(Protocol):
    """An object that exposes the Arrow PyCapsule stream interface."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...


#: Rows per batch of a Polars LazyFrame's query, streamed into the upload.
LAZY_BATCH_ROWS: Final = 65_536


#: What match() and submit() take, as their refusal of anything else says.
ACCEPTED: Final = (
    "a pandas DataFrame, a Polars DataFrame or LazyFrame, or any Arrow stream (a pyarrow "
    "Table, RecordBatchReader, Dataset or Scanner, a DuckDB relation); a Dask frame "
    "through ddf.smartmatch.match()"
)


def is_arrow_stream(data: object) -> bool:
    """Whether ``data`` exposes ``__arrow_c_stream__`` (a pandas frame does too: ask first),
    or is a Polars LazyFrame (whose query is streamed) or a pyarrow Dataset or Scanner."""
    return (
        callable(getattr(type(data), "__arrow_c_stream__", None))
        or is_lazy_frame(data)
        or is_arrow_dataset(data)
    )


def is_arrow_dataset(data: object) -> bool:
    """Whether ``data`` is a pyarrow Dataset or Scanner (pyarrow.dataset never imported to
    tell)."""
    datasets = sys.modules.get("pyarrow.dataset")
    return datasets is not None and isinstance(data, datasets.Dataset | datasets.Scanner)


def is_lazy_frame(data: object) -> bool:
    """Whether ``data`` is a Polars LazyFrame (Polars never imported to tell)."""
    polars = sys.modules.get("polars")
    return polars is not None and isinstance(data, polars.LazyFrame)


def _dataset_reader(data: Any) -> pa.RecordBatchReader:
    """A pyarrow Scanner's rows, or a Dataset's (through its scanner), as a stream."""
    scanner = data if hasattr(data, "to_reader") else data.scanner()
    reader: pa.RecordBatchReader = scanner.to_reader()
    return reader


def lazy_stream(lazy: Any) -> pa.RecordBatchReader:
    """A Polars LazyFrame's rows as an Arrow stream: its query run on Polars' streaming
    engine batch by batch, as the stream is read (``LazyFrame.collect_batches``)."""
    chunks = lazy.collect_batches(chunk_size=LAZY_BATCH_ROWS, engine="streaming")
    first = next(chunks, None)
    if first is None:  # no rows: the schema alone
        return pa.RecordBatchReader.from_batches(lazy.limit(0).collect().to_arrow().schema, [])
    return pa.RecordBatchReader.from_batches(
        first.to_arrow().schema, _chunk_batches(itertools.chain([first], chunks))
    )


def _chunk_batches(chunks: Iterator[Any]) -> Iterator[pa.RecordBatch]:
    for chunk in chunks:
        yield from chunk.to_arrow().to_batches()


class StreamedList:
    """A contact list given as Arrow batches, read twice: to upload, then to merge.

    Parameters
    ----------
    schema
        The batches' schema.
    batches
        The list's rows, in order: read once, as they come.
    path
        What the list is called in messages (``"the Polars DataFrame"``).
    held
        The list as a table already in memory (then read as it is, never copied).
    once
        The list is read once only (an upload alone: :func:`smartmatch_pandas.submit`,
        or a Dask frame whose partitions are read again where they are): no copy
        of the stream is taken.

    Notes
    -----
    Use it as a context manager, or :meth:`close` it: the copy of a stream
    taken while it is first read is kept until then.
    """

    def __init__(
        self,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch] = (),
        *,
        path: str = "the Arrow stream",
        held: pa.Table | None = None,
        once: bool = False,
    ) -> None:
        self.schema = schema
        self.path = path
        self.once = once
        self._source: Iterator[pa.RecordBatch] | None = None if held else iter(batches)
        self._held = held
        self._spool: Spool | None = None

    @classmethod
    def of(cls, data: object, path: str | None = None, *, once: bool = False) -> StreamedList:
        """The list in ``data``: a pyarrow Table (held), or any object with
        ``__arrow_c_stream__`` (read once, as a stream).

        Raises
        ------
        InputError
            ``data`` is no Arrow stream.
        """
        what = path or f"the {type(data).__module__.split('.')[0]} {type(data).__name__}"
        if isinstance(data, pa.Table):
            return cls(data.schema, path=what, held=data)
        if is_lazy_frame(data):
            data = lazy_stream(data)
        elif is_arrow_dataset(data):  # its rows read as a stream, once
            data = _dataset_reader(data)
        if not is_arrow_stream(data):
            raise InputError(f"expected {ACCEPTED}; got a {type(data).__name__}")
        try:
            reader = pa.RecordBatchReader.from_stream(data)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InputError(f"{what} cannot be read as an Arrow stream: {exc}") from None
        return cls(reader.schema, reader, path=what, once=once)

    @property
    def columns(self) -> list[str]:
        """The list's column names, in order."""
        return list(self.schema.names)

    @property
    def is_stream(self) -> bool:
        """Whether the list came as a stream (read once at its source), not a held table."""
        return self._held is None

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The rows, at most :data:`~smartmatch_pandas.files.tables.BATCH_ROWS` at a time
        (fewer when wide: :data:`~smartmatch_pandas.files.tables.BATCH_BYTES`), with
        ``columns`` (default all) in the list's order.

        Small batches are gathered up to that size as they are read (each batch
        costs the upload and the merge a fixed share of time; gathered, a stream of
        100-row batches is read as fast as one table), large ones cut; memory holds
        one such batch at a time. The first reading of a stream copies it, whole,
        into a spool: the readings after it read that copy.
        """
        # By position: a stream may repeat a name (a query's SELECT a, a) it is not sent by.
        kept = [i for i, name in enumerate(self.columns) if columns is None or name in columns]
        held: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in self._batches():
            while batch.num_rows:
                piece, batch = batch.slice(0, BATCH_ROWS - rows), batch.slice(BATCH_ROWS - rows)
                held.append(piece)
                rows, size = rows + piece.num_rows, size + _size(piece)
                if rows >= BATCH_ROWS or size >= BATCH_BYTES:
                    yield _gathered(held, self.schema, kept)
                    held, rows, size = [], 0, 0
        if held:
            yield _gathered(held, self.schema, kept)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self._held is not None:
            yield from self._held.to_batches()
        elif self._source is not None:
            source, self._source = self._source, None
            yield from source if self.once else self._first_reading(source)
        else:
            if self._spool is None:
                raise RuntimeError(f"{self.path} was read once, and kept no copy (once=True)")
            with pa.ipc.open_stream(self._spool.arrow_input()) as reader:
                yield from reader

    def _first_reading(self, source: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        self._spool = Spool()
        with pa.ipc.new_stream(self._spool, self.schema) as copy:
            for batch in source:
                copy.write_batch(batch)
                yield batch

    def close(self) -> None:
        """Drop the copy of the stream."""
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> StreamedList:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _size(batch: pa.RecordBatch) -> int:
    """The bytes ``batch`` refers to; pyarrow 21 cannot measure a slice of a view type
    (Polars' strings), so then the size of the buffers it holds whole."""
    try:
        return int(batch.nbytes)
    except (pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return int(batch.get_total_buffer_size())


def _gathered(held: list[pa.RecordBatch], schema: pa.Schema, kept: list[int]) -> pa.Table:
    """The batches held as one table of ``kept`` columns, in one chunk when there were many
    (each chunk would cost the merge's steps their fixed share again)."""
    table = pa.Table.from_batches(held, schema).select(kept)
    return table.combine_chunks() if len(held) > 1 else table


class ResultKind(Protocol):
    """What an enriched list is given back as, made piece by piece (each Arrow piece then
    dropped, so that the result is never held twice)."""

    def piece(self, table: pa.Table) -> Any:
        """One enriched batch, in the result's kind."""

    def whole(self, pieces: list[Any], schema: pa.Schema) -> Any:
        """The result: the pieces, in order (``schema`` when there is none), with the
        schema's ``metadata`` where the kind keeps it."""


class ArrowTables:
    """The result as one pyarrow Table, its summary in its schema's metadata."""

    def piece(self, table: pa.Table) -> pa.Table:
        return table

    def whole(self, pieces: list[Any], schema: pa.Schema) -> pa.Table:
        table = pa.concat_tables(pieces) if pieces else schema.empty_table()
        described = {field.name: field.metadata for field in schema if field.metadata}
        if described:  # the input's columns keep their fields' metadata
            fields = [f.with_metadata(described.get(f.name, f.metadata)) for f in table.schema]
            table = table.cast(pa.schema(fields))
        return table.replace_schema_metadata(_fitted(schema.metadata, table.num_rows))


def _fitted(metadata: dict[bytes, bytes] | None, rows: int) -> dict[bytes, bytes] | None:
    """The schema's metadata, its pandas index left out if it is a range of another length
    than the result's (one row per candidate: ``all_matches``)."""
    if not metadata or PANDAS_KEY not in metadata:
        return metadata
    described = json.loads(metadata[PANDAS_KEY])
    index = described.get("index_columns", [])
    kept = [i for i in index if not (isinstance(i, dict) and len(_range_of(i)) != rows)]
    if kept == index:
        return metadata
    return {**metadata, PANDAS_KEY: json.dumps({**described, "index_columns": kept}).encode()}


def _range_of(index: dict[str, Any]) -> range:
    return range(index.get("start", 0), index.get("stop", 0), index.get("step", 1) or 1)


class TableCollector:
    """Where an enriched list goes when it is given back rather than written: its batches,
    gathered in the result's kind (:attr:`result`, once closed; a pyarrow Table unless
    ``kind`` says otherwise).

    Used as :class:`~smartmatch_pandas.files.tables.TableWriter` is, through :meth:`open`.
    Given the input's schema (``like``), the result keeps its metadata (pandas' own, so
    that ``to_pandas()`` gives the input's index back) and that of its fields.
    """

    def __init__(self, kind: ResultKind | None = None, like: pa.Schema | None = None) -> None:
        self.kind: ResultKind = kind or ArrowTables()
        self.like = like
        self._pieces: list[Any] = []
        self._schema = pa.schema([])
        self.result: Any = None

    def open(self, schema: pa.Schema) -> TableCollector:
        """Begin a table written with ``schema`` (its summary metadata is kept)."""
        given = schema.metadata or {}
        kept = {key: given[key] for key in KEPT_METADATA if key in given}
        if self.like is not None:  # the input's own metadata, so that it reads back as it was
            kept = {**(self.like.metadata or {}), **kept}
            own = {f.name: f.metadata for f in self.like if f.metadata}
            schema = pa.schema([f.with_metadata(own.get(f.name, f.metadata)) for f in schema])
        self._schema = schema.with_metadata(kept) if kept else schema.remove_metadata()
        self._pieces, self.result = [], None
        return self

    def __enter__(self) -> TableCollector:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is not None:
            self.abort()

    def write(self, batch: pa.Table) -> None:
        """Append rows."""
        self._pieces.append(self.kind.piece(batch))

    def close(self) -> None:
        """Gather the rows written into :attr:`result`."""
        pieces, self._pieces = self._pieces, []
        self.result = self.kind.whole(pieces, self._schema)

    def abort(self) -> None:
        """Drop what was written."""
        self._pieces, self.result = [], None
