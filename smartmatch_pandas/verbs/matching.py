"""Matching: :func:`match`, which submits, waits and merges the result back."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Unpack, overload

import pandas as pd

from .. import clock as clocks
from ..errors import InputError
from ..files.streams import ACCEPTED, ArrowStream, is_arrow_stream
from ..job.waiting import check_wait_options
from ..options import Format, InvalidPolicy, check_flag, keywords_of
from ..preparation.frame import require_frame
from ..progress import ProgressArg, reporting
from ..wire.webhook import WebhookReceiver
from .keywords import MatchKwargs
from .plan import make_plan
from .streams import match_stream
from .submitting import submit_planned


@overload
def match(df: pd.DataFrame, **options: Unpack[MatchKwargs]) -> pd.DataFrame: ...
@overload
def match(df: ArrowStream, **options: Unpack[MatchKwargs]) -> Any: ...


def match(
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
    all_matches: bool = False,
    typed: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: ProgressArg = True,
    extra_params: Mapping[str, Any] | None = None,
    cache: bool = True,
    refresh: bool = False,
) -> pd.DataFrame | Any:
    """Match a contact list against the voter file; return it enriched.

    The frame's identifier columns are sent with a ``matchback_id``; the job
    is registered, recorded in the job store, uploaded, polled within the
    service's rate limit, and its deliverable is merged back. Matching the
    same data with the same options again returns the stored result without
    a new request (and says so).

    Parameters
    ----------
    df
        The contact list: a pandas DataFrame, or any Arrow stream (an object with
        ``__arrow_c_stream__``: a pyarrow Table or RecordBatchReader, a Polars
        DataFrame, a DuckDB relation), matched in batches and given back in its
        own kind (see :func:`~smartmatch_pandas.verbs.streams.match_stream`).
        Columns whose headers name a SmartMatch identifier (``first_name``,
        ``First Name``, ``ZIP Code``, ``Cell Phone``, ``DOB``, ...; see
        ``smartmatch_pandas.preparation.mapping.ALIASES``) are normalised and
        sent; others are kept in the result but not uploaded.
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
        The job's name at the service, 1-45 of ``[A-Za-z0-9_]``; generated
        (and shown) when None. Keep it: it is how a job is resumed.
    search_radius
        How far from the given address a match may be, in miles (a positive
        number, 1.5 for a mile and a half); the service's default when None.
    notification_email
        An email address the service writes to when the job is done.
    mbp_onboarding
        Onboard the matched records as a digital audience on TargetSmart's
        media platform: a further service, which may cost extra.
    digital_audience_name
        The onboarded audience's name, 1-35 of ``[A-Za-z0-9_]``.
    profile_id
        The account profile to match under (it chooses the appended fields);
        the account's default profile when None.
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
    typed
        Type the appended voter fields by the package's data dictionary: ages and
        counts as nullable integers, scores, latitudes and longitudes as floats,
        dates as ``datetime64[ms]``, party, gender, registration status and the
        like as categoricals (ids, names, ZIP codes and phones stay text). A value
        that does not fit becomes missing and is counted in the summary
        (``.attrs["smartmatch"]["typed"]``). Read on this side: the job, and its
        cached result, are the same either way.
    api_key
        TargetSmart API key; default the ``TS_API_KEY`` environment variable.
    base_url
        API base URL; default ``SMARTMATCH_BASE_URL``, else TargetSmart's API.
    poll_interval
        Seconds between polls; default ``SMARTMATCH_POLL_INTERVAL`` or 30
        (never below 30 against TargetSmart's API).
    timeout
        Seconds the call may take at most, counted from its start: the
        registration, the upload, the wait and the download together; None
        waits as long as it takes. On timeout the job goes on and can be
        resumed.
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
    pandas.DataFrame, pyarrow.Table or polars.DataFrame
        The input's kind (a pyarrow Table for a stream with no table of its
        own, such as a RecordBatchReader or a DuckDB relation): its rows, order,
        index, columns and dtypes, followed by the appended columns
        (``tsmart_match_code``, ``vb.*``, ``ts.*``) as text (typed, with
        ``typed=True``).
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
    settings = keywords_of("match", locals())
    if not isinstance(df, pd.DataFrame) and is_arrow_stream(df):
        return match_stream(df, **settings)
    check_flag("all_matches", all_matches)
    check_flag("typed", typed)
    check_wait_options(timeout)  # before anything is paid for
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"expected a pandas DataFrame, got a {type(df).__name__}: match() takes {ACCEPTED}"
        )
    frame = require_frame(df)  # MultiIndex columns refused, saying what to do
    plan = make_plan(frame, keywords_of("submit", settings))
    # The client's connections are closed once the frame is back (or the match failed:
    # a job is resumed with a client of its own). One bar through submitting, waiting
    # and merging.
    # The timeout bounds the whole call: the registration and upload too, then what is left
    # of it the wait and the download.
    deadline = None if timeout is None else clocks.CLOCK.monotonic() + timeout
    with plan.client, plan.client.within(deadline), reporting(progress) as reporter:
        job = submit_planned(frame, plan, reporter)
        left = None if deadline is None else max(0.0, deadline - clocks.CLOCK.monotonic())
        result = job.wait(timeout=left, progress=reporter).result(progress=reporter, typed=typed)
    reporter.note(result.summary.describe())
    out = result.candidates if all_matches else result.frame
    return out
