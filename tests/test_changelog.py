"""The changelog keeps up with the version: a release without its section fails."""

from __future__ import annotations

import re
from pathlib import Path

import smartmatch_pandas

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"


def sections(text: str) -> list[str]:
    """The versions the changelog has a section for, newest first."""
    return re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)


def missing_section(version: str, text: str) -> str | None:
    """What is wrong with ``text`` as the changelog of ``version``, or None."""
    if version not in sections(text):
        return f"CHANGELOG.md has no section for version {version}: add '## [{version}]'"
    return None


def test_the_version_has_a_section() -> None:
    problem = missing_section(smartmatch_pandas.__version__, CHANGELOG.read_text())
    assert problem is None, problem


def test_unreleased_comes_first_and_versions_are_unique() -> None:
    versions = sections(CHANGELOG.read_text())
    assert versions[0] == "Unreleased"
    assert len(versions) == len(set(versions))


def test_a_bump_without_a_section_is_caught() -> None:
    bumped = "0.2.0"  # what the package would say after a bump with no entry
    assert missing_section(bumped, CHANGELOG.read_text()) == (
        "CHANGELOG.md has no section for version 0.2.0: add '## [0.2.0]'"
    )
