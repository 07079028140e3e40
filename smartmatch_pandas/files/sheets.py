"""Excel workbooks (``.xlsx``): a contact list read from a sheet, an enriched list written
as a real workbook, through openpyxl (the ``excel`` extra).

Read: the first sheet (or the one named), its first row the header, every cell
as text as Excel shows it (``2134`` for the number 2134, ``2026-01-31`` for a
date); rows empty throughout are skipped (Excel keeps formatted empty rows).
Written: one sheet, the header row then the rows, every text cell a text cell
(never a formula, whatever it starts with), numbers and dates as they are (a
date shown ``yyyy-mm-dd``, a timestamp with its time of day).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from ..errors import InputError
from .cells import risky

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

#: Rows of an Excel worksheet at most, the header row included.
EXCEL_MAX_ROWS: Final = 1_048_576
#: The extra that brings openpyxl.
EXTRA: Final = (
    "the excel extra: pip install -e '.[excel]' in a clone (pip install "
    "'smartmatch-pandas[excel]' once the package is published)"
)


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError:
        raise InputError(
            f"Excel workbooks need openpyxl, which is missing: {EXTRA} (or save the sheet as CSV)"
        ) from None
    return openpyxl


class SheetReader:
    """The rows of one sheet of a workbook, as text.

    Parameters
    ----------
    path
        The ``.xlsx`` file.
    sheet
        The sheet's name; the first sheet when None.

    Raises
    ------
    InputError
        openpyxl is not installed, the file is not a workbook, or it has no such sheet.
    """

    def __init__(self, path: str | os.PathLike[str], sheet: str | None = None) -> None:
        openpyxl = _openpyxl()
        self.path = Path(path)
        try:
            self._book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile's, KeyError, its own...
            raise InputError(
                f"{self.path} cannot be read as an Excel workbook (.xlsx): "
                f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        names = self._book.sheetnames
        if sheet is not None and sheet not in names:
            self._book.close()
            raise InputError(
                f"{self.path} has no sheet {sheet!r}: its sheets are {', '.join(map(repr, names))}"
            )
        self._sheet = self._book[sheet] if sheet is not None else self._book.worksheets[0]
        rows = self._rows()
        self.header = [cell or "" for cell in next(rows, [])]

    def _rows(self) -> Iterator[list[str | None]]:
        for row in self._sheet.iter_rows(values_only=True):
            cells = [cell_text(value) for value in row]
            if any(cell is not None for cell in cells):
                yield cells

    def batches(
        self, names: Sequence[str], include: Sequence[str], size: int
    ) -> Iterator[pa.RecordBatch]:
        """The rows under the header, ``size`` at a time, with the columns ``include`` of
        those the header ``names`` (made unique) gives; the workbook is let go at the end."""
        wanted = set(include)
        keep = [i for i, name in enumerate(names) if name in wanted]
        rows = self._rows()
        next(rows, None)  # the header
        try:
            while block := list(itertools.islice(rows, size)):
                columns = [[row[i] if i < len(row) else None for row in block] for i in keep]
                yield pa.RecordBatch.from_arrays(
                    [pa.array(column, pa.string()) for column in columns],
                    names=[names[i] for i in keep],
                )
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the workbook."""
        self._book.close()


def cell_text(value: object) -> str | None:
    """A cell's value as text as Excel shows it in general format; None for an empty cell."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


class SheetWriter:
    """An Excel workbook of one sheet, written row by row (openpyxl's write-only mode).

    Every text cell is a text cell, never a formula, whatever it starts with
    (openpyxl would make ``=1+1`` a formula); with ``quote`` a text cell a
    spreadsheet could run (:func:`~smartmatch_pandas.files.cells.risky`) also
    gets Excel's quote prefix, so that it stays text when edited, shown as it
    is, with no apostrophe of its own.

    Parameters
    ----------
    path
        Where the workbook is saved by :meth:`close`.
    names
        The header row.
    quote
        Whether to give risky text cells the quote prefix.
    """

    def __init__(
        self, path: str | os.PathLike[str], names: Sequence[str], *, quote: bool = False
    ) -> None:
        openpyxl = _openpyxl()
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        self.path = Path(path)
        self.quote = quote
        self._book: Workbook = openpyxl.Workbook(write_only=True)
        self._sheet = self._book.create_sheet("SmartMatch")
        self._cell, self._illegal = WriteOnlyCell, ILLEGAL_CHARACTERS_RE
        self._sheet.append([self._value(name) for name in names])

    def _value(self, value: object) -> object:
        if isinstance(value, str):
            value = self._illegal.sub("\ufffd", value)  # control characters a sheet cannot hold
            quoted = self.quote and risky(value)
            if quoted or value.startswith("="):  # openpyxl would write it as a formula
                cell = self._cell(self._sheet, value=value)
                cell.data_type = "s"
                cell.quotePrefix = quoted
                return cell
            return value
        if isinstance(value, dt.datetime | dt.time) and value.tzinfo is not None:
            return value.isoformat()  # Excel has no time zones
        if isinstance(value, list | dict | bytes):
            return str(value)
        return value

    def write(self, table: pa.Table) -> None:
        """Append the rows of ``table``."""
        columns = [column.to_pylist() for column in table.columns]
        for row in zip(*columns, strict=True):
            self._sheet.append([self._value(value) for value in row])

    def close(self) -> None:
        """Save the workbook."""
        self._book.save(self.path)
