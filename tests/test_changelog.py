"""The changelog keeps up with the version: a release without its section fails."""

from __future__ import annotations

import re
from pathlib import Path

import smartmatch_pandas

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"


def sections(text: str) -> dict[str, str]:
    """Each version's section of the changelog, by version, newest first."""
    parts = re.split(r"^## \[([^\]]+)\][^\n]*\n", text, flags=re.MULTILINE)
    return {version: body.strip() for version, body in zip(parts[1::2], parts[2::2], strict=True)}


def missing_section(version: str, text: str) -> str | None:
    """What is wrong with ``text`` as the changelog of ``version``, or None."""
    found = sections(text)
    if version not in found:
        return f"CHANGELOG.md has no section for version {version}: add '## [{version}]'"
    if not re.search(r"^- ", found[version], flags=re.MULTILINE):
        return f"CHANGELOG.md's section for version {version} lists no change"
    return None


def test_the_version_has_a_section_with_its_changes() -> None:
    problem = missing_section(smartmatch_pandas.__version__, CHANGELOG.read_text())
    assert problem is None, problem


def test_unreleased_comes_first_and_versions_are_unique() -> None:
    versions = re.findall(r"^## \[([^\]]+)\]", CHANGELOG.read_text(), flags=re.MULTILINE)
    assert versions[0] == "Unreleased"
    assert len(versions) == len(set(versions))


def test_a_bump_without_its_section_or_its_changes_is_caught() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n- a change\n\n## [1.0.0] - 2026-01-01\n\n- one\n"
    assert missing_section("1.0.0", text) is None
    assert missing_section("1.1.0", text) == (
        "CHANGELOG.md has no section for version 1.1.0: add '## [1.1.0]'"
    )
    emptied = text.replace("## [Unreleased]\n\n- a change\n", "## [Unreleased]\n\n## [1.1.0]\n")
    assert missing_section("1.1.0", emptied) == (
        "CHANGELOG.md's section for version 1.1.0 lists no change"
    )
