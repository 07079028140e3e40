"""A deliverable's bytes → the enriched frame, the additional matches, the summary.

The deliverable is recognised by its content, never by the format asked
for: a CSV, a gzip (of a CSV or of a tar of files), or a zip holding the
best-match CSV, an additional-matches CSV and a summary report, under
names nobody has promised. CSVs are told apart by what they hold: the
best-match file has at most one row per ``matchback_id``; the additional
file may have several.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import re
import tarfile
import warnings
import zipfile
from collections.abc import Collection, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import DeliverableError, SmartMatchWarning, warn
from ..files.archives import MAGIC_BYTES, archive_kind
from ..files.spool import Spool, SpooledFiles
from ..identifiers import MATCH_CODE, MATCHBACK_ID

#: The dtype of every appended column: text, with ``pd.NA`` for missing.
TEXT_DTYPE: Final = pd.StringDtype("pyarrow")
#: The column of ``MatchResult.candidates`` that ranks a row's candidates (1 = best).
RANK: Final = "match_rank"
_MAX_NESTING: Final = 3
_BOM: Final = b"\xef\xbb\xbf"
#: Bytes of CSV parsed at a time.
_PARSE_BLOCK: Final = 1 << 20
#: Bytes read to tell what a file is (its header row must fit).
_SNIFF: Final = 65536
_LARGE_TEXT: Final = pa.large_string()
_TEXT: Final = pa.string()
#: A deliverable may unpack to this many times its own size at most (CSV compresses some
#: 5-20 times; a decompression bomb, thousands), or to :data:`MIN_UNPACK_ALLOWANCE`.
MAX_EXPANSION = 250
#: Bytes any deliverable may unpack to, however small it is.
MIN_UNPACK_ALLOWANCE = 256 * 2**20


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
    """

    files: Mapping[str, bytes]
    best: pa.Table
    additional: pa.Table | None = None
    report: str | None = None


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


def unpack_deliverable(data: bytes | Spool, *, filename: str | None = None) -> SpooledFiles:
    """The files inside a deliverable, whatever its format, each in a spool.

    Members are unpacked one by one into spools of their own (see
    :func:`unpack_spool`), so neither the deliverable nor its files need fit in memory.

    Raises
    ------
    DeliverableError
        The bytes are corrupt or truncated, or unpack to far more than a
        deliverable can (see :data:`MAX_EXPANSION`).
    """
    spool = data if isinstance(data, Spool) else Spool.of(data)
    budget = _Budget(max(MIN_UNPACK_ALLOWANCE, MAX_EXPANSION * len(spool)))
    try:
        return SpooledFiles(unpack_spool(spool, budget))
    except _TooLargeError:
        raise DeliverableError(
            f"the deliverable ({len(spool):,} bytes) unpacks to more than {budget.limit:,} "
            "bytes, as a decompression bomb does: it was not unpacked. If it is genuine, "
            "raise smartmatch_pandas.deliverable.results.MAX_EXPANSION",
            filename=filename,
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # anything the archive modules make of damaged bytes
        raise DeliverableError(
            f"the deliverable is corrupt or truncated ({type(exc).__name__}: "
            f"{str(exc)[:200]}); download it again with resume(filename)",
            filename=filename,
        ) from None


def read_files(
    files: Mapping[str, bytes], *, filename: str | None = None, skip: Collection[str] = ()
) -> Deliverable:
    """Parse a deliverable's unpacked files (as :func:`unpack_deliverable` gives them).

    Columns named in ``skip`` are not read.

    Raises
    ------
    DeliverableError
        No file is a CSV with a ``matchback_id`` column.
    """
    files = SpooledFiles.of(files)
    tables: list[tuple[str, pa.Table]] = []
    reports: list[str] = []
    for name in files:
        content = files.spool(name)
        table = _parse_if_result(name, content, filename, skip)
        if table is not None:
            tables.append((name, table))
        elif content.head(_SNIFF).strip():
            reports.append(content.getvalue().decode("utf-8", "replace"))
    if not tables:
        raise DeliverableError(
            f"the deliverable holds no CSV with a {MATCHBACK_ID} column (files: "
            f"{sorted(files) or 'none'}); it cannot be merged back",
            filename=filename,
        )
    best, additional = _split_best(tables)
    return Deliverable(files, best, additional, "\n\n".join(reports) or None)


class _TooLargeError(Exception):
    """Unpacking went past the budget."""


class _Budget:
    """The bytes unpacking may still produce: a guard against decompression bombs."""

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit


# -- unpacked member by member into spools: a deliverable never needs to be whole in memory --


def unpack_spool(
    spool: Spool, budget: _Budget, name: str = "deliverable.csv", depth: int = 0
) -> dict[str, Spool]:
    """Every file inside ``spool``, by name, each in a spool of its own, opening zip,
    gzip and tar by their magic bytes.

    Members are copied block by block into new spools, which spill past the
    threshold as any other; what they unpack to counts against ``budget``.
    """
    if depth > _MAX_NESTING:
        return {name: spool}
    kind = archive_kind(spool.head(MAGIC_BYTES))
    if kind == "zip":
        with zipfile.ZipFile(spool.reader()) as archive, _closed_on_error() as out:
            for info in archive.infolist():
                if info.is_dir() or info.filename.startswith("__MACOSX/"):
                    continue
                if info.file_size > budget.left:
                    raise _TooLargeError
                with archive.open(info) as member:
                    inner = _copied(member, budget)
                out.update(_members(inner, budget, info.filename, depth + 1))
        return out
    if kind == "gzip":
        with gzip.GzipFile(fileobj=spool.reader()) as stream:
            inner = _copied(stream, budget)
        if not (len(inner) > 262 and inner.head(262)[257:262] == b"ustar"):
            return _members(inner, budget, name.removesuffix(".gz"), depth + 1)
        with inner, tarfile.open(fileobj=inner.reader()) as archive, _closed_on_error() as out:
            for entry in archive:
                handle = archive.extractfile(entry) if entry.isfile() else None
                if handle is not None:
                    extracted = _copied(handle, budget)
                    out.update(_members(extracted, budget, entry.name, depth + 1))
        return out
    return {name: spool}


def _members(inner: Spool, budget: _Budget, name: str, depth: int) -> dict[str, Spool]:
    """The files in ``inner``, a member just copied out of an archive: it is closed
    (its temporary file deleted) unless it is one of them itself."""
    try:
        found = unpack_spool(inner, budget, name, depth)
    except BaseException:
        inner.close()
        raise
    if all(spool is not inner for spool in found.values()):
        inner.close()  # an archive within: its members have spools of their own
    return found


@contextlib.contextmanager
def _closed_on_error() -> Iterator[dict[str, Spool]]:
    """Files unpacked so far, closed if unpacking the rest fails."""
    out: dict[str, Spool] = {}
    try:
        yield out
    except BaseException:
        for spool in out.values():
            spool.close()
        raise


def _copied(stream: IO[bytes] | io.BufferedIOBase, budget: _Budget) -> Spool:
    """``stream`` copied into a new spool, within the budget."""
    spool = Spool()
    budget.left -= spool.copy_from(stream, limit=budget.left)
    if budget.left < 0:
        spool.close()
        raise _TooLargeError
    return spool


def csv_header(content: bytes) -> list[str] | None:
    """The header row of CSV text that starts with ``content`` (its first 64 KiB suffice)."""
    head = content[:65536].removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
    try:
        row = next(csv.reader(io.StringIO(head)), None)
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


def _parse_if_result(
    name: str, content: Spool, filename: str | None, skip: Collection[str] = ()
) -> pa.Table | None:
    """Parse ``content`` as a result CSV (all text), or return None if it is not one."""
    found = _result_csv(name, content, filename, skip, _LARGE_TEXT)
    if found is None:
        return None
    source, options = found
    with result_csv_errors(name, filename):
        # Whole, on every core: twice as fast as batch by batch, for the same table.
        table = pacsv.read_csv(source, **options)
        table.column_names  # noqa: B018  (names that are not UTF-8 fail here, not above)
    if table.num_rows:
        warn_if_cut_short(name, content, table[MATCHBACK_ID][-1].as_py(), filename)
    return table


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
    head = content.head(_SNIFF)
    header = csv_header(head)
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
    kept = [c for c in header if c not in skip or c == MATCHBACK_ID] if skip else None
    options = {
        "read_options": pacsv.ReadOptions(block_size=_PARSE_BLOCK),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": text_columns(header, text, kept),
    }
    return content.arrow_input(len(_BOM) if head.startswith(_BOM) else 0), options


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


def without_data(message: str) -> str:
    """Arrow's parse error without the row it quotes: that is contact data."""
    message = re.sub(r"(got \d+):.*", r"\1", message, flags=re.DOTALL)
    return message.split("\n", 1)[0].removeprefix("CSV parse error: ")[:200]


def _has_unique_ids(table: pa.Table) -> bool:
    numbers = _plain_numbers(table[MATCHBACK_ID])
    if numbers is None:
        ids = table[MATCHBACK_ID]
        return bool(pc.count_distinct(ids).as_py() == len(ids))
    if not len(numbers):
        return True
    if numbers.max() < 4 * len(numbers) + 1024:  # row positions, as the client sends them
        return bool(np.bincount(numbers).max() <= 1)
    return len(np.unique(numbers)) == len(numbers)


def _plain_numbers(ids: pa.ChunkedArray) -> np.ndarray | None:
    """The ids as integers if every one is written plainly (no sign, space or leading
    zero, so equal numbers are equal strings); else None."""
    plain = pc.match_substring_regex(ids, r"^(?:0|[1-9][0-9]{0,17})$")
    if ids.null_count or not pc.all(plain, min_count=0).as_py():
        return None
    return np.asarray(pc.cast(ids, pa.int64()).to_numpy(), dtype=np.int64)


def _split_best(tables: list[tuple[str, pa.Table]]) -> tuple[pa.Table, pa.Table | None]:
    """The best-match table and the additional matches (concatenated), by content."""
    unique = [t for t in tables if _has_unique_ids(t[1])]
    if unique:
        best_name, best = max(unique, key=lambda t: (t[1].num_rows, "best" in t[0].lower()))
        rest = [t for name, t in tables if name != best_name]
    else:
        # A single file with several rows per id: its first row per id is the best.
        best_name, table = tables[0]
        first = _first_occurrences(table[MATCHBACK_ID])
        best = table.filter(first)
        rest = [table.filter(pc.invert(first)), *(t for _, t in tables[1:])]
    rest = [t for t in rest if t.num_rows]
    if not rest:
        return best, None
    return best, pa.concat_tables(rest, promote_options="permissive")


def _first_occurrences(ids: pa.ChunkedArray) -> pa.Array:
    values = ids.to_numpy(zero_copy_only=False)
    _, first = np.unique(values.astype(str), return_index=True)
    mask = np.zeros(len(values), dtype=bool)
    mask[first] = True
    return pa.array(mask)


# -- merging back -------------------------------------------------------------


@dataclass(frozen=True)
class IdentifierCoverage:
    """How many rows were sent with a value for one identifier, and how many of them matched."""

    identifier: str
    rows: int
    matched: int


@dataclass(frozen=True)
class MatchSummary:
    """How many rows were sent and how many matched.

    Attributes
    ----------
    rows
        Rows sent.
    matched
        Rows whose best match has ``tsmart_match_code`` ``Y``.
    report
        The service's own summary report, as text, if it sent one.
    missing
        Rows sent that the deliverable did not return.
    unknown
        Rows in the deliverable whose ``matchback_id`` was never sent.
    coverage
        Per identifier sent: the rows that had a value for it, and how many
        of those matched (read from the columns the deliverable echoes).
    """

    rows: int
    matched: int
    report: str | None = None
    missing: int = 0
    unknown: int = 0
    coverage: tuple[IdentifierCoverage, ...] = ()

    @property
    def match_rate(self) -> float:
        """``matched / rows`` (0.0 for no rows)."""
        return self.matched / self.rows if self.rows else 0.0

    def as_attrs(self) -> dict[str, object]:
        """The summary as plain JSON values, fit for ``DataFrame.attrs``.

        pandas writes ``attrs`` into Parquet files as JSON, so nothing else may go there.
        """
        return {
            "rows": self.rows,
            "matched": self.matched,
            "match_rate": round(self.match_rate, 6),
            "missing": self.missing,
            "unknown": self.unknown,
            "report": self.report,
            "by_identifier": {
                c.identifier: {"rows_with_value": c.rows, "matched": c.matched}
                for c in self.coverage
            },
        }

    def __str__(self) -> str:
        return (
            f"SmartMatch: {self.rows:,} rows sent, {self.matched:,} matched ({self.match_rate:.1%})"
        )

    @property
    def by_identifier(self) -> pd.DataFrame:
        """Per identifier sent: the share of rows that had it, and the match rate with and
        without it, so a low match rate can be traced to the identifiers rows lacked."""
        frame = pd.DataFrame(
            {
                "rows_with_value": [c.rows for c in self.coverage],
                "share_of_rows": [c.rows / self.rows if self.rows else 0.0 for c in self.coverage],
                "match_rate_with": [
                    c.matched / c.rows if c.rows else np.nan for c in self.coverage
                ],
                "match_rate_without": [
                    (self.matched - c.matched) / (self.rows - c.rows)
                    if self.rows > c.rows
                    else np.nan
                    for c in self.coverage
                ],
            },
            index=pd.Index([c.identifier for c in self.coverage], name="identifier"),
        )
        return frame

    def describe(self) -> str:
        """The one-line summary, then one line per identifier sent."""
        lines = [str(self)]
        for name, row in self.by_identifier.iterrows():
            without = row["match_rate_without"]
            lines.append(
                f"  {name!s:<20} in {row['share_of_rows']:>6.1%} of rows; matched "
                f"{row['match_rate_with']:.1%} of those"
                + ("" if pd.isna(without) else f", {without:.1%} of the rest")
            )
        return "\n".join(lines)


@dataclass
class MatchResult:
    """Everything a finished job returned, merged back onto the frame.

    Attributes
    ----------
    frame
        The input rows, order, index and dtypes, then the appended columns.
    additional
        The additional candidates (rank 2 and up) as a long frame indexed by
        the input row's label: the input columns, ``match_rank``, the
        appended columns.
    summary
        Rows sent, rows matched, the match rate, and the service's report.
    files
        The deliverable's raw files, by name.
    filename
        The SmartMatch job's filename.
    """

    frame: pd.DataFrame
    additional: pd.DataFrame
    summary: MatchSummary
    files: Mapping[str, bytes] = field(repr=False)
    filename: str | None = None
    #: The input row position of each row of ``additional``.
    additional_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    #: Whether the deliverable came from the result cache rather than the service.
    from_cache: bool = False

    @cached_property
    def candidates(self) -> pd.DataFrame:
        """Every candidate, best first: one row per (input row, candidate), with ``match_rank``.

        Rows without any match appear once, with rank 1 and empty appended columns.
        """
        best = self.frame.copy()
        best.insert(list(self.additional.columns).index(RANK), RANK, 1)
        both = pd.concat([best, self.additional], axis=0)
        rows = np.concatenate([np.arange(len(self.frame)), self.additional_rows])
        ranks = np.concatenate([np.ones(len(self.frame), np.int64), self.additional[RANK]])
        return both.iloc[np.lexsort((ranks, rows))]

    def __repr__(self) -> str:
        return f"MatchResult({self.summary}, filename={self.filename!r})"


def merge_back(
    df: pd.DataFrame,
    deliverable: Deliverable,
    sent_columns: Sequence[str],
    *,
    filename: str | None = None,
    presence: Mapping[str, pa.Array] | None = None,
) -> MatchResult:
    """Join a deliverable back onto the frame it came from, by row position.

    Parameters
    ----------
    df
        The frame that was uploaded (only its length and labels are used to
        place the results; its columns and dtypes are kept as they are).
    deliverable
        The parsed deliverable.
    sent_columns
        The columns of the upload; the service echoes them back and they are
        not appended again.
    presence
        Per identifier sent, which input rows had a value: the summary's
        coverage is counted from it for identifiers whose echoed column was
        not read (see :func:`read_files`' ``skip``).

    Raises
    ------
    DeliverableError
        A ``matchback_id`` that is not a row position the client sent.
    """
    n = len(df)
    positions = _positions(deliverable.best, n, filename)
    known = positions >= 0
    best = deliverable.best.filter(pa.array(known)) if not known.all() else deliverable.best
    positions = positions[known]
    echoed = set(sent_columns)
    appended = [c for c in best.column_names if c not in echoed]
    names = _output_names(df.columns, appended)

    if len(positions) == n and _in_order(positions):
        rows_of = positions  # every row, in upload order: the columns are taken as they are
    else:
        rows_of = np.full(n, -1, dtype=np.int64)
        rows_of[positions] = np.arange(len(positions))
    frame = _with_appended(df, best, appended, names, rows_of)

    additional, additional_rows = _additional(df, deliverable, best, appended, names, filename)
    missing = int((rows_of < 0).sum())
    unknown = int((~known).sum())
    _warn_gaps(list(df.index[np.flatnonzero(rows_of < 0)[:5]]), n, missing, unknown, filename)
    summary = MatchSummary(
        rows=n,
        matched=_matched(best),
        report=deliverable.report,
        missing=missing,
        unknown=unknown,
        coverage=_coverage(best, sent_columns, presence or {}, positions),
    )
    return MatchResult(frame, additional, summary, deliverable.files, filename, additional_rows)


def _positions(table: pa.Table, n: int, filename: str | None) -> np.ndarray:
    """The row position each result row belongs to; -1 where it is not a row that was sent."""
    plain = _plain_numbers(table[MATCHBACK_ID])
    if plain is not None:  # as the client sent them: no need to trim or check each
        out = plain.copy()
        out[out >= n] = -1
        return out
    ids = pc.utf8_trim_whitespace(table[MATCHBACK_ID])
    # Digits only: Arrow's cast would also read "0x1" or "+1" and place a row by guess.
    digits = pc.match_substring_regex(ids, r"^[0-9]{1,18}$")
    if not pc.all(pc.or_kleene(digits, pc.is_null(ids)), min_count=0).as_py():
        bad = ids.filter(pc.invert(pc.fill_null(digits, True)))[0].as_py()
        raise DeliverableError(
            f"the deliverable has a {MATCHBACK_ID} that the client never sent ({bad!r}); "
            "it cannot be merged back",
            filename=filename,
        )
    values = pc.cast(ids, pa.int64())
    out = values.to_numpy(zero_copy_only=False)
    if values.null_count:
        out = np.where(pc.is_null(values).to_numpy(zero_copy_only=False), -1, out)
    out = np.array(out, dtype=np.int64)  # a writable copy
    out[(out < 0) | (out >= n)] = -1
    return out


def _output_names(existing: pd.Index, appended: list[str]) -> list[str]:
    """Names for the appended columns that do not collide with the frame's own."""
    taken = set(existing)
    names = []
    for name in appended:
        new, k = name, 2
        while new in taken:
            new, k = f"{name}_{k}", k + 1
        if new != name:
            warnings.warn(
                f"the frame already has a column {name!r}: the appended one is named {new!r}",
                SmartMatchWarning,
                stacklevel=4,
            )
        taken.add(new)
        names.append(new)
    return names


def _in_order(positions: np.ndarray) -> bool:
    """Whether ``positions`` is 0, 1, 2, ... (a deliverable in upload order)."""
    return bool(np.array_equal(positions, np.arange(len(positions))))


def appended_frame(
    table: pa.Table, appended: list[str], names: list[str], take: np.ndarray, index: pd.Index
) -> pd.DataFrame:
    """The appended columns (see :func:`taken_text`) as a frame on ``index``."""
    columns = {
        name: pd.Series(pd.arrays.ArrowStringArray(values), index=index, copy=False)
        for values, name in zip(taken_text(table, appended, take), names, strict=True)
    }
    return pd.DataFrame(columns, index=index, copy=False)


def taken_text(
    table: pa.Table | None, columns: list[str], take: np.ndarray
) -> list[pa.ChunkedArray]:
    """``columns`` as ``large_string`` (the type pandas keeps text in), row ``i`` taken
    from ``table`` row ``take[i]`` (-1, no table, or a column it lacks: empty).

    When ``take`` is every row of ``table`` in order, the columns are used as they
    are, without a copy.
    """
    if table is None:
        return [pa.chunked_array([pa.nulls(len(take), _LARGE_TEXT)]) for _ in columns]
    whole = len(take) == table.num_rows and _in_order(take)
    indices = None if whole else pa.array(take, mask=take < 0)
    out = []
    for name in columns:
        values = table[name] if name in table.column_names else pa.nulls(table.num_rows, _TEXT)
        values = values if whole else values.take(indices)
        if isinstance(values, pa.Array):
            values = pa.chunked_array([values])
        out.append(values if values.type == _LARGE_TEXT else values.cast(_LARGE_TEXT))
    return out


def _with_appended(
    df: pd.DataFrame,
    best: pa.Table,
    appended: list[str],
    names: list[str],
    rows_of: np.ndarray,
) -> pd.DataFrame:
    extra = appended_frame(best, appended, names, rows_of, df.index)
    if not len(extra.columns):
        return df.copy()
    # A copy of the user's columns under pandas 2 (no Copy-on-Write): the result must
    # not share memory with the frame it was merged onto.
    return pd.concat([df, extra], axis=1)


def _additional(
    df: pd.DataFrame,
    deliverable: Deliverable,
    best: pa.Table,
    appended: list[str],
    names: list[str],
    filename: str | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The additional candidates as a long frame (input columns, rank, appended columns),
    and the input row position of each."""
    table = deliverable.additional
    if table is not None:
        table = _drop_repeated_best(table, best)
        positions = _positions(table, len(df), filename)
        keep = positions >= 0
        table, positions = table.filter(pa.array(keep)), positions[keep]
    if table is None or table.num_rows == 0:
        positions = np.zeros(0, dtype=np.int64)
        table = pa.table({c: pa.array([], pa.string()) for c in appended})
    order = np.argsort(positions, kind="stable")
    positions = positions[order]
    ranks = _ranks(positions)
    source = df.iloc[positions]
    missing = [c for c in appended if c not in table.column_names]
    for column in missing:
        table = table.append_column(column, pa.nulls(table.num_rows, pa.string()))
    extra = appended_frame(table, appended, names, order, source.index)
    extra.insert(0, RANK, ranks)
    return pd.concat([source, extra], axis=1), positions


def _drop_repeated_best(additional: pa.Table, best: pa.Table) -> pa.Table:
    """Rows of the additional file that repeat a row's best match (same voterbase id)."""
    key = "vb.voterbase_id"
    if key not in additional.column_names or key not in best.column_names:
        return additional
    best_pairs = set(zip(best[MATCHBACK_ID].to_pylist(), best[key].to_pylist(), strict=True))
    repeated = [
        (mid, vid) in best_pairs
        for mid, vid in zip(
            additional[MATCHBACK_ID].to_pylist(), additional[key].to_pylist(), strict=True
        )
    ]
    return (
        additional.filter(pc.invert(pa.array(repeated, pa.bool_())))
        if any(repeated)
        else additional
    )


def _ranks(sorted_positions: np.ndarray) -> np.ndarray:
    """2, 3, ... within each run of equal positions (the best is rank 1)."""
    if not len(sorted_positions):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, sorted_positions[1:] != sorted_positions[:-1]]
    run_start = np.maximum.accumulate(np.where(starts, np.arange(len(starts)), 0))
    return np.arange(len(starts)) - run_start + 2


def _matched(best: pa.Table) -> int:
    return int(pc.sum(_matched_rows(best)).as_py() or 0)


def _matched_rows(best: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Per row: whether its best match is a match (code ``Y``, or a voterbase id)."""
    if MATCH_CODE in best.column_names:
        codes = best[MATCH_CODE]
        if not pc.all(pc.is_in(codes, value_set=pa.array(["Y", "N"]))).as_py():
            codes = pc.utf8_upper(pc.utf8_trim_whitespace(codes))  # written otherwise
        return pc.fill_null(pc.equal(codes, "Y"), False)
    if "vb.voterbase_id" in best.column_names:
        return pc.is_valid(best["vb.voterbase_id"])
    return pa.array(np.zeros(best.num_rows, bool))


def _has_value(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row: not null, not empty, not whitespace alone."""
    blank = pc.or_(pc.equal(pc.utf8_length(values), 0), pc.utf8_is_space(values))
    return pc.fill_null(pc.invert(blank), False)


def _coverage(
    best: pa.Table,
    sent_columns: Sequence[str],
    presence: Mapping[str, pa.Array],
    positions: np.ndarray,
) -> tuple[IdentifierCoverage, ...]:
    """Rows with a value, and matched rows among them, per identifier sent: read from the
    column the deliverable echoes, or else from ``presence`` at each row's position."""
    matched = _matched_rows(best)
    coverage = []
    for identifier in sent_columns:
        if identifier in best.column_names and identifier != MATCHBACK_ID:
            has = _has_value(best[identifier])
        elif identifier in presence:
            has = presence[identifier].take(pa.array(positions))
        else:
            continue
        rows = int(pc.sum(has).as_py() or 0)
        both = int(pc.sum(pc.and_(has, matched)).as_py() or 0)
        coverage.append(IdentifierCoverage(identifier, rows, both))
    return tuple(coverage)


def _warn_gaps(
    labels: Sequence[Hashable], rows: int, missing: int, unknown: int, filename: str | None
) -> None:
    """Warn of rows missing from the deliverable (``labels``: the first few) and of rows
    it has that were never sent."""
    job = f" (job {filename!r})" if filename else ""
    if missing:
        warnings.warn(
            f"{missing:,} of {rows:,} rows are missing from the deliverable{job}: their "
            f"appended columns are empty (first rows: {labels})",
            SmartMatchWarning,
            stacklevel=3,
        )
    if unknown:
        warnings.warn(
            f"{unknown:,} rows of the deliverable{job} carry a {MATCHBACK_ID} that was never "
            "sent: they were left out",
            SmartMatchWarning,
            stacklevel=3,
        )
