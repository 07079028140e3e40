"""docs/architecture.md names real code: every module and name it cites exists, and every
module of the package is on the map."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import smartmatch_pandas

PAGE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
TEXT = PAGE.read_text()
#: `a.b.c` in backticks: a module, or a module's attribute (a class, its method).
CITED = sorted(set(re.findall(r"`([a-z_]+(?:\.[A-Za-z_]+)+)`", TEXT)))
#: The package's top-level modules and subpackages: a cited name starts with one.
TOP = {info.name for info in pkgutil.iter_modules(smartmatch_pandas.__path__)}


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module("smartmatch_pandas." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("dotted", [c for c in CITED if c.split(".")[0] in TOP])
def test_every_cited_name_exists(dotted: str) -> None:
    if dotted.endswith((".py", ".csv")):  # a file of the package
        assert (Path(smartmatch_pandas.__file__).parent / dotted).is_file()
    else:
        _resolve(dotted)


def test_every_module_is_on_the_map() -> None:
    root = Path(smartmatch_pandas.__file__).parent
    modules = {
        info.name.removeprefix("smartmatch_pandas.")
        for info in pkgutil.walk_packages([str(root)], "smartmatch_pandas.")
        if not info.name.startswith("smartmatch_pandas.local.")
    }
    for module in sorted(modules):
        package, _, leaf = module.rpartition(".")
        named = any(c == module or c.startswith(module + ".") for c in CITED)
        shown = (f"`{module}`", f"`{leaf}`" if package else "", f"`{module}/`")
        assert named or any(s and s in TEXT for s in shown), f"{module} is not on the map"
