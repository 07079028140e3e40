"""Shared fixtures: a real local SmartMatch service on 127.0.0.1, and contact lists."""

from __future__ import annotations

import socket
import subprocess
import threading
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

#: Fixtures that run a server on loopback (the local service, its SFTP drop, a webhook
#: receiver, an odd HTTP server, JupyterLab): a test using any of them is marked
#: ``network``. The name of a module's own fixture is listed with its module.
NETWORK_FIXTURES = frozenset(
    {
        "service",  # here, and test_personal_data's own
        "fresh_service",
        "svc",  # local/test_protocol, local/test_hardening
        "configured",  # local/test_service_fields
        "running",  # test_faults
        "drop_service",  # test_sftp
        "served",  # test_sftp_server, test_cli
        "odd_server",  # test_errors
        "local",  # test_fuzz
        "receiver",  # test_webhook
        "env",  # test_bad_input
        "jupyterlab",  # test_browser
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``network`` every test that uses a server fixture (see NETWORK_FIXTURES)."""
    for item in items:
        if NETWORK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.network)


@pytest.fixture(autouse=True)
def _fast_layer_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test of the fast layer that opens a socket or starts a process fails, saying which
    marker it lacks, so the fast selection stays fast whoever adds a test.

    Only the test's own thread is watched: a server a network test left running may
    still answer, or call a webhook, on threads of its own.
    """
    marked = {mark.name for mark in request.node.iter_markers()}
    test_thread = threading.current_thread()

    def guarded(kind: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is test_thread:
                raise AssertionError(
                    f"this test uses {'a socket' if kind == 'network' else 'a subprocess'}: "
                    f"mark it @pytest.mark.{kind} (or use a fixture in NETWORK_FIXTURES)"
                )
            return original(*args, **kwargs)

        return call

    # A test that runs a process may talk to it over loopback: it is out of the fast
    # layer already, and its sockets are its child's business.
    if not marked & {"network", "subprocess"}:
        for name in ("connect", "connect_ex", "bind"):
            monkeypatch.setattr(
                socket.socket, name, guarded("network", getattr(socket.socket, name))
            )
    if "subprocess" not in marked:
        monkeypatch.setattr(
            subprocess.Popen, "__init__", guarded("subprocess", subprocess.Popen.__init__)
        )


#: A poll interval short enough for tests, long enough that a client that
#: ignored it would be caught by the service's violation counter.
POLL = 0.1


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
    """One local service for the session (20,000 voters, polls every 0.1 s)."""
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
