"""The match form, driven through its own widgets against the local service (no browser)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import ipywidgets
import pandas as pd
import pytest

import smartmatch_pandas
from smartmatch_pandas import (
    AuthorizationError,
    InputError,
    MatchForm,
    MatchOptions,
    OptionError,
)
from smartmatch_pandas.form.aria import GROUP, GROUP_LABEL
from smartmatch_pandas.form.html import state_rates
from smartmatch_pandas.form.widget import NOT_SENT
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.options import OPTIONS
from smartmatch_pandas.preparation.table import prepare_frame

from .conftest import POLL


@pytest.fixture
def environ(service: LocalService, monkeypatch: pytest.MonkeyPatch) -> LocalService:
    """The environment pointing at the session's service, as ``service.activate()`` would."""
    for name, value in service.environ.items():
        monkeypatch.setenv(name, value)
    return service


@pytest.fixture
def crm(contacts: pd.DataFrame) -> pd.DataFrame:
    """A CRM-like export: headers as people write them, a column nobody should upload."""
    frame = contacts.head(60).rename(
        columns={"first_name": "First Name", "last_name": "Surname", "zip": "Postcode Area"}
    )
    frame = frame.drop(columns=["age"])
    frame["Notes"] = "called twice"
    return frame


def _state_json() -> str:
    """Every widget's state, as a notebook would save it."""
    return json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False), default=str)


def _html(form: MatchForm) -> str:
    """All the text the form shows."""

    def walk(widget: ipywidgets.Widget) -> Iterator[str]:
        value = getattr(widget, "value", None)
        if isinstance(value, str):
            yield value
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    return "\n".join(walk(form.widget))


# -- the mapping --------------------------------------------------------------------------


def test_the_mapping_is_preset_from_the_headers_and_columns(crm: pd.DataFrame) -> None:
    form = MatchForm(crm, columns={"Postcode Area": "zip"})
    chosen = {label: dropdown.value for label, dropdown in form.mapping_controls.items()}
    assert chosen["First Name"] == "first_name"
    assert chosen["Surname"] == "last_name"
    assert chosen["Postcode Area"] == "zip"
    assert chosen["Notes"] == NOT_SENT
    assert form.columns == {"Postcode Area": "zip"}
    assert set(form.mapping_controls) == set(crm.columns)


def test_choosing_an_identifier_takes_it_from_the_column_that_had_it(crm: pd.DataFrame) -> None:
    form = crm.smartmatch.form()
    form.mapping_controls["Notes"].value = "last_name"  # one column only may send it
    assert form.mapping_controls["Surname"].value == NOT_SENT
    assert form.columns == {"Notes": "last_name"}  # as match() reads it: Surname gives way
    assert form.kwargs["columns"] == {"Notes": "last_name"}
    assert "Notes</code>" in _html(form)
    # The same mapping as resolve_mapping gives for the same columns= argument.
    pairs = dict(crm.smartmatch.mapping(form.columns).pairs)
    assert pairs["Notes"] == "last_name"
    assert "Surname" not in pairs


def test_a_phone_picked_for_a_second_column_is_sent_from_both_in_order(
    crm: pd.DataFrame,
) -> None:
    form = crm.smartmatch.form()
    form.mapping_controls["Notes"].value = "phone"
    assert form.mapping_controls["phone"].value == "phone"  # kept: tried first, per row
    assert form.columns == {"Notes": "phone", "phone": "phone"}
    assert not form.problems
    assert "each row sends phone from &#x27;phone&#x27; (" in form._problems.value
    assert crm.smartmatch.mapping(form.columns).choices  # match() reads it so too


def _three_phones(contacts: pd.DataFrame) -> pd.DataFrame:
    frame = contacts.head(20).rename(columns={"phone": "Home Phone"})
    frame["Cell Phone"] = [None] * 10 + list(frame["Home Phone"][10:])
    frame["Mobile"] = list(frame["Home Phone"][:5]) + [None] * 15
    return frame


def test_phone_columns_that_rank_alike_are_said_to_and_others_are_allowed(
    contacts: pd.DataFrame,
) -> None:
    frame = _three_phones(contacts)
    form = MatchForm(frame)  # Cell Phone and Mobile: both a cell phone
    assert form.match_button.disabled
    said = form.problems[0]
    assert said.startswith("columns 'Cell Phone' and 'Mobile' are both sent as phone and rank")
    assert "each identifier can come from one column only" not in said
    # What match() accepts, the form accepts, and shows as it was given.
    given = MatchForm(frame, columns={"Home Phone": "phone", "Mobile": "phone"})
    assert not given.problems
    assert not given.match_button.disabled
    assert given.columns == {"Home Phone": "phone", "Mobile": "phone"}
    assert (
        "columns={&#x27;Home Phone&#x27;: &#x27;phone&#x27;, &#x27;Mobile&#x27;: "
        "&#x27;phone&#x27;}" in given._code.value
    )
    choice = frame.smartmatch.mapping(given.columns).choices[0]
    assert choice.options == (("Mobile",), ("Home Phone",))  # a cell phone first, per row
    # The same through the dropdowns: leave one of the two alike out.
    form.mapping_controls["Cell Phone"].value = NOT_SENT
    assert not form.problems
    assert form.columns == {"Cell Phone": None}


def test_two_columns_for_one_identifier_disable_match_until_one_is_left_out(
    contacts: pd.DataFrame,
) -> None:
    frame = contacts.head(20).assign(**{"Telephone": contacts["phone"].head(20)})
    form = MatchForm(frame)
    assert form.match_button.disabled
    conflict = (
        "columns 'phone' and 'Telephone' are both sent as phone and rank alike, so no row "
        'can tell which to send first: choose "— not sent —" for all but one of them'
    )
    assert form.problems[0].startswith(conflict)
    assert "No preview" in form._preview.value
    # Beside the disabled button and in its tooltip: why it is disabled.
    assert "Match is disabled until this is fixed: Columns &#x27;phone&#x27;" in (
        form._blockers.value
    )
    assert form.match_button.tooltip.startswith("Disabled: columns 'phone' and 'Telephone'")
    # While blocked, no call that would raise is shown as "the same in code".
    assert "df.smartmatch.match(" not in form._code.value
    form.mapping_controls["phone"].value = NOT_SENT
    assert not form.problems
    assert not form.match_button.disabled
    assert form._blockers.value == ""
    assert "df.smartmatch.match(" in form._code.value


def test_a_cell_and_a_home_phone_are_chosen_per_row_and_the_form_says_so(
    contacts: pd.DataFrame,
) -> None:
    frame = contacts.head(20).rename(columns={"phone": "Home Phone"})
    frame["Cell Phone"] = [None] * 10 + list(frame["Home Phone"][10:])
    form = MatchForm(frame)
    assert not form.problems
    assert not form.match_button.disabled
    shown = form._problems.value
    assert "each row sends phone from &#x27;Cell Phone&#x27; (" in shown
    assert "rows), else &#x27;Home Phone&#x27; (" in shown


def test_leaving_every_column_out_disables_match(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5))
    for dropdown in form.mapping_controls.values():
        dropdown.value = NOT_SENT
    assert form.match_button.disabled
    assert form.problems == ["no column is sent: choose an identifier for at least one column"]


def test_the_input_check_is_shown_per_column(contacts: pd.DataFrame) -> None:
    frame = contacts.head(10).copy()
    frame.loc[frame.index[:3], "zip"] = ["abc", "12", "n/a?"]
    form = MatchForm(frame)
    zip_info = form._column_info["zip"].value
    assert "invalid" in zip_info
    assert "abc" in zip_info
    assert "not sent" not in zip_info
    form.mapping_controls["zip"].value = NOT_SENT
    assert "not sent" in form._column_info["zip"].value


def test_the_preview_is_exactly_what_would_be_uploaded(crm: pd.DataFrame) -> None:
    form = MatchForm(crm, columns={"Postcode Area": "zip"}, preview_rows=4)
    expected = prepare_frame(crm.head(4), {"Postcode Area": "zip"})
    preview = form._preview.value
    for value in expected.stack().dropna().astype(str):
        assert f">{value}<" in preview
    assert "called twice" not in preview  # Notes is not sent
    assert "matchback_id" in preview


# -- the options ----------------------------------------------------------------------------


def test_invalid_values_are_flagged_as_typed_and_disable_match(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5))
    assert not form.match_button.disabled
    form.controls["filename"].value = "my list.csv"
    assert form.match_button.disabled
    assert "the filename may hold only letters, digits and underscores" in (
        form._field_errors["filename"].value
    )
    assert form.options is None
    form.controls["filename"].value = "my_list_2026"
    assert not form.match_button.disabled
    assert form._field_errors["filename"].value == ""
    form.controls["webhook"].value = "www.example.org/hook"
    assert form.match_button.disabled
    assert "the webhook must start with https://" in form._field_errors["webhook"].value
    assert "webhook=" not in form._field_errors["webhook"].value  # words, not Python
    form.controls["webhook"].value = "https://example.org/done"
    assert not form.match_button.disabled
    assert form.options == MatchOptions(filename="my_list_2026", webhook="https://example.org/done")


def test_every_option_reaches_the_options(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5))
    c = form.controls
    c["max_matches"].value = 4
    c["format"].value = "gzip"
    for flag in ("include_email", "include_landline", "include_wireless", "include_voip"):
        c[flag].value = True
    c["invalid"].value = "blank"
    assert form.options == MatchOptions(
        max_matches=4,
        format="gzip",
        include_email=True,
        include_landline=True,
        include_wireless=True,
        include_voip=True,
    )
    assert form.kwargs["invalid"] == "blank"
    assert set(form.kwargs) >= {"max_matches", "format", "include_voip"}


def test_the_controls_are_the_declared_options(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5), max_matches=2, include_voip=True, invalid="blank")
    assert list(form.controls) == [o.name for o in OPTIONS if o.form is not None]
    assert form.kwargs == {"max_matches": 2, "include_voip": True, "invalid": "blank"}
    with pytest.raises(TypeError, match="unexpected keyword argument 'timeout'"):
        MatchForm(contacts.head(5), timeout=3)


def test_the_max_matches_slider_stays_within_one_to_ten(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5))
    slider = form.controls["max_matches"]
    assert (slider.min, slider.max) == (1, 10)
    with pytest.raises(OptionError, match="max_matches=11"):
        MatchForm(contacts.head(5), max_matches=11)


def test_a_cost_notice_whenever_an_option_may_cost_extra(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5))
    assert form._costs.value == ""
    form.controls["include_wireless"].value = True
    assert "wireless data, which may cost extra" in form._costs.value
    form.controls["include_wireless"].value = False
    form.controls["max_matches"].value = 2
    assert "max_matches=2 returns additional matches" in form._costs.value
    form.controls["max_matches"].value = 1
    assert form._costs.value == ""


def test_stop_the_match_on_invalid_values_disables_match_when_there_are_some(
    contacts: pd.DataFrame,
) -> None:
    frame = contacts.head(10).copy()
    frame.loc[frame.index[0], "zip"] = "abc"
    form = MatchForm(frame)
    form.controls["invalid"].value = "raise"
    assert form.match_button.disabled
    assert "stop the match" in form.problems[0]
    form.controls["invalid"].value = "blank"
    assert not form.match_button.disabled


# -- the API key ------------------------------------------------------------------------------


def test_no_key_field_when_a_key_is_configured(
    contacts: pd.DataFrame, environ: LocalService
) -> None:
    form = MatchForm(contacts.head(5))
    assert not form.asks_for_key  # the field shows only if the key is refused


def test_a_key_typed_in_is_held_in_memory_only(
    contacts: pd.DataFrame, service: LocalService
) -> None:
    form = MatchForm(contacts.head(30), base_url=service.base_url, poll_interval=POLL)
    field = form.api_key_field
    assert isinstance(field, ipywidgets.Password)
    field.value = service.api_key  # what the browser sends on Enter
    assert field.value == ""  # taken out of the widget at once
    assert service.api_key not in _state_json()
    assert service.api_key not in repr(form) + repr(field) + _html(form)
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    assert service.api_key not in _state_json() + repr(form) + _html(form)


def test_match_without_a_key_says_where_to_type_it(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5), base_url="http://127.0.0.1:9/")
    form.match_button.click()
    assert form.state == "ready"
    assert "No API key" in form._message.value


# -- matching --------------------------------------------------------------------------------------


def test_match_runs_in_the_background_and_shows_the_filename_at_once(
    service: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalService(poll_interval=POLL, voters=service.voters, delay=1.5) as slow:
        for name, value in slow.environ.items():
            monkeypatch.setenv(name, value)
        form = contacts.smartmatch.form(max_matches=2)
        started = time.monotonic()
        form.match_button.click()
        assert time.monotonic() - started < 1.0  # the click returns; the job goes on
        assert form.running
        assert form.match_button.disabled
        filename = form.filename
        assert filename is not None
        assert filename in form._job_line.value
        assert f"resume(&#x27;{filename}&#x27;, df)" in form._job_line.value
        form.match_button.click()  # a second click while running starts nothing
        form.controls["max_matches"].value = 5  # the notebook stays usable
        result = form.wait(60)
        assert slow.stats["registrations"] == 1
    assert result is not None, form.error
    assert form.state == "done"
    assert form.job is not None
    assert form.job.filename == filename
    assert form.job.options.max_matches == 2
    assert not form.match_button.disabled
    # The filename line and the cost notice are shown elsewhere, not among the notes.
    assert f"SmartMatch job {filename}:" not in form._message.value
    assert "may cost extra" not in form._message.value


def test_the_form_gives_what_match_gives(environ: LocalService, crm: pd.DataFrame) -> None:
    form = MatchForm(crm, columns={"Postcode Area": "zip"}, max_matches=3, format="zip")
    form.controls["invalid"].value = "blank"
    form.match_button.click()
    result = form.wait(60)
    assert result is not None, form.error
    assert form.match_result is not None
    expected = crm.smartmatch.match(**form.kwargs, progress=False)  # from the result cache
    pd.testing.assert_frame_equal(result, expected)
    assert len(form.match_result.additional) > 0
    assert form.job is not None
    assert form.job.options.format == "zip"
    summary = form._summary.value
    rate = form.match_result.summary.match_rate
    assert f"({rate:.1%})" in summary
    assert "Match rate by identifier present" in summary
    assert "Match rate by state" in summary
    assert "with first_name" in summary
    assert "The first rows of the result" in form._rows.value
    assert "additional candidate(s)" in form._rows.value


def test_no_state_table_without_a_state_column(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    form = MatchForm(contacts.head(40).drop(columns="state"))
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    assert "Match rate by state" not in form._summary.value


@pytest.mark.filterwarnings("default::smartmatch_pandas.errors.SmartMatchWarning")  # a user's
def test_warnings_of_the_job_appear_in_the_form(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    frame = contacts.head(30).copy()
    frame.loc[frame.index[0], "zip"] = "not a zip"
    form = MatchForm(frame)
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    assert "cannot be normalised" in form._message.value


def test_errors_appear_in_the_form_in_words(service: LocalService, contacts: pd.DataFrame) -> None:
    form = MatchForm(
        contacts.head(10), api_key="not-the-key", base_url=service.base_url, poll_interval=POLL
    )
    form.match_button.click()
    assert form.wait(60) is None
    assert isinstance(form.error, AuthorizationError)
    assert form.state == "failed"
    message = form._message.value
    assert "Not matched." in message
    assert "Traceback" not in message
    assert "not-the-key" not in message
    assert form.match_button.description == "Match"
    assert not form.match_button.disabled


def test_a_non_frame_or_multiindex_columns_is_refused() -> None:
    with pytest.raises(InputError, match="expected a pandas DataFrame, got a list"):
        MatchForm([1, 2])  # type: ignore[arg-type]
    frame = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("c", "d")]))
    with pytest.raises(InputError, match="MultiIndex"):
        MatchForm(frame)
    with pytest.raises(OptionError, match="invalid='drop'"):
        MatchForm(frame.droplevel(0, axis=1), invalid="drop")  # type: ignore[arg-type]


def test_the_form_displays_as_its_widget(contacts: pd.DataFrame) -> None:
    form = smartmatch_pandas.MatchForm(contacts.head(5))
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert repr(form) == "MatchForm(5 rows, state='ready')"
    form.close()


# -- a form that always ends --------------------------------------------------------------


@pytest.mark.parametrize("rows", [5_000, 200_000])
def test_the_state_table_counts_missing_states_at_any_size(rows: int) -> None:
    # From 4,096 rows normalising returns a categorical, which refused the "(none)" label.
    states = pd.Series(["MA", "ny", None, "Texas", ""] * (rows // 5))
    codes = pd.Series(["Y", "N", "Y", None, "y"] * (rows // 5))
    table = state_rates(states, codes, label="State")
    assert table["rows"].sum() == rows
    per_state = table["rows"].to_dict()
    assert per_state == {"MA": rows // 5, "NY": rows // 5, "TX": rows // 5, "(none)": 2 * rows // 5}
    assert table.loc["(none)", "match_rate"] == 1.0
    assert table.loc["TX", "match_rate"] == 0.0


@pytest.mark.slow
def test_a_long_list_with_missing_states_is_matched_to_its_summary(
    environ: LocalService, service: LocalService
) -> None:
    frame = sample_contacts(service.voters, 5_000, seed=3).drop(columns="true_voterbase_id")
    frame.loc[frame.index[::7], "state"] = None
    form = MatchForm(frame)
    form.match_button.click()
    assert form.wait(120) is not None, form.error
    assert form.state == "done"
    assert form.error is None
    assert "Match rate by state" in form._summary.value
    assert "(none)" in form._summary.value
    assert form.match_button.description == "Match"
    assert not form.match_button.disabled


def test_a_summary_that_cannot_be_drawn_still_ends_the_form(
    environ: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise ValueError("a drawing bug")

    monkeypatch.setattr("smartmatch_pandas.form.widget.summary_html", broken)
    form = MatchForm(contacts.head(20))
    form.match_button.click()
    result = form.wait(60)
    assert result is not None  # the result is kept
    assert form.state == "done"
    assert "could not draw the summary (ValueError: a drawing bug)" in form._message.value
    assert form.match_button.description == "Match"
    assert not form.match_button.disabled


def test_a_redraw_that_fails_at_the_end_of_a_run_still_leaves_match_usable(
    environ: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = MatchForm(contacts.head(22))

    def broken(*args: object, **kwargs: object) -> str:
        raise ValueError("a drawing bug")

    # Drawn again when the run ends (the cost notice, with every field): it fails then.
    monkeypatch.setattr("smartmatch_pandas.form.widget.costs_html", broken)
    form.match_button.click()
    assert form.wait(60) is not None  # the result is kept
    assert form.state == "done"
    assert "rows matched" in form._summary.value
    assert "could not check its fields again (ValueError: a drawing bug)" in form._message.value
    assert form.match_button.description == "Match"
    assert not form.match_button.disabled
    assert not form.controls["max_matches"].disabled


# -- errors that say what to do ---------------------------------------------------------------


def test_a_refused_key_says_so_offers_the_key_field_and_nothing_to_resume(
    service: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TS_API_KEY", "not-the-key")  # a key from the environment: no field
    form = MatchForm(contacts.head(10), base_url=service.base_url, poll_interval=POLL)
    assert not form.asks_for_key
    form.match_button.click()
    assert form.wait(60) is None
    assert isinstance(form.error, AuthorizationError)
    assert not form.error.resumable  # refused at registration: no job to pick up
    message = form._message.value
    assert "The service refused the API key" in message
    assert "Type the right key in the API key field" in message
    assert "resume(" not in message + form._job_line.value
    assert "was not registered: there is nothing to resume" in form._job_line.value
    assert form.asks_for_key  # the field it speaks of is there
    form.api_key_field.value = service.api_key  # the right key, typed in
    assert form._message.value == ""  # the old error goes as the user acts
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    assert "not-the-key" not in _html(form) + _state_json()
    assert service.api_key not in _html(form) + _state_json()


@pytest.mark.slow
def test_a_stopped_service_is_said_to_be_not_running_at_the_next_poll(
    service: LocalService, contacts: pd.DataFrame
) -> None:
    running = LocalService(poll_interval=0.25, voters=service.voters, delay=600).start()
    address = running.base_url
    form = MatchForm(
        contacts.head(20), api_key=running.api_key, base_url=running.base_url, poll_interval=0.25
    )
    form.match_button.click()
    deadline = time.monotonic() + 30
    while "poll(s)" not in _html(form) and time.monotonic() < deadline:
        time.sleep(0.05)  # polls answered "not ready"
    running.stop()
    seen = ""
    while form.running and "nothing listens" not in seen and time.monotonic() < deadline + 30:
        seen = form._progress._detail.value
        time.sleep(0.02)
    assert "the service is not running" in seen  # while it tries again
    assert "the connection was refused (nothing listens at that port)" in seen
    assert "Errno" not in seen
    form.wait(60)
    assert form.state == "failed"
    message = form._message.value
    assert f"The SmartMatch service is not running: nothing answers at {address}" in message
    assert "Errno" not in message
    assert form.job is not None
    assert f"resume(&#x27;{form.job.filename}&#x27;, df)" in message  # the job is kept
    assert "2 polls in a row found nothing listening" in str(form.error)  # not ten


@pytest.mark.slow
def test_choices_are_locked_while_a_job_runs(service: LocalService, contacts: pd.DataFrame) -> None:
    # The form keeps showing what the running job was made with (its code line too).
    running = LocalService(poll_interval=0.25, voters=service.voters, delay=2).start()
    try:
        form = MatchForm(
            contacts.head(20), api_key=running.api_key, base_url=running.base_url,
            poll_interval=0.25,
        )  # fmt: skip
        code = form._code.value
        form.match_button.click()
        assert form.controls["max_matches"].disabled
        assert all(control.disabled for control in form.mapping_controls.values())
        assert form.wait(60) is not None
        assert not form.controls["max_matches"].disabled
        assert not any(control.disabled for control in form.mapping_controls.values())
        assert form._code.value == code
    finally:
        running.stop()


def test_an_edit_clears_the_old_error(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5), base_url="http://127.0.0.1:9/")
    form.match_button.click()
    assert "Not matched." in form._message.value
    assert form.asks_for_key  # the field the message speaks of shows
    form.controls["max_matches"].value = 2
    assert form._message.value == ""


# -- a form that knows its frame's jobs ------------------------------------------------------


def test_a_form_made_again_shows_the_finished_job_at_once(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    frame = contacts.head(40)
    first = MatchForm(frame, max_matches=2)
    first.match_button.click()
    assert first.wait(60) is not None, first.error
    assert first.job is not None
    again = MatchForm(frame, max_matches=2)  # the cell run again
    assert again.state == "done"
    assert again.job is not None
    assert again.job.filename == first.job.filename
    assert again.result is not None
    pd.testing.assert_frame_equal(again.result, first.result)
    assert first.job.filename in again._job_line.value
    assert "rows matched" in again._summary.value
    assert "matched this frame with these options before" in again._message.value
    assert again.match_again_button.layout.display != "none"
    # Other options: another job, so nothing is shown.
    assert MatchForm(frame, max_matches=3).job is None


def test_match_again_makes_a_new_job(environ: LocalService, contacts: pd.DataFrame) -> None:
    frame = contacts.head(30)
    first = MatchForm(frame)
    first.match_button.click()
    assert first.wait(60) is not None, first.error
    assert first.job is not None
    first.match_again_button.click()
    assert first.wait(60) is not None, first.error
    assert first.job is not None
    assert first.match_result is not None
    assert not first.match_result.from_cache


def test_a_typed_filename_is_honoured_or_the_form_says_why(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    frame = contacts.head(25)
    form = MatchForm(frame)
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    earlier = form.filename
    form.controls["filename"].value = "my_list"
    form.match_button.click()  # the same data and options, but a name typed: honoured
    assert form.wait(60) is not None, form.error
    assert form.filename == "my_list" != earlier
    assert form.match_result is not None
    assert not form.match_result.from_cache


def test_an_invalid_advanced_field_unfolds_its_section(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(12))
    section = form._advanced
    assert section is not None
    assert section.selected_index is None  # folded while nothing in it is wrong
    form.controls["search_radius"].value = "far"
    assert section.selected_index == 0  # its message is seen
    assert "the search radius must be a number" in form._field_errors["search_radius"].value
    form.controls["search_radius"].value = "2"
    assert not form._field_errors["search_radius"].value
    assert section.selected_index == 0  # left open: the user is working in it


def test_a_webhooks_token_is_masked_once_entered_and_still_sent(contacts: pd.DataFrame) -> None:
    typed = "https://hooks.example.org/hooks/T0a9f8e7d6c5b4a3b2c1?token=s3cr3t-t0ken"
    form = MatchForm(contacts.head(12))
    form.controls["webhook"].value = typed
    shown = form.controls["webhook"].value
    assert shown == "https://hooks.example.org/hooks/•••?token=•••"  # a path token too
    assert form.options is not None
    assert form.options.webhook == typed  # held in memory, sent as typed
    assert "s3cr3t" not in form._code.value
    assert "T0a9f8e7d6c5b4a3b2c1" not in form._code.value
    assert "webhook=&#x27;https://hooks.example.org/hooks/•••?token=•••&#x27;" in form._code.value
    assert "s3cr3t" not in _state_json()  # nor in the notebook's saved widget state
    assert not form._field_errors["webhook"].value
    assert not form.match_button.disabled
    # An edited mask has lost its token: the whole URL is asked for again.
    form.controls["webhook"].value = shown.replace("/hooks/", "/hook/")
    assert "type the whole URL again" in form._field_errors["webhook"].value
    assert form.match_button.disabled
    form.controls["webhook"].value = "https://example.org/done"
    assert form.controls["webhook"].value == "https://example.org/done"  # nothing to hide
    assert not form.match_button.disabled
    # Given as an argument, it is masked as well.
    preset = MatchForm(contacts.head(12), webhook=typed)
    assert "s3cr3t" not in preset.controls["webhook"].value
    assert preset.options is not None
    assert preset.options.webhook == typed


def test_a_filename_used_before_is_refused_as_typed_with_no_request(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    first = MatchForm(contacts.head(25), filename="used_name")
    first.match_button.click()
    assert first.wait(60) is not None, first.error
    assert not first.problems  # its own job's name: Match picks that job up
    registrations = environ.stats["registrations"]
    other = MatchForm(contacts.head(26))  # other data
    other.controls["filename"].value = "used_name"
    said = other._field_errors["filename"].value
    assert "the filename &#x27;used_name&#x27; was used by an earlier job" in said
    assert "choose another filename" in said
    assert other.match_button.disabled
    other.match_button.click()
    assert other.job is None
    assert environ.stats["registrations"] == registrations  # refused with no request
    other.controls["filename"].value = "a_new_name"
    assert not other._field_errors["filename"].value
    assert not other.match_button.disabled
    # The same frame and options under that name is that job: shown, not refused.
    again = MatchForm(contacts.head(25), filename="used_name")
    assert again.state == "done"
    assert again.job is not None
    assert again.job.filename == "used_name"
    assert not again._field_errors["filename"].value
    assert environ.stats["registrations"] == registrations


def test_a_form_made_again_follows_the_running_job(
    service: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalService(poll_interval=POLL, voters=service.voters, delay=1.5) as slow:
        for name, value in slow.environ.items():
            monkeypatch.setenv(name, value)
        frame = contacts.head(30)
        first = MatchForm(frame)
        first.match_button.click()
        deadline = time.monotonic() + 30
        while (first.job is None or first.job.state != "uploaded") and time.monotonic() < deadline:
            time.sleep(0.02)
        again = MatchForm(frame)  # the cell run again while the job runs
        assert again.job is not None
        assert first.job is not None
        assert again.job.filename == first.job.filename
        assert again.running
        assert "is matching this frame with these options already" in again._message.value
        assert again.wait(60) is not None, again.error
        assert first.wait(60) is not None, first.error
        assert slow.stats["registrations"] == 1  # followed, not paid for twice
    assert again.state == "done"
    assert "rows matched" in again._summary.value


# -- everyone can use it -------------------------------------------------------------------


def _controls(widget: ipywidgets.Widget) -> Iterator[ipywidgets.Widget]:
    # Not a control: the text shown, the boxes, and the hidden script that names the groups.
    shown = not isinstance(widget, ipywidgets.HTML | ipywidgets.Box)
    if isinstance(widget, ipywidgets.DOMWidget) and shown and widget.has_trait("description"):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from _controls(child)


def test_every_control_has_an_accessible_name(contacts: pd.DataFrame) -> None:
    form = MatchForm(contacts.head(5))
    controls = list(_controls(form.widget))
    assert len(controls) >= len(form.controls) + len(form.mapping_controls) + 2
    for control in controls:
        assert control.description.strip(), control  # a <label for> or the button's text
    names = {c.description for c in form.mapping_controls.values()}
    assert names == {f"{label} sent as" for label in form.mapping_controls}
    assert isinstance(form.controls["format"], ipywidgets.RadioButtons)  # the chosen is checked


def test_the_groups_of_controls_are_named_by_their_labels(contacts: pd.DataFrame) -> None:
    pytest.importorskip("anywidget")
    form = MatchForm(contacts.head(5))
    namers = [c for c in form.widget.children if type(c).__name__ == "GroupNames"]
    assert len(namers) == 1  # its script names the groups in the page (test_browser.py)
    assert namers[0].layout.display == "none"
    groups = [box for box in _boxes(form.widget) if GROUP in box._dom_classes]
    labels = [g.children[0].value for g in groups if GROUP_LABEL in g.children[0]._dom_classes]
    assert any(">append<" in label for label in labels), labels
    assert any("include_email" in name for g in groups for name in _option_names(form, g))


def _boxes(widget: ipywidgets.Widget) -> Iterator[ipywidgets.Box]:
    if isinstance(widget, ipywidgets.Box):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from _boxes(child)


def _option_names(form: MatchForm, box: ipywidgets.Box) -> list[str]:
    inside = {id(w) for b in _boxes(box) for w in b.children}
    return [name for name, control in form.controls.items() if id(control) in inside]


def test_text_colours_have_at_least_4_5_to_1_contrast() -> None:
    from smartmatch_pandas.form import html as shown

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    def ratio(text: str, background: str) -> float:
        high, low = sorted([luminance(text), luminance(background)], reverse=True)
        return (high + 0.05) / (low + 0.05)

    pairs = [
        (shown.INDEX, "#ffffff"),
        (shown.PENDING, "#f0f0f0"),
        (shown.GREY, "#ffffff"),
        (shown.RED, "#ffffff"),
        (shown.AMBER, "#ffffff"),
        (shown.AMBER, shown.AMBER_BG),
        ("#ffffff", shown.BLUE),
        ("#1e6b34", "#e3f1e6"),
        ("#5f1a14", "#fdecea"),
    ]
    for text, background in pairs:
        assert ratio(text, background) >= 4.5, (text, background)
    assert "#888" not in shown.STYLE + shown.stage_line("waiting")


def test_the_wait_is_a_moving_stripe_not_a_full_bar() -> None:
    from smartmatch_pandas.form.progress_view import ProgressView
    from smartmatch_pandas.progress import ProgressEvent

    view = ProgressView(ipywidgets)
    view.show()
    view.draw(ProgressEvent("uploading", done=50, total=100))
    assert view._bar.layout.display == ""
    view.draw(ProgressEvent("waiting", polls=2, next_poll_in=1.0))
    assert view._bar.layout.display == "none"  # no bar that looks full
    assert "sm-busy" in view._detail.value
    assert "role='status'" in view._detail.value
    failing = "poll 1 of 10 failed in a row, trying again: the service is not running"
    view.draw(ProgressEvent("waiting", polls=2, message=failing))
    assert "the service is not running" in view._detail.value
    view.draw(ProgressEvent("downloading", done=1, total=2))
    assert view._bar.layout.display == ""


def test_an_unreachable_service_is_told_apart_from_a_stopped_one() -> None:
    from smartmatch_pandas.errors import UnreachableError
    from smartmatch_pandas.form.words import failure

    stopped = UnreachableError(
        "could not connect to the SmartMatch service at 127.0.0.1:8080: the connection was "
        "refused (nothing listens at that port); nothing was sent. Is the local service running?",
        host="127.0.0.1:8080",
        not_running=True,
    )
    said = failure(stopped, None, "http://127.0.0.1:8080/")
    assert said.text.startswith("The SmartMatch service is not running: nothing answers at")
    assert not said.resumable
    lost = UnreachableError(
        "could not connect to the SmartMatch service at api.example.org: the name does not "
        "resolve; nothing was sent. Check the base URL",
        host="api.example.org",
    )
    said = failure(lost, None, "https://api.example.org/")
    assert said.text.startswith(
        "The SmartMatch service cannot be reached at api.example.org: the name does not resolve."
    )
    assert "resume" not in said.text


def test_a_form_is_made_even_if_looking_for_its_job_fails(
    environ: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(*args: object, **kwargs: object) -> None:
        raise OSError("the job store cannot be read")

    monkeypatch.setattr("smartmatch_pandas.form.widget.earlier_job", unreadable)
    form = MatchForm(contacts.head(10))
    assert form.state == "ready"
    assert form.job is None
    assert "Could not look for an earlier job of this frame (OSError" in form._message.value
    assert not form.match_button.disabled


# -- Match never pays twice for what it has ---------------------------------------------------


def test_match_with_no_filename_uses_the_result_match_made(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    frame = contacts.head(35)
    smartmatch_pandas.match(frame, progress=False)
    registrations = environ.stats["registrations"]
    form = MatchForm(frame)  # shows that result
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    assert environ.stats["registrations"] == registrations  # no new paid job
    assert form.match_result is not None
    assert form.match_result.from_cache
    assert "matched this frame with these options before" in form._message.value
    assert "no request was made" in form._message.value
    form.match_again_button.click()  # only Match again makes a new job
    assert form.wait(60) is not None, form.error
    assert environ.stats["registrations"] == registrations + 1


def test_two_forms_for_one_frame_make_one_job(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    frame = contacts.head(36)
    first, second = MatchForm(frame), MatchForm(frame)  # neither knows a job yet
    registrations = environ.stats["registrations"]
    first.match_button.click()
    assert first.wait(60) is not None, first.error
    second.match_button.click()
    assert second.wait(60) is not None, second.error
    assert environ.stats["registrations"] == registrations + 1
    assert first.job is not None
    assert second.job is not None
    assert second.job.filename == first.job.filename


def test_typed_voter_fields_read_the_same_job_again_at_no_cost(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    frame = contacts.head(37)
    form = MatchForm(frame)
    form.match_button.click()
    untyped = form.wait(60)
    assert untyped is not None, form.error
    registrations = environ.stats["registrations"]
    form.controls["typed"].value = True  # the result shown is read again, typed
    typed = form.wait(60)
    assert typed is not None, form.error
    assert form.match_result is not None
    assert form.match_result.summary.typed
    assert not typed.dtypes.equals(untyped.dtypes)
    assert "with typed voter fields" in form._message.value
    form.match_button.click()  # Match reads the same job typed
    assert form.wait(60) is not None, form.error
    assert form.match_result is not None
    assert form.match_result.summary.typed
    form.controls["typed"].value = False
    assert form.wait(60) is not None, form.error
    assert form.match_result is not None
    assert not form.match_result.summary.typed
    assert environ.stats["registrations"] == registrations


def test_match_again_after_a_typed_filename_makes_a_new_job_under_a_new_name(
    environ: LocalService, contacts: pd.DataFrame
) -> None:
    form = MatchForm(contacts.head(38), filename="spring_list")
    form.match_button.click()
    assert form.wait(60) is not None, form.error
    form.match_again_button.click()
    assert form.wait(60) is not None, form.error
    assert form.job is not None
    assert form.job.filename != "spring_list"
    assert form.match_result is not None
    assert not form.match_result.from_cache
    assert "The filename &#x27;spring_list&#x27; names the earlier job" in form._message.value
    assert form.controls["filename"].value == ""
    assert not form.match_button.disabled


def test_the_words_of_an_error_start_a_sentence(contacts: pd.DataFrame) -> None:
    from smartmatch_pandas.form.words import failure

    said = failure(OptionError("the filename 'x' was used by an earlier job"), None, "here")
    assert said.text.startswith("The filename 'x'")


def test_a_followed_job_is_said_to_have_ended_once_it_has(
    service: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalService(poll_interval=POLL, voters=service.voters, delay=1.0) as slow:
        for name, value in slow.environ.items():
            monkeypatch.setenv(name, value)
        frame = contacts.head(31)
        first = MatchForm(frame)
        first.match_button.click()
        deadline = time.monotonic() + 30
        while (first.job is None or first.job.state != "uploaded") and time.monotonic() < deadline:
            time.sleep(0.02)
        again = MatchForm(frame)
        assert "is matching this frame with these options already" in again._message.value
        assert again.wait(60) is not None, again.error
        assert first.wait(60) is not None, first.error
    assert "is matching this frame" not in again._message.value
    assert "finished while followed here" in again._message.value


def test_the_result_tables_header_cells_have_a_scope(contacts: pd.DataFrame) -> None:
    from smartmatch_pandas.form.html import table_html

    shown = table_html(contacts.head(2))
    assert "<th>" not in shown
    assert shown.count('scope="col"') == contacts.shape[1] + 1  # the index's heading too
    assert shown.count('scope="row"') == 2


@pytest.mark.slow
def test_a_stopped_service_is_named_by_the_address_the_job_was_sent_to(
    service: LocalService, contacts: pd.DataFrame
) -> None:
    # activate() points the environment at the service; stop() restores it, so the
    # environment's address is no longer the job's when the error is shown.
    running = LocalService(poll_interval=0.25, voters=service.voters, delay=600).start()
    address = running.activate().base_url
    form = MatchForm(contacts.head(21))
    form.match_button.click()
    deadline = time.monotonic() + 30
    while "poll(s)" not in _html(form) and time.monotonic() < deadline:
        time.sleep(0.05)
    running.stop()
    form.wait(60)
    assert form.state == "failed"
    message = form._message.value
    assert f"nothing answers at {address}" in message
    assert "api.targetsmart.com" not in message
    assert f"once the service answers again at {address}, clicking Match picks it up" in message


def test_match_follows_the_job_another_form_is_running_rather_than_paying_twice(
    service: LocalService, contacts: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalService(poll_interval=POLL, voters=service.voters, delay=1.0) as slow:
        for name, value in slow.environ.items():
            monkeypatch.setenv(name, value)
        frame = contacts.head(32)
        first, second = MatchForm(frame), MatchForm(frame)
        first.match_button.click()
        deadline = time.monotonic() + 30
        while (first.job is None or first.job.state != "uploaded") and time.monotonic() < deadline:
            time.sleep(0.02)
        second.match_button.click()  # while the first form's job runs
        assert second.wait(60) is not None, second.error
        assert first.wait(60) is not None, first.error
        assert slow.stats["registrations"] == 1
    assert second.job is not None
    assert first.job is not None
    assert second.job.filename == first.job.filename
    assert "finished while followed here" in second._message.value
