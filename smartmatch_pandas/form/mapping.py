"""The form's column section: one identifier dropdown per column, and what keeps it from
being sent."""

from __future__ import annotations

import html
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final

import pandas as pd

from ..identifiers import IDENTIFIERS
from ..options import InvalidPolicy
from ..preparation.check import CheckReport
from ..preparation.frame import NO_ROWS, repeated, repeated_message
from ..preparation.mapping import ADDRESS, CHOSEN_PER_ROW, candidate_pairs, clashing, preference
from .html import small_caps

#: The dropdown entry of a column that is not sent.
NOT_SENT: Final = ""


def preset_mapping(
    labels: list[Hashable], columns: Mapping[Hashable, str | None] | None
) -> dict[Hashable, str | None]:
    """Each column's identifier as ``resolve_mapping`` would choose it (clashes kept)."""
    chosen = dict(candidate_pairs(labels, columns))
    return {label: chosen.get(label) for label in labels}


def mapping_grid(
    w: Any,
    labels: list[Hashable],
    columns: Mapping[Hashable, str | None] | None,
    on_change: Callable[[Hashable], Callable[[Any], None]],
) -> tuple[Any, dict[Hashable, Any], dict[Hashable, Any]]:
    """The grid of columns, the dropdown of each and the line saying what its check found."""
    preset = preset_mapping(labels, columns)
    choices = [("— not sent —", NOT_SENT), *((i, i) for i in IDENTIFIERS)]
    header = [
        w.HTML(small_caps("column")),
        w.HTML(small_caps("sent as")),
        w.HTML(small_caps("input check")),
    ]
    cells: list[Any] = [*header]
    dropdowns: dict[Hashable, Any] = {}
    infos: dict[Hashable, Any] = {}
    for label in labels:
        dropdown = w.Dropdown(
            options=choices,
            value=preset[label] or NOT_SENT,
            # Named by its column for a screen reader; the grid shows the name beside it.
            description=f"{label} sent as",
            tooltip=f"what column {label!r} is sent as",
            layout=w.Layout(width="150px"),
        )
        dropdown.add_class("sm-hidden-label")
        dropdown.observe(on_change(label), names="value")
        info = w.HTML()
        dropdowns[label], infos[label] = dropdown, info
        cells += [w.HTML(f"<code>{html.escape(str(label))}</code>"), dropdown, info]
    grid = w.GridBox(
        cells,
        layout=w.Layout(
            grid_template_columns="minmax(90px, max-content) 156px minmax(160px, 1fr)",
            grid_gap="2px 10px",
            align_items="center",
        ),
    )
    return grid, dropdowns, infos


def mapping_blockers(
    df: pd.DataFrame,
    labels: list[Hashable],
    columns: Mapping[Hashable, str | None],
    report: CheckReport,
    invalid: InvalidPolicy,
) -> list[str]:
    """What in the mapping or the data would make ``submit()`` refuse the frame."""
    if not len(df):
        return [NO_ROWS]
    pairs = candidate_pairs(labels, columns)
    if not pairs:
        return ["no column is sent: choose an identifier for at least one column"]
    blockers = [conflict_text(identifier, labels) for identifier, labels in clashing(pairs).items()]
    checked = {check.column for check in report.columns}
    duplicated = set(repeated(df, [label for label, _ in pairs]))
    for label, _ in pairs:
        if label in duplicated:
            blockers.append(repeated_message(label))
        elif label not in checked:
            blockers += [p for p in report.problems if f"{label!r}" in p]
    count = sum(check.invalid for check in report.columns)
    if count and invalid == "raise":
        blockers.append(
            f"{count:,} value(s) cannot be normalised and invalid values is set to "
            '"stop the match": fix them, or send them as given or empty'
        )
    return blockers


def several_columns_allowed(identifier: str) -> bool:
    """Whether ``identifier`` may be sent from several columns, the first filled of them
    per row (a phone, an email, the fields of an address)."""
    return identifier in CHOSEN_PER_ROW or identifier in ADDRESS


def conflict_text(identifier: str, labels: list[Hashable]) -> str:
    """Two or more columns chosen as one identifier, in plain words."""
    if several_columns_allowed(identifier):
        return _alike_text(identifier, labels)
    return (
        f"columns {_listed(labels)} are {_both(labels)} sent as {identifier}, and each "
        f'identifier can come from one column only: choose "— not sent —" for all but one '
        "of them"
    )


def _alike_text(identifier: str, labels: list[Hashable]) -> str:
    """Columns for an identifier several columns may send, with no order between some."""
    ranks: dict[int | None, list[Hashable]] = {}
    for label in labels:
        ranks.setdefault(preference(label, identifier), []).append(label)
    alike = next((group for group in ranks.values() if len(group) > 1), labels)
    return (
        f"columns {_listed(alike)} are {_both(alike)} sent as {identifier} and rank alike, "
        f'so no row can tell which to send first: choose "— not sent —" for all but one '
        f"of them (several {identifier} columns are sent in an order their headers give, "
        "such as a cell phone before a home phone)"
    )


def _listed(labels: list[Hashable]) -> str:
    names = [repr(str(label)) for label in labels]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _both(labels: list[Hashable]) -> str:
    return "both" if len(labels) == 2 else "all"
