"""Run something once a module is imported, without importing it.

``import smartmatch_pandas`` registers ``.smartmatch`` on Polars and Dask frames,
yet must not import either (each adds most of a second to every start of the
command line, and neither may be installed). :func:`when_imported` registers at
once if the module is already imported; otherwise a finder placed first on
:data:`sys.meta_path` waits for the module's first import, lets the usual
finders find it, and runs the callback once the module's own code has run.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


def when_imported(name: str, then: Callable[[ModuleType], None]) -> None:
    """Call ``then(module)`` now if module ``name`` is imported, else once it is (if
    ever); nothing if its package is not installed."""
    module = sys.modules.get(name)
    if module is not None:
        then(module)
    elif importlib.util.find_spec(name.partition(".")[0]) is not None:
        sys.meta_path.insert(0, _AfterImport(name, then))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: on the first import of ``name`` it lets the other finders
    find it, and wraps their loader so that ``then`` runs once the module has."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self._name = name
        self._then = then

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self._name:
            return None
        sys.meta_path.remove(self)  # once; and so that the finders below find it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenLoader(spec.loader, self._then)
        return spec


class _ThenLoader(importlib.abc.Loader):
    """A module's own loader, calling ``then`` once the module has run."""

    def __init__(self, loader: importlib.abc.Loader, then: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._then(module)

    def __getattr__(self, name: str) -> Any:  # resources and the like: the module's loader's
        return getattr(self._loader, name)


__all__ = ["when_imported"]
