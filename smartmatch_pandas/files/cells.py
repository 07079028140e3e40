"""Cells a spreadsheet would evaluate, written as plain text (OWASP's rule on CSV injection).

A CSV or Excel file opened in a spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``,
``+cmd|' /C calc'!A0``, ``@SUM(1+1)``), and a leading tab or carriage return
can hide one; quoting the cell in the CSV does not stop it.

The rule is precise, so that ordinary values are never changed: a cell made
only of digits, spaces and ``+ - ( ) . /`` cannot name a function, a link or
another program, so it is left as it is (a phone number ``+1 430 997 6005``,
``-77.0387``, ``-2+3``); so is a number as a spreadsheet reads one
(``-1.5e-3``), and every cell that starts with none of those characters. Any
other cell that starts with one (``=1+1``, ``-- prefers text``) is
:func:`risky`: in a CSV it gets a leading apostrophe, which a spreadsheet shows
as text and never runs (``'=1+1``: strip one leading apostrophe to read the
original); in an Excel workbook it is written as a text cell with Excel's
quote prefix (:class:`~smartmatch_pandas.files.sheets.SheetWriter`), shown as
it is and never run, even when edited.

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
#: What is put before such a cell in a CSV.
PREFIX: Final = "'"
#: A number as a spreadsheet reads one: a sign, digits with a decimal point, an exponent.
NUMBER: Final = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
#: A cell that can do no harm whatever it starts with: a number, or only digits, spaces
#: and ``+ - ( ) . /`` (a phone number, a date, arithmetic on numbers at most).
HARMLESS: Final = rf"(?:{NUMBER}|[0-9 +\-()./]*)"
_TRIGGER_RE: Final = "^[=+\\-@\\t\\r]"
_HARMLESS_RE: Final = re.compile(HARMLESS)


def risky(value: str) -> bool:
    """Whether a spreadsheet could run ``value`` as a formula that does harm."""
    return value.startswith(TRIGGERS) and not _HARMLESS_RE.fullmatch(value)


def neutral(value: str) -> str:
    """``value`` as a spreadsheet cannot evaluate it in a CSV: with the leading apostrophe
    if :func:`risky`."""
    return PREFIX + value if risky(value) else value


def neutral_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A text column with each cell made :func:`neutral` (any other column as it is)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    risky_cells = pc.and_kleene(
        pc.match_substring_regex(values, _TRIGGER_RE),
        pc.invert(pc.match_substring_regex(values, f"^{HARMLESS}$")),
    )
    if not pc.any(risky_cells).as_py():
        return values
    separator = pa.scalar("", values.type)
    prefixed = pc.binary_join_element_wise(pa.scalar(PREFIX, values.type), values, separator)
    return pc.if_else(risky_cells, prefixed, values)


def neutral_table(table: pa.Table) -> pa.Table:
    """``table`` with every text cell and every column name made :func:`neutral`."""
    columns = [neutral_array(column) for column in table.columns]
    return pa.Table.from_arrays(columns, names=[neutral(name) for name in table.column_names])
