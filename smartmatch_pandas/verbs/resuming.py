"""Resuming: :func:`resume`, which picks a submitted job up again from any process."""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from .._version import __version__
from ..deliverable import MatchResult
from ..errors import InputError, OptionError
from ..files.spool import Spool
from ..files.tables import frame_of
from ..job.handle import Job
from ..job.store import JobRecord, JobStore, label_matches, service_url
from ..job.waiting import check_wait_options, resolve_poll_interval
from ..options import MatchOptions, Via, check_filename, check_flag, check_policy
from ..preparation.mapping import Choice, ColumnMapping
from ..preparation.table import frame_upload
from ..progress import ProgressArg, Reporter, reporting
from ..wire.http import SmartMatchClient, resolve_base_url
from .submitting import reregister, upload_job

if TYPE_CHECKING:
    from ..wire.sftp import SFTPSettings


def resume(
    filename: str,
    df: pd.DataFrame | None = None,
    *,
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
) -> MatchResult:
    """Pick a submitted job up again, from any process: wait, download, merge back.

    The job is found in the job store by its filename. With the frame that
    was submitted (checked against the fingerprint of what was uploaded),
    the result is merged back exactly as :func:`match` would have done.

    Parameters
    ----------
    filename
        The job's filename, as printed when it was submitted.
    df
        The frame that was submitted. Without it, ``result.frame`` holds the
        uploaded columns as the service returned them, one row per uploaded
        row in upload order (the index is the row's position), followed by
        the appended columns; ``result.additional`` likewise.
    typed
        Type the appended voter fields as :func:`match` does with ``typed=True``
        (:meth:`MatchResult.typed`); the misfits are in ``result.summary.misfits``.
    timeout
        Seconds to wait for the service at most; None waits as long as it takes.
    progress
        True for a progress bar, False for silence, or a callable receiving
        :class:`~smartmatch_pandas.progress.ProgressEvent`.
    api_key
        TargetSmart API key; default ``TS_API_KEY`` (it is never stored).
    base_url
        The service's base URL; default the one the job was submitted to.
    poll_interval
        Seconds between polls; default the one the job was submitted with.
    cache
        Use and keep the result in the result cache (as the job was
        submitted: a job submitted with ``cache=False`` is never cached).
    reupload
        For a job registered but never uploaded: upload the frame under the
        same filename. False says the upload did finish (the service refused
        to register the filename again): just wait.
    via
        ``"sftp"`` fetches the deliverable from the account's SFTP drop instead
        of polling (needs the ``sftp`` extra); ``"poll"`` polls; None (the
        default) waits the way the job was submitted to.
    sftp
        With ``via="sftp"``: :class:`~smartmatch_pandas.wire.sftp.SFTPSettings` or a
        dict of its fields; the ``TS_SFTP_*`` environment fills the rest.

    Returns
    -------
    MatchResult
        ``.frame`` (what :func:`match` returns), ``.candidates`` (what
        ``match(all_matches=True)`` returns), ``.additional``, ``.summary``
        and ``.files``.

    Raises
    ------
    InputError
        ``df`` is not the frame that was submitted; or the job was never
        uploaded and no frame was given.
    JobFailedError, JobTimeoutError, ServiceError, StorageError, TransportError
        As :func:`match`; the job stays resumable.

    Examples
    --------
    >>> result = smartmatch_pandas.resume("sm_20261128_101500_3f9a1c7d2e", df)  # doctest: +SKIP
    >>> result.frame                                                            # doctest: +SKIP
    """
    check_filename(filename)
    check_flag("cache", cache)
    check_flag("reupload", reupload)
    check_flag("typed", typed)
    check_wait_options(timeout, via, sftp)
    given: object = df  # a Polars frame or a pyarrow Table is taken too
    if given is not None and not isinstance(given, pd.DataFrame):
        df = submitted_as_pandas(given)
    store = JobStore()
    with reporting(progress) as reporter:
        job = resumed_job(
            store,
            filename,
            df,
            reporter,
            api_key=api_key,
            base_url=base_url,
            poll_interval=poll_interval,
            cache=cache,
            reupload=reupload,
        )
        job.wait(timeout=timeout, progress=reporter, via=via, sftp=sftp)
        result = job.result(progress=reporter, typed=typed)
    reporter.note(result.summary.describe())
    return result


def resumed_job(
    store: JobStore,
    filename: str,
    df: pd.DataFrame | None,
    reporter: Reporter,
    *,
    api_key: str | None,
    base_url: str | None,
    poll_interval: float | None,
    cache: bool,
    reupload: bool,
    upload: Callable[[JobRecord], tuple[Spool, dict[str, pa.Array]]] | None = None,
) -> Job:
    """The job ``filename`` picked up again; ``upload`` makes its upload again, checked
    against what was sent, for a list given otherwise than as ``df`` (a file)."""
    record = store.load(filename)
    if record is None:
        return _unrecorded_job(store, filename, df, reporter, api_key, base_url, poll_interval)
    client = SmartMatchClient(api_key=api_key, base_url=_recorded_base_url(record, base_url))
    interval = resolve_poll_interval(
        poll_interval if poll_interval is not None else record.poll_interval, client.base_url
    )
    if upload is None and df is not None:
        frame = df
        upload = lambda record: _same_frame_body(frame, record)  # noqa: E731
    # Made (and checked against what was sent) once: kept for a re-upload, if one is due.
    body, presence = upload(record) if upload is not None else (None, None)
    try:
        job = Job.from_record(
            record, client, store, frame=df, poll_interval=interval, cache=cache and record.cache
        )
        job.keep_presence(presence)
        # The filename is read first: a result cached for another job is not loaded at all.
        cached = (
            store.results.load(record.key)
            if job.cache and store.results.filename_of(record.key) == filename
            else None
        )
        if cached is not None:
            reporter.note(
                f"SmartMatch job {filename}: using its result saved {cached.saved_at}, with no "
                "request to the service."
            )
            job = Job.from_cached(
                cached,
                client,
                options=job.options,
                mapping=job.mapping,
                rows=record.rows,
                poll_interval=interval,
                frame=df,
                cache_key=record.key,
            )
            job.keep_presence(presence)
            return job
        reporter.note(
            f"Resuming SmartMatch job {filename}: {record.rows:,} rows submitted "
            f"{record.submitted_at} to {record.host}, {record.polls} polls so far "
            f"({record.state})."
        )
        if job.state == "registered":
            if body is None:
                raise InputError(
                    f"job {filename!r} was registered but never uploaded, so nothing is being "
                    "matched; pass the frame you submitted to upload it: "
                    f"smartmatch_pandas.resume({filename!r}, df)",
                    filename=filename,
                )
            if reupload:
                upload_job(job, body, reporter, reregister(job, reporter))
            else:
                job.mark_uploaded()
        return job
    finally:
        if body is not None:
            body.close()


def _unrecorded_job(
    store: JobStore,
    filename: str,
    df: pd.DataFrame | None,
    reporter: Reporter,
    api_key: str | None,
    base_url: str | None,
    poll_interval: float | None,
) -> Job:
    """A job the store has no record of: fetched by filename alone, without a frame."""
    if df is not None:
        raise InputError(
            f"there is no record of job {filename!r} in the job store at {store.home}, so the "
            "frame cannot be checked against what was uploaded: resume it without a frame, "
            f"smartmatch_pandas.resume({filename!r}), to get the service's tables, or set "
            "SMARTMATCH_HOME to the job store that submitted it"
        )
    client = SmartMatchClient(api_key=api_key, base_url=base_url)
    reporter.note(
        f"SmartMatch job {filename}: no record in the job store at {store.home}; asking "
        f"{client.host} for it."
    )
    return Job(
        client,
        filename,
        options=MatchOptions(filename=filename),
        mapping=None,
        rows=0,
        poll_interval=resolve_poll_interval(poll_interval, client.base_url),
        cache=False,
        # No record to keep, but the store holds the key's poll budget: a job fetched by
        # name takes its turn with every other process's jobs.
        store=store,
    )


def _recorded_base_url(record: JobRecord, base_url: str | None) -> str:
    """The service the job was submitted to; a different ``base_url`` is an error."""
    if base_url is not None and service_url(resolve_base_url(base_url)) != record.service:
        raise OptionError(
            f"job {record.filename!r} was submitted to {record.service}, not to "
            f"{service_url(resolve_base_url(base_url))}: leave base_url out to resume it there"
        )
    return record.service


def _same_frame_body(df: pd.DataFrame, record: JobRecord) -> tuple[Spool, dict[str, pa.Array]]:
    """The upload ``df`` makes with the job's mapping, checked against its fingerprint
    (the caller closes it), and which rows it sends a value for."""
    mapping = recorded_mapping(df.columns, record)
    body, presence = frame_upload(df, mapping, check_policy(record.invalid))
    if body.fingerprint == record.fingerprint:
        return body, presence
    body.close()
    raise not_the_list_submitted(record, len(df))


def recorded_mapping(
    columns: Iterable[Hashable], record: JobRecord, what: str = "frame"
) -> ColumnMapping:
    """The job's mapping, in the list's own column labels.

    Raises
    ------
    InputError
        The list lacks a column the job uploaded.
    """
    pairs = []
    for stored, identifier in record.mapping:
        column = next((c for c in list(columns) if label_matches(stored, c)), _MISSING)
        if column is _MISSING:
            shown = stored["repr"] if isinstance(stored, dict) else repr(stored)
            raise InputError(
                f"the {what} has no column {shown}, which job {record.filename!r} uploaded as "
                f"{identifier!r}: pass the {what} that was submitted",
                filename=record.filename,
            )
        pairs.append((column, str(identifier)))
    labels = list(columns)

    def label_of(stored: Any) -> Hashable | None:
        return None if stored is None else next(c for c in labels if label_matches(stored, c))

    try:
        choices = tuple(
            Choice(
                tuple(choice["identifiers"]),
                tuple(tuple(label_of(c) for c in option) for option in choice["options"]),
            )
            for choice in record.choices
        )
    except StopIteration:
        raise InputError(
            f"the {what} lacks a column job {record.filename!r} chose values from: pass the "
            f"{what} that was submitted",
            filename=record.filename,
        ) from None
    return ColumnMapping(tuple(pairs), choices=choices)


def not_the_list_submitted(record: JobRecord, rows: int, what: str = "frame") -> InputError:
    """The error for a list whose upload is not the job's (its fingerprint differs)."""
    if rows != record.rows:
        detail = f"it has {rows:,} rows where the upload had {record.rows:,}"
    else:
        detail = "its uploaded columns hold other values, or its rows are in another order"
    if record.version != __version__:
        detail += (
            f" (the job was submitted with smartmatch-pandas {record.version}, which may "
            f"have prepared the upload differently from {__version__})"
        )
    return InputError(
        f"the {what} is not the one submitted as job {record.filename!r}: {detail}. Pass the "
        f"{what} that was submitted, or resume without a {what} to get the service's tables: "
        f"smartmatch_pandas.resume({record.filename!r})",
        filename=record.filename,
    )


_MISSING: Any = object()


def submitted_as_pandas(df: object) -> pd.DataFrame:
    """A Polars DataFrame or pyarrow Table that was submitted, as the pandas frame the
    form (and the job's check) reads it as; a stream cannot be given again.

    Raises
    ------
    InputError
        ``df`` is neither: it says to match the same list again instead.
    """
    polars = sys.modules.get("polars")  # never imported here: a Polars frame brought it
    if polars is not None and isinstance(df, polars.DataFrame):
        return frame_of(df.to_arrow())
    if isinstance(df, pa.Table):
        return frame_of(df)
    raise InputError(
        f"df must be the list that was submitted, as a pandas or Polars DataFrame or a "
        f"pyarrow Table, not a {type(df).__name__}: for a stream, match the same list "
        "again with the same options (it picks the job up, at no cost)"
    )
