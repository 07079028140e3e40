"""Identifier values as SmartMatch reads them: one vectorised normaliser per identifier.

Every column is first turned into text exactly as the user holds it
(:func:`to_text`), then its identifier's rule makes the form SmartMatch
documents: ``YYYYMMDD`` birth dates, 5-digit ZIPs, 10-digit phones, USPS
state codes, ... A value the rule cannot read is *invalid*: it is never
guessed at, and :meth:`Normalized.sent` decides what goes out for it (the
policy ``invalid="keep"``, ``"blank"`` or ``"raise"``). Blank values (empty
or only whitespace) are missing, not invalid. docs/preparing.md states every
rule.

The work is done by pyarrow compute kernels over whole columns; a column
with many repeated values (states, names, ZIPs) is normalised once per
distinct value.
"""

from __future__ import annotations

import datetime as dt
import functools
import numbers
import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, OptionError
from ..identifiers import IDENTIFIERS
from ..options import POLICIES as POLICIES
from ..options import InvalidPolicy as InvalidPolicy
from ..options import check_policy as check_policy

#: Ages (and so birth dates) beyond this many years are taken as impossible.
MAX_AGE: Final = 120
TEXT: Final = pa.string()
# A column is normalised per distinct value when it has at most this share of them.
_DISTINCT_SHARE: Final = 0.3
_MIN_ROWS_FOR_DICTIONARY: Final = 4096
_SAMPLE: Final = 32_768


#: What to do about values that cannot be normalised, said when ``invalid="raise"`` stops.
RAISE_REMEDY: Final = (
    "fix them, or pass invalid='keep' to send them as given or invalid='blank' to send them empty"
)


# -- any dtype → text, as the user holds it -----------------------------------------------


def to_text(series: pd.Series, label: Hashable = None) -> pa.Array:
    """A column's values as Arrow text, as the user holds them.

    A string array; for a categorical column, a dictionary array of its
    categories' text.

    Missing values (None, NaN, NA, NaT) become null. Whole floats lose their
    ``.0`` (``2134.0`` → ``"2134"``); dates and midnight datetimes become
    ``YYYY-MM-DD`` (time-zone aware ones in their own zone), other datetimes
    ``YYYY-MM-DDTHH:MM:SS``; bytes are decoded as UTF-8. Works column-wise
    for every dtype, object columns of mixed types included.

    Raises
    ------
    InputError
        Bytes that are not UTF-8, or text that cannot be written as UTF-8 (a
        lone surrogate), naming the column and the row.
    """
    try:
        return _to_text(series, label)
    except UnicodeEncodeError:
        raise _unencodable(series, label) from None


def _unencodable(series: pd.Series, label: Hashable) -> InputError:
    """The error for a column holding text that UTF-8 cannot carry, naming the first row."""
    for row, value in zip(series.index, series.to_numpy(dtype=object), strict=True):
        try:
            str(value).encode("utf-8")
        except UnicodeEncodeError as exc:
            return InputError(
                f"column {label!r}, row {row!r}: text that cannot be written as UTF-8 "
                f"({exc.reason}: {exc.object[exc.start]!r}), as decoding bytes with "
                "errors='surrogateescape' leaves. Clean it first, for example "
                f"df[{label!r}] = df[{label!r}].str.encode('utf-8', 'replace').str.decode('utf-8')"
            )
    return InputError(f"column {label!r}: text that cannot be written as UTF-8")


def _to_text(series: pd.Series, label: Hashable) -> pa.Array:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_to_text(series, label)
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_to_text(_to_arrow(series), series, label)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetimes_to_text(series)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return _numbers_to_text(_to_arrow(series))
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return _to_arrow(series, TEXT)
    return _objects_to_text(series.to_numpy(dtype=object), series.index, label)


def _to_arrow(series: pd.Series | np.ndarray, type: pa.DataType | None = None) -> pa.Array:
    array = pa.array(series, type=type, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(type) if type is not None and array.type != type else array


def _categorical_to_text(series: pd.Series, label: Hashable) -> pa.Array:
    """The categories as text, indexed by code: the work is per category, not per row.

    A dictionary array: its values are the categories' text, its indices the codes.
    """
    categories = pd.Series(series.cat.categories)
    try:
        text = to_text(categories, label)
    except InputError:
        # Name the row, not the category.
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)
    codes = series.cat.codes.to_numpy()
    indices = pa.array(codes, mask=codes < 0).cast(pa.int32())
    return pa.DictionaryArray.from_arrays(indices, text)


def _arrow_to_text(array: pa.Array, series: pd.Series, label: Hashable) -> pa.Array:
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _timestamps_to_text(array)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return _numbers_to_text(array)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)
    if pa.types.is_dictionary(kind):
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)
    try:
        return array.cast(TEXT)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)


def _numbers_to_text(array: pa.Array) -> pa.Array:
    """Numbers as text; whole floats as integers (``2134.0`` → ``"2134"``, never ``2.134e+03``)."""
    if pa.types.is_floating(array.type):
        array = array.cast(pa.float64())
        # NaN is missing, whether pandas marked it or not.
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, pa.float64()), array)
        whole = pc.and_(
            pc.is_finite(array),
            pc.and_(pc.equal(pc.floor(array), array), pc.less(pc.abs(array), 1e18)),
        )
        as_int = pc.cast(pc.if_else(whole, array, 0.0), pa.int64(), safe=False)
        return pc.if_else(whole, as_int.cast(TEXT), array.cast(TEXT))
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "True", "False")
    return array.cast(TEXT)


def _datetimes_to_text(series: pd.Series) -> pa.Array:
    """``YYYY-MM-DD`` when every value is at midnight, else ``YYYY-MM-DDTHH:MM:SS``."""
    return _timestamps_to_text(_to_arrow(series))


def _timestamps_to_text(stamps: pa.Array) -> pa.Array:
    if pa.types.is_date(stamps.type):
        return stamps.cast(TEXT)
    if stamps.type.tz is not None:
        stamps = pc.local_timestamp(stamps)  # the wall time where the value was recorded
    at_midnight = pc.equal(pc.floor_temporal(stamps, unit="day"), stamps)
    if pc.all(at_midnight).as_py() is not False:
        return stamps.cast(pa.date32()).cast(TEXT)
    return pc.strftime(stamps.cast(pa.timestamp("s"), safe=False), "%Y-%m-%dT%H:%M:%S")


def _objects_to_text(values: np.ndarray, index: pd.Index, label: Hashable) -> pa.Array:
    """An object column as text, one vectorised step per kind of value it holds.

    Each kind's text is made on its own rows, then all are put back in row
    order with one ``take``: no Python string is made per row.
    """
    try:
        return _to_arrow(values, TEXT)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # not all text: convert each kind on its own
    codes, types = pd.factorize(np.frompyfunc(type, 1, 1)(values))
    kinds = np.array([_KINDS.index(_kind(t)) for t in types], dtype=np.int8)[codes]
    parts: list[pa.Array] = [pa.nulls(1, TEXT)]  # row 0 of the parts: the null for missing
    place = np.zeros(len(values), dtype=np.int64)
    offset = 1
    for k in np.flatnonzero(np.bincount(kinds, minlength=len(_KINDS))):
        if _KINDS[k] == "missing":
            continue
        rows = np.flatnonzero(kinds == k)
        parts.append(_one_kind_to_text(_KINDS[k], values[rows], index, rows, label))
        place[rows] = np.arange(offset, offset + len(rows))
        offset += len(rows)
    return pa.concat_arrays(parts).take(pa.array(place))


_KINDS: Final = ("missing", "text", "bytes", "bool", "int", "float", "datetime", "other")


def _kind(kind: type) -> str:
    if kind is type(None) or kind is type(pd.NA) or kind is type(pd.NaT):
        return "missing"
    if issubclass(kind, str):
        return "text"
    if issubclass(kind, bytes | bytearray):
        return "bytes"
    if issubclass(kind, bool | np.bool_):
        return "bool"
    if issubclass(kind, numbers.Integral):
        return "int"
    if issubclass(kind, float | np.floating):
        return "float"
    if issubclass(kind, dt.date | np.datetime64):
        return "datetime"
    return "other"


def _one_kind_to_text(
    kind: str, values: np.ndarray, index: pd.Index, rows: np.ndarray, label: Hashable
) -> pa.Array:
    if kind == "text":
        return _to_arrow(values, TEXT)
    if kind == "bytes":
        return _bytes_to_text(values, index[rows], label)
    if kind == "bool":
        return pa.array(np.where(values.astype(bool), "True", "False"), TEXT)
    if kind == "int":
        try:
            return pa.array(values, pa.int64()).cast(TEXT)
        except (pa.ArrowInvalid, OverflowError):
            return pa.array([str(v) for v in values], TEXT)  # integers beyond 64 bits: rare
    if kind == "float":
        return _numbers_to_text(pa.array(values.astype(np.float64), pa.float64()))
    if kind == "datetime":
        try:
            stamps = pd.Series(pd.to_datetime(values))
        except (TypeError, ValueError, OverflowError):
            stamps = None  # out of range, or mixed time zones
        if stamps is not None and pd.api.types.is_datetime64_any_dtype(stamps.dtype):
            return _datetimes_to_text(stamps)
    return pa.array([str(v) for v in values], TEXT)


def _bytes_to_text(values: np.ndarray, index: pd.Index, label: Hashable) -> pa.Array:
    try:
        return pa.array([bytes(v) for v in values], pa.binary()).cast(TEXT)
    except pa.ArrowInvalid:
        for value, row in zip(values, index, strict=True):
            try:
                bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    f"column {label!r}, row {row!r}: bytes that are not UTF-8 text; decode "
                    "them first, for example df[col] = df[col].str.decode('latin-1')"
                ) from None
        raise  # pragma: no cover  (Arrow and Python agree on UTF-8)


# -- the rules, one per identifier --------------------------------------------------------

#: A run of whitespace as Python's ``str.isspace`` sees it (the set ``utf8_trim_whitespace``
#: trims): RE2's ``\s`` is only ``[\t\n\f\r ]``.
_SPACES: Final = r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\pZ]+"

Rule = Callable[[pa.Array], pa.Array]
"""Trimmed, non-blank text in; the normalised text out, null where it cannot be normalised."""


def _regex(text: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(text, pattern)


def _keep_where(mask: pa.Array, values: pa.Array) -> pa.Array:
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
    return _fix(
        text,
        _regex(text, r"^\d+\.0*$"),
        lambda t: pc.utf8_rtrim(pc.utf8_rtrim(t, "0"), "."),
    )


def _identity(text: pa.Array) -> pa.Array:
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
    padded = pc.utf8_lpad(_keep_where(_regex(text, r"^\d{3,5}$"), text), 5, "0")
    # The lowest ZIP in use is 00501; fewer than 3 digits is no ZIP that lost its zeros.
    return _keep_where(pc.greater_equal(pc.cast(padded, pa.int32()), 501), padded)


_DATE: Final = (
    r"^(?:(?P<y1>\d{4})[-/](?P<m1>\d{1,2})[-/](?P<d1>\d{1,2})"
    r"|(?P<m2>\d{1,2})[-/](?P<d2>\d{1,2})[-/](?P<y2>\d{4})"
    r"|(?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2}))"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DAYS_IN_MONTH: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _dob(text: pa.Array, today: dt.date) -> pa.Array:
    parts = pc.extract_regex(_whole_number_text(text), _DATE)
    empty = pa.scalar("", TEXT)

    def part(names: tuple[str, str, str]) -> np.ndarray:
        # One alternative matched: the other two groups are empty, so joining picks it.
        joined = pc.binary_join_element_wise(*(parts.field(n) for n in names), empty)
        number = pc.cast(pc.if_else(pc.equal(joined, ""), "0", joined), pa.int64())
        return np.asarray(pc.fill_null(number, 0).to_numpy(zero_copy_only=False))

    year, month, day = part(("y1", "y2", "y3")), part(("m1", "m2", "m3")), part(("d1", "d2", "d3"))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    ymd = year * 10_000 + month * 100 + day
    today_ymd = today.year * 10_000 + today.month * 100 + today.day
    ok = month_ok & (day >= 1) & (day <= last_day)
    ok &= (ymd <= today_ymd) & (ymd > today_ymd - MAX_AGE * 10_000)
    return pa.array(ymd, pa.int64(), mask=~ok).cast(TEXT)


def _age(text: pa.Array) -> pa.Array:
    text = _whole_number_text(text)
    digits = _keep_where(_regex(text, r"^\d{1,3}$"), text)
    years = pc.cast(digits, pa.int32())
    return _keep_where(pc.less_equal(years, MAX_AGE), years.cast(TEXT))


def _lookup(table: dict[str, str]) -> Rule:
    """A rule that reads a value by table, ignoring case, dots, commas and extra spaces."""
    keys = pa.array(list(table), TEXT)
    codes = pa.array(list(table.values()), TEXT)

    def rule(text: pa.Array) -> pa.Array:
        key = pc.utf8_upper(pc.replace_substring_regex(text, r"[.,]", " "))
        key = pc.utf8_trim_whitespace(pc.replace_substring_regex(key, _SPACES, " "))
        return codes.take(pc.index_in(key, value_set=keys))

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

#: USPS codes with the names they are spelled out as (DC and the territories included).
STATES: Final[dict[str, tuple[str, ...]]] = {
    "AL": ("Alabama",),
    "AK": ("Alaska",),
    "AZ": ("Arizona",),
    "AR": ("Arkansas",),
    "CA": ("California",),
    "CO": ("Colorado",),
    "CT": ("Connecticut",),
    "DE": ("Delaware",),
    "DC": ("District of Columbia", "Washington DC", "Washington D C", "D C"),
    "FL": ("Florida",),
    "GA": ("Georgia",),
    "HI": ("Hawaii",),
    "ID": ("Idaho",),
    "IL": ("Illinois",),
    "IN": ("Indiana",),
    "IA": ("Iowa",),
    "KS": ("Kansas",),
    "KY": ("Kentucky",),
    "LA": ("Louisiana",),
    "ME": ("Maine",),
    "MD": ("Maryland",),
    "MA": ("Massachusetts",),
    "MI": ("Michigan",),
    "MN": ("Minnesota",),
    "MS": ("Mississippi",),
    "MO": ("Missouri",),
    "MT": ("Montana",),
    "NE": ("Nebraska",),
    "NV": ("Nevada",),
    "NH": ("New Hampshire",),
    "NJ": ("New Jersey",),
    "NM": ("New Mexico",),
    "NY": ("New York",),
    "NC": ("North Carolina",),
    "ND": ("North Dakota",),
    "OH": ("Ohio",),
    "OK": ("Oklahoma",),
    "OR": ("Oregon",),
    "PA": ("Pennsylvania",),
    "RI": ("Rhode Island",),
    "SC": ("South Carolina",),
    "SD": ("South Dakota",),
    "TN": ("Tennessee",),
    "TX": ("Texas",),
    "UT": ("Utah",),
    "VT": ("Vermont",),
    "VA": ("Virginia",),
    "WA": ("Washington",),
    "WV": ("West Virginia",),
    "WI": ("Wisconsin",),
    "WY": ("Wyoming",),
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
_EXTENSION: Final = r"(?i)\s*[,;]?\s*(?:ext\.?|extension|x|#)\s*\d{1,7}$"


def _phone(text: pa.Array) -> pa.Array:
    clean = _regex(text, r"^[2-9]\d{2}[2-9]\d{6}$")  # already 10 digits: nothing to do
    return _fix(text, pc.invert(clean), _phone_digits)


def _phone_digits(text: pa.Array) -> pa.Array:
    valid = _keep_where(_regex(text, _PHONE), text)
    valid = _fix(
        valid,
        _regex(valid, r"[xXnN#]"),
        lambda t: pc.replace_substring_regex(t, _EXTENSION, ""),
    )
    digits = _keep_where(valid.is_valid(), digits_only(valid))
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
    valid = _keep_where(_regex(text, _EMAIL), text)
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
        number = _keep_where(_regex(text, r"^-?(?:\d+\.?\d*|\.\d+)$"), text)
        degrees = pc.cast(number, pa.float64())
        inside = pc.and_(pc.greater_equal(degrees, low), pc.less_equal(degrees, high))
        return _keep_where(inside, number)

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


_TRIM = "trimmed; otherwise sent as given"
_NAME = "trimmed, inner whitespace collapsed to one space, accents kept (Unicode NFC)"

#: The rule of every identifier.
RULES: Final[dict[str, IdentifierRule]] = {
    "voterbase_id": IdentifierRule("a voterbase id", _identity, _TRIM),
    "smartvan_id": IdentifierRule("a SmartVAN id", _identity, _TRIM),
    "voter_id": IdentifierRule("a state voter id", _identity, _TRIM),
    "exact_track": IdentifierRule("an exact_track id", _identity, _TRIM),
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


def _rule_for(identifier: str, today: dt.date | None) -> Rule | None:
    if identifier == "dob":
        day = today or dt.date.today()
        return lambda text: _dob(text, day)
    return RULES[identifier].rule


# -- a column normalised ------------------------------------------------------------------


def decoded(values: pa.Array) -> pa.Array:
    """Values one per row: a dictionary array (see :class:`Normalized`) expanded."""
    return values.dictionary_decode() if isinstance(values, pa.DictionaryArray) else values


@dataclass(frozen=True)
class Normalized:
    """One column's values as given and as normalised for its identifier.

    Attributes
    ----------
    identifier
        The identifier the column is sent as.
    given
        The values as text, as the user holds them (null where missing).
    value
        The normalised values (null where missing or invalid).
    present
        Rows holding a value (not missing, not blank).
    invalid
        Rows holding a value its identifier's rule cannot read.

    When the column was normalised per distinct value, ``given`` and ``value``
    are dictionary arrays sharing their indices: the rows are never expanded.
    """

    identifier: str
    given: pa.Array
    value: pa.Array
    present: np.ndarray
    invalid: np.ndarray

    @property
    def changed(self) -> np.ndarray:
        """Rows whose normalised value differs from the value as given."""
        if isinstance(self.given, pa.DictionaryArray):
            differs = pc.not_equal(self.given.dictionary, self.value.dictionary)
            changed = _per_row(_mask(pc.fill_null(differs, False)), self.given.indices)
        else:
            changed = _mask(pc.fill_null(pc.not_equal(self.given, self.value), False))
        both: np.ndarray = changed & self.present
        return both

    def sent(
        self, invalid: InvalidPolicy = "keep", label: Hashable = None, index: pd.Index | None = None
    ) -> pa.Array:
        """The values to upload, invalid ones as the policy says.

        Parameters
        ----------
        invalid
            ``"keep"`` sends an invalid value as given, ``"blank"`` empty,
            ``"raise"`` raises.
        label, index
            The column's label and the frame's index, for the error message.

        Raises
        ------
        InputError
            ``invalid="raise"`` and some value is invalid; names the column
            and up to five rows.
        """
        if not self.invalid.any() or invalid == "blank":
            return self.value
        if invalid == "raise":
            rows = index if index is not None else pd.RangeIndex(len(self.given))
            raise InputError(self.invalid_summary(label, rows) + "; " + RAISE_REMEDY)
        if isinstance(self.given, pa.DictionaryArray):
            given, value = self.given.dictionary, self.value.dictionary
            present = pc.not_equal(pc.utf8_trim_whitespace(given), "")
            kept = pc.if_else(pc.and_(present, value.is_null()), given, value)
            return pa.DictionaryArray.from_arrays(self.given.indices, kept)
        return pc.if_else(pa.array(self.invalid), self.given, self.value)

    def invalid_summary(self, label: Hashable, index: pd.Index) -> str:
        """``column 'ZIP' (zip): 2 value(s) are not a ZIP code (row 4: 'n/a', ...)``."""
        count = int(self.invalid.sum())
        return invalid_summary(label, self.identifier, count, self.examples(index))

    def examples(self, index: pd.Index, limit: int = 5) -> list[tuple[Hashable, str]]:
        """Up to ``limit`` invalid values as given, with their row labels."""
        rows = np.flatnonzero(self.invalid)[:limit]
        given = self.given.take(pa.array(rows, pa.int64())).to_pylist()
        return [(index[row], value) for row, value in zip(rows, given, strict=True)]


def invalid_summary(
    label: Hashable, identifier: str, count: int, examples: list[tuple[Hashable, str]]
) -> str:
    """``column 'ZIP' (zip): 2 value(s) are not a ZIP code (row 4: 'n/a', ...)``."""
    shown = ", ".join(f"row {row!r}: {value!r}" for row, value in examples)
    return (
        f"column {label!r} ({identifier}): {count:,} value(s) are "
        f"not {RULES[identifier].what} ({shown})"
    )


def normalize(
    series: pd.Series,
    identifier: str,
    *,
    label: Hashable = None,
    today: dt.date | None = None,
) -> Normalized:
    """Normalise one column for ``identifier``.

    Parameters
    ----------
    series
        The column, of any dtype.
    identifier
        One of :data:`~smartmatch_pandas.identifiers.IDENTIFIERS`.
    label
        The column's label, for messages.
    today
        The date future birth dates are measured against; default today.

    Examples
    --------
    >>> import pandas as pd
    >>> normalize(pd.Series([2134, "02134-1234", "n/a", None]), "zip").value.to_pylist()
    ['02134', '02134', None, None]
    """
    return normalize_text(to_text(series, label), identifier, today=today)


def normalize_text(given: pa.Array, identifier: str, *, today: dt.date | None = None) -> Normalized:
    """Normalise a column already read as text by :func:`to_text` (see :func:`normalize`)."""
    if identifier not in RULES:
        raise OptionError(f"{identifier!r} is not a SmartMatch identifier")
    rule = _rule_for(identifier, today)
    if isinstance(given, pa.DictionaryArray) or (rule is not _identity and _mostly_repeated(given)):
        # Birth dates, ZIPs, states, names repeat at scale: a million rows hold a few
        # thousand distinct values, and the work is done on those.
        encoded = given if isinstance(given, pa.DictionaryArray) else pc.dictionary_encode(given)
        value, present = _normalized(encoded.dictionary, rule)
        distinct_invalid = _mask(present) & _mask(value.is_null())
        return Normalized(
            identifier,
            encoded,
            pa.DictionaryArray.from_arrays(encoded.indices, value),
            _per_row(_mask(present), encoded.indices),
            _per_row(distinct_invalid, encoded.indices),
        )
    value, present = _normalized(given, rule)
    present_rows = _mask(present)
    return Normalized(identifier, given, value, present_rows, present_rows & _mask(value.is_null()))


def _per_row(distinct: np.ndarray, indices: pa.Array) -> np.ndarray:
    """A per-distinct-value mask spread over the rows (False where the row is missing)."""
    rows = np.asarray(pc.fill_null(indices, -1).to_numpy(zero_copy_only=False))
    spread: np.ndarray = np.append(distinct, False)[rows]
    return spread


def _normalized(given: pa.Array, rule: Rule | None) -> tuple[pa.Array, pa.Array]:
    """The values normalised (null where missing or invalid), and which are present."""
    trimmed = pc.utf8_trim_whitespace(given)
    present = pc.fill_null(pc.not_equal(trimmed, ""), False)
    if rule is None:
        return _keep_where(present, given), present
    return rule(_keep_where(present, trimmed)), present


def _mostly_repeated(text: pa.Array) -> bool:
    """Whether at most :data:`_DISTINCT_SHARE` of the values are distinct, judged from a sample.

    The number of distinct values is estimated with Chao1 (``d + f1 (f1 - 1) /
    (2 (f2 + 1))`` from the values seen once, ``f1``, and twice, ``f2``), which is
    not fooled by a few values repeated very often in an otherwise unique column.
    """
    n = len(text)
    if n < _MIN_ROWS_FOR_DICTIONARY:
        return False
    counts = pc.value_counts(text.take(_sample_rows(n))).field("counts").to_numpy()
    once, twice = int((counts == 1).sum()), int((counts == 2).sum())
    distinct = len(counts) + once * (once - 1) / (2 * (twice + 1))
    return bool(distinct <= _DISTINCT_SHARE * n)


@functools.lru_cache(maxsize=4)
def _sample_rows(n: int) -> pa.Array:
    """The rows :func:`_mostly_repeated` samples from ``n`` values: drawn once per length,
    not once per column (drawing from a few hundred thousand takes milliseconds)."""
    s = min(n, _SAMPLE)
    rows = np.random.default_rng(0).choice(n, s, replace=False) if s < n else np.arange(n)
    return pa.array(rows)


def _mask(flags: pa.Array) -> np.ndarray:
    """An Arrow boolean array without nulls as a NumPy one."""
    out: np.ndarray = np.asarray(flags.to_numpy(zero_copy_only=False), dtype=bool)
    return out
