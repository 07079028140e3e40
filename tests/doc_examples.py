"""The examples of the README and of ``docs/*.md``, read and run as a reader would.

Every fenced ``python`` block and every shell block (``bash``, ``sh``, ``console``) of a
page runs, in the page's order, in one namespace per page; shell blocks run in ``bash``
in the page's folder, with the environment a reader who followed the page would have
(the ``smartmatch-pandas`` command of this interpreter's environment on ``PATH``, a
local service's variables exported). HTML comments right before a block say more
(documented in CONTRIBUTING.md):

``<!-- not-run: REASON -->``
    The block is not run (the real TargetSmart API, a minutes-long benchmark, installing
    from the package index); the reason is required and shown in the counts.
``<!-- output -->``
    The fenced block that follows is the quoted output of the block run just before it:
    what it printed (stdout, stderr, warnings as ``Category: message``) and, with
    ``raises``, its error as ``ErrorName: message``.
``<!-- raises: ErrorName -->``
    The Python block must raise this error (or one of its kind), and what it says is its
    output; a shell block must exit non-zero (``<!-- raises: exit status 2 -->``: with
    that status).

``<!-- message -->``
    The text block that follows quotes a message no example here can make (Ctrl-C, the
    real SFTP server): its words are checked against the package's messages
    (``tests/test_doc_examples.py``), so a reworded message fails until the docs follow.

A ``console`` block quotes its own output: its lines that do not start with ``$ ``.

A quoted output is compared line by line once both are normalised (the parts that vary
from run to run: job filenames, timestamps, ports, keys, ids, temporary paths, durations): each
quoted line must appear in what ran, in the same order; ``...`` in a quoted line stands
for any text. Lines that ran but are not quoted (progress bars) are allowed.

Why a collector of our own rather than Sybil or pytest-examples: the pages need what
neither gives as it is, namely Python and shell blocks sharing one page's service, folder
and job store, placeholders standing for the job just submitted, and the not-run marker
with its reason counted. Parsing is markdown-it-py's (the parser the docs site uses, by
way of myst-parser), so a block is what the site shows as one; the rest is short.

``python -m tests.doc_examples`` prints every page's counts without running anything;
``python -m tests.doc_examples docs/guide.md`` runs that page against a local service of
its own and prints what each block printed, to write or update a quoted output.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import subprocess
import sys
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

import smartmatch_pandas
from smartmatch_pandas.local import LocalService, VoterFile, sample_contacts

ROOT = Path(__file__).resolve().parent.parent
#: The pages whose examples run: the README and every Markdown page of docs/.
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

PYTHON = frozenset({"python", "py", "pycon"})
SHELL = frozenset({"bash", "sh", "shell", "console"})
#: Blocks that are not examples: outputs, figures, data, the docs site's directives.
NOT_CODE = frozenset({"", "text", "json", "csv", "toml", "yaml", "ini", "diff", "{toctree}"})
_MARKER = re.compile(r"<!--\s*(not-run|output|raises|message)\s*(?::\s*(.*?))?\s*-->", re.DOTALL)

#: The job filename the docs write for "the job you just submitted": a block that names
#: it runs with the filename of the latest job the page sent for its ``df`` instead.
PLACEHOLDER_FILENAME = "sm_20261128_101500_3f9a1c7d2e"


@dataclass(frozen=True)
class Block:
    """One fenced block of a page, with the marker written before it."""

    page: Path
    line: int  # 1-based, the opening fence
    language: str
    source: str
    not_run: str | None = None  # the reason, when marked not-run
    raises: str | None = None
    is_output: bool = False
    is_message: bool = False  # quotes a message that no example here can make

    @property
    def kind(self) -> str:
        """``python``, ``shell``, ``output`` or ``other`` (illustrations: text, tables)."""
        if self.is_output:
            return "output"
        if self.language in PYTHON:
            return "python"
        if self.language in SHELL:
            return "shell"
        return "other"

    @property
    def where(self) -> str:
        """``page:line``, the page named from the repository's root when it is in it."""
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, each with the marker of the comment just before it."""
    return _blocks(page, page.read_text())


@functools.cache
def _blocks(page: Path, text: str) -> list[Block]:
    found: list[Block] = []
    marker: tuple[str, str | None] | None = None
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "html_block":
            match = _MARKER.search(token.content)
            marker = (match.group(1), match.group(2)) if match else None
            continue
        if token.type == "fence" and token.map is not None:
            name, value = marker if marker else ("", None)
            found.append(
                Block(
                    page=page,
                    line=token.map[0] + 1,
                    language=token.info.split()[0].lower() if token.info.strip() else "",
                    source=token.content,
                    not_run=(value or "") if name == "not-run" else None,
                    raises=(value or "") if name == "raises" else None,
                    is_output=name == "output",
                    is_message=name == "message",
                )
            )
        marker = None  # a marker belongs to the block right after it
    return found


def counts(pages: tuple[Path, ...] = PAGES) -> Counter[str]:
    """How many blocks of ``pages`` run, are marked not-run, or are quoted outputs."""
    tally: Counter[str] = Counter()
    for page in pages:
        for block in blocks(page):
            if block.kind == "output":
                tally["quoted outputs"] += 1
            elif block.kind in ("python", "shell"):
                tally["not run (marked)" if block.not_run is not None else "run"] += 1
    return tally


# -- comparing outputs -----------------------------------------------------------------

#: What varies from run to run, and what it is written as once normalised.
_VARYING = (
    (re.compile(r"\bsm_\d{8}_\d{6}_[0-9a-f]{10}\b"), "sm_FILENAME"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "TIMESTAMP"),
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d+"), r"\1:PORT"),
    (re.compile(r"\blocal-[A-Za-z0-9_-]{8,}"), "local-KEY"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "UUID"),
    (re.compile(r"(?<![\w.])/(?:tmp|var|private|home|root)/[^\s'\"]*"), "PATH"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b"), "DURATION"),
)


def normalise(text: str) -> str:
    """``text`` with the parts that vary between runs replaced by their names."""
    for pattern, name in _VARYING:
        text = pattern.sub(name, text)
    return text


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in re.split(r"[\r\n]+", normalise(text)) if line.strip()]


def missing_lines(quoted: str, ran: str) -> list[str]:
    """The quoted lines that do not appear, in order, in what ran (``...``: any text)."""
    ran_lines = _lines(ran)
    position = 0
    for line in _lines(quoted):
        pattern = re.compile(".*".join(re.escape(part) for part in line.strip().split("...")))
        for index in range(position, len(ran_lines)):
            if pattern.fullmatch(ran_lines[index].strip()):
                position = index + 1
                break
        else:
            return [line]
    return []


# -- running a page --------------------------------------------------------------------


@dataclass
class PageRun:
    """A page being run: its namespace, folder and environment, and its last output."""

    folder: Path
    environment: dict[str, str]
    namespace: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    ran: list[str] = field(default_factory=list)


def _latest_job(rows: int | None) -> str | None:
    """The latest job sent of ``rows`` rows (the page's ``df``), else the latest of all."""
    listing = smartmatch_pandas.jobs()
    if listing.empty:
        return None
    listing = listing.sort_values("submitted")
    of_df = listing[listing["rows"] == rows]
    return str((of_df if not of_df.empty else listing).iloc[-1]["filename"])


def _with_latest_job(source: str, run: PageRun) -> str:
    if PLACEHOLDER_FILENAME not in source:
        return source
    df = run.namespace.get("df")
    latest = _latest_job(len(df) if isinstance(df, pd.DataFrame) else None)
    # None sent yet: the name is left as it is (in a comment, it is harmless).
    return source if latest is None else source.replace(PLACEHOLDER_FILENAME, latest)


@contextlib.contextmanager
def _captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            yield out
        finally:
            for warning in caught:
                out.write(f"\n{warning.category.__name__}: {warning.message}\n")


def _run_python(block: Block, run: PageRun) -> str:
    code = compile(_with_latest_job(block.source, run), block.where, "exec")
    with _captured() as out:
        try:
            exec(code, run.namespace)
        except Exception as exc:
            # The error's family as the docs name it: a subclass raised is one of its kind.
            if block.raises and block.raises in {kind.__name__ for kind in type(exc).__mro__}:
                out.write(f"\n{block.raises}: {exc}\n")
            else:
                detail = "".join(traceback.format_exception(exc, limit=-3))
                raise AssertionError(f"{block.where} failed:\n{block.source}\n{detail}") from None
        else:
            if block.raises:
                raise AssertionError(f"{block.where} should raise {block.raises}, and did not")
    return out.getvalue()


def _shell_source(block: Block) -> str:
    if block.language != "console":
        return block.source
    return "\n".join(line[2:] for line in block.source.splitlines() if line.startswith("$ "))


def _run_shell(block: Block, run: PageRun) -> str:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _with_latest_job(_shell_source(block), run)],
        cwd=run.folder,
        env=run.environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    expected = re.fullmatch(r"exit status (\d+)", block.raises or "")
    if expected is not None:
        failed_as_said = done.returncode == int(expected.group(1))
    else:
        failed_as_said = (done.returncode != 0) == bool(block.raises)
    if not failed_as_said:
        said = f"exit status {done.returncode}" + (
            f" ({block.raises} expected)" * bool(block.raises)
        )
        raise AssertionError(f"{block.where}: {said}:\n{block.source}\n{output}")
    return output


def _compare(block: Block, quoted: str, ran: str) -> None:
    lost = missing_lines(quoted, ran)
    if lost:
        raise AssertionError(
            f"{block.where}: the quoted output no longer matches what runs; the first "
            f"line not found (normalised):\n  {lost[0]}\nwhat ran (normalised):\n"
            + "\n".join(f"  {line}" for line in _lines(ran))
        )


def run_block(block: Block, run: PageRun) -> None:
    """Run ``block`` in ``run`` (or compare it, when it is a quoted output)."""
    if block.not_run is not None:
        return
    if block.kind == "output":
        _compare(block, block.source, run.output)
        return
    if block.kind == "python":
        run.output = _run_python(block, run)
    elif block.kind == "shell":
        run.output = _run_shell(block, run)
        if block.language == "console":  # its own lines without "$ " are its output
            quoted = "\n".join(
                line for line in block.source.splitlines() if not line.startswith("$ ")
            )
            _compare(block, quoted, run.output)
    else:
        return
    run.ran.append(block.where)


def reader_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a reader's shell: this one, ``extra``, and the venv's commands."""
    environment = {**os.environ, **extra}
    scripts = str(Path(sys.executable).parent)
    environment["PATH"] = scripts + os.pathsep + environment.get("PATH", "")
    # The package these tests import, whether installed or a working tree on PYTHONPATH.
    environment["PYTHONPATH"] = str(Path(smartmatch_pandas.__file__).parent.parent)
    return environment


def page_frame(voters: VoterFile) -> pd.DataFrame:
    """The ``df`` every page starts with: 200 noisy contacts drawn from ``voters`` (the
    default voter file, so that they match in a ``LocalService()`` a page starts), their
    ZIP code under a header that names no identifier (``Postcode Area``), and a ``Notes``
    column; neither is sent unless mapped."""
    frame = sample_contacts(voters, 200, seed=11).drop(columns="true_voterbase_id")
    frame = frame.rename(columns={"zip": "Postcode Area"})
    frame["Notes"] = "called in March"
    return frame


@contextlib.contextmanager
def page_run(service: LocalService, folder: Path) -> Iterator[PageRun]:
    """A page's run in ``folder``: the service's variables exported, ``df`` defined and
    written as ``contacts.csv``, ``.venv`` the environment of this interpreter (as in a
    clone); the services a page starts are stopped and the environment restored after."""
    saved_environment, saved_folder = dict(os.environ), Path.cwd()
    os.environ.update(service.environ)
    os.chdir(folder)
    df = page_frame(service.voters)
    df.to_csv(folder / "contacts.csv", index=False)
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    run = PageRun(folder, reader_environment({}), namespace={"__name__": "__main__", "df": df})
    try:
        yield run
    finally:
        for value in list(run.namespace.values()):
            if isinstance(value, LocalService) and value is not service:
                value.stop()
        os.chdir(saved_folder)
        os.environ.clear()
        os.environ.update(saved_environment)


def run_page(page: Path, run: PageRun, show: bool = False) -> None:
    """Run every block of ``page`` in ``run``; with ``show``, print what each printed."""
    for block in blocks(page):
        run_block(block, run)
        if show and block.kind in ("python", "shell") and block.not_run is None:
            print(f"--- {block.where}\n{run.output}", flush=True)


def main(arguments: list[str]) -> None:
    """Print each page's counts; given pages, run them and print what each block printed
    (to write a quoted output), against a local service of their own."""
    if arguments:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            os.environ["SMARTMATCH_HOME"] = str(Path(folder) / "home")
            with LocalService(poll_interval=0.1) as service:
                for name in arguments:
                    page = Path(name).resolve()
                    with page_run(service, Path(tempfile.mkdtemp(dir=folder))) as run:
                        run_page(page, run, show=True)
        return
    total: Counter[str] = Counter()
    for page in PAGES:
        tally = counts((page,))
        total += tally
        said = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
        print(f"{page.relative_to(ROOT)}: {said or 'no examples'}")
        for block in blocks(page):
            if block.not_run is not None:
                print(f"  not run: {block.where}: {block.not_run}")
    print("all pages: " + ", ".join(f"{n} {k}" for k, n in sorted(total.items())))


if __name__ == "__main__":
    main(sys.argv[1:])
