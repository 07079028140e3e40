"""Contact lists in files: CSV (every column as text), Excel workbooks or Parquet, read and
written whole or in batches.

The command line reads a list and writes the enriched list through these, in
memory (:func:`read_table`, :func:`write_table`) or batch by batch for a file
larger than memory (:class:`TableFile`, :class:`TableWriter`): both ways give
the same columns, types and bytes. Every column is read as Arrow has it and
handed to pandas as :class:`pandas.ArrowDtype`, so what is written back is
what was read (a Parquet ``int32`` with gaps stays ``int32``, a CSV ZIP of
``02134`` stays ``02134``), followed by the appended columns.

Read as people save lists: a CSV (``.csv``, ``.tsv``, ``.txt``, any of them
gzipped, or any other name) in UTF-8 with or without a byte order mark, UTF-16
or the Windows code page, delimited by commas, semicolons, tabs or pipes (told
from the first bytes unless given: :func:`~smartmatch_pandas.files.csv.detect_layout`);
an Excel workbook (``.xlsx``, :mod:`~smartmatch_pandas.files.sheets`); Parquet.
Headers that are blank or repeated are made unique (``column_3``, ``Phone_2``),
with a warning, before anything is read or sent.

Written by the output's extension (:class:`TableOutput`): ``.csv``,
``.csv.gz``, ``.parquet`` or ``.xlsx``; anything else is refused before any work.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import DiskError, InputError, OptionError, SmartMatchError, warn
from ..private_files import PrivateFile
from .cells import neutral, neutral_table
from .csv import (
    HEAD_BYTES,
    PARSE_BLOCK,
    CSVLayout,
    CSVWriter,
    csv_header,
    detect_layout,
    text_csv_options,
    without_data,
)
from .sheets import EXCEL_MAX_ROWS, SheetReader, SheetWriter

#: Rows per batch (fewer when they are wide: see :data:`BATCH_BYTES`).
BATCH_ROWS: Final = 65_536
#: Bytes per batch at most, roughly.
BATCH_BYTES: Final = 16 << 20
#: Bytes of CSV parsed at a time (see :data:`~smartmatch_pandas.files.csv.PARSE_BLOCK`).
CSV_BLOCK: Final = PARSE_BLOCK
#: Where pandas keeps ``DataFrame.attrs`` in a Parquet file.
ATTRS_KEY: Final = b"PANDAS_ATTRS"
#: What a list file is read as.
Kind = Literal["csv", "parquet", "xlsx"]


def table_kind(path: Path) -> Kind:
    """What the file at ``path`` is read as, by its extension: Parquet, an Excel workbook,
    or else CSV text.

    Raises
    ------
    InputError
        An old Excel workbook (``.xls``), which only Excel reads.
    """
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError(
            f"{path} is an old Excel workbook (.xls): save it from Excel as .xlsx or CSV"
        )
    return "parquet" if suffix == ".parquet" else "xlsx" if suffix == ".xlsx" else "csv"


def unique_names(names: Sequence[str], where: object) -> list[str]:
    """Column names made unique, with a warning that says what changed: a blank header
    becomes ``column_N`` (N its position, from 1), a repeated one ``NAME_2``, ``NAME_3``..."""
    taken = {name for name in names if name.strip()}
    made: list[str] = []
    seen: Counter[str] = Counter()
    changes: list[str] = []
    for position, name in enumerate(names, 1):
        if not name.strip():
            new = _free(f"column_{position}", taken)
            changes.append(f"column {position} (no header) as {new!r}")
        elif seen[name]:
            new = _numbered(name, seen[name] + 1, taken)
            changes.append(f"column {position} (a second {name!r}) as {new!r}")
        else:
            new = name
        seen[name] += 1
        taken.add(new)
        made.append(new)
    if changes:
        warn(f"{where}: headers made unique before anything is sent: {'; '.join(changes)}")
    return made


def _numbered(name: str, start: int, taken: set[str]) -> str:
    """``NAME_k``, the first free from ``k = start``."""
    k = start
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def _free(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


class TableFile:
    """A contact list in a file, read in batches: CSV, Excel workbook or Parquet (by its
    extension).

    A CSV's columns are all text, empty cells null and nothing else
    (``NA`` and ``null`` are names too); so are a workbook's. A Parquet
    file's columns are as stored; the index columns pandas may have stored
    are left out.

    Parameters
    ----------
    path
        The file.
    encoding, delimiter
        A CSV's encoding (a Python codec name, such as ``"cp1252"``) and
        delimiter; told from its first bytes when None.
    sheet
        A workbook's sheet; the first when None.

    Raises
    ------
    InputError
        The file cannot be read, or is not what its extension says.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.kind: Kind = table_kind(self.path)
        self.sheet = sheet
        self.layout: CSVLayout | None = None
        #: pandas' own description of each column it stored (a Parquet file's), by name.
        self.pandas_columns: dict[str, dict[str, Any]] = {}
        try:
            if self.kind == "parquet":
                with pq.ParquetFile(self.path) as source:
                    schema = source.schema_arrow
                hidden = set(_pandas_index_columns(schema))
                self.schema = pa.schema([f for f in schema if f.name not in hidden])
                self.pandas_columns = pandas_columns(schema)
                return
            if self.kind == "xlsx":
                reader = SheetReader(self.path, sheet)
                reader.close()
                header = reader.header
            else:
                head = self._head()
                _refuse_binary(self.path, head)
                self.layout = detect_layout(head, encoding=encoding, delimiter=delimiter)
                header = csv_header(head, self.layout) or []
        except (OSError, pa.ArrowInvalid, EOFError, LookupError) as exc:
            raise InputError(
                f"{self.path} cannot be read as a contact list: {without_data(str(exc))}"
            ) from None
        names = unique_names(header, self.path)
        self.schema = pa.schema([(name, pa.string()) for name in names])

    def _head(self) -> bytes:
        opener = gzip.open if self.path.suffix.lower() == ".gz" else open
        with opener(self.path, "rb") as head:
            return bytes(head.read(HEAD_BYTES))

    @property
    def parquet(self) -> bool:
        """Whether the file is Parquet."""
        return self.kind == "parquet"

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
            if self.kind == "parquet":
                with pq.ParquetFile(self.path) as source:
                    yield from source.iter_batches(batch_size=BATCH_ROWS // 4, columns=names)
                return
            if self.kind == "xlsx":
                reader = SheetReader(self.path, self.sheet)
                yield from reader.batches(self.columns, names, BATCH_ROWS // 4)
                return
            options = text_csv_options(
                self.columns, include=names, block=CSV_BLOCK, layout=self.layout
            )
            reader = pacsv.open_csv(self.path, **options)
            yield from reader
        except (pa.ArrowInvalid, OSError, UnicodeError, EOFError) as exc:
            raise InputError(f"{self.path} is not valid {self._kind}: {self._why(exc)}") from None

    def _why(self, exc: Exception) -> str:
        why = without_data(str(exc))
        if self.layout is not None and ("UTF8" in why or isinstance(exc, UnicodeError)):
            why += f" (read as {self.layout.encoding}: give its encoding, e.g. cp1252 or utf-8)"
        return why

    def count_rows(self) -> int:
        """The rows of the list (Parquet's metadata says; others are read through)."""
        if self.kind == "parquet":
            with pq.ParquetFile(self.path) as source:
                return int(source.metadata.num_rows)
        return sum(batch.num_rows for batch in self._read(self.columns[:1]))

    def read(self) -> pa.Table:
        """All of it, as one table."""
        return pa.Table.from_batches(list(self._read(self.columns)), schema=self.schema)

    @property
    def _kind(self) -> str:
        return {"parquet": "Parquet", "xlsx": "Excel", "csv": "CSV"}[self.kind]


#: The first bytes of files that are no CSV text whatever their name says: a zip (an
#: .xlsx workbook is one), an old Excel (.xls) compound file, Parquet.
_NOT_TEXT: Final = {
    b"PK\x03\x04": "an Excel workbook (.xlsx) or another zip file",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"PAR1": "a Parquet file",
}


def _refuse_binary(path: Path, head: bytes) -> None:
    """Refuse a file named as CSV that is no text: a workbook saved under a .csv name
    would otherwise be read as garbled text (and could stall the CSV reader)."""
    what = _NOT_TEXT.get(head[:4])
    if what is not None:
        raise InputError(
            f"{path} is {what}, not CSV text: give it its own extension (.xlsx, .parquet), "
            "or save it as CSV"
        )


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


def read_table(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """A CSV or a workbook's sheet (every column as text) or a Parquet file, as a frame
    (see :class:`TableFile`, whose parameters these are)."""
    table = TableFile(path, encoding=encoding, delimiter=delimiter, sheet=sheet)
    return frame_of(table.read())


def pandas_columns(schema: pa.Schema) -> dict[str, dict[str, Any]]:
    """pandas' description of each column (its dtype) in ``schema``'s metadata, by name:
    what :func:`pandas.read_parquet` reads the column as."""
    raw = (schema.metadata or {}).get(b"pandas")
    try:
        described = json.loads(raw) if raw else {}
        entries = described.get("columns", [])
        return {e["field_name"]: e for e in entries if isinstance(e.get("field_name"), str)}
    except (ValueError, AttributeError, TypeError, KeyError):
        return {}


def output_schema(
    frame: pd.DataFrame, schema: pa.Schema | None = None, *, source: TableFile | None = None
) -> pa.Schema:
    """The Arrow schema ``frame`` is written with: pandas' metadata, and its ``attrs``
    where pandas keeps them.

    ``frame`` may have no rows: a list written in batches gets the schema its
    whole frame would have. ``schema`` is the frame's as converted, if known.

    pandas reads a Parquet file by its metadata, which names each column's
    dtype; the columns of a Parquet ``source`` (the list the frame was read
    from, as :class:`pandas.ArrowDtype`) are named as the source named them, so
    that :func:`pandas.read_parquet` reads them back as it reads the source (a
    ``category`` stays one). A dtype pandas cannot read back by its name (an
    ``ArrowDtype`` of a dictionary or a list) is left for pandas to choose
    from the Arrow type, as for a file without metadata.
    """
    schema = readable_metadata(schema or pa.Schema.from_pandas(frame, preserve_index=False), source)
    if not frame.attrs:
        return schema
    return schema.with_metadata({**(schema.metadata or {}), ATTRS_KEY: json.dumps(frame.attrs)})


def readable_metadata(schema: pa.Schema, source: TableFile | None = None) -> pa.Schema:
    """``schema`` with pandas' metadata naming only dtypes pandas reads back (see
    :func:`output_schema`)."""
    raw = (schema.metadata or {}).get(b"pandas")
    if not raw:
        return schema
    described = json.loads(raw)
    inputs = set(source.columns) if source is not None and source.parquet else set()
    kept = source.pandas_columns if source is not None else {}
    described["columns"] = [_readable_entry(entry, kept, inputs) for entry in described["columns"]]
    return schema.with_metadata({**schema.metadata, b"pandas": json.dumps(described).encode()})


def _readable_entry(
    entry: dict[str, Any], kept: dict[str, dict[str, Any]], inputs: set[str]
) -> dict[str, Any]:
    """One column's description: the source's own; for a source column pandas did not
    describe, or a dtype pandas cannot name, none (the Arrow type decides)."""
    name = entry.get("field_name")
    if name in inputs and name in kept:
        return kept[name]
    if name in inputs or not _pandas_reads(str(entry.get("numpy_type"))):
        return {**entry, "numpy_type": "object", "metadata": None}
    return entry


@lru_cache(maxsize=256)
def _pandas_reads(dtype: str) -> bool:
    """Whether pandas reads a dtype back by this name (as :func:`pandas.read_parquet` does)."""
    try:
        pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError):
        return False
    return True


#: What a list is written as, by the output's extension.
OUTPUT_KINDS: Final = {".csv": "csv", ".csv.gz": "csv.gz", ".parquet": "parquet", ".xlsx": "xlsx"}
#: The output kinds a spreadsheet opens, whose cells :mod:`~smartmatch_pandas.files.cells`
#: makes safe to open.
SPREADSHEET_KINDS: Final = frozenset({"csv", "csv.gz", "xlsx"})


@dataclass(frozen=True)
class TableOutput:
    """Where an enriched list goes, and as what: its kind told by its extension.

    Attributes
    ----------
    path
        The file.
    kind
        ``"csv"``, ``"csv.gz"``, ``"parquet"`` or ``"xlsx"``.
    neutral
        Whether cells a spreadsheet would evaluate are written as text
        (CSV and Excel only; see :mod:`~smartmatch_pandas.files.cells`).
    """

    path: Path
    kind: str
    neutral: bool = False

    @classmethod
    def of(cls, path: str | os.PathLike[str], *, neutral: bool = False) -> TableOutput:
        """The output at ``path``, its kind told by its extension.

        Raises
        ------
        OptionError
            The extension is none of :data:`OUTPUT_KINDS`.
        """
        path = Path(path)
        if path.is_dir():
            raise OptionError(f"{path} is a folder: give the name of a file in it")
        name = path.name.lower()
        for suffix, kind in sorted(OUTPUT_KINDS.items(), key=lambda item: -len(item[0])):
            if name.endswith(suffix) and len(name) > len(suffix):
                return cls(path, kind, neutral and kind in SPREADSHEET_KINDS)
        raise OptionError(
            f"{path}: an output's format is told by its extension, and {path.suffix or 'none'!r} "
            f"is not one written: name it .csv, .csv.gz, .parquet or .xlsx"
        )

    def check_place(self) -> None:
        """Refuse a place that cannot take the file: a folder that does not exist or cannot
        be written, or a folder where the file should be.

        Raises
        ------
        OptionError
            Saying what is wrong with the place.
        """
        folder = self.path.parent
        if self.path.is_dir():
            raise OptionError(f"{self.path} is a folder: give the name of a file in it")
        if not folder.is_dir():
            raise OptionError(f"{self.path}: the folder {folder} does not exist; make it first")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OptionError(f"{self.path}: the folder {folder} cannot be written by you")
        try:  # access() says yes to root everywhere: try it (/proc, a full or read-only disk)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise OptionError(
                f"{self.path}: the folder {folder} cannot be written ({exc.strerror or exc}); "
                "choose another"
            ) from None

    def check_rows(self, rows: int, what: str = "the list") -> None:
        """Refuse more rows than the format holds (an Excel sheet: 1,048,576, header included).

        Raises
        ------
        OptionError
            Too many rows for a workbook.
        """
        if self.kind == "xlsx" and rows + 1 > EXCEL_MAX_ROWS:
            raise OptionError(
                f"{self.path}: an Excel sheet holds {EXCEL_MAX_ROWS - 1:,} rows under its header, "
                f"and {what} may have {rows:,}; write .csv, .csv.gz or .parquet"
            )

    def beside(self, tag: str) -> TableOutput:
        """An output of the same kind beside this one: ``OUT.csv`` → ``OUT.{tag}.csv``."""
        suffix = next(s for s, kind in OUTPUT_KINDS.items() if kind == self.kind)
        stem = self.path.name[: len(self.path.name) - len(suffix)]
        return TableOutput(self.path.with_name(f"{stem}.{tag}{suffix}"), self.kind, self.neutral)


def table_output(output: str | os.PathLike[str] | TableOutput) -> TableOutput:
    """``output`` as :class:`TableWriter` takes it (a bare path: Parquet by its extension,
    else CSV)."""
    return _output(output)


def _output(output: str | os.PathLike[str] | TableOutput) -> TableOutput:
    """``output`` as a :class:`TableOutput`: a bare path is Parquet by its extension, else
    CSV (as ever), and nothing is neutralised."""
    if isinstance(output, TableOutput):
        return output
    path = Path(output)
    try:
        return TableOutput.of(path)
    except OptionError:
        return TableOutput(path, "csv")


class TableWriter:
    """Writes a table as CSV, gzipped CSV, Parquet or an Excel workbook, batch by batch.

    The file is written beside its place under a temporary name and moved
    there by :meth:`close`, so a run that fails leaves no half-written list.
    It is readable by the user alone (mode 0600): it holds contact data (see
    :mod:`smartmatch_pandas.private_files`).

    Parameters
    ----------
    output
        A :class:`TableOutput`, or a path (Parquet by its extension, else CSV).
    schema
        The table's schema.
    """

    def __init__(self, output: str | os.PathLike[str] | TableOutput, schema: pa.Schema) -> None:
        self.output = _output(output)
        self.path = self.output.path
        # Contact data: readable by the user alone from the first byte (the writers
        # below open the private file by name and truncate it, keeping its mode).
        self._pending = PrivateFile(self.path)
        self._writer: _ParquetFile | _CSVFile | SheetWriter
        try:
            self.schema = schema if self.output.kind == "parquet" else schema.remove_metadata()
            # A CSV's risky cells get an apostrophe; a workbook's are text cells already.
            self._apostrophes = self.output.neutral and self.output.kind != "xlsx"
            names = [neutral(n) if self._apostrophes else n for n in schema.names]
            if self.output.kind == "parquet":
                self._writer = _ParquetFile(self._pending.path, schema)
            elif self.output.kind == "xlsx":
                self._writer = SheetWriter(self._pending.path, names, quote=self.output.neutral)
            else:
                gzipped = self.output.kind == "csv.gz"
                self._writer = _CSVFile(self._pending.path, names, gzipped=gzipped)
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
        table = table.cast(self.schema)
        if self._apostrophes:
            table = neutral_table(table).rename_columns(self.schema.names)
        with self._disk_errors():
            self._writer.write(table)

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
            if not isinstance(self._writer, SheetWriter):  # a workbook is written by close
                self._writer.close()
        finally:
            self._pending.discard()


class _ParquetFile:
    """A Parquet file, written table by table."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._parquet = pq.ParquetWriter(path, schema)

    def write(self, table: pa.Table) -> None:
        self._parquet.write_table(table)

    def close(self) -> None:
        self._parquet.close()


class _CSVFile:
    """A CSV file written by :class:`~smartmatch_pandas.files.csv.CSVWriter`, as
    ``pyarrow.csv.CSVWriter`` would write it (header quoted), table by table; gzipped
    if asked."""

    def __init__(self, path: Path, names: Sequence[str], *, gzipped: bool = False) -> None:
        self._raw = pa.OSFile(str(path), "wb")
        self._file = pa.CompressedOutputStream(self._raw, "gzip") if gzipped else self._raw
        try:
            self._csv = CSVWriter(self._file, names)
        except BaseException:
            self.close()
            raise

    def write(self, table: pa.Table) -> None:
        self._csv.write(table)

    def close(self) -> None:
        self._file.close()
        self._raw.close()


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str] | TableOutput,
    *,
    source: TableFile | None = None,
) -> None:
    """Write ``frame`` (without its index) as ``path`` says (see :class:`TableWriter`).

    ``frame.attrs`` (the job's summary) is kept in a Parquet file, where pandas
    reads it back, and so are the dtypes of the columns of ``source``, the list
    the frame was read from (see :func:`output_schema`).
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with TableWriter(path, output_schema(frame, table.schema, source=source)) as writer:
        writer.write(table)
        writer.close()
