"""The list a command reads: a CSV as people save it, an Excel sheet, or Parquet.

The flags ``--encoding``, ``--delimiter`` and ``--sheet`` say what the file
cannot (each is told from the file when not given, see
:class:`~smartmatch_pandas.files.tables.TableFile`).
"""

from __future__ import annotations

import argparse
import codecs
from pathlib import Path
from typing import Final

from ..files.tables import TableFile, table_kind
from .messages import UsageError

#: ``--delimiter``'s words for the delimiters a shell makes awkward to type.
DELIMITER_NAMES: Final = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|", "\\t": "\t"}


def input_arguments(parser: argparse.ArgumentParser) -> None:
    """``--encoding``, ``--delimiter`` and ``--sheet``."""
    reading = parser.add_argument_group("reading the list (told from the file when not given)")
    reading.add_argument(
        "--encoding",
        metavar="NAME",
        help="a CSV's encoding, e.g. utf-8, cp1252 (Excel on Windows), latin-1, utf-16",
    )
    reading.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="a CSV's delimiter: , ; | or tab (also: comma, semicolon, pipe)",
    )
    reading.add_argument(
        "--sheet", metavar="NAME", help="an Excel workbook's sheet (default: the first)"
    )


def open_input(path: Path, args: argparse.Namespace) -> TableFile:
    """The list at ``path``, read as the flags say.

    Raises
    ------
    UsageError
        An unknown encoding, or a delimiter that is not one character.
    InputError
        The file cannot be read.
    """
    encoding, delimiter = args.encoding, args.delimiter
    kind = table_kind(path)
    if args.sheet is not None and kind != "xlsx":
        raise UsageError(f"--sheet applies to an Excel workbook (.xlsx), and {path} is not one")
    if (encoding or delimiter) is not None and kind != "csv":
        flag = "--encoding" if encoding is not None else "--delimiter"
        what = "an Excel workbook" if kind == "xlsx" else "Parquet"
        raise UsageError(f"{flag} applies to CSV text, and {path} is {what}")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(
                f"--encoding {encoding!r} is not an encoding: try utf-8, cp1252, latin-1 or utf-16"
            ) from None
    if delimiter is not None:
        delimiter = DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if delimiter not in DELIMITER_NAMES.values():
            raise UsageError(f"--delimiter {args.delimiter!r} is not one read: , ; | or tab")
    return TableFile(path, encoding=encoding, delimiter=delimiter, sheet=args.sheet)
