"""The watch over secrets (tests/leakcheck.py) catches a leak wherever it shows up.

The watch runs around every test of the suite; here it is run on tests that
leak on purpose, in a pytest of their own, to prove that it would fail them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smartmatch_pandas.local import LocalService

from .leakcheck import WATCH

ROOT = Path(__file__).resolve().parent.parent

LEAKY = """
import logging, warnings
import pytest, requests
import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService

@pytest.fixture(scope="module")
def service():
    with LocalService(voters=500, poll_interval=0.1) as running:
        yield running

def upload_url(service):
    answer = requests.get(service.base_url + "service/smartmatch", params={"filename": "f1"},
                          headers={"x-api-key": service.api_key}, timeout=10)
    return answer.json()["url"]

def test_prints_the_key(service):
    print("key:", service.api_key)

def test_logs_a_signed_url(service):
    logging.getLogger("someone.else").debug("got %s", upload_url(service))

def test_warns_with_a_signed_url(service):
    warnings.warn("see " + upload_url(service))

def test_puts_the_key_in_an_error(service):
    try:
        raise sm.ServiceError("refused " + service.api_key)
    except sm.ServiceError:
        pass

def test_a_subprocess_prints_the_key(service):
    import subprocess, sys
    subprocess.run([sys.executable, "-c", f"print({service.api_key!r})"], capture_output=True)

def test_shows_nothing_secret(service):
    print("base url:", service.base_url, "key:", "REDACTED")
    sm.match(sm.local.sample_contacts(service.voters, 5, seed=1).drop(columns="true_voterbase_id"),
             **service.settings, progress=False, cache=False)
"""

CONFTEST = """
from tests.leakcheck import _leakcheck_session, _no_secret_leaks  # noqa: F401
"""


@pytest.mark.slow  # a pytest of its own: 5-10 s
@pytest.mark.subprocess
def test_the_watch_fails_every_leak_and_names_where(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SMARTMATCH_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rE", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    out = done.stdout
    assert "6 passed" in out, out
    assert "5 errors" in out, out
    for test, where in [
        ("test_prints_the_key", "an API key or password appeared in stdout (call)"),
        ("test_logs_a_signed_url", "a presigned URL's signature appeared in log record"),
        ("test_warns_with_a_signed_url", "a presigned URL's signature appeared in a warning"),
        ("test_puts_the_key_in_an_error", "an API key or password appeared in ServiceError"),
        (
            "test_a_subprocess_prints_the_key",
            "an API key or password appeared in a subprocess's stdout",
        ),
    ]:
        assert re.search(rf"ERROR at teardown of {test} _+\n{re.escape(where)}", out), test
    assert "ERROR at teardown of test_shows_nothing_secret" not in out


@pytest.mark.network
def test_the_watch_knows_what_the_services_hand_out() -> None:
    with LocalService(voters=500) as service:
        url = service.service.store.presign("GET", "deliverables/x/x.csv", service.base_url)
        signature = url.rsplit("X-Amz-Signature=", 1)[1]
        assert WATCH.leaks(f"GET {url}") == ["a presigned URL's signature"]
        assert WATCH.leaks(f"key={service.api_key}") == ["an API key or password"]
        assert WATCH.leaks(url.replace(signature, "REDACTED")) == []
        # A signature under a name the redactor does not know is watched all the same.
        odd = "https://storage.example.org/k?sig=0dd5ignatur3value&X-Amz-Date=20260101T000000Z"
        WATCH.signature(odd)
        assert WATCH.leaks("GET /k?sig=0dd5ignatur3value") == ["a presigned URL's signature"]
        assert WATCH.leaks("X-Amz-Date=20260101T000000Z") == []
