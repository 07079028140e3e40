"""Cells a spreadsheet would evaluate, written as plain text (OWASP's rule on CSV injection).

A CSV or Excel file opened in a spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``,
``+cmd|' /C calc'!A0``, ``@SUM(1+1)``), and a leading tab or carriage return
can hide one; quoting the cell in the CSV does not stop it. Such a cell gets a
leading apostrophe, which a spreadsheet shows as text and does not evaluate:
``=1+1`` is written ``'=1+1``. A cell that is a number as it stands
(``-77.0387``, ``+1``, ``-1.5e-3``) is left as it is, and so is every other cell.

The command line's CSV and Excel outputs are written so by default (the
header row included); frames returned in Python are data, never changed.
"""

from __future__ import annotations

import re
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

#: The first characters that make a spreadsheet evaluate a cell.
TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")
#: What is put before such a cell.
PREFIX: Final = "'"
#: A number as a spreadsheet reads one: a sign, digits with a decimal point, an exponent.
NUMBER: Final = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_TRIGGER_RE: Final = "^[=+\\-@\\t\\r]"
_NUMBER_RE: Final = re.compile(NUMBER)


def neutral(value: str) -> str:
    """``value`` as a spreadsheet cannot evaluate it: with the leading apostrophe if needed."""
    if value.startswith(TRIGGERS) and not _NUMBER_RE.fullmatch(value):
        return PREFIX + value
    return value


def neutral_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A text column with each cell made :func:`neutral` (any other column as it is)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    risky = pc.and_kleene(
        pc.match_substring_regex(values, _TRIGGER_RE),
        pc.invert(pc.match_substring_regex(values, f"^{NUMBER}$")),
    )
    if not pc.any(risky).as_py():
        return values
    separator = pa.scalar("", values.type)
    prefixed = pc.binary_join_element_wise(pa.scalar(PREFIX, values.type), values, separator)
    return pc.if_else(risky, prefixed, values)


def neutral_table(table: pa.Table) -> pa.Table:
    """``table`` with every text cell and every column name made :func:`neutral`."""
    columns = [neutral_array(column) for column in table.columns]
    return pa.Table.from_arrays(columns, names=[neutral(name) for name in table.column_names])
