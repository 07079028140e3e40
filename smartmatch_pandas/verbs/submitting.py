"""Submitting: :func:`submit`, and registering, recording and uploading a job.

A job is recorded in the job store before its registration, so it can be
resumed from any process; the same data with the same options is matched once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import (
    InputError,
    OptionError,
    ServiceError,
    SmartMatchError,
    StorageError,
    UnreachableError,
    ValidationError,
)
from ..files.spool import Spool
from ..files.streams import ACCEPTED, ArrowStream, is_arrow_stream
from ..job.cache import CachedResult
from ..job.handle import Job
from ..job.store import JobRecord, JobStore, cache_key, service_url
from ..options import Format, InvalidPolicy, keywords_of
from ..preparation.frame import require_frame
from ..preparation.table import frame_upload
from ..progress import ProgressArg, Reporter, reporting
from ..wire.retry import Retrying, is_expired_url, is_transient, watching
from ..wire.secrets import SecretURL
from ..wire.webhook import WebhookReceiver
from .plan import Plan, make_plan


def submit(
    df: pd.DataFrame | ArrowStream,
    *,
    max_matches: int = 1,
    format: Format = "csv",
    include_email: bool = False,
    include_landline: bool = False,
    include_wireless: bool = False,
    include_voip: bool = False,
    webhook: str | WebhookReceiver | None = None,
    filename: str | None = None,
    search_radius: float | None = None,
    notification_email: str | None = None,
    mbp_onboarding: bool = False,
    digital_audience_name: str | None = None,
    profile_id: str | None = None,
    columns: Mapping[Hashable, str | None] | None = None,
    invalid: InvalidPolicy = "keep",
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    progress: ProgressArg = True,
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

    ``df`` may be any Arrow stream, as for :func:`match`
    (:func:`~smartmatch_pandas.verbs.streams.submit_stream`).

    When the same data was submitted before with the same options, no new
    job is made (``refresh=True`` makes one): the returned job is the
    earlier one, finished (from the result cache) or still running (picked
    up rather than paid for twice).

    Examples
    --------
    >>> job = smartmatch_pandas.submit(df, max_matches=3)   # doctest: +SKIP
    >>> job.wait().result().frame                           # doctest: +SKIP
    """
    settings = keywords_of("submit", locals())
    if not isinstance(df, pd.DataFrame) and is_arrow_stream(df):
        from .streams import submit_stream  # it submits through this module's submit_body

        return submit_stream(df, **settings)
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"expected a pandas DataFrame, got a {type(df).__name__}: submit() takes {ACCEPTED}"
        )
    frame = require_frame(df)  # MultiIndex columns refused, saying what to do
    plan = make_plan(frame, settings)
    with reporting(progress) as reporter:
        job = submit_planned(frame, plan, reporter)
    job.progress = progress  # its wait() shows what its submission showed
    return job


def submit_planned(df: pd.DataFrame, plan: Plan, reporter: Reporter) -> Job:
    """Submit ``df`` as ``plan`` says, reporting to ``reporter``."""
    reporter.stage("preparing")
    body, presence = frame_upload(df, plan.mapping, plan.invalid)
    return submit_body(body, plan, reporter, frame=df, rows=len(df), presence=presence)


def submit_body(
    body: Spool,
    plan: Plan,
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
        fingerprint = body.fingerprint
        key = cache_key(plan.client.base_url, fingerprint, plan.options)
        earlier = None if plan.refresh else _earlier_job(frame, rows, plan, key, body, reporter)
        job = earlier or _new_job(frame, rows, plan, body, fingerprint, key, reporter)
    job.keep_presence(presence)
    return job


def earlier_job(df: pd.DataFrame, **settings: Any) -> Job | None:
    """The job that matched, or is matching, ``df`` with these :func:`submit` keywords,
    found in the result cache and the job store without a request; None if there is none.

    A face shows it for a frame it is given (the form does, when its cell is run
    again); :func:`submit` would return the same job.

    Raises
    ------
    OptionError, InputError
        A keyword breaks its rule, or the frame cannot be matched.
    """
    plan = make_plan(df, settings)
    body, presence = frame_upload(df, plan.mapping, plan.invalid)
    with body:
        key = cache_key(plan.client.base_url, body.fingerprint, plan.options)
        cached = _cached(plan, key)
        record = None if cached is not None else plan.store.pending(key)
        if cached is not None:
            job = _job_from_cache(cached, df, len(df), plan, key)
        elif record is not None and record.state != "registered":
            job = _job_from_record(record, df, plan)
        else:
            return None
    job.keep_presence(presence)
    return job


def _cached(plan: Plan, key: str) -> CachedResult | None:
    return plan.store.results.load(key) if plan.cache else None


def _job_from_cache(
    cached: CachedResult, df: pd.DataFrame | None, rows: int, plan: Plan, key: str
) -> Job:
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


def _job_from_record(record: JobRecord, df: pd.DataFrame | None, plan: Plan) -> Job:
    return Job.from_record(
        record,
        plan.client,
        plan.store,
        frame=df,
        poll_interval=plan.poll_interval,
        cache=plan.cache and record.cache,
    )


def _earlier_job(
    df: pd.DataFrame | None, rows: int, plan: Plan, key: str, body: Spool, reporter: Reporter
) -> Job | None:
    """The job that matched, or is matching, the same data with the same options (and the
    filename given, if one was: a job named by its user is that job, never another's)."""
    named = plan.named
    cached = _cached(plan, key)
    if cached is not None and named not in (None, cached.filename):
        cached = None
    if cached is not None:
        reporter.note(
            f"SmartMatch job {cached.filename}: the same data with the same options was "
            f"matched before (saved {cached.saved_at}); using that result, with no request "
            "to the service. refresh=True matches again.",
            kind="earlier",
        )
        return _job_from_cache(cached, df, rows, plan, key)
    record = plan.store.pending(key)
    if record is None or named not in (None, record.filename):
        return None
    reporter.note(
        f"SmartMatch job {record.filename}: the same data with the same options was "
        f"submitted at {record.submitted_at} and has not finished; picking it up rather than "
        "paying twice. refresh=True submits anew.",
        kind="earlier",
    )
    job = _job_from_record(record, df, plan)
    if job.state == "registered":
        upload_job(job, body, reporter, reregister(job, reporter))
    if plan.receiver is not None and plan.receiver.knows(job.filename):
        plan.receiver.watch(job)
    return job


def _new_job(
    df: pd.DataFrame | None,
    rows: int,
    plan: Plan,
    body: Spool,
    fingerprint: str,
    key: str,
    reporter: Reporter,
) -> Job:
    client, store, options = plan.client, plan.store, plan.options
    filename = options.filename
    assert filename is not None
    previous = _previous_record(store, filename, client.base_url)
    if plan.receiver is not None:
        options = dataclasses.replace(options, webhook=plan.receiver.url_for(filename))
    reporter.note(f"SmartMatch job {filename}: {rows:,} rows, {plan.mapping}", kind="job")
    for notice in options.costs:
        reporter.note(f"Note: {notice}.", kind="cost")
    # Recorded before the registration: a job the service knows is never unknown here.
    store.save(
        JobRecord.new(
            filename=filename,
            base_url=client.base_url,
            options=options,
            mapping=plan.mapping,
            rows=rows,
            fingerprint=fingerprint,
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
        url = register_job(job, reporter, on_refusal=lambda: _restore(store, filename, previous))
        upload_job(job, body, reporter, url)
    except BaseException:
        if plan.receiver is not None:
            plan.receiver.forget(filename)
        raise
    if plan.receiver is not None:
        plan.receiver.watch(job)
    return job


def _previous_record(store: JobStore, filename: str, base_url: str) -> JobRecord | None:
    """The store's record of an earlier job of this filename, if it may be replaced."""
    taken = filename_taken(store, filename, base_url)
    if taken is not None:
        raise OptionError(taken)
    return store.load(filename)


def filename_taken(store: JobStore, filename: str, base_url: str) -> str | None:
    """Why a new job cannot be named ``filename`` on the service at ``base_url``, in words,
    when the job store knows that name (None when it may be used).

    The service takes each filename once: a name of a job that was uploaded there is
    refused here, with no request, rather than by the service after the upload is
    prepared. A job never uploaded may be registered again; a name used on another
    service is that service's to refuse.
    """
    previous = store.load(filename)
    if previous is None or previous.state == "registered":
        return None
    when = f"submitted {previous.submitted_at[:16].replace('T', ' ')} UTC to {previous.host}"
    resume = f"smartmatch_pandas.resume({filename!r}, df)"
    if previous.pending:
        return (
            f"filename={filename!r} names a job in your job store that has not finished "
            f"({when}): pick it up with {resume}, or choose another filename"
        )
    if previous.service != service_url(base_url):
        return None
    if previous.state == "failed":
        what = "it failed at the service"
    else:
        what = f"its result is had again with {resume}"
    return (
        f"the filename {filename!r} was used by an earlier job ({when}; {what}) and the service "
        "takes each filename once: choose another filename, or leave it blank for a new one"
    )


def _restore(store: JobStore, filename: str, previous: JobRecord | None) -> None:
    """The service refused the registration: the store goes back to what it held."""
    if previous is None:
        store.remove(filename)
    else:
        store.save(previous)


def register_job(
    job: Job, reporter: Reporter, on_refusal: Callable[[], None] | None = None
) -> SecretURL:
    """Register ``job`` (again); return its upload URL.

    ``on_refusal`` is called when the registration certainly did not happen (the
    service refused it, or could not be reached at all), so that a new job's record
    does not stay behind looking resumable.
    """
    reporter.stage("registering")
    try:
        with watching(lambda retrying: _show_retry(reporter, job, retrying)):
            return job.client.register(job.options.params(job.filename))
    except UnreachableError as exc:
        if on_refusal is None:
            raise _not_uploaded(exc, job, registered="may be registered") from None
        on_refusal()
        exc.filename = None  # no job was made: there is nothing to resume
        raise exc.with_context(
            advice="no job was recorded: run the match again once the service can be reached"
        ) from None
    except ServiceError as exc:
        if is_transient(exc):
            raise _not_uploaded(exc, job, registered="may be registered") from None
        if on_refusal is None:
            raise
        on_refusal()  # refused: no job was registered, so none is offered to resume
        raise exc.not_registered() from None
    except SmartMatchError as exc:
        raise _not_uploaded(exc, job, registered="may be registered") from None


def _show_retry(reporter: Reporter, job: Job, retrying: Retrying) -> None:
    """Show that the registration is being tried again, and why (the real stage)."""
    if retrying.connecting:
        reporter.stage("connecting")
    reporter.note(
        f"SmartMatch job {job.filename}: {retrying.reason} at {job.client.address}; "
        f"trying again (retry {retrying.retry})"
    )


def reregister(job: Job, reporter: Reporter) -> SecretURL:
    """Register a job that was never uploaded again, under the same filename."""
    try:
        return register_job(job, reporter)
    except ValidationError as exc:
        exc.with_context(
            advice=f"the service refuses to register {job.filename!r} again. If the upload in "
            "fact finished before the interruption, the job is running: wait for it with "
            f"smartmatch_pandas.resume({job.filename!r}, df, reupload=False). Otherwise "
            "submit the frame anew with smartmatch_pandas.match(df, ..., refresh=True)",
            filename=job.filename,
        )
        raise


def upload_job(job: Job, body: Spool, reporter: Reporter, url: SecretURL) -> None:
    """Upload ``body`` for a registered ``job``; it is then running at the service."""
    reporter.stage("uploading", total=len(body))
    try:
        try:
            job.client.upload(
                url, body.reader(), on_progress=reporter.advance, filename=job.filename
            )
        except StorageError as exc:
            if not is_expired_url(exc):
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
    job.mark_uploaded()


def _not_uploaded(
    exc: SmartMatchError, job: Job, *, registered: str = "is registered"
) -> SmartMatchError:
    """Say in ``exc`` that nothing is being matched yet, and how to upload the job."""
    return exc.with_context(
        advice=f"the job {registered} but not uploaded, so nothing is being matched: "
        f"upload it with {job.resume_call}",
        filename=job.filename,
    )
