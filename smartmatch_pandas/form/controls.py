"""The form's option controls, made from the declaration of the options.

Each option with a :class:`~smartmatch_pandas.options.FormControl` gets its
widget here, in declaration order; checkboxes of one label share a row. The
form reads its choices back through :func:`chosen_values`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from ..options import OPTION, OPTIONS, Option, cost_notices
from .html import labelled

#: The options the form has a control for, in declaration order.
FORM_OPTIONS: Final[tuple[Option, ...]] = tuple(o for o in OPTIONS if o.form is not None)
#: The width of the labels beside the controls.
LABEL_WIDTH: Final = "100px"
#: Options whose URL may carry a token: masked in the field once entered (:class:`HeldURL`).
SECRET_URLS: Final = ("webhook",)
#: What stands in a field for a part of a URL that is held but not shown.
MASK: Final = "•••"
#: A path segment that reads as a token rather than a word: 16 or more letters, digits,
#: ``-`` or ``_``, with letters and digits both (as in a chat service's hook URL).
_PATH_TOKEN: Final = re.compile(r"(?=[A-Za-z_-]*\d)(?=[\d_-]*[A-Za-z])[\w-]{16,}")
#: The form's other keywords: the mapping preset and the service.
FORM_SETTINGS: Final = ("columns", "api_key", "base_url", "poll_interval", "cache")


def form_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """The form's keywords, defaults filled in, each option checked as ``match()`` would.

    Raises
    ------
    TypeError
        A keyword the form does not take.
    OptionError
        A preset breaks its option's rule (the first, in declaration order).
    """
    known = [o.name for o in FORM_OPTIONS] + list(FORM_SETTINGS)
    unknown = [name for name in given if name not in known]
    if unknown:
        raise TypeError(f"MatchForm() got an unexpected keyword argument {unknown[0]!r}")
    values = {name: OPTION[name].default for name in known} | dict(given)
    for option in FORM_OPTIONS:
        values[option.name] = option.checked(values[option.name])
    return values


def option_controls(w: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """One widget per form option, set to ``values``, by option name."""
    return {option.name: _control(w, option, values[option.name]) for option in FORM_OPTIONS}


def _control(w: Any, option: Option, value: Any) -> Any:
    """The widget of ``option``: each has an accessible name (its label, a real
    ``<label for>`` where ipywidgets draws one) and its help as a tooltip."""
    form = option.form
    assert form is not None
    labelled = {"description": form.label, "style": {"description_width": LABEL_WIDTH}}
    if form.kind == "slider":
        # A number field rather than ipywidgets' slider, whose handle has no accessible name.
        low, high = form.bounds
        control = w.BoundedIntText(
            value=value, min=low, max=high, layout=w.Layout(width=_wider("80px")), **labelled
        )
    elif form.kind == "toggle":
        # Radio buttons: each choice named, the chosen one exposed as checked.
        control = w.RadioButtons(
            options=[(shown, v) for shown, v in form.choices],
            value=value,
            orientation="horizontal",
            layout=w.Layout(width=_wider("260px")),
            **labelled,
        )
    elif form.kind == "checkbox":
        control = w.Checkbox(
            value=value,
            description=form.caption,
            indent=False,
            layout=w.Layout(width="auto", margin="0 18px 0 0"),
        )
    elif form.kind == "text":
        control = w.Text(
            value="" if value is None else str(value),
            placeholder=form.caption,
            layout=w.Layout(width=_wider(form.width)),
            # A URL is taken whole (Enter, or leaving the field): its token is then masked.
            continuous_update=option.name not in SECRET_URLS,
            **labelled,
        )
    else:
        control = w.Dropdown(
            options=form.choices, value=value, layout=w.Layout(width=_wider(form.width)), **labelled
        )
    control.tooltip = form.help
    return control


def _wider(width: str) -> str:
    """A control's width with its label's beside it."""
    if not width.endswith("px"):
        return width or "auto"
    return f"{int(width[:-2]) + int(LABEL_WIDTH[:-2]) + 4}px"


def typed_options() -> tuple[Option, ...]:
    """The form options typed into text fields, whose errors show under them."""
    return tuple(o for o in FORM_OPTIONS if o.form is not None and o.form.kind == "text")


def option_rows(w: Any, controls: Mapping[str, Any], field_errors: Mapping[str, Any]) -> list[Any]:
    """The options' rows: the main ones, then the advanced ones folded in one section."""
    main = [o for o in FORM_OPTIONS if o.form is not None and not o.form.group]
    advanced = [o for o in FORM_OPTIONS if o.form is not None and o.form.group == "advanced"]
    rows = _rows(w, main, controls, field_errors)
    if advanced:
        section = w.Accordion(children=[w.VBox(_rows(w, advanced, controls, field_errors))])
        section.set_title(0, "advanced: search radius, notification, audience, profile")
        section.selected_index = None
        rows.append(section)
    return rows


def _rows(
    w: Any,
    options: list[Option],
    controls: Mapping[str, Any],
    field_errors: Mapping[str, Any],
) -> list[Any]:
    """The options' rows: each control with its label (checkboxes of one label together,
    under it), then the line for the field's error, if it has one."""
    rows = []
    for label, group in itertools.groupby(options, key=lambda o: o.form and o.form.label):
        members = list(group)
        if len(members) == 1 and members[0].form and members[0].form.kind != "checkbox":
            control = controls[members[0].name]  # its own description is its label
        else:
            boxes = w.HBox(
                [controls[o.name] for o in members],
                layout=w.Layout(align_items="center", flex_flow="row wrap", overflow="visible"),
            )
            control = labelled(w, str(label), boxes)
        rows.append(control)
        rows += [field_errors[o.name] for o in members if o.name in field_errors]
    return rows


def chosen_values(controls: Mapping[str, Any]) -> dict[str, Any]:
    """The value each control holds, as the verbs take it (a blank text field is None)."""
    return {option.name: _value(option, controls[option.name]) for option in FORM_OPTIONS}


def _value(option: Option, control: Any) -> Any:
    if option.form is not None and option.form.kind == "text":
        return typed_value(option, control.value)
    return control.value


def typed_value(option: Option, text: str) -> Any:
    """What the text typed for ``option`` stands for: None when blank, a number in a
    number field when it reads as one (else the text, which its rule then refuses)."""
    text = text.strip()
    if not text:
        return None
    if option.form is not None and option.form.number:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def chosen_costs(controls: Mapping[str, Any]) -> list[str]:
    """The notices of the options chosen that may cost extra."""
    return cost_notices({o.name: controls[o.name].value for o in FORM_OPTIONS})


def masked_url(url: str) -> str:
    """``url`` with its secrets masked where they stand: its user and password, the value of
    each query parameter, its fragment and any path segment that reads as a token.

    Examples
    --------
    >>> masked_url("https://me:pw@hooks.example.org/done/T0a9f8e7d6c5b4a3b2?token=abc&v=2")
    'https://•••@hooks.example.org/done/•••?token=•••&v=•••'
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]  # no URL: no token
    user = f"{MASK}@" if parts.username or parts.password else ""
    where = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    path = "/".join(MASK if _PATH_TOKEN.fullmatch(part) else part for part in parts.path.split("/"))
    query = "&".join(f"{name}={MASK}" for name, _ in parse_qsl(parts.query, True))
    query = f"?{query or MASK}" if parts.query else ""
    fragment = f"#{MASK}" if parts.fragment else ""
    return f"{parts.scheme}://{user}{where}{path}{query}{fragment}"


class HeldURL:
    """A text field for a URL whose token is held in memory and shown masked.

    Once a URL is entered (Enter, or leaving the field), the field shows
    :func:`masked_url` of it, so neither the page nor the notebook's saved widget
    state holds the token; :meth:`value` gives the URL itself while the field
    still shows its mask. Typing another URL replaces it.
    """

    def __init__(self, control: Any) -> None:
        self.control = control
        self._held: str | None = None
        self._shown: str | None = None
        control.observe(lambda change: self._entered(change["new"]), names="value")
        self._entered(control.value)

    def _entered(self, text: str) -> None:
        text = text.strip()
        if text == self._shown:
            return  # the mask itself, set below
        masked = masked_url(text) if text else text
        self._held, self._shown = (text, masked) if masked != text else (None, None)
        if masked != text:
            self.control.value = masked

    def value(self, shown: object) -> object:
        """The URL the field stands for, given its value as read (``shown``)."""
        return self._held if self._held is not None and shown == self._shown else shown

    @property
    def edited_mask(self) -> bool:
        """Whether the field holds a mask that was edited: the token it hid is gone."""
        text = self.control.value.strip()
        return MASK in text and text != self._shown
