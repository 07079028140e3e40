"""The pieces of HTML the match form shows: the summary's rate tables, the stages, notes.

Plain functions of their data, so they can be drawn (and tested) without a form.
"""

from __future__ import annotations

import html
import re
from collections.abc import Hashable
from typing import Any, Final, get_args

import numpy as np
import pandas as pd

from ..deliverable import MatchResult
from ..deliverable.exploration import match_rates, matched_mask
from ..deliverable.summary import percent
from ..identifiers import MATCH_CODE
from ..job.handle import Job
from ..preparation.standing import normalised_states
from ..progress import Stage
from .aria import GROUP, GROUP_LABEL

#: The stages a job goes through, as the form shows them: the progress events' own, in
#: their order, but "connecting" (shown as registering) and notes.
STAGES: Final = tuple(s for s in get_args(Stage) if s not in ("connecting", "note"))

RED: Final = "#b3261e"

AMBER_BG: Final = "#fff4e5"

BLUE: Final = "#2f6db5"

GREY: Final = "#6b6b6b"

AMBER: Final = "#8a5300"
_STATES_SHOWN: Final = 12


#: Text on white of at least 4.5:1 (WCAG AA) in every colour the form writes in.
INDEX: Final = "#595959"
PENDING: Final = "#4d4d4d"
FOCUS: Final = "#1a56a8"

#: The form's style, scoped to the form (the HTML widgets take no classes of their own):
#: light whatever the notebook's theme (its colours are measured against white; a dark
#: theme's light text on the form's light boxes would be unreadable),
#: tables that scroll sideways with a visible scrollbar and their row labels kept in view,
#: focus rings that show, labels that name controls without being seen, a waiting stripe.
STYLE: Final = f"""<style>
.smartmatch-form {{background: #fff; color: #1a1a1a; color-scheme: light;
  --jp-widgets-color: #1a1a1a; --jp-widgets-label-color: #1a1a1a;
  --jp-widgets-readout-color: #1a1a1a; --jp-widgets-input-color: #1a1a1a;
  --jp-widgets-input-background-color: #fff; --jp-widgets-input-border-color: #8a8a8a;
  --jp-ui-font-color0: #000; --jp-ui-font-color1: #1a1a1a; --jp-ui-font-color2: #4d4d4d;
  --jp-content-font-color0: #000; --jp-content-font-color1: #1a1a1a;
  --jp-layout-color0: #fff; --jp-layout-color1: #fff; --jp-layout-color2: #eee;
  --jp-border-color1: #bdbdbd}}
.smartmatch-form table.sm-table {{border-collapse: collapse; font-size: 12px; white-space: nowrap}}
.smartmatch-form table.sm-table th {{text-align: left; padding: 3px 10px 3px 4px;
  border-bottom: 1px solid #bbb; font-weight: 600; background: #fff}}
.smartmatch-form table.sm-table td {{padding: 2px 10px 2px 0; border-bottom: 1px solid #eee}}
.smartmatch-form table.sm-table tbody th {{color: {INDEX}; font-weight: normal;
  position: sticky; left: 0; z-index: 1}}
.smartmatch-form .widget-html, .smartmatch-form .widget-html-content {{min-width: 0;
  max-width: 100%}}
.smartmatch-form .widget-html-content {{line-height: 1.45; white-space: normal}}
.smartmatch-form .sm-scroll {{overflow-x: scroll; overflow-y: hidden; max-width: 100%;
  padding-bottom: 2px; scrollbar-width: auto; scrollbar-color: #6b6b6b #e8e8e8}}
.smartmatch-form .sm-scroll::-webkit-scrollbar {{height: 12px; background: #e8e8e8}}
.smartmatch-form .sm-scroll::-webkit-scrollbar-thumb {{background: #6b6b6b; border-radius: 6px}}
.smartmatch-form :is(button, input, select, textarea, [tabindex]):focus-visible {{
  outline: 3px solid {FOCUS} !important; outline-offset: 2px}}
.smartmatch-form :is(input, select, textarea):focus {{outline: 3px solid {FOCUS} !important;
  outline-offset: 1px}}
.smartmatch-form .sm-hidden-label .widget-label {{position: absolute !important; width: 1px;
  height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap}}
.smartmatch-form .widget-radio-box {{flex-wrap: wrap; gap: 2px 12px}}
.smartmatch-form .sm-busy {{display: inline-block; width: 160px; height: 8px; margin-right: 10px;
  border-radius: 4px; vertical-align: middle; background: repeating-linear-gradient(
  -45deg, #2f6db5 0 10px, #dbe6f4 10px 20px); background-size: 28px 8px;
  animation: sm-busy 1s linear infinite}}
@keyframes sm-busy {{from {{background-position: 0 0}} to {{background-position: 28px 0}}}}
@media (prefers-reduced-motion: reduce) {{.smartmatch-form .sm-busy {{animation: none}}}}
</style>"""


def summary_html(
    result: MatchResult, df: pd.DataFrame | None = None, job: Job | None = None
) -> str:
    """The match rate overall, per identifier sent, and per state, as tables with bars.

    Parameters
    ----------
    result
        A finished job's result.
    df
        The frame that was matched; with it (and ``job``), the rows are also
        counted per state when a column was sent as ``state``.
    job
        The job, for its column mapping.
    """
    summary = result.summary
    parts = [
        "<div style='margin:8px 0 4px;font-size:1.1em'><b>"
        f"{summary.matched:,} of {summary.rows:,} rows matched ({percent(summary.match_rate)})"
        "</b></div>"
    ]
    if result.from_cache:
        parts.append(note("From the result cache: no request was made.", GREY))
    if summary.misfits:  # typed=True: the values that became missing
        said = summary.describe_misfits().strip()
        parts.append(note(f"{said[:1].upper()}{said[1:]}.", GREY))
    rows = [("all rows", summary.rows, summary.match_rate)]
    table = summary.by_identifier
    rows += [
        (f"with {name}", int(row["rows_with_value"]), float(row["match_rate_with"]))
        for name, row in table.iterrows()
        if row["rows_with_value"]
    ]
    blocks = [_rate_table("by identifier present", "rows", rows)]
    states = _by_state(result, df, job)
    if states is not None and len(states):
        shown = states.head(_STATES_SHOWN)
        state_rows = [(str(s), int(r["rows"]), float(r["match_rate"])) for s, r in shown.iterrows()]
        title = "by state" + (
            f" (the {_STATES_SHOWN} largest)" if len(states) > _STATES_SHOWN else ""
        )
        blocks.append(_rate_table(title, "rows", state_rows))
    parts.append(
        "<div style='display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start'>"
        + "".join(blocks)
        + "</div>"
    )
    if summary.missing or summary.unknown:
        parts.append(
            note(
                f"{summary.missing:,} row(s) sent were not returned; {summary.unknown:,} "
                "returned row(s) were never sent.",
                RED,
            )
        )
    return "".join(parts)


def _by_state(result: MatchResult, df: pd.DataFrame | None, job: Job | None) -> pd.DataFrame | None:
    """Rows and match rate per state sent (as normalised), largest first."""
    if df is None or job is None or job.mapping is None or MATCH_CODE not in result.frame:
        return None
    column = next((c for c, ident in job.mapping.pairs if ident == "state"), None)
    if column is None or len(df) != len(result.frame):
        return None
    if (df.columns == column).sum() != 1:
        return None
    return state_rates(df[column], result.frame[MATCH_CODE], label=column)


def state_rates(
    states: pd.Series, match_codes: pd.Series, *, label: Hashable = None
) -> pd.DataFrame:
    """Rows and match rate per state (as normalised, ``(none)`` when missing), largest first.

    The exploration's table of states, computed by the same functions.
    """
    matched = matched_mask(pd.DataFrame({MATCH_CODE: match_codes}))
    return match_rates(normalised_states(states, label=label).rename("state"), matched)


def _rate_table(title: str, count: str, rows: list[tuple[str, int, float]]) -> str:
    body = "".join(
        "<tr>"
        f"<td style='padding:1px 10px 1px 0'>{html.escape(name)}</td>"
        f"<td style='padding:1px 10px;text-align:right'>{n:,}</td>"
        f"<td style='padding:1px 0 1px 10px'>{_bar(rate)}</td>"
        f"<td style='padding:1px 0 1px 6px;text-align:right'>{percent(rate)}</td>"
        "</tr>"
        for name, n, rate in rows
    )
    return (
        f"<table style='border-collapse:collapse;font-size:0.95em'>"
        f"<caption style='text-align:left;font-weight:600;padding-bottom:2px'>"
        f"Match rate {html.escape(title)}</caption>"
        f"<thead><tr style='color:{GREY}'><th scope='col'></th><th scope='col' "
        f"style='text-align:right;padding:0 10px'>{count}</th><th scope='col'></th>"
        f"<th scope='col' style='text-align:right'>matched</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )


def _bar(rate: float) -> str:
    width = 0.0 if np.isnan(rate) else max(0.0, min(1.0, rate)) * 100
    return (
        "<div style='width:140px;height:10px;background:#e6ecf5;border-radius:2px'>"
        f"<div style='width:{width:.1f}%;height:10px;background:{BLUE};border-radius:2px'>"
        "</div></div>"
    )


def table_html(frame: pd.DataFrame) -> str:
    """``frame`` as an HTML table; missing values are left blank, as they are uploaded."""
    shown = frame.astype(object).where(frame.notna(), "")
    shown.columns = pd.Index([str(c) for c in shown.columns])
    return (
        "<div class='sm-scroll' role='region' tabindex='0' aria-label='table, scrolls sideways'>"
        + _scoped(shown.to_html(escape=True, border=0, classes="sm-table", max_cols=40))
        + "</div>"
    )


def _scoped(table: str) -> str:
    """``table`` (pandas' HTML) with its header cells saying what they head, for screen
    readers: a column in the heading, a row (its index) in the body."""
    head, body = table.split("<tbody>", 1)
    return _TH.sub('<th scope="col"', head) + "<tbody>" + _TH.sub('<th scope="row"', body)


_TH: Final = re.compile(r"<th(?=[\s>])")


def labelled(w: Any, label: str, control: Any) -> Any:
    """``control`` (a box of controls) beside its ``label``: a group named by the label."""
    shown = w.HTML(
        f"<div style='color:#333;text-align:right;padding-right:8px'>{html.escape(label)}</div>",
        layout=w.Layout(width="100px", flex="0 0 100px"),
    )
    shown.add_class(GROUP_LABEL)
    box = w.HBox([shown, control], layout=w.Layout(align_items="center", margin="1px 0"))
    box.add_class(GROUP)
    return box


def stage_line(current: str | None) -> str:
    if current == "connecting":  # retrying the connection, on the way to registering
        current = "registering"
    index = STAGES.index(current) if current in STAGES else -1
    pills = []
    for i, stage in enumerate(STAGES):
        if i < index or current == "done":
            style, mark = "background:#e3f1e6;color:#1e6b34", "✓ "
        elif i == index:
            style, mark = f"background:{BLUE};color:white", "▸ "
        else:
            style, mark = f"background:#f0f0f0;color:{PENDING}", ""
        current_step = " aria-current='step'" if i == index and current != "done" else ""
        pills.append(
            f"<span style='{style};padding:1px 8px;border-radius:10px;margin-right:4px;"
            f"font-size:0.9em'{current_step}>{mark}{stage}</span>"
        )
    return "<div style='margin:4px 0'>" + "".join(pills) + "</div>"


def column_text(check: Any, problems: list[str], rows: int) -> str:
    if check is None and not problems:
        return f"<span style='color:{GREY}'>not sent</span>"
    parts = []
    if check is not None:
        share = f" ({check.present / rows:.0%})" if rows else ""
        parts.append(f"{check.present:,}{share} present")
        if check.changed:
            parts.append(f"{check.changed:,} normalised")
        if check.invalid:
            examples = "; ".join(f"{row}: {value!r}" for row, value in check.examples)
            tail = f" (e.g. {examples})" if examples else ""
            parts.append(
                f"<span style='color:{RED}'>{check.invalid:,} invalid{html.escape(tail)}</span>"
            )
    text = " · ".join(parts)
    for problem in problems:
        text += f"<div style='color:{RED}'>{html.escape(problem)}</div>"
    return f"<span style='font-size:0.9em'>{text}</span>"


def heading(text: str) -> str:
    return f"<div style='font-weight:600;margin:2px 0 4px'>{html.escape(text)}</div>"


def small_caps(text: str) -> str:
    return (
        f"<span style='color:{GREY};font-size:0.8em;text-transform:uppercase;"
        f"letter-spacing:0.05em'>{html.escape(text)}</span>"
    )


def note(text: str, color: str) -> str:
    return f"<div style='color:{color};font-size:0.9em'>{html.escape(text)}</div>"


def size_text(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def title_html(rows: int, cols: int, service_line: str) -> str:
    """The form's title: the frame's size and the service it matches on."""
    return (
        f"<div style='font-size:1.25em;font-weight:600;margin:2px 0'>SmartMatch</div>"
        f"<div style='color:{GREY}'>{rows:,} rows &times; {cols} columns · "
        f"{html.escape(service_line)}</div>"
    )


def code_html(call: str) -> str:
    """The call the form stands for."""
    return (
        f"<div style='color:{GREY};font-size:0.9em'>The same in code: "
        f"<code>{html.escape(call)}</code></div>"
    )


def problems_html(items: list[tuple[str, str]]) -> str:
    """A list of ``(problem, colour)``; empty when there is none."""
    if not items:
        return ""
    return (
        "<ul style='margin:6px 0;padding-left:18px'>"
        + "".join(f"<li style='color:{c}'>{html.escape(p)}</li>" for p, c in items)
        + "</ul>"
    )


def costs_html(costs: list[str]) -> str:
    """The notice of the options that may cost extra; empty when none does."""
    if not costs:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in costs)
    return (
        f"<div style='background:{AMBER_BG};border-left:4px solid #f0a020;"
        "padding:4px 10px;margin-top:6px'><b>May cost extra</b> (check your TargetSmart "
        f"contract):<ul style='margin:2px 0;padding-left:18px'>{items}</ul></div>"
    )


def job_line_html(filename: str) -> str:
    """The job's filename, and the call that picks it up from anywhere."""
    call = f"smartmatch_pandas.resume({filename!r}, df)"
    return (
        f"<div style='margin:6px 0'>Job <b><code>{html.escape(filename)}</code></b> · "
        f"<span style='color:{GREY}'>keep this name: the job is never lost; pick it up "
        f"from any notebook with <code>{html.escape(call)}</code></span></div>"
    )


def not_registered_html(filename: str) -> str:
    """The job line of a job the service did not take: there is nothing to resume."""
    return (
        f"<div style='margin:6px 0;color:{GREY}'>Job <code>{html.escape(filename)}</code> "
        "was not registered: there is nothing to resume.</div>"
    )


def result_rows_html(frame: pd.DataFrame, rows: pd.DataFrame, additional: int) -> str:
    """The first ``rows`` of the result ``frame``, with where the rest is."""
    more = (
        f" · {additional:,} additional candidate(s) in <code>form.match_result.additional</code>"
        if additional
        else ""
    )
    return (
        f"<div style='margin:6px 0 2px'><b>The first rows of the result</b>, the appended "
        f"columns<div style='color:{GREY}'>All {len(frame):,} rows &times; "
        f"{frame.shape[1]} columns are in <code>form.result</code>{more}</div></div>"
        + table_html(rows)
    )


def error_html(heading: str, text: str) -> str:
    """An error, in words, under a heading such as "Not matched."."""
    return (
        f"<div style='background:#fdecea;border-left:4px solid {RED};padding:6px 10px;"
        f"margin:6px 0;color:#5f1a14'><b>{heading}</b> {html.escape(text)}</div>"
    )
