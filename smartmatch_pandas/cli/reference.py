"""The command line's reference, in Markdown, made from its argument parser.

``docs/cli.md`` holds it between ``<!-- cli-reference:begin -->`` and
``<!-- cli-reference:end -->``; ``python -m tests.doc_tables`` writes it again,
and a test fails when it is stale. It is built from the parser's actions, not
from argparse's help text, so that it reads the same on every Python version.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from .parser import build_parser


def reference() -> str:
    """Every command: what it does, its arguments and flags, their defaults."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    parts = []
    for name, command in commands.choices.items():
        parts.append(f"### `{parser.prog} {name}`\n\n{_sentence(helps.get(name))}")
        if command.description:
            parts.append(command.description)
        parts.append("\n".join(_table(command)))
    return "\n\n".join(parts)


def _sentence(text: str | None) -> str:
    text = (text or "").strip()
    return text[:1].upper() + text[1:] + "." if text else ""


def _table(command: argparse.ArgumentParser) -> Iterator[str]:
    yield "| argument | what it does | default |"
    yield "|---|---|---|"
    for group in command._action_groups:
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction):
                continue
            yield f"| {_spelled(action)} | {_cell(action.help or '')} | {_default(action)} |"


def _spelled(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{str(action.metavar or action.dest).upper()}`"
    takes = action.nargs != 0
    value = f" {action.metavar or action.dest.upper()}" if takes else ""
    if action.choices is not None and takes:
        value = " {" + ",".join(map(str, action.choices)) + "}"
    return ", ".join(f"`{flag}{value}`" for flag in action.option_strings)


def _default(action: argparse.Action) -> str:
    default = action.default
    if not action.option_strings or action.nargs == 0 or default in (None, [], argparse.SUPPRESS):
        return ""
    return f"`{default}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("%%", "%")
