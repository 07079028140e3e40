"""The verbs' keywords as TypedDicts, for the accessor's and ``match_file``'s signatures.

They hold the declared options of each verb (``tests/test_options.py`` checks
that they agree with :data:`~smartmatch_pandas.options.OPTIONS` and with the
verbs' own signatures).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from ..options import Format, InvalidPolicy, Via
from ..progress import ProgressArg
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
    search_radius: float | None
    notification_email: str | None
    mbp_onboarding: bool
    digital_audience_name: str | None
    profile_id: str | None
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
    typed: bool
    timeout: float | None


class ResumeKwargs(TypedDict, total=False):
    """The keyword arguments of :func:`resume` (for the accessor's signature)."""

    typed: bool
    timeout: float | None
    progress: ProgressArg
    api_key: str | None
    base_url: str | None
    poll_interval: float | None
    cache: bool
    reupload: bool
    via: Via | None
    sftp: SFTPSettings | Mapping[str, Any] | None
