"""The exploration drawn: HTML with inline SVG charts for a notebook, text for a terminal.

Plain functions of an :class:`~smartmatch_pandas.deliverable.exploration.Exploration`'s
tables. The HTML needs no plotting library nor script: each chart is an SVG
with a title and a description that reads its figures out (for screen
readers), on a light background whatever the notebook's theme, every text
colour at least 4.5:1 against it.
"""

from __future__ import annotations

import html
import itertools
import textwrap
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from .exploration import VOTER_STATE
from .summary import percent

if TYPE_CHECKING:
    from .exploration import Exploration

#: Colours: text #1a1a1a and #595959 on white (16.1:1, 7.0:1); bars in blue #2f6db5
#: (5.3:1), the pyramid's women in #a3456c (5.9:1), tracks in #e6ecf5.
TEXT: Final = "#1a1a1a"
MUTED: Final = "#595959"
BLUE: Final = "#2f6db5"
ROSE: Final = "#a3456c"
TRACK: Final = "#e6ecf5"
#: The largest number of states drawn (the table has them all).
STATES_SHOWN: Final = 12
#: The panels of a mix among matched rows: table name, heading.
MIXES: Final = (
    ("party", "Party"),
    ("registration", "Registration status"),
    ("gender", "Gender"),
)
_MIX_SHOWN: Final = 8
_TEXT_LABEL: Final = 28
_LABEL_W: Final = 150
_BAR_W: Final = 170
_ROW_H: Final = 18
_FONT: Final = 'font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif'
_ids: Iterator[int] = itertools.count(1)

STYLE: Final = (
    f".smartmatch-exploration {{background:#fff;color:{TEXT};color-scheme:light;{_FONT};"
    "padding:12px 14px;border:1px solid #d0d0d0;border-radius:6px;max-width:1100px}"
    ".smartmatch-exploration h3 {margin:0 0 10px;font-size:1.15em}"
    ".smartmatch-exploration figure {margin:0;padding:0}"
    ".smartmatch-exploration figcaption {font-weight:600;margin-bottom:4px;font-size:0.95em}"
    ".smartmatch-exploration section {margin-top:14px}"
    ".smartmatch-exploration h4 {margin:0 0 6px;font-size:1.05em;"
    "border-bottom:1px solid #d0d0d0;padding-bottom:2px}"
    ".smartmatch-exploration .sm-panels {display:flex;flex-wrap:wrap;gap:18px 32px;"
    "align-items:flex-start}"
    f".smartmatch-exploration .sm-note {{color:{MUTED};font-size:0.9em;margin:6px 0 0}}"
)


def exploration_html(exploration: Exploration) -> str:
    """The whole exploration as one HTML fragment (a ``<div>`` with its own style)."""
    tables = exploration.tables
    head = (
        f"SmartMatch exploration: {exploration.matched:,} of {exploration.rows:,} rows "
        f"matched ({percent(exploration.match_rate)})"
    )
    rates = [_rate_chart("Match rate by identifier present", _identifier_rows(exploration))]
    if _shown(exploration, "by_state"):
        rates.append(_rate_chart(_state_title(tables["by_state"]), _state_rows(tables["by_state"])))
    mixes = [
        _mix_chart(title + " (matched rows)", tables[name])
        for name, title in MIXES
        if _shown(exploration, name)
    ]
    if _shown(exploration, "age"):
        mixes.append(_pyramid_chart(tables["age"]))
    if _shown(exploration, "partisan_score"):
        mixes.append(_histogram_chart(tables["partisan_score"]))
    parts = [
        f"<div class='smartmatch-exploration' lang='en'><style>{STYLE}</style>",
        f"<h3>{html.escape(head)}</h3>",
        *(f"<p class='sm-note'>{html.escape(note)}</p>" for note in exploration.notes),
        _section("Who matched", rates),
    ]
    if mixes:
        parts.append(_section("Who they are", mixes))
    if _shown(exploration, "unmatched"):
        parts.append(
            _section("Why the others did not match", [_unmatched_chart(tables["unmatched"])])
        )
    if exploration.skipped:
        skipped = "; ".join(f"{k}: {v}" for k, v in exploration.skipped.items())
        parts.append(f"<p class='sm-note'>Not shown: {html.escape(skipped)}.</p>")
    parts.append("</div>")
    return "".join(parts)


def exploration_text(exploration: Exploration) -> str:
    """The exploration as text for a terminal: one block per panel, bars of characters."""
    tables = exploration.tables
    lines = [
        f"SmartMatch exploration: {exploration.matched:,} of {exploration.rows:,} rows "
        f"matched ({percent(exploration.match_rate)})"
    ]
    lines += [
        textwrap.fill(n, 80, initial_indent="  ", subsequent_indent="    ")
        for n in exploration.notes
    ]
    lines += _text_rates("Match rate by identifier present", _identifier_rows(exploration))
    if _shown(exploration, "by_state"):
        lines += _text_rates(_state_title(tables["by_state"]), _state_rows(tables["by_state"]))
    for name, title in MIXES:
        if _shown(exploration, name):
            rows = _mix_rows(tables[name])
            lines += _text_rates(title + " (matched rows)", rows, count="rows", rate="of matched")
    if _shown(exploration, "age"):
        lines += ["", "Age and gender (matched rows)"]
        lines += ["  " + line for line in tables["age"].to_string().splitlines()]
    if _shown(exploration, "partisan_score"):
        rows = [
            (str(k), int(r["rows"]), float(r["share"])) for k, r in _iter(tables["partisan_score"])
        ]
        lines += _text_rates(
            "Partisan score, 0 Republican to 100 Democrat (matched rows)", rows, "rows", "share"
        )
    if _shown(exploration, "unmatched"):
        rows = _unmatched_rows(tables["unmatched"])
        lines += _text_rates(
            "Unmatched rows, by what they were sent with", rows, "unmatched", "of unmatched"
        )
    if exploration.skipped:
        lines += ["", "Not shown:"]
        lines += [f"  {k}: {v}" for k, v in exploration.skipped.items()]
    return "\n".join(lines)


def exploration_page(exploration: Exploration) -> str:
    """The exploration as a whole HTML page: :func:`exploration_html` in a document."""
    head = f"SmartMatch exploration: {exploration.matched:,} of {exploration.rows:,} rows matched"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'/>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'/>"
        f"<title>{html.escape(head)}</title></head><body style='background:#fff'>"
        f"{exploration_html(exploration)}</body></html>\n"
    )


def _shown(exploration: Exploration, name: str) -> bool:
    """Whether a panel is drawn: its table is there (empty when it was skipped)."""
    return name in exploration.tables and name not in exploration.skipped


# -- the rows each chart draws -------------------------------------------------------------

Row = tuple[str, int, float]


def _identifier_rows(exploration: Exploration) -> list[Row]:
    rows = [("all rows", exploration.rows, exploration.match_rate)]
    table = exploration.tables.get("by_identifier")
    if table is not None:
        rows += [
            (f"with {name}", int(r["rows_with_value"]), float(r["match_rate_with"]))
            for name, r in _iter(table)
            if r["rows_with_value"]
        ]
    return rows


def _state_title(table: pd.DataFrame) -> str:
    more = len(table) > STATES_SHOWN
    title = "Match rate by state"
    if table.index.name == VOTER_STATE:  # no state sent: the matched rows' voter file state
        title = "Rows by voter file state (none sent)"
    return title + (f" (the {STATES_SHOWN} largest)" if more else "")


def _state_rows(table: pd.DataFrame) -> list[Row]:
    shown = table.head(STATES_SHOWN)
    return [(str(s), int(r["rows"]), float(r["match_rate"])) for s, r in _iter(shown)]


def _mix_rows(table: pd.DataFrame, most: int = _MIX_SHOWN) -> list[Row]:
    """Rows, count and share; past ``most`` rows, the rest as one."""
    rows = [(str(k), int(r["rows"]), float(r["share"])) for k, r in _iter(table)]
    if len(rows) > most:
        rest = rows[most - 1 :]
        others = ("all others", sum(r[1] for r in rest), sum(r[2] for r in rest))
        rows = [*rows[: most - 1], others]
    return rows


def _unmatched_rows(table: pd.DataFrame) -> list[Row]:
    return [
        (str(k), int(r["unmatched"]), float(r["share_of_unmatched"]))
        for k, r in _iter(table)
        if r["unmatched"]
    ]


def _iter(table: pd.DataFrame) -> Iterator[tuple[object, pd.Series]]:
    return iter(table.iterrows())


# -- text ------------------------------------------------------------------------------------


def _text_rates(
    title: str, rows: Sequence[Row], count: str = "rows", rate: str = "matched"
) -> list[str]:
    names = [_short(r[0], _TEXT_LABEL) for r in rows]  # an 80-column terminal holds a line
    width = max([len(name) for name in names] + [len(count), 8])
    lines = ["", title, f"  {'':<{width}} {count:>8}  {'':20}  {rate}"]
    for name, (_, n, share) in zip(names, rows, strict=True):
        lines.append(f"  {name:<{width}} {n:>8,}  {_text_bar(share)}  {percent(share)}")
    if not rows:
        lines.append("  (none)")
    return lines


def _text_bar(share: float, width: int = 20) -> str:
    filled = 0 if np.isnan(share) else round(max(0.0, min(1.0, share)) * width)
    return "█" * filled + "·" * (width - filled)


# -- HTML and SVG ----------------------------------------------------------------------------


def _section(title: str, charts: Sequence[str]) -> str:
    return (
        f"<section><h4>{html.escape(title)}</h4><div class='sm-panels'>"
        + "".join(charts)
        + "</div></section>"
    )


def _svg(title: str, description: str, width: float, height: float, body: str) -> str:
    """An accessible SVG: its title names it, its description reads its figures out."""
    n = next(_ids)
    return (
        f"<figure><figcaption id='sm-x{n}-c'>{html.escape(title)}</figcaption>"
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width:.0f}' "
        f"height='{height:.0f}' viewBox='0 0 {width:.0f} {height:.0f}' "
        f"aria-labelledby='sm-x{n}-t sm-x{n}-d' style='{_FONT};font-size:12px'>"
        f"<title id='sm-x{n}-t'>{html.escape(title)}</title>"
        f"<desc id='sm-x{n}-d'>{html.escape(description)}</desc>{body}</svg></figure>"
    )


def _text(x: float, y: float, value: str, *, anchor: str = "start", colour: str = TEXT) -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' fill='{colour}'>"
        f"{html.escape(value)}</text>"
    )


def _bar_rows(title: str, rows: Sequence[Row], count: str, rate: str) -> str:
    """Horizontal bars: a label, the count, a bar of the share, the share."""
    width, top = _LABEL_W + 60 + _BAR_W + 72, 16
    body = [
        _text(_LABEL_W + 52, 11, count, anchor="end", colour=MUTED),
        _text(width - 4, 11, rate, anchor="end", colour=MUTED),
    ]
    for i, (name, n, share) in enumerate(rows):
        y = top + i * _ROW_H
        filled = 0.0 if np.isnan(share) else max(0.0, min(1.0, share)) * _BAR_W
        body += [
            _text(0, y + 12, _short(name, 24)),
            _text(_LABEL_W + 52, y + 12, f"{n:,}", anchor="end"),
            f"<rect x='{_LABEL_W + 60}' y='{y + 3}' width='{_BAR_W}' height='11' rx='2' "
            f"fill='{TRACK}'/>",
            f"<rect x='{_LABEL_W + 60}' y='{y + 3}' width='{filled:.1f}' height='11' rx='2' "
            f"fill='{BLUE}'/>",
            _text(width - 4, y + 12, percent(share), anchor="end"),
        ]
    described = "; ".join(f"{name}: {n:,} {count}, {percent(s)} {rate}" for name, n, s in rows)
    return _svg(title, described or "no rows", width, top + len(rows) * _ROW_H + 4, "".join(body))


def _rate_chart(title: str, rows: Sequence[Row]) -> str:
    return _bar_rows(title, rows, "rows", "matched")


def _mix_chart(title: str, table: pd.DataFrame) -> str:
    return _bar_rows(title, _mix_rows(table), "rows", "of matched")


def _unmatched_chart(table: pd.DataFrame) -> str:
    return _bar_rows(
        "Unmatched rows, by what they were sent with",
        _unmatched_rows(table),
        "unmatched",
        "of unmatched",
    )


def _pyramid_chart(table: pd.DataFrame) -> str:
    """Age bands down the middle, women to the left, men to the right."""
    half, mid_w, top = 150, 56, 18
    width = 2 * half + mid_w
    most = max(1, int(table[["F", "M"]].to_numpy().max()))
    body = [
        _text(half - 4, 11, "women (F)", anchor="end", colour=MUTED),
        _text(half + mid_w + 4, 11, "men (M)", colour=MUTED),
    ]
    for i, (band, r) in enumerate(_iter(table)):
        y = top + i * _ROW_H
        f, m = int(r["F"]), int(r["M"])
        fw, mw = f / most * (half - 40), m / most * (half - 40)
        body += [
            f"<rect x='{half - fw:.1f}' y='{y + 3}' width='{fw:.1f}' height='12' fill='{ROSE}'/>",
            _text(half - fw - 3, y + 13, f"{f:,}", anchor="end"),
            _text(half + mid_w / 2, y + 13, str(band), anchor="middle"),
            f"<rect x='{half + mid_w}' y='{y + 3}' width='{mw:.1f}' height='12' fill='{BLUE}'/>",
            _text(half + mid_w + mw + 3, y + 13, f"{m:,}"),
        ]
    other = int(table["other"].sum())
    described = "; ".join(
        f"{band}: {int(r['F']):,} women, {int(r['M']):,} men" for band, r in _iter(table)
    )
    height = top + len(table) * _ROW_H + 4
    if other:
        body.append(_text(0, height + 10, f"{other:,} of another or no gender", colour=MUTED))
        described += f"; {other:,} of another or no gender"
        height += 16
    return _svg("Age and gender (matched rows)", described, width, height, "".join(body))


def _histogram_chart(table: pd.DataFrame) -> str:
    """Ten columns, from 0 (Republican) to 100 (Democrat)."""
    col_w, plot_h, left, top = 36, 110, 8, 16
    width = left + col_w * len(table) + 8
    most = max(1, int(table["rows"].max()))
    body = []
    for i, (label, r) in enumerate(_iter(table)):
        n = int(r["rows"])
        h = n / most * plot_h
        x = left + i * col_w
        body += [
            f"<rect x='{x + 2}' y='{top + plot_h - h:.1f}' width='{col_w - 4}' "
            f"height='{h:.1f}' fill='{BLUE}'/>",
            _text(x + col_w / 2, top + plot_h - h - 3, f"{n:,}", anchor="middle"),
            _text(
                x + col_w / 2,
                top + plot_h + 13,
                str(label).split("-")[0],
                anchor="middle",
                colour=MUTED,
            ),
        ]
    body.append(
        f"<line x1='{left}' x2='{width - 8}' y1='{top + plot_h}' y2='{top + plot_h}' "
        f"stroke='{MUTED}'/>"
    )
    body.append(_text(left, top + plot_h + 28, "0 = Republican", colour=MUTED))
    body.append(_text(width - 8, top + plot_h + 28, "100 = Democrat", anchor="end", colour=MUTED))
    described = "; ".join(f"{label}: {int(r['rows']):,} rows" for label, r in _iter(table))
    return _svg("Partisan score (matched rows)", described, width, top + plot_h + 34, "".join(body))


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
