"""The options of a match, each declared once; the request parameters, validated once.

:data:`OPTIONS` holds one :class:`Option` per keyword of the verbs
(:func:`~smartmatch_pandas.match`, :func:`~smartmatch_pandas.submit`,
:func:`~smartmatch_pandas.resume`): its type, default, rule, cost, command-line
flag, form control and the line the docs show. Everything else is derived from
it: :class:`MatchOptions`' checks and cost notices, the command line's flags,
the form's option controls and the options table of ``docs/guide.md``.

Adding an option means three edits: its :class:`Option` in :data:`OPTIONS`, and
the explicit signatures of ``match()`` and ``submit()`` (and ``resume()`` if it
takes it) in ``verbs/``, which IDEs and ``help()`` read; a service option is
also a field of :class:`MatchOptions`. ``tests/test_options.py`` fails until the
signatures, the TypedDicts, :class:`MatchOptions` and the docs table agree with
the declaration (``python -m tests.doc_tables`` writes the table again).
"""

from __future__ import annotations

import math
import numbers
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from .errors import OptionError

Format = Literal["csv", "zip", "gzip"]
FORMATS: Final[tuple[str, ...]] = get_args(Format)
#: The current SmartMatch page's rule: "1-45 alphanumeric or underscore characters"
#: (older revisions allowed 50; the stricter one is the one every revision accepts).
FILENAME_MAX: Final = 45
FILENAME_RULE: Final = re.compile(rf"[A-Za-z0-9_]{{1,{FILENAME_MAX}}}")
#: Generated filenames keep to the same rule.
GENERATED_FILENAME_MAX: Final = FILENAME_MAX


def generate_filename(prefix: str = "sm") -> str:
    """Return a new, unique job filename of at most 45 characters.

    The time stamp (UTC) makes a job easy to find again in a listing; the
    random part makes it unique.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return f"{prefix}_{stamp}_{secrets.token_hex(5)}"


def _is_bool(value: object) -> bool:
    return type(value).__name__ in {"bool", "bool_"} and value in (True, False)


def check_filename(value: object, *, name: str = "filename") -> str:
    """Return ``value`` if it is a valid SmartMatch filename, else raise `OptionError`."""
    if not isinstance(value, str) or not FILENAME_RULE.fullmatch(value):
        raise OptionError(
            f"{name}={value!r} is not a valid SmartMatch filename: use 1 to 45 letters, "
            "digits or underscores (no spaces, hyphens or extension), or leave it out "
            "to have one generated"
        )
    return value


def shown_url(url: str) -> str:
    """``url`` as it may be shown: its scheme, host and path, never its user, password,
    query or fragment (where a webhook's token goes).

    Examples
    --------
    >>> shown_url("https://me:pw@hooks.example.org/done?token=abc#x")
    'https://hooks.example.org/done'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<not a URL>"
    if not parts.scheme or not host:  # not a URL: what comes before any query
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1][:200]
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_webhook(value: object) -> str:
    """Return ``value`` if it is an http(s) URL with a host, else raise `OptionError`."""
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            host = None
        if parts.scheme in {"http", "https"} and host and " " not in value:
            return value
    shown = repr(shown_url(value)) if isinstance(value, str) else repr(value)[:100]
    raise OptionError(
        f"webhook={shown} is not an http(s) URL: give a URL such as "
        "'https://example.org/smartmatch-done', or None"
    )


#: The newest page's rule for ``digital_audience_name``: 1-35 alphanumeric or underscore.
AUDIENCE_NAME_RULE: Final = re.compile(r"[A-Za-z0-9_]{1,35}")
# An address as mail servers take it: one @, a dot in the domain, no spaces. The page
# asks for "a valid email address"; a stricter check would refuse real addresses.
_EMAIL_RULE: Final = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
#: The longest ``profile_id`` accepted (TargetSmart documents no form: kept generous).
PROFILE_ID_MAX: Final = 100


def check_search_radius(value: object) -> float:
    """Return ``value`` if it is a positive, finite number of miles, else raise `OptionError`."""
    if (
        isinstance(value, numbers.Real)
        and not _is_bool(value)
        and math.isfinite(float(value))
        and float(value) > 0
    ):
        # 3 and 3.0 are one radius: one job, and one cached result, whichever is typed.
        miles = float(value)
        return int(miles) if miles.is_integer() else miles
    raise OptionError(
        f"search_radius={value!r} ({type(value).__name__}) must be a positive, finite number of "
        "miles, such as 1.5 (a mile and a half), or None"
    )


def check_notification_email(value: object) -> str:
    """Return ``value`` if it looks like an email address, else raise `OptionError`."""
    if isinstance(value, str) and _EMAIL_RULE.fullmatch(value) and len(value) <= 254:
        return value
    raise OptionError(
        f"notification_email={value!r} is not an email address: give one such as "
        "'data@example.org', or None"
    )


def check_audience_name(value: object) -> str:
    """Return ``value`` if it is a valid digital audience name, else raise `OptionError`."""
    if isinstance(value, str) and AUDIENCE_NAME_RULE.fullmatch(value):
        return value
    raise OptionError(
        f"digital_audience_name={value!r} is not a valid audience name: use 1 to 35 letters, "
        "digits or underscores, or None"
    )


def check_profile_id(value: object) -> str:
    """Return ``value`` if it can be a profile id (a short text without spaces), else raise."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= PROFILE_ID_MAX
        and value.isprintable()
        and not any(c.isspace() for c in value)
    ):
        return value
    raise OptionError(
        f"profile_id={value!r} must be the profile's id as TargetSmart gave it: text of 1 to "
        f"{PROFILE_ID_MAX} characters without spaces, or None for the account's default profile"
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


#: What is sent for a value that cannot be normalised for its identifier.
InvalidPolicy = Literal["keep", "blank", "raise"]
POLICIES: Final[tuple[str, ...]] = get_args(InvalidPolicy)
#: How a job's end is awaited: by polling the service, or by watching the SFTP drop.
Via = Literal["poll", "sftp"]
VIAS: Final[tuple[str, ...]] = get_args(Via)
#: The verbs whose keywords the options are.
Verb = Literal["match", "submit", "resume"]
_SUBMITTING: Final[tuple[Verb, ...]] = ("match", "submit")
_WAITING: Final[tuple[Verb, ...]] = ("match", "submit", "resume")


def check_flag(name: str, value: object) -> bool:
    """Return ``value`` as a bool if it is one, else raise `OptionError` naming ``name``.

    A numpy bool is one too: flags often come out of a frame or an array.
    """
    if not _is_bool(value):
        raise OptionError(f"{name}={value!r} ({type(value).__name__}) must be True or False")
    return bool(value)


def check_policy(invalid: object) -> InvalidPolicy:
    """Return ``invalid`` if it is a policy for invalid values, else raise `OptionError`."""
    if isinstance(invalid, str) and invalid in POLICIES:
        return invalid  # type: ignore[return-value]
    raise OptionError(
        f"invalid={invalid!r} must be one of {', '.join(map(repr, POLICIES))}: what to send "
        "for a value that cannot be normalised (as given, blank, or stop with an error)"
    )


def _check_max_matches(value: object) -> int:
    if isinstance(value, numbers.Integral) and not _is_bool(value) and 1 <= int(value) <= 10:
        return int(value)
    raise OptionError(
        f"max_matches={value!r} ({type(value).__name__}) must be an integer from 1 to 10"
    )


def _check_format(value: object) -> object:
    if value not in FORMATS:
        raise OptionError(f"format={value!r} must be one of {', '.join(FORMATS)}")
    return value


def _flag_check(name: str) -> Callable[[object], bool]:
    return lambda value: check_flag(name, value)


_Kept = TypeVar("_Kept")


def _optional(check: Callable[[object], _Kept]) -> Callable[[object], _Kept | None]:
    return lambda value: None if value is None else check(value)


@dataclass(frozen=True)
class Cost:
    """When an option may cost extra, and the notice that says so.

    ``notice`` is formatted with the option's ``name`` and ``value``; ``when``
    is the condition in words, for the docs; notices are listed by ``rank``
    (the appended contact fields first, then the extra matches).
    """

    applies: Callable[[Any], bool]
    notice: str
    when: str
    rank: int = 0


@dataclass(frozen=True)
class CliFlag:
    """How an option is given on the command line.

    ``spec`` holds :meth:`argparse.ArgumentParser.add_argument`'s keywords
    but ``dest`` (the option's name) and ``help`` (the option's docs line, or
    ``helps[command]``). A ``negated`` flag sets the option False
    (``--no-cache`` is ``cache=False``).
    """

    flag: str
    commands: tuple[str, ...] = ("match",)
    spec: Mapping[str, Any] = field(default_factory=dict)
    negated: bool = False
    helps: Mapping[str, str] = field(default_factory=dict)
    #: Other spellings of the flag, still accepted.
    aliases: tuple[str, ...] = ()

    def arguments(self, name: str, default: object, help: str) -> dict[str, Any]:
        """The keywords of ``add_argument(self.flag, ...)`` for option ``name``."""
        if self.negated:
            return {"dest": name, "action": "store_false", "help": help, **self.spec}
        return {"dest": name, "default": default, "help": help, **self.spec}


@dataclass(frozen=True)
class FormControl:
    """The form's control of an option.

    ``kind`` is the widget (``"slider"``, ``"toggle"``, ``"checkbox"``,
    ``"text"`` or ``"dropdown"``); ``label`` the words beside it (checkboxes
    of one label share a row); ``caption`` a checkbox's text or a text
    field's placeholder; ``choices`` a dropdown's ``(shown, value)`` pairs;
    ``bounds`` a slider's least and greatest value; ``width`` the control's
    (a toggle's buttons'); ``help`` says what it does; ``problem`` what is wrong
    with a text field's value that breaks the rule, in plain words for the person
    typing it; ``group`` the section of the form it shows in (``""``: the main one,
    ``"advanced"``: folded away); ``number`` a text field whose text is read as a
    number when it is one.
    """

    kind: Literal["slider", "toggle", "checkbox", "text", "dropdown"]
    label: str
    help: str
    caption: str = ""
    problem: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    width: str = ""
    bounds: tuple[int, int] = (0, 0)
    group: Literal["", "advanced"] = ""
    number: bool = False


@dataclass(frozen=True)
class Option:
    """One option of the verbs, declared once.

    Attributes
    ----------
    name
        The keyword, as the verbs take it.
    annotation
        Its type, exactly as the verbs' signatures spell it.
    default
        Its default in the verbs' signatures.
    values
        The values it takes, in words (the docs' column).
    doc
        What it does, in one line (the docs, the CLI's help).
    verbs
        The verbs that take it.
    service
        Whether it is a parameter of the service (a :class:`MatchOptions` field).
    check
        Its rule: returns the value as kept, or raises `OptionError` with the
        rule in words; None where the rule is checked where the value is used
        (the mapping, the client, the wait).
    cost
        When it may cost extra, if ever.
    cli
        Its command-line flag, if it has one.
    form
        Its control in the form, if it has one.
    shown_default
        The default in words, where its repr would not say it (the docs).
    sent_at_default
        Whether the service receives it at its default too. The newer parameters
        are sent only when chosen, so a service revision that predates them never
        sees them.
    """

    name: str
    annotation: str
    default: Any
    values: str
    doc: str
    verbs: tuple[Verb, ...] = _SUBMITTING
    service: bool = False
    check: Callable[[Any], Any] | None = None
    cost: Cost | None = None
    cli: CliFlag | None = None
    form: FormControl | None = None
    shown_default: str = ""
    sent_at_default: bool = True

    def checked(self, value: object) -> Any:
        """``value`` as kept, after the option's rule; raise `OptionError` if it breaks it."""
        return value if self.check is None else self.check(value)

    def param(self, value: object) -> str | None:
        """``value`` as the service's query parameter, or None when it is not sent."""
        if value is None or value == "" or (not self.sent_at_default and value == self.default):
            return None
        if isinstance(value, bool):
            return _bool_param(value)
        if isinstance(value, float):
            # Decimal notation: "0.00001", never "1e-05", which a service may not read.
            return format(Decimal(repr(value)), "f")
        return str(value)

    def cost_notice(self, value: object) -> str | None:
        """The notice that ``value`` may cost extra, or None."""
        if self.cost is None or not self.cost.applies(value):
            return None
        return self.cost.notice.format(name=self.name, value=value)


def _include(name: str, what: str) -> Option:
    short = name.removeprefix("include_")
    return Option(
        name,
        "bool",
        False,
        "`True`, `False`",
        f"append {what}",
        service=True,
        check=_flag_check(name),
        cost=Cost(
            bool, "{name}=True appends " + short + " data, which may cost extra", "when True"
        ),
        cli=CliFlag(f"--{name.replace('_', '-')}", spec={"action": "store_true"}),
        form=FormControl("checkbox", "append", f"append {what}", caption=short),
    )


_BOOL: Final = "`True`, `False`"
_SERVICE_URL_HELP: Final = "default: SMARTMATCH_BASE_URL or TargetSmart's API"

#: Every option, in the order of ``match()``'s signature (then ``resume()``'s own).
OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        "max_matches",
        "int",
        1,
        "1 to 10",
        "candidates returned per row, the best included",
        service=True,
        check=_check_max_matches,
        cost=Cost(
            lambda n: n > 1,
            "{name}={value} returns additional matches, which may cost extra",
            "above 1",
            rank=1,
        ),
        cli=CliFlag("--max-matches", spec={"type": int, "metavar": "N"}),
        form=FormControl(
            "slider", "max matches", "candidates returned per row", width="260px", bounds=(1, 10)
        ),
    ),
    Option(
        "format",
        "Format",
        "csv",
        "`" + "`, `".join(f'"{f}"' for f in FORMATS) + "`",
        "the deliverable's compression (it is read by its content whatever is asked)",
        service=True,
        check=_check_format,
        cli=CliFlag("--format", spec={"choices": FORMATS}),
        form=FormControl(
            "toggle",
            "format",
            "the deliverable's compression",
            choices=tuple((f, f) for f in FORMATS),
            width="60px",
        ),
    ),
    _include("include_email", "email addresses"),
    _include("include_landline", "landline phones"),
    _include("include_wireless", "wireless phones"),
    _include("include_voip", "VoIP phones"),
    Option(
        "webhook",
        "str | WebhookReceiver | None",
        None,
        "an http(s) URL, or a `WebhookReceiver`",
        "the service POSTs to it when the job is done",
        service=True,
        check=_optional(check_webhook),
        cli=CliFlag("--webhook", spec={"metavar": "URL"}),
        form=FormControl(
            "text",
            "webhook",
            "a URL the service POSTs to when the job is done",
            caption="https://… (optional)",
            problem="the webhook must start with https:// (or http://) and name a host, "
            "as in https://example.org/smartmatch; or leave it blank",
            width="290px",
        ),
        shown_default="none",
    ),
    Option(
        "filename",
        "str | None",
        None,
        "1 to 45 letters, digits, underscores",
        "the job's name at the service: how it is found again",
        service=True,
        check=_optional(check_filename),
        cli=CliFlag("--filename"),
        form=FormControl(
            "text",
            "filename",
            "the job's name at the service",
            caption="blank: generated",
            problem="the filename may hold only letters, digits and underscores, 45 at "
            "most (no spaces, hyphens or extension); or leave it blank to have one made",
            width="290px",
        ),
        shown_default="generated",
    ),
    Option(
        "search_radius",
        "float | None",
        None,
        "miles, above 0",
        "how far from the given address a match may be, in miles (1.5: a mile and a half)",
        service=True,
        check=_optional(check_search_radius),
        cli=CliFlag("--search-radius", spec={"type": float, "metavar": "MILES"}),
        form=FormControl(
            "text",
            "search radius",
            "how far from the address a match may be, in miles",
            caption="miles (optional)",
            problem="the search radius must be a number of miles above 0, such as 1.5; "
            "or leave it blank",
            width="160px",
            group="advanced",
            number=True,
        ),
        shown_default="the service's",
        sent_at_default=False,
    ),
    Option(
        "notification_email",
        "str | None",
        None,
        "an email address",
        "the service emails it when the job is done",
        service=True,
        check=_optional(check_notification_email),
        cli=CliFlag("--notification-email", spec={"metavar": "ADDRESS"}),
        form=FormControl(
            "text",
            "notify",
            "an address the service emails when the job is done",
            caption="name@example.org (optional)",
            problem="the notification address must be an email address such as "
            "data@example.org; or leave it blank",
            width="290px",
            group="advanced",
        ),
        shown_default="none",
        sent_at_default=False,
    ),
    Option(
        "mbp_onboarding",
        "bool",
        False,
        _BOOL,
        "onboard the matched records as a digital audience (to TargetSmart's media platform)",
        service=True,
        check=_flag_check("mbp_onboarding"),
        cost=Cost(
            bool,
            "{name}=True onboards the matched records as a digital audience, which may cost extra",
            "when True",
            rank=2,
        ),
        cli=CliFlag(
            "--mbp-onboarding",
            spec={"action": "store_true"},
            helps={
                "match": "onboard the matched records as a digital audience "
                "(a further service, which may cost extra)"
            },
        ),
        form=FormControl(
            "checkbox",
            "audience",
            "onboard the matched records as a digital audience: a further service, "
            "which may cost extra",
            caption="onboard as a digital audience (may cost)",
            group="advanced",
        ),
        sent_at_default=False,
    ),
    Option(
        "digital_audience_name",
        "str | None",
        None,
        "1 to 35 letters, digits, underscores",
        "the onboarded audience's name (with `mbp_onboarding`)",
        service=True,
        check=_optional(check_audience_name),
        cli=CliFlag("--digital-audience-name", spec={"metavar": "NAME"}),
        form=FormControl(
            "text",
            "audience name",
            "the onboarded audience's name",
            caption="optional",
            problem="the audience name may hold only letters, digits and underscores, "
            "35 at most; or leave it blank",
            width="290px",
            group="advanced",
        ),
        shown_default="none",
        sent_at_default=False,
    ),
    Option(
        "profile_id",
        "str | None",
        None,
        "a profile id from TargetSmart",
        "the account profile to match under (its appended fields); every v2 endpoint takes it",
        service=True,
        check=_optional(check_profile_id),
        cli=CliFlag("--profile-id", spec={"metavar": "ID"}),
        form=FormControl(
            "text",
            "profile id",
            "the account profile to match under",
            caption="blank: the account's default",
            problem="the profile id is the one TargetSmart gave: no spaces, 100 characters "
            "at most; or leave it blank",
            width="290px",
            group="advanced",
        ),
        shown_default="the account's",
        sent_at_default=False,
    ),
    Option(
        "columns",
        "Mapping[Hashable, str | None] | None",
        None,
        "`{column: identifier or None}`",
        "the mapping: which column is sent as which identifier (None: not sent)",
        cli=CliFlag(
            "--map",
            ("match", "check"),
            spec={"action": "append", "default": [], "metavar": "COLUMN=IDENTIFIER"},
            helps={
                "match": "send COLUMN as IDENTIFIER (repeatable; --drop COLUMN: do not send it)",
                "check": "send COLUMN as IDENTIFIER (repeatable; --drop COLUMN: do not send it)",
            },
            aliases=("--column",),
        ),
        shown_default="from the headers",
    ),
    Option(
        "invalid",
        "InvalidPolicy",
        "keep",
        "`" + "`, `".join(f'"{p}"' for p in POLICIES) + "`",
        "what is sent for values that cannot be normalised: as given, blank, or stop",
        check=check_policy,
        cli=CliFlag("--invalid", spec={"choices": POLICIES}),
        form=FormControl(
            "dropdown",
            "invalid values",
            "what is sent for values that cannot be normalised",
            choices=(
                ("send as given", "keep"),
                ("send empty", "blank"),
                ("stop the match", "raise"),
            ),
            width="160px",
        ),
    ),
    Option(
        "all_matches",
        "bool",
        False,
        _BOOL,
        "return every candidate, one row each, best first",
        verbs=("match",),
        check=_flag_check("all_matches"),
        cli=CliFlag("--all-matches", ("match", "resume"), spec={"action": "store_true"}),
    ),
    Option(
        "typed",
        "bool",
        False,
        _BOOL,
        "type the appended voter fields (ages, scores, dates, party...) by the data dictionary; "
        "read client-side: the job and its cached result are the same either way",
        verbs=("match", "resume"),
        check=_flag_check("typed"),
        cli=CliFlag(
            "--typed",
            ("match", "resume"),
            spec={"action": "store_true"},
            helps={
                "match": "type the appended voter fields (integers, floats, dates, categories) "
                "in a Parquet or Excel output; a CSV output writes them as text",
                "resume": "type the appended voter fields, as match --typed",
            },
        ),
        form=FormControl(
            "checkbox",
            "result",
            "type the appended voter fields: ages and counts as integers, scores as "
            "numbers, dates as dates, party and the like as categories",
            caption="typed voter fields",
        ),
    ),
    Option(
        "api_key",
        "str | None",
        None,
        "a TargetSmart API key",
        "the TargetSmart API key; never a command-line flag, never stored",
        verbs=_WAITING,
        shown_default="`TS_API_KEY`",
    ),
    Option(
        "base_url",
        "str | None",
        None,
        "a URL",
        "the service's base URL",
        verbs=_WAITING,
        cli=CliFlag(
            "--base-url",
            ("match", "resume"),
            spec={"metavar": "URL"},
            helps={
                "match": _SERVICE_URL_HELP,
                "resume": "default: the service the job was submitted to",
            },
        ),
        shown_default="`SMARTMATCH_BASE_URL`, else TargetSmart's API",
    ),
    Option(
        "poll_interval",
        "float | None",
        None,
        "seconds",
        "seconds between polls (never below 30 against TargetSmart's API)",
        verbs=_WAITING,
        cli=CliFlag(
            "--poll-interval", ("match", "resume"), spec={"type": float, "metavar": "SECONDS"}
        ),
        shown_default="`SMARTMATCH_POLL_INTERVAL`, else 30",
    ),
    Option(
        "timeout",
        "float | None",
        None,
        "seconds, or `None`",
        "stop waiting (never the job) after this long",
        verbs=("match", "resume"),
        cli=CliFlag("--timeout", ("match", "resume"), spec={"type": float, "metavar": "SECONDS"}),
    ),
    Option(
        "progress",
        "ProgressArg",
        True,
        "`True`, `False`, or a callable",
        "a progress bar, silence, or a callable receiving each progress event",
        verbs=_WAITING,
        cli=CliFlag(
            "--no-progress",
            ("match", "resume"),
            negated=True,
            helps={"match": "no progress bar", "resume": "no progress bar"},
        ),
    ),
    Option(
        "extra_params",
        "Mapping[str, Any] | None",
        None,
        "`{name: value}`",
        "further service parameters, passed through unchecked",
        service=True,
        check=lambda extra: _checked_extra(extra),
        cli=CliFlag(
            "--param",
            spec={"action": "append", "default": [], "metavar": "NAME=VALUE"},
            helps={"match": "a further service parameter, passed through"},
        ),
        shown_default="none",
    ),
    Option(
        "cache",
        "bool",
        True,
        _BOOL,
        "reuse a result kept in the job store, and keep this one",
        verbs=_WAITING,
        check=_flag_check("cache"),
        cli=CliFlag(
            "--no-cache",
            ("match", "resume"),
            negated=True,
            helps={
                "match": "keep no result in the job store, use none",
                "resume": "neither use nor keep a result",
            },
        ),
    ),
    Option(
        "refresh",
        "bool",
        False,
        _BOOL,
        "submit anew even if the same list was matched before (may cost)",
        check=_flag_check("refresh"),
        cli=CliFlag(
            "--refresh",
            spec={"action": "store_true"},
            helps={"match": "submit anew even if matched before (may cost)"},
        ),
    ),
    Option(
        "reupload",
        "bool",
        True,
        _BOOL,
        "upload a job that was registered but never uploaded; False: it was, only wait",
        verbs=("resume",),
        check=_flag_check("reupload"),
        cli=CliFlag(
            "--no-reupload",
            ("resume",),
            negated=True,
            helps={
                "resume": "a job shown as never uploaded was in fact uploaded: only wait for it"
            },
        ),
    ),
    Option(
        "via",
        "Via | None",
        None,
        "`" + "`, `".join(f'"{v}"' for v in VIAS) + "`, or `None`",
        "how the end of the job is awaited: by polling, or in the account's SFTP drop",
        verbs=("resume",),
        cli=CliFlag(
            "--via",
            ("resume",),
            spec={"choices": VIAS},
            helps={"resume": "fetch from the SFTP drop (TS_SFTP_* settings) instead of polling"},
        ),
        shown_default="as submitted",
    ),
    Option(
        "sftp",
        "SFTPSettings | Mapping[str, Any] | None",
        None,
        "`SFTPSettings` or a dict of its fields",
        'with `via="sftp"`: the drop\'s settings; `TS_SFTP_*` fill the rest',
        verbs=("resume",),
        shown_default="`TS_SFTP_*`",
    ),
)
#: The options by name.
OPTION: Final[Mapping[str, Option]] = {option.name: option for option in OPTIONS}
#: The options that are parameters of the service, in declaration order.
SERVICE_OPTIONS: Final[tuple[Option, ...]] = tuple(o for o in OPTIONS if o.service)
#: The flags that append contact fields (each may cost extra).
INCLUDE_FLAGS: Final = tuple(o.name for o in SERVICE_OPTIONS if o.name.startswith("include_"))
#: Service options that must not also come through ``extra_params``.
_OWN_PARAMETERS: Final = frozenset(o.name for o in SERVICE_OPTIONS) - {"extra_params"}


def options_of(verb: Verb) -> tuple[Option, ...]:
    """The options ``verb`` takes, in declaration order."""
    return tuple(o for o in OPTIONS if verb in o.verbs)


def defaults_of(verb: Verb) -> dict[str, Any]:
    """``verb``'s keywords with their defaults."""
    return {o.name: o.default for o in options_of(verb)}


def cost_notices(values: Mapping[str, Any]) -> list[str]:
    """The notices of the options in ``values`` that may cost extra, listed by rank."""
    costly = sorted(
        (o for o in OPTIONS if o.cost is not None and o.name in values),
        key=lambda o: o.cost.rank if o.cost is not None else 0,
    )
    notices = (o.cost_notice(values[o.name]) for o in costly)
    return [notice for notice in notices if notice is not None]


def keywords_of(verb: Verb, given: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``verb``'s options among ``given``: a call's ``locals()``, whose
    keywords are the declared ones (``tests/test_options.py`` checks it)."""
    return {option.name: given[option.name] for option in options_of(verb)}


def cli_options(command: str) -> tuple[Option, ...]:
    """The options the command-line ``command`` has a flag for."""
    return tuple(o for o in OPTIONS if o.cli is not None and command in o.cli.commands)


def _checked_extra(extra: object) -> dict[str, str]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise OptionError(f"extra_params={extra!r} must be a mapping of parameter names to values")
    checked: dict[str, str] = {}
    for key, value in extra.items():
        if not isinstance(key, str) or not key:
            raise OptionError(f"extra_params key {key!r} must be a non-empty string")
        if key in _OWN_PARAMETERS:
            raise OptionError(
                f"extra_params[{key!r}]: {key} is an option of its own; pass {key}= instead"
            )
        checked[key] = _check_param_value(key, value)
    return checked


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
        The job's name at the service (1-45 of ``[A-Za-z0-9_]``); generated
        when None.
    search_radius
        How far from the given address a match may be, in miles (a positive
        number); the service's own default when None.
    notification_email
        An address the service emails when the job is done.
    mbp_onboarding
        Onboard the matched records as a digital audience (may cost extra).
    digital_audience_name
        The onboarded audience's name, 1-35 of ``[A-Za-z0-9_]``.
    profile_id
        The account profile to match under (its appended fields).
    extra_params
        Further service parameters passed through unchanged.

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
    search_radius: float | None = None
    notification_email: str | None = None
    mbp_onboarding: bool = False
    digital_audience_name: str | None = None
    profile_id: str | None = None
    extra_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Each value after its declared rule, in declaration order: the first bad one is named.
        for option in SERVICE_OPTIONS:
            object.__setattr__(self, option.name, option.checked(getattr(self, option.name)))

    def __repr__(self) -> str:
        # The webhook's token (in its query, or its user and password) is a secret.
        shown = {**self.as_dict(), "webhook": self.webhook and shown_url(self.webhook)}
        return f"MatchOptions({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def costs(self) -> list[str]:
        """Plain-words notices of the options that may cost extra."""
        return cost_notices({o.name: getattr(self, o.name) for o in SERVICE_OPTIONS})

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

    def chosen(self) -> dict[str, Any]:
        """The options that differ from their defaults (a new option at its default
        changes nothing, so it does not change what the options are known by)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != _default_of(f)
        }

    def params(self, filename: str) -> dict[str, str]:
        """The query parameters of the registration request, as the service reads them:
        every service option as its declaration sends it, then ``extra_params``."""
        params = {"filename": filename}
        for option in SERVICE_OPTIONS:
            if option.name not in _NOT_PARAMETERS:
                value = option.param(getattr(self, option.name))
                if value is not None:
                    params[option.name] = value
        params.update(self.extra_params)
        return params


#: Service options that are not sent as parameters of their own.
_NOT_PARAMETERS: Final = frozenset({"filename", "extra_params"})


def _default_of(declared: Field[Any]) -> Any:
    if declared.default_factory is not MISSING:
        return declared.default_factory()
    return declared.default
