"""The accessor is the verbs, and its typed keywords are exactly theirs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import verbs as api


@pytest.mark.parametrize(
    ("verb", "kwargs"),
    [
        (api.match, api.MatchKwargs),
        (api.submit, api.SubmitKwargs),
        (api.resume, api.ResumeKwargs),
    ],
)
def test_typed_keywords_are_the_verbs_own(verb: Callable[..., Any], kwargs: type) -> None:
    keywords = {
        name
        for name, parameter in inspect.signature(verb).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert keywords == set(kwargs.__required_keys__ | kwargs.__optional_keys__)  # type: ignore[attr-defined]


def test_the_accessor_is_registered_on_import() -> None:
    frame = pd.DataFrame({"first_name": ["Ann"], "zip": ["02134"]})
    assert isinstance(frame.smartmatch, sm.accessor.SmartMatchAccessor)
    assert str(frame.smartmatch.mapping()).startswith("sending first_name")


def test_the_accessor_documents_the_verbs() -> None:
    assert pd.DataFrame.smartmatch.match.__doc__ == api.match.__doc__
