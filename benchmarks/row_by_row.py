"""A row-by-row Python normaliser of the rules in docs/preparing.md.

The baseline of ``benchmarks/prepare.py`` and the oracle of
``tests/test_normalize.py``: written value by value with ``re`` and
``datetime``, independently of the vectorised :mod:`smartmatch_pandas.preparation.normalize`,
so that the two agreeing means something. Only the spelling tables (state
names, gender words) are shared: they are data, not logic.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import unicodedata
from collections.abc import Hashable, Sequence
from typing import Any

import pandas as pd

from smartmatch_pandas.preparation.normalize import GENDERS, MAX_AGE, PLACEHOLDERS, STATES

# RE2's \s is [\t\n\f\r ]; spelled out so Python's re reads it the same way.
_WS = r"[\t\n\f\r ]"
_PHONE = re.compile(
    rf"(?:\+?1[\t\n\f\r .\-]*)?(?:\(([2-9][0-9]{{2}})\)|([2-9][0-9]{{2}}))[\t\n\f\r .\-]*"
    rf"([2-9][0-9]{{2}})[\t\n\f\r .\-]*([0-9]{{4}})"
    rf"(?:{_WS}*[,;]?{_WS}*(?:ext\.?|extension|x|#){_WS}*[0-9]{{1,7}})?",
    re.IGNORECASE,
)
_NOT_IN_EMAIL = '@\t\n\f\r <>()\\[\\],;:"'
_EMAIL = re.compile(
    rf"([^{_NOT_IN_EMAIL}]+)@((?:[^{_NOT_IN_EMAIL}./]+\.)+(?:[^\W\d_]|[0-9]|-){{2,}})"
)
_DATES = (
    re.compile(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})"),
    re.compile(r"([0-9]{1,2})[-/]([0-9]{1,2})[-/]([0-9]{4})"),
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"),
)
_TIME = re.compile(r"[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?$")
# The typed forms, tried when the plain ones fail: (year, month, day) group positions.
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?[\t\n\f\r ]+)?"
_TYPED_DATES = (
    (re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})"), (0, 1, 2)),
    (re.compile(r"([0-9]{1,2})[-/]([0-9]{1,2})[-/]([0-9]{4}|[0-9]{2})"), (2, 0, 1)),
    (re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"), (0, 1, 2)),
    (
        re.compile(
            r"([a-z]{3,9})\.?[\t\n\f\r ]*([0-9]{1,2})(?:st|nd|rd|th)?,?[\t\n\f\r ]*"
            r"([0-9]{4}|[0-9]{2})",
            re.IGNORECASE,
        ),
        (2, 0, 1),
    ),
    (
        re.compile(
            r"([0-9]{1,2})(?:st|nd|rd|th)?[\t\n\f\r \-/]*([a-z]{3,9})\.?,?[\t\n\f\r \-/]*"
            r"([0-9]{4}|[0-9]{2})",
            re.IGNORECASE,
        ),
        (2, 1, 0),
    ),
)
_TYPED_TIME = re.compile(
    r"(?:(?:[T ]|[\t\n\f\r ]+)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"[\t\n\f\r ]*(?:[ap]\.?m\.?)?)?[\t\n\f\r ]*(?:z|utc|gmt|[+-][0-9]{2}(?::?[0-9]{2})?)?$",
    re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_STATE_BY_SPELLING = {s.upper(): code for code, names in STATES.items() for s in (code, *names)}
_GENDER_BY_SPELLING = {s.upper(): code for code, words in GENDERS.items() for s in (code, *words)}


# -- a value as text ------------------------------------------------------------------------


def column_to_text(values: Sequence[Any]) -> list[str | None]:
    """Each value of a column as text, the way the user holds it."""
    stamps = [_wall_time(v) for v in values if _is_datetime(v) and not _missing(v)]
    with_time = any(s.time() != dt.time(0) for s in stamps if isinstance(s, dt.datetime))
    return [_to_text(v, with_time) for v in values]


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _is_datetime(value: Any) -> bool:
    return isinstance(value, dt.date)


def _wall_time(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def _to_text(value: Any, with_time: bool) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "True" if value else "False"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isfinite(number) and number.is_integer() and abs(number) < 1e18:
            return str(int(number))
        return repr(number)
    if isinstance(value, dt.date):
        stamp = _wall_time(value)
        if with_time and isinstance(stamp, dt.datetime):
            return stamp.strftime("%Y-%m-%dT%H:%M:%S")
        return stamp.strftime("%Y-%m-%d") if stamp.year >= 1000 else stamp.isoformat()[:10]
    return str(value)


# -- the rules ------------------------------------------------------------------------------


def normalize_value(identifier: str, text: str, today: dt.date) -> str | None:
    """The normalised form of one trimmed, non-blank value; None if it is invalid."""
    if identifier in {"voterbase_id", "smartvan_id", "voter_id", "exact_track"}:
        return _whole(text)
    if identifier in {"first_name", "middle_name", "last_name", "name_suffix"}:
        return _words(text)
    if identifier in {"address1", "address2", "city"}:
        return _words(text)
    rule = {
        "zip": _zip,
        "age": _age,
        "gender": _gender,
        "state": _state,
        "phone": _phone,
        "email": _email,
        "latitude": lambda t: _degrees(t, 90),
        "longitude": lambda t: _degrees(t, 180),
    }.get(identifier)
    if rule is not None:
        return rule(text)
    if identifier == "dob":
        return _dob(text, today)
    raise ValueError(identifier)


def _words(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _whole(text: str) -> str:
    match = re.fullmatch(r"([0-9]+)\.0*", text)
    return match.group(1) if match else text


def _zip(text: str) -> str | None:
    text = _whole(text)
    plus4 = re.fullmatch(r"([0-9]{5})[- ]?[0-9]{4}", text)
    if plus4:
        text = plus4.group(1)
    if not re.fullmatch(r"[0-9]{3,5}", text) or int(text) < 501:
        return None
    return text.zfill(5)


def _age(text: str) -> str | None:
    text = _whole(text)
    if not re.fullmatch(r"[0-9]{1,3}", text) or int(text) > MAX_AGE:
        return None
    return str(int(text))


def _key(text: str) -> str:
    return " ".join(text.replace(".", "").replace(",", " ").upper().split())


def _gender(text: str) -> str | None:
    return _GENDER_BY_SPELLING.get(_key(text))


def _state(text: str) -> str | None:
    return _STATE_BY_SPELLING.get(_key(text))


def _phone(text: str) -> str | None:
    match = _PHONE.fullmatch(_whole(text))
    if not match:
        return None
    area = match.group(1) or match.group(2)
    return area + match.group(3) + match.group(4)


def _email(text: str) -> str | None:
    match = _EMAIL.fullmatch(text)
    if not match:
        return None
    return match.group(1) + "@" + match.group(2).lower()


def _degrees(text: str, limit: int) -> str | None:
    text = text.removeprefix("+")
    if not re.fullmatch(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)", text):
        return None
    return text if -limit <= float(text) <= limit else None


def _dob(text: str, today: dt.date) -> str | None:
    text = _whole(text)
    if re.fullmatch(r"[0-9]{5}", text):  # an Excel serial day number
        return _valid_birth(dt.date(1899, 12, 30) + dt.timedelta(days=int(text)), today)
    parts = _plain_date(text) or _typed_date(text, today)
    if parts is None:
        return None
    try:
        born = dt.date(*parts)
    except ValueError:
        return None
    return _valid_birth(born, today)


def _plain_date(text: str) -> tuple[int, int, int] | None:
    text = _TIME.sub("", text, count=1)
    for number, pattern in enumerate(_DATES):
        match = pattern.fullmatch(text)
        if match:
            parts = [int(p) for p in match.groups()]
            return (parts[2], parts[0], parts[1]) if number == 1 else (parts[0], parts[1], parts[2])
    return None


def _typed_date(text: str, today: dt.date) -> tuple[int, int, int] | None:
    text = re.sub(r"^" + _WEEKDAY, "", text, count=1, flags=re.IGNORECASE)
    for pattern, (y, m, d) in _TYPED_DATES:
        match = pattern.match(text)
        if not match or not _TYPED_TIME.fullmatch(text[match.end() :]):
            continue
        groups = match.groups()
        month = _MONTHS.get(groups[m].lower(), 0) if groups[m].isalpha() else int(groups[m])
        year, day = int(groups[y]), int(groups[d])
        if len(groups[y]) == 2:  # a two-digit year is the past
            year += 2000
            if (year, month, day) > (today.year, today.month, today.day):
                year -= 100
        return year, month, day
    return None


def _valid_birth(born: dt.date, today: dt.date) -> str | None:
    oldest = (today.year - MAX_AGE) * 10_000 + today.month * 100 + today.day
    ymd = born.year * 10_000 + born.month * 100 + born.day
    if born > today or ymd <= oldest:
        return None
    return f"{ymd:08d}"


# -- a column, a frame ------------------------------------------------------------------------


def normalize_column(
    values: Sequence[Any], identifier: str, today: dt.date
) -> tuple[list[str | None], list[str | None], list[bool]]:
    """``(given, value, invalid)`` for a column's values: the rules applied one by one."""
    given = column_to_text(values)
    value: list[str | None] = []
    invalid: list[bool] = []
    for text in given:
        trimmed = text.strip() if text is not None else ""
        if not trimmed or trimmed.lower() in PLACEHOLDERS:
            value.append(None)
            invalid.append(False)
        elif identifier in {"full_name", "first_name_combined"}:
            value.append(text)
            invalid.append(False)
        else:
            normal = normalize_value(identifier, trimmed, today)
            value.append(normal)
            invalid.append(normal is None)
    return given, value, invalid


def prepare_rows(
    df: pd.DataFrame, pairs: Sequence[tuple[Hashable, str]], today: dt.date | None = None
) -> dict[str, list[str | None]]:
    """The upload's columns (invalid values sent as given), plus ``matchback_id``."""
    day = today or dt.date.today()
    out: dict[str, list[str | None]] = {}
    for label, identifier in pairs:
        given, value, invalid = normalize_column(df[label].tolist(), identifier, day)
        out[identifier] = [g if bad else v for g, v, bad in zip(given, value, invalid, strict=True)]
    out["matchback_id"] = [str(i) for i in range(len(df))]
    return out
