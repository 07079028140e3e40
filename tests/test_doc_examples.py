"""Every example of the README and of ``docs/*.md`` runs, and every quoted output matches.

The collector is :mod:`tests.doc_examples` (why our own, and its markers, are in its
docstring and in CONTRIBUTING.md). Each page runs as one test, its blocks in order in one
namespace, against one local service for the module (the default voter file, as the docs'
own ``LocalService()`` has), in a folder of its own where ``contacts.csv`` is ``df`` as a
file; ``df`` is a noisy list of 200 contacts drawn from the service's voter file
(:func:`tests.doc_examples.page_frame`). What cannot run is checked as far as it can be:
Python blocks compile, command lines parse, quoted messages are the package's words.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.cli.parser import build_parser
from smartmatch_pandas.local import LocalService

from .conftest import POLL
from .doc_examples import (
    NOT_CODE,
    PAGES,
    PYTHON,
    ROOT,
    SHELL,
    Block,
    PageRun,
    blocks,
    counts,
    missing_lines,
    normalise,
    page_run,
    reader_environment,
    run_block,
    run_page,
)

#: The pages with an example to run (the others are checked by the tests below alone).
RUNNABLE_PAGES = [
    page
    for page in PAGES
    if any(b.kind in ("python", "shell") and b.not_run is None for b in blocks(page))
]


@pytest.fixture(scope="module")
def docs_service() -> Iterator[LocalService]:
    """A local service as the docs start one (``LocalService()``: the default voter file),
    polled every 0.1 s; ``df`` is drawn from its voters."""
    with LocalService(poll_interval=POLL) as running:
        yield running


@pytest.mark.network
@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize(
    "page", RUNNABLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE_PAGES]
)
def test_page_examples_run(page: Path, docs_service: LocalService, tmp_path: Path) -> None:
    with page_run(docs_service, tmp_path) as run:
        run_page(page, run)
    assert run.ran, f"{page.name}: nothing ran"


def test_counts_of_examples_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    tally = counts()
    with capsys.disabled():
        print(
            "\ndocs examples: "
            + ", ".join(f"{number} {kind}" for kind, number in sorted(tally.items()))
        )
    runnable = [b for p in PAGES for b in blocks(p) if b.kind in ("python", "shell")]
    assert tally["run"] + tally["not run (marked)"] == len(runnable)


def test_every_block_is_in_a_language_the_collector_knows() -> None:
    """A ``python3`` or ``zsh`` block would be skipped as an illustration without this."""
    known = PYTHON | SHELL | NOT_CODE
    every = [block for page in PAGES for block in blocks(page)]
    strange = [f"{b.where}: {b.language!r}" for b in every if b.language not in known]
    assert not strange, f"blocks in a language tests/doc_examples.py does not know: {strange}"


def test_a_block_marked_not_run_says_why() -> None:
    unexplained = [
        b.where for p in PAGES for b in blocks(p) if b.not_run is not None and not b.not_run.strip()
    ]
    assert not unexplained, f"<!-- not-run: REASON --> needs its reason: {unexplained}"


def test_a_marker_without_its_reason_is_seen(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- not-run -->\n```bash\nfalse\n```\n\n<!-- not-run: it pays -->\n```python\n1\n```\n"
    )
    found = blocks(page)
    assert [b.not_run for b in found] == ["", "it pays"]


def test_a_marker_belongs_to_the_block_right_after_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- raises: InputError -->\n```python\nx\n```\n\ntext\n\n```python\ny\n```\n"
        "<!-- output -->\n```text\nInputError: no\n```\n"
    )
    first, second, quoted = blocks(page)
    assert (first.raises, second.raises, quoted.kind) == ("InputError", None, "output")
    assert first.line == 2
    assert first.source == "x\n"


def test_every_quoted_output_follows_a_block_that_runs() -> None:
    for page in PAGES:
        previous: Block | None = None
        for block in blocks(page):
            if block.kind == "output":
                kind = previous.kind if previous is not None else None
                assert kind in ("python", "shell"), (
                    f"{block.where}: <!-- output --> must follow the block it quotes"
                )
            previous = block


def test_a_changed_message_is_caught() -> None:
    ran = "SmartMatch job sm_20261205_171500_0123456789: 200 rows\nInputError: it went wrong\n"
    assert missing_lines("SmartMatch job sm_20261128_101500_3f9a1c7d2e: 200 rows", ran) == []
    assert missing_lines("InputError: it ... wrong", ran) == []
    assert missing_lines("InputError: it went right", ran) == ["InputError: it went right"]
    # in order: a quoted line found only before the previous one is missing
    assert missing_lines("InputError: it went wrong\nSmartMatch job ...", ran)


def test_the_varying_parts_are_normalised() -> None:
    text = normalise(
        "job sm_20261205_171500_0123456789 at http://127.0.0.1:41234/ key local-abcdefgh1234 "
        "saved 2026-12-05T17:15:00+00:00 in /tmp/pytest-1/x.csv after 0.84 s; "
        "gateway_id b77827a3-2368-4a3d-9d0c-0a1066cb10f5"
    )
    assert text == (
        "job sm_FILENAME at http://127.0.0.1:PORT/ key local-KEY "
        "saved TIMESTAMP in PATH after DURATION; gateway_id UUID"
    )


def test_shell_blocks_find_the_command_of_this_environment() -> None:
    path = reader_environment({})["PATH"].split(":")
    assert shutil.which("smartmatch-pandas", path=path[0])


# -- messages quoted in the troubleshooting tables --------------------------------------

#: What stands for a varying part in a quoted message: ``...``, a quoted name or value,
#: a word with a digit (a number, ``ed25519``), one with a dot or a slash inside (a host,
#: a file, a path), and the guide's capital placeholders.
_PLACEHOLDER = re.compile(r"\.\.\.|'[^']*'|[\w-]*\d[\w-]*|\S+[./]\S+|\b(?:X|N|URL|HOST)\b")


def _windows(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[\w=]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


_ANY = "any_word"


@functools.cache
def _package_windows() -> frozenset[tuple[str, ...]]:
    """Every run of three words in the package's string constants (an f-string's
    formatted values break runs, as its literal parts are constants of their own)."""
    found: set[tuple[str, ...]] = set()
    for module in Path(sm.__file__).parent.rglob("*.py"):  # installed, or the working tree
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= _windows(node.value)
            elif isinstance(node, ast.JoinedStr):  # a formatted value is any one word
                found |= _windows(
                    "".join(
                        part.value if isinstance(part, ast.Constant) else f" {_ANY} "
                        for part in node.values
                    )
                )
    return frozenset(found)


def _said(window: tuple[str, ...]) -> bool:
    """Whether the package says ``window``, a formatted value standing for one word."""
    said = _package_windows()
    if window in said:
        return True
    # One word of the three may be a formatted value: never more, or anything would do.
    return any((*window[:i], _ANY, *window[i + 1 :]) in said for i in range(len(window)))


def _quoted_messages() -> list[str]:
    """The messages the guide's troubleshooting tables quote (their first column)."""
    text = (ROOT / "docs" / "guide.md").read_text().split("## Troubleshooting", 1)[1]
    cells = re.findall(r"^\| `([^`]+)`(?: / `([^`]+)`)? \|", text, flags=re.MULTILINE)
    return [message for pair in cells for message in pair if message]


def _quoted_errors() -> list[str]:
    """The messages quoted in blocks that are not compared with a run: blocks marked
    ``<!-- message -->``, and ``Name: message`` lines of other text blocks."""
    quoted = []
    for page in PAGES:
        for block in blocks(page):
            if block.is_message:
                quoted.append(re.sub(r"^\w+(?:Error|Warning): ", "", block.source))
            elif block.kind == "other":
                found = re.findall(r"^\w+(?:Error|Warning): (.+)$", block.source, re.MULTILINE)
                quoted += found
    return quoted


def test_quoted_messages_are_ones_the_package_says() -> None:
    """Most runs of three words of each message quoted (in the guide's troubleshooting
    tables, and as ``Name: message`` in text blocks) are in the package's strings: a
    message reworded in the code fails this until the docs follow (the values a message
    quotes are why not all of them need be)."""
    quoted = _quoted_messages()
    assert len(quoted) > 20
    quoted += _quoted_errors()
    unsaid = []
    for message in quoted:
        windows = set().union(*(_windows(part) for part in _PLACEHOLDER.split(message)))
        said = {window for window in windows if _said(window)}
        if windows and len(said) < 0.8 * len(windows):
            unsaid.append(f"{message!r}: not found: {sorted(windows - said)}")
    assert not unsaid, "the docs quote words no message of the package says:\n" + "\n".join(unsaid)


@pytest.mark.subprocess
def test_a_console_block_is_compared_with_its_own_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ echo one; echo two\none\ntwo\n```\n\n```console\n$ echo 3\n4\n```\n"
    )
    run = PageRun(tmp_path, reader_environment({}))
    same, changed = blocks(page)
    run_block(same, run)
    with pytest.raises(AssertionError, match="no longer matches"):
        run_block(changed, run)


def test_an_error_of_the_kind_named_is_its_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- raises: SmartMatchError -->\n```python\nraise sm.JobFailedError('it failed')\n```\n"
        "\n<!-- raises: OptionError -->\n```python\nraise sm.InputError('no rows')\n```\n"
    )
    run = PageRun(tmp_path, reader_environment({}), namespace={"sm": sm})
    kind, other = blocks(page)
    run_block(kind, run)
    assert run.output.strip() == "SmartMatchError: it failed"
    with pytest.raises(AssertionError, match="failed"):
        run_block(other, run)


def _command_lines() -> list[tuple[str, list[str]]]:
    """Every ``smartmatch-pandas ...`` line of a shell block, run or not, as arguments."""
    found = []
    for page in PAGES:
        for block in blocks(page):
            if block.kind != "shell":
                continue
            for line in block.source.splitlines():
                words = shlex.split(line.removeprefix("$ "), comments=True)
                if words and words[0] == "smartmatch-pandas":
                    found.append((f"{block.where}: {line.strip()}", words[1:]))
    return found


def test_every_command_line_quoted_parses() -> None:
    """The summaries that cannot run (serve runs until stopped) still name real commands
    and flags: each line parses with the command line's own parser."""
    parser = build_parser()
    lines = _command_lines()
    assert len(lines) > 10
    refused = []
    for where, arguments in lines:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                parser.parse_args(arguments)
        except SystemExit:
            refused.append(where)
    assert not refused, "command lines the parser refuses:\n" + "\n".join(refused)


def test_every_python_block_compiles() -> None:
    """The blocks that cannot run (the real SFTP drop, a public webhook) are Python still."""
    broken = []
    for page in PAGES:
        for block in blocks(page):
            if block.kind == "python":
                try:
                    compile(block.source, block.where, "exec")
                except SyntaxError as error:
                    broken.append(f"{block.where}: {error.msg} (line {error.lineno})")
    assert not broken, "Python blocks that do not compile:\n" + "\n".join(broken)
