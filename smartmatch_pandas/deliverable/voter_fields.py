"""The appended voter fields typed by a data dictionary: ages as integers, scores as floats,
dates as dates, few-valued fields as categoricals.

The dictionary is the package's ``voter_fields.csv``: one row per rule, a field's exact
name (``vb.voterbase_age``) or a name pattern (``*_score``), its kind, and the published
page or public code the rule was taken from. An exact name wins over the patterns; the
patterns are tried in the table's order; a field no rule names stays text.

Every conversion is vectorised (Arrow compute, then NumPy) and never raises on a value:
blank cells are missing, and a value that does not fit its kind (an age of ``"n/a"``, a
date of ``"20230230"``) becomes missing and is counted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache, cached_property
from importlib import resources
from typing import Final, Literal, TypeVar, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: What a field is typed as.
Kind = Literal["integer", "float", "date", "text", "category"]
KINDS: Final[tuple[str, ...]] = get_args(Kind)
#: The dtype of typed dates: datetime64 in milliseconds. Parquet keeps milliseconds
#: exactly (it has no seconds unit, so ``datetime64[s]`` comes back as ``[ms]``), and
#: unlike nanoseconds they reach any year (a birth date before 1677 is a misfit of its
#: own, not an overflow); Excel writers and ``.dt`` take them as any datetime64.
DATE_DTYPE: Final = np.dtype("datetime64[ms]")
_PATTERN_CHARACTERS: Final = frozenset("*?[")
_INTEGER: Final = r"^\+?(?P<n>-?[0-9]{1,18})(?:\.0*)?$"
_FLOAT: Final = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$"
# TargetSmart's YYYYMMDD, ISO 8601 (a time after the date is ignored) and M/D/YYYY.
_DATE: Final = (
    r"^(?:(?P<y1>[0-9]{4})(?P<m1>[0-9]{2})(?P<d1>[0-9]{2})"
    r"|(?P<y2>[0-9]{4})-(?P<m2>[0-9]{1,2})-(?P<d2>[0-9]{1,2})(?:[T ].*)?"
    r"|(?P<m3>[0-9]{1,2})/(?P<d3>[0-9]{1,2})/(?P<y3>[0-9]{4}))$"
)


@dataclass(frozen=True)
class FieldRule:
    """One row of ``voter_fields.csv``.

    Attributes
    ----------
    field
        A field's exact name, or a name pattern (``*``, ``?``, ``[...]`` as in
        :func:`fnmatch.fnmatch`), matched without regard to case.
    kind
        ``"integer"``, ``"float"``, ``"date"``, ``"text"`` or ``"category"``.
    source
        Where the field and its meaning are published, or ``"pattern"``.
    """

    field: str
    kind: Kind
    source: str

    @property
    def is_pattern(self) -> bool:
        """Whether :attr:`field` is a name pattern rather than a name."""
        return not _PATTERN_CHARACTERS.isdisjoint(self.field)


@dataclass(frozen=True)
class FieldDictionary:
    """The rules of ``voter_fields.csv``: exact names first, then the patterns in order."""

    rules: tuple[FieldRule, ...]

    @cached_property
    def exact(self) -> Mapping[str, FieldRule]:
        """The rules that name one field, by its name in lower case."""
        return {r.field.lower(): r for r in self.rules if not r.is_pattern}

    def rule_of(self, name: str) -> FieldRule | None:
        """The rule that types the field ``name``, or None when no rule names it."""
        lowered = name.lower()
        found = self.exact.get(lowered)
        if found is not None:
            return found
        return next(
            (r for r in self.rules if r.is_pattern and fnmatchcase(lowered, r.field.lower())),
            None,
        )

    def kind_of(self, name: str) -> Kind | None:
        """The kind the field ``name`` is typed as, or None (it stays text)."""
        rule = self.rule_of(name)
        return None if rule is None else rule.kind


@cache
def voter_fields() -> FieldDictionary:
    """The package's data dictionary, read once.

    Raises
    ------
    ValueError
        A row of ``voter_fields.csv`` names an unknown kind (a packaging mistake).
    """
    text = resources.files(__package__).joinpath("voter_fields.csv").read_text(encoding="utf-8")
    return FieldDictionary(tuple(_rule(row) for row in csv.DictReader(io.StringIO(text))))


def _rule(row: Mapping[str, str]) -> FieldRule:
    kind = row["kind"].strip()
    if kind not in KINDS:
        raise ValueError(f"voter_fields.csv: {row['field']!r} has an unknown kind {kind!r}")
    return FieldRule(row["field"].strip(), kind, row["source"].strip())  # type: ignore[arg-type]


def type_columns(
    frame: pd.DataFrame, columns: Iterable[Hashable] | Mapping[Hashable, str]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``frame`` with ``columns`` typed by the data dictionary, and the values that did not fit.

    Parameters
    ----------
    frame
        A frame whose ``columns`` hold text (as the deliverable's appended columns do).
    columns
        The columns to type; a mapping gives the field name each is known by at the
        service (an appended column renamed to keep clear of the frame's own).

    Returns
    -------
    tuple[pandas.DataFrame, dict[str, int]]
        A new frame (``frame`` is left as it is): integers as ``Int64``, floats as
        ``Float64``, dates as ``datetime64[ms]``, few-valued fields as categoricals,
        text and fields no rule names as they were. And, for every column typed, how
        many of its values did not fit and became missing (blank cells are missing,
        not misfits).

    Examples
    --------
    >>> raw = pd.DataFrame({"vb.voterbase_age": ["54", "n/a", ""]}, dtype="string")
    >>> typed, misfits = type_columns(raw, ["vb.voterbase_age"])
    >>> typed["vb.voterbase_age"].tolist(), misfits
    ([54, <NA>, <NA>], {'vb.voterbase_age': 1})
    """
    names = dict(columns) if isinstance(columns, Mapping) else {c: str(c) for c in columns}
    dictionary = voter_fields()
    out = frame.copy(deep=False)
    misfits: dict[str, int] = {}
    for position, label in enumerate(frame.columns):
        kind = dictionary.kind_of(names[label]) if label in names else None
        if kind is None or kind == "text":
            continue
        typed, misfit = typed_values(frame.iloc[:, position], kind)
        out.isetitem(position, typed.array)
        misfits[str(label)] = misfit
    return out, misfits


def typed_values(values: pd.Series, kind: Kind) -> tuple[pd.Series, int]:
    """``values`` (text) as ``kind``, and how many did not fit (they become missing)."""
    if kind == "text":
        return values, 0
    if values.dtype == object:  # whatever it holds (numbers, text, None), as text
        values = values.astype(pd.StringDtype("pyarrow"))
    typed, misfits = typed_array(pa.array(values.array), kind)
    return _as_series(typed, kind, values.index, values.name), misfits


def typed_array(values: pa.Array | pa.ChunkedArray, kind: Kind) -> tuple[pa.Array, int]:
    """Arrow ``values`` (text) as ``kind`` (``int64``, ``float64``, ``timestamp[ms]``,
    dictionary-encoded text; text as it is), and how many did not fit."""
    if kind == "text":
        return values, 0
    text = _trimmed(values)
    converted = _CONVERTERS[kind](text)
    return converted, converted.null_count - text.null_count


_Column = TypeVar("_Column", bound=Hashable)


def kinds_of(names: Mapping[_Column, str]) -> dict[_Column, Kind]:
    """The kind of each column of ``names`` (column → field name) that is typed (not text)."""
    dictionary = voter_fields()
    kinds = {column: dictionary.kind_of(name) for column, name in names.items()}
    return {column: kind for column, kind in kinds.items() if kind is not None and kind != "text"}


def typed_table(table: pa.Table, kinds: Mapping[str, Kind]) -> tuple[pa.Table, dict[str, int]]:
    """``table`` with the columns of ``kinds`` typed (as :func:`typed_array`), and the
    misfits of each: the batched merge's counterpart of :func:`type_columns`."""
    misfits: dict[str, int] = {}
    for name, kind in kinds.items():
        position = table.schema.get_field_index(name)
        typed, misfits[name] = typed_array(table.column(position), kind)
        table = table.set_column(position, name, typed)
    return table, misfits


def _trimmed(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The values as Arrow text without surrounding blanks; a blank cell is null."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.large_string())
    trimmed = pc.utf8_trim_whitespace(array)
    blank = pc.equal(pc.utf8_length(trimmed), 0)
    return pc.if_else(blank, pa.scalar(None, trimmed.type), trimmed)


def _integers(text: pa.Array) -> pa.Array:
    digits = pc.struct_field(pc.extract_regex(text, _INTEGER), "n")
    return pc.cast(digits, pa.int64())


def _floats(text: pa.Array) -> pa.Array:
    numeric = pc.if_else(pc.match_substring_regex(text, _FLOAT), text, pa.scalar(None, text.type))
    values = pc.cast(numeric, pa.float64())
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))


def _dates(text: pa.Array) -> pa.Array:
    year, month, day = _date_parts(text)
    fits = (month >= 1) & (month <= 12) & (year >= 1)
    months = np.where(fits, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    length = ((months + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    fits &= (day >= 1) & (day <= length)
    dates = (first + np.where(fits, day - 1, 0).astype("timedelta64[D]")).astype(DATE_DTYPE)
    return pa.array(dates, mask=~fits)


def _date_parts(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of each value (0 where it is no date in a known form)."""
    # TargetSmart's YYYYMMDD, the usual case, by slicing: several times quicker than the
    # regular expression, which reads the other forms.
    compact = pc.fill_null(
        pc.and_(pc.ascii_is_decimal(text), pc.equal(pc.binary_length(text), 8)), False
    )
    digits = pc.if_else(compact, text, pa.scalar("00000000", text.type))
    parts = [
        np.asarray(pc.cast(pc.utf8_slice_codeunits(digits, a, b), pa.int64()).to_numpy())
        for a, b in ((0, 4), (4, 6), (6, 8))
    ]
    others = pc.and_(pc.invert(compact), pc.is_valid(text))
    if pc.any(others).as_py():
        matched = pc.extract_regex(pc.if_else(others, text, pa.scalar(None, text.type)), _DATE)
        for k, letter in enumerate("ymd"):
            # One alternative matched: the others' groups are empty, so joining them gives its.
            groups = [pc.struct_field(matched, f"{letter}{n}") for n in (1, 2, 3)]
            joined = pc.binary_join_element_wise(*groups, pa.scalar("", text.type))
            number = pc.fill_null(pc.cast(joined, pa.int64()), 0).to_numpy(zero_copy_only=False)
            parts[k] = np.where(parts[k] != 0, parts[k], number)
    return parts[0], parts[1], parts[2]


def _categories(text: pa.Array) -> pa.Array:
    # Levels sorted, not in order of appearance: the same on every path (match, a job's
    # result, a batch), whatever order the rows came in.
    levels = pc.unique(text).drop_null()
    levels = levels.take(pc.sort_indices(levels))
    return pa.DictionaryArray.from_arrays(pc.index_in(text, value_set=levels), levels)


_CONVERTERS: Final = {
    "integer": _integers,
    "float": _floats,
    "date": _dates,
    "category": _categories,
}


def _as_series(values: pa.Array, kind: Kind, index: pd.Index, name: Hashable) -> pd.Series:
    """Arrow values as the pandas dtype of ``kind``."""
    missing = pc.is_null(values).to_numpy(zero_copy_only=False)
    if kind == "integer":
        data = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
        array: object = pd.arrays.IntegerArray(data, missing)
    elif kind == "float":
        data = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False)
        array = pd.arrays.FloatingArray(data, missing)
    elif kind == "date":
        array = values.to_numpy(zero_copy_only=False).astype(DATE_DTYPE)
    else:
        # Categories of the default string dtype: they come back as such from Parquet.
        categories = pd.Index(values.dictionary.to_pylist())
        codes = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
        array = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))
    return pd.Series(array, index=index, name=name, copy=False)


def dates_as_days(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its typed dates (``datetime64[ms]`` at midnight) as Arrow dates, which
    a CSV holds as ``YYYY-MM-DD`` (a timestamp would be written with a time of day)."""
    dated = [
        i
        for i, dtype in enumerate(frame.dtypes)
        if dtype == DATE_DTYPE and _midnights(frame.iloc[:, i].to_numpy())
    ]
    if not dated:
        return frame
    out = frame.copy(deep=False)
    for position in dated:
        days = pa.array(frame.iloc[:, position].to_numpy(), from_pandas=True).cast(pa.date32())
        out.isetitem(position, pd.arrays.ArrowExtensionArray(days))
    return out


def _midnights(values: np.ndarray) -> bool:
    days = values.astype("datetime64[D]")
    return bool(((values == days) | np.isnat(values)).all())
