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

from ..deliverable.batched import merge_file
from ..deliverable.summary import MatchSummary
from ..errors import InputError
from ..files.spool import Spool
from ..files.tables import TableFile
from ..identifiers import MATCHBACK_ID
from ..job.handle import Job, Via, check_wait_options
from ..job.store import JobRecord, JobStore
from ..preparation.batched import file_mapping, upload_file
from ..preparation.normalize import check_policy
from ..progress import ProgressArg, Reporter, reporting
from . import core as api

if TYPE_CHECKING:
    from ..wire.sftp import SFTPSettings


def match_file(
    source: str | Path, output: str | Path, **options: Unpack[api.MatchKwargs]
) -> FileResult:
    """Match the contact list in a CSV or Parquet file, writing the enriched list to ``output``.

    Takes :func:`smartmatch_pandas.match`'s keyword arguments and writes what
    ``write_table(match(read_table(source), ...), output)`` would, without
    ever holding the list in memory (see the module's notes).

    Returns
    -------
    FileResult
        The job's filename, its summary, and the rows written.
    """
    timeout, all_matches = options.pop("timeout", None), options.pop("all_matches", False)
    check_wait_options(timeout)  # before anything is paid for
    api._check_flag("all_matches", all_matches)
    progress = options.pop("progress", True)
    table = TableFile(source)
    mapping = file_mapping(table, options.get("columns"))
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
    """What :func:`match_file` did: the job, its summary, the rows written."""

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
    was) batch by batch, then merged as :func:`match_file` merges. ``via`` and
    ``sftp`` are :func:`smartmatch_pandas.resume`'s.
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


__all__ = ["FileResult", "match_file", "resume_file"]
