"""A deliverable's bytes → the enriched frame, the additional matches, the summary.

The deliverable is recognised by its content, never by the format asked
for: a CSV, a gzip (of a CSV or of a tar of files), or a zip holding the
best-match CSV, an additional-matches CSV and a summary report, under
names nobody has promised. CSVs are told apart by what they hold: the
best-match file has at most one row per ``matchback_id``; the additional
file may have several.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import tarfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Final, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .errors import DeliverableError, SmartMatchWarning, warn
from .identifiers import MATCH_CODE, MATCHBACK_ID

#: The dtype of every appended column: text, with ``pd.NA`` for missing.
TEXT_DTYPE: Final = pd.StringDtype("pyarrow")
#: The column of ``MatchResult.candidates`` that ranks a row's candidates (1 = best).
RANK: Final = "match_rank"
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_MAX_NESTING: Final = 3
#: A deliverable may unpack to this many times its own size at most (CSV compresses some
#: 5-20 times; a decompression bomb, thousands), or to :data:`MIN_UNPACK_ALLOWANCE`.
MAX_EXPANSION = 250
#: Bytes any deliverable may unpack to, however small it is.
MIN_UNPACK_ALLOWANCE = 256 * 2**20
_CHUNK: Final = 1 << 20


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

    files: dict[str, bytes]
    best: pa.Table
    additional: pa.Table | None = None
    report: str | None = None


def read_deliverable(data: bytes, *, filename: str | None = None) -> Deliverable:
    """Unpack and parse a deliverable, whatever its format.

    Raises
    ------
    DeliverableError
        The bytes are not a deliverable: corrupt, truncated, or holding no
        CSV with a ``matchback_id`` column.
    """
    budget = _Budget(max(MIN_UNPACK_ALLOWANCE, MAX_EXPANSION * len(data)))
    try:
        files = unpack(data, budget=budget)
    except _TooLargeError:
        raise DeliverableError(
            f"the deliverable ({len(data):,} bytes) unpacks to more than {budget.limit:,} "
            "bytes, as a decompression bomb does: it was not unpacked. If it is genuine, "
            "raise smartmatch_pandas.results.MAX_EXPANSION",
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
    return read_files(files, filename=filename)


def read_files(files: dict[str, bytes], *, filename: str | None = None) -> Deliverable:
    """Parse a deliverable's unpacked files (as :func:`unpack` gives them).

    Raises
    ------
    DeliverableError
        No file is a CSV with a ``matchback_id`` column.
    """
    tables: list[tuple[str, pa.Table]] = []
    reports: list[str] = []
    for name, content in files.items():
        table = _parse_if_result(name, content, filename)
        if table is not None:
            tables.append((name, table))
            if table.num_rows and not content.endswith((b"\n", b"\r")):
                _warn_cut_short(name, table, filename)
        elif content.strip():
            reports.append(content.decode("utf-8", "replace"))
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


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Budget:
    """The bytes unpacking may still produce: a guard against decompression bombs."""

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit

    def read(self, stream: _Readable) -> bytes:
        """All of ``stream``, block by block, within the budget."""
        blocks = []
        while block := stream.read(min(_CHUNK, self.left + 1)):
            self.left -= len(block)
            if self.left < 0:
                raise _TooLargeError
            blocks.append(block)
        return b"".join(blocks)


def unpack(
    data: bytes,
    name: str = "deliverable.csv",
    depth: int = 0,
    *,
    budget: _Budget | None = None,
) -> dict[str, bytes]:
    """Every file inside ``data``, by name, opening zip, gzip and tar by their magic bytes.

    Unpacked bytes count against ``budget`` (none by default): past it, unpacking stops.
    """
    budget = budget or _Budget(2**62)
    if depth > _MAX_NESTING:
        return {name: data}
    if data[:4] in _ZIP_MAGIC:
        out: dict[str, bytes] = {}
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.filename.startswith("__MACOSX/"):
                    continue
                if info.file_size > budget.left:
                    raise _TooLargeError
                with archive.open(info) as member:
                    inner = budget.read(member)
                out.update(unpack(inner, info.filename, depth + 1, budget=budget))
        return out
    if data[:2] == _GZIP_MAGIC:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            inner = budget.read(stream)
        inner_name = name[:-3] if name.endswith(".gz") else name
        if len(inner) > 262 and inner[257:262] == b"ustar":
            return _untar(inner, depth, budget)
        return unpack(inner, inner_name, depth + 1, budget=budget)
    return {name: data}


def _untar(data: bytes, depth: int, budget: _Budget) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                out.update(unpack(budget.read(handle), member.name, depth + 1, budget=budget))
    return out


def csv_header(content: bytes) -> list[str] | None:
    """The header row of CSV text that starts with ``content`` (its first 64 KiB suffice)."""
    head = content[:65536].removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
    try:
        row = next(csv.reader(io.StringIO(head)), None)
    except csv.Error:
        return None
    return row


def read_text_csv(source: str | os.PathLike[str] | IO[bytes], header: list[str]) -> pa.Table:
    """Parse CSV with every column as text (``02134`` stays ``02134``); empty cells are null.

    Raises
    ------
    pyarrow.ArrowInvalid
        The text is not valid CSV.
    """
    return pacsv.read_csv(
        source,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
        ),
    )


def _parse_if_result(name: str, content: bytes, filename: str | None) -> pa.Table | None:
    """Parse ``content`` as a result CSV (all text), or return None if it is not one."""
    content = content.removeprefix(b"\xef\xbb\xbf")
    header = csv_header(content)
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
    try:
        table = read_text_csv(io.BytesIO(content), header)
        table.column_names  # noqa: B018  (names that are not UTF-8 fail here, not above)
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise DeliverableError(
            f"the result file {name!r} in the deliverable is not valid CSV "
            f"({_without_data(str(exc))}); download it again with resume(filename)",
            filename=filename,
        ) from None


def _warn_cut_short(name: str, table: pa.Table, filename: str | None) -> None:
    """A CSV that does not end with a line break may have been cut in its last value."""
    last = table[MATCHBACK_ID][-1].as_py()
    job = f" of job {filename!r}" if filename else ""
    warn(
        f"the result file {name!r}{job} does not end with a line break, as a file cut short "
        f"would not: the values of its last row ({MATCHBACK_ID} {last!r}) may be incomplete. "
        "resume(filename) downloads it again"
    )


def _without_data(message: str) -> str:
    """Arrow's parse error without the row it quotes: that is contact data."""
    message = re.sub(r"(got \d+):.*", r"\1", message, flags=re.DOTALL)
    return message.split("\n", 1)[0].removeprefix("CSV parse error: ")[:200]


def _has_unique_ids(table: pa.Table) -> bool:
    ids = table[MATCHBACK_ID]
    return bool(pc.count_distinct(ids).as_py() == len(ids))


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
    files: dict[str, bytes] = field(repr=False)
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

    rows_of = np.full(n, -1, dtype=np.int64)
    rows_of[positions] = np.arange(len(positions))
    frame = _with_appended(df, best, appended, names, rows_of)

    additional, additional_rows = _additional(df, deliverable, best, appended, names, filename)
    missing = int((rows_of < 0).sum())
    unknown = int((~known).sum())
    _warn_gaps(df, rows_of, missing, unknown, filename)
    summary = MatchSummary(
        rows=n,
        matched=_matched(best),
        report=deliverable.report,
        missing=missing,
        unknown=unknown,
        coverage=_coverage(best, sent_columns),
    )
    return MatchResult(frame, additional, summary, deliverable.files, filename, additional_rows)


def _positions(table: pa.Table, n: int, filename: str | None) -> np.ndarray:
    """The row position each result row belongs to; -1 where it is not a row that was sent."""
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


def _appended_frame(
    table: pa.Table, appended: list[str], names: list[str], take: np.ndarray, index: pd.Index
) -> pd.DataFrame:
    """The appended columns, row ``i`` taken from ``table`` row ``take[i]`` (-1: empty)."""
    indices = pa.array(take, mask=take < 0)
    columns = {
        name: pd.Series(
            pc.take(table[source], indices).combine_chunks()
            if len(take)
            else pa.array([], pa.string()),
            dtype=TEXT_DTYPE,
            index=index,
            copy=False,
        )
        for source, name in zip(appended, names, strict=True)
    }
    return pd.DataFrame(columns, index=index)


def _with_appended(
    df: pd.DataFrame,
    best: pa.Table,
    appended: list[str],
    names: list[str],
    rows_of: np.ndarray,
) -> pd.DataFrame:
    extra = _appended_frame(best, appended, names, rows_of, df.index)
    return pd.concat([df, extra], axis=1) if len(extra.columns) else df.copy()


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
    extra = _appended_frame(table, appended, names, order, source.index)
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
    if MATCH_CODE in best.column_names:
        codes = pc.utf8_upper(pc.utf8_trim_whitespace(best[MATCH_CODE]))
        return int(pc.sum(pc.equal(codes, "Y")).as_py() or 0)
    if "vb.voterbase_id" in best.column_names:
        return int(best.num_rows - best["vb.voterbase_id"].null_count)
    return 0


def _coverage(best: pa.Table, sent_columns: Sequence[str]) -> tuple[IdentifierCoverage, ...]:
    """Rows with a value, and matched rows among them, per identifier the deliverable echoes."""
    if MATCH_CODE in best.column_names:
        codes = pc.utf8_upper(pc.utf8_trim_whitespace(best[MATCH_CODE]))
        matched = pc.fill_null(pc.equal(codes, "Y"), False)
    elif "vb.voterbase_id" in best.column_names:
        matched = pc.is_valid(best["vb.voterbase_id"])
    else:
        matched = pa.array(np.zeros(best.num_rows, bool))
    coverage = []
    for identifier in sent_columns:
        if identifier == MATCHBACK_ID or identifier not in best.column_names:
            continue
        has = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(best[identifier]), ""), False)
        rows = int(pc.sum(has).as_py() or 0)
        both = int(pc.sum(pc.and_(has, matched)).as_py() or 0)
        coverage.append(IdentifierCoverage(identifier, rows, both))
    return tuple(coverage)


def _warn_gaps(
    df: pd.DataFrame, rows_of: np.ndarray, missing: int, unknown: int, filename: str | None
) -> None:
    job = f" (job {filename!r})" if filename else ""
    if missing:
        labels = list(df.index[np.flatnonzero(rows_of < 0)[:5]])
        warnings.warn(
            f"{missing:,} of {len(df):,} rows are missing from the deliverable{job}: their "
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
