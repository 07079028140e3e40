"""Service errors reach the user as the package's own exceptions, in plain words."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import LocalService

FRAME = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})


def test_no_api_key_is_refused_before_any_request(fresh_service: LocalService) -> None:
    with pytest.raises(sm.OptionError, match="TS_API_KEY"):
        FRAME.smartmatch.match(base_url=fresh_service.base_url, progress=False)
    assert fresh_service.stats.get("registrations", 0) == 0


@pytest.mark.parametrize("error_status", ["http", "200"])
@pytest.mark.network
def test_a_wrong_api_key_is_an_authorization_error(error_status: str) -> None:
    with (
        LocalService(voters=500, error_status=error_status) as service,  # type: ignore[arg-type]
        pytest.raises(sm.AuthorizationError) as caught,
    ):
        FRAME.smartmatch.match(api_key="not-the-key-123", base_url=service.base_url, progress=False)
    assert str(caught.value).startswith("Authorization Error:")
    assert "not-the-key-123" not in str(caught.value)
    assert caught.value.status in {200, 403}


def test_a_refused_registration_is_a_validation_error(
    fresh_service: LocalService, settings: dict[str, Any]
) -> None:
    settings = {**fresh_service.settings, "progress": False}
    FRAME.smartmatch.match(filename="used_once", **settings)
    other = FRAME.assign(zip="60614")  # new data: not the cached result, a new job
    JobStore().remove("used_once")  # the name used from another machine: the service says so
    with pytest.raises(sm.ValidationError, match="already been submitted") as caught:
        other.smartmatch.match(filename="used_once", **settings)
    assert caught.value.service_message.startswith("Validation Error:")
    # Named, but not offered to resume: the job of that name holds other data.
    assert "'used_once'" in str(caught.value)
    assert not caught.value.resumable


def test_a_filename_the_store_knows_is_refused_with_no_request(
    fresh_service: LocalService,
) -> None:
    settings = {**fresh_service.settings, "progress": False}
    FRAME.smartmatch.match(filename="used_once", **settings)
    registrations = fresh_service.stats["registrations"]
    other = FRAME.assign(zip="60614")  # new data: a new job, under a name already used
    with pytest.raises(
        sm.OptionError, match="filename 'used_once' was used by an earlier job"
    ) as caught:
        other.smartmatch.match(filename="used_once", **settings)
    assert fresh_service.stats["registrations"] == registrations  # no request
    assert "smartmatch_pandas.resume('used_once', df)" in str(caught.value)
    assert "choose another filename" in str(caught.value)
    assert JobStore().load("used_once") is not None  # the earlier job's record is kept
    # The same frame and options under that name is that job: its cached result.
    again = FRAME.smartmatch.match(filename="used_once", **settings)
    assert again.attrs["smartmatch"]["filename"] == "used_once"


class _Broken:
    def match(self, contacts: pd.DataFrame, max_matches: int) -> Any:
        raise RuntimeError("the engine broke")


@pytest.mark.network
def test_a_failed_job_is_reported_with_its_filename() -> None:
    with (
        LocalService(voters=500, poll_interval=0.1, matcher=_Broken()) as service,
        pytest.raises(sm.JobFailedError) as caught,
    ):
        FRAME.smartmatch.match(**service.settings, filename="doomed", progress=False)
    assert caught.value.filename == "doomed"
    assert "Internal Error" in str(caught.value)
    assert "doomed" in str(caught.value)


def _answering(status: int, body: bytes, content_type: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def odd_server(request: pytest.FixtureRequest) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _answering(*request.param))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("odd_server", "expected"),
    [
        ((200, b"<html>hello</html>", "text/html"), r"not a JSON object \(text/html\)"),
        ((502, b"Bad Gateway", "text/plain"), r"HTTP 502 .*not a JSON object"),
        ((200, b"[1, 2]", "application/json"), "not a JSON object"),
        ((200, json.dumps({"error": None}).encode(), "application/json"), "gave no upload URL"),
        ((200, json.dumps({"url": "", "error": ""}).encode(), "application/json"), "no upload URL"),
        (
            (500, json.dumps({"error": "Internal Error"}).encode(), "application/json"),
            r"Internal Error \(HTTP 500\)",
        ),
    ],
    indirect=["odd_server"],
)
def test_odd_answers_are_service_errors(odd_server: str, expected: str) -> None:
    with pytest.raises(sm.ServiceError, match=expected):
        FRAME.smartmatch.match(api_key="k" * 8, base_url=odd_server, progress=False)


@pytest.mark.network
def test_an_unreachable_service_is_a_transport_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        sm.TransportError, match=r"could not connect to the SmartMatch service at 127\.0\.0\.1"
    ):
        FRAME.smartmatch.match(
            api_key="k" * 8, base_url=f"http://127.0.0.1:{port}/", progress=False
        )


def test_poll_interval_below_the_real_limit_is_refused() -> None:
    with pytest.raises(sm.OptionError, match="below the 30 s"):
        FRAME.smartmatch.match(api_key="k" * 8, poll_interval=5, progress=False)


@pytest.mark.parametrize("value", [0, -1, "soon", True])
def test_poll_interval_must_be_positive(value: object, service: LocalService) -> None:
    with pytest.raises(sm.OptionError, match="poll_interval"):
        FRAME.smartmatch.match(
            api_key=service.api_key, base_url=service.base_url, poll_interval=value, progress=False
        )


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"first_name": []}), "no rows"),
        (pd.DataFrame({"nickname": ["Bo"]}), "no column of the frame is a SmartMatch identifier"),
        (
            pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("c", "d")])),
            "MultiIndex columns",
        ),
        (pd.DataFrame([["a", "b"]], columns=["zip", "zip"]), "more than once"),
    ],
)
def test_bad_frames_are_refused_before_any_request(
    frame: pd.DataFrame, message: str, fresh_service: LocalService
) -> None:
    with pytest.raises(sm.InputError, match=message):
        frame.smartmatch.match(**fresh_service.settings, progress=False)
    assert fresh_service.stats.get("registrations", 0) == 0


def test_not_a_dataframe() -> None:
    with pytest.raises(sm.InputError, match="expected a pandas DataFrame, got a list"):
        sm.match([1, 2], api_key="k" * 8)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"nope": "zip"}, "not a column of the frame"),
        ({"first_name": "forename"}, "not a SmartMatch identifier"),
        ({"first_name": "matchback_id"}, "the client adds it itself"),
        (["first_name"], "must be a dict"),
    ],
)
def test_bad_columns_option(columns: object, message: str) -> None:
    with pytest.raises(sm.OptionError, match=message):
        FRAME.smartmatch.match(columns=columns, api_key="k" * 8)  # type: ignore[arg-type]


def test_two_columns_for_one_identifier_names_both() -> None:
    frame = FRAME.assign(Postcode="02134")
    with pytest.raises(
        sm.InputError,
        match=r"'zip' \(1 filled\) and 'Postcode' \(1 filled\).*"
        r"columns=\{'zip': 'zip', 'Postcode': None\}",
    ):
        frame.smartmatch.match(api_key="k" * 8)


def test_an_error_told_its_context_keeps_its_type_and_says_more() -> None:
    error = sm.RateLimitError("too many requests", retry_after=3.0)
    same = error.with_context(before="the service refused 5 polls in a row", advice="wait")
    assert same is error
    assert same.retry_after == 3.0
    assert error.message == "the service refused 5 polls in a row: too many requests; wait"
    assert error.args == (error.message,)
    error.with_context(filename="sm_job")
    assert str(error) == f"{error.message} (job 'sm_job')"


def test_a_failed_job_is_not_offered_to_resume() -> None:
    failed = sm.JobFailedError.at_service("Internal Error: disk full", filename="job_1")
    assert failed.filename == "job_1"  # kept, for the record and for support
    assert not failed.resumable  # resuming it would only say again that it failed
    assert sm.TransportError("lost", filename="job_1").resumable
