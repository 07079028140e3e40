"""A submission's plan: every keyword of :func:`~smartmatch_pandas.submit` checked, in one step,
before any request is made."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import InputError
from ..job.store import JobStore
from ..job.waiting import resolve_poll_interval
from ..options import SERVICE_OPTIONS, InvalidPolicy, MatchOptions, defaults_of, options_of
from ..preparation.check import warn_if_poor
from ..preparation.frame import NO_ROWS, repeated, repeated_message, require_frame
from ..preparation.mapping import ColumnMapping, resolve_mapping
from ..wire.http import SmartMatchClient
from ..wire.webhook import WebhookReceiver


@dataclass(frozen=True)
class Plan:
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
    #: The filename its user gave (None when it was generated): a job named so is that
    #: job, never an earlier one of the same data under another name.
    named: str | None = None


def make_plan(
    df: pd.DataFrame | None, settings: Mapping[str, Any], mapping: ColumnMapping | None = None
) -> Plan:
    """The plan for :func:`~smartmatch_pandas.submit`'s keywords ``settings`` (those left
    out take their declared defaults); ``mapping``, when given, is that of a list not in a
    frame (a file), and ``df`` is then None.

    Raises
    ------
    OptionError, InputError
        A keyword breaks its rule, or the frame cannot be matched.
    """
    values = {**defaults_of("submit"), **settings}
    webhook = values["webhook"]
    # A receiver's per-job URL is made once the filename is known.
    receiver = webhook if isinstance(webhook, WebhookReceiver) else None
    service = {option.name: values[option.name] for option in SERVICE_OPTIONS}
    options = MatchOptions(**{**service, "webhook": None if receiver else webhook})
    for option in options_of("submit"):
        if not option.service:
            values[option.name] = option.checked(values[option.name])
    if mapping is None:
        mapping = checked_frame(df, values["columns"])
    client = SmartMatchClient(api_key=values["api_key"], base_url=values["base_url"])
    interval = resolve_poll_interval(values["poll_interval"], client.base_url)
    warn_if_poor(mapping)  # once the rest is known good; before anything is sent or paid for
    return Plan(
        options=options.with_filename(),
        mapping=mapping,
        client=client,
        poll_interval=interval,
        store=JobStore(),
        cache=values["cache"],
        refresh=values["refresh"],
        receiver=receiver,
        invalid=values["invalid"],
        named=options.filename,
    )


def checked_frame(df: object, columns: Mapping[Hashable, str | None] | None) -> ColumnMapping:
    """Check that ``df`` can be matched; return its column mapping."""
    frame = require_frame(df)
    if len(frame) == 0:
        raise InputError(NO_ROWS)
    mapping = resolve_mapping(frame.columns.unique(), columns, frame=frame)
    for column in repeated(frame, mapping.columns):
        raise InputError(repeated_message(column))
    return mapping
