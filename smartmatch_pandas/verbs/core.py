"""The verbs: ``match``, ``submit``, ``resume``, ``jobs``, ``clear_cache``.

Each is a plain, typed function; the ``df.smartmatch`` accessor and the
form only gather arguments and call them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypedDict

import pandas as pd
import pyarrow as pa

from .._version import __version__
from ..deliverable import MatchResult
from ..errors import (
    InputError,
    OptionError,
    ServiceError,
    SmartMatchError,
    StorageError,
    ValidationError,
)
from ..files.spool import Spool
from ..job.handle import Job, Via, _transient, check_wait_options, resolve_poll_interval
from ..job.store import JobRecord, JobStore, cache_key, label_matches, service_url
from ..options import Format, MatchOptions, check_filename
from ..preparation.final_check import check_sendable
from ..preparation.mapping import ColumnMapping, resolve_mapping
from ..preparation.normalize import InvalidPolicy, check_policy
from ..preparation.table import prepare_table, sent_presence, upload_body
from ..progress import ProgressArg, Reporter, reporting
from ..wire.http import SmartMatchClient, resolve_base_url
from ..wire.secrets import SecretURL
from ..wire.webhook import WebhookReceiver

if TYPE_CHECKING:
    from ..wire.sftp import SFTPSettings


class SubmitKwargs(TypedDict, total=False):
    """The keyword arguments of :func:`submit` (for the accessor's signature)."""

    max_matches: int
    format: Format
    include_email: bool
    include_landline: bool
    include_wireless: bool
    include_voip: bool
    webhook: str | WebhookReceiver | None
    filename: str | None
    columns: Mapping[Hashable, str | None] | None
    invalid: InvalidPolicy
    api_key: str | None
    base_url: str | None
    poll_interval: float | None
    progress: ProgressArg
    extra_params: Mapping[str, Any] | None
    cache: bool
    refresh: bool


class MatchKwargs(SubmitKwargs, total=False):
    """The keyword arguments of :func:`match` (for the accessor's signature)."""

    all_matches: bool
    timeout: float | None


class ResumeKwargs(TypedDict, total=False):
    """The keyword arguments of :func:`resume` (for the accessor's signature)."""

    timeout: float | None
    progress: ProgressArg
    api_key: str | None
    base_url: str | None
    poll_interval: float | None
    cache: bool
    reupload: bool
    via: Via | None
    sftp: SFTPSettings | Mapping[str, Any] | None


def submit(
    df: pd.DataFrame,
    *,
    max_matches: int = 1,
    format: Format = "csv",
    include_email: bool = False,
    include_landline: bool = False,
    include_wireless: bool = False,
    include_voip: bool = False,
    webhook: str | WebhookReceiver | None = None,
    filename: str | None = None,
    columns: Mapping[Hashable, str | None] | None = None,
    invalid: InvalidPolicy = "keep",
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    progress: ProgressArg | Reporter = True,
    extra_params: Mapping[str, Any] | None = None,
    cache: bool = True,
    refresh: bool = False,
) -> Job:
    """Register a SmartMatch job for ``df`` and upload it; return without waiting.

    Takes the same arguments as :func:`match` but ``all_matches`` and
    ``timeout``. The job is recorded in the job store before its upload, so
    it can be resumed from any process by its filename. The returned
    :class:`~smartmatch_pandas.job.handle.Job` is waited for with ``job.wait()`` and
    read with ``job.result()``.

    When the same data was submitted before with the same options, no new
    job is made (``refresh=True`` makes one): the returned job is the
    earlier one, finished (from the result cache) or still running (picked
    up rather than paid for twice).

    Examples
    --------
    >>> job = smartmatch_pandas.submit(df, max_matches=3)   # doctest: +SKIP
    >>> job.wait().result().frame                           # doctest: +SKIP
    """
    plan = _plan_of(
        df,
        {
            "max_matches": max_matches,
            "format": format,
            "include_email": include_email,
            "include_landline": include_landline,
            "include_wireless": include_wireless,
            "include_voip": include_voip,
            "webhook": webhook,
            "filename": filename,
            "columns": columns,
            "invalid": invalid,
            "api_key": api_key,
            "base_url": base_url,
            "poll_interval": poll_interval,
            "extra_params": extra_params,
            "cache": cache,
            "refresh": refresh,
        },
    )
    with reporting(progress) as reporter:  # match()'s, or one of its own
        return _submit(df, plan, reporter)


@dataclass(frozen=True)
class _Plan:
    """Everything a submission needs, checked before any request is made."""

    options: MatchOptions
    mapping: ColumnMapping
    client: SmartMatchClient
    poll_interval: float
    store: JobStore
    cache: bool
    refresh: bool
    receiver: WebhookReceiver | None
    invalid: InvalidPolicy = "keep"


#: The keywords of :func:`submit` that are the service's parameters.
_SERVICE_KEYWORDS: Final = (
    "max_matches",
    "format",
    "include_email",
    "include_landline",
    "include_wireless",
    "include_voip",
    "filename",
)


def _plan_of(
    df: pd.DataFrame | None, settings: SubmitKwargs, mapping: ColumnMapping | None = None
) -> _Plan:
    """The plan for :func:`submit`'s keywords (those left out take its defaults)."""
    webhook = settings.get("webhook")
    service: dict[str, Any] = {k: v for k, v in settings.items() if k in _SERVICE_KEYWORDS}
    options = MatchOptions(
        **service,
        webhook=_webhook_url(webhook),
        extra_params=settings.get("extra_params") or {},
    )
    return _plan(
        df,
        settings.get("columns"),
        settings.get("api_key"),
        settings.get("base_url"),
        settings.get("poll_interval"),
        options,
        invalid=settings.get("invalid", "keep"),
        cache=settings.get("cache", True),
        refresh=settings.get("refresh", False),
        webhook=webhook,
        mapping=mapping,
    )


def _plan(
    df: pd.DataFrame | None,
    columns: Mapping[Hashable, str | None] | None,
    api_key: str | None,
    base_url: str | None,
    poll_interval: float | None,
    options: MatchOptions,
    *,
    cache: bool,
    refresh: bool,
    webhook: str | WebhookReceiver | None,
    invalid: InvalidPolicy = "keep",
    mapping: ColumnMapping | None = None,
) -> _Plan:
    """Everything checked; ``mapping``, when given, is that of a list not in a frame."""
    policy = check_policy(invalid)
    _check_flag("cache", cache)
    _check_flag("refresh", refresh)
    if mapping is None:
        mapping = _checked_frame(df, columns)
    client = SmartMatchClient(api_key=api_key, base_url=base_url)
    interval = resolve_poll_interval(poll_interval, client.base_url)
    receiver = webhook if isinstance(webhook, WebhookReceiver) else None
    return _Plan(
        options.with_filename(),
        mapping,
        client,
        interval,
        JobStore(),
        cache,
        refresh,
        receiver,
        policy,
    )


def _webhook_url(webhook: str | WebhookReceiver | None) -> str | None:
    """A webhook given as a URL; a receiver's per-job URL is made once the filename is known."""
    return None if isinstance(webhook, WebhookReceiver) else webhook


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise OptionError(f"{name}={value!r} must be True or False")


def _submit(df: pd.DataFrame, plan: _Plan, reporter: Reporter) -> Job:
    reporter.stage("preparing")
    body, presence = _upload_body(df, plan.mapping, plan.invalid)
    return _submit_body(body, plan, reporter, frame=df, rows=len(df), presence=presence)


def _submit_body(
    body: Spool,
    plan: _Plan,
    reporter: Reporter,
    *,
    frame: pd.DataFrame | None,
    rows: int,
    presence: Mapping[str, pa.Array] | None,
) -> Job:
    """Submit an upload made already (and close it): the job that matched, or is matching,
    the same data with the same options, or a new one."""
    # The body is in memory, or beyond the spill threshold in a private temporary file
    # that is gone once it is closed, whatever happens.
    with body:
        data = body.fingerprint
        key = cache_key(plan.client.base_url, data, plan.options)
        earlier = None if plan.refresh else _earlier_job(frame, rows, plan, key, body, reporter)
        job = earlier or _new_job(frame, rows, plan, body, data, key, reporter)
    job._presence = presence
    return job


def _upload_body(
    df: pd.DataFrame, mapping: ColumnMapping, invalid: InvalidPolicy = "keep"
) -> tuple[Spool, dict[str, pa.Array]]:
    """The upload CSV of ``df`` with its fingerprint (the caller closes it), and which
    rows it sends a value for, per identifier (for the summary)."""
    table = prepare_table(df, mapping, invalid=invalid)
    check_sendable(table, mapping, df.index)
    body, presence = upload_body(table), sent_presence(table)
    del table
    # What normalising used is free again: hand it back rather than keep it beside what
    # comes next (Arrow's allocator keeps freed memory for reuse, thread by thread).
    pa.default_memory_pool().release_unused()
    return body, presence


def _earlier_job(
    df: pd.DataFrame | None, rows: int, plan: _Plan, key: str, body: Spool, reporter: Reporter
) -> Job | None:
    """The job that matched, or is matching, the same data with the same options."""
    cached = plan.store.load_result(key) if plan.cache else None
    if cached is not None:
        reporter.note(
            f"SmartMatch job {cached.filename}: the same data with the same options was "
            f"matched before (saved {cached.saved_at}); using that result, with no request "
            "to the service. refresh=True matches again."
        )
        return Job.from_cached(
            cached,
            plan.client,
            options=dataclasses.replace(plan.options, filename=cached.filename),
            mapping=plan.mapping,
            rows=rows,
            poll_interval=plan.poll_interval,
            frame=df,
            cache_key=key,
        )
    record = plan.store.pending(key)
    if record is None:
        return None
    reporter.note(
        f"SmartMatch job {record.filename}: the same data with the same options was "
        f"submitted at {record.submitted_at} and has not finished; picking it up rather than "
        "paying twice. refresh=True submits anew."
    )
    job = Job.from_record(
        record,
        plan.client,
        plan.store,
        frame=df,
        poll_interval=plan.poll_interval,
        cache=plan.cache and record.cache,
    )
    if job.state == "registered":
        _upload(job, body, reporter, _reregister(job))
    if plan.receiver is not None and plan.receiver.knows(job.filename):
        plan.receiver.watch(job)
    return job


def _new_job(
    df: pd.DataFrame | None,
    rows: int,
    plan: _Plan,
    body: Spool,
    data: str,
    key: str,
    reporter: Reporter,
) -> Job:
    client, store, options = plan.client, plan.store, plan.options
    filename = options.filename
    assert filename is not None
    previous = _previous_record(store, filename)
    if plan.receiver is not None:
        options = dataclasses.replace(options, webhook=plan.receiver.url_for(filename))
    reporter.note(f"SmartMatch job {filename}: {rows:,} rows, {plan.mapping}")
    for notice in options.costs:
        reporter.note(f"Note: {notice}.")
    # Recorded before the registration: a job the service knows is never unknown here.
    store.save(
        JobRecord.new(
            filename=filename,
            base_url=client.base_url,
            options=options,
            mapping=plan.mapping,
            rows=rows,
            data=data,
            key=key,
            poll_interval=plan.poll_interval,
            cache=plan.cache,
            invalid=plan.invalid,
        )
    )
    job = Job(
        client,
        filename,
        options=options,
        mapping=plan.mapping,
        rows=rows,
        poll_interval=plan.poll_interval,
        frame=df,
        state="registered",
        store=store,
        cache_key=key,
        cache=plan.cache,
    )
    try:
        url = _register(job, on_refusal=lambda: _restore(store, filename, previous))
        _upload(job, body, reporter, url)
    except BaseException:
        if plan.receiver is not None:
            plan.receiver.forget(filename)
        raise
    if plan.receiver is not None:
        plan.receiver.watch(job)
    return job


def _previous_record(store: JobStore, filename: str) -> JobRecord | None:
    """The store's record of an earlier job of this filename, if it may be replaced."""
    previous = store.load(filename)
    if previous is not None and previous.state in {"uploaded", "ready"}:
        raise OptionError(
            f"filename={filename!r} names a job in your job store that has not finished "
            f"(submitted {previous.submitted_at} to {previous.host}): pick it up with "
            f"smartmatch_pandas.resume({filename!r}, df), or choose another filename"
        )
    return previous


def _restore(store: JobStore, filename: str, previous: JobRecord | None) -> None:
    """The service refused the registration: the store goes back to what it held."""
    if previous is None:
        store.remove(filename)
    else:
        store.save(previous)


def _register(job: Job, on_refusal: Callable[[], None] | None = None) -> SecretURL:
    """Register ``job`` (again); return its upload URL."""
    try:
        return job.client.register(job.options.params(job.filename))
    except ServiceError as exc:
        if _transient(exc):
            raise _not_uploaded(exc, job, registered="may be registered") from None
        if on_refusal is not None:
            on_refusal()
        raise
    except SmartMatchError as exc:
        raise _not_uploaded(exc, job, registered="may be registered") from None


def _upload(job: Job, body: Spool, reporter: Reporter, url: SecretURL) -> None:
    """Upload ``body`` for a registered ``job``; it is then running at the service."""
    reporter.stage("uploading", total=len(body))
    try:
        try:
            job.client.upload(
                url, body.reader(), on_progress=reporter.advance, filename=job.filename
            )
        except StorageError as exc:
            if exc.status != 403:
                raise
            # The upload URL expired or was refused: registering again gives a fresh one.
            url = job.client.register(job.options.params(job.filename))
            reporter.stage("uploading", total=len(body))
            job.client.upload(
                url, body.reader(), on_progress=reporter.advance, filename=job.filename
            )
    except SmartMatchError as exc:
        raise _not_uploaded(exc, job) from None
    except KeyboardInterrupt:
        reporter.close()
        print(
            f"\nStopped before the upload finished: SmartMatch job {job.filename!r} is "
            "registered but not uploaded, so nothing is being matched. Upload it with:\n"
            f"    {job.resume_call}",
            flush=True,
        )
        raise
    job._set_state("uploaded")


def _not_uploaded(
    exc: SmartMatchError, job: Job, *, registered: str = "is registered"
) -> SmartMatchError:
    """Say in ``exc`` that nothing is being matched yet, and how to upload the job."""
    exc.filename = job.filename
    exc.message += (
        f"; the job {registered} but not uploaded, so nothing is being matched: "
        f"upload it with {job.resume_call}"
    )
    exc.args = (exc.message,)
    return exc


def match(
    df: pd.DataFrame,
    *,
    max_matches: int = 1,
    format: Format = "csv",
    include_email: bool = False,
    include_landline: bool = False,
    include_wireless: bool = False,
    include_voip: bool = False,
    webhook: str | WebhookReceiver | None = None,
    filename: str | None = None,
    columns: Mapping[Hashable, str | None] | None = None,
    invalid: InvalidPolicy = "keep",
    all_matches: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: ProgressArg = True,
    extra_params: Mapping[str, Any] | None = None,
    cache: bool = True,
    refresh: bool = False,
) -> pd.DataFrame:
    """Match a contact list against the voter file; return it enriched.

    The frame's identifier columns are sent with a ``matchback_id``; the job
    is registered, recorded in the job store, uploaded, polled within the
    service's rate limit, and its deliverable is merged back. Matching the
    same data with the same options again returns the stored result without
    a new request (and says so).

    Parameters
    ----------
    df
        The contact list. Columns whose headers name a SmartMatch identifier
        (``first_name``, ``First Name``, ``ZIP Code``, ``Cell Phone``, ``DOB``,
        ...; see ``smartmatch_pandas.preparation.mapping.ALIASES``) are normalised and sent;
        others are kept in the result but not uploaded.
    max_matches
        Candidates per row, 1-10, the best included (more than 1 may cost extra).
    format
        Compression of the deliverable asked for: ``"csv"``, ``"zip"`` or ``"gzip"``.
    include_email, include_landline, include_wireless, include_voip
        Append these contact fields (each may cost extra).
    webhook
        An http(s) URL the service POSTs to when the job is done, or a
        running :class:`~smartmatch_pandas.wire.webhook.WebhookReceiver`, which
        then completes the job without polling.
    filename
        The job's name at the service, 1-50 of ``[A-Za-z0-9_]``; generated
        (and shown) when None. Keep it: it is how a job is resumed.
    columns
        ``{frame column: identifier}`` for columns not recognised by their
        header, or to override how one is; ``None`` as the identifier keeps a
        column from being sent.
    invalid
        What is sent for a value that cannot be normalised for its identifier
        (a ZIP of ``"n/a"``, a birth date in the future): ``"keep"`` sends it
        as given, ``"blank"`` sends an empty cell, ``"raise"`` stops before
        anything is sent. Either way a warning counts them per column;
        ``df.smartmatch.check()`` shows examples.
    all_matches
        With ``max_matches > 1``, return every candidate: one row per
        candidate, best first, with a ``match_rank`` column, indexed by the
        input row's label.
    api_key
        TargetSmart API key; default the ``TS_API_KEY`` environment variable.
    base_url
        API base URL; default ``SMARTMATCH_BASE_URL``, else TargetSmart's API.
    poll_interval
        Seconds between polls; default ``SMARTMATCH_POLL_INTERVAL`` or 30
        (never below 30 against TargetSmart's API).
    timeout
        Seconds to wait for the service at most; None waits as long as it
        takes. On timeout the job goes on and can be resumed.
    progress
        True for a progress bar, False for silence, or a callable receiving
        :class:`~smartmatch_pandas.progress.ProgressEvent`.
    extra_params
        Further service parameters, passed through unchanged.
    cache
        Keep the result in the job store's result cache (readable by you
        alone) and use a result kept there; False stores no result and reads none.
    refresh
        Submit a new job even if the same data with the same options was
        matched before or is being matched now.

    Returns
    -------
    pandas.DataFrame
        The input's rows, order, index, columns and dtypes, followed by the
        appended columns (``tsmart_match_code``, ``vb.*``, ``ts.*``) as text.
        ``.attrs["smartmatch"]`` holds the job's ``filename``, the rows sent
        and matched, the match rate and the service's summary ``report``.

    Raises
    ------
    OptionError, InputError
        Before anything is sent, naming the option or column at fault.
    ServiceError, StorageError, TransportError, JobTimeoutError, DeliverableError
        After registration; each carries the job's ``filename``.
    KeyboardInterrupt
        Re-raised after printing the call that resumes the job, which goes on.

    Examples
    --------
    >>> import smartmatch_pandas  # registers df.smartmatch
    >>> enriched = df.smartmatch.match(max_matches=3)       # doctest: +SKIP
    """
    _check_flag("all_matches", all_matches)
    check_wait_options(timeout)  # before anything is paid for
    with reporting(progress) as reporter:  # one bar through submitting, waiting and merging
        job = submit(
            df,
            max_matches=max_matches,
            format=format,
            include_email=include_email,
            include_landline=include_landline,
            include_wireless=include_wireless,
            include_voip=include_voip,
            webhook=webhook,
            filename=filename,
            columns=columns,
            invalid=invalid,
            api_key=api_key,
            base_url=base_url,
            poll_interval=poll_interval,
            progress=reporter,
            extra_params=extra_params,
            cache=cache,
            refresh=refresh,
        )
        result = job.wait(timeout=timeout, progress=reporter).result(progress=reporter)
    reporter.note(result.summary.describe())
    out = result.candidates if all_matches else result.frame
    out.attrs["smartmatch"] = {"filename": job.filename, **result.summary.as_attrs()}
    return out


def resume(
    filename: str,
    df: pd.DataFrame | None = None,
    *,
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
    _check_flag("cache", cache)
    _check_flag("reupload", reupload)
    check_wait_options(timeout, via, sftp)
    if df is not None and not isinstance(df, pd.DataFrame):
        raise InputError(f"df must be the pandas DataFrame that was submitted, not a {type(df)}")
    store = JobStore()
    with reporting(progress) as reporter:
        job = _resumed_job(
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
        result = job.result(progress=reporter)
    reporter.note(result.summary.describe())
    return result


def _resumed_job(
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
        job._presence = presence
        # The filename is read first: a result cached for another job is not loaded at all.
        cached = (
            store.load_result(record.key)
            if job.cache and store.result_of(record.key) == filename
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
            job._presence = presence
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
                _upload(job, body, reporter, _reregister(job))
            else:
                job._set_state("uploaded")
        return job
    finally:
        if body is not None:
            body.close()


def _reregister(job: Job) -> SecretURL:
    """Register a job that was never uploaded again, under the same filename."""
    try:
        return _register(job)
    except ValidationError as exc:
        exc.message += (
            f"; the service refuses to register {job.filename!r} again. If the upload in "
            "fact finished before the interruption, the job is running: wait for it with "
            f"smartmatch_pandas.resume({job.filename!r}, df, reupload=False). Otherwise "
            "submit the frame anew with smartmatch_pandas.match(df, ..., refresh=True)"
        )
        exc.args = (exc.message,)
        exc.filename = job.filename
        raise


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
    body, presence = _upload_body(df, mapping, check_policy(record.invalid))
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
    return ColumnMapping(tuple(pairs))


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

#: The columns of :func:`jobs`.
JOB_COLUMNS = (
    "filename",
    "state",
    "submitted",
    "rows",
    "host",
    "max_matches",
    "format",
    "polls",
    "last_poll",
    "cached",
    "error",
    "note",
)


def jobs() -> pd.DataFrame:
    """The jobs in the job store, newest first, with their states.

    Returns
    -------
    pandas.DataFrame
        One row per job: ``filename``, ``state`` (``registered``: never
        uploaded; ``uploaded``: at the service; ``ready``; ``downloaded``;
        ``failed``), ``submitted`` and ``last_poll`` (UTC), ``rows``,
        ``host``, ``max_matches``, ``format``, ``polls`` (by every process),
        ``cached`` (its result is in the result cache), ``error`` and
        ``note`` (what to do next).

    Examples
    --------
    >>> smartmatch_pandas.jobs()        # doctest: +SKIP
    """
    store = JobStore()
    rows = []
    for record in store.records():
        cached = store.result_of(record.key) == record.filename
        rows.append(
            {
                "filename": record.filename,
                "state": record.state,
                "submitted": record.submitted_at,
                "rows": record.rows,
                "host": record.host,
                "max_matches": record.options.get("max_matches"),
                "format": record.options.get("format"),
                "polls": record.polls,
                "last_poll": record.last_poll,
                "cached": cached,
                "error": record.error,
                "note": _next_step(record, cached),
            }
        )
    frame = pd.DataFrame(rows, columns=list(JOB_COLUMNS))
    frame["submitted"] = pd.to_datetime(frame["submitted"], utc=True, format="ISO8601")
    frame["last_poll"] = pd.to_datetime(frame["last_poll"], unit="s", utc=True)
    return frame.astype({"rows": "int64", "polls": "int64", "cached": "bool"})


def _next_step(record: JobRecord, cached: bool) -> str:
    if record.state == "registered":
        return "never uploaded: resume it with the frame to upload it"
    if record.pending:
        return "at the service: resume it to wait for the result"
    if record.state == "failed":
        return "failed at the service"
    return "done; result cached" if cached else "done"


class Cleared(NamedTuple):
    """What :func:`clear_cache` removed."""

    results: int
    bytes: int
    jobs: int


def clear_cache(*, jobs: bool = False) -> Cleared:
    """Remove every cached result from the job store.

    Parameters
    ----------
    jobs
        Also forget the records of finished jobs (downloaded or failed).
        Records of unfinished jobs are always kept: they are how those jobs
        are found again.

    Returns
    -------
    Cleared
        Results removed, their size in bytes, and job records removed.
    """
    _check_flag("jobs", jobs)
    store = JobStore()
    forgotten = 0
    if jobs:
        for record in store.records():
            if not record.pending:
                store.remove(record.filename)
                forgotten += 1
    results, size = store.clear_results()
    return Cleared(results, size, forgotten)


def _checked_frame(df: object, columns: Mapping[Hashable, str | None] | None) -> ColumnMapping:
    """Check that ``df`` can be matched; return its column mapping."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got a {type(df).__name__}")
    if isinstance(df.columns, pd.MultiIndex):
        raise InputError(
            "the frame has MultiIndex columns: flatten them first, for example "
            "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
        )
    if len(df) == 0:
        raise InputError("the frame has no rows: there is nothing to match")
    mapping = resolve_mapping(df.columns.unique(), columns)
    duplicated = set(df.columns[df.columns.duplicated()])
    for column in mapping.columns:
        if column in duplicated:
            raise InputError(
                f"column {column!r} appears more than once in the frame; rename or drop the "
                "duplicates, for example df.loc[:, ~df.columns.duplicated()]"
            )
    return mapping
