"""Every option is validated before any request, naming the option, the value and the rule."""

from __future__ import annotations

import re

import numpy as np
import pytest

from smartmatch_pandas import MatchOptions, OptionError
from smartmatch_pandas.options import GENERATED_FILENAME_MAX, generate_filename


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
    "value", ["", "has space", "a-b", "x.csv", "a" * 51, "ümlaut", 12, "tmc_1a2b-5.csv"]
)
def test_filename_rule(value: object) -> None:
    with pytest.raises(OptionError, match=r"filename=.*1 to 50 letters, digits or underscores"):
        MatchOptions(filename=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["a", "A_1", "x" * 50])
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
    options = MatchOptions(extra_params={"search_radius": 5, "mbp_onboarding": True})
    params = options.params("f")
    assert params["search_radius"] == "5"
    assert params["mbp_onboarding"] == "True"


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
