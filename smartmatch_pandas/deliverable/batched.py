"""A deliverable merged back onto a contact-list file larger than memory, batch by batch.

What :func:`~smartmatch_pandas.deliverable.merge.merge_back` gives (and its
``candidates`` with ``all_matches``), written as
:func:`~smartmatch_pandas.files.tables.write_table` writes it, without ever
holding the list:

1. A deliverable need not keep the upload's order, so each result file is
   read block by block and its rows spread over temporary *bucket* files by
   ``matchback_id`` range (:data:`BUCKET_ROWS` rows each, more for lists past
   :data:`MAX_BUCKETS` buckets).
2. The list is read again, in order; each batch takes its results from the
   bucket that holds its rows (loaded once, then dropped) and is written out,
   enriched, to the output file.

Memory holds a batch of the list, one bucket of results and a few bits per
row (which rows had a value for each identifier, which were seen in the
deliverable): never the list itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from ..files.spool import Spool, SpooledFiles
from ..files.streams import StreamedList, TableCollector
from ..files.tables import (
    TableFile,
    TableOutput,
    TableWriter,
    frame_of,
    output_schema,
    table_output,
)
from ..identifiers import MATCHBACK_ID
from .alignment import AlignmentTally, Witness
from .merge import (
    TEXT_DTYPE,
    candidate_ranks,
    check_missing,
    count_true,
    coverage_counts,
    matched_rows,
    output_names,
    past_max_matches,
    rank_name,
    row_positions,
    taken_text,
    warn_gaps,
    warn_surplus,
    without_repeated_best,
)
from .read import (
    RowAllowance,
    best_file_key,
    no_result_csv,
    open_result_csv,
    report_room,
    report_text,
    result_csv_errors,
    warn_if_cut_short,
)
from .summary import RANK, IdentifierCoverage, MatchSummary, result_attrs
from .voter_fields import DATE_DTYPE, Kind, kinds_of, typed_array, typed_table

#: Rows of results per bucket file: a bucket is what the merge holds in memory at once.
BUCKET_ROWS: Final = 1 << 16
#: Bucket files per result file at most (each holds a file descriptor while it lives):
#: a longer list gets larger buckets, not more open files.
MAX_BUCKETS: Final = 64
_POSITION: Final = "__smartmatch_position"
_LARGE_TEXT: Final = pa.large_string()
_ORDER: Final = "__smartmatch_order"


# -- 1. the deliverable's result files, spread over buckets by row -------------------------------


@dataclass
class _ResultFile:
    """One result CSV of a deliverable, its rows spread over bucket files."""

    name: str
    columns: list[str]
    rows: int = 0
    unique: bool = True
    unknown: set[str] = field(default_factory=set)
    unknown_rows: int = 0
    buckets: dict[int, Spool] = field(default_factory=dict)

    def bucket(self, k: int) -> pa.Table | None:
        """The rows of bucket ``k`` (see :func:`_bucket_rows`), in file order."""
        spool = self.buckets.get(k)
        if spool is None:
            return None
        with pa.ipc.open_stream(spool.arrow_input()) as reader:
            return reader.read_all()

    def close(self) -> None:
        for spool in self.buckets.values():
            spool.close()


def _spread(
    name: str, content: Spool, rows: int, skip: set[str], filename: str | None
) -> _ResultFile | None:
    """Read a result CSV block by block into bucket files; None if it is not one."""
    # Plain strings (32-bit offsets): buckets are small, and are copied into the output.
    reader = open_result_csv(name, content, filename, skip, text=pa.string())
    if reader is None:
        return None
    result = _ResultFile(name, reader.schema.names)
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    seen = np.zeros(rows, dtype=bool)
    last = None
    try:
        try:
            with result_csv_errors(name, filename):
                for batch in reader:
                    if batch.num_rows:
                        last = batch[MATCHBACK_ID][-1].as_py()
                    _spread_batch(pa.Table.from_batches([batch]), result, seen, writers, filename)
        finally:  # before the buckets close: a writer ends its stream in its bucket
            for writer in writers.values():
                writer.close()
    except BaseException:
        result.close()
        raise
    if result.rows:
        warn_if_cut_short(name, content, last, filename)
    return result


def _bucket_rows(rows: int) -> int:
    """Rows per bucket for a list of ``rows``: :data:`BUCKET_ROWS`, or more past
    :data:`MAX_BUCKETS` buckets."""
    return max(BUCKET_ROWS, -(-rows // MAX_BUCKETS))


def _spread_batch(
    table: pa.Table,
    result: _ResultFile,
    seen: np.ndarray,
    writers: dict[int, pa.ipc.RecordBatchStreamWriter],
    filename: str | None,
) -> None:
    positions = row_positions(table, len(seen), filename)
    order = np.arange(result.rows, result.rows + table.num_rows, dtype=np.int64)
    result.rows += table.num_rows
    known = positions >= 0
    ids = table[MATCHBACK_ID]
    if ids.null_count:
        result.unique = False
    if not known.all():
        result.unknown_rows += int((~known).sum())
        for value in ids.filter(pa.array(~known)).to_pylist():
            if value in result.unknown:
                result.unique = False
            result.unknown.add(value)
    table = table.append_column(_POSITION, pa.array(positions)).append_column(
        _ORDER, pa.array(order)
    )
    table, positions = table.filter(pa.array(known)), positions[known]
    if result.unique and (seen[positions].any() or len(np.unique(positions)) < len(positions)):
        result.unique = False
    seen[positions] = True
    buckets = positions // _bucket_rows(len(seen))
    by_bucket = np.argsort(buckets, kind="stable")
    table, buckets = table.take(pa.array(by_bucket)), buckets[by_bucket]
    if not len(buckets):
        return
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    for start, end in zip(starts, [*starts[1:], len(buckets)], strict=True):
        k = int(buckets[start])
        if k not in writers:
            result.buckets[k] = Spool(threshold=0)
            writers[k] = pa.ipc.new_stream(result.buckets[k], table.schema)
        writers[k].write_table(table.slice(start, end - start))


@dataclass
class _Results:
    """The deliverable's best matches and additional matches, as bucket files."""

    best: _ResultFile
    rest: list[_ResultFile]
    #: Whether the best matches are the first row of each id in ``best`` (the only
    #: file, holding several rows per id), the others being additional.
    first_only: bool
    report: str | None

    _held: tuple[int, pa.Table | None, list[pa.Table | None]] | None = None

    def bucket(self, k: int) -> tuple[pa.Table | None, list[pa.Table | None]]:
        """Bucket ``k`` of the best matches (sorted by row) and of the others (in file
        order); the one bucket held in memory."""
        if self._held is None or self._held[0] != k:
            self._held = None  # dropped before the next is read
            best = self.best.bucket(k)
            rest = [r.bucket(k) for r in self.rest]
            if self.first_only and best is not None:
                best, rest[0] = _first_rows(best)
            self._held = (k, _sorted(best), rest)
        return self._held[1], self._held[2]

    def close(self) -> None:
        self._held = None
        for result in (self.best, *self.rest):
            result.close()


def _results(
    files: Mapping[str, bytes], rows: int, skip: set[str], filename: str | None
) -> _Results:
    """The result files of a deliverable spread over buckets, best told apart by content
    exactly as :func:`~smartmatch_pandas.deliverable.read.read_files` does."""
    spooled = SpooledFiles.of(files)
    found: list[_ResultFile] = []
    reports: list[str] = []
    try:
        for name in spooled:
            result = _spread(name, spooled.spool(name), rows, skip, filename)
            if result is not None:
                found.append(result)
            elif (report := report_text(spooled.spool(name), report_room(reports))) is not None:
                reports.append(report)
    except BaseException:
        for result in found:
            result.close()
        raise
    if not found:
        raise no_result_csv(spooled, filename)
    report = "\n\n".join(reports) or None
    unique = [r for r in found if r.unique]
    if unique:
        best = max(unique, key=lambda r: best_file_key(r.name, r.rows))
        return _Results(best, [r for r in found if r is not best], False, report)
    return _Results(found[0], found, True, report)


def _check_allowance(results: _Results, allowance: RowAllowance, filename: str | None) -> None:
    """Refuse results with more rows than ``allowance``, as
    :func:`~smartmatch_pandas.deliverable.read.read_files` does."""
    found = sum(r.rows for r in results.rest if r is not results.best)
    total = results.best.rows + found
    if total > allowance.total:
        raise allowance.refusal(f"more than {allowance.total:,} result rows", filename)
    if not results.first_only and found > allowance.additional:
        raise allowance.refusal(f"{found:,} additional candidates", filename)


# -- 2. the list again, in order, with its results ----------------------------------------------


@dataclass
class _Tally:
    """The summary, counted slice by slice."""

    rows: int
    matched: int = 0
    missing: int = 0
    first_missing: list[int] = field(default_factory=list)
    coverage: dict[str, list[int]] = field(default_factory=dict)
    misfits: dict[str, int] = field(default_factory=dict)
    alignment: AlignmentTally = field(default_factory=AlignmentTally)

    def summary(self, report: str | None, unknown: int) -> MatchSummary:
        return MatchSummary(
            rows=self.rows,
            matched=self.matched,
            report=report,
            missing=self.missing,
            unknown=unknown,
            coverage=tuple(IdentifierCoverage(k, v[0], v[1]) for k, v in self.coverage.items()),
        )


def merge_file(
    table: TableFile | StreamedList,
    files: Mapping[str, bytes],
    output: str | Path | TableOutput | TableCollector,
    *,
    sent: list[str],
    rows: int,
    presence: Mapping[str, pa.Array],
    all_matches: bool = False,
    filename: str | None = None,
    max_matches: int | None = None,
    typed: bool = False,
    witness: Witness | None = None,
) -> tuple[MatchSummary, int]:
    """Merge a deliverable back onto the list in ``table``, writing the result to ``output``
    batch by batch: what :func:`~smartmatch_pandas.deliverable.merge.merge_back` (and its
    ``candidates`` with ``all_matches``) give, written by
    :func:`~smartmatch_pandas.files.tables.write_table`. Returns the summary and the rows written.

    With ``max_matches``, a deliverable with more rows than the job's options allow
    (:class:`~smartmatch_pandas.deliverable.read.RowAllowance`) is refused before any
    bucket of it is read into memory. With ``typed``, the appended voter fields are typed as
    :meth:`~smartmatch_pandas.deliverable.MatchResult.typed` types them (a CSV holds them as
    text, dates as YYYY-MM-DD; a workbook holds categories as text). With a ``witness``,
    results whose echo of it disagrees with what was sent are refused before anything is
    written (see :mod:`~smartmatch_pandas.deliverable.alignment`).
    """
    skip = set(sent) - ({witness.identifier} if witness is not None else set())
    results = _results(files, rows, skip, filename)
    try:
        if max_matches is not None:
            _check_allowance(results, RowAllowance(rows, max_matches), filename)
        return _merge(
            table,
            results,
            output,
            sent,
            rows,
            presence,
            all_matches,
            filename,
            typed,
            witness,
            max_matches,
        )
    finally:
        results.close()


def _merge(
    table: TableFile | StreamedList,
    results: _Results,
    output: str | Path | TableOutput | TableCollector,
    sent: list[str],
    rows: int,
    presence: Mapping[str, pa.Array],
    all_matches: bool,
    filename: str | None,
    typed: bool = False,
    witness: Witness | None = None,
    max_matches: int | None = None,
) -> tuple[MatchSummary, int]:
    appended = [c for c in results.best.columns if c not in set(sent)]
    rank = rank_name(table.columns) if all_matches else RANK
    names = output_names([*table.columns, *([rank] if all_matches else [])], appended)
    fields = dict(zip(names, appended, strict=True))
    kinds = kinds_of(fields) if typed else {}
    empty = frame_of(table.schema.empty_table())
    for name in names:
        empty[name] = pd.Series([], dtype=_EMPTY_DTYPES.get(kinds.get(name), TEXT_DTYPE))
    if all_matches:
        empty.insert(len(table.columns), rank, pd.Series([], dtype="int64"))
    summary, tally, unknown = _summary(
        results, rows, sent, presence, fields, kinds, witness, filename, typed
    )
    # The summary goes where pandas keeps DataFrame.attrs: in the schema, written first.
    renamed = {name: field for name, field in fields.items() if name != field}
    empty.attrs["smartmatch"] = result_attrs(filename, summary, renamed)
    if rank != RANK:  # the list had a match_rank of its own
        empty.attrs["smartmatch"]["rank"] = rank
    written, surplus = 0, [0, 0]
    held = "arrow" if isinstance(output, TableCollector) else table_output(output).kind
    source = table if isinstance(table, TableFile) else None
    schema = _typed_schema(output_schema(empty, source=source), kinds, held)
    with _writer(output, schema) as writer:
        for batch, start, k in _slices(table, rows):
            best, rest = results.bucket(k)
            best_rows = _between(best, start, start + batch.num_rows)
            enriched = typed_table(_enriched(batch, start, best_rows, appended, names), kinds)[0]
            if all_matches:
                rest_rows = [_between(t, start, start + batch.num_rows) for t in rest]
                extra = _additional_rows(batch, start, best_rows, rest_rows, appended, names, rank)
                if extra is not None and max_matches is not None:
                    extra = _within(extra, max_matches, surplus)
                if extra is not None:
                    extra = (typed_table(extra[0], kinds)[0], *extra[1:])
                enriched = _candidates(enriched, extra, len(table.columns), batch.num_rows, rank)
            writer.write(enriched)
            written += enriched.num_rows
        writer.close()
    warn_gaps(tally.first_missing, rows, tally.missing, unknown, filename)
    warn_surplus(surplus[0], surplus[1], max_matches or 1, filename)
    return summary, written


def _summary(
    results: _Results,
    rows: int,
    sent: list[str],
    presence: Mapping[str, pa.Array],
    fields: Mapping[str, str],
    kinds: Mapping[str, Kind],
    witness: Witness | None,
    filename: str | None,
    typed: bool,
) -> tuple[MatchSummary, _Tally, int]:
    """The summary, counted bucket by bucket (with the values of typed ``kinds`` that do
    not fit them, when ``typed``); its tally, and the rows never sent.

    Raises
    ------
    DeliverableError
        The deliverable misses most rows, or its rows do not line up with those sent.
    """
    tally = _Tally(rows, coverage={k: [0, 0] for k in sent if k in presence})
    span = _bucket_rows(rows)
    for k in range(-(-rows // span)):
        start = k * span
        best = results.bucket(k)[0]
        _count(tally, best, start, min(span, rows - start), presence)
        if witness is not None and best is not None:
            tally.alignment.add(best, best[_POSITION].to_numpy(), witness)
        if kinds:
            _count_misfits(tally, best, fields, kinds)
    unknown = len(results.best.unknown) if results.first_only else results.best.unknown_rows
    check_missing(rows, tally.missing, filename)
    if witness is not None:
        tally.alignment.check(witness, filename)
    summary = tally.summary(results.report, unknown)
    if typed:
        misfits = {name: n for name, n in tally.misfits.items() if n}
        summary = dataclasses.replace(summary, typed=True, misfits=misfits)
    return summary, tally, unknown


@dataclass
class SlicedDeliverable:
    """A deliverable spread over bucket files, whose appended columns are taken a range of
    rows at a time, in order (:func:`slice_deliverable`); close it when done.

    Attributes
    ----------
    names
        The appended columns' names, as the list's own columns leave them.
    summary
        How many rows matched, in all and by identifier.
    typed_fields
        With ``typed``, the appended columns to type and the voter field of each.
    """

    names: list[str]
    summary: MatchSummary
    _results: _Results
    _appended: list[str]
    _rows: int
    #: The appended columns to type, with the field each came from (empty: kept as text).
    typed_fields: dict[str, str] = field(default_factory=dict)

    @property
    def renamed(self) -> dict[str, str]:
        """The appended columns renamed to keep clear of the list's own, with the field
        each holds."""
        return {n: f for n, f in zip(self.names, self._appended, strict=True) if n != f}

    def appended_rows(self, start: int, n: int) -> pa.Table:
        """The appended columns of rows ``[start, start + n)`` (``large_string``, null where
        a row has no result); ranges taken in order load each bucket once."""
        span = _bucket_rows(self._rows)
        parts = [pa.table({name: pa.array([], _LARGE_TEXT) for name in self.names})]
        position, end = start, start + n
        while position < end:
            stop = min(end, (position // span + 1) * span)
            best = _between(self._results.bucket(position // span)[0], position, stop)
            rows_of = np.full(stop - position, -1, dtype=np.int64)
            if best is not None and best.num_rows:
                rows_of[best[_POSITION].to_numpy() - position] = np.arange(best.num_rows)
            columns = taken_text(best, self._appended, rows_of)
            parts.append(pa.Table.from_arrays(columns, names=self.names))
            position = stop
        return pa.concat_tables(parts)

    def close(self) -> None:
        self._results.close()


def slice_deliverable(
    files: Mapping[str, bytes],
    *,
    rows: int,
    sent: list[str],
    presence: Mapping[str, pa.Array],
    columns: Sequence[Hashable],
    filename: str | None = None,
    typed: bool = False,
    witness: Witness | None = None,
) -> SlicedDeliverable:
    """A deliverable ready to be taken a range of rows at a time, without ever holding it:
    its result files spread over bucket files, its summary counted (and its gaps warned
    of) as :func:`merge_file` does; ``columns`` are the list's, which the appended ones
    must not take the names of. With ``typed``, the summary counts the values that do not
    fit their voter field's type (the rows are still taken as text). With a ``witness``,
    results that do not line up with the rows sent are refused, as by :func:`merge_file`.
    """
    skip = set(sent) - ({witness.identifier} if witness is not None else set())
    results = _results(files, rows, skip, filename)
    try:
        appended = [c for c in results.best.columns if c not in set(sent)]
        names = output_names(columns, appended)
        fields = dict(zip(names, appended, strict=True))
        kinds = kinds_of(fields) if typed else {}
        summary, tally, unknown = _summary(
            results, rows, sent, presence, fields, kinds, witness, filename, typed
        )
    except BaseException:
        results.close()
        raise
    warn_gaps(tally.first_missing, rows, tally.missing, unknown, filename)
    return SlicedDeliverable(names, summary, results, appended, rows, fields if typed else {})


def _slices(table: TableFile | StreamedList, rows: int) -> Iterator[tuple[pa.Table, int, int]]:
    """The list's batches, cut where a bucket ends: (batch, its first row, its bucket)."""
    start, span = 0, _bucket_rows(rows)
    for batch in table.batches():
        while batch.num_rows:
            k = start // span
            take = min(batch.num_rows, (k + 1) * span - start)
            yield batch.slice(0, take), start, k
            batch, start = batch.slice(take), start + take
    if start != rows:
        raise InputError(
            f"{table.path} changed while it was matched ({start:,} rows now, {rows:,} sent): "
            "write the output again from an unchanged file"
        )


def _writer(
    output: str | Path | TableOutput | TableCollector, schema: pa.Schema
) -> TableWriter | TableCollector:
    """A writer to the file ``output`` names, or the collector itself (a list given back)."""
    if isinstance(output, TableCollector):
        return output.open(schema)
    return TableWriter(output, schema)


def _first_rows(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The first row of each position (by file order), and the others."""
    positions = table[_POSITION].to_numpy()
    order = np.lexsort((table[_ORDER].to_numpy(), positions))
    first = np.zeros(len(positions), dtype=bool)
    ordered = positions[order]
    first[order[np.r_[True, ordered[1:] != ordered[:-1]]] if len(order) else []] = True
    return table.filter(pa.array(first)), table.filter(pa.array(~first))


def _sorted(table: pa.Table | None) -> pa.Table | None:
    if table is None:
        return None
    return table.sort_by([(_POSITION, "ascending"), (_ORDER, "ascending")])


def _between(table: pa.Table | None, start: int, end: int) -> pa.Table | None:
    """The rows of ``table`` whose position is in ``[start, end)``, in file order."""
    if table is None:
        return None
    positions = table[_POSITION].to_numpy()
    inside = (positions >= start) & (positions < end)
    return table.filter(pa.array(inside)) if not inside.all() else table


def _count(
    tally: _Tally, best: pa.Table | None, start: int, n: int, presence: Mapping[str, pa.Array]
) -> None:
    """Count rows ``[start, start + n)`` in the summary, as merge_back counts them."""
    seen = np.zeros(n, dtype=bool)
    if best is not None and best.num_rows:
        positions = best[_POSITION].to_numpy()
        seen[positions - start] = True
        matched = matched_rows(best)
        tally.matched += count_true(matched)
        for identifier, counts in tally.coverage.items():
            rows, both = coverage_counts(presence[identifier].take(pa.array(positions)), matched)
            counts[0] += rows
            counts[1] += both
    missing = np.flatnonzero(~seen)
    tally.missing += len(missing)
    tally.first_missing.extend((missing[: 5 - len(tally.first_missing)] + start).tolist())


#: The pandas dtype of a typed column with no rows: what its Parquet metadata records.
_EMPTY_DTYPES: Final[Mapping[str | None, Any]] = {
    "integer": "Int64",
    "float": "Float64",
    "date": DATE_DTYPE,
    "category": pd.CategoricalDtype(pd.Index([], dtype=TEXT_DTYPE)),
}
#: The Arrow type of each kind in a Parquet file; a CSV or a workbook holds text where
#: it holds no such type (dates as YYYY-MM-DD in a CSV, categories as text).
_ARROW_TYPES: Final[Mapping[str, pa.DataType]] = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "date": pa.timestamp("ms"),
    "category": pa.dictionary(pa.int32(), pa.large_string()),
}
_TEXT_OUTPUT_TYPES: Final[Mapping[str, pa.DataType]] = {
    "date": pa.date32(),
    "category": pa.large_string(),
}


def _typed_schema(schema: pa.Schema, kinds: Mapping[str, Kind], output_kind: str) -> pa.Schema:
    """``schema`` with the typed columns' types as ``output_kind`` holds them."""
    for name, kind in kinds.items():
        arrow = _ARROW_TYPES[kind]
        if output_kind in ("csv", "csv.gz"):
            arrow = _TEXT_OUTPUT_TYPES.get(kind, arrow)
        elif output_kind == "xlsx" and kind in _TEXT_OUTPUT_TYPES:
            arrow = _TEXT_OUTPUT_TYPES[kind]  # a date shown yyyy-mm-dd, with no time of day
        schema = schema.set(schema.get_field_index(name), pa.field(name, arrow))
    return schema


def _count_misfits(
    tally: _Tally, best: pa.Table | None, fields: Mapping[str, str], kinds: Mapping[str, Kind]
) -> None:
    """Count the best matches' values that do not fit their column's kind."""
    if best is None or not best.num_rows:
        return
    for name, kind in kinds.items():
        if fields[name] in best.column_names:
            misfits = typed_array(best[fields[name]], kind)[1]
            tally.misfits[name] = tally.misfits.get(name, 0) + misfits


def _enriched(
    batch: pa.Table,
    start: int,
    best: pa.Table | None,
    appended: list[str],
    names: list[str],
) -> pa.Table:
    """The batch with its best matches' appended columns."""
    rows_of = np.full(batch.num_rows, -1, dtype=np.int64)
    if best is not None and best.num_rows:
        local = best[_POSITION].to_numpy() - start
        rows_of[local] = np.arange(len(local))
    columns = taken_text(best, appended, rows_of)
    return pa.Table.from_arrays([*batch.columns, *columns], names=[*batch.schema.names, *names])


def _additional_rows(
    batch: pa.Table,
    start: int,
    best: pa.Table | None,
    rest: list[pa.Table | None],
    appended: list[str],
    names: list[str],
    rank_column: str = RANK,
) -> tuple[pa.Table, np.ndarray, np.ndarray] | None:
    """The batch's additional candidates (input columns, rank, appended columns), with
    the row and the rank of each, as
    :meth:`~smartmatch_pandas.deliverable.summary.MatchResult.candidates` orders them."""
    tables = [t for t in rest if t is not None and t.num_rows]
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive")
    if best is not None:
        table = without_repeated_best(table, best)
    if not table.num_rows:
        return None
    local = table[_POSITION].to_numpy() - start
    order = np.argsort(local, kind="stable")
    local = local[order]
    ranks = candidate_ranks(local)
    table = table.take(pa.array(order))
    source = taken_rows(batch, local)
    columns = taken_text(table, appended, np.arange(table.num_rows))
    rank = pa.array(ranks, pa.int64())
    out = pa.Table.from_arrays(
        [*source.columns, rank, *columns], names=[*batch.schema.names, rank_column, *names]
    )
    return out, local, ranks


def _within(
    extra: tuple[pa.Table, np.ndarray, np.ndarray], max_matches: int, surplus: list[int]
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """A batch's additional candidates but those past ``max_matches`` on their row, counted
    into ``surplus`` (candidates, rows), as
    :func:`~smartmatch_pandas.deliverable.merge.merge_back` leaves them out."""
    table, local, ranks = extra
    past, candidates, rows = past_max_matches(local, ranks, max_matches)
    if not candidates:
        return extra
    surplus[0] += candidates
    surplus[1] += rows
    return table.filter(pa.array(~past)), local[~past], ranks[~past]


def _candidates(
    enriched: pa.Table,
    extra: tuple[pa.Table, np.ndarray, np.ndarray] | None,
    inputs: int,
    n: int,
    rank: str = RANK,
) -> pa.Table:
    """Every candidate of the batch, best first within each row (rank 1 for the best)."""
    best = enriched.add_column(inputs, rank, pa.array(np.ones(n, dtype=np.int64)))
    if extra is None:
        return best
    table, local, ranks = extra
    both = pa.concat_tables([best, table.cast(best.schema)])
    rows = np.concatenate([np.arange(n), local])
    order = np.lexsort((np.concatenate([np.ones(n, np.int64), ranks]), rows))
    return taken_rows(both, order)


#: Arrow's view types, which its ``take`` has no kernel for, and what they are taken as.
_VIEWED: Final = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}


def taken_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table.take(rows)``, for columns of Arrow's view types too (a Polars frame's text is
    ``string_view``): those are taken as their large counterparts, then cast back."""
    if not any(field.type in _VIEWED for field in table.schema):
        return table.take(pa.array(rows))
    schema = pa.schema([f.with_type(_VIEWED.get(f.type, f.type)) for f in table.schema])
    return table.cast(schema).take(pa.array(rows)).cast(table.schema)
