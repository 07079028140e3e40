"""A service that cannot be reached: reported at once, with its host, and no phantom job.

A name that does not resolve or a refused connection means that no request
left, so nothing was registered: the error comes at once (not after a minute
of stacked retries) and the job store keeps no record that looks resumable.
A connect timeout or a temporary DNS failure is retried, on the injected clock.

Name lookups are answered here (``socket.getaddrinfo`` replaced), so no test
sends a DNS query off this machine; the refused port is a real one on loopback.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import clock as clocks
from smartmatch_pandas.clock import ManualClock
from smartmatch_pandas.job.store import JobRecord, JobStore
from smartmatch_pandas.wire import retry

KEY = "unreachable-test-key-0123456789"
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "first_name": ["Ann", "José", "Lee"],
            "last_name": ["Lee", "Núñez", "Park"],
            "zip": ["02134", "94110", "60614"],
        }
    )


@pytest.fixture
def manual(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    clock = ManualClock()
    monkeypatch.setattr(clocks, "CLOCK", clock)
    return clock


def answer_lookups(monkeypatch: pytest.MonkeyPatch, error: int = socket.EAI_NONAME) -> list[str]:
    """Look-ups of ``*.invalid`` fail with ``error``; any other name but loopback fails the
    test, so nothing is ever asked of a real resolver. Returns the names looked up."""
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name.endswith(".invalid"):
            raise socket.gaierror(error, "Name or service not known")
        assert name in {"127.0.0.1", "localhost", "::1"}, f"a look-up of {name} would leave"
        return REAL_GETADDRINFO(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def timed(call: Callable[[], Any]) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(sm.UnreachableError) as caught:
        call()
    return caught.value, time.monotonic() - start


def test_a_name_that_does_not_resolve_is_reported_at_once_with_no_record(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = answer_lookups(monkeypatch)
    events: list[sm.ProgressEvent] = []
    error, took = timed(
        lambda: sm.match(
            frame, api_key=KEY, base_url="http://nonexistent.invalid/", progress=events.append
        )
    )
    assert took < 2
    assert asked == ["nonexistent.invalid"]  # looked up once: not retried
    message = str(error)
    assert "nonexistent.invalid" in message
    assert "does not resolve" in message
    assert "nothing was sent" in message
    assert "no job was recorded" in message
    assert KEY not in message
    assert "X-Amz" not in message
    assert error.host == "nonexistent.invalid"  # type: ignore[attr-defined]
    assert error.filename is None  # type: ignore[attr-defined]
    assert sm.jobs().empty  # no phantom record
    stages = [e.stage for e in events if e.stage != "note"]
    assert stages[:2] == ["preparing", "registering"]


def test_a_temporary_lookup_failure_is_retried_on_the_clock(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, manual: ManualClock
) -> None:
    asked = answer_lookups(monkeypatch, error=socket.EAI_AGAIN)
    events: list[sm.ProgressEvent] = []
    error, _ = timed(
        lambda: sm.match(
            frame, api_key=KEY, base_url="http://flaky.invalid:8080/", progress=events.append
        )
    )
    assert len(asked) == 1 + retry.CONNECT_RETRIES
    assert len(manual.sleeps) == retry.CONNECT_RETRIES  # backoffs, on the injected clock
    assert "flaky.invalid:8080" in str(error)
    assert "could not be looked up" in str(error)
    stages = [e.stage for e in events if e.stage != "note"]
    assert stages[:3] == ["preparing", "registering", "connecting"]
    notes = [e.message or "" for e in events if e.stage == "note"]
    assert sum("trying again" in n for n in notes) == retry.CONNECT_RETRIES
    assert sm.jobs().empty


def test_a_connect_timeout_is_retried_then_leaves_no_record(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, manual: ManualClock
) -> None:
    # The one fault here the local service cannot produce: a host that never answers.
    attempts: list[object] = []

    def never_answers(address: object, *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        raise TimeoutError("timed out")

    monkeypatch.setattr("urllib3.util.connection.create_connection", never_answers)
    error, _ = timed(lambda: sm.match(frame, api_key=KEY, base_url="http://10.0.0.1:9/"))
    assert len(attempts) == 1 + retry.CONNECT_RETRIES
    assert "10.0.0.1:9" in str(error)
    assert "timed out" in str(error)
    assert sm.jobs().empty


def test_an_earlier_record_of_the_same_filename_is_put_back(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_lookups(monkeypatch)
    store = JobStore()
    earlier = JobRecord(
        filename="kept",
        service="http://127.0.0.1:1/",
        host="127.0.0.1:1",
        options={"max_matches": 1},
        mapping=[["zip", "zip"]],
        submitted_at="2026-01-01T00:00:00+00:00",
        rows=3,
        fingerprint="f",
        key="k",
        poll_interval=1.0,
        state="downloaded",
    )
    store.save(earlier)
    timed(lambda: sm.match(frame, api_key=KEY, base_url="http://gone.invalid/", filename="kept"))
    kept = store.load("kept")
    assert kept is not None
    assert kept.state == "downloaded"
    assert kept.host == "127.0.0.1:1"
    assert list(sm.jobs()["filename"]) == ["kept"]


@pytest.mark.network
def test_a_refused_connection_is_reported_at_once_with_no_record(frame: pd.DataFrame) -> None:
    with socket.socket() as probe:  # a port nothing listens at, on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error, took = timed(
        lambda: sm.match(frame, api_key=KEY, base_url=f"http://127.0.0.1:{port}/", progress=False)
    )
    assert took < 2  # was 51.9 s of stacked retries
    message = str(error)
    assert f"127.0.0.1:{port}" in message
    assert "refused" in message
    assert "smartmatch-pandas serve" in message  # a loopback URL: the local service's advice
    assert KEY not in message
    assert sm.jobs().empty
    assert sm.clear_cache(jobs=True).jobs == 0


@pytest.mark.network
def test_a_refused_resume_keeps_the_record(frame: pd.DataFrame, fresh_service: Any) -> None:
    """A job registered once (never uploaded) may exist at the service: it stays."""
    fresh_service.inject("upload:status=403,times=always")
    with pytest.raises(sm.StorageError) as caught:
        sm.match(frame, **fresh_service.settings, progress=False)
    filename = caught.value.filename
    base_url = fresh_service.base_url
    fresh_service.stop()
    with pytest.raises(sm.UnreachableError) as refused:
        sm.resume(filename, frame, api_key=fresh_service.api_key, base_url=base_url)
    assert "may be registered" in str(refused.value)
    assert filename in str(refused.value)
    listed = sm.jobs()
    assert list(listed["filename"]) == [filename]
    assert listed.loc[0, "state"] == "registered"


def test_the_command_line_says_it_in_one_line(
    frame: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from smartmatch_pandas.cli import main

    asked = answer_lookups(monkeypatch)
    monkeypatch.setenv("SMARTMATCH_BASE_URL", "http://nonexistent.invalid/")
    monkeypatch.setenv("TS_API_KEY", KEY)
    given = tmp_path / "list.csv"
    frame.to_csv(given, index=False)
    status = main(["match", str(given), "-o", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert status == 1
    assert asked == ["nonexistent.invalid"]
    assert "nonexistent.invalid" in err
    assert "does not resolve" in err
    assert "Traceback" not in err
    assert KEY not in err
    assert not (tmp_path / "out.csv").exists()
    assert main(["jobs"]) == 0
    assert "No jobs yet." in capsys.readouterr().out
