"""A deliverable's unpacked files → its result CSVs, read as text: the best matches, the
additional ones, and the summary report.

CSVs are told apart by what they hold, never by their names: a result CSV
has a ``matchback_id`` column; the best-match file has at most one row per
``matchback_id``, the additional file may have several. Any other file with
text in it is the service's summary report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import DeliverableError, one_line, printable, warn
from ..files.csv import (
    BOM,
    HEAD_BYTES,
    csv_header,
    header_head,
    text_csv_options,
    without_data,
)
from ..files.spool import Spool, SpooledFiles
from ..identifiers import MATCHBACK_ID
from .unpack import unpack_deliverable

_LARGE_TEXT: Final = pa.large_string()
#: The most of the service's report kept, in bytes (it goes into ``df.attrs`` and from there
#: into files' metadata); the rest is said to exist, not kept.
MAX_REPORT_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class Deliverable:
    """A deliverable unpacked and parsed.

    Attributes
    ----------
    files
        Every file it held, by name, as raw bytes.
    best
        The best-match CSV, every column as text.
    additional
        The additional-matches CSV, if there was one.
    report
        The summary report's text, if there was one.
    best_ids
        The best-match CSV's ``matchback_id`` values as integers, when every one
        is written plainly (see :func:`plain_numbers`); None otherwise or unknown.
    """

    files: Mapping[str, bytes]
    best: pa.Table
    additional: pa.Table | None = None
    report: str | None = None
    best_ids: np.ndarray | None = None


def read_deliverable(
    data: bytes | Spool, *, filename: str | None = None, skip: Collection[str] = ()
) -> Deliverable:
    """Unpack and parse a deliverable, whatever its format.

    ``data`` is its bytes, or a :class:`~smartmatch_pandas.files.spool.Spool`: one that
    spilled to a temporary file is unpacked and parsed from files, never held
    in memory whole. Columns named in ``skip`` are not read.

    Raises
    ------
    DeliverableError
        The bytes are not a deliverable: corrupt, truncated, or holding no
        CSV with a ``matchback_id`` column.
    """
    return read_files(unpack_deliverable(data, filename=filename), filename=filename, skip=skip)


#: Stray result rows read beyond twice what the options allow, before a deliverable is refused.
STRAY_ROWS: Final = 1_000


@dataclass(frozen=True)
class RowAllowance:
    """The most result rows the options of a job allow: one best match per row sent, and
    ``max_matches - 1`` additional candidates.

    Attributes
    ----------
    rows
        The rows sent.
    max_matches
        Candidates asked for per row, the best included.
    """

    rows: int
    max_matches: int = 1

    @property
    def total(self) -> int:
        """The most rows of every result CSV together read: the options' rows, and as many
        again and a thousand for stray rows (ids never sent, warned about and left out)."""
        return 2 * self.rows * self.max_matches + STRAY_ROWS

    @property
    def additional(self) -> int:
        """The most additional candidates (rows beyond the first of each ``matchback_id``)."""
        return self.rows * (self.max_matches - 1)

    def refusal(self, found: str, filename: str | None) -> DeliverableError:
        """The error of a deliverable holding ``found``, more than allowed."""
        return DeliverableError(
            f"the deliverable has more rows than the options allow: {found}, where "
            f"{self.rows:,} rows sent with max_matches={self.max_matches} allow "
            f"{self.rows:,} best matches and {self.additional:,} additional candidates. Not "
            "read further (report it to the service if it persists)",
            filename=filename,
        )


def read_files(
    files: Mapping[str, bytes],
    *,
    filename: str | None = None,
    skip: Collection[str] = (),
    allowance: RowAllowance | None = None,
) -> Deliverable:
    """Parse a deliverable's unpacked files.

    ``files`` are as :func:`~smartmatch_pandas.deliverable.unpack.unpack_deliverable`
    gives them; columns named in ``skip`` are not read. With an ``allowance``, a
    deliverable with more result rows than it allows is refused as it is read
    (a file past it is never held whole).

    Raises
    ------
    DeliverableError
        No file is a CSV with a ``matchback_id`` column, or there are more rows
        than ``allowance`` allows.
    """
    files = SpooledFiles.of(files)
    tables: list[tuple[str, pa.Table]] = []
    reports: list[str] = []
    for name in files:
        content = files.spool(name)
        room = None if allowance is None else allowance.total - sum(t.num_rows for _, t in tables)
        table = _parse_if_result(name, content, filename, skip, room)
        if table is not None:
            tables.append((name, table))
        elif (report := report_text(content, report_room(reports))) is not None:
            reports.append(report)
    if not tables:
        raise no_result_csv(files, filename)
    found = sum(table.num_rows for _, table in tables)
    if allowance is not None and found > allowance.total:
        raise allowance.refusal(f"more than {allowance.total:,} result rows", filename)
    best, additional, best_ids = _split_best(tables)
    extra = 0 if additional is None else additional.num_rows
    if allowance is not None and extra > allowance.additional:
        raise allowance.refusal(f"{extra:,} additional candidates", filename)
    return Deliverable(files, best, additional, "\n\n".join(reports) or None, best_ids)


def report_room(reports: list[str]) -> int:
    """How much more report text may be kept after ``reports``."""
    return MAX_REPORT_BYTES - sum(map(len, reports))


def report_text(content: Spool, limit: int = MAX_REPORT_BYTES) -> str | None:
    """A file of the deliverable that is not a result CSV, as the report's text (its
    first ``limit`` bytes, control characters escaped, and a note of the rest); None if
    it holds nothing but blanks."""
    if not content.head(HEAD_BYTES).strip():
        return None
    limit = max(0, limit)
    text = printable(content.head(limit).decode("utf-8", "replace"))
    if len(content) > limit:
        text += f"\n[… {len(content) - limit:,} more bytes of this report not kept]"
    return text


def no_result_csv(files: Collection[str], filename: str | None) -> DeliverableError:
    """The error of a deliverable whose ``files`` hold no result CSV."""
    return DeliverableError(
        f"the deliverable holds no CSV with a {MATCHBACK_ID} column (files: "
        f"{sorted(files) or 'none'}); it cannot be merged back",
        filename=filename,
    )


def best_file_key(name: str, rows: int) -> tuple[int, bool]:
    """What picks the best-match file among result CSVs with one row per id: the most
    rows, then a name that says ``best``."""
    return rows, "best" in name.lower()


def _parse_if_result(
    name: str,
    content: Spool,
    filename: str | None,
    skip: Collection[str] = (),
    room: int | None = None,
) -> pa.Table | None:
    """Parse ``content`` as a result CSV (all text), or return None if it is not one.

    With ``room``, a file of more rows than ``room`` is read no further than that: its
    rows so far and one more are returned, for the caller to refuse."""
    found = _result_csv(name, content, filename, skip, _LARGE_TEXT)
    if found is None:
        return None
    source, options = found
    with result_csv_errors(name, filename):
        if room is not None and _lines(content) > room + 1:  # a header, then a row a line
            # Perhaps more rows than allowed: batch by batch, never past them.
            table = _read_at_most(pacsv.open_csv(source, **options), room)
        else:
            # Whole, on every core: twice as fast as batch by batch, for the same table.
            table = pacsv.read_csv(source, **options)
        table.column_names  # noqa: B018  (names that are not UTF-8 fail here, not above)
    if table.num_rows:
        warn_if_cut_short(name, content, table[MATCHBACK_ID][-1].as_py(), filename)
    return table


def _lines(content: Spool) -> int:
    """The line breaks in ``content``: at least its rows (a value may hold breaks)."""
    reader, lines = content.reader(), 0
    while block := reader.read(1 << 20):
        lines += block.count(b"\n")
    return lines + (content.tail(1) not in (b"", b"\n"))


def _read_at_most(reader: pacsv.CSVStreamingReader, rows: int) -> pa.Table:
    """The reader's rows, up to one past ``rows``: a table longer than ``rows`` says that
    there were more."""
    batches, read = [], 0
    for batch in reader:
        batches.append(batch)
        read += batch.num_rows
        if read > rows:
            break
    return pa.Table.from_batches(batches, reader.schema)


def open_result_csv(
    name: str,
    content: Spool,
    filename: str | None,
    skip: Collection[str] = (),
    text: pa.DataType = _LARGE_TEXT,
) -> pacsv.CSVStreamingReader | None:
    """A reader of ``content`` as a result CSV, batch by batch, or None if it is not one.

    Every column is text, as ``large_string`` by default (the type pandas keeps
    its Arrow strings in, so appended columns become pandas columns without a
    copy) or as ``text``; columns named in ``skip`` are not read.

    Raises
    ------
    DeliverableError
        The header names a column twice, or the text is not valid CSV (reading
        the batches raises it too, within :func:`result_csv_errors`).
    """
    found = _result_csv(name, content, filename, skip, text)
    if found is None:
        return None
    source, options = found
    with result_csv_errors(name, filename):
        return pacsv.open_csv(source, **options)


def _result_csv(
    name: str, content: Spool, filename: str | None, skip: Collection[str], text: pa.DataType
) -> tuple[pa.NativeFile, dict[str, Any]] | None:
    """Where a result CSV's text starts and how to parse it; None if it is not one."""
    head = header_head(content.head)  # thousands of appended columns: more than 64 KiB
    header = csv_header(head, limit=len(head))
    if not header or MATCHBACK_ID not in header:
        return None
    twice = sorted({column for column in header if header.count(column) > 1})
    if twice:
        raise DeliverableError(
            f"the result file {name!r} in the deliverable names a column more than once "
            f"({', '.join(map(repr, twice))}), so its values cannot be told apart; download "
            "it again with resume(filename), and report it if it persists",
            filename=filename,
        )
    check_column_names(name, header, filename)
    kept = [c for c in header if c not in skip or c == MATCHBACK_ID] if skip else None
    options = text_csv_options(header, text, kept)
    return content.arrow_input(len(BOM) if head.startswith(BOM) else 0), options


def check_column_names(name: str, header: list[str], filename: str | None) -> None:
    """Refuse a result file whose header names a column with nothing, or with control
    characters: a column's name is the service's contract, and such a name would reach
    the frame (and, printed, the terminal) as it is.

    Raises
    ------
    DeliverableError
        Naming the column, its control characters escaped.
    """
    bad = next((c for c in header if not c.strip() or _has_control(c)), None)
    if bad is None:
        return
    what = "an empty name" if not bad.strip() else f"control characters ({one_line(bad)!r})"
    raise DeliverableError(
        f"the result file {name!r} in the deliverable names a column with {what}: it is "
        "malformed, not merged. Download it again with resume(filename), and report it if "
        "it persists",
        filename=filename,
    )


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (a tab or a line break too)."""
    return "\t" in text or one_line(text) != text


@contextlib.contextmanager
def result_csv_errors(name: str, filename: str | None) -> Iterator[None]:
    """Arrow's errors reading the result CSV ``name`` as a :class:`DeliverableError`."""
    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowKeyError, UnicodeDecodeError) as exc:
        raise DeliverableError(
            f"the result file {name!r} in the deliverable is not valid CSV "
            f"({without_data(str(exc))}); download it again with resume(filename)",
            filename=filename,
        ) from None


def warn_if_cut_short(name: str, content: Spool, last: object, filename: str | None) -> None:
    """Warn if a result CSV does not end with a line break: it may have been cut in its
    last value (whose ``matchback_id`` is ``last``)."""
    if content.tail(1) in (b"\n", b"\r"):
        return
    job = f" of job {filename!r}" if filename else ""
    warn(
        f"the result file {name!r}{job} does not end with a line break, as a file cut short "
        f"would not: the values of its last row ({MATCHBACK_ID} {last!r}) may be incomplete. "
        "resume(filename) downloads it again"
    )


def _has_unique_ids(table: pa.Table, numbers: np.ndarray | None) -> bool:
    """Whether no ``matchback_id`` repeats (``numbers``: the ids as :func:`plain_numbers`
    reads them)."""
    if numbers is None:
        ids = table[MATCHBACK_ID]
        return bool(pc.count_distinct(ids).as_py() == len(ids))
    if not len(numbers):
        return True
    if numbers.max() < 4 * len(numbers) + 1024:  # row positions, as the client sends them
        return bool(np.bincount(numbers).max() <= 1)
    return len(np.unique(numbers)) == len(numbers)


def plain_numbers(ids: pa.ChunkedArray) -> np.ndarray | None:
    """The ``matchback_id`` values as integers if every one is written plainly (no sign,
    space or leading zero, so equal numbers are equal strings); else None."""
    plain = pc.match_substring_regex(ids, r"^(?:0|[1-9][0-9]{0,17})$")
    if ids.null_count or not pc.all(plain, min_count=0).as_py():
        return None
    return np.asarray(pc.cast(ids, pa.int64()).to_numpy(), dtype=np.int64)


def _split_best(
    tables: list[tuple[str, pa.Table]],
) -> tuple[pa.Table, pa.Table | None, np.ndarray | None]:
    """The best-match table, the additional matches (concatenated), by content, and the
    best table's ids as :func:`plain_numbers` reads them (read once, for the merge too)."""
    numbers = [plain_numbers(table[MATCHBACK_ID]) for _, table in tables]
    unique = [k for k, (_, table) in enumerate(tables) if _has_unique_ids(table, numbers[k])]
    best_ids = None
    if unique:
        k = max(unique, key=lambda k: best_file_key(tables[k][0], tables[k][1].num_rows))
        best_name, best = tables[k]
        best_ids = numbers[k]
        rest = [t for name, t in tables if name != best_name]
    else:
        # A single file with several rows per id: its first row per id is the best.
        best_name, table = tables[0]
        first = _first_occurrences(table[MATCHBACK_ID])
        best = table.filter(first)
        rest = [table.filter(pc.invert(first)), *(t for _, t in tables[1:])]
    rest = [t for t in rest if t.num_rows]
    if not rest:
        return best, None, best_ids
    return best, pa.concat_tables(rest, promote_options="permissive"), best_ids


def _first_occurrences(ids: pa.ChunkedArray) -> pa.Array:
    values = ids.to_numpy(zero_copy_only=False)
    _, first = np.unique(values.astype(str), return_index=True)
    mask = np.zeros(len(values), dtype=bool)
    mask[first] = True
    return pa.array(mask)
