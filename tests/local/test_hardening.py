"""The local service under abuse: malformed requests, oversize uploads, paths that try to leave.

Whatever arrives on its socket, it answers 4xx (or closes a connection that
never sent a whole request): never a 5xx, a stack trace or a crash, and it
goes on serving. It reads and writes inside its own folder only, keeps its
files private, and removes its folder when it stops.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService, sample_contacts


@pytest.fixture(scope="module")
def svc() -> Iterator[LocalService]:
    with LocalService(poll_interval=0.1, voters=2_000, max_upload_bytes=64 * 1024) as running:
        yield running


def raw(service: LocalService, request: bytes, *, timeout: float = 10) -> bytes:
    """Send ``request`` as is, say it is all, and return what comes back."""
    parts = urlsplit(service.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as conn:
        try:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close first: what it answered is still read
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int | None:
    """The first status code of the answer; None if nothing was answered."""
    if not answer:
        return None
    line = answer.split(b"\r\n", 1)[0].split()
    assert line[0] in {b"HTTP/1.0", b"HTTP/1.1"}, answer[:200]
    return int(line[1])


def healthy(service: LocalService) -> None:
    answer = requests.get(service.base_url + "service/smartmatch/poll", timeout=10)
    assert answer.status_code == 401


@pytest.fixture
def no_crash_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After the test: no record of the service at ERROR (where a crashed handler logs)."""
    caplog.set_level(logging.DEBUG, logger="smartmatch_pandas.local")
    yield
    crashes = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("smartmatch_pandas.local")
    ]
    assert not crashes


MALFORMED = {
    "garbage line": b"GARBAGE\r\n\r\n",
    "a method alone": b"GET\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n\r\n",
    "unknown version": b"GET / HTTP/9.9\r\n\r\n",
    "request line of 70,000 bytes": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    "TLS hello on plain HTTP": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,
    "NUL in the path": b"GET /service/smart\x00match HTTP/1.1\r\n\r\n",
    "bytes not UTF-8 in the path": b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
    "bad percent-encoding": b"GET /service/smartmatch?filename=%zz%ff HTTP/1.1\r\n\r\n",
    "a header without a colon": b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
    "a header of 70,000 bytes": b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    "200 headers": b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    "an API key not latin-1": b"GET /service/smartmatch?filename=f HTTP/1.1\r\n"
    b"x-api-key: \xe2\x98\x83\r\n\r\n",
    "negative Content-Length": b"PUT /storage/uploads/f HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    "Content-Length in superscripts": b"PUT /storage/uploads/f?X-Amz-Signature=a&X-Amz-Date="
    b"20260101T000000Z&X-Amz-Expires=9 HTTP/1.1\r\nContent-Length: \xc2\xb2\r\n\r\n",
    "Content-Length of 10^30": b"PUT /storage/uploads/f HTTP/1.1\r\nContent-Length: "
    + b"9" * 30
    + b"\r\n\r\nxyz",
    "a body shorter than said": b"PUT /storage/uploads/f HTTP/1.1\r\nContent-Length: 100\r\n"
    b"\r\nshort",
    "traversal": b"GET /storage/../../../etc/passwd HTTP/1.1\r\n\r\n",
    "encoded traversal": b"GET /storage/uploads/..%2F..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\n\r\n",
    "backslashes": b"GET /storage\\..\\..\\etc\\passwd HTTP/1.1\r\n\r\n",
    "an absolute URL": b"GET http://127.0.0.1/etc/passwd HTTP/1.1\r\n\r\n",
    "CONNECT": b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n",
    "an unknown method": b"BREW /pot HTTP/1.1\r\n\r\n",
    "signature of another key": b"GET /storage/deliverables/x/x.csv?X-Amz-Signature=00&X-Amz-Date"
    b"=20260101T000000Z&X-Amz-Expires=99999999999999999999999 HTTP/1.1\r\n\r\n",
    "a date that is no date": b"GET /storage/deliverables/x/x.csv?X-Amz-Signature=00&X-Amz-Date"
    b"=tomorrow&X-Amz-Expires=1 HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
@pytest.mark.usefixtures("no_crash_logged")
def test_malformed_requests_are_refused_with_4xx(svc: LocalService, name: str) -> None:
    answer = raw(svc, MALFORMED[name])
    assert 400 <= (status_of(answer) or 0) < 500, answer[:300]
    assert b"Traceback" not in answer
    assert b'File "' not in answer
    healthy(svc)


REQUEST_LINES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda method, path, version: method + b" " + path + b" " + version,
        st.sampled_from([b"GET", b"PUT", b"POST", b"HEAD", b"DELETE", b"X"]),
        st.one_of(
            st.binary(max_size=80),
            st.builds(
                lambda p, q: p + b"?" + q,
                st.sampled_from(
                    [
                        b"/service/smartmatch",
                        b"/service/smartmatch/poll",
                        b"/storage/uploads/f",
                        b"/storage/deliverables/f/f.csv",
                        b"/storage/../x",
                        b"/",
                    ]
                ),
                st.binary(max_size=80),
            ),
        ),
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1x", b""]),
    ),
)
HEADERS = st.lists(
    st.one_of(
        st.binary(max_size=60),
        st.builds(
            lambda name, value: name + b": " + value,
            st.sampled_from(
                [
                    b"Content-Length",
                    b"Transfer-Encoding",
                    b"x-api-key",
                    b"Content-Type",
                    b"Host",
                    b"Expect",
                    b"Connection",
                ]
            ),
            st.one_of(
                st.binary(max_size=30), st.integers(-5, 10**6).map(lambda n: str(n).encode())
            ),
        ),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(REQUEST_LINES, HEADERS, st.binary(max_size=200))
def test_fuzzed_requests_never_crash_the_service(
    svc: LocalService, line: bytes, headers: list[bytes], body: bytes
) -> None:
    request = line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    answer = raw(svc, request, timeout=20)
    status = status_of(answer)
    chunked = b"chunked" in request.lower() and request.startswith(b"PUT")
    assert status is None or status < 500 or (status == 501 and chunked), answer[:300]
    assert b"Traceback" not in answer
    assert svc.stats.get("internal_errors", 0) == 0
    assert svc.stats.get("handler_crashes", 0) == 0


def test_a_chunked_upload_gets_s3s_own_answer(svc: LocalService) -> None:
    answer = raw(
        svc,
        b"PUT /storage/uploads/f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    )
    assert status_of(answer) == 501  # S3's NotImplemented, as a client meets it there
    assert b"<Code>NotImplemented</Code>" in answer


@pytest.mark.usefixtures("no_crash_logged")
def test_the_fuzz_left_the_service_healthy(svc: LocalService) -> None:
    healthy(svc)
    assert svc.stats.get("internal_errors", 0) == 0
    assert svc.stats.get("handler_crashes", 0) == 0


def test_an_upload_above_the_limit_is_refused_and_the_job_stays_resumable(
    svc: LocalService,
) -> None:
    frame = sample_contacts(svc.voters, 1_000, seed=3).drop(columns="true_voterbase_id")
    with pytest.raises(sm.StorageError, match="EntityTooLarge") as caught:
        sm.match(frame, **svc.settings, progress=False)
    message = str(caught.value)
    assert caught.value.filename in message
    assert "not uploaded" in message
    assert sm.jobs().loc[0, "state"] == "registered"


@pytest.mark.network
def test_a_link_planted_in_the_store_leads_nowhere(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the service")
    with LocalService(poll_interval=0.1, voters=2_000) as service:
        store = service.service.store
        (store.root / "deliverables").mkdir(exist_ok=True)
        (store.root / "deliverables" / "planted").symlink_to(outside, target_is_directory=True)
        url = store.presign("GET", "deliverables/planted/secret.txt", service.base_url)
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 404
        assert "not for the service" not in answer.text
        # Uploads go through a link to outside: refused, nothing written there.
        (store.root / "uploads").symlink_to(outside, target_is_directory=True)
        frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
        with pytest.raises(sm.StorageError, match="AccessDenied"):
            sm.match(frame, **service.settings, progress=False, filename="planted")
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert service.stats.get("internal_errors", 0) == 0


@pytest.mark.network
def test_its_files_are_private_and_gone_when_it_stops() -> None:
    with LocalService(poll_interval=0.1, voters=2_000, sftp_port=0) as service:
        frame = sample_contacts(service.voters, 20, seed=4).drop(columns="true_voterbase_id")
        sm.match(frame, **service.settings, progress=False, cache=False, format="zip")
        folder = service.data_dir
        paths = [folder, *folder.rglob("*")]
        assert len([p for p in paths if p.is_file()]) >= 3  # upload, deliverable, drop zip
        for path in paths:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert not folder.exists()


@pytest.mark.network
def test_an_explicit_folder_is_kept(tmp_path: Path) -> None:
    with LocalService(poll_interval=0.1, voters=2_000, data_dir=tmp_path / "data") as service:
        frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
        sm.match(frame, **service.settings, progress=False, cache=False)
    assert (tmp_path / "data" / "storage").is_dir()


@pytest.mark.network
def test_it_listens_on_loopback_unless_told_otherwise() -> None:
    from smartmatch_pandas.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    with LocalService(voters=500) as service:
        assert service._server is not None
        assert service._server.server_address[0] == "127.0.0.1"
    assert os.environ.get("SMARTMATCH_BASE_URL") is None  # nothing set unless activated


# -- framing: a body's end is never ambiguous ----------------------------------------------


def _presigned_put(service: LocalService) -> str:
    """The request target of a fresh upload URL (path and query)."""
    answer = requests.get(
        service.base_url + "service/smartmatch",
        params={"filename": f"framing_{os.urandom(4).hex()}"},
        headers={"x-api-key": service.api_key},
        timeout=10,
    )
    parts = urlsplit(answer.json()["url"])
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("two Content-Lengths that differ", b"Content-Length: 5\r\nContent-Length: 6\r\n"),
        ("Content-Length and chunked", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        ("two Transfer-Encodings", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"),
    ],
)
def test_an_ambiguous_upload_body_is_refused(svc: LocalService, name: str, headers: bytes) -> None:
    target = _presigned_put(svc).encode()
    request = b"PUT " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\nhello!"
    before = svc.stats.get("uploads", 0)
    assert status_of(raw(svc, request)) == 400
    assert svc.stats.get("uploads", 0) == before
    healthy(svc)


def test_a_request_smuggled_in_a_get_body_is_not_executed(svc: LocalService) -> None:
    smuggled = (
        b"GET /service/smartmatch?filename=smuggled_job HTTP/1.1\r\nHost: x\r\n"
        b"x-api-key: " + svc.api_key.encode() + b"\r\n\r\n"
    )
    request = (
        b"GET /service/smartmatch/poll?filename=f HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: " + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled
    )
    before = svc.stats.get("registrations", 0)
    answer = raw(svc, request)
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.") == 1  # one answer: the body was not read as a request
    assert svc.stats.get("registrations", 0) == before
    healthy(svc)


def test_webhooks_go_to_loopback_only_unless_allowed(svc: LocalService) -> None:
    def register(webhook: str) -> requests.Response:
        return requests.get(
            svc.base_url + "service/smartmatch",
            params={"filename": f"hook_{os.urandom(4).hex()}", "webhook": webhook},
            headers={"x-api-key": svc.api_key},
            timeout=10,
        )

    refused = register("http://10.1.2.3/internal-admin")
    assert refused.status_code == 400
    assert "loopback" in refused.json()["error"]
    assert register("http://169.254.169.254/latest/meta-data").status_code == 400
    assert register("http://127.0.0.1:9/hook").status_code == 200
    assert register("http://localhost:9/hook").status_code == 200
    assert register("http://[::1]:9/hook").status_code == 200


@pytest.mark.network
def test_remote_webhooks_can_be_allowed() -> None:
    with LocalService(voters=500, remote_webhooks=True) as service:
        answer = requests.get(
            service.base_url + "service/smartmatch",
            params={"filename": "hook_remote", "webhook": "https://hooks.example.org/x"},
            headers={"x-api-key": service.api_key},
            timeout=10,
        )
        assert answer.status_code == 200


@pytest.mark.network
def test_listening_beyond_loopback_warns_and_hands_out_usable_urls() -> None:
    with pytest.warns(UserWarning, match="beyond this machine"):
        service = LocalService(host="0.0.0.0", voters=500).start()
    try:
        assert "0.0.0.0" not in service.base_url
        port = urlsplit(service.base_url).port
        # A client that reached it at 127.0.0.1 is handed URLs of 127.0.0.1.
        answer = requests.get(
            f"http://127.0.0.1:{port}/service/smartmatch",
            params={"filename": "wildcard_job"},
            headers={"x-api-key": service.api_key},
            timeout=10,
        )
        assert answer.json()["url"].startswith(f"http://127.0.0.1:{port}/storage/")
    finally:
        service.stop()


@pytest.mark.subprocess
@pytest.mark.slow  # the voter file is built in the child: a few seconds
def test_sigterm_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("SMARTMATCH_BASE_URL", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "smartmatch_pandas.cli", "serve", "--voters", "500", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("# serving") or not line:
                break
        folders = list(tmp_path.glob("smartmatch-local-*"))
        assert len(folders) == 1, folders
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert not folders[0].exists()


@pytest.mark.network
def test_a_key_has_limits_of_jobs_and_disk() -> None:
    with LocalService(voters=500, max_jobs=2, max_disk_bytes=100) as service:

        def register(filename: str) -> requests.Response:
            return requests.get(
                service.base_url + "service/smartmatch",
                params={"filename": filename},
                headers={"x-api-key": service.api_key},
                timeout=10,
            )

        first = register("limit_one")
        assert first.status_code == 200
        assert register("limit_two").status_code == 200
        assert register("limit_one").status_code == 200  # the same job again: not a new one
        refused = register("limit_three")
        assert refused.status_code == 400
        assert "max_jobs" in refused.json()["error"]
        upload = requests.put(first.json()["url"], data=b"x" * 200, timeout=10)
        assert upload.status_code == 403
        assert b"QuotaExceeded" in upload.content
