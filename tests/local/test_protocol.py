"""The local service speaks SmartMatch's protocol: raw HTTP, no client code involved."""

from __future__ import annotations

import gzip
import io
import json
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from smartmatch_pandas.local import LocalService

CSV = b"first_name,last_name,zip,matchback_id\nAnn,Lee,02134,0\nBo,Chan,60614,1\n"


@pytest.fixture
def svc() -> Iterator[LocalService]:
    with LocalService(poll_interval=0.3, voters=2_000) as running:
        yield running


def api(svc: LocalService, path: str, key: str | None = "own", **params: Any) -> requests.Response:
    headers = {} if key is None else {"x-api-key": svc.api_key if key == "own" else key}
    return requests.get(svc.base_url + path, params=params, headers=headers, timeout=10)


def register(svc: LocalService, filename: str = "job_1", **params: Any) -> str:
    answer = api(svc, "service/smartmatch", filename=filename, **params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["error"] is None
    assert set(body) >= {"url", "error", "input", "gateway_id", "function_id"}
    return str(body["url"])


def put(url: str, body: bytes = CSV, **headers: str) -> requests.Response:
    return requests.put(url, data=body, headers={"Content-Type": "", **headers}, timeout=10)


def wait_ready(svc: LocalService, filename: str) -> dict[str, Any]:
    for _ in range(100):
        time.sleep(svc.poll_interval + 0.02)
        body = api(svc, "service/smartmatch/poll", filename=filename).json()
        if body["url"] or body["error"]:
            return dict(body)
    raise AssertionError("never ready")


def s3_code(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/xml"
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>')
    return response.text.split("<Code>")[1].split("</Code>")[0]


# -- the API key ------------------------------------------------------------------


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 403)])
@pytest.mark.parametrize("path", ["service/smartmatch", "service/smartmatch/poll"])
def test_api_key_is_required(svc: LocalService, key: str | None, status: int, path: str) -> None:
    answer = api(svc, path, key=key, filename="job_1")
    assert answer.status_code == status
    assert answer.json()["error"].startswith("Authorization Error:")
    assert answer.json()["url"] == ""


@pytest.mark.network
def test_errors_can_come_as_200_with_an_error() -> None:
    with LocalService(voters=500, error_status="200") as running:
        answer = api(running, "service/smartmatch", key="wrong", filename="x")
        assert answer.status_code == 200
        assert answer.json()["error"].startswith("Authorization Error:")


# -- registration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "filename is required"),
        ({"filename": "has space"}, "alphanumeric or underscore"),
        ({"filename": "x" * 46}, "1-45 alphanumeric or underscore"),
        ({"filename": "tmc_1a2b3c4d-5.csv"}, "alphanumeric or underscore"),
        ({"filename": "f", "max_matches": "11"}, "max_matches"),
        ({"filename": "f", "max_matches": "0"}, "max_matches"),
        ({"filename": "f", "max_matches": "two"}, "max_matches"),
        ({"filename": "f", "format": "xlsx"}, "format"),
        ({"filename": "f", "include_email": "maybe"}, "include_email"),
        ({"filename": "f", "webhook": "not-a-url"}, "webhook"),
    ],
)
def test_registration_is_validated(
    svc: LocalService, params: dict[str, str], fragment: str
) -> None:
    answer = api(svc, "service/smartmatch", **params)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("Validation Error:")
    assert fragment in answer.json()["error"]


@pytest.mark.parametrize("value", ["True", "true", "False", "false", "1", "0"])
def test_booleans_in_the_usual_spellings(svc: LocalService, value: str) -> None:
    register(svc, "bools", include_email=value)


@pytest.mark.network
def test_the_legacy_filename_switch() -> None:
    with LocalService(voters=500, legacy_filenames=True) as running:
        url = register(running, "tmc_1a2b3c4d-5.csv")
        assert put(url).status_code == 200
        assert running.service.jobs["tmc_1a2b3c4d-5.csv"].state != "registered"


def test_extra_parameters_are_accepted_and_echoed(svc: LocalService) -> None:
    answer = api(svc, "service/smartmatch", filename="extra", search_radius="5")
    assert answer.json()["input"]["search_radius"] == "5"


def test_reregistering_before_upload_is_allowed_but_not_after(svc: LocalService) -> None:
    register(svc, "again")
    assert put(register(svc, "again")).status_code == 200
    answer = api(svc, "service/smartmatch", filename="again")
    assert answer.status_code == 400
    assert "already been submitted" in answer.json()["error"]


# -- S3's rules on the presigned upload URL ---------------------------------------------


def test_upload_needs_an_empty_content_type(svc: LocalService) -> None:
    url = register(svc)
    answer = put(url, **{"Content-Type": "text/csv"})
    assert answer.status_code == 403
    assert s3_code(answer) == "SignatureDoesNotMatch"
    assert put(url).status_code == 200


def test_upload_refuses_a_tampered_url(svc: LocalService) -> None:
    url = register(svc)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["X-Amz-Expires"] = "999999"
    tampered = urlunsplit(parts._replace(query=urlencode(query)))
    assert s3_code(put(tampered)) == "SignatureDoesNotMatch"
    no_signature = urlunsplit(parts._replace(query=""))
    assert s3_code(put(no_signature)) == "AccessDenied"


def test_upload_refuses_chunked_bodies(svc: LocalService) -> None:
    url = register(svc)
    answer = requests.put(url, data=iter([CSV]), headers={"Content-Type": ""}, timeout=10)
    assert answer.status_code == 501
    assert s3_code(answer) == "NotImplemented"


def test_upload_needs_a_content_length(svc: LocalService) -> None:
    url = urlsplit(register(svc))
    request = (
        f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: \r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(request)
        reply = b"".join(iter(lambda: conn.recv(65536), b"")).decode()  # until the server closes
    assert reply.startswith("HTTP/1.1 411")
    assert "<Code>MissingContentLength</Code>" in reply


def test_upload_refuses_an_api_key(svc: LocalService) -> None:
    url = register(svc)
    answer = put(url, **{"x-api-key": svc.api_key})
    assert answer.status_code == 400
    assert s3_code(answer) == "InvalidRequest"
    assert svc.stats["storage_requests_with_api_key"] == 1


@pytest.mark.network
def test_upload_url_expires() -> None:
    with LocalService(voters=500, url_ttl=0) as running:
        url = register(running)
        time.sleep(1.1)
        answer = put(url)
        assert answer.status_code == 403
        assert "<Message>Request has expired</Message>" in answer.text


@pytest.mark.network
def test_upload_size_limit() -> None:
    with LocalService(voters=500, max_upload_bytes=100) as running:
        answer = put(register(running), CSV * 10)
        assert answer.status_code == 400
        assert s3_code(answer) == "EntityTooLarge"


def test_download_of_a_key_that_does_not_exist(svc: LocalService) -> None:
    url = svc.service.store.presign("GET", "deliverables/none/none.csv", svc.base_url)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 404
    assert s3_code(answer) == "NoSuchKey"


# -- the poll --------------------------------------------------------------------------


def test_poll_is_rate_limited_per_key(svc: LocalService) -> None:
    register(svc, "a")
    register(svc, "b")
    assert api(svc, "service/smartmatch/poll", filename="a").status_code == 200
    too_soon = api(svc, "service/smartmatch/poll", filename="b")  # another job, one key
    assert too_soon.status_code == 429
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 1
    assert "per API key" in too_soon.json()["error"]
    assert svc.stats["rate_limit_violations"] == 1
    time.sleep(svc.poll_interval)
    assert api(svc, "service/smartmatch/poll", filename="b").status_code == 200


def test_poll_is_rate_limited_per_filename_when_switched(svc: LocalService) -> None:
    svc.config.poll_scope = "filename"
    register(svc, "a")
    register(svc, "b")
    assert api(svc, "service/smartmatch/poll", filename="a").status_code == 200
    assert api(svc, "service/smartmatch/poll", filename="b").status_code == 200
    too_soon = api(svc, "service/smartmatch/poll", filename="a")
    assert too_soon.status_code == 429
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 1
    assert svc.stats["rate_limit_violations"] == 1
    time.sleep(svc.poll_interval)
    assert api(svc, "service/smartmatch/poll", filename="a").status_code == 200


def test_poll_of_an_unknown_filename(svc: LocalService) -> None:
    answer = api(svc, "service/smartmatch/poll", filename="nobody")
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("Validation Error:")


@pytest.mark.network
def test_poll_url_is_blank_until_ready() -> None:
    with LocalService(voters=2_000, poll_interval=0.1, delay=1.0) as running:
        assert put(register(running)).status_code == 200
        assert api(running, "service/smartmatch/poll", filename="job_1").json()["url"] == ""
        body = wait_ready(running, "job_1")
        assert body["url"].startswith(running.base_url + "storage/")


def test_a_job_without_identifiers_fails_with_an_error(svc: LocalService) -> None:
    assert put(register(svc), b"nickname,matchback_id\nBob,0\n").status_code == 200
    body = wait_ready(svc, "job_1")
    assert body["url"] == ""
    assert body["error"].startswith("Validation Error:")


# -- deliverables ------------------------------------------------------------------------


def deliverable(svc: LocalService, **params: Any) -> bytes:
    assert put(register(svc, "deliver", **params)).status_code == 200
    url = wait_ready(svc, "deliver")["url"]
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    return answer.content


def test_csv_deliverable(svc: LocalService) -> None:
    text = deliverable(svc).decode()
    header = text.splitlines()[0]
    assert header.startswith(
        '"first_name","last_name","zip","matchback_id","ts__input_row","ts__row",'
        '"tsmart_match_code","vb.voterbase_id"'
    )
    assert len(text.splitlines()) == 3


def test_zip_deliverable_holds_results_and_summary(svc: LocalService) -> None:
    data = deliverable(svc, format="zip", max_matches="3")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        summary = archive.read(next(n for n in names if n.endswith(".txt"))).decode()
    assert len([n for n in names if n.endswith(".csv")]) == 2
    assert "rows in: 2" in summary


def test_gzip_deliverable(svc: LocalService) -> None:
    text = gzip.decompress(deliverable(svc, format="gzip")).decode()
    assert text.startswith('"first_name"')


def test_gzip_with_additional_matches_is_a_tarball(svc: LocalService) -> None:
    data = gzip.decompress(deliverable(svc, format="gzip", max_matches="2"))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert len(archive.getnames()) == 3


def test_csv_with_additional_matches_comes_as_a_zip(svc: LocalService) -> None:
    assert deliverable(svc, format="csv", max_matches="2")[:4] == b"PK\x03\x04"


def test_include_flags_add_their_fields(svc: LocalService) -> None:
    header = deliverable(svc, include_email="True", include_wireless="true").split(b"\n")[0]
    assert b'"vb.email_address"' in header
    assert b'"vb.wireless_phone"' in header
    assert b"landline" not in header
    assert b"voip" not in header


def test_the_drop_folder_gets_a_zip(svc: LocalService) -> None:
    deliverable(svc)
    drop = svc.drop_folder / "deliver.zip"
    assert drop.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(drop) as archive:
        assert any(n.endswith(".csv") for n in archive.namelist())


# -- the webhook -------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_webhook_is_posted_the_callback(svc: LocalService) -> None:
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/done"
        assert put(register(svc, "hooked", webhook=url)).status_code == 200
        for _ in range(100):
            if _Hook.received:
                break
            time.sleep(0.05)
        assert list(_Hook.received[0]) == ["callback"]
        assert requests.get(_Hook.received[0]["callback"], timeout=10).status_code == 200
    finally:
        hook.shutdown()
        hook.server_close()


# -- robustness -------------------------------------------------------------------------


def test_unknown_paths_and_methods(svc: LocalService) -> None:
    assert api(svc, "service/other").status_code == 404
    assert requests.post(svc.base_url + "service/smartmatch", timeout=10).status_code == 405
    assert requests.delete(svc.base_url + "storage/x", timeout=10).status_code == 405


def test_paths_cannot_leave_the_store(svc: LocalService) -> None:
    for key in ["../../etc/passwd", "uploads/../../x", "/etc/passwd"]:
        with pytest.raises(ValueError, match="invalid object key"):
            svc.service.store.path(key)
    answer = requests.get(svc.base_url + "storage/..%2F..%2Fetc%2Fpasswd", timeout=10)
    assert answer.status_code in {400, 403, 404}


def test_listens_on_loopback_by_default(svc: LocalService) -> None:
    assert urlsplit(svc.base_url).hostname == "127.0.0.1"
