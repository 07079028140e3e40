"""The rules, one per identifier: what a valid value is and how it is written
(:data:`RULES`, with the spellings of genders and states), as pyarrow kernels
over whole columns. docs/preparing.md states every rule."""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...identifiers import IDENTIFIERS
from .text import TEXT

#: Ages (and so birth dates) beyond this many years are taken as impossible.
MAX_AGE: Final = 120


#: A run of whitespace as Python's ``str.isspace`` sees it (the set ``utf8_trim_whitespace``
#: trims): RE2's ``\s`` is only ``[\t\n\f\r ]``.
_SPACES: Final = r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\pZ]+"

Rule = Callable[[pa.Array], pa.Array]
"""Trimmed, non-blank text in; the normalised text out, null where it cannot be normalised."""


def _regex(text: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(text, pattern)


def keep_where(mask: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` where ``mask`` holds, null elsewhere."""
    if mask.null_count == 0 and pc.all(mask).as_py() is not False:
        return values  # nothing to blank: skip copying a column of text
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def _fix(text: pa.Array, where: pa.Array, rule: Rule) -> pa.Array:
    """``text`` with ``rule`` applied to the rows ``where`` holds, the others left as they are
    (most values of a column are usually clean already, so most rows skip the work)."""
    where = pc.fill_null(where, False)
    if not pc.any(where).as_py():
        return text
    return pc.replace_with_mask(text, where, rule(text.filter(where)))


def _whole_number_text(text: pa.Array) -> pa.Array:
    """``"2134.0"`` → ``"2134"``: a whole float written out as text is still that number."""
    # A literal search for the dot first: most columns hold none, and it is far cheaper
    # than the pattern, which then runs on the dotted values only.
    dotted = pc.fill_null(pc.match_substring(text, "."), False)
    if not pc.any(dotted).as_py():
        return text
    whole = pc.fill_null(_regex(text.filter(dotted), r"^\d+\.0*$"), False)
    return _fix(
        text,
        pc.replace_with_mask(dotted, dotted, whole),
        lambda t: pc.utf8_rtrim(pc.utf8_rtrim(t, "0"), "."),
    )


def identity(text: pa.Array) -> pa.Array:
    return text


def _words(text: pa.Array) -> pa.Array:
    """Inner whitespace (tabs, newlines, no-break spaces) collapsed to one space;
    Unicode composed (NFC), so an accent typed as two code points matches one."""
    crowded = _regex(text, r"\s\s|[\t\n\r\f\x{0b}\x{1c}-\x{1f}]|[^\x00-\x7f]")
    return _fix(
        text,
        crowded,
        lambda t: pc.utf8_trim_whitespace(_nfc(pc.replace_substring_regex(t, _SPACES, " "))),
    )


@functools.cache
def _arrow_composes() -> bool:
    """Whether ``utf8_normalize`` composes here (pyarrow 21 and 22 leave the input as it is)."""
    return bool(pc.utf8_normalize(pa.array(["e\u0308"]), "NFC")[0].as_py() == "\u00eb")


def _nfc(text: pa.Array) -> pa.Array:
    """Unicode NFC: an accent typed as a letter plus a combining mark becomes one character."""
    if _arrow_composes():
        return pc.utf8_normalize(text, "NFC")
    # An older pyarrow: Python's own normaliser, on the rows that are not plain ASCII only.
    return _fix(
        text,
        pc.invert(pc.string_is_ascii(text)),
        lambda t: pa.array(
            [None if v is None else unicodedata.normalize("NFC", v) for v in t.to_pylist()],
            TEXT,
        ),
    )


def _zip(text: pa.Array) -> pa.Array:
    text = _whole_number_text(text)
    text = _fix(  # ZIP+4: its first five digits
        text, _regex(text, r"^\d{5}[- ]?\d{4}$"), lambda t: pc.utf8_slice_codeunits(t, 0, 5)
    )
    padded = pc.utf8_lpad(keep_where(_regex(text, r"^\d{3,5}$"), text), 5, "0")
    # The lowest ZIP in use is 00501; fewer than 3 digits is no ZIP that lost its zeros.
    return keep_where(pc.greater_equal(pc.cast(padded, pa.int32()), 501), padded)


_DATE: Final = (
    r"^(?:(?P<y1>\d{4})[-/](?P<m1>\d{1,2})[-/](?P<d1>\d{1,2})"
    r"|(?P<m2>\d{1,2})[-/](?P<d2>\d{1,2})[-/](?P<y2>\d{4})"
    r"|(?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2}))"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DAYS_IN_MONTH: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


#: Every form of a date of birth as people, their tools and Excel write it, beyond the
#: plain ones of :data:`_DATE`: month names (``March 3, 1985``, ``3-Mar-85``, ``Sunday,
#: March 3, 1985``), two-digit years (``3/3/85``), ``1985.03.03``, a time after the
#: date with AM/PM or a zone (``03/03/1985 12:00:00 AM``, ``1985-03-03T00:00:00Z``).
_TYPED_DATE: Final = (
    r"(?i)^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
    r"(?:(?P<y1>\d{4})[-/.](?P<m1>\d{1,2})[-/.](?P<d1>\d{1,2})"
    r"|(?P<m2>\d{1,2})[-/](?P<d2>\d{1,2})[-/](?P<y2>\d{4}|\d{2})"
    r"|(?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2})"
    r"|(?P<n4>[a-z]{3,9})\.?\s*(?P<d4>\d{1,2})(?:st|nd|rd|th)?,?\s*(?P<y4>\d{4}|\d{2})"
    r"|(?P<d5>\d{1,2})(?:st|nd|rd|th)?[\s\-/]*(?P<n5>[a-z]{3,9})\.?,?[\s\-/]*"
    r"(?P<y5>\d{4}|\d{2}))"
    r"(?:(?:[T ]|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?)?)?"
    r"\s*(?:z|utc|gmt|[+-]\d{2}(?::?\d{2})?)?$"
)
_MONTH_NAMES: Final = {
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
#: Excel's day 0 (its serial day numbers count from here, the 1900 leap-year bug included).
_EXCEL_EPOCH: Final = np.datetime64("1899-12-30")
#: A birth date of five digits is an Excel serial day number (``31109`` is 3 March 1985):
#: no other form of a date has five digits (``YYYYMMDD`` has eight, a year four).
_SERIAL: Final = r"^\d{5}$"


def _dob(text: pa.Array, today: dt.date) -> pa.Array:
    text = _whole_number_text(text)
    ymd = _retry_typed(text, _read_dates(text, _DATE, today), today)
    serial = _regex(text, _SERIAL)
    if not pc.any(serial).as_py():
        return ymd
    return pc.replace_with_mask(ymd, serial, _from_serials(text.filter(serial), today))


def _retry_typed(text: pa.Array, ymd: pa.Array, today: dt.date) -> pa.Array:
    """The dates the plain forms could not read, read again in every typed form (most
    columns are plain, so most rows skip the longer pattern)."""
    again = pc.and_(ymd.is_null(), text.is_valid())
    if not pc.any(again).as_py():
        return ymd
    return pc.replace_with_mask(ymd, again, _read_dates(text.filter(again), _TYPED_DATE, today))


def _read_dates(text: pa.Array, pattern: str, today: dt.date) -> pa.Array:
    """``YYYYMMDD`` from the forms of ``pattern``; null where not a possible birth date."""
    parts = pc.extract_regex(text, pattern)
    names = {field.name for field in parts.type}
    empty = pa.scalar("", TEXT)

    def joined(*groups: str) -> pa.Array:
        # One alternative matched: the other groups are empty, so joining picks it.
        present = [parts.field(g) for g in groups if g in names]
        return pc.binary_join_element_wise(*present, empty)

    def number(values: pa.Array) -> np.ndarray:
        n = pc.cast(pc.if_else(pc.equal(values, ""), "0", values), pa.int64())
        return np.asarray(pc.fill_null(n, 0).to_numpy(zero_copy_only=False))

    years = joined("y1", "y2", "y3", "y4", "y5")
    year = number(years)
    two_digits = np.asarray(
        pc.fill_null(pc.equal(pc.utf8_length(years), 2), False).to_numpy(zero_copy_only=False)
    )
    month = number(joined("m1", "m2", "m3"))
    if "n4" in names:
        named = pc.utf8_lower(joined("n4", "n5"))
        keys = pa.array(list(_MONTH_NAMES), TEXT)
        by_name = pa.array(list(_MONTH_NAMES.values()), pa.int64()).take(
            pc.index_in(named, value_set=keys)
        )
        by_name_n = np.asarray(pc.fill_null(by_name, 0).to_numpy(zero_copy_only=False))
        month = np.where(month == 0, by_name_n, month)
    day = number(joined("d1", "d2", "d3", "d4", "d5"))
    today_ymd = today.year * 10_000 + today.month * 100 + today.day
    # A two-digit year is read as the past: this century unless that is after today.
    recent = 2000 + year
    year = np.where(
        two_digits,
        np.where(recent * 10_000 + month * 100 + day <= today_ymd, recent, 1900 + year),
        year,
    )
    return _checked_ymd(year, month, day, today_ymd)


def _checked_ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray, today_ymd: int) -> pa.Array:
    """``YYYYMMDD`` text, null where the date is impossible, future or too old."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    ymd = year * 10_000 + month * 100 + day
    ok = month_ok & (day >= 1) & (day <= last_day)
    ok &= (ymd <= today_ymd) & (ymd > today_ymd - MAX_AGE * 10_000)
    return pa.array(ymd, pa.int64(), mask=~ok).cast(TEXT)


def _from_serials(text: pa.Array, today: dt.date) -> pa.Array:
    """``YYYYMMDD`` of Excel serial day numbers (five digits)."""
    days = np.asarray(pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False))
    dates = _EXCEL_EPOCH + days.astype("timedelta64[D]")
    years = dates.astype("datetime64[Y]")
    months = dates.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years).astype(np.int64) + 1
    day = (dates - months).astype(np.int64) + 1
    return _checked_ymd(year, month, day, today.year * 10_000 + today.month * 100 + today.day)


def _age(text: pa.Array) -> pa.Array:
    text = _whole_number_text(text)
    digits = keep_where(_regex(text, r"^\d{1,3}$"), text)
    years = pc.cast(digits, pa.int32())
    return keep_where(pc.less_equal(years, MAX_AGE), years.cast(TEXT))


def _lookup(table: dict[str, str]) -> Rule:
    """A rule that reads a value by table, ignoring case, dots, commas and extra spaces."""
    keys = pa.array(list(table), TEXT)
    codes = pa.array(list(table.values()), TEXT)

    def rule(text: pa.Array) -> pa.Array:
        # Dots go (N.Y., Calif., D.C.), commas part words (Washington, D.C.).
        key = pc.replace_substring(pc.utf8_upper(text), ".", "")
        key = pc.replace_substring_regex(pc.replace_substring(key, ",", " "), _SPACES, " ")
        return codes.take(pc.index_in(pc.utf8_trim_whitespace(key), value_set=keys))

    return rule


GENDERS: Final[dict[str, tuple[str, ...]]] = {
    "F": ("F", "FEMALE", "WOMAN", "W", "GIRL"),
    "M": ("M", "MALE", "MAN", "BOY"),
    "U": (
        "U",
        "UNKNOWN",
        "UNK",
        "UNSPECIFIED",
        "NOT SPECIFIED",
        "PREFER NOT TO SAY",
        "DECLINE TO STATE",
        "DECLINED TO STATE",
    ),
}

#: USPS codes with the names they are spelled out as (DC and the territories included)
#: and the AP's abbreviations (``Calif.``, ``N.Y.`` once its dots go, ``W.Va.``).
STATES: Final[dict[str, tuple[str, ...]]] = {
    "AL": ("Alabama", "Ala"),
    "AK": ("Alaska",),
    "AZ": ("Arizona", "Ariz"),
    "AR": ("Arkansas", "Ark"),
    "CA": ("California", "Calif", "Cal"),
    "CO": ("Colorado", "Colo"),
    "CT": ("Connecticut", "Conn"),
    "DE": ("Delaware", "Del"),
    "DC": ("District of Columbia", "Washington DC", "Washington D C", "D C", "Wash DC", "Wash D C"),
    "FL": ("Florida", "Fla"),
    "GA": ("Georgia",),
    "HI": ("Hawaii",),
    "ID": ("Idaho",),
    "IL": ("Illinois", "Ill"),
    "IN": ("Indiana", "Ind"),
    "IA": ("Iowa",),
    "KS": ("Kansas", "Kan", "Kans"),
    "KY": ("Kentucky",),
    "LA": ("Louisiana",),
    "ME": ("Maine",),
    "MD": ("Maryland",),
    "MA": ("Massachusetts", "Mass"),
    "MI": ("Michigan", "Mich"),
    "MN": ("Minnesota", "Minn"),
    "MS": ("Mississippi", "Miss"),
    "MO": ("Missouri",),
    "MT": ("Montana", "Mont"),
    "NE": ("Nebraska", "Neb", "Nebr"),
    "NV": ("Nevada", "Nev"),
    "NH": ("New Hampshire",),
    "NJ": ("New Jersey",),
    "NM": ("New Mexico",),
    "NY": ("New York",),
    "NC": ("North Carolina", "N Carolina"),
    "ND": ("North Dakota", "N Dakota"),
    "OH": ("Ohio",),
    "OK": ("Oklahoma", "Okla"),
    "OR": ("Oregon", "Ore", "Oreg"),
    "PA": ("Pennsylvania", "Penn", "Penna"),
    "RI": ("Rhode Island",),
    "SC": ("South Carolina", "S Carolina", "So Carolina"),
    "SD": ("South Dakota", "S Dakota", "So Dakota"),
    "TN": ("Tennessee", "Tenn"),
    "TX": ("Texas", "Tex"),
    "UT": ("Utah",),
    "VT": ("Vermont",),
    "VA": ("Virginia",),
    "WA": ("Washington", "Wash"),
    "WV": ("West Virginia", "W Va", "WVa"),
    "WI": ("Wisconsin", "Wis", "Wisc"),
    "WY": ("Wyoming", "Wyo"),
    "AS": ("American Samoa",),
    "GU": ("Guam",),
    "MP": ("Northern Mariana Islands",),
    "PR": ("Puerto Rico",),
    "VI": ("U S Virgin Islands", "US Virgin Islands", "Virgin Islands"),
}


def _spellings(codes: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {spelling.upper(): code for code, names in codes.items() for spelling in (code, *names)}


_PHONE: Final = (
    r"(?i)^(?:\+?1[\s.\-]*)?"  # +1 or 1
    r"(?:\([2-9]\d{2}\)|[2-9]\d{2})[\s.\-]*"  # area code, maybe in parentheses
    r"[2-9]\d{2}[\s.\-]*\d{4}"
    r"(?:\s*[,;]?\s*(?:ext\.?|extension|x|#)\s*\d{1,7})?$"  # an extension
)
#: The apostrophe a CSV output puts before a cell starting with a sign.
_NEUTRALISED_SIGN: Final = r"^'([+\-])"
_EXTENSION: Final = r"(?i)\s*[,;]?\s*(?:ext\.?|extension|x|#)\s*\d{1,7}$"


def _phone(text: pa.Array) -> pa.Array:
    text = _whole_number_text(text)  # 6175551234.0: a phone that went through a float
    clean = _regex(text, r"^[2-9]\d{2}[2-9]\d{6}$")  # already 10 digits: nothing to do
    return _fix(text, pc.invert(clean), _phone_digits)


def _phone_digits(text: pa.Array) -> pa.Array:
    # '+1 430 997 6005 ext 12: a phone a spreadsheet output kept from running (files.cells).
    text = pc.replace_substring_regex(text, _NEUTRALISED_SIGN, r"\1")
    valid = keep_where(_regex(text, _PHONE), text)
    valid = _fix(
        valid,
        _regex(valid, r"[xXnN#]"),
        lambda t: pc.replace_substring_regex(t, _EXTENSION, ""),
    )
    digits = keep_where(valid.is_valid(), digits_only(valid))
    return _fix(
        digits, pc.equal(pc.utf8_length(digits), 11), lambda t: pc.utf8_slice_codeunits(t, 1)
    )


def digits_only(text: pa.Array) -> pa.Array:
    """Every value with all but its ASCII digits removed.

    Done on the raw UTF-8 bytes with NumPy: Arrow has no kernel for it, and a
    regex replace of ``\\D`` is ten times slower (a digit byte is never part of a
    multi-byte character, so the result is valid UTF-8).
    """
    text = pc.fill_null(text, "").cast(pa.string())
    if len(text) == 0:
        return text
    _, offsets_buffer, data_buffer = text.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[text.offset : text.offset + len(text) + 1]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    )
    data = data[offsets[0] : offsets[-1]]
    keep = (data >= ord("0")) & (data <= ord("9"))
    # Digits kept per value, summed value by value (a running sum over every byte would
    # take eight bytes of memory per byte of text); empty values sum to nothing.
    starts = offsets[:-1] - offsets[0]
    kept = np.add.reduceat(np.append(keep, False), starts, dtype=np.int32)
    kept[starts == offsets[1:] - offsets[0]] = 0
    new_offsets = np.zeros(len(text) + 1, np.int32)
    np.cumsum(kept, out=new_offsets[1:])
    return pa.StringArray.from_buffers(
        len(text), pa.py_buffer(new_offsets), pa.py_buffer(data[keep].tobytes())
    )


# No spaces, no second @, no characters that cannot stand outside quotes; a domain of
# dot-separated labels ending in a top-level domain of two characters or more.
_EMAIL: Final = (
    r"^[^@\s<>()\[\],;:\"]+@"
    r"(?:[^@\s<>()\[\],;:\"./]+\.)+[\pL\d-]{2,}$"
)


def _email(text: pa.Array) -> pa.Array:
    valid = keep_where(_regex(text, _EMAIL), text)
    return _fix(valid, pc.not_equal(pc.utf8_lower(valid), valid), _lower_domain)


def _lower_domain(email: pa.Array) -> pa.Array:
    """Valid addresses (exactly one @) with their domain lower-cased."""
    parts = pc.list_flatten(pc.split_pattern(email, "@", max_splits=1))
    local = parts.take(pa.array(np.arange(0, len(parts), 2)))
    domain = pc.utf8_lower(parts.take(pa.array(np.arange(1, len(parts), 2))))
    return pc.binary_join_element_wise(local, domain, pa.scalar("@", TEXT))


def _decimal(low: float, high: float) -> Rule:
    def rule(text: pa.Array) -> pa.Array:
        text = _fix(text, pc.starts_with(text, "+"), lambda t: pc.utf8_slice_codeunits(t, 1))
        number = keep_where(_regex(text, r"^-?(?:\d+\.?\d*|\.\d+)$"), text)
        degrees = pc.cast(number, pa.float64())
        inside = pc.and_(pc.greater_equal(degrees, low), pc.less_equal(degrees, high))
        return keep_where(inside, number)

    return rule


@dataclass(frozen=True)
class IdentifierRule:
    """How one identifier's values are normalised.

    Attributes
    ----------
    what
        The value in words, for messages ("a ZIP code").
    rule
        The normaliser (see :data:`Rule`); None passes values exactly as given.
    doc
        The rule in one sentence, as documented.
    """

    what: str
    rule: Rule | None
    doc: str


_TRIM = "trimmed; a whole number written as a float loses its .0 (1001.0 is 1001)"
_NAME = "trimmed, inner whitespace collapsed to one space, accents kept (Unicode NFC)"

#: The rule of every identifier.
RULES: Final[dict[str, IdentifierRule]] = {
    "voterbase_id": IdentifierRule("a voterbase id", _whole_number_text, _TRIM),
    "smartvan_id": IdentifierRule("a SmartVAN id", _whole_number_text, _TRIM),
    "voter_id": IdentifierRule("a state voter id", _whole_number_text, _TRIM),
    "exact_track": IdentifierRule("an exact_track id", _whole_number_text, _TRIM),
    "full_name": IdentifierRule("a full name", None, "sent exactly as given"),
    "first_name_combined": IdentifierRule("a combined first name", None, "sent exactly as given"),
    "first_name": IdentifierRule("a first name", _words, _NAME),
    "middle_name": IdentifierRule("a middle name", _words, _NAME),
    "last_name": IdentifierRule("a last name", _words, _NAME),
    "name_suffix": IdentifierRule("a name suffix", _words, _NAME),
    "address1": IdentifierRule("a street address", _words, _NAME),
    "address2": IdentifierRule("an address line 2", _words, _NAME),
    "city": IdentifierRule("a city", _words, _NAME),
    "state": IdentifierRule(
        "a US state",
        _lookup(_spellings(STATES)),
        "USPS code from a code in any case or a full name (DC and territories included)",
    ),
    "zip": IdentifierRule(
        "a ZIP code",
        _zip,
        "5 digits: integers, whole floats and text of 3-5 digits get their leading zeros "
        "back (00501 is the lowest ZIP); ZIP+4 (12345-6789, 123456789) gives its first 5",
    ),
    "age": IdentifierRule(
        "an age", _age, f"whole years 0-{MAX_AGE} from integers, whole floats or digits"
    ),
    "gender": IdentifierRule(
        "a gender",
        _lookup(_spellings(GENDERS)),
        "F, M or U from the usual spellings (female, woman, Male, m, unknown, ...)",
    ),
    "dob": IdentifierRule(
        "a date of birth",
        None,  # needs today's date: see _rule_for
        "YYYYMMDD from datetimes, dates, YYYY-MM-DD, MM/DD/YYYY, YYYYMMDD (text or "
        f"integer); impossible dates, future dates and dates over {MAX_AGE} years ago "
        "are invalid",
    ),
    "phone": IdentifierRule(
        "a US phone number",
        _phone,
        "10 digits from 1112223333, 111-222-3333, (111) 222-3333, 111.222.3333 or "
        "spaced; a +1 or 1 prefix and an extension (x12, ext. 12, #12) are dropped",
    ),
    "email": IdentifierRule(
        "an email address", _email, "trimmed, domain lower-cased; the local part kept as given"
    ),
    "latitude": IdentifierRule(
        "a latitude", _decimal(-90, 90), "a decimal number of degrees from -90 to 90"
    ),
    "longitude": IdentifierRule(
        "a longitude", _decimal(-180, 180), "a decimal number of degrees from -180 to 180"
    ),
}
assert tuple(RULES) == IDENTIFIERS


def rule_for(identifier: str, today: dt.date | None) -> Rule | None:
    """The rule of ``identifier``; a birth date's measured against ``today`` (default today)."""
    if identifier == "dob":
        day = today or dt.date.today()
        return lambda text: _dob(text, day)
    return RULES[identifier].rule
