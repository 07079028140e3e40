"""The SmartMatch request parameters, validated once before anything is sent."""

from __future__ import annotations

import numbers
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from .errors import OptionError

Format = Literal["csv", "zip", "gzip"]
FORMATS: Final[tuple[str, ...]] = get_args(Format)
FILENAME_RULE: Final = re.compile(r"[A-Za-z0-9_]{1,50}")
#: Generated filenames stay within the stricter 45-character revision of the rule.
GENERATED_FILENAME_MAX: Final = 45
INCLUDE_FLAGS: Final = ("include_email", "include_landline", "include_wireless", "include_voip")
_DOCUMENTED: Final = frozenset({"filename", "webhook", "max_matches", "format", *INCLUDE_FLAGS})


def generate_filename(prefix: str = "sm") -> str:
    """Return a new, unique job filename of at most 45 characters.

    The time stamp (UTC) makes a job easy to find again in a listing; the
    random part makes it unique.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return f"{prefix}_{stamp}_{secrets.token_hex(5)}"


def _is_bool(value: object) -> bool:
    return type(value).__name__ in {"bool", "bool_"} and value in (True, False)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def check_filename(value: object, *, name: str = "filename") -> str:
    """Return ``value`` if it is a valid SmartMatch filename, else raise `OptionError`."""
    if not isinstance(value, str) or not FILENAME_RULE.fullmatch(value):
        raise OptionError(
            f"{name}={value!r} is not a valid SmartMatch filename: use 1 to 50 letters, "
            "digits or underscores (no spaces, hyphens or extension), or leave it out "
            "to have one generated"
        )
    return value


def check_webhook(value: object) -> str:
    """Return ``value`` if it is an http(s) URL with a host, else raise `OptionError`."""
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme in {"http", "https"} and parts.hostname and " " not in value:
            return value
    raise OptionError(
        f"webhook={value!r} is not an http(s) URL: give a URL such as "
        "'https://example.org/smartmatch-done', or None"
    )


def _bool_param(value: bool) -> str:
    # "True"/"False" is what the most used client sends (Python's str of a
    # bool), so it is the spelling known to work with the real service.
    return str(value)


def _check_param_value(key: str, value: object) -> str:
    if _is_bool(value):
        return _bool_param(bool(value))
    if isinstance(value, str | numbers.Real):
        return str(value)
    raise OptionError(
        f"extra_params[{key!r}]={value!r} is a {type(value).__name__}: "
        "give a string, number or boolean"
    )


@dataclass(frozen=True, kw_only=True)
class MatchOptions:
    """The parameters of one SmartMatch request.

    Every value is checked when the object is made, so a bad value is
    reported before any request: the error names the option, the value and
    the rule.

    Parameters
    ----------
    max_matches
        Candidates returned per input row, 1-10, best included. More than one
        may cost extra.
    format
        Deliverable compression asked for: ``"csv"``, ``"zip"`` or ``"gzip"``.
        The deliverable is read by its content whatever is asked.
    include_email, include_landline, include_wireless, include_voip
        Append these contact fields; each may cost extra.
    webhook
        An http(s) URL the service POSTs ``{"callback": url}`` to when done.
    filename
        The job's name at the service (1-50 of ``[A-Za-z0-9_]``); generated
        when None.
    extra_params
        Further service parameters passed through unchanged, for parameters
        newer service revisions accept (``search_radius``, ...).

    Examples
    --------
    >>> MatchOptions(max_matches=3, format="zip").params("contacts_2026")["max_matches"]
    '3'
    """

    max_matches: int = 1
    format: Format = "csv"
    include_email: bool = False
    include_landline: bool = False
    include_wireless: bool = False
    include_voip: bool = False
    webhook: str | None = None
    filename: str | None = None
    extra_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _is_int(self.max_matches) or not 1 <= int(self.max_matches) <= 10:
            raise OptionError(
                f"max_matches={self.max_matches!r} ({type(self.max_matches).__name__}) "
                "must be an integer from 1 to 10"
            )
        object.__setattr__(self, "max_matches", int(self.max_matches))
        if self.format not in FORMATS:
            raise OptionError(f"format={self.format!r} must be one of {', '.join(FORMATS)}")
        for flag in INCLUDE_FLAGS:
            value = getattr(self, flag)
            if not _is_bool(value):
                raise OptionError(
                    f"{flag}={value!r} ({type(value).__name__}) must be True or False"
                )
            object.__setattr__(self, flag, bool(value))
        if self.webhook is not None:
            check_webhook(self.webhook)
        if self.filename is not None:
            check_filename(self.filename)
        object.__setattr__(self, "extra_params", self._checked_extra(self.extra_params))

    @staticmethod
    def _checked_extra(extra: object) -> dict[str, str]:
        if extra is None:
            return {}
        if not isinstance(extra, Mapping):
            raise OptionError(
                f"extra_params={extra!r} must be a mapping of parameter names to values"
            )
        checked: dict[str, str] = {}
        for key, value in extra.items():
            if not isinstance(key, str) or not key:
                raise OptionError(f"extra_params key {key!r} must be a non-empty string")
            if key in _DOCUMENTED:
                raise OptionError(
                    f"extra_params[{key!r}]: {key} is an option of its own; pass {key}= instead"
                )
            checked[key] = _check_param_value(key, value)
        return checked

    @property
    def costs(self) -> list[str]:
        """Plain-words notices of the options that may cost extra."""
        notices = [
            f"{flag}=True appends {flag.removeprefix('include_')} data, which may cost extra"
            for flag in INCLUDE_FLAGS
            if getattr(self, flag)
        ]
        if self.max_matches > 1:
            notices.append(
                f"max_matches={self.max_matches} returns additional matches, which may cost extra"
            )
        return notices

    def with_filename(self) -> MatchOptions:
        """Return these options with a filename, generating one if none was given."""
        if self.filename is not None:
            return self
        return MatchOptions(**{**self.as_dict(), "filename": generate_filename()})

    def as_dict(self) -> dict[str, Any]:
        """The options as plain values (the form of a job record)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["extra_params"] = dict(self.extra_params)
        return out

    def params(self, filename: str) -> dict[str, str]:
        """The query parameters of the registration request, as the service reads them."""
        params = {"filename": filename, "max_matches": str(self.max_matches), "format": self.format}
        for flag in INCLUDE_FLAGS:
            params[flag] = _bool_param(getattr(self, flag))
        if self.webhook:
            params["webhook"] = self.webhook
        params.update(self.extra_params)
        return params
