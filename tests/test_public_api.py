"""The public API is whole: every exported name resolves, and every type a public
function takes or returns can be imported from the package itself."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import smartmatch_pandas as sm

#: The public verbs, whose signatures the user reads.
VERBS = ["match", "submit", "resume", "jobs", "clear_cache", "match_file", "resume_file"]
#: Handed from one verb to another inside the package (``match`` lends ``submit`` its
#: progress lines); the user passes ``progress=True``, ``False`` or a callable.
INTERNAL = {"Reporter"}


def _classes(hint: Any) -> Iterator[type]:
    """The classes of this package that a type hint names, however nested."""
    if typing.get_origin(hint) is typing.Unpack:  # **kwargs: the types of its keys
        for field in typing.get_type_hints(typing.get_args(hint)[0]).values():
            yield from _classes(field)
        return
    if isinstance(hint, type) and hint.__module__.startswith("smartmatch_pandas"):
        yield hint
    for arg in typing.get_args(hint):
        yield from _classes(arg)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    namespace = {**vars(sm), **vars(inspect.getmodule(function))}
    # Names imported for type checking only (SFTPSettings) are the package's lazy ones.
    namespace["SFTPSettings"] = sm.SFTPSettings
    return typing.get_type_hints(function, globalns=namespace)


@pytest.mark.parametrize("name", sm.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(sm, name) is not None


def test_every_exported_name_is_listed() -> None:
    public = {
        name
        for name, value in vars(sm).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(sm.__all__)


@pytest.mark.parametrize("verb", VERBS)
def test_the_types_of_a_verb_are_exported(verb: str) -> None:
    function = getattr(sm, verb)
    for hint in _hints(function).values():
        for cls in _classes(hint):
            if cls.__name__ in INTERNAL:
                continue
            assert getattr(sm, cls.__name__, None) is cls, f"{verb}: {cls.__qualname__}"
            assert cls.__name__ in sm.__all__


def test_what_clear_cache_and_match_file_return_is_exported() -> None:
    assert _hints(sm.clear_cache)["return"] is sm.Cleared
    assert _hints(sm.match_file)["return"] is sm.FileResult
    assert _hints(sm.resume_file)["return"] is sm.FileResult
    assert sm.match_file.__doc__
    assert "Parameters" in sm.match_file.__doc__
