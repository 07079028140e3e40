"""The flags shared by the commands: those of the options, as the options declare them."""

from __future__ import annotations

import argparse
from collections.abc import Hashable
from typing import Any, TypeAlias

from ..identifiers import IDENTIFIERS
from ..options import cli_options

#: The subcommands' parsers, as ``add_subparsers`` gives them.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def option_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the options that ``command`` takes, as the options declare them."""
    for option in cli_options(command):
        assert option.cli is not None
        help = option.cli.helps.get(command, option.doc)
        parser.add_argument(
            option.cli.flag, **option.cli.arguments(option.name, option.default, help)
        )


def option_values(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The verb's keywords that the flags of ``command`` give."""
    values = {option.name: getattr(args, option.name) for option in cli_options(command)}
    if "columns" in values:
        values["columns"] = _columns(values["columns"])
    if "extra_params" in values:
        values["extra_params"] = _pairs(values["extra_params"], "--param") or None
    return values


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
            raise SystemExit(f"smartmatch-pandas: {what} {item!r} must look like NAME=VALUE")
        out[name] = value
    return out


def _columns(items: list[str]) -> dict[Hashable, str | None] | None:
    """``--column COLUMN=IDENTIFIER`` flags as ``match()``'s ``columns``."""
    columns: dict[Hashable, str | None] = {
        k: (v or None) for k, v in _pairs(items, "--column").items()
    }
    unknown = [v for v in columns.values() if v is not None and v not in IDENTIFIERS]
    if unknown:
        raise SystemExit(f"smartmatch-pandas: unknown identifier {unknown[0]!r}")
    return columns or None
