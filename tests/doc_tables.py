"""Tables of the docs made from the tests and declarations behind them, so the two cannot drift.

A test module keeps its rows (fault, outcome, test; input, message, test; or
option, values, default, from the declaration of the options); :func:`check`
compares the rendered table with the document's section
between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``. After changing the
tests, write the sections again with::

    python -m tests.doc_tables
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
GUIDE = DOC.with_name("guide.md")


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; pipes and line breaks inside cells are escaped."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _section(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(\n<!-- {name}:end -->)", re.DOTALL)


def section(name: str, text: str | None = None, doc: Path = DOC) -> str:
    """The section ``name`` of ``doc`` (of ``text``, when given)."""
    found = _section(name).search(text if text is not None else doc.read_text())
    if found is None:
        raise AssertionError(f"{doc} has no section <!-- {name}:begin --> ... <!-- {name}:end -->")
    return found.group(2)


def check(name: str, table: str, doc: Path = DOC) -> None:
    """Assert that the section ``name`` of ``doc`` is ``table``."""
    assert section(name, doc=doc) == table, (
        f"the {name} table of {doc.name} is out of date: run `python -m tests.doc_tables`"
    )


def write(name: str, table: str, doc: Path = DOC) -> None:
    """Put ``table`` in the section ``name`` of ``doc``."""
    text = doc.read_text()
    section(name, text, doc)  # it must exist
    doc.write_text(_section(name).sub(lambda m: m.group(1) + table + m.group(3), text))


#: docs/preparing.md: the recognised export layouts, from the package's aliases.csv.
PREPARING = DOC.with_name("preparing.md")


def main() -> None:
    """Write every table from the tests and declarations behind it."""
    from . import test_bad_input, test_faults, test_hostile, test_layouts, test_options

    write("faults", test_faults.table())
    write("bad-input", test_bad_input.table())
    write("hostile", test_hostile.table())
    write("options", test_options.table(), GUIDE)
    write("layouts", test_layouts.table(), PREPARING)
    print(f"wrote the tables of {DOC}, {GUIDE} and {PREPARING}", file=sys.stderr)


if __name__ == "__main__":
    main()
