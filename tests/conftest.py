"""Shared fixtures: a real local SmartMatch service on 127.0.0.1, and contact lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import smartmatch_pandas  # noqa: F401  (registers df.smartmatch)
from smartmatch_pandas.local import LocalService, sample_contacts

# Every test is watched for secrets in what the package emits (autouse fixtures).
from .leakcheck import _leakcheck_session, _no_secret_leaks  # noqa: F401

# Property tests: quick by default, deeper with --hypothesis-profile=thorough. Drawing
# messy values (emails, dates) is slow next to the checks, hence no too_slow check.
hypothesis_settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "thorough", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("default")

#: A poll interval short enough for tests, long enough that a client that
#: ignored it would be caught by the service's violation counter.
POLL = 0.25


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own key, base URL or poll interval."""
    for name in ("TS_API_KEY", "SMARTMATCH_BASE_URL", "SMARTMATCH_POLL_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries keep their count and order, with backoffs of milliseconds, not seconds."""
    monkeypatch.setattr("smartmatch_pandas.wire.retry.BACKOFF_FACTOR", 0.005)


@pytest.fixture(autouse=True)
def _isolated_job_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has a job store of its own: none touches the developer's real one."""
    home = tmp_path / "smartmatch-home"
    monkeypatch.setenv("SMARTMATCH_HOME", str(home))
    return home


@pytest.fixture
def store_home(_isolated_job_store: Path) -> Path:
    """The test's job store folder (``SMARTMATCH_HOME``)."""
    return _isolated_job_store


@pytest.fixture(scope="session")
def service() -> Iterator[LocalService]:
    """One local service for the session (20,000 voters, polls every 0.25 s)."""
    with LocalService(poll_interval=POLL, voters=20_000, seed=0) as running:
        yield running


@pytest.fixture
def settings(service: LocalService) -> dict[str, Any]:
    """``match()`` keyword arguments that reach the session's service, silently."""
    return {**service.settings, "progress": False}


@pytest.fixture
def fresh_service() -> Iterator[LocalService]:
    """A service of the test's own, so its counters start at zero."""
    with LocalService(poll_interval=POLL, voters=20_000, seed=0) as running:
        yield running


@pytest.fixture(scope="session")
def contacts(service: LocalService) -> pd.DataFrame:
    """200 noisy contacts drawn from the service's voter file, ground truth dropped."""
    frame = sample_contacts(service.voters, 200, seed=11)
    return frame.drop(columns="true_voterbase_id")


def violations(service: LocalService) -> int:
    """Polls the service refused as too soon."""
    return service.stats.get("rate_limit_violations", 0)
