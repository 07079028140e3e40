"""The command line's argument parser: each command's flags are declared by its module."""

from __future__ import annotations

import argparse

from .._version import __version__
from .matching import add_matching
from .sandbox import add_sandbox
from .serve import add_serve
from .store import add_store


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser, with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="smartmatch-pandas",
        description="Match contact lists against TargetSmart's voter file with SmartMatch.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sandbox(commands)
    add_serve(commands)
    add_matching(commands)
    add_store(commands)
    return parser
