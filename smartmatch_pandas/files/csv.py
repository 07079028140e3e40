"""CSV as the package reads and writes it, with Arrow: every column text, nothing guessed.

Read: the file's encoding and delimiter told from its first bytes
(:func:`detect_layout`: UTF-8 with or without a byte order mark, UTF-16, the
Windows code page; comma, semicolon, tab or pipe), a header row
(:func:`csv_header`), every column as text with only an empty cell null
(:func:`text_csv_options`), and Arrow's errors stripped of the contact data they
quote (:func:`without_data`). A plain UTF-8 comma file is parsed by Arrow
directly; another encoding is transcoded on the way.

Written: one :class:`CSVWriter` for every CSV the package makes (the upload
body and the enriched list): a header row, plain or quoted, then each table's
rows as Arrow formats them, slice by slice on a few threads when asked.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv

#: A UTF-8 byte order mark, which may start a CSV.
BOM: Final = b"\xef\xbb\xbf"
#: Bytes read to tell what a file is (its header row must fit).
HEAD_BYTES: Final = 65536
#: The delimiters a CSV is told to use, the first preferred when the file does not say.
DELIMITERS: Final = (",", ";", "\t", "|")
#: The encodings a file that is not UTF-8 is told among: Excel on Windows saves the
#: Windows code page, cp1252; Latin-1 and Latin-9 differ from it in a few signs only.
#: (Charset detection over a few names, among all encodings, guesses wildly: an accented
#: name read as DOS's cp850 turns ``á`` into ``ß``.) Another encoding: ``--encoding``.
LEGACY_ENCODINGS: Final = ("cp1252", "latin_1", "iso8859_15")
#: Lines looked at to tell the delimiter.
_SNIFF_LINES: Final = 20
#: Bytes of CSV parsed at a time: Arrow's parsing buffers grow with it (some 35 times).
PARSE_BLOCK: Final = 1 << 20
#: Rows per slice of CSV formatted on one thread.
SLICE_ROWS: Final = 65_536
_TEXT: Final = pa.string()
# The header is written apart: pyarrow before 22 can only quote it.
_ROWS_ONLY: Final = pacsv.WriteOptions(include_header=False)


# -- reading ---------------------------------------------------------------------------------


#: The longest header row read (some 100,000 columns), in bytes.
MAX_HEADER_BYTES: Final = 16 * 2**20


def header_head(read: Callable[[int], bytes]) -> bytes:
    """The first bytes of a CSV, enough to hold its whole header row: 64 KiB, or more
    (doubling, up to :data:`MAX_HEADER_BYTES`) while no line has ended.

    ``read(n)`` gives the first ``n`` bytes.
    """
    size = HEAD_BYTES
    head = read(size)
    while b"\n" not in head and len(head) == size and size < MAX_HEADER_BYTES:
        size *= 2
        head = read(size)
    return head


@dataclass(frozen=True)
class CSVLayout:
    """How a CSV file is written: its encoding and its delimiter.

    ``encoding`` is a Python codec name (``"utf-8"`` also reads a file that
    starts with a byte order mark).
    """

    encoding: str = "utf-8"
    delimiter: str = ","

    def decode(self, head: bytes) -> str:
        """The text of the first bytes of a file (a character cut at the end dropped)."""
        decoder = codecs.getincrementaldecoder(self.encoding)("replace")
        return decoder.decode(head.removeprefix(BOM) if self.utf8 else head)

    @property
    def utf8(self) -> bool:
        """Whether the file is UTF-8, which Arrow parses without transcoding."""
        return codecs.lookup(self.encoding).name == "utf-8"


def detect_layout(
    head: bytes, *, encoding: str | None = None, delimiter: str | None = None
) -> CSVLayout:
    """The layout of a CSV file that starts with ``head`` (its first 64 KiB), where not given.

    The encoding: UTF-8 if the bytes are (with or without a byte order mark),
    UTF-16 if a byte order mark says so, else the most likely of
    :data:`LEGACY_ENCODINGS` (Excel on Windows saves the Windows code page,
    cp1252). The delimiter: the one of :data:`DELIMITERS` that splits the first
    lines into the same number of columns, the most columns winning (a comma
    when none splits them).
    """
    encoding = encoding or _detect_encoding(head)
    text = CSVLayout(encoding).decode(head)
    return CSVLayout(encoding, delimiter or _detect_delimiter(text))


def _detect_encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # a character cut by the end of the head
    from charset_normalizer import from_bytes  # a dependency of requests

    best = from_bytes(head, cp_isolation=list(LEGACY_ENCODINGS)).best()
    return best.encoding if best is not None else "latin_1"  # latin_1 decodes any byte


def _detect_delimiter(text: str) -> str:
    lines = text.splitlines()[:_SNIFF_LINES]
    if len(lines) > 1 and len(text) >= HEAD_BYTES // 2:
        lines = lines[:-1]  # the last may be cut by the end of the head
    best, widest = DELIMITERS[0], 1
    for delimiter in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter) if row}
        except csv.Error:
            continue
        if len(widths) == 1 and (width := widths.pop()) > widest:
            best, widest = delimiter, width
    return best


def csv_header(
    content: bytes, layout: CSVLayout | None = None, *, limit: int = HEAD_BYTES
) -> list[str] | None:
    """The header row of CSV text that starts with ``content`` (its first ``limit`` bytes,
    64 KiB by default, hold it but for thousands of columns: see :func:`header_head`)."""
    layout = layout or CSVLayout()
    head = layout.decode(content[:limit])
    try:
        row = next(csv.reader(io.StringIO(head), delimiter=layout.delimiter), None)
    except csv.Error:
        return None
    return row


def text_columns(
    header: list[str], text: pa.DataType = _TEXT, include: list[str] | None = None
) -> pacsv.ConvertOptions:
    """Arrow's options to read every column of a CSV as text (``02134`` stays ``02134``):
    only an empty cell is null; ``NA``, ``null`` or ``None`` are text like any other."""
    return pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, text),
        strings_can_be_null=True,
        null_values=[""],
        include_columns=include,
    )


def text_csv_options(
    header: list[str],
    text: pa.DataType = _TEXT,
    include: list[str] | None = None,
    block: int = PARSE_BLOCK,
    layout: CSVLayout | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``pyarrow.csv.read_csv``/``open_csv`` reading a CSV as text
    (see :func:`text_columns`), ``block`` bytes at a time, values that span lines
    allowed. With a ``layout`` (the file's encoding and delimiter), ``header`` names
    the columns in place of the file's header row, which is skipped: names made
    unique are the ones read. Without, Arrow reads the header row of a UTF-8 comma file.
    """
    if layout is None:
        read = pacsv.ReadOptions(block_size=block)
        parse = pacsv.ParseOptions(newlines_in_values=True)
    else:
        encoding = "utf8" if layout.utf8 else layout.encoding
        read = pacsv.ReadOptions(
            block_size=block, column_names=header, skip_rows=1, encoding=encoding
        )
        parse = pacsv.ParseOptions(delimiter=layout.delimiter, newlines_in_values=True)
    return {
        "read_options": read,
        "parse_options": parse,
        "convert_options": text_columns(header, text, include),
    }


def without_data(message: str) -> str:
    """Arrow's parse error without the row it quotes: that is contact data."""
    message = re.sub(r"(got \d+):.*", r"\1", message, flags=re.DOTALL)
    return message.split("\n", 1)[0].removeprefix("CSV parse error: ")[:200]


# -- writing ---------------------------------------------------------------------------------


class ByteSink(Protocol):
    """Where CSV is written: anything with ``write`` taking bytes or an Arrow buffer."""

    def write(self, data: bytes | pa.Buffer, /) -> Any: ...


def header_line(names: Sequence[str], *, quoted: bool) -> bytes:
    """A CSV header row: every name in double quotes as Arrow writes it, or ``quoted=False``
    plain (for names that need no quoting, such as identifiers)."""
    if not quoted:
        return (",".join(names) + "\n").encode()
    sink = pa.BufferOutputStream()
    empty = pa.schema([(name, pa.null()) for name in names]).empty_table()
    pacsv.write_csv(empty, sink)
    header: bytes = sink.getvalue().to_pybytes()
    return header


def csv_rows(table: pa.Table, threads: int = 1) -> Iterator[pa.Buffer]:
    """The rows of ``table`` as CSV (no header), :data:`SLICE_ROWS` at a time, in order,
    formatted on up to ``threads`` threads (Arrow formats CSV without the GIL)."""

    def formatted(start: int) -> pa.Buffer:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table.slice(start, SLICE_ROWS), sink, _ROWS_ONLY)
        return sink.getvalue()

    starts = range(0, table.num_rows, SLICE_ROWS)
    workers = max(1, min(threads, len(starts)))
    if workers == 1:
        yield from map(formatted, starts)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[pa.Buffer]] = deque()
        for start in starts:
            pending.append(pool.submit(formatted, start))
            if len(pending) > 2 * workers:  # a few slices in flight, not the whole CSV
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class CSVWriter:
    """One CSV written to ``sink``: its header row at once, then each table's rows.

    Parameters
    ----------
    sink
        Where the bytes go; the caller opens and closes it. An Arrow output
        stream is written by Arrow directly when a single thread formats.
    names
        The column names of the header row.
    quoted
        Whether the header's names are quoted (as Arrow writes them) or plain.
    """

    def __init__(self, sink: ByteSink, names: Sequence[str], *, quoted: bool = True) -> None:
        self.sink = sink
        sink.write(header_line(names, quoted=quoted))

    def write(self, table: pa.Table, threads: int = 1) -> None:
        """Append the rows of ``table``, formatted slice by slice on up to ``threads`` threads."""
        if not table.num_rows:
            return
        if threads == 1 and isinstance(self.sink, pa.NativeFile):
            pacsv.write_csv(table, self.sink, _ROWS_ONLY)  # straight into the file
            return
        for chunk in csv_rows(table, threads):
            self.sink.write(chunk)
