"""Matching a Dask DataFrame: ONE job for the whole frame, the result a lazy Dask frame.

What runs where:

1. **On the client**, the frame's partitions are computed one at a time (only
   the mapped columns) and appended to a single upload
   (:func:`~smartmatch_pandas.preparation.batched.upload_frames`: byte for
   byte the upload of the whole frame in pandas, so ``matchback_id`` is the
   row's position in the whole frame). The job is registered, uploaded and
   waited for there, as any other.
2. **On the client**, the deliverable is read once, a range of rows at a time
   (:func:`~smartmatch_pandas.deliverable.batched.slice_deliverable`: never
   whole), and cut into one Parquet piece per partition
   (:class:`~smartmatch_pandas.deliverable.pieces.PartitionPieces`), in a
   private temporary folder that the lazy result holds and removes when it is
   released.
3. **On the workers**, each partition's task reads its own piece and merges it
   (:func:`~smartmatch_pandas.deliverable.pieces.merged_partition`): the result
   has the input's partitions, divisions, index and columns, then the
   appended columns as text.

Dask is imported only here, when a Dask frame is matched.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

import pandas as pd

from ..deliverable.batched import slice_deliverable
from ..deliverable.pieces import (
    PartitionPieces,
    empty_appended,
    merged_partition,
    partition_fingerprint,
)
from ..deliverable.summary import MatchSummary, result_attrs
from ..errors import InputError, OptionError
from ..identifiers import MATCHBACK_ID
from ..job.handle import RESUME_COMMAND, Job
from ..job.store import JobRecord, JobStore
from ..job.waiting import check_wait_options
from ..options import InvalidPolicy, check_flag, check_policy
from ..preparation.batched import Upload, upload_frames
from ..preparation.check import CheckReport, check_frame
from ..preparation.frame import repeated_message
from ..preparation.mapping import ColumnMapping, resolve_mapping
from ..preparation.table import prepare_frame
from ..progress import Reporter, reporting
from .keywords import MatchKwargs, ResumeKwargs, SubmitKwargs
from .plan import Plan, make_plan
from .resuming import not_the_list_submitted, recorded_mapping, resumed_job
from .submitting import submit_body

if TYPE_CHECKING:
    import dask.dataframe as dd

#: What the list is called in errors.
_WHAT = "Dask frame"


def dask_mapping(
    ddf: dd.DataFrame, columns: Mapping[Hashable, str | None] | None = None
) -> ColumnMapping:
    """The Dask frame's columns mapped to identifiers (from its columns alone: nothing is
    computed).

    Raises
    ------
    InputError
        A mapped column's name appears more than once.
    """
    labels = list(ddf.columns)
    mapping = resolve_mapping(pd.Index(labels).unique(), columns)
    for column in mapping.columns:
        if labels.count(column) > 1:
            raise InputError(repeated_message(column, _WHAT))
    return mapping


def match_dask(ddf: dd.DataFrame, **options: Unpack[MatchKwargs]) -> dd.DataFrame:
    """Match a Dask DataFrame as ONE job; return the enriched frame, lazily.

    The partitions are computed one at a time on the client into a single
    upload; the job is waited for on the client; each partition is merged with
    its share of the deliverable by its own task (see the module's docstring).

    Parameters
    ----------
    ddf
        The contact list, as a Dask DataFrame.
    **options
        :func:`smartmatch_pandas.match`'s keyword arguments, but ``all_matches``
        (one row per candidate has no partitions of the input's).

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy: the input's partitions, divisions, index, columns and dtypes,
        followed by the appended columns as text. ``.attrs["smartmatch"]``
        holds the job's filename and summary in the computed frame, as for a pandas
        frame (and at once in ``result.smartmatch.attrs``).

    Raises
    ------
    OptionError, InputError
        Before anything is sent, naming the option or column at fault.
    SmartMatchError
        As :func:`smartmatch_pandas.match`; after registration each says how to
        pick the job up again (``ddf.smartmatch.resume(filename)``).
    """
    if options.pop("all_matches", False):
        raise OptionError(
            "all_matches=True is not available for a Dask frame (its rows would not fall "
            "into the frame's partitions): match with max_matches and take the candidates "
            "from a pandas frame, or leave all_matches out"
        )
    timeout = options.pop("timeout", None)
    check_wait_options(timeout)  # before anything is paid for
    typed = check_flag("typed", options.pop("typed", False))
    progress = options.pop("progress", True)
    plan = _plan(ddf, options)
    with plan.client, reporting(progress) as reporter, _resumed_from_the_frame():
        job, uploaded = _submitted(ddf, plan, reporter)
        job.wait(timeout=timeout, progress=reporter)
        return _result(job, ddf, uploaded, reporter, typed)


def submit_dask(ddf: dd.DataFrame, **options: Unpack[SubmitKwargs]) -> Job:
    """Submit a Dask DataFrame as ONE job without waiting; pick it up with
    :func:`resume_dask` (``ddf.smartmatch.resume(job.filename)``).

    Parameters
    ----------
    ddf
        The contact list, as a Dask DataFrame.
    **options
        :func:`smartmatch_pandas.submit`'s keyword arguments.

    Returns
    -------
    Job
        The submitted job.
    """
    progress = options.pop("progress", True)
    plan = _plan(ddf, options)
    with reporting(progress) as reporter, _resumed_from_the_frame():
        return _submitted(ddf, plan, reporter)[0]


def resume_dask(filename: str, ddf: dd.DataFrame, **options: Unpack[ResumeKwargs]) -> dd.DataFrame:
    """Pick job ``filename`` (submitted from ``ddf``) up again; return the enriched frame,
    lazily, as :func:`match_dask` does.

    The partitions are computed again to check them against the job's upload
    (and to upload them again if the job never was).

    Raises
    ------
    InputError
        The job store has no record of ``filename``, or ``ddf`` is not the list
        that was submitted.
    SmartMatchError
        As :func:`smartmatch_pandas.resume`.
    """
    store = JobStore()
    if store.load(filename) is None:
        raise InputError(
            f"there is no record of job {filename!r} in the job store at {store.home}, so "
            f"the {_WHAT} cannot be checked against what was uploaded: resume it without "
            "the frame (smartmatch_pandas.resume) to get the service's tables, or set "
            "SMARTMATCH_HOME to the job store that submitted it",
            filename=filename,
        )
    uploaded = _Uploaded()
    via, sftp = options.pop("via", None), options.pop("sftp", None)
    timeout = options.pop("timeout", None)
    typed = check_flag("typed", options.pop("typed", False))

    def upload(record: JobRecord) -> tuple[Any, dict[str, Any]]:
        mapping = recorded_mapping(ddf.columns, record, what=_WHAT)
        made = _upload(ddf, mapping, check_policy(record.invalid), uploaded)
        if made.body.fingerprint != record.fingerprint:
            made.body.close()
            raise not_the_list_submitted(record, made.rows, what=_WHAT)
        return made.body, made.presence

    with reporting(options.pop("progress", True)) as reporter, _resumed_from_the_frame():
        job = resumed_job(
            store,
            filename,
            None,
            reporter,
            api_key=options.get("api_key"),
            base_url=options.get("base_url"),
            poll_interval=options.get("poll_interval"),
            cache=options.get("cache", True),
            reupload=options.get("reupload", True),
            upload=upload,
        )
        job.wait(timeout=timeout, progress=reporter, via=via, sftp=sftp)
        return _result(job, ddf, uploaded, reporter, typed)


def prepare_dask(
    ddf: dd.DataFrame,
    columns: Mapping[Hashable, str | None] | None = None,
    *,
    invalid: InvalidPolicy = "keep",
) -> dd.DataFrame:
    """Exactly what would be uploaded for ``ddf``, lazily, partition by partition; nothing
    is sent. ``matchback_id`` is the row's position in the whole frame (the partitions'
    lengths are computed first).
    """
    policy = check_policy(invalid)
    dask_mapping(ddf, columns)  # refused now, not when computed
    lengths = _each_partition(ddf, len, meta=(None, "int64")).compute()  # type: ignore[no-untyped-call]
    starts = lengths.cumsum().shift(fill_value=0).tolist()
    meta = prepare_frame(ddf._meta, columns, invalid=policy)
    return _each_partition(ddf, _prepared_partition, columns, policy, starts, meta=meta)


def check_dask(
    ddf: dd.DataFrame, columns: Mapping[Hashable, str | None] | None = None, *, examples: int = 5
) -> CheckReport:
    """:func:`~smartmatch_pandas.check_frame` of the Dask frame: only the mapped columns are
    computed, onto the client."""
    mapping = dask_mapping(ddf, columns)
    sent = [c for c in ddf.columns if c in set(mapping.columns)]
    kept = {c: i for c, i in (columns or {}).items() if c in set(sent)}
    return check_frame(ddf[sent].compute(), kept or None, examples=examples)


# -- the steps --------------------------------------------------------------------------


@contextmanager
def _resumed_from_the_frame() -> Iterator[None]:
    """Errors and Ctrl-C say to pick the job up from the Dask frame, not a pandas one."""
    token = RESUME_COMMAND.set(lambda filename: f"ddf.smartmatch.resume({filename!r})")
    try:
        yield
    finally:
        RESUME_COMMAND.reset(token)


def _plan(ddf: dd.DataFrame, options: Mapping[str, Any]) -> Plan:
    return make_plan(None, options, dask_mapping(ddf, options.get("columns")))


@dataclass
class _Uploaded:
    """What each partition held as it was uploaded: its rows, and a fingerprint of its
    mapped columns (checked again as the partition is merged)."""

    mapped: list[Hashable] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)

    def note(self, part: pd.DataFrame) -> None:
        self.lengths.append(len(part))
        self.fingerprints.append(partition_fingerprint(part))


def _partitions(ddf: dd.DataFrame, uploaded: _Uploaded) -> Iterator[pd.DataFrame]:
    """The mapped columns of each partition, computed one at a time (each noted)."""
    sent = ddf[uploaded.mapped]
    for number in range(sent.npartitions):
        part = sent.get_partition(number).compute()
        uploaded.note(part)
        yield part


def _upload(
    ddf: dd.DataFrame, mapping: ColumnMapping, invalid: InvalidPolicy, uploaded: _Uploaded
) -> Upload:
    uploaded.mapped = [c for c in ddf.columns if c in set(mapping.columns)]
    uploaded.lengths.clear()
    uploaded.fingerprints.clear()
    return upload_frames(_partitions(ddf, uploaded), mapping, invalid, f"the {_WHAT}")


def _submitted(ddf: dd.DataFrame, plan: Plan, reporter: Reporter) -> tuple[Job, _Uploaded]:
    reporter.stage("preparing")
    uploaded = _Uploaded()
    upload = _upload(ddf, plan.mapping, plan.invalid, uploaded)
    job = submit_body(
        upload.body, plan, reporter, frame=None, rows=upload.rows, presence=upload.presence
    )
    return job, uploaded


def _result(
    job: Job, ddf: dd.DataFrame, uploaded: _Uploaded, reporter: Reporter, typed: bool = False
) -> dd.DataFrame:
    """The lazy enriched frame: the deliverable read once, into one piece per partition
    (with ``typed``, each partition types its voter fields as it is merged)."""
    assert job.mapping is not None  # a recorded job's
    sent = [*job.mapping.identifiers, MATCHBACK_ID]
    meta: pd.DataFrame = ddf._meta

    def cut(files: Mapping[str, bytes]) -> tuple[PartitionPieces, MatchSummary]:
        reporter.stage("merging")
        assert job.presence is not None  # made from the frame, uploaded or checked
        sliced = slice_deliverable(
            files,
            rows=job.rows,
            sent=sent,
            presence=job.presence,
            columns=list(meta.columns),
            filename=job.filename,
            typed=typed,
            witness=job.witness,
        )
        try:
            attrs = {"smartmatch": result_attrs(job.filename, sliced.summary, sliced.renamed)}
            pieces = PartitionPieces.write(
                sliced.names,
                uploaded.lengths,
                sliced.appended_rows,
                attrs,
                typed_fields=sliced.typed_fields,
                fingerprints=uploaded.fingerprints,
                mapped=uploaded.mapped,
            )
        finally:
            sliced.close()
        return pieces, sliced.summary

    pieces, summary = job.merged(cut, reporter)
    reporter.note(summary.describe())
    from dask.dataframe.utils import clear_known_categories

    meta = empty_appended(meta, pieces)
    # A partition's categories are its own: the result's are unknown until computed.
    categories = [c for c in pieces.typed_fields if isinstance(meta[c].dtype, pd.CategoricalDtype)]
    meta = clear_known_categories(meta, cols=categories)  # type: ignore[no-untyped-call]
    return _each_partition(ddf, merged_partition, pieces, meta=meta)


def _each_partition(ddf: dd.DataFrame, func: Any, *args: Any, meta: Any) -> dd.DataFrame:
    """``func`` on each partition (with its ``partition_info``), lazily: the partitions
    and divisions kept."""
    mapped: dd.DataFrame = ddf.map_partitions(  # type: ignore[no-untyped-call]
        func, *args, meta=meta, align_dataframes=False
    )
    return mapped


def _prepared_partition(
    part: pd.DataFrame,
    columns: Mapping[Hashable, str | None] | None,
    invalid: InvalidPolicy,
    starts: list[int],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    prepared = prepare_frame(part, columns, invalid=invalid)
    start = starts[partition_info["number"]] if partition_info is not None else 0
    ids = pd.Series(range(start, start + len(part)), index=part.index).astype(str)
    prepared[MATCHBACK_ID] = ids.astype(prepared[MATCHBACK_ID].dtype)
    return prepared


__all__ = [
    "check_dask",
    "dask_mapping",
    "match_dask",
    "prepare_dask",
    "resume_dask",
    "submit_dask",
]
