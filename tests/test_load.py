"""Fifty clients at once on the local service: every job completed, none lost, no error.

The lighter form of ``benchmarks/load.py`` (which prints throughput and
latency): 50 threads, each with a client of its own, submit a small job and
poll it within the rate limit, all on 127.0.0.1, every wait bounded.
"""

from __future__ import annotations

import pytest

from benchmarks.load import EXCHANGES, run_load
from smartmatch_pandas.local import LocalService

from .conftest import POLL

# 50 jobs at once: 10-20 s on a shared machine, against a service of its own.
pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_fifty_clients_at_once() -> None:
    with LocalService(poll_interval=POLL, voters=20_000, seed=0) as service:
        load = run_load(service, clients=50, rows=20, timeout=120)
    assert load.errors == []
    assert load.lost == []
    assert load.completed == 50
    for name in ("registrations", "uploads", "jobs_done", "downloads"):
        assert load.service.get(name) == 50, name
    assert load.service.get("rate_limit_violations", 0) == 0
    assert load.service.get("internal_errors", 0) == 0
    assert load.service.get("jobs_failed", 0) == 0
    assert all(load.latencies[name] for name in EXCHANGES)
    assert len(load.latencies["poll"]) >= 50
