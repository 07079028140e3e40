"""Matching a contact-list file larger than memory: read, sent and merged back in batches.

``smartmatch-pandas match`` works this way on a file larger than the spill
threshold (see :mod:`smartmatch_pandas.files.spool`), and gives exactly what
matching the file in memory gives:

1. The upload CSV is made batch by batch
   (:func:`~smartmatch_pandas.preparation.batched.upload_file`), spilling to a
   private temporary file. The job is then recorded, registered and uploaded
   as any other.
2. The deliverable is downloaded to a private temporary file and unpacked
   member by member, then merged back onto the list batch by batch
   (:func:`~smartmatch_pandas.deliverable.batched.merge_file`).

Memory never holds the list itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import pyarrow as pa

from .. import clock as clocks
from ..deliverable.batched import merge_file
from ..deliverable.summary import MatchSummary
from ..errors import InputError
from ..files.spool import Spool
from ..files.streams import StreamedList, TableCollector
from ..files.tables import TableFile, TableOutput
from ..identifiers import MATCHBACK_ID
from ..job.handle import Job
from ..job.store import JobRecord, JobStore
from ..job.waiting import check_wait_options
from ..options import Via, check_flag, check_policy
from ..preparation.batched import file_mapping, upload_file
from ..progress import ProgressArg, Reporter, reporting
from .keywords import MatchKwargs
from .plan import make_plan
from .resuming import not_the_list_submitted, recorded_mapping, resumed_job
from .submitting import submit_body

if TYPE_CHECKING:
    from ..wire.sftp import SFTPSettings


def match_file(
    source: str | Path | TableFile,
    output: str | Path | TableOutput,
    **options: Unpack[MatchKwargs],
) -> FileResult:
    """Match the contact list in a CSV or Parquet file, writing the enriched list to ``output``.

    For a list larger than memory: writes what
    ``write_table(match(read_table(source), ...), output)`` would, without
    ever holding the list (it is read, uploaded and merged back in batches).

    Parameters
    ----------
    source
        The contact list: a CSV, Excel (``.xlsx``) or Parquet file, or a
        :class:`~smartmatch_pandas.files.tables.TableFile` opened with its
        encoding, delimiter or sheet.
    output
        Where the enriched list goes (``.csv``, ``.csv.gz``, ``.parquet``,
        ``.xlsx``; or a :class:`~smartmatch_pandas.files.tables.TableOutput`),
        written readable by the user alone and renamed into place once whole.
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
    return match_batched(_opened(source), output, **options)


def match_batched(
    table: TableFile | StreamedList,
    output: str | Path | TableOutput | TableCollector,
    **options: Unpack[MatchKwargs],
) -> FileResult:
    """Match a list read in batches (a file, or an Arrow stream) and merge it back in
    batches into ``output``: what :func:`match_file` and
    :func:`~smartmatch_pandas.verbs.streams.match_stream` do."""
    timeout, all_matches = options.pop("timeout", None), options.pop("all_matches", False)
    check_wait_options(timeout)  # before anything is paid for
    check_flag("all_matches", all_matches)
    typed = check_flag("typed", options.pop("typed", False))
    progress = options.pop("progress", True)
    mapping = file_mapping(table, options.get("columns"))
    plan = make_plan(None, options, mapping)
    with plan.client, reporting(progress) as reporter:
        reporter.stage("preparing")
        upload = upload_file(table, mapping, plan.invalid)
        # As in match(): the timeout bounds the registration and the upload too (counted
        # once the file is prepared, which may take long), then what is left of it the rest.
        deadline = None if timeout is None else clocks.CLOCK.monotonic() + timeout
        with plan.client.within(deadline):
            job = submit_body(
                upload.body, plan, reporter, frame=None, rows=upload.rows, presence=upload.presence
            )
            left = None if deadline is None else max(0.0, deadline - clocks.CLOCK.monotonic())
            job.wait(timeout=left, progress=reporter)
            result = merge_finished(job, table, output, all_matches, reporter, typed)
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
    source: str | Path | TableFile,
    output: str | Path | TableOutput,
    *,
    all_matches: bool = False,
    typed: bool = False,
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
    all_matches, typed, timeout, progress, api_key, base_url, poll_interval, cache, reupload
        As for :func:`smartmatch_pandas.resume`.
    via, sftp
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
    check_flag("typed", typed)
    table = _opened(source)
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
        mapping = recorded_mapping(table.columns, record, what="file")
        made = upload_file(table, mapping, check_policy(record.invalid))
        if made.body.fingerprint != record.fingerprint:
            made.body.close()
            raise not_the_list_submitted(record, made.rows, what="file")
        return made.body, made.presence

    with reporting(progress) as reporter:
        job = resumed_job(
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
        result = merge_finished(job, table, output, all_matches, reporter, typed)
    reporter.note(result.summary.describe())
    return result


def _opened(source: str | Path | TableFile) -> TableFile:
    return source if isinstance(source, TableFile) else TableFile(source)


def merge_finished(
    job: Job,
    table: TableFile | StreamedList,
    output: str | Path | TableOutput | TableCollector,
    all_matches: bool,
    reporter: Reporter,
    typed: bool = False,
) -> FileResult:
    """Merge a finished job's deliverable onto the list in batches (written to ``output``),
    then keep the deliverable."""
    assert job.mapping is not None  # a recorded job's
    assert job.presence is not None  # made from the file, uploaded or checked
    sent, presence = [*job.mapping.identifiers, MATCHBACK_ID], job.presence

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
            max_matches=job.options.max_matches,
            typed=typed,
            witness=job.witness,
        )

    summary, written = job.merged(merge, reporter)
    return FileResult(job.filename, summary, written)


__all__ = ["FileResult", "match_file", "merge_finished", "resume_file"]
