"""A stopped local service stops answering: kept-alive connections end, and so does a wait."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService, sample_contacts

pytestmark = pytest.mark.network  # a local service on loopback


def test_stopping_the_service_ends_its_open_connections() -> None:
    service = LocalService(voters=500).start()
    parts = urlsplit(service.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", "/service/smartmatch/poll?filename=nobody", headers={"x-api-key": "x"})
    conn.getresponse().read()  # the connection is kept alive, idle in its handler
    assert conn.sock is not None
    service.stop()

    def ask_again() -> None:
        conn.request("GET", "/service/smartmatch/poll?filename=nobody")
        conn.getresponse().read()

    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        ask_again()
    conn.close()


@pytest.mark.slow
def test_a_wait_ends_at_the_next_poll_after_the_service_stops() -> None:
    with LocalService(voters=2_000, poll_interval=0.25, delay=600) as service:
        frame = sample_contacts(service.voters, 20, seed=5).drop(columns="true_voterbase_id")
        job = sm.submit(frame, **service.settings, progress=False, cache=False)
        outcome: dict[str, BaseException] = {}

        def wait() -> None:
            try:
                job.wait(timeout=120)
            except BaseException as exc:
                outcome["error"] = exc

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(1.0)  # a few polls answered "not ready" over a kept-alive connection
        stopped = time.monotonic()
    waiter.join(60)
    assert not waiter.is_alive()
    assert time.monotonic() - stopped < 30
    error = outcome["error"]
    assert isinstance(error, sm.TransportError), error
    assert error.filename == job.filename
    assert "the service is not running: 2 polls in a row" in str(error)
    assert f"resume({job.filename!r}" in str(error)
