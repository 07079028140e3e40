"""A voter file far larger than the session's is built, cached, indexed and matched well.

The behaviour the five-million-person figure rests on, at 100,000 people: the
cached copy is the file that was built and reads back faster than a build, and
the index matches a noisy list as well as at the session's size. The figures at
5,000,000 people (time, peak memory, and their ratio to a smaller file measured
in the same run) are a benchmark: ``python benchmarks/voter_file_scale.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from smartmatch_pandas.local import LinkageMatcher, VoterFile, sample_contacts
from smartmatch_pandas.local.voterfile import CACHE_ENV

PEOPLE = 100_000
ROWS = 2_000


@pytest.mark.slow  # a few seconds: a build, a cache read, an index and a match
def test_a_large_voter_file_is_cached_indexed_and_matched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    started = time.perf_counter()
    voters = VoterFile.generate(PEOPLE, seed=0)
    built = time.perf_counter()
    again = VoterFile.generate(PEOPLE, seed=0)
    loaded = time.perf_counter()
    assert len(again) == PEOPLE
    assert voters.table.equals(again.table)  # the cached copy is the file that was built
    assert loaded - built < built - started
    del voters  # a service holds one copy
    matcher = LinkageMatcher(again)
    contacts = sample_contacts(again, ROWS, seed=1)
    truth = contacts.pop("true_voterbase_id").to_numpy(object)
    found = matcher.match(contacts, 3)
    best = found.rank == 1
    ids = again.table.column("voterbase_id").take(found.person[best]).to_pylist()
    right = sum(a == b for a, b in zip(ids, truth[found.row[best]], strict=True))
    matched = int(best.sum())
    in_file = sum(t is not None for t in truth)
    assert matched / len(contacts) > 0.8
    assert right / matched > 0.99
    assert right / in_file > 0.95
