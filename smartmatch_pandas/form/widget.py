"""The match form: ``df.smartmatch.form()`` in a notebook.

A view over :class:`~smartmatch_pandas.options.MatchOptions` and the column
mapping, not an engine: it gathers the same arguments as
:func:`~smartmatch_pandas.match` and calls the same verbs
(:func:`~smartmatch_pandas.submit`, then ``job.wait()`` and ``job.result()``)
on a background thread, so the notebook stays usable while the job runs.

Widgets are changed from that thread only through :meth:`MatchForm._post`,
which holds one lock: ipykernel sends each change as a message on its
thread-safe IOPub channel, and the form's own observers never run there
(the job thread touches display widgets alone, never an input).
"""

from __future__ import annotations

import html
import os
import threading
import time
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from ..deliverable import MatchResult
from ..errors import InputError, OptionError, SmartMatchError
from ..identifiers import IDENTIFIERS, MATCH_CODE
from ..job.handle import Job, resolve_poll_interval
from ..options import (
    FORMATS,
    INCLUDE_FLAGS,
    Format,
    MatchOptions,
    check_filename,
    check_webhook,
)
from ..preparation.check import CheckReport, check_frame
from ..preparation.mapping import auto_identifier, candidate_pairs, clashing
from ..preparation.normalize import InvalidPolicy, check_policy, decoded, normalize
from ..preparation.table import prepare_frame
from ..progress import ProgressEvent
from ..verbs import core as api
from ..wire.http import is_real_service, resolve_base_url

#: The dropdown entry of a column that is not sent.
NOT_SENT: Final = ""
#: The stages a job goes through, as the form shows them.
STAGES: Final = ("preparing", "uploading", "waiting", "downloading", "merging", "done")
#: How often (seconds) the progress display is redrawn at most, between stage changes.
_REDRAW: Final = 0.1
_POLICIES: Final = (
    ("send as given", "keep"),
    ("send empty", "blank"),
    ("stop the match", "raise"),
)
_RED: Final = "#b3261e"
_AMBER_BG: Final = "#fff4e5"
_BLUE: Final = "#2f6db5"
_GREY: Final = "#6b6b6b"
_AMBER: Final = "#8a5300"
_STATES_SHOWN: Final = 12
#: Identifiers that say who a row is, shown beside the appended columns of the result.
_NAMES: Final = ("full_name", "first_name", "last_name")
#: The form's table style, scoped to the form (the HTML widgets take no classes of their own).
_STYLE: Final = """<style>
.smartmatch-form table.sm-table {border-collapse: collapse; font-size: 12px; white-space: nowrap}
.smartmatch-form table.sm-table th {text-align: left; padding: 3px 10px 3px 0;
  border-bottom: 1px solid #bbb; font-weight: 600}
.smartmatch-form table.sm-table td {padding: 2px 10px 2px 0; border-bottom: 1px solid #eee}
.smartmatch-form table.sm-table tbody th {color: #888; font-weight: normal}
.smartmatch-form .widget-html-content {line-height: 1.45; white-space: normal}
</style>"""
#: Check problems the form words its own way, as what keeps Match disabled.
_SHOWN_AS_BLOCKERS: Final = ("more than one column", "no column is", "the frame has no rows")

State = Literal["ready", "running", "done", "failed"]


class MatchForm:
    """An ipywidgets form for matching ``df``: the mapping, the options, a preview, Match.

    Every option of :func:`~smartmatch_pandas.match` is a control; a value
    that is invalid is flagged as it is typed and keeps the Match button
    disabled. Match runs the job in the background with a progress display
    and shows the job's filename at once (to resume it from anywhere); when
    the job is done the form shows the summary and the first rows of the
    result. Errors are shown in the form, in words.

    The service is the one :func:`~smartmatch_pandas.match` would use: the
    ``SMARTMATCH_BASE_URL``, ``TS_API_KEY`` and ``SMARTMATCH_POLL_INTERVAL``
    environment (which ``LocalService(...).start().activate()`` sets), or the
    arguments given here. Without a key, the form asks for one in a password
    field; the key is held in memory only, never shown or saved.

    Parameters
    ----------
    df
        The contact list.
    columns
        ``{frame column: identifier or None}`` to preset the mapping, as for
        :func:`~smartmatch_pandas.match`; the automatic mapping otherwise.
    max_matches, format, webhook, filename, invalid
        The options' initial values, as for :func:`~smartmatch_pandas.match`.
    include_email, include_landline, include_wireless, include_voip
        The contact fields initially asked for.
    api_key, base_url, poll_interval
        The service, when not the environment's.
    cache
        Use and keep the result cache, as for :func:`~smartmatch_pandas.match`.
    preview_rows, result_rows
        Rows shown of the upload and of the result.

    Attributes
    ----------
    result
        The enriched frame once a match is done (what ``match()`` returns), else None.
    match_result
        The whole :class:`~smartmatch_pandas.deliverable.summary.MatchResult` (additional
        candidates, summary, files), else None.
    job
        The :class:`~smartmatch_pandas.job.handle.Job` of the latest Match, once submitted.
    error
        The exception that stopped the latest Match, if one did.
    widget
        The form's root widget.
    controls
        The option widgets by option name (``"max_matches"``, ``"format"``,
        ``"include_email"``, ..., ``"webhook"``, ``"filename"``, ``"invalid"``).
    mapping_controls
        One identifier dropdown per frame column (``""``: not sent).
    match_button
        The Match button.
    api_key_field
        The password field, or None when a key is configured.

    Examples
    --------
    >>> form = df.smartmatch.form(max_matches=3)   # doctest: +SKIP
    >>> form                                       # doctest: +SKIP
    >>> form.result                                # doctest: +SKIP
    """

    def __init__(
        self,
        df: pd.DataFrame,
        *,
        columns: Mapping[Hashable, str | None] | None = None,
        max_matches: int = 1,
        format: Format = "csv",
        include_email: bool = False,
        include_landline: bool = False,
        include_wireless: bool = False,
        include_voip: bool = False,
        webhook: str | None = None,
        filename: str | None = None,
        invalid: InvalidPolicy = "keep",
        api_key: str | None = None,
        base_url: str | None = None,
        poll_interval: float | None = None,
        cache: bool = True,
        preview_rows: int = 5,
        result_rows: int = 5,
    ) -> None:
        import ipywidgets as w

        if not isinstance(df, pd.DataFrame):
            raise InputError(f"expected a pandas DataFrame, got a {type(df).__name__}")
        if isinstance(df.columns, pd.MultiIndex):
            raise InputError(
                "the frame has MultiIndex columns: flatten them first, for example "
                "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
            )
        # Checked once, as match() would: a bad preset fails here, in words.
        MatchOptions(
            max_matches=max_matches,
            format=format,
            include_email=include_email,
            include_landline=include_landline,
            include_wireless=include_wireless,
            include_voip=include_voip,
            webhook=webhook,
            filename=filename,
        )
        check_policy(invalid)
        self._df = df
        self._labels: list[Hashable] = list(df.columns.unique())
        self._base_url, self._poll_interval, self._cache = base_url, poll_interval, cache
        self._api_key = api_key or None
        self._preview_rows, self._result_rows = preview_rows, result_rows
        self._checks: dict[tuple[tuple[Hashable, str | None], ...], CheckReport] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._syncing = False
        self._last_draw = 0.0
        self._notes: list[str] = []
        self.result: pd.DataFrame | None = None
        self.match_result: MatchResult | None = None
        self.job: Job | None = None
        self.error: BaseException | None = None
        self._state: State = "ready"

        self.mapping_controls: dict[Hashable, Any] = {}
        self._column_info: dict[Hashable, Any] = {}
        self._build_mapping(w, columns)
        self.controls: dict[str, Any] = self._build_options(
            w,
            max_matches=max_matches,
            format=format,
            flags={
                "include_email": include_email,
                "include_landline": include_landline,
                "include_wireless": include_wireless,
                "include_voip": include_voip,
            },
            webhook=webhook,
            filename=filename,
            invalid=invalid,
        )
        self.api_key_field: Any = None
        self._build_rest(w)
        self._refresh()

    # -- building the widgets -------------------------------------------------------

    def _build_mapping(self, w: Any, columns: Mapping[Hashable, str | None] | None) -> None:
        preset = _preset_mapping(self._labels, columns)
        choices = [("— not sent —", NOT_SENT), *((i, i) for i in IDENTIFIERS)]
        header = [
            w.HTML(_small_caps("column")),
            w.HTML(_small_caps("sent as")),
            w.HTML(_small_caps("input check")),
        ]
        cells: list[Any] = [*header]
        for label in self._labels:
            dropdown = w.Dropdown(
                options=choices,
                value=preset[label] or NOT_SENT,
                layout=w.Layout(width="150px"),
            )
            dropdown.observe(self._on_mapping_change(label), names="value")
            info = w.HTML()
            self.mapping_controls[label] = dropdown
            self._column_info[label] = info
            cells += [w.HTML(f"<code>{html.escape(str(label))}</code>"), dropdown, info]
        self._mapping_grid = w.GridBox(
            cells,
            layout=w.Layout(
                grid_template_columns="minmax(90px, max-content) 156px minmax(160px, 1fr)",
                grid_gap="2px 10px",
                align_items="center",
            ),
        )
        self._problems = w.HTML()

    def _build_options(
        self,
        w: Any,
        *,
        max_matches: int,
        format: str,
        flags: dict[str, bool],
        webhook: str | None,
        filename: str | None,
        invalid: str,
    ) -> dict[str, Any]:
        controls: dict[str, Any] = {
            "max_matches": w.IntSlider(
                value=max_matches, min=1, max=10, layout=w.Layout(width="260px")
            ),
            "format": w.ToggleButtons(
                options=list(FORMATS), value=format, style={"button_width": "60px"}
            ),
        }
        for flag, value in flags.items():
            controls[flag] = w.Checkbox(
                value=value,
                description=flag.removeprefix("include_"),
                indent=False,
                layout=w.Layout(width="auto", margin="0 18px 0 0"),
            )
        controls["webhook"] = w.Text(
            value=webhook or "", placeholder="https://… (optional)", layout=w.Layout(width="290px")
        )
        controls["filename"] = w.Text(
            value=filename or "", placeholder="blank: generated", layout=w.Layout(width="290px")
        )
        controls["invalid"] = w.Dropdown(
            options=_POLICIES, value=invalid, layout=w.Layout(width="160px")
        )
        for control in controls.values():
            control.observe(lambda _: self._refresh(), names="value")
        self._field_errors = {name: w.HTML() for name in ("webhook", "filename")}
        return controls

    def _build_rest(self, w: Any) -> None:
        c = self.controls
        includes = w.HBox(
            [c[flag] for flag in INCLUDE_FLAGS], layout=w.Layout(align_items="center")
        )
        rows = [
            _labelled(w, "max matches", c["max_matches"]),
            _labelled(w, "format", c["format"]),
            _labelled(w, "append", includes),
            _labelled(w, "webhook", c["webhook"]),
            self._field_errors["webhook"],
            _labelled(w, "filename", c["filename"]),
            self._field_errors["filename"],
            _labelled(w, "invalid values", c["invalid"]),
        ]
        if not self._key_configured():
            self.api_key_field = w.Password(
                placeholder="then press Enter",
                continuous_update=False,
                layout=w.Layout(width="290px"),
            )
            self.api_key_field.observe(self._on_key, names="value")
            self._key_note = w.HTML(
                _note(
                    "No API key is configured: enter it here. It is held in memory only, "
                    "never shown or saved in the notebook.",
                    _GREY,
                )
            )
            rows += [_labelled(w, "API key", self.api_key_field), self._key_note]
        options = w.VBox(rows)
        self._costs = w.HTML()
        self._preview = w.HTML()
        self._code = w.HTML()
        self.match_button = w.Button(
            description="Match",
            button_style="primary",
            icon="play",
            tooltip="Submit the job",
            layout=w.Layout(width="140px", margin="0 12px 0 0"),
        )
        self.match_button.on_click(lambda _: self.start())
        self._blockers = w.HTML()
        self._job_line = w.HTML()
        self._stages = w.HTML()
        self._bar = w.FloatProgress(
            value=0, min=0, max=1, layout=w.Layout(width="260px", margin="0 10px 0 0")
        )
        self._detail = w.HTML()
        self._progress = w.VBox(
            [self._stages, w.HBox([self._bar, self._detail])],
            layout=w.Layout(display="none"),
        )
        self._message = w.HTML()
        self._summary = w.HTML()
        self._rows = w.HTML(layout=w.Layout(width="100%", overflow="hidden"))

        def section(**extra: str) -> Any:
            return w.Layout(border="1px solid #dcdcdc", padding="8px 14px", margin="4px 0", **extra)

        self.widget = w.VBox(
            [
                w.HTML(_STYLE + self._title()),
                w.HBox(
                    [
                        w.VBox(
                            [w.HTML(_heading("Columns")), self._mapping_grid, self._problems],
                            layout=w.Layout(flex="1 1 480px", margin="0 28px 0 0"),
                        ),
                        w.VBox(
                            [w.HTML(_heading("Options")), options, self._costs],
                            layout=w.Layout(flex="0 0 420px"),
                        ),
                    ],
                    layout=section(flex_flow="row wrap", align_items="flex-start"),
                ),
                w.VBox(
                    [
                        w.HTML(_heading("Preview: the first rows as they will be uploaded")),
                        self._preview,
                    ],
                    layout=section(),
                ),
                w.VBox(
                    [
                        w.HBox(
                            [self.match_button, self._blockers],
                            layout=w.Layout(align_items="center"),
                        ),
                        self._code,
                        self._job_line,
                        self._progress,
                        self._message,
                        self._summary,
                        self._rows,
                    ],
                    layout=w.Layout(padding="6px 0"),
                ),
            ],
            layout=w.Layout(max_width="1200px"),
        )
        self.widget.add_class("smartmatch-form")

    def _title(self) -> str:
        rows, cols = self._df.shape
        return (
            f"<div style='font-size:1.25em;font-weight:600;margin:2px 0'>SmartMatch</div>"
            f"<div style='color:{_GREY}'>{rows:,} rows &times; {cols} columns · "
            f"{html.escape(self._service_line())}</div>"
        )

    def _service_line(self) -> str:
        try:
            url = resolve_base_url(self._base_url)
        except SmartMatchError as exc:
            return f"service: {exc}"
        where = "TargetSmart's API" if is_real_service(url) else f"the service at {url}"
        try:
            interval = resolve_poll_interval(self._poll_interval, url)
        except SmartMatchError:
            return f"matching on {where}"
        return f"matching on {where}, polled every {interval:g} s"

    # -- what the controls say ------------------------------------------------------

    @property
    def columns(self) -> dict[Hashable, str | None]:
        """The mapping chosen, as the ``columns=`` argument of ``match()`` (changes only)."""
        chosen = {label: self.mapping_controls[label].value or None for label in self._labels}
        return {label: ident for label, ident in chosen.items() if ident != auto_identifier(label)}

    @property
    def invalid(self) -> InvalidPolicy:
        """The policy chosen for values that cannot be normalised."""
        policy: InvalidPolicy = self.controls["invalid"].value
        return policy

    @property
    def options(self) -> MatchOptions | None:
        """The options as chosen, validated; None while a value is invalid."""
        try:
            return self._options()
        except OptionError:
            return None

    def _options(self, **override: Any) -> MatchOptions:
        c = self.controls
        values: dict[str, Any] = {
            "max_matches": c["max_matches"].value,
            "format": c["format"].value,
            **{flag: c[flag].value for flag in INCLUDE_FLAGS},
            "webhook": c["webhook"].value.strip() or None,
            "filename": c["filename"].value.strip() or None,
        }
        return MatchOptions(**{**values, **override})

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``match()`` that the form's choices make (no key)."""
        options = self._options()
        defaults = MatchOptions()
        out: dict[str, Any] = {
            name: value
            for name, value in options.as_dict().items()
            if name != "extra_params" and value != getattr(defaults, name)
        }
        if self.columns:
            out["columns"] = self.columns
        if self.invalid != "keep":
            out["invalid"] = self.invalid
        return out

    @property
    def problems(self) -> list[str]:
        """What keeps the Match button disabled, in words (empty when it may be clicked)."""
        problems = []
        for name, check in (("webhook", check_webhook), ("filename", check_filename)):
            value = self.controls[name].value.strip()
            if value:
                try:
                    check(value)
                except OptionError as exc:
                    problems.append(str(exc))
        return problems + self._mapping_blockers(self._check())

    def _mapping_blockers(self, report: CheckReport) -> list[str]:
        """What in the mapping or the data would make ``submit()`` refuse the frame."""
        if not len(self._df):
            return ["the frame has no rows: there is nothing to match"]
        pairs = candidate_pairs(self._labels, self.columns)
        if not pairs:
            return ["no column is sent: choose an identifier for at least one column"]
        blockers = [
            f"{', '.join(repr(c) for c in labels)} are all set to {identifier}: keep one "
            'and set the others to "not sent"'
            for identifier, labels in clashing(pairs).items()
        ]
        checked = {check.column for check in report.columns}
        duplicated = set(self._df.columns[self._df.columns.duplicated()])
        for label, _ in pairs:
            if label in duplicated:
                blockers.append(f"column {label!r} appears more than once: rename the duplicates")
            elif label not in checked:
                blockers += [p for p in report.problems if f"{label!r}" in p]
        invalid = sum(check.invalid for check in report.columns)
        if invalid and self.invalid == "raise":
            blockers.append(
                f"{invalid:,} value(s) cannot be normalised and invalid values is set to "
                '"stop the match": fix them, or send them as given or empty'
            )
        return blockers

    @property
    def state(self) -> State:
        """``"ready"``, ``"running"``, ``"done"`` or ``"failed"``."""
        return self._state

    @property
    def filename(self) -> str | None:
        """The filename of the latest job (how it is resumed), once Match was clicked."""
        return self.job.filename if self.job is not None else self._planned

    _planned: str | None = None

    def _check(self) -> CheckReport:
        key = tuple((label, self.mapping_controls[label].value or None) for label in self._labels)
        if key not in self._checks:
            with _quiet():
                self._checks[key] = check_frame(self._df, self.columns, examples=3)
        return self._checks[key]

    # -- reacting to the controls -----------------------------------------------------

    def _on_mapping_change(self, label: Hashable) -> Callable[[Any], None]:
        def changed(change: Any) -> None:
            if self._syncing:
                return
            chosen = change["new"]
            self._syncing = True
            try:
                # One column per identifier: picking it for this column takes it from another.
                for other, dropdown in self.mapping_controls.items():
                    if other != label and chosen and dropdown.value == chosen:
                        dropdown.value = NOT_SENT
            finally:
                self._syncing = False
            self._refresh()

        return changed

    def _on_key(self, change: Any) -> None:
        key = (change["new"] or "").strip()
        if not key:
            return
        # Taken into memory and cleared at once: the widget's state never holds it for long.
        self._api_key = key
        self.api_key_field.value = ""
        self.api_key_field.placeholder = "key entered (held in memory); type to replace"
        self._key_note.value = _note("✓ API key entered: held in memory only, never saved.", _GREY)
        self._refresh()

    def _key_configured(self) -> bool:
        return bool(self._api_key or (os.environ.get("TS_API_KEY") or "").strip())

    def _refresh(self) -> None:
        """Redraw what depends on the controls: checks, errors, costs, preview, the button."""
        with self._lock:
            self._redraw()

    def _redraw(self) -> None:
        report = self._check()
        self._draw_mapping(report)
        for name, check in (("webhook", check_webhook), ("filename", check_filename)):
            value = self.controls[name].value.strip()
            message = ""
            if value:
                try:
                    check(value)
                except OptionError as exc:
                    message = _note(str(exc), _RED)
            self._field_errors[name].value = message
        self._draw_costs()
        self._draw_preview(report)
        problems = self.problems
        running = self._state == "running"
        self.match_button.disabled = bool(problems) or running
        if problems:
            self._blockers.value = _note("Fix the values marked in red to match.", _RED)
        else:
            self._blockers.value = ""
        try:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        except OptionError:
            shown = "…"
        self._code.value = (
            f"<div style='color:{_GREY};font-size:0.9em'>The same in code: "
            f"<code>df.smartmatch.match({html.escape(shown)})</code></div>"
        )

    def _draw_mapping(self, report: CheckReport) -> None:
        by_column = {check.column: check for check in report.columns}
        attributed: set[str] = set()
        for label in self._labels:
            own = [p for p in report.problems if f"column {label!r}" in p]
            attributed.update(own)
            self._column_info[label].value = _column_text(by_column.get(label), own, report.rows)
        blockers = self._mapping_blockers(report)
        notes = [
            p
            for p in report.problems
            if p not in attributed and p not in blockers and not p.startswith(_SHOWN_AS_BLOCKERS)
        ]
        items = [(p, _RED) for p in blockers] + [(p, _AMBER) for p in notes]
        self._problems.value = (
            "<ul style='margin:6px 0;padding-left:18px'>"
            + "".join(f"<li style='color:{c}'>{html.escape(p)}</li>" for p, c in items)
            + "</ul>"
            if items
            else ""
        )

    def _draw_costs(self) -> None:
        c = self.controls
        costs = MatchOptions(
            max_matches=c["max_matches"].value, **{f: c[f].value for f in INCLUDE_FLAGS}
        ).costs
        if not costs:
            self._costs.value = ""
            return
        items = "".join(f"<li>{html.escape(n)}</li>" for n in costs)
        self._costs.value = (
            f"<div style='background:{_AMBER_BG};border-left:4px solid #f0a020;"
            "padding:4px 10px;margin-top:6px'><b>May cost extra</b> (check your TargetSmart "
            f"contract):<ul style='margin:2px 0;padding-left:18px'>{items}</ul></div>"
        )

    def _draw_preview(self, report: CheckReport) -> None:
        if self._mapping_blockers(report):
            self._preview.value = _note("No preview until the columns above can be sent.", _GREY)
            return
        policy = "keep" if self.invalid == "raise" else self.invalid
        try:
            with _quiet():
                frame = prepare_frame(
                    self._df.head(self._preview_rows), self.columns, invalid=policy
                )
        except SmartMatchError as exc:
            self._preview.value = _note(str(exc), _RED)
            return
        self._preview.value = _table(frame)

    # -- running a match ------------------------------------------------------------

    def start(self) -> None:
        """What the Match button does: submit the job and wait for it in the background.

        Returns at once; :meth:`wait` waits for the job. Does nothing while a
        job is running or while a value is invalid (the form says which).
        """
        with self._lock:
            if self._state == "running":
                return
            problems = self.problems
            if problems:
                self._show_error("Cannot match yet: " + "; ".join(problems))
                return
            api_key = self._api_key
            if api_key is None and not self._key_configured():
                self._show_error(
                    "No API key: type it in the API key field and press Enter (or set the "
                    "TS_API_KEY environment variable)."
                )
                return
            try:
                options = self._options().with_filename()
            except OptionError as exc:
                self._show_error(str(exc))
                return
            assert options.filename is not None
            kwargs: dict[str, Any] = {
                **{k: v for k, v in options.as_dict().items() if k != "extra_params"},
                "columns": self.columns or None,
                "invalid": self.invalid,
                "api_key": api_key,
                "base_url": self._base_url,
                "poll_interval": self._poll_interval,
                "cache": self._cache,
                "progress": self._on_progress,
            }
            self._begin(options.filename)
            self._thread = threading.Thread(
                target=self._run, args=(kwargs,), name="smartmatch-form", daemon=True
            )
            self._thread.start()

    def wait(self, timeout: float | None = None) -> pd.DataFrame | None:
        """Wait for the running job, if any; return :attr:`result` (None if it failed).

        Parameters
        ----------
        timeout
            Seconds to wait at most; the job goes on in the background after.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.result

    @property
    def running(self) -> bool:
        """Whether a job is being submitted or waited for."""
        return self._state == "running"

    def _begin(self, filename: str) -> None:
        self._planned = filename
        self.job = self.result = self.match_result = self.error = None
        self._notes = []
        self._state = "running"
        self.match_button.disabled = True
        self.match_button.description = "Matching…"
        self._message.value = self._summary.value = self._rows.value = ""
        self._show_filename(filename)
        self._progress.layout.display = "flex"
        self._bar.layout.display = ""
        self._draw_stage(ProgressEvent("preparing"))

    def _run(self, kwargs: dict[str, Any]) -> None:
        """The job thread: the same verbs as ``match()``, its errors kept for the form."""
        try:
            with _collect_warnings(self._add_note):
                job = api.submit(self._df, **kwargs)
                self.job = job
                self._post(lambda: self._show_filename(job.filename))
                job.wait(progress=self._on_progress)
                result = job.result(progress=self._on_progress)
        except Exception as exc:  # every error ends in the form, in words
            self.error = exc
            self._post(partial(self._failed, exc))
            return
        self.match_result, self.result = result, result.frame
        try:
            self._post(lambda: self._finished(result))
        except Exception as exc:  # drawing must never leave the form stuck on "Matching…"
            self._post(partial(self._drawing_failed, exc))

    def _post(self, update: Callable[[], None]) -> None:
        """Change display widgets from the job thread, one change at a time."""
        with self._lock:
            update()

    def _on_progress(self, event: ProgressEvent) -> None:
        if event.stage == "note":
            if event.message:
                self._add_note(event.message)
            return
        now = time.monotonic()
        transfer_done = event.total is not None and event.done >= event.total
        if event.stage == "waiting" or now - self._last_draw >= _REDRAW or transfer_done:
            self._last_draw = now
            self._post(lambda: self._draw_stage(event))

    def _add_note(self, message: str) -> None:
        if message.startswith("SmartMatch job ") and ": " in message and "rows, sending" in message:
            return  # the filename and mapping line: the form shows both already
        if message.startswith("Note: ") and "may cost extra" in message:
            return  # the cost notice is above the button
        self._notes.append(message)
        self._post(self._draw_notes)

    def _draw_notes(self) -> None:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in self._notes)
        self._message.value = (
            f"<ul style='margin:4px 0;padding-left:18px;color:#444'>{items}</ul>" if items else ""
        )

    def _show_filename(self, filename: str) -> None:
        call = f"smartmatch_pandas.resume({filename!r}, df)"
        self._job_line.value = (
            f"<div style='margin:6px 0'>Job <b><code>{html.escape(filename)}</code></b> · "
            f"<span style='color:{_GREY}'>keep this name: the job is never lost; pick it up "
            f"from any notebook with <code>{html.escape(call)}</code></span></div>"
        )

    def _draw_stage(self, event: ProgressEvent) -> None:
        self._stages.value = _stage_line(event.stage)
        if event.stage in {"uploading", "downloading"}:
            total = event.total or 0
            self._bar.max = max(total, 1)
            self._bar.value = min(event.done, total) if total else 0
            self._bar.bar_style = ""
            shown = _size(event.done) + (f" of {_size(total)}" if total else "")
            self._detail.value = _note(f"{event.stage} {shown}", _GREY)
        elif event.stage == "waiting":
            self._bar.max, self._bar.value, self._bar.bar_style = 1, 1, "info"
            status = event.message
            if status is None:
                status = (
                    f"next poll in {int(np.ceil(event.next_poll_in))} s"
                    if event.next_poll_in
                    else "polling"
                )
            self._detail.value = _note(
                f"waiting for the service: {event.elapsed:.0f} s, {event.polls} poll(s), {status}",
                _GREY,
            )
        elif event.stage == "done":
            self._bar.layout.display = "none"
            self._detail.value = ""
        else:
            self._detail.value = _note(f"{event.stage}…", _GREY)

    def _finished(self, result: MatchResult) -> None:
        self._state = "done"
        self._draw_stage(ProgressEvent("done"))
        self._summary.value = summary_html(result, self._df, self.job)
        frame = result.frame
        # Who each row is, then what came back: the appended columns are the news.
        pairs = self.job.mapping.pairs if self.job and self.job.mapping else ()
        sent = [c for c, i in pairs if i in _NAMES][:2] or [c for c, _ in pairs[:2]]
        labels: list[Hashable] = list(self._df.columns)
        shown = [labels.index(c) for c in sent] + list(range(len(labels), frame.shape[1]))
        rows = frame.head(self._result_rows).iloc[:, shown]
        extra = len(result.additional)
        more = (
            f" · {extra:,} additional candidate(s) in <code>form.match_result.additional</code>"
            if extra
            else ""
        )
        self._rows.value = (
            f"<div style='margin:6px 0 2px'><b>The first rows of the result</b>, the appended "
            f"columns<div style='color:{_GREY}'>All {len(frame):,} rows &times; "
            f"{frame.shape[1]} columns are in <code>form.result</code>{more}</div></div>"
            + _table(rows)
        )
        self._reset_button()

    def _drawing_failed(self, exc: BaseException) -> None:
        """The job is done and its result kept, but the summary could not be drawn."""
        self._state = "done"
        self._progress.layout.display = "none"
        self._show_error(
            f"All rows are in form.result, but the form could not draw the summary "
            f"({type(exc).__name__}: {exc}).",
            heading="Matched.",
        )
        self._reset_button()

    def _failed(self, exc: BaseException) -> None:
        self._state = "failed"
        self._stages.value = _stage_line(None)
        self._progress.layout.display = "none"
        filename = getattr(exc, "filename", None)
        if not isinstance(exc, SmartMatchError):
            text = f"Unexpected error ({type(exc).__name__}): {exc}"
        else:
            text = str(exc)
        if filename and "resume" not in text and self.job is not None:
            text += f". The job goes on at the service: resume it with {self.job.resume_call}"
        self._show_error(text)
        self._reset_button()

    def _reset_button(self) -> None:
        self.match_button.description = "Match"
        self.match_button.disabled = bool(self.problems)

    def _show_error(self, text: str, heading: str = "Not matched.") -> None:
        self._message.value = (
            f"<div style='background:#fdecea;border-left:4px solid {_RED};padding:6px 10px;"
            f"margin:6px 0;color:#5f1a14'><b>{heading}</b> {html.escape(text)}</div>"
        )

    # -- showing the form -------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        filename = f", filename={self.filename!r}" if self.filename else ""
        return f"MatchForm({len(self._df):,} rows, state={self._state!r}{filename})"

    def close(self) -> None:
        """Close every widget of the form (a running job goes on)."""
        _close(self.widget)


# -- pieces of HTML ---------------------------------------------------------------------


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
        f"{summary.matched:,} of {summary.rows:,} rows matched ({summary.match_rate:.1%})"
        "</b></div>"
    ]
    if result.from_cache:
        parts.append(_note("From the result cache: no request was made.", _GREY))
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
            _note(
                f"{summary.missing:,} row(s) sent were not returned; {summary.unknown:,} "
                "returned row(s) were never sent.",
                _RED,
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
    """Rows and match rate per state (as normalised, ``(none)`` when missing), largest first."""
    # Long columns are normalised per distinct value: expand them before counting.
    normalised = decoded(normalize(states, "state", label=label).value)
    names = normalised.to_pandas().astype("string").fillna("(none)")
    matched = (match_codes.astype("string").str.upper() == "Y").fillna(False)
    frame = pd.DataFrame({"state": names.to_numpy(), "matched": matched.to_numpy(bool)})
    grouped = frame.groupby("state")["matched"].agg(["size", "mean"])
    grouped.columns = pd.Index(["rows", "match_rate"])
    return grouped.sort_values(["rows", "match_rate"], ascending=False)


def _rate_table(title: str, count: str, rows: list[tuple[str, int, float]]) -> str:
    body = "".join(
        "<tr>"
        f"<td style='padding:1px 10px 1px 0'>{html.escape(name)}</td>"
        f"<td style='padding:1px 10px;text-align:right'>{n:,}</td>"
        f"<td style='padding:1px 0 1px 10px'>{_bar(rate)}</td>"
        f"<td style='padding:1px 0 1px 6px;text-align:right'>{rate:.1%}</td>"
        "</tr>"
        for name, n, rate in rows
    )
    return (
        f"<table style='border-collapse:collapse;font-size:0.95em'>"
        f"<caption style='text-align:left;font-weight:600;padding-bottom:2px'>"
        f"Match rate {html.escape(title)}</caption>"
        f"<thead><tr style='color:{_GREY}'><th></th><th style='text-align:right;"
        f"padding:0 10px'>{count}</th><th></th><th style='text-align:right'>matched</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )


def _bar(rate: float) -> str:
    width = 0.0 if np.isnan(rate) else max(0.0, min(1.0, rate)) * 100
    return (
        "<div style='width:140px;height:10px;background:#e6ecf5;border-radius:2px'>"
        f"<div style='width:{width:.1f}%;height:10px;background:{_BLUE};border-radius:2px'>"
        "</div></div>"
    )


def _table(frame: pd.DataFrame) -> str:
    """``frame`` as an HTML table; missing values are left blank, as they are uploaded."""
    shown = frame.astype(object).where(frame.notna(), "")
    shown.columns = pd.Index([str(c) for c in shown.columns])
    return (
        "<div style='overflow-x:auto;max-width:100%'>"
        + shown.to_html(escape=True, border=0, classes="sm-table", max_cols=40)
        + "</div>"
    )


def _labelled(w: Any, label: str, control: Any) -> Any:
    return w.HBox(
        [
            w.HTML(
                f"<span style='color:#333'>{html.escape(label)}</span>",
                layout=w.Layout(width="100px", flex="0 0 100px"),
            ),
            control,
        ],
        layout=w.Layout(align_items="center", margin="1px 0"),
    )


def _stage_line(current: str | None) -> str:
    index = STAGES.index(current) if current in STAGES else -1
    pills = []
    for i, stage in enumerate(STAGES):
        if i < index or current == "done":
            style, mark = "background:#e3f1e6;color:#1e6b34", "✓ "
        elif i == index:
            style, mark = f"background:{_BLUE};color:white", ""
        else:
            style, mark = "background:#f0f0f0;color:#888", ""
        pills.append(
            f"<span style='{style};padding:1px 8px;border-radius:10px;margin-right:4px;"
            f"font-size:0.9em'>{mark}{stage}</span>"
        )
    return "<div style='margin:4px 0'>" + "".join(pills) + "</div>"


def _column_text(check: Any, problems: list[str], rows: int) -> str:
    if check is None and not problems:
        return f"<span style='color:{_GREY}'>not sent</span>"
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
                f"<span style='color:{_RED}'>{check.invalid:,} invalid{html.escape(tail)}</span>"
            )
    text = " · ".join(parts)
    for problem in problems:
        text += f"<div style='color:{_RED}'>{html.escape(problem)}</div>"
    return f"<span style='font-size:0.9em'>{text}</span>"


def _preset_mapping(
    labels: list[Hashable], columns: Mapping[Hashable, str | None] | None
) -> dict[Hashable, str | None]:
    """Each column's identifier as ``resolve_mapping`` would choose it (clashes kept)."""
    chosen = dict(candidate_pairs(labels, columns))
    return {label: chosen.get(label) for label in labels}


def _heading(text: str) -> str:
    return f"<div style='font-weight:600;margin:2px 0 4px'>{html.escape(text)}</div>"


def _small_caps(text: str) -> str:
    return (
        f"<span style='color:{_GREY};font-size:0.8em;text-transform:uppercase;"
        f"letter-spacing:0.05em'>{html.escape(text)}</span>"
    )


def _note(text: str, color: str) -> str:
    return f"<div style='color:{color};font-size:0.9em'>{html.escape(text)}</div>"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def _close(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()


@contextmanager
def _quiet() -> Iterator[None]:
    """Checks and previews the form shows itself: their warnings would say it twice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- warnings of the job thread ------------------------------------------------------------

_ROUTE = threading.local()
_ROUTER_LOCK = threading.Lock()


@contextmanager
def _collect_warnings(sink: Callable[[str], None]) -> Iterator[None]:
    """Hand the warnings of this thread to ``sink`` (the form) rather than to stderr.

    ``warnings.catch_warnings`` swaps process-wide state, which would also
    swallow the warnings of the user's own cells while the job runs; this
    routes by thread instead.
    """
    _install_router()
    _ROUTE.sink = sink
    try:
        yield
    finally:
        _ROUTE.sink = None


def _install_router() -> None:
    with _ROUTER_LOCK:
        current = warnings.showwarning
        if getattr(current, "_smartmatch_router", False):
            return

        def route(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: Any = None,
            line: str | None = None,
        ) -> None:
            sink = getattr(_ROUTE, "sink", None)
            if sink is not None:
                sink(f"Warning: {message}")
            else:
                current(message, category, filename, lineno, file, line)

        route._smartmatch_router = True  # type: ignore[attr-defined]
        warnings.showwarning = route
