"""``df.smartmatch.check()``: what would be sent, and what is wrong with it, before paying.

The report counts, per column sent, the values present, the values the
normaliser changes and the values it cannot read (with a few examples), and
lists the problems of the frame as a whole: no identifier, no rows, two
columns for one identifier, names with nothing to locate the person by.
It shows no contact data but those few examples (``examples=0``: none).
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import pandas as pd

from ..errors import InputError, OptionError, PoorMatchWarning, warn
from ..identifiers import IDENTIFIERS
from .frame import FLAT_COLUMNS, NO_ROWS, repeated, repeated_message, require_frame
from .mapping import (
    ColumnMapping,
    Settled,
    candidate_pairs,
    clash_message,
    detect_layout,
    filled_counts,
    settle,
)
from .normalize import RULES, Normalized, normalize
from .standing import LOCATORS, NAMES, NAMES_ONLY, NOTHING_USABLE, row_standing
from .table import supplied_counts

_LOCATORS_IN_WORDS: Final = "address, ZIP, birth date, phone, email or id"
# More than this share of a column's values invalid: probably the wrong column.
_MOSTLY: Final = 0.5
_EXAMPLE_WIDTH: Final = 40
_UNSENT_SHOWN: Final = 12


@dataclass(frozen=True)
class ColumnCheck:
    """One column that would be sent.

    Attributes
    ----------
    column
        The frame's column label.
    identifier
        The identifier it is sent as.
    present
        Values present (not missing, not blank).
    changed
        Values the normaliser changes (``2134`` → ``02134``).
    invalid
        Values the normaliser cannot read.
    examples
        Up to five invalid values as ``(row label, value)``.
    placeholders
        Values that stand for nothing (``NULL``, ``N/A``, ``#N/A``, ``-``, ...), read
        as missing.
    """

    column: Hashable
    identifier: str
    present: int
    changed: int
    invalid: int
    examples: tuple[tuple[Hashable, str], ...] = ()
    placeholders: int = 0


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check` found; shows as a table in a notebook.

    Attributes
    ----------
    rows
        Rows in the frame.
    columns
        One entry per column that would be sent.
    problems
        Problems of the frame as a whole, in words.
    unsent
        The frame's columns that would not be sent.
    choices
        Where a row sends one of several columns, the order and how many rows each
        column supplied (``phone from 'CellPhone' (84 rows), else 'HomePhone' (9 rows)``).
    notes
        What is worth knowing but does not stop a match (ids that may not be
        voter-file ids).
    """

    rows: int
    columns: tuple[ColumnCheck, ...]
    problems: tuple[str, ...]
    unsent: tuple[Hashable, ...] = ()
    choices: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No problem and no invalid value."""
        return not self.problems and not any(c.invalid for c in self.columns)

    @property
    def frame(self) -> pd.DataFrame:
        """One row per column sent: column, identifier, present, changed, invalid,
        placeholders (read as missing), examples."""
        return pd.DataFrame(
            {
                "column": [c.column for c in self.columns],
                "identifier": [c.identifier for c in self.columns],
                "present": [c.present for c in self.columns],
                "changed": [c.changed for c in self.columns],
                "invalid": [c.invalid for c in self.columns],
                "placeholders": [c.placeholders for c in self.columns],
                "examples": [_examples(c.examples) for c in self.columns],
            },
        )

    def _display(self) -> pd.DataFrame:
        share = (lambda n: f"{n:,} ({n / self.rows:.0%})") if self.rows else str
        table = self.frame
        table["present"] = [share(c.present) for c in self.columns]
        table["changed"] = [f"{c.changed:,}" for c in self.columns]
        table["invalid"] = [f"{c.invalid:,}" for c in self.columns]
        table["placeholders"] = [f"{c.placeholders:,}" for c in self.columns]
        table["column"] = table["column"].astype(str)
        return table.rename(columns={"examples": "invalid examples (row: value)"})

    def _headline(self) -> str:
        invalid = sum(c.invalid for c in self.columns)
        counted = f", {invalid:,} value(s) cannot be normalised" if invalid else ""
        return (
            f"SmartMatch check: {self.rows:,} rows, {len(self.columns)} column(s) would be "
            f"sent{counted}"
        )

    def _unsent_line(self) -> str | None:
        if not self.unsent:
            return None
        shown = ", ".join(str(c) for c in self.unsent[:_UNSENT_SHOWN])
        more = len(self.unsent) - _UNSENT_SHOWN
        tail = f" and {more} more" if more > 0 else ""
        return f"not sent: {shown}{tail} (map one with columns={{'column': 'identifier'}})"

    def __str__(self) -> str:
        lines = [self._headline()]
        lines += [f"  problem: {p}" for p in self.problems]
        if self.ok:
            lines.append("  no problems found")
        lines += [f"  each row: {c}" for c in self.choices]
        lines += [f"  note: {n}" for n in self.notes]
        if self.columns:
            lines.append(self._display().to_string(index=False))
        unsent = self._unsent_line()
        if unsent:
            lines.append(unsent)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        parts = [f"<p><strong>{html.escape(self._headline())}</strong></p>"]
        if self.problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
            parts.append(f"<ul style='color:#a40000'>{items}</ul>")
        elif self.ok:
            parts.append("<p>No problems found.</p>")
        notes = [f"each row: {c}" for c in self.choices] + [f"note: {n}" for n in self.notes]
        if notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            parts.append(f"<ul>{items}</ul>")
        if self.columns:
            parts.append(self._display().to_html(index=False, escape=True, border=0))
        unsent = self._unsent_line()
        if unsent:
            parts.append(f"<p><small>{html.escape(unsent)}</small></p>")
        return "<div class='smartmatch-check'>" + "".join(parts) + "</div>"


def check_frame(
    df: pd.DataFrame,
    columns: Mapping[Hashable, str | None] | None = None,
    *,
    examples: int = 5,
) -> CheckReport:
    """Check what would be sent for ``df``, without sending anything.

    Parameters
    ----------
    df
        The contact list.
    columns
        ``{frame column: identifier or None}``, as for :func:`smartmatch_pandas.match`.
    examples
        Invalid values shown per column, 0-5 (0 shows no contact data at all).

    Returns
    -------
    CheckReport
        A table of the columns sent, the problems found, and the columns not sent.

    Raises
    ------
    InputError
        ``df`` is not a DataFrame.
    OptionError
        ``columns`` or ``examples`` is invalid.

    Examples
    --------
    >>> df.smartmatch.check()                     # doctest: +SKIP
    SmartMatch check: 1,000 rows, 3 column(s) would be sent
      no problems found
    ...
    """
    require_frame(df, flat=False)
    if isinstance(examples, bool) or not isinstance(examples, int) or not 0 <= examples <= 5:
        raise OptionError(f"examples={examples!r} must be an integer from 0 to 5")
    if isinstance(df.columns, pd.MultiIndex):
        return CheckReport(len(df), (), (FLAT_COLUMNS,))
    labels = list(df.columns.unique())
    layout = detect_layout(labels)
    pairs = candidate_pairs(labels, columns, layout=layout)
    settled = settle(pairs, layout)
    problems = _shape_problems(df, pairs, settled)
    sent = {label for label, _ in pairs}
    unsent = tuple(label for label in labels if label not in sent)
    checks: list[ColumnCheck] = []
    usable: dict[str, np.ndarray] = {}
    unreadable = np.zeros(len(df), bool)
    for label, identifier in pairs:
        if repeated(df, [label]):
            problems.append(repeated_message(label))
            continue
        try:
            column = normalize(df[label], identifier, label=label)
        except InputError as exc:
            problems.append(str(exc))
            continue
        checks.append(_column_check(column, label, df.index, examples))
        problems += _column_problems(column, label, len(df))
        valid = column.present & ~column.invalid
        usable[identifier] = usable.get(identifier, np.zeros(len(df), bool)) | valid
        unreadable |= column.invalid
    problems += _row_problems(usable, unreadable)
    mapping = ColumnMapping(tuple(settled.pairs), layout, tuple(settled.choices))
    choices: tuple[str, ...] = ()
    if settled.choices and not settled.clashes and not repeated(df, mapping.columns):
        counted = replace(mapping, supplied=supplied_counts(df, mapping))
        choices = tuple(counted.choice_notes)
    return CheckReport(
        len(df), tuple(checks), tuple(problems), unsent, choices, tuple(mapping.id_notes)
    )


def _shape_problems(
    df: pd.DataFrame, pairs: list[tuple[Hashable, str]], settled: Settled
) -> list[str]:
    problems = []
    if len(df) == 0:
        problems.append(NO_ROWS)
    if not pairs:
        problems.append(
            "no column is a SmartMatch identifier: rename columns or map them with "
            "columns={'your column': 'identifier'}; the identifiers are " + ", ".join(IDENTIFIERS)
        )
        return problems
    if settled.clashes:
        problems.append(clash_message(settled.clashes, filled_counts(df, settled.clashes)))
    problems += ColumnMapping(tuple(pairs)).notes
    poor = poor_match_message(identifier for _, identifier in pairs)
    if poor:
        problems.append(poor)
    return problems


def poor_match_message(identifiers: Iterable[str]) -> str | None:
    """Why a list sending only these identifiers can only match poorly, and what to add;
    ``None`` when something beside names locates the person."""
    sent = set(identifiers)
    if not sent & NAMES or sent & LOCATORS:
        return None
    others = sorted(sent - NAMES - {"middle_name", "name_suffix"})
    what = {(): "names", ("state",): "names and a state"}.get(
        tuple(others), "names and " + ", ".join(others)
    )
    return (
        f"only {what} are sent (no address, ZIP, birth date, phone, email or id): such lists "
        "match poorly and may match the wrong person; add one of those columns"
    )


def warn_if_poor(mapping: ColumnMapping) -> None:
    """Warn, before anything is sent, that ``mapping`` can only match poorly
    (a :class:`~smartmatch_pandas.errors.PoorMatchWarning`, which can be silenced)."""
    message = poor_match_message(mapping.identifiers)
    if message:
        warn(
            message + ". The list is sent all the same: to stop at this warning before "
            "anything is sent, run warnings.filterwarnings('error', "
            "category=smartmatch_pandas.PoorMatchWarning); to silence it, "
            "warnings.filterwarnings('ignore', category=smartmatch_pandas.PoorMatchWarning)",
            PoorMatchWarning,
        )


def _column_check(
    column: Normalized, label: Hashable, index: pd.Index, examples: int
) -> ColumnCheck:
    return ColumnCheck(
        column=label,
        identifier=column.identifier,
        present=int(column.present.sum()),
        changed=int(column.changed.sum()),
        invalid=int(column.invalid.sum()),
        examples=tuple(column.examples(index, examples)) if examples else (),
        placeholders=column.placeholders,
    )


def _column_problems(column: Normalized, label: Hashable, rows: int) -> list[str]:
    present, invalid = int(column.present.sum()), int(column.invalid.sum())
    if rows and not present:
        return [f"column {label!r} ({column.identifier}) has no values"]
    if present and invalid > _MOSTLY * present:
        return [
            f"{invalid:,} of the {present:,} values of column {label!r} are not "
            f"{RULES[column.identifier].what}: is it the right column? Leave it out with "
            f"columns={{{label!r}: None}}"
        ]
    return []


def _row_problems(usable: dict[str, np.ndarray], unreadable: np.ndarray) -> list[str]:
    rows = len(unreadable)
    if not usable or not rows:
        return []
    problems = []
    standing = pd.Series(row_standing(usable, unreadable)).value_counts()
    empty = int(standing[NOTHING_USABLE])
    if empty:
        problems.append(
            f"{empty:,} row(s) ({empty / rows:.0%}) have no usable value in any column sent: "
            "they cannot match"
        )
    if usable.keys() & NAMES and usable.keys() & LOCATORS:
        name_only = int(standing[NAMES_ONLY])
        if name_only:
            problems.append(
                f"{name_only:,} row(s) ({name_only / rows:.0%}) have a name but no "
                f"{_LOCATORS_IN_WORDS}: they will match poorly"
            )
    return problems


def _examples(examples: tuple[tuple[Hashable, str], ...]) -> str:
    return "; ".join(f"{row}: {_short(value)}" for row, value in examples)


def _short(value: str) -> str:
    shown = repr(value)
    return shown if len(shown) <= _EXAMPLE_WIDTH else shown[: _EXAMPLE_WIDTH - 1] + "…"
