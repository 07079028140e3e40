"""The file a command writes, checked before anything is paid for.

Its format is told by its extension (``.csv``, ``.csv.gz``, ``.parquet``,
``.xlsx``); an unknown extension, a folder that does not exist or cannot be
written, an existing file (unless ``--overwrite``) and a list too long for an
Excel sheet are refused before the job is registered. CSV and Excel outputs
have their cells made safe to open in a spreadsheet unless ``--no-neutralise``
(see :mod:`smartmatch_pandas.files.cells`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OptionError
from ..files.tables import TableOutput

#: The tag of the file beside the output that holds the additional candidates.
ADDITIONAL: str = "additional"


def output_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``-o/--output``, ``--overwrite`` and ``--no-neutralise``."""
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=required,
        help="the enriched list: .csv, .csv.gz, .parquet or .xlsx (an Excel workbook)",
    )
    writing = parser.add_argument_group("writing the output")
    writing.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    writing.add_argument(
        "--no-neutralise",
        "--no-neutralize",
        dest="neutral",
        action="store_false",
        help="write CSV cells that start with = + - @ as they are (by default a cell a "
        "spreadsheet could run as a formula gets a leading ', and an Excel cell Excel's "
        "quote prefix; a cell of digits, spaces and + - ( ) . / alone, such as +1 430 997 "
        "6005 or -77.0387, is never changed, and an Excel text cell is never a formula)",
    )


def planned_output(path: Path, args: argparse.Namespace) -> TableOutput:
    """The output at ``path``, refused now if it cannot be written as asked.

    Raises
    ------
    OptionError
        An unknown extension, a place that cannot take it, or a file that exists.
    """
    output = TableOutput.of(path, neutral=args.neutral)
    output.check_place()
    if output.path.exists() and not args.overwrite:
        raise OptionError(
            f"{output.path} exists: give --overwrite to replace it, or another output name"
        )
    return output
