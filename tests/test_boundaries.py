"""The local service is an independent implementation: it imports nothing of the client side.

The package's other import rules (its layers, and no network or UI in the core
modules) are import-linter contracts in pyproject.toml, checked by ``lint-imports``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import smartmatch_pandas

PACKAGE = Path(smartmatch_pandas.__file__).parent
#: What both ends may share: the identifiers (the protocol's one shared
#: fact), where files go on the user's machine and how a private file is written
#: (nothing of the protocol).
SHARED = {
    "smartmatch_pandas.identifiers",
    "smartmatch_pandas.paths",
    "smartmatch_pandas.private_files",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "smartmatch_pandas.local" if node.level == 1 else "smartmatch_pandas"
                module = f"{base}.{node.module}" if node.module else base
                found |= {module} if node.module else {f"{base}.{a.name}" for a in node.names}
            else:
                found.add(node.module or "")
    return found


def test_the_local_service_imports_no_client_code() -> None:
    files = sorted((PACKAGE / "local").rglob("*.py"))
    assert len(files) >= 6
    for path in files:
        ours = {m for m in _imports(path) if m.startswith("smartmatch_pandas")}
        foreign = {m for m in ours if not m.startswith("smartmatch_pandas.local")} - SHARED
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
