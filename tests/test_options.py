"""Every option is validated before any request, naming the option, the value and the rule;
the verbs, the TypedDicts and the docs agree with the declaration of the options."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

import numpy as np
import pytest

from smartmatch_pandas import MatchOptions, OptionError, verbs
from smartmatch_pandas.job.store import cache_key
from smartmatch_pandas.options import (
    GENERATED_FILENAME_MAX,
    OPTIONS,
    SERVICE_OPTIONS,
    Option,
    generate_filename,
    options_of,
)
from smartmatch_pandas.wire.sftp import SFTPSettings

from . import doc_tables


@pytest.mark.parametrize("value", [0, 11, -1, "3", 3.0, True, None, [3]])
def test_max_matches_must_be_an_int_from_1_to_10(value: object) -> None:
    with pytest.raises(OptionError, match=r"max_matches=.*integer from 1 to 10"):
        MatchOptions(max_matches=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1, 10, np.int64(5)])
def test_max_matches_accepts_integers(value: int) -> None:
    assert MatchOptions(max_matches=value).params("f")["max_matches"] == str(int(value))


@pytest.mark.parametrize("value", ["CSV", "xlsx", "", None, 1])
def test_format_must_be_csv_zip_or_gzip(value: object) -> None:
    with pytest.raises(OptionError, match=r"format=.*csv, zip, gzip"):
        MatchOptions(format=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "flag", ["include_email", "include_landline", "include_wireless", "include_voip"]
)
@pytest.mark.parametrize("value", [1, 0, "True", "yes", None])
def test_include_flags_must_be_real_booleans(flag: str, value: object) -> None:
    with pytest.raises(OptionError, match=rf"{flag}=.*True or False"):
        MatchOptions(**{flag: value})  # type: ignore[arg-type]


def test_include_flags_accept_numpy_booleans() -> None:
    assert MatchOptions(include_email=np.bool_(True)).include_email is True


@pytest.mark.parametrize(
    "value", ["", "has space", "a-b", "x.csv", "a" * 46, "a" * 50, "ümlaut", 12, "tmc_1a2b-5.csv"]
)
def test_filename_rule(value: object) -> None:
    with pytest.raises(OptionError, match=r"filename=.*1 to 45 letters, digits or underscores"):
        MatchOptions(filename=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["a", "A_1", "x" * 45])
def test_valid_filenames(value: str) -> None:
    assert MatchOptions(filename=value).params(value)["filename"] == value


@pytest.mark.parametrize(
    "value", ["example.org/hook", "ftp://example.org/x", "https://", "http:// space.org", 42]
)
def test_webhook_must_be_an_http_url(value: object) -> None:
    with pytest.raises(OptionError, match=r"webhook=.*http"):
        MatchOptions(webhook=value)  # type: ignore[arg-type]


def test_generated_filenames_are_valid_unique_and_short() -> None:
    names = {generate_filename() for _ in range(500)}
    assert len(names) == 500
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_]{1,45}", name)
        assert len(name) <= GENERATED_FILENAME_MAX


def test_params_are_what_the_service_reads() -> None:
    params = MatchOptions(
        max_matches=3, format="gzip", include_voip=True, webhook="https://example.org/h"
    ).params("job_1")
    assert params == {
        "filename": "job_1",
        "max_matches": "3",
        "format": "gzip",
        "include_email": "False",
        "include_landline": "False",
        "include_wireless": "False",
        "include_voip": "True",
        "webhook": "https://example.org/h",
    }


def test_extra_params_pass_through_unchanged() -> None:
    options = MatchOptions(extra_params={"region_radius": 5, "dedupe": True})
    params = options.params("f")
    assert params["region_radius"] == "5"
    assert params["dedupe"] == "True"


@pytest.mark.parametrize("name", ["search_radius", "mbp_onboarding", "profile_id"])
def test_a_declared_parameter_is_refused_among_the_extra_ones(name: str) -> None:
    with pytest.raises(OptionError, match=rf"pass {name}= instead"):
        MatchOptions(extra_params={name: 1})


@pytest.mark.parametrize("value", [0, -1.5, float("nan"), float("inf"), "1.5", True, [1]])
def test_search_radius_is_a_positive_number_of_miles(value: object) -> None:
    with pytest.raises(OptionError, match=r"^search_radius=.*positive, finite number of miles"):
        MatchOptions(search_radius=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "sent"),
    [(1.5, "1.5"), (3, "3"), (3.0, "3"), (np.float64(0.25), "0.25"), (1e-9, "0.000000001")],
)
def test_search_radius_is_sent_in_decimals(value: float, sent: str) -> None:
    assert MatchOptions(search_radius=value).params("f")["search_radius"] == sent


def test_one_radius_however_typed_is_one_job() -> None:
    # The command line reads 3.0 where Python was given 3: one cache key, not two jobs.
    assert MatchOptions(search_radius=3).chosen() == MatchOptions(search_radius=3.0).chosen()


@pytest.mark.parametrize("value", ["", "data", "a@b", "a b@example.org", "@example.org", 7])
def test_notification_email_must_be_an_address(value: object) -> None:
    with pytest.raises(OptionError, match=r"^notification_email=.*not an email address"):
        MatchOptions(notification_email=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "a" * 36, "my audience", "a-b", 5])
def test_digital_audience_name_rule(value: object) -> None:
    with pytest.raises(OptionError, match=r"^digital_audience_name=.*1 to 35 letters"):
        MatchOptions(digital_audience_name=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "has space", "x" * 101, 12, "tab\there"])
def test_profile_id_rule(value: object) -> None:
    with pytest.raises(OptionError, match=r"^profile_id=.*without spaces"):
        MatchOptions(profile_id=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1, "True", None])
def test_mbp_onboarding_is_a_boolean(value: object) -> None:
    with pytest.raises(OptionError, match=r"^mbp_onboarding=.*True or False"):
        MatchOptions(mbp_onboarding=value)  # type: ignore[arg-type]


def test_the_newer_parameters_are_sent_only_when_chosen() -> None:
    assert not {"search_radius", "mbp_onboarding", "profile_id"} & set(MatchOptions().params("f"))
    chosen = MatchOptions(
        search_radius=2,
        notification_email="data@example.org",
        mbp_onboarding=True,
        digital_audience_name="spring_2026",
        profile_id="p_42",
    ).params("f")
    assert chosen["mbp_onboarding"] == "True"
    assert chosen["digital_audience_name"] == "spring_2026"
    assert chosen["notification_email"] == "data@example.org"
    assert chosen["profile_id"] == "p_42"


def test_onboarding_says_it_may_cost() -> None:
    assert any("digital audience" in n for n in MatchOptions(mbp_onboarding=True).costs)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"max_matches": 3}, "pass max_matches= instead"),
        ({"": 1}, "non-empty string"),
        ({"x": [1]}, r"extra_params\['x'\].*string, number or boolean"),
        ("search_radius=5", "must be a mapping"),
    ],
)
def test_bad_extra_params(extra: object, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        MatchOptions(extra_params=extra)  # type: ignore[arg-type]


def test_costs_are_named() -> None:
    assert MatchOptions().costs == []
    notices = MatchOptions(max_matches=2, include_email=True).costs
    assert any("include_email" in n for n in notices)
    assert any("max_matches=2" in n for n in notices)


# -- the declaration: the verbs' signatures, the TypedDicts and the docs agree with it ----


#: Names the verbs' modules import for type checking alone.
_TYPE_NAMES: dict[str, Any] = {"SFTPSettings": SFTPSettings}


def _hints(obj: Any) -> dict[str, Any]:
    return get_type_hints(obj, localns=_TYPE_NAMES)


def _keywords(verb: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    return {
        name: parameter
        for name, parameter in inspect.signature(verb).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


@pytest.mark.parametrize(
    ("verb", "kwargs"),
    [(verbs.match, verbs.MatchKwargs), (verbs.submit, verbs.SubmitKwargs)],
)
def test_the_submitting_verbs_take_the_declared_options_in_order(
    verb: Callable[..., Any], kwargs: type
) -> None:
    declared = options_of(verb.__name__)
    keywords = _keywords(verb)
    assert list(keywords) == [o.name for o in declared]
    hints = _hints(kwargs)
    verb_hints = _hints(verb)
    for option in declared:
        assert keywords[option.name].default == option.default, option.name
        assert keywords[option.name].annotation == option.annotation, option.name
        assert hints[option.name] == verb_hints[option.name], option.name


def test_resume_takes_its_declared_options() -> None:
    declared = {o.name: o for o in options_of("resume")}
    keywords = _keywords(verbs.resume)
    assert set(keywords) == set(declared)
    hints, verb_hints = _hints(verbs.ResumeKwargs), _hints(verbs.resume)
    for name, option in declared.items():
        assert keywords[name].default == option.default, name
        assert keywords[name].annotation == option.annotation, name
        assert hints[name] == verb_hints[name], name


def test_match_options_fields_are_the_service_options() -> None:
    names = [f.name for f in dataclasses.fields(MatchOptions)]
    assert names == [o.name for o in SERVICE_OPTIONS]


def test_every_checked_option_names_itself_in_its_error() -> None:
    for option in OPTIONS:
        if option.check is None:
            continue
        assert option.checked(option.default) == option.default or option.name == "extra_params"
        with pytest.raises(OptionError, match=rf"^{option.name}"):
            option.checked(object())


def table() -> str:
    """The options table of docs/guide.md, made from the declaration."""

    def flag(option: Option) -> str:
        return f"`{option.cli.flag}`" if option.cli is not None else ""

    def default(option: Option) -> str:
        if option.shown_default:
            return option.shown_default
        return f'`"{option.default}"`' if isinstance(option.default, str) else f"`{option.default}`"

    def does(option: Option) -> str:
        if option.cost is None:
            return option.doc
        return f"{option.doc}; **may cost extra** {option.cost.when}"

    rows = [
        (f"`{o.name}`", o.values, default(o), does(o), flag(o), ", ".join(o.verbs)) for o in OPTIONS
    ]
    header = ("option", "values", "default", "what it does", "flag", "verbs")
    return doc_tables.markdown(header, rows)


def test_the_guide_shows_the_declared_options() -> None:
    doc_tables.check("options", table(), doc=doc_tables.GUIDE)


#: A value other than its default for each option the service receives: a new service
#: option needs one here, and the test below then proves it reaches the request.
NOT_DEFAULT: dict[str, Any] = {
    "max_matches": 3,
    "format": "zip",
    "include_email": True,
    "include_landline": True,
    "include_wireless": True,
    "include_voip": True,
    "webhook": "https://hooks.example.org/smartmatch",
    "filename": "contacts_2026",
    "search_radius": 1.5,
    "notification_email": "data@example.org",
    "mbp_onboarding": True,
    "digital_audience_name": "spring_2026",
    "profile_id": "northeast",
    "extra_params": {"region": "northeast"},
}


def test_every_service_option_reaches_the_request() -> None:
    names = [o.name for o in SERVICE_OPTIONS]
    assert sorted(NOT_DEFAULT) == sorted(names), "give each service option a value above"
    for name in names:
        params = MatchOptions(**{name: NOT_DEFAULT[name]}).params("contacts_2026")
        expected = NOT_DEFAULT[name]
        if name == "extra_params":
            assert params["region"] == "northeast"
        else:
            shown = str(expected) if not isinstance(expected, bool) else "True"
            assert params[name] == shown, name


def test_a_result_keeps_its_key_when_options_at_their_defaults_are_added() -> None:
    # A key made only of what differs from the defaults: an option added later (at its
    # default) leaves the keys of every result kept and every job running unchanged.
    plain, three = MatchOptions(), MatchOptions(max_matches=3, include_email=True)
    assert plain.chosen() == {}
    assert three.chosen() == {"max_matches": 3, "include_email": True}
    key = cache_key("http://127.0.0.1:1/", "fingerprint", three)
    renamed = dataclasses.replace(three, filename="another_name", webhook="https://x.org/h")
    assert cache_key("http://127.0.0.1:1/", "fingerprint", renamed) == key
    assert cache_key("http://127.0.0.1:1/", "fingerprint", plain) != key

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class WithANewOption(MatchOptions):
        search_radius: float | None = None

    grown = WithANewOption(max_matches=3, include_email=True)
    assert cache_key("http://127.0.0.1:1/", "fingerprint", grown) == key
    wider = WithANewOption(max_matches=3, include_email=True, search_radius=5.0)
    assert cache_key("http://127.0.0.1:1/", "fingerprint", wider) != key
