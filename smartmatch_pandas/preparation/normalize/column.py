"""A column normalised: :class:`Normalized` (its values as given and as normalised,
which are present and which invalid, and what is sent for them under the
``invalid=`` policy), made by :func:`normalize`; a column of many repeated
values is normalised once per distinct value."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, OptionError
from ...options import InvalidPolicy
from .rules import RULES, Rule, identity, keep_where, rule_for
from .text import to_text

# A column is normalised per distinct value when it has at most this share of them.
_DISTINCT_SHARE: Final = 0.3
_MIN_ROWS_FOR_DICTIONARY: Final = 4096
_SAMPLE: Final = 32_768


#: What to do about values that cannot be normalised, said when ``invalid="raise"`` stops.
RAISE_REMEDY: Final = (
    "fix them, or pass invalid='keep' to send them as given or invalid='blank' to send them empty"
)


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
    placeholders
        How many rows hold a placeholder for nothing (:data:`PLACEHOLDERS`), read as
        missing.

    When the column was normalised per distinct value, ``given`` and ``value``
    are dictionary arrays sharing their indices: the rows are never expanded.
    """

    identifier: str
    given: pa.Array
    value: pa.Array
    present: np.ndarray
    invalid: np.ndarray
    placeholders: int = 0

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
            present, _ = _present(pc.utf8_trim_whitespace(given))
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
    rule = rule_for(identifier, today)
    if isinstance(given, pa.DictionaryArray) or (rule is not identity and _mostly_repeated(given)):
        # Birth dates, ZIPs, states, names repeat at scale: a million rows hold a few
        # thousand distinct values, and the work is done on those.
        encoded = given if isinstance(given, pa.DictionaryArray) else pc.dictionary_encode(given)
        value, present, marks = _normalized(encoded.dictionary, rule)
        distinct_invalid = _mask(present) & _mask(value.is_null())
        return Normalized(
            identifier,
            encoded,
            pa.DictionaryArray.from_arrays(encoded.indices, value),
            _per_row(_mask(present), encoded.indices),
            _per_row(distinct_invalid, encoded.indices),
            int(_per_row(_mask(marks), encoded.indices).sum()) if pc.any(marks).as_py() else 0,
        )
    value, present, marks = _normalized(given, rule)
    present_rows = _mask(present)
    invalid = present_rows & _mask(value.is_null())
    return Normalized(identifier, given, value, present_rows, invalid, _count(marks))


def _per_row(distinct: np.ndarray, indices: pa.Array) -> np.ndarray:
    """A per-distinct-value mask spread over the rows (False where the row is missing)."""
    rows = np.asarray(pc.fill_null(indices, -1).to_numpy(zero_copy_only=False))
    spread: np.ndarray = np.append(distinct, False)[rows]
    return spread


#: Text that stands for nothing, read as missing in every identifier column by default
#: (compared without case: ``NULL``, ``null``, ``N/A``, ``#N/A``, ``nan``, ``NaN``,
#: ``None``, ``-``). :func:`read_as_missing` changes the set.
PLACEHOLDERS: Final = ("null", "nan", "n/a", "#n/a", "none", "-")
_read_as_missing: list[tuple[str, ...]] = [PLACEHOLDERS]


def read_as_missing(placeholders: Iterable[str] = PLACEHOLDERS) -> tuple[str, ...]:
    """Set the text read as missing in every identifier column; return the set it replaces.

    ``read_as_missing(())`` turns the rule off (a first name ``None`` is then sent as
    it is); ``read_as_missing()`` restores the default, :data:`PLACEHOLDERS`. It holds
    for every path: a frame, a file read in batches, the command line, and a job
    resumed from its frame (which must be read as it was when submitted).

    Examples
    --------
    >>> previous = read_as_missing(())
    >>> read_as_missing(previous)
    ()
    """
    previous = _read_as_missing[0]
    _read_as_missing[0] = tuple(p.strip().lower() for p in placeholders)
    return previous


def is_placeholder(trimmed: pa.Array) -> pa.Array:
    """Which trimmed values are placeholders for nothing (false where null)."""
    marks = _read_as_missing[0]
    longest = max((len(m.encode()) for m in marks), default=-1)
    # Byte lengths come from the offsets alone: only the few short values are compared.
    short = pc.fill_null(pc.less_equal(pc.binary_length(trimmed), longest), False)
    if not pc.any(short).as_py():
        return short  # no value short enough to be one
    listed = pa.array(marks, trimmed.type)
    found = pc.is_in(pc.utf8_lower(trimmed.filter(short)), value_set=listed)
    return pc.replace_with_mask(short, short, pc.fill_null(found, False))


def _normalized(given: pa.Array, rule: Rule | None) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The values normalised (null where missing or invalid), which are present (not
    missing, not blank, not a placeholder for nothing), and which are placeholders."""
    trimmed = pc.utf8_trim_whitespace(given)
    present, marks = _present(trimmed)
    if rule is None:
        return keep_where(present, given), present, marks
    return rule(keep_where(present, trimmed)), present, marks


def _present(trimmed: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Which trimmed values hold something (not missing, not blank, not a placeholder for
    nothing), and which are placeholders."""
    marks = is_placeholder(trimmed)
    return pc.and_(pc.fill_null(pc.not_equal(trimmed, ""), False), pc.invert(marks)), marks


def _count(flags: pa.Array) -> int:
    return int(pc.sum(pc.cast(flags, pa.int64())).as_py() or 0)


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
