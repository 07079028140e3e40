"""What the command line says, and how it ends: exit codes, notes, warnings, errors, progress,
all in command-line words.

stdout carries the result (``wrote 25 rows to out.csv``, a listing); stderr
carries everything said along the way. Three levels: the progress bars with
the notes (the default); the notes alone (``--no-progress``: the job's
filename, what it may cost, the summary, warnings); errors alone (``--quiet``).

The verbs' messages give Python advice (``columns={'Zip': None}``,
``invalid='blank'``, ``smartmatch_pandas.resume('sm_...', df)``); the
command line rewrites it into its flags and commands (:func:`command_line_words`),
the flags taken from the options' declaration, so a new option is said
rightly without a change here.
"""

from __future__ import annotations

import ast
import enum
import re
import shlex
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from ..errors import SmartMatchWarning
from ..options import OPTION, Option
from ..progress import ProgressArg, ProgressEvent, Reporter

PROG: Final = "smartmatch-pandas"


class ExitCode(enum.IntEnum):
    """How ``smartmatch-pandas`` ends (its exit status)."""

    #: Done.
    DONE = 0
    #: Failed: an error said what went wrong (a job that failed, a list that cannot be read).
    FAILED = 1
    #: A command, flag or value was wrong; nothing was sent.
    USAGE = 2
    #: Interrupted (Ctrl-C) while a job went on at the service: resume it.
    INTERRUPTED = 3
    #: Stopped waiting at ``--timeout`` while the job goes on at the service: resume it.
    TIMED_OUT = 4


class UsageError(Exception):
    """A flag's value the command line refuses before anything is done (exit status 2)."""


# -- command-line words -----------------------------------------------------------------------

_RESUME_CALL: Final = re.compile(
    r"(?:smartmatch_pandas\.)?resume\(\s*'?([A-Za-z0-9_]+|filename)'?(, df)?((?:, \w+=[^,)]+)*)\)"
)
_MATCH_CALL: Final = re.compile(r"smartmatch_pandas\.match\(df, \.\.\.((?:, \w+=[^,)]+)*)\)")
_COLUMNS: Final = re.compile(r"columns=(\{[^{}]*\})")
_KEYWORD: Final = re.compile(r"\b([a-z_]+)=('[^']*'|\"[^\"]*\"|[A-Za-z0-9_.]+)")
_SILENCED: Final = re.compile(r"warnings\.filterwarnings\('ignore', category=[\w.]+\)")
# The command line has no way to stop at a warning: that advice is left out.
_STOP_AT: Final = re.compile(
    r"to stop at this warning before anything is sent, run "
    r"warnings\.filterwarnings\('error', category=[\w.]+\); "
)


def command_line_words(text: str, input_name: str | None = None) -> str:
    """``text`` with its Python advice said as the command line's flags and commands.

    ``input_name`` is the list file the command read, for a ``resume`` command
    that needs it (else ``LIST``).
    """
    text = text.replace("pass api_key=... or set", "set")
    text = _STOP_AT.sub("", text)
    text = _SILENCED.sub("--quiet (which leaves every warning unsaid)", text)
    listed = shlex.quote(input_name) if input_name else "LIST"
    text = text.replace("df.smartmatch.check()", f"{PROG} check {listed}")
    text = _RESUME_CALL.sub(lambda m: _resume_command(m, input_name), text)
    text = _MATCH_CALL.sub(lambda m: f"{PROG} match {listed} -o OUTPUT" + _flags(m.group(1)), text)
    text = _COLUMNS.sub(_mapping_flags, text)
    return _KEYWORD.sub(lambda m: _flag(m.group(1), m.group(2)) or m.group(0), text)


def _resume_command(call: re.Match[str], input_name: str | None) -> str:
    filename = "FILENAME" if call.group(1) == "filename" else call.group(1)
    words = [PROG, "resume", filename]
    if call.group(2):
        words += ["--input", input_name or "LIST"]
    return shlex.join(words) + _flags(call.group(3) or "")


def _flags(keywords: str) -> str:
    said = [_flag(name, value) or f"{name}={value}" for name, value in _KEYWORD.findall(keywords)]
    return "".join(f" {flag}" for flag in said)


def _flag(name: str, value: str) -> str | None:
    """``name=value`` as its command-line flag, if the option has one that says it."""
    option: Option | None = OPTION.get(name)
    if option is None or option.cli is None or name == "columns":
        return None
    cli = option.cli
    if value in {"True", "False"}:
        wanted = value == "True"
        if cli.negated and not wanted:
            return cli.flag
        if cli.spec.get("action") == "store_true" and wanted:
            return cli.flag
        return None
    if value == "...":
        return f"{cli.flag} {cli.spec.get('metavar', 'VALUE')}"
    try:
        plain = str(ast.literal_eval(value))
    except (ValueError, SyntaxError):
        plain = value
    return f"{cli.flag} {shlex.quote(plain)}"


def _mapping_flags(columns: re.Match[str]) -> str:
    try:
        mapping = ast.literal_eval(columns.group(1))
    except (ValueError, SyntaxError):
        return columns.group(0)
    if not isinstance(mapping, dict):
        return columns.group(0)
    flags = []
    for column, identifier in mapping.items():
        if column == "your column":
            column = "COLUMN"
        if identifier is None:
            flags.append(f"--drop {shlex.quote(str(column))}")
        else:
            flags.append(f"--map {shlex.quote(f'{column}={identifier}')}")
    return " ".join(flags)


# -- saying things -----------------------------------------------------------------------------


@dataclass
class Console:
    """How much the command line says, and where.

    Attributes
    ----------
    bars
        Whether progress bars are drawn (not with ``--no-progress`` or ``--quiet``).
    quiet
        Whether only errors are said (``--quiet``).
    input_name
        The list file read, for advice that names it.
    """

    bars: bool = True
    quiet: bool = False
    input_name: str | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    #: The job submitted or resumed, once there is one.
    job: str | None = None

    def say(self, text: str) -> None:
        """A line along the way (a note, a warning), unless quiet; clear of any bar."""
        if self.quiet:
            return
        from tqdm import tqdm

        tqdm.write(command_line_words(text, self.input_name), file=self.stream)

    def result(self, text: str) -> None:
        """What a command did (``wrote 25 rows to out.csv``), on stdout, unless quiet."""
        if not self.quiet:
            print(text, flush=True)

    def error(self, text: str) -> None:
        """An error: one plain line (or a few), always said, under any bar (finished)."""
        self.close()
        print(f"{PROG}: {command_line_words(text, self.input_name)}", file=self.stream)

    def progress(self) -> ProgressArg:
        """The verbs' ``progress``: bars and notes, notes alone, or silence."""
        if self.quiet:
            return False
        self._shown = _Progress(self, Reporter(True) if self.bars else None)
        return self._shown

    def close(self) -> None:
        """Finish the last progress bar, leaving it in place."""
        shown: _Progress | None = getattr(self, "_shown", None)
        if shown is not None and shown.bars is not None:
            shown.bars.close()

    @contextmanager
    def warnings_said(self) -> Iterator[None]:
        """Warnings said as one ``warning: ...`` line each (none when quiet)."""
        shown = warnings.showwarning

        def show(message: Warning | str, *args: Any, **kwargs: Any) -> None:
            self.say(f"warning: {message}")

        with warnings.catch_warnings():
            # The package's warnings are the command line's to say, whatever the filters.
            warnings.simplefilter("always", SmartMatchWarning)
            warnings.showwarning = show
            try:
                yield
            finally:
                warnings.showwarning = shown


class _Progress:
    """Progress events drawn as the package's bars, notes said by the console."""

    def __init__(self, console: Console, bars: Reporter | None) -> None:
        self.console, self.bars = console, bars
        self.stage: str | None = None
        self.done = 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "note":
            if event.message:
                self.console.say(event.message)
            return
        if self.bars is None:
            return
        if event.stage != self.stage:
            self.stage, self.done = event.stage, 0
            self.bars.stage(event.stage, event.total)
        if event.stage == "waiting":
            self.bars.waiting(event.polls, event.next_poll_in, event.message)
        elif event.done > self.done:
            self.bars.advance(event.done - self.done)
            self.done = event.done
        if event.stage == "done":
            self.bars.close()
