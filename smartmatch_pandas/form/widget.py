"""The match form: ``df.smartmatch.form()`` in a notebook.

A view over :class:`~smartmatch_pandas.options.MatchOptions` and the column
mapping, not an engine: it gathers the same arguments as
:func:`~smartmatch_pandas.match` and calls the same verbs
(:func:`~smartmatch_pandas.submit`, then ``job.wait()`` and ``job.result()``)
on a background thread, so the notebook stays usable while the job runs.

Widgets are changed from that thread only through :meth:`MatchForm._post`,
which holds one lock: ipykernel sends each change as a message on its
thread-safe IOPub channel, and the form's own observers never run there
(the job thread sets display widgets and whether controls are enabled, never an
input's value, and the observers watch values only).
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from functools import partial
from typing import Any, Final, Literal

import pandas as pd

from .. import verbs as api
from ..deliverable import MatchResult
from ..errors import OptionError, SmartMatchError
from ..job.handle import Job
from ..job.store import JobStore
from ..job.waiting import resolve_poll_interval
from ..options import OPTIONS, InvalidPolicy, MatchOptions, Option
from ..preparation.check import CheckReport, check_frame
from ..preparation.frame import require_frame
from ..preparation.mapping import candidate_pairs
from ..preparation.table import prepare_frame
from ..progress import NoteKind, ProgressEvent
from ..verbs.submitting import earlier_job, filename_taken
from ..wire.http import is_real_service, resolve_base_url
from .controls import (
    FORM_OPTIONS,
    LABEL_WIDTH,
    MASK,
    SECRET_URLS,
    HeldURL,
    chosen_costs,
    chosen_values,
    form_values,
    masked_url,
    option_controls,
    option_rows,
    typed_options,
    typed_value,
)
from .html import (
    AMBER,
    GREY,
    RED,
    code_html,
    column_text,
    costs_html,
    error_html,
    job_line_html,
    not_registered_html,
    note,
    problems_html,
    result_rows_html,
    summary_html,
    table_html,
    title_html,
)
from .layout import form_layout
from .mapping import NOT_SENT as NOT_SENT
from .mapping import mapping_blockers, mapping_grid, several_columns_allowed
from .notes import collect_warnings, quiet
from .progress_view import ProgressView
from .words import earlier_instead, earlier_used, failure, field_problem, followed_to_its_end

#: How often (seconds) the progress display is redrawn at most, between stage changes.
_REDRAW: Final = 0.1
#: Identifiers that say who a row is, shown beside the appended columns of the result.
_NAMES: Final = ("full_name", "first_name", "last_name")
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

    A form made for a frame that was matched, or is being matched, with the same
    options (its cell run again) shows that job at once: its filename, its state,
    and its result (``form.job`` and ``form.result``); "Match again" makes a new one.

    The service is the one :func:`~smartmatch_pandas.match` would use: the
    ``SMARTMATCH_BASE_URL``, ``TS_API_KEY`` and ``SMARTMATCH_POLL_INTERVAL``
    environment (which ``LocalService(...).start().activate()`` sets), or the
    arguments given here. Without a key, the form asks for one in a password
    field; the key is held in memory only, never shown or saved. A webhook URL's token
    (its query values, a user and password, a token-like path segment) is masked in
    its field once entered, the URL itself held in memory for the job. A filename the
    job store knows was used on the service is refused as it is typed.

    Parameters
    ----------
    df
        The contact list.
    preview_rows, result_rows
        Rows shown of the upload and of the result.
    **options
        As for :func:`~smartmatch_pandas.match`: the initial value of each
        option the form has a control for (``max_matches``, ``format``, the
        ``include_*`` flags, ``webhook``, ``filename``, ``invalid``: see
        :data:`~smartmatch_pandas.form.controls.FORM_OPTIONS`); ``columns`` to
        preset the mapping (the automatic mapping otherwise); ``api_key``,
        ``base_url`` and ``poll_interval`` for a service not the environment's;
        ``cache``.

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
    match_again_button
        "Match again": a new job for the same data and options (``refresh=True``), shown
        once the form holds a job.
    api_key_field
        The password field, shown when no key is configured or the service refused it.

    Examples
    --------
    >>> form = df.smartmatch.form(max_matches=3)   # doctest: +SKIP
    >>> form                                       # doctest: +SKIP
    >>> form.result                                # doctest: +SKIP
    """

    def __init__(
        self, df: pd.DataFrame, *, preview_rows: int = 5, result_rows: int = 5, **options: Any
    ) -> None:
        import ipywidgets as w

        require_frame(df)
        # Checked once, as match() would: a bad preset fails here, in words.
        values = form_values(options)
        self._df = df
        self._labels: list[Hashable] = list(df.columns.unique())
        self._base_url, self._poll_interval = values["base_url"], values["poll_interval"]
        #: The ``columns=`` given, then each column picked in a dropdown, in that order.
        self._given: dict[Hashable, str | None] = dict(values["columns"] or {})
        self._cache = values["cache"]
        self._api_key = values["api_key"] or None
        self._preview_rows, self._result_rows = preview_rows, result_rows
        self._checks: dict[tuple[tuple[Hashable, str | None], ...], CheckReport] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        #: Set when no job thread runs. wait() waits on it, not on Thread.join: a join
        #: interrupted by Ctrl-C can leave the thread looking finished while it runs.
        self._settled = threading.Event()
        self._settled.set()
        self._syncing = False
        self._last_draw = 0.0
        self._notes: list[str] = []
        #: Whether the message box holds why Match was refused (gone at the next edit).
        self._blocked_message = False
        self.result: pd.DataFrame | None = None
        self.match_result: MatchResult | None = None
        self.job: Job | None = None
        self.error: BaseException | None = None
        self._state: State = "ready"

        self._build_mapping(w, values["columns"])
        self.controls: dict[str, Any] = self._build_options(w, values)
        self.api_key_field: Any = None
        self._build_rest(w)
        self._refresh()
        self._pick_up_earlier()

    # -- building the widgets -------------------------------------------------------

    def _build_mapping(self, w: Any, columns: Mapping[Hashable, str | None] | None) -> None:
        self._mapping_grid, self.mapping_controls, self._column_info = mapping_grid(
            w, self._labels, columns, self._on_mapping_change
        )
        self._problems = w.HTML()

    def _build_options(self, w: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        controls = option_controls(w, values)
        # Before the form's own observer: it reads the URL held, not a half-masked one.
        self._held = {name: HeldURL(controls[name]) for name in SECRET_URLS}
        for control in controls.values():
            control.observe(lambda _: self._edited(), names="value")
        self._field_errors = {option.name: w.HTML() for option in typed_options()}
        controls["typed"].observe(self._on_typed, names="value")
        return controls

    def _build_rest(self, w: Any) -> None:
        rows = option_rows(w, self.controls, self._field_errors)
        #: The folded section of advanced options, opened when one of its fields is invalid.
        self._advanced = next((row for row in rows if isinstance(row, w.Accordion)), None)
        self.api_key_field = w.Password(
            description="API key",
            placeholder="then press Enter",
            continuous_update=False,
            tooltip="Your TargetSmart API key: held in memory only, never shown or saved",
            style={"description_width": LABEL_WIDTH},
            layout=w.Layout(width="394px"),
        )
        self.api_key_field.observe(self._on_key, names="value")
        self._key_note = w.HTML(
            note(
                "No API key is configured: enter it here. It is held in memory only, "
                "never shown or saved in the notebook.",
                GREY,
            )
        )
        self._key_box = w.VBox([self.api_key_field, self._key_note])
        self._key_box.layout.display = "none" if self._key_configured() else "flex"
        options = w.VBox([*rows, self._key_box])
        self._costs = w.HTML()
        self._preview = w.HTML()
        self._code = w.HTML()
        self.match_button = w.Button(
            description="Match",
            button_style="primary",
            tooltip="Submit the job",
            layout=w.Layout(width="140px", margin="0 12px 0 0"),
        )
        self.match_button.on_click(lambda _: self.start())
        self.match_again_button = w.Button(
            description="Match again",
            tooltip="Submit a new job for this frame and these options (refresh=True): "
            "it is charged again",
            layout=w.Layout(width="140px", margin="0 12px 0 0", display="none"),
        )
        self.match_again_button.on_click(lambda _: self.start(refresh=True))
        self._blockers = w.HTML()
        self._job_line = w.HTML()
        self._progress = ProgressView(w)
        self._message = w.HTML()
        self._summary = w.HTML()
        # No margin: a full width plus ipywidgets' margin would overflow the form.
        self._rows = w.HTML(layout=w.Layout(width="100%", margin="0"))

        self.widget = form_layout(
            w,
            self._title(),
            columns=[self._mapping_grid, self._problems],
            options=[options, self._costs],
            preview=self._preview,
            run=[
                w.HBox(
                    [self.match_button, self.match_again_button, self._blockers],
                    layout=w.Layout(align_items="center"),
                ),
                self._code,
                self._job_line,
                self._progress.widget,
                self._message,
                self._summary,
                self._rows,
            ],
        )

    def _title(self) -> str:
        rows, cols = self._df.shape
        return title_html(rows, cols, self._service_line())

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
        """The mapping chosen, as the ``columns=`` argument of ``match()``: the columns given
        and picked, in that order, then any other the dropdowns need to be sent as shown."""
        shown = {label: self.mapping_controls[label].value or None for label in self._labels}
        given = {label: shown[label] for label in self._given if label in shown}
        while True:  # each round names more columns: it ends within len(labels) rounds
            sent = dict(candidate_pairs(self._labels, given))
            differ = {
                label: shown[label] for label in self._labels if sent.get(label) != shown[label]
            }
            if not differ:
                return given
            given.update(differ)

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

    def _chosen(self) -> dict[str, Any]:
        """The value of each option as chosen (a URL's token as entered, not its mask)."""
        values = chosen_values(self.controls)
        for name, held in self._held.items():
            values[name] = held.value(values[name])
        return values

    def _options(self) -> MatchOptions:
        values = self._chosen()
        return MatchOptions(**{o.name: values[o.name] for o in FORM_OPTIONS if o.service})

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``match()`` that the form's choices make (no key)."""
        self._options()  # valid, or OptionError
        chosen = {**self._chosen(), "columns": self.columns or None}
        out = {
            option.name: chosen[option.name]
            for option in OPTIONS
            if option.name in chosen and chosen[option.name] != option.default
        }
        return out

    @property
    def problems(self) -> list[str]:
        """What keeps the Match button disabled, in words (empty when it may be clicked)."""
        errors = [self._field_error(option) for option in typed_options()]
        return [e for e in errors if e] + self._mapping_blockers(self._check())

    def _problems_but_the_name(self) -> list[str]:
        typed = self._chosen()["filename"]
        in_use = self._filename_in_use(typed) if typed else ""
        return [p for p in self.problems if p != in_use]

    def _field_error(self, option: Option) -> str:
        """What is wrong with the value typed for ``option``, in words ("" when nothing is)."""
        held = self._held.get(option.name)
        if held is not None and held.edited_mask:
            return (
                f"the {option.name}'s hidden parts ({MASK}) cannot be edited: type the whole "
                "URL again"
            )
        typed = typed_value(option, self.controls[option.name].value)
        if held is not None:
            typed = held.value(typed)
        problem = field_problem(option, typed)
        if option.name == "filename" and typed is not None and not problem:
            return self._filename_in_use(str(typed))
        return problem

    def _filename_in_use(self, filename: str) -> str:
        """Why ``filename`` cannot name a new job, when the job store knows it ("" if it can).

        The form's own job keeps its name: Match with the same choices picks it up."""
        if self.job is not None and self.job.filename == filename:
            return ""
        try:
            taken = filename_taken(JobStore(), filename, resolve_base_url(self._base_url))
        except SmartMatchError:
            return ""  # no store or no service to ask: Match says what is wrong
        return taken or ""

    def _mapping_blockers(self, report: CheckReport) -> list[str]:
        """What in the mapping or the data would make ``submit()`` refuse the frame."""
        return mapping_blockers(self._df, self._labels, self.columns, report, self.invalid)

    @property
    def state(self) -> State:
        """``"ready"``, ``"running"``, ``"done"`` or ``"failed"``."""
        return self._state

    @property
    def filename(self) -> str | None:
        """The filename of the latest job (how it is resumed), once Match was clicked."""
        return self.job.filename if self.job is not None else self._planned

    _planned: str | None = None
    #: The address of the service the latest job was sent to (the environment's may change).
    _sent_to: str = "its base URL"
    #: A job made elsewhere that the form follows, and the note that says so, until it ends.
    _followed: tuple[Job, str] | None = None

    def _check(self) -> CheckReport:
        key = tuple((label, self.mapping_controls[label].value or None) for label in self._labels)
        if key not in self._checks:
            with quiet():
                self._checks[key] = check_frame(self._df, self.columns, examples=3)
        return self._checks[key]

    # -- reacting to the controls -----------------------------------------------------

    def _on_mapping_change(self, label: Hashable) -> Callable[[Any], None]:
        def changed(change: Any) -> None:
            if self._syncing:
                return
            chosen = change["new"]
            self._given.pop(label, None)
            self._given[label] = chosen or None  # the order the user picks in is kept
            self._syncing = True
            try:
                # Picking an identifier one column only may send takes it from another; a
                # phone, an email or an address may come from several (tried in order).
                for other, dropdown in self.mapping_controls.items():
                    if (
                        other != label
                        and chosen
                        and dropdown.value == chosen
                        and not several_columns_allowed(chosen)
                    ):
                        dropdown.value = NOT_SENT
            finally:
                self._syncing = False
            self._edited()

        return changed

    def _on_key(self, change: Any) -> None:
        key = (change["new"] or "").strip()
        if not key:
            return
        # Taken into memory and cleared at once: the widget's state never holds it for long.
        self._api_key = key
        self.api_key_field.value = ""
        self.api_key_field.placeholder = "key entered (held in memory); type to replace"
        self._key_note.value = note("✓ API key entered: held in memory only, never saved.", GREY)
        self._edited()

    def _on_typed(self, change: Any) -> None:
        """Typed voter fields are a way of reading a job, not part of it: a result shown is
        read again, typed or not, from the job in hand (no request, nothing charged)."""
        with self._lock:
            job = self.job
            if self._state != "done" or job is None or self.match_result is None:
                return
            self._sent_to = job.client.base_url
            self._begin(job.filename)
            self.job = job
            how = "with typed voter fields" if change["new"] else "with its voter fields as text"
            self._add_note(
                f"The result of job {job.filename!r} is shown {how}: read again from the job "
                "in hand, with no request and nothing charged."
            )
            self._thread = threading.Thread(
                target=self._run_earlier, args=(job,), name="smartmatch-form", daemon=True
            )
            self._thread.start()

    @property
    def asks_for_key(self) -> bool:
        """Whether the API key field shows: no key is configured, or the service refused it."""
        return bool(self._key_box.layout.display != "none")

    def _key_configured(self) -> bool:
        return bool(self._api_key or (os.environ.get("TS_API_KEY") or "").strip())

    def _edited(self) -> None:
        """The user changed a control: the last error is stale (unless a job is running)."""
        with self._lock:
            if (self._state != "running" and self.error is not None) or self._blocked_message:
                self._message.value = ""
                self._blocked_message = False
        self._refresh()

    def _refresh(self) -> None:
        """Redraw what depends on the controls: checks, errors, costs, preview, the button."""
        with self._lock:
            self._redraw()

    def _redraw(self) -> None:
        report = self._check()
        self._draw_mapping(report)
        for option in typed_options():
            error = self._field_error(option)
            self._field_errors[option.name].value = note(error, RED) if error else ""
            if error and option.form is not None and option.form.group == "advanced":
                self._unfold_advanced()
        self._draw_costs()
        self._draw_preview(report)
        problems = self.problems
        running = self._state == "running"
        self.match_button.disabled = bool(problems) or running
        self._draw_blockers(problems)
        if problems:
            # A call that would raise is no example: it shows once the problems are fixed.
            self._code.value = note("The same in code shows here once the form can match.", GREY)
            return
        # A webhook's token (its query, its user and password, a token in its path) is not
        # shown: it stands masked, as in its field.
        shown = ", ".join(
            f"{k}={(masked_url(v) if k in SECRET_URLS and v else v)!r}"
            for k, v in self.kwargs.items()
        )
        self._code.value = code_html(f"df.smartmatch.match({shown})")

    def _draw_blockers(self, problems: list[str]) -> None:
        """Say beside the button why it is disabled (in its tooltip too), or what it does."""
        if problems:
            first = problems[0][0].upper() + problems[0][1:]
            more = f" (and {len(problems) - 1} more, in red above)" if len(problems) > 1 else ""
            self._blockers.value = note(
                f"Match is disabled until this is fixed: {first}{more}.", RED
            )
            self.match_button.tooltip = f"Disabled: {problems[0]}"
        else:
            self._blockers.value = ""
            self.match_button.tooltip = (
                "Submit the job and wait for its result (a result of the same data and "
                "options is used again, with no request)"
            )

    def _draw_mapping(self, report: CheckReport) -> None:
        by_column = {check.column: check for check in report.columns}
        attributed: set[str] = set()
        for label in self._labels:
            own = [p for p in report.problems if f"column {label!r}" in p]
            attributed.update(own)
            self._column_info[label].value = column_text(by_column.get(label), own, report.rows)
        blockers = self._mapping_blockers(report)
        notes = [
            p
            for p in report.problems
            if p not in attributed and p not in blockers and not p.startswith(_SHOWN_AS_BLOCKERS)
        ]
        items = [(p, RED) for p in blockers] + [(p, AMBER) for p in [*notes, *report.notes]]
        # Where a row sends one of several columns: the order, and what each supplied.
        items += [(f"each row sends {choice}", GREY) for choice in report.choices]
        self._problems.value = problems_html(items)

    def _unfold_advanced(self) -> None:
        """Open the advanced section, so that the message of its invalid field is seen."""
        if self._advanced is not None and self._advanced.selected_index is None:
            self._advanced.selected_index = 0

    def _draw_costs(self) -> None:
        self._costs.value = costs_html(chosen_costs(self.controls))

    def _draw_preview(self, report: CheckReport) -> None:
        if self._mapping_blockers(report):
            self._preview.value = note("No preview until the columns above can be sent.", GREY)
            return
        policy = "keep" if self.invalid == "raise" else self.invalid
        try:
            with quiet():
                frame = prepare_frame(
                    self._df.head(self._preview_rows), self.columns, invalid=policy
                )
        except SmartMatchError as exc:
            self._preview.value = note(str(exc), RED)
            return
        self._preview.value = table_html(frame)

    # -- running a match ------------------------------------------------------------

    def start(self, *, refresh: bool = False) -> None:
        """What the Match button does: submit the job and wait for it in the background.

        Returns at once; :meth:`wait` waits for the job. Does nothing while a
        job is running or while a value is invalid (the form says which).

        Parameters
        ----------
        refresh
            Make a new job even if this data was matched with these options before
            (what "Match again" does).
        """
        with self._lock:
            if self._state == "running":
                return
            problems = self.problems
            if problems:
                self._show_error("Cannot match yet: " + "; ".join(problems))
                self._blocked_message = True
                return
            api_key = self._api_key
            if api_key is None and not self._key_configured():
                self._key_box.layout.display = "flex"
                self._show_error(
                    "No API key: type it in the API key field and press Enter (or set the "
                    "TS_API_KEY environment variable)."
                )
                self._blocked_message = True
                return
            renamed = self._drop_used_filename() if refresh else None
            try:
                options = self._options().with_filename()
            except OptionError as exc:
                self._show_error(str(exc))
                return
            assert options.filename is not None
            kwargs = {
                **self._call_kwargs(options),
                "progress": self._on_progress,
                "refresh": refresh,
            }
            typed = self._chosen()["filename"]
            self._sent_to = self._service_address()
            self._begin(options.filename)
            if renamed is not None:
                self._add_note(
                    f"The filename {renamed!r} names the earlier job: the new job is named "
                    f"{options.filename!r} (type another name before Match again to choose it)."
                )
            self._thread = threading.Thread(
                target=self._run, args=(kwargs, typed), name="smartmatch-form", daemon=True
            )
            self._thread.start()

    def _drop_used_filename(self) -> str | None:
        """Before "Match again": empty the filename field if it names the form's job (a new
        job needs a new name); return the name dropped, if one was."""
        typed = self._chosen()["filename"]
        if typed is None or self.job is None or self.job.filename != typed:
            return None
        self.controls["filename"].value = ""
        return str(typed)

    def _call_kwargs(self, options: MatchOptions) -> dict[str, Any]:
        """The keywords of ``submit()`` for the form's choices and service (no progress)."""
        return {
            **{k: v for k, v in options.as_dict().items() if k != "extra_params"},
            "columns": self.columns or None,
            "invalid": self.invalid,
            "api_key": self._api_key,
            "base_url": self._base_url,
            "poll_interval": self._poll_interval,
            "cache": self._cache,
        }

    def _pick_up_earlier(self) -> None:
        """Show the job that matched, or is matching, this frame with these options (its
        filename, if one was typed, is that job's: not a name in use)."""
        if self._problems_but_the_name() or not self._key_configured():
            return
        try:
            with quiet():
                job = earlier_job(self._df, **self._call_kwargs(self._options()))
        except SmartMatchError:
            return  # nothing to pick up; Match will say what is wrong
        except Exception as exc:  # the look is a courtesy: the form is made whatever happens
            self._add_note(
                f"Could not look for an earlier job of this frame ({type(exc).__name__}: "
                f"{exc}); Match works as usual."
            )
            return
        if job is None:
            return
        self._sent_to = job.client.base_url
        self._begin(job.filename)
        self.job = job
        done = job.state == "downloaded"
        typed = self._chosen()["filename"]
        if typed is not None and typed != job.filename:
            self._add_note(earlier_instead(job, typed))
        else:
            self._note_earlier(job, made_again=True)
        self._thread = threading.Thread(
            target=self._run_earlier, args=(job,), name="smartmatch-form", daemon=True
        )
        self._thread.start()
        if done:
            self._thread.join()  # from the result cache: shown at once

    def _note_earlier(self, job: Job, *, made_again: bool) -> None:
        """Say that ``job`` is shown rather than a new one (a running job's note is
        replaced by what became of it once it ends)."""
        said = earlier_used(job, made_again=made_again)
        self._add_note(said)
        if job.state != "downloaded":
            self._followed = (job, said)

    def _run_earlier(self, job: Job) -> None:
        try:
            with collect_warnings(self._add_note):
                self._follow(job)
        except Exception as exc:  # every error ends in the form, in words
            self.error = exc
            self._post(partial(self._failed, exc))
        finally:
            self._settled.set()

    def wait(self, timeout: float | None = None) -> pd.DataFrame | None:
        """Wait for the running job, if any; return :attr:`result` (None if it failed).

        Parameters
        ----------
        timeout
            Seconds to wait at most; the job goes on in the background after.
        """
        self._settled.wait(timeout)
        return self.result

    @property
    def running(self) -> bool:
        """Whether a job is being submitted or waited for."""
        return self._state == "running"

    def _begin(self, filename: str) -> None:
        self._settled.clear()
        self._lock_choices(True)
        self._planned = filename
        self.job = self.result = self.match_result = self.error = None
        self._notes = []
        self._followed = None
        self._state = "running"
        self.match_button.disabled = True
        self.match_button.description = "Matching…"
        self.match_button.tooltip = "A job is running: its progress shows below"
        self.match_again_button.layout.display = "none"
        self._message.value = self._summary.value = self._rows.value = ""
        self._show_filename(filename)
        self._progress.show()
        self._draw_stage(ProgressEvent("preparing"))

    def _run(self, kwargs: dict[str, Any], typed: str | None) -> None:
        """The job thread: the same verbs as ``match()``, its errors kept for the form."""
        try:
            with collect_warnings(self._add_note):
                job = self._earlier(kwargs) if typed is None and not kwargs["refresh"] else None
                if job is None:
                    job = api.submit(self._df, **kwargs)
                elif typed is None:
                    self._note_earlier(job, made_again=False)
                self.job, self._sent_to = job, job.client.base_url
                self._post(lambda: self._show_filename(job.filename))
                if typed is not None and job.filename != typed:
                    self._add_note(earlier_instead(job, typed))
                self._follow(job)
        except Exception as exc:  # every error ends in the form, in words
            self.error = exc
            self._post(partial(self._failed, exc))
        finally:
            self._settled.set()

    def _earlier(self, kwargs: Mapping[str, Any]) -> Job | None:
        """The job that matched, or is matching, this frame with these choices, as a second
        ``match()`` would use it: the form names a new job before it is made (to show that
        name at once), and ``submit()`` would take that name for a new job's."""
        settings = {k: v for k, v in kwargs.items() if k not in ("progress", "refresh")}
        with quiet():
            return earlier_job(self._df, **{**settings, "filename": None})

    def _follow(self, job: Job) -> None:
        """Wait for ``job`` and read its result, then show it (the job thread)."""
        job.wait(progress=self._on_progress)
        result = job.result(progress=self._on_progress, typed=bool(self.controls["typed"].value))
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
                self._add_note(event.message, event.kind)
            return
        now = time.monotonic()
        transfer_done = event.total is not None and event.done >= event.total
        if event.stage == "waiting" or now - self._last_draw >= _REDRAW or transfer_done:
            self._last_draw = now
            self._post(lambda: self._draw_stage(event))

    def _add_note(self, message: str, kind: NoteKind | None = None) -> None:
        if kind == "job":
            return  # the filename and mapping line: the form shows both already
        if kind == "cost":
            return  # the cost notice is above the button
        if kind == "earlier":
            return  # the form says it in its own words (with "Match again", not refresh=True)
        self._notes.append(message)
        self._post(self._draw_notes)

    def _draw_notes(self) -> None:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in self._notes)
        self._message.value = (
            f"<ul style='margin:4px 0;padding-left:18px;color:#444'>{items}</ul>" if items else ""
        )

    def _show_filename(self, filename: str) -> None:
        self._job_line.value = job_line_html(filename)

    def _draw_stage(self, event: ProgressEvent) -> None:
        self._progress.draw(event)

    def _finished(self, result: MatchResult) -> None:
        self._state = "done"
        self._said_followed_ended()
        self._draw_stage(ProgressEvent("done"))
        self._summary.value = summary_html(result, self._df, self.job)
        frame = result.frame
        # Who each row is, then what came back: the appended columns are the news.
        pairs = self.job.mapping.pairs if self.job and self.job.mapping else ()
        sent = [c for c, i in pairs if i in _NAMES][:2] or [c for c, _ in pairs[:2]]
        labels: list[Hashable] = list(self._df.columns)
        shown = [labels.index(c) for c in sent] + list(range(len(labels), frame.shape[1]))
        rows = frame.head(self._result_rows).iloc[:, shown]
        self._rows.value = result_rows_html(frame, rows, len(result.additional))
        self._reset_button()
        self.match_again_button.layout.display = ""

    def _said_followed_ended(self) -> None:
        """A followed job has ended: its note says so, no longer that it is matching."""
        if self._followed is None:
            return
        job, said = self._followed
        self._followed = None
        self._notes = [followed_to_its_end(job) if n == said else n for n in self._notes]
        self._draw_notes()

    def _drawing_failed(self, exc: BaseException) -> None:
        """The job is done and its result kept, but the summary could not be drawn."""
        self._state = "done"
        self._said_followed_ended()
        self._progress.hide()
        self._show_error(
            f"All rows are in form.result, but the form could not draw the summary "
            f"({type(exc).__name__}: {exc}).",
            heading="Matched.",
        )
        self._reset_button()

    def _failed(self, exc: BaseException) -> None:
        self._state = "failed"
        self._progress.hide(failed=True)
        address = self.job.client.base_url if self.job is not None else self._sent_to
        said = failure(exc, self.job, address)
        if not said.resumable and self.job is None:
            # Refused before any request (an option), no job was even asked for.
            asked = not isinstance(exc, OptionError)
            self._job_line.value = (
                not_registered_html(self._planned) if asked and self._planned else ""
            )
        if said.ask_for_key:
            self._key_box.layout.display = "flex"
            self._key_note.value = note(
                "The service refused the key in use: type the right one here and press Enter.",
                RED,
            )
        self._show_error(said.text)
        self._reset_button()

    def _service_address(self) -> str:
        try:
            return resolve_base_url(self._base_url)
        except SmartMatchError:
            return "its base URL"

    def _lock_choices(self, locked: bool) -> None:
        """While a job runs its options and mapping cannot change: the form keeps showing
        the choices (and the code) the running job was made with."""
        for control in [*self.controls.values(), *self.mapping_controls.values()]:
            control.disabled = locked

    def _reset_button(self) -> None:
        self._lock_choices(False)
        self.match_button.description = "Match"
        # Usable whatever the redraw does: start() checks every field again before it submits.
        self.match_button.disabled = False
        try:
            self._redraw()  # a job's end can change what the fields say (a filename now in use)
        except Exception as exc:  # the run has ended: it must not end with a disabled form
            self._add_note(
                f"The form could not check its fields again ({type(exc).__name__}: {exc}); "
                "Match checks them when clicked."
            )

    def _show_error(self, text: str, heading: str = "Not matched.") -> None:
        # A sentence after the heading: an exception's message starts lower-case.
        self._message.value = error_html(heading, text[:1].upper() + text[1:])

    # -- showing the form -------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        filename = f", filename={self.filename!r}" if self.filename else ""
        return f"MatchForm({len(self._df):,} rows, state={self._state!r}{filename})"

    def close(self) -> None:
        """Close every widget of the form (a running job goes on)."""
        _close(self.widget)


def _close(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()
