"""Matching a contact-list file larger than memory: read, sent and merged back in batches.

``smartmatch-pandas match`` works this way on a file larger than the spill
threshold (see :mod:`smartmatch_pandas.files.spool`), and gives exactly what
matching the file in memory gives:

1. The file is read batch by batch (:class:`~smartmatch_pandas.files.tables.TableFile`);
   each batch's identifier columns are normalised as :func:`~smartmatch_pandas.match`
   does and appended to the upload CSV, which spills to a private temporary
   file. The job is then recorded, registered and uploaded as any other.
2. The deliverable is downloaded to a private temporary file and unpacked
   member by member. A deliverable need not keep the upload's order, so each
   result file is read block by block and its rows spread over temporary
   *bucket* files by ``matchback_id`` range (:data:`BUCKET_ROWS` rows each, more
   for lists past :data:`MAX_BUCKETS` buckets).
3. The list is read again, in order; each batch takes its results from the
   bucket that holds its rows (loaded once, then dropped) and is written out,
   enriched, to the output file.

Memory holds a batch of the list, one bucket of results and a few bits per
row (which rows had a value for each identifier, which were seen in the
deliverable): never the list itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Unpack

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..deliverable.results import (
    RANK,
    TEXT_DTYPE,
    IdentifierCoverage,
    MatchSummary,
    _drop_repeated_best,
    _matched_rows,
    _output_names,
    _positions,
    _ranks,
    _warn_gaps,
    open_result_csv,
    result_csv_errors,
    taken_text,
    warn_if_cut_short,
)
from ..errors import DeliverableError, InputError
from ..files.spool import Spool, SpooledFiles
from ..files.tables import TableFile, TableWriter, frame_of, output_schema
from ..identifiers import MATCHBACK_ID
from ..job.handle import Job, Via, check_wait_options
from ..job.store import JobRecord, JobStore
from ..preparation.final_check import check_not_empty, check_values, empty_columns
from ..preparation.mapping import ColumnMapping, resolve_mapping
from ..preparation.normalize import InvalidPolicy, check_policy
from ..preparation.table import (
    InvalidTally,
    csv_chunks,
    csv_header_line,
    sent_columns,
    sent_presence,
    upload_table,
)
from ..progress import ProgressArg, Reporter, reporting
from . import core as api

if TYPE_CHECKING:
    from ..wire.sftp import SFTPSettings

#: Rows of results per bucket file: a bucket is what the merge holds in memory at once.
BUCKET_ROWS: Final = 1 << 16
#: Bucket files per result file at most (each holds a file descriptor while it lives):
#: a longer list gets larger buckets, not more open files.
MAX_BUCKETS: Final = 64
_POSITION: Final = "__smartmatch_position"
_ORDER: Final = "__smartmatch_order"


def match_file(
    source: str | Path, output: str | Path, **options: Unpack[api.MatchKwargs]
) -> FileResult:
    """Match the contact list in a CSV or Parquet file, writing the enriched list to ``output``.

    For a list larger than memory: writes what
    ``write_table(match(read_table(source), ...), output)`` would, without
    ever holding the list (it is read, uploaded and merged back in batches).

    Parameters
    ----------
    source
        The contact list: a ``.csv`` or ``.parquet`` file.
    output
        Where the enriched list goes (``.csv`` or ``.parquet``), written
        readable by the user alone and renamed into place once whole.
    **options
        :func:`smartmatch_pandas.match`'s keyword arguments (``columns``,
        ``max_matches``, ``timeout``, ``progress``...).

    Returns
    -------
    FileResult
        The job's filename, its summary, and the rows written.

    Raises
    ------
    InputError
        The file cannot be read or matched as it is; nothing was sent.
    SmartMatchError
        As :func:`smartmatch_pandas.match`: every error after the job was
        registered says how to pick it up again (with :func:`resume_file`).

    Examples
    --------
    >>> import smartmatch_pandas as sm
    >>> done = sm.match_file("contacts.csv", "enriched.parquet", max_matches=3)  # doctest: +SKIP
    >>> done.summary.match_rate                                                # doctest: +SKIP
    0.87
    """
    timeout, all_matches = options.pop("timeout", None), options.pop("all_matches", False)
    check_wait_options(timeout)  # before anything is paid for
    api._check_flag("all_matches", all_matches)
    progress = options.pop("progress", True)
    table = TableFile(source)
    mapping = _file_mapping(table, options.get("columns"))
    plan = api._plan_of(None, options, mapping)
    with reporting(progress) as reporter:
        reporter.stage("preparing")
        upload = upload_file(table, mapping, plan.invalid)
        job = api._submit_body(
            upload.body, plan, reporter, frame=None, rows=upload.rows, presence=upload.presence
        )
        job.wait(timeout=timeout, progress=reporter)
        result = _finish(job, table, output, all_matches, reporter)
    reporter.note(result.summary.describe())
    return result


@dataclass(frozen=True)
class FileResult:
    """What :func:`match_file` (or :func:`resume_file`) did.

    Attributes
    ----------
    filename
        The SmartMatch job's filename.
    summary
        How many rows matched, in all and by identifier.
    written
        Rows written to the output file.
    """

    filename: str
    summary: MatchSummary
    written: int


def resume_file(
    filename: str,
    source: str | Path,
    output: str | Path,
    *,
    all_matches: bool = False,
    timeout: float | None = None,
    progress: ProgressArg = True,
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    cache: bool = True,
    reupload: bool = True,
    via: Via | None = None,
    sftp: SFTPSettings | Mapping[str, Any] | None = None,
) -> FileResult:
    """Pick a submitted job up again and merge it onto the list in a file, in batches.

    As :func:`smartmatch_pandas.resume` with the frame read from ``source``, and
    the result written to ``output``, without ever holding the list: the file
    is checked against the job's upload (and uploaded again if the job never
    was) batch by batch, then merged as :func:`match_file` merges.

    Parameters
    ----------
    filename
        The job's filename, as :func:`match_file` (or ``smartmatch-pandas match``) named it.
    source
        The contact list that was submitted: the same rows, in the same order.
    output
        Where the enriched list goes (``.csv`` or ``.parquet``).
    all_matches, timeout, progress, api_key, base_url, poll_interval, cache, reupload, via, sftp
        As for :func:`smartmatch_pandas.resume`.

    Returns
    -------
    FileResult
        The job's filename, its summary, and the rows written.

    Raises
    ------
    InputError
        The job store has no record of ``filename``, or ``source`` is not the
        list that was submitted.
    SmartMatchError
        As :func:`smartmatch_pandas.resume`.

    Examples
    --------
    >>> import smartmatch_pandas as sm
    >>> sm.resume_file(filename, "contacts.csv", "enriched.csv")  # doctest: +SKIP
    """
    table = TableFile(source)
    store = JobStore()
    if store.load(filename) is None:
        raise InputError(
            f"there is no record of job {filename!r} in the job store at {store.home}, so "
            f"{table.path} cannot be checked against what was uploaded: resume it without "
            "an input file to get the service's tables, or set SMARTMATCH_HOME to the job "
            "store that submitted it",
            filename=filename,
        )

    def upload(record: JobRecord) -> tuple[Spool, dict[str, pa.Array]]:
        mapping = api.recorded_mapping(table.columns, record, what="file")
        made = upload_file(table, mapping, check_policy(record.invalid))
        if made.body.fingerprint != record.fingerprint:
            made.body.close()
            raise api.not_the_list_submitted(record, made.rows, what="file")
        return made.body, made.presence

    with reporting(progress) as reporter:
        job = api._resumed_job(
            store,
            filename,
            None,
            reporter,
            api_key=api_key,
            base_url=base_url,
            poll_interval=poll_interval,
            cache=cache,
            reupload=reupload,
            upload=upload,
        )
        job.wait(timeout=timeout, progress=reporter, via=via, sftp=sftp)
        result = _finish(job, table, output, all_matches, reporter)
    reporter.note(result.summary.describe())
    return result


def _finish(
    job: Job, table: TableFile, output: str | Path, all_matches: bool, reporter: Reporter
) -> FileResult:
    """Merge a finished job's deliverable onto the list in batches, then keep it."""
    assert job.mapping is not None  # a recorded job's
    assert job._presence is not None  # made from the file, uploaded or checked
    sent, presence = [*job.mapping.identifiers, MATCHBACK_ID], job._presence

    def merge(files: Mapping[str, bytes]) -> tuple[MatchSummary, int]:
        reporter.stage("merging")
        return merge_file(
            table,
            files,
            output,
            sent=sent,
            rows=job.rows,
            presence=presence,
            all_matches=all_matches,
            filename=job.filename,
        )

    summary, written = job._merged(reporter, merge)
    return FileResult(job.filename, summary, written)


def _file_mapping(table: TableFile, columns: Mapping[Hashable, str | None] | None) -> ColumnMapping:
    """The file's columns mapped to identifiers, checked as a frame's would be."""
    mapping = resolve_mapping(pd.Index(table.columns).unique(), columns)
    for column in mapping.columns:
        if table.columns.count(str(column)) > 1:
            raise InputError(
                f"column {column!r} appears more than once in {table.path}; rename the duplicates"
            )
    return mapping


# -- 1. the upload, batch by batch -------------------------------------------------------------


@dataclass
class Upload:
    """A list's upload CSV (in a spool: the caller closes it), its rows, and which rows
    it sends a value for, per identifier."""

    body: Spool
    rows: int
    presence: dict[str, pa.Array]


def upload_file(
    table: TableFile, mapping: ColumnMapping, invalid: InvalidPolicy, today: dt.date | None = None
) -> Upload:
    """The upload CSV of a file, made batch by batch; byte for byte what
    :func:`~smartmatch_pandas.preparation.table.upload_body` makes of the whole list.

    Raises
    ------
    InputError
        The file has no rows; or ``invalid="raise"`` and values are invalid
        (counted over the whole file, as for a frame).
    """
    today = today or dt.date.today()
    tally = InvalidTally(invalid)
    body = Spool(digest=True)
    present: dict[str, list[pa.Array]] = {identifier: [] for identifier in mapping.identifiers}
    rows = 0
    empty = set(mapping.pairs)  # the columns with no value in any batch so far
    try:
        body.write(csv_header_line([*mapping.identifiers, MATCHBACK_ID]))
        for batch in table.batches([str(c) for c in mapping.columns]):
            frame = frame_of(batch)
            frame.index = pd.RangeIndex(rows, rows + len(frame))
            columns = sent_columns(frame, mapping, invalid, today=today)
            tally.add(columns)
            if not (invalid == "raise" and tally.any):
                upload = upload_table(columns, start=rows)
                check_values(upload, mapping, frame.index)
                empty &= empty_columns(upload, mapping)
                for chunk in csv_chunks(upload):
                    body.write(chunk)
                for identifier, flags in sent_presence(upload).items():
                    present[identifier].append(flags)
            rows += len(frame)
        if not rows:
            raise InputError(f"{table.path} has no rows: there is nothing to match")
        tally.report(rows)
        check_not_empty(empty, mapping)
    except BaseException:
        body.close()
        raise
    presence = {k: pa.concat_arrays(v) for k, v in present.items()}
    return Upload(body, rows, presence)


# -- 2. the deliverable's result files, spread over buckets by row -------------------------------


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
    positions = _positions(table, len(seen), filename)
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
    exactly as :func:`~smartmatch_pandas.deliverable.results.read_files` does."""
    spooled = SpooledFiles.of(files)
    found: list[_ResultFile] = []
    reports = []
    try:
        for name in spooled:
            result = _spread(name, spooled.spool(name), rows, skip, filename)
            if result is not None:
                found.append(result)
            elif spooled.spool(name).head(65536).strip():
                reports.append(spooled[name].decode("utf-8", "replace"))
    except BaseException:
        for result in found:
            result.close()
        raise
    if not found:
        raise DeliverableError(
            f"the deliverable holds no CSV with a {MATCHBACK_ID} column (files: "
            f"{sorted(spooled) or 'none'}); it cannot be merged back",
            filename=filename,
        )
    report = "\n\n".join(reports) or None
    unique = [r for r in found if r.unique]
    if unique:
        best = max(unique, key=lambda r: (r.rows, "best" in r.name.lower()))
        return _Results(best, [r for r in found if r is not best], False, report)
    return _Results(found[0], found, True, report)


# -- 3. the list again, in order, with its results ----------------------------------------------


@dataclass
class _Tally:
    """The summary, counted slice by slice."""

    rows: int
    matched: int = 0
    missing: int = 0
    first_missing: list[int] = field(default_factory=list)
    coverage: dict[str, list[int]] = field(default_factory=dict)

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
    table: TableFile,
    files: Mapping[str, bytes],
    output: str | Path,
    *,
    sent: list[str],
    rows: int,
    presence: Mapping[str, pa.Array],
    all_matches: bool = False,
    filename: str | None = None,
) -> tuple[MatchSummary, int]:
    """Merge a deliverable back onto the list in ``table``, writing the result to ``output``
    batch by batch: what :func:`~smartmatch_pandas.deliverable.results.merge_back` (and its
    ``candidates`` with ``all_matches``) give, written by
    :func:`~smartmatch_pandas.files.tables.write_table`. Returns the summary and the rows written.
    """
    results = _results(files, rows, set(sent), filename)
    try:
        return _merge(table, results, output, sent, rows, presence, all_matches, filename)
    finally:
        results.close()


def _merge(
    table: TableFile,
    results: _Results,
    output: str | Path,
    sent: list[str],
    rows: int,
    presence: Mapping[str, pa.Array],
    all_matches: bool,
    filename: str | None,
) -> tuple[MatchSummary, int]:
    appended = [c for c in results.best.columns if c not in set(sent)]
    names = _output_names(pd.Index(table.columns), appended)
    empty = frame_of(table.schema.empty_table())
    for name in names:
        empty[name] = pd.Series([], dtype=TEXT_DTYPE)
    if all_matches:
        empty.insert(len(table.columns), RANK, pd.Series([], dtype="int64"))
    tally = _Tally(rows, coverage={k: [0, 0] for k in sent if k in presence})
    span = _bucket_rows(rows)
    for k in range(-(-rows // span)):
        start = k * span
        _count(tally, results.bucket(k)[0], start, min(span, rows - start), presence)
    unknown = len(results.best.unknown) if results.first_only else results.best.unknown_rows
    summary = tally.summary(results.report, unknown)
    # The summary goes where pandas keeps DataFrame.attrs: in the schema, written first.
    empty.attrs["smartmatch"] = {"filename": filename, **summary.as_attrs()}
    written = 0
    with TableWriter(output, output_schema(empty)) as writer:
        for batch, start, k in _slices(table, rows):
            best, rest = results.bucket(k)
            best_rows = _between(best, start, start + batch.num_rows)
            enriched = _enriched(batch, start, best_rows, appended, names)
            if all_matches:
                rest_rows = [_between(t, start, start + batch.num_rows) for t in rest]
                extra = _additional_rows(batch, start, best_rows, rest_rows, appended, names)
                enriched = _candidates(enriched, extra, len(table.columns), batch.num_rows)
            writer.write(enriched)
            written += enriched.num_rows
        writer.close()
    _warn_gaps(tally.first_missing, rows, tally.missing, unknown, filename)
    return summary, written


def _slices(table: TableFile, rows: int) -> Iterator[tuple[pa.Table, int, int]]:
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
        matched = _matched_rows(best)
        tally.matched += int(pc.sum(matched).as_py() or 0)
        for identifier, counts in tally.coverage.items():
            has = presence[identifier].take(pa.array(positions))
            counts[0] += int(pc.sum(has).as_py() or 0)
            counts[1] += int(pc.sum(pc.and_(has, matched)).as_py() or 0)
    missing = np.flatnonzero(~seen)
    tally.missing += len(missing)
    tally.first_missing.extend((missing[: 5 - len(tally.first_missing)] + start).tolist())


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
) -> tuple[pa.Table, np.ndarray, np.ndarray] | None:
    """The batch's additional candidates (input columns, rank, appended columns), with
    the row and the rank of each, as :meth:`MatchResult.candidates` orders them."""
    tables = [t for t in rest if t is not None and t.num_rows]
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive")
    if best is not None:
        table = _drop_repeated_best(table, best)
    if not table.num_rows:
        return None
    local = table[_POSITION].to_numpy() - start
    order = np.argsort(local, kind="stable")
    local = local[order]
    ranks = _ranks(local)
    table = table.take(pa.array(order))
    source = batch.take(pa.array(local))
    columns = taken_text(table, appended, np.arange(table.num_rows))
    rank = pa.array(ranks, pa.int64())
    out = pa.Table.from_arrays(
        [*source.columns, rank, *columns], names=[*batch.schema.names, RANK, *names]
    )
    return out, local, ranks


def _candidates(
    enriched: pa.Table,
    extra: tuple[pa.Table, np.ndarray, np.ndarray] | None,
    inputs: int,
    n: int,
) -> pa.Table:
    """Every candidate of the batch, best first within each row (rank 1 for the best)."""
    best = enriched.add_column(inputs, RANK, pa.array(np.ones(n, dtype=np.int64)))
    if extra is None:
        return best
    table, local, ranks = extra
    both = pa.concat_tables([best, table.cast(best.schema)])
    rows = np.concatenate([np.arange(n), local])
    order = np.lexsort((np.concatenate([np.ones(n, np.int64), ranks]), rows))
    return both.take(pa.array(order))


__all__ = ["FileResult", "Upload", "match_file", "merge_file", "resume_file", "upload_file"]
