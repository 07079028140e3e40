"""Identifier values as SmartMatch reads them: one vectorised normaliser per identifier.

Every column is first turned into text exactly as the user holds it
(:func:`to_text`), then its identifier's rule makes the form SmartMatch
documents: ``YYYYMMDD`` birth dates, 5-digit ZIPs, 10-digit phones, USPS
state codes, ... A value the rule cannot read is *invalid*: it is never
guessed at, and :meth:`Normalized.sent` decides what goes out for it (the
policy ``invalid="keep"``, ``"blank"`` or ``"raise"``). Blank values (empty
or only whitespace) and placeholders for nothing (:data:`PLACEHOLDERS`:
``NULL``, ``N/A``, ``#N/A``, ``nan``, ``None``, ``-``) are missing, not invalid,
in every identifier column and on every path (a frame, a file read in batches,
the command line). docs/preparing.md states every rule.

The work is done by pyarrow compute kernels over whole columns; a column
with many repeated values (states, names, ZIPs) is normalised once per
distinct value.

The modules: :mod:`~smartmatch_pandas.preparation.normalize.text` (any dtype to
text), :mod:`~smartmatch_pandas.preparation.normalize.rules` (the rule of each
identifier) and :mod:`~smartmatch_pandas.preparation.normalize.column` (a column
normalised, and what is sent for it).
"""

from __future__ import annotations

from .column import (
    PLACEHOLDERS,
    RAISE_REMEDY,
    Normalized,
    decoded,
    invalid_summary,
    is_placeholder,
    normalize,
    normalize_text,
    read_as_missing,
)
from .rules import GENDERS, MAX_AGE, RULES, STATES, IdentifierRule, Rule, digits_only
from .text import TEXT, to_text

__all__ = [
    "GENDERS",
    "MAX_AGE",
    "PLACEHOLDERS",
    "RAISE_REMEDY",
    "RULES",
    "STATES",
    "TEXT",
    "IdentifierRule",
    "Normalized",
    "Rule",
    "decoded",
    "digits_only",
    "invalid_summary",
    "is_placeholder",
    "normalize",
    "normalize_text",
    "read_as_missing",
    "to_text",
]
