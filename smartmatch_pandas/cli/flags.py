"""The flags shared by the commands: those of the options, as the options declare them."""

from __future__ import annotations

import argparse
from collections.abc import Hashable
from typing import Any, TypeAlias

from ..identifiers import IDENTIFIERS
from ..options import cli_options
from .messages import UsageError

#: The subcommands' parsers, as ``add_subparsers`` gives them.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def option_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the options that ``command`` takes, as the options declare them."""
    for option in cli_options(command):
        assert option.cli is not None
        help = option.cli.helps.get(command, option.doc)
        parser.add_argument(
            option.cli.flag,
            *option.cli.aliases,
            **option.cli.arguments(option.name, option.default, help),
        )
        if option.name == "columns":  # the mapping's second flag: a column not to send
            parser.add_argument(
                "--drop",
                action="append",
                default=[],
                metavar="COLUMN",
                help="do not send COLUMN, whatever its header says (repeatable)",
            )


def option_values(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The verb's keywords that the flags of ``command`` give."""
    values = {option.name: getattr(args, option.name) for option in cli_options(command)}
    if "columns" in values:
        values["columns"] = _columns(values["columns"], args.drop)
    if "extra_params" in values:
        values["extra_params"] = _pairs(values["extra_params"], "--param") or None
    return values


def talk_arguments(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` (``--no-progress`` is the ``progress`` option's flag)."""
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="say nothing but errors (--no-progress: no bars, but the job's filename, "
        "what it may cost and the summary)",
    )


def memory_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stream`` or ``--in-memory``: how a list is held."""
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument(
        "--stream",
        dest="stream",
        action="store_true",
        default=None,
        help="read, send and merge the list in batches, never holding it whole (the "
        "default for a file larger than SMARTMATCH_SPILL_THRESHOLD, 64 MiB)",
    )
    memory.add_argument(
        "--in-memory", dest="stream", action="store_false", help="hold the whole list in memory"
    )


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{what} {item!r} must look like NAME=VALUE")
        out[name] = value
    return out


def _columns(items: list[str], dropped: list[str]) -> dict[Hashable, str | None] | None:
    """``--map COLUMN=IDENTIFIER`` and ``--drop COLUMN`` flags as ``match()``'s ``columns``."""
    columns: dict[Hashable, str | None] = {
        k: (v or None) for k, v in _pairs(items, "--map").items()
    }
    unknown = [v for v in columns.values() if v is not None and v not in IDENTIFIERS]
    if unknown:
        raise UsageError(
            f"--map: {unknown[0]!r} is not a SmartMatch identifier; the identifiers are "
            + ", ".join(IDENTIFIERS)
        )
    columns.update(dict.fromkeys(dropped))
    return columns or None


def counted(text: str) -> int:
    """A flag's value that counts something: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def share(text: str) -> float:
    """A flag's value that is a share: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share from 0 to 1 (0.1: a tenth)")
    return value
