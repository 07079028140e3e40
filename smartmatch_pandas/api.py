"""The verbs: ``match``, ``submit``.

Each is a plain, typed function; the ``df.smartmatch`` accessor and the
form only gather arguments and call them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import pandas as pd

from .client import SmartMatchClient
from .errors import InputError, OptionError, SmartMatchError, StorageError
from .fields import ColumnMapping, resolve_mapping
from .job import Job, resolve_poll_interval
from .options import Format, MatchOptions
from .prepare import prepare_table, write_csv
from .progress import ProgressArg, Reporter


class SubmitKwargs(TypedDict, total=False):
    """The keyword arguments of :func:`submit` (for the accessor's signature)."""

    max_matches: int
    format: Format
    include_email: bool
    include_landline: bool
    include_wireless: bool
    include_voip: bool
    webhook: str | None
    filename: str | None
    columns: Mapping[Hashable, str | None] | None
    api_key: str | None
    base_url: str | None
    poll_interval: float | None
    progress: ProgressArg
    extra_params: Mapping[str, Any] | None


class MatchKwargs(SubmitKwargs, total=False):
    """The keyword arguments of :func:`match` (for the accessor's signature)."""

    all_matches: bool
    timeout: float | None


def submit(
    df: pd.DataFrame,
    *,
    max_matches: int = 1,
    format: Format = "csv",
    include_email: bool = False,
    include_landline: bool = False,
    include_wireless: bool = False,
    include_voip: bool = False,
    webhook: str | None = None,
    filename: str | None = None,
    columns: Mapping[Hashable, str | None] | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    progress: ProgressArg = True,
    extra_params: Mapping[str, Any] | None = None,
) -> Job:
    """Register a SmartMatch job for ``df`` and upload it; return without waiting.

    Takes the same arguments as :func:`match` but ``all_matches`` and
    ``timeout``. The returned :class:`~smartmatch_pandas.job.Job` is waited
    for with ``job.wait()`` and read with ``job.result()``.

    Examples
    --------
    >>> job = smartmatch_pandas.submit(df, max_matches=3)   # doctest: +SKIP
    >>> job.wait().result().frame                           # doctest: +SKIP
    """
    plan = _plan(
        df,
        columns,
        api_key,
        base_url,
        poll_interval,
        MatchOptions(
            max_matches=max_matches,
            format=format,
            include_email=include_email,
            include_landline=include_landline,
            include_wireless=include_wireless,
            include_voip=include_voip,
            webhook=webhook,
            filename=filename,
            extra_params=extra_params or {},
        ),
    )
    reporter = Reporter(progress)
    try:
        return _submit(df, plan, reporter)
    finally:
        reporter.close()


@dataclass(frozen=True)
class _Plan:
    """Everything a submission needs, checked before any request is made."""

    options: MatchOptions
    mapping: ColumnMapping
    client: SmartMatchClient
    poll_interval: float


def _plan(
    df: pd.DataFrame,
    columns: Mapping[Hashable, str | None] | None,
    api_key: str | None,
    base_url: str | None,
    poll_interval: float | None,
    options: MatchOptions,
) -> _Plan:
    mapping = _checked_frame(df, columns)
    client = SmartMatchClient(api_key=api_key, base_url=base_url)
    interval = resolve_poll_interval(poll_interval, client.base_url)
    return _Plan(options.with_filename(), mapping, client, interval)


def _submit(df: pd.DataFrame, plan: _Plan, reporter: Reporter) -> Job:
    options, mapping, client = plan.options, plan.mapping, plan.client
    filename = options.filename
    assert filename is not None
    reporter.stage("preparing")
    body = write_csv(prepare_table(df, mapping))
    assert body is not None
    reporter.note(f"SmartMatch job {filename}: {len(df):,} rows, {mapping}")
    for notice in options.costs:
        reporter.note(f"Note: {notice}.")
    params = options.params(filename)
    job = Job(
        client,
        filename,
        options=options,
        mapping=mapping,
        rows=len(df),
        poll_interval=plan.poll_interval,
        frame=df,
        state="registered",
    )
    url = client.register(params)
    reporter.stage("uploading", total=len(body))
    try:
        try:
            client.upload(url, body, on_progress=reporter.advance, filename=filename)
        except StorageError as exc:
            if exc.status != 403:
                raise
            # The upload URL expired or was refused: registering again gives a fresh one.
            url = client.register(params)
            reporter.stage("uploading", total=len(body))
            client.upload(url, body, on_progress=reporter.advance, filename=filename)
    except SmartMatchError as exc:
        exc.filename = filename
        exc.message += (
            "; the job was registered but not uploaded, so nothing is being matched: "
            f"submit again with {job.resume_call}"
        )
        raise
    job._state = "uploaded"
    return job


def match(
    df: pd.DataFrame,
    *,
    max_matches: int = 1,
    format: Format = "csv",
    include_email: bool = False,
    include_landline: bool = False,
    include_wireless: bool = False,
    include_voip: bool = False,
    webhook: str | None = None,
    filename: str | None = None,
    columns: Mapping[Hashable, str | None] | None = None,
    all_matches: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: ProgressArg = True,
    extra_params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Match a contact list against the voter file; return it enriched.

    The frame's identifier columns are sent with a ``matchback_id``; the job
    is registered, uploaded, polled within the service's rate limit, and its
    deliverable is merged back.

    Parameters
    ----------
    df
        The contact list. Columns named as SmartMatch identifiers
        (``first_name``, ``last_name``, ``zip``, ...) are sent; others are
        kept in the result but not uploaded.
    max_matches
        Candidates per row, 1-10, the best included (more than 1 may cost extra).
    format
        Compression of the deliverable asked for: ``"csv"``, ``"zip"`` or ``"gzip"``.
    include_email, include_landline, include_wireless, include_voip
        Append these contact fields (each may cost extra).
    webhook
        An http(s) URL the service POSTs to when the job is done.
    filename
        The job's name at the service, 1-50 of ``[A-Za-z0-9_]``; generated
        (and shown) when None. Keep it: it is how a job is resumed.
    columns
        ``{frame column: identifier}`` for columns not named as identifiers;
        ``None`` as the identifier keeps a column from being sent.
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
        Seconds to wait for the service at most; None waits as long as it takes.
    progress
        True for a progress bar, False for silence, or a callable receiving
        :class:`~smartmatch_pandas.progress.ProgressEvent`.
    extra_params
        Further service parameters, passed through unchanged.

    Returns
    -------
    pandas.DataFrame
        The input's rows, order, index, columns and dtypes, followed by the
        appended columns (``tsmart_match_code``, ``vb.*``, ``ts.*``) as text.
        ``.attrs["smartmatch"]`` holds the job's ``filename`` and its
        :class:`~smartmatch_pandas.MatchSummary` (with the service's report).

    Raises
    ------
    OptionError, InputError
        Before anything is sent, naming the option or column at fault.
    ServiceError, StorageError, TransportError, JobTimeoutError, DeliverableError
        After registration; each carries the job's ``filename``.

    Examples
    --------
    >>> import smartmatch_pandas  # registers df.smartmatch
    >>> enriched = df.smartmatch.match(max_matches=3)       # doctest: +SKIP
    """
    if not isinstance(all_matches, bool):
        raise OptionError(f"all_matches={all_matches!r} must be True or False")
    plan = _plan(
        df,
        columns,
        api_key,
        base_url,
        poll_interval,
        MatchOptions(
            max_matches=max_matches,
            format=format,
            include_email=include_email,
            include_landline=include_landline,
            include_wireless=include_wireless,
            include_voip=include_voip,
            webhook=webhook,
            filename=filename,
            extra_params=extra_params or {},
        ),
    )
    reporter = Reporter(progress)
    try:
        job = _submit(df, plan, reporter)
        result = job.wait(timeout=timeout, progress=reporter).result(progress=reporter)
    finally:
        reporter.close()
    reporter.note(str(result.summary))
    out = result.candidates if all_matches else result.frame
    out.attrs["smartmatch"] = {"filename": job.filename, "summary": result.summary}
    return out


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
