"""No module reaches into another's private names: imports and attributes that start with
an underscore stay inside the module that defines them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import smartmatch_pandas

PACKAGE = Path(smartmatch_pandas.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined(tree: ast.Module) -> set[str]:
    """The private names a module defines: functions, classes, attributes, constants."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if _private(name)}


def _reached(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Private names a module imports from the package or reads on other objects."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level or "smartmatch_pandas" in (node.module or "")
        ):
            for alias in node.names:
                if _private(alias.name):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
                continue
            yield node.lineno, node.attr


def test_no_module_uses_another_modules_private_names() -> None:
    trees = {path: ast.parse(path.read_text()) for path in MODULES}
    defined = {path: _defined(tree) for path, tree in trees.items()}
    everywhere = set().union(*defined.values())
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {name}"
        for path, tree in trees.items()
        for line, name in _reached(tree)
        if name in everywhere and name not in defined[path]  # the package's, not its own
    ]
    assert not found, "private names used across modules:\n" + "\n".join(found)
