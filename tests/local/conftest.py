"""Fixtures of the local service's engine: the tests' voter file and matchers over it."""

from __future__ import annotations

import pandas as pd
import pytest

from smartmatch_pandas.local import LinkageMatcher, VoterFile, default_matcher, voter_file


@pytest.fixture(scope="session")
def voters() -> VoterFile:
    """The 20,000-person voter file the session's service matches against (seed 0)."""
    return voter_file(20_000, 0)


@pytest.fixture(scope="session")
def matcher(voters: VoterFile) -> LinkageMatcher:
    """The service's own matcher (default thresholds)."""
    return default_matcher(voters)


@pytest.fixture(scope="session")
def open_matcher(voters: VoterFile) -> LinkageMatcher:
    """A matcher that accepts every candidate, so any pair's score can be read."""
    return LinkageMatcher(voters, threshold=-1e9, margin=0, candidate_threshold=-1e9)


def person(voters: VoterFile, index: int) -> dict[str, str | None]:
    """Voter ``index`` as a dict of text (None where the file has nothing)."""
    row = voters.people.iloc[index]
    return {k: (None if pd.isna(v) else str(v)) for k, v in row.items()}


def score_of(matcher: LinkageMatcher, contact: dict[str, str | None], index: int) -> float | None:
    """The score ``matcher`` gives the pair (contact, voter ``index``); None if never compared."""
    found = matcher.match(pd.DataFrame([contact]), max_matches=10)
    hit = found.person == index
    return float(found.score[hit][0]) if hit.any() else None


def best_of(matcher: LinkageMatcher, contact: dict[str, str | None]) -> int | None:
    """The voter ``matcher`` matches ``contact`` to, if any."""
    found = matcher.match(pd.DataFrame([contact]), max_matches=1)
    return int(found.person[0]) if len(found.person) else None
