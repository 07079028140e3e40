"""Tables of the docs made from the tests and declarations behind them, so the two cannot drift.

A test module keeps its rows (fault, outcome, test; input, message, test; or
option, values, default, from the declaration of the options); :func:`check`
compares the rendered table with the document's section
between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``. After changing the
tests, write the sections again with::

    python -m tests.doc_tables

Figures are made the same way: each block of benchmark figures in the docs sits
between ``<!-- figures-NAME:begin -->`` and ``<!-- figures-NAME:end -->``, opens with
the command that printed it, and is written again by running that command::

    python -m tests.doc_tables --figures            # every benchmark of FIGURES
    python -m tests.doc_tables --figures job-store  # one

The figures of a run differ from the last; what the suite checks of a small benchmark
(:attr:`Figures.small`, run in the suite) is that its output still has the lines and
labels of the block in the docs, every number aside (:func:`shape`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
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
#: docs/cli.md: the command line's reference, from its argument parser.
CLI = DOC.with_name("cli.md")


#: docs/jobs.md: the job store's figures.
JOBS = DOC.with_name("jobs.md")
#: docs/performance.md: the figures of typing the voter fields.
PERFORMANCE = DOC.with_name("performance.md")


@dataclass(frozen=True)
class Figures:
    """A block of figures in the docs, and the benchmark that prints it."""

    name: str  # the section: figures-NAME
    doc: Path
    command: tuple[str, ...]  # the arguments of ``python -m``
    small: bool  # quick enough (seconds) for the suite to run it and compare

    @property
    def section(self) -> str:
        return f"figures-{self.name}"

    @property
    def command_line(self) -> str:
        return "$ python -m " + " ".join(self.command)

    def block(self, output: str) -> str:
        """The section's text: a fenced block of the command, then what it printed."""
        return f"```text\n{self.command_line}\n{output.strip(chr(10))}\n```"

    def run(self) -> str:
        """Run the benchmark (from the repository's root) and return what it printed."""
        done = subprocess.run(
            [sys.executable, "-m", *self.command],
            cwd=DOC.parent.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


#: Every block of figures the docs hold in a section, with its benchmark.
FIGURES = (
    Figures("job-store", JOBS, ("benchmarks.job_store", "--rows", "20000"), small=True),
    Figures("load", DOC, ("benchmarks.load", "--clients", "50", "--rows", "200"), small=False),
    Figures("hostile", DOC, ("benchmarks.hostile",), small=False),
    Figures(
        "frames",
        DOC.with_name("performance.md"),
        ("benchmarks.frames", "--rows", "1000000"),
        small=False,
    ),
    Figures(
        "frames-5m",
        DOC.with_name("performance.md"),
        ("benchmarks.frames", "--rows", "5000000"),
        small=False,
    ),
    Figures(
        "dask",
        DOC.with_name("performance.md"),
        ("benchmarks.dask_frames", "--rows", "1000000"),
        small=False,
    ),
    Figures(
        "dask-5m",
        DOC.with_name("performance.md"),
        ("benchmarks.dask_frames", "--rows", "5000000"),
        small=False,
    ),
    Figures(
        "load-fast-polls",
        DOC,
        ("benchmarks.load", "--clients", "50", "--rows", "10", "--poll-interval", "0.1"),
        small=False,
    ),
    Figures("typed-fields", PERFORMANCE, ("benchmarks.typed_fields",), small=False),
    Figures("exploration", PERFORMANCE, ("benchmarks.exploration",), small=False),
)


def shape(text: str) -> str:
    """``text`` with every number (``1,712``, ``0.95``, ``-3``) written ``N``: its lines
    and labels, which a new run of the same benchmark prints again."""
    return re.sub(r"-?\d[\d,]*(?:\.\d+)?", "N", text)


def write_figures(names: Sequence[str] = ()) -> None:
    """Run the benchmarks of ``names`` (every one when empty) and write their sections."""
    for figures in FIGURES:
        if names and figures.name not in names:
            continue
        print(f"running {figures.command_line[2:]}", file=sys.stderr)
        write(figures.section, figures.block(figures.run()), figures.doc)


def main(arguments: Sequence[str] = ()) -> None:
    """Write every table from the tests and declarations behind it; with ``--figures``,
    the figures of the benchmarks named (every one if none is)."""
    if arguments and arguments[0] == "--figures":
        write_figures(arguments[1:])
        return
    from smartmatch_pandas.cli.reference import reference

    from . import test_bad_input, test_faults, test_hostile, test_layouts, test_options

    write("faults", test_faults.table())
    write("bad-input", test_bad_input.table())
    write("hostile", test_hostile.table())
    write("options", test_options.table(), GUIDE)
    write("layouts", test_layouts.table(), PREPARING)
    write("cli-reference", reference(), CLI)
    print(f"wrote the tables of {DOC}, {GUIDE}, {PREPARING} and {CLI}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
