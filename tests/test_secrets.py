"""The API key and presigned URLs never appear in output, logs, warnings, reprs or errors."""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService
from smartmatch_pandas.wire.http import SmartMatchClient
from smartmatch_pandas.wire.secrets import SecretURL, redact, register_secret

URL = (
    "https://bucket.s3.amazonaws.com/in/job.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIA123%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261128T000000Z"
    "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef0123456789"
)


def test_secret_url_shows_no_query() -> None:
    url = SecretURL(URL)
    for text in (str(url), repr(url), f"{url}", f"{url!r}"):
        assert "deadbeef" not in text
        assert "AKIA123" not in text
        assert "bucket.s3.amazonaws.com/in/job.csv" in text
    assert url.reveal() == URL
    with pytest.raises(TypeError):
        pickle.dumps(url)


def test_redact_removes_signatures_credentials_and_known_keys() -> None:
    register_secret("sk-live-0123456789")
    text = redact(f"failed: {URL} with key sk-live-0123456789 and Signature=abc&AWSAccessKeyId=K1")
    assert "deadbeef" not in text
    assert "AKIA123" not in text
    assert "sk-live-0123456789" not in text
    assert "Signature=abc" not in text
    assert "AWSAccessKeyId=K1" not in text
    # A URL's whole query goes, whatever its parameters are called; its path stays readable.
    assert "X-Amz-Expires=3600" not in text
    assert "/in/job.csv?REDACTED" in text


def test_client_repr_has_no_key() -> None:
    client = SmartMatchClient(api_key="sk-repr-secret", base_url="http://127.0.0.1:1/")
    assert "sk-repr-secret" not in repr(client)
    assert "sk-repr-secret" not in str(vars(client).get("base_url"))


def _signatures(service: LocalService) -> list[str]:
    """Every signature the service handed out, captured at the service's side."""
    handed: list[str] = []
    store = service.service.store
    presign = store.presign

    def recording(*args: Any, **kwargs: Any) -> str:
        url = presign(*args, **kwargs)
        handed.append(dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"])
        return url

    store.presign = recording  # type: ignore[method-assign]
    return handed


@pytest.mark.network
def test_nothing_emitted_holds_a_secret(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalService(voters=2_000, poll_interval=0.2, delay=0.5) as service:
        handed = _signatures(service)
        people = service.voters.people.iloc[:30]
        frame = people[["first_name", "last_name", "zip", "dob"]].reset_index(drop=True)
        seen: list[str] = []
        with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            job = sm.submit(frame, max_matches=2, format="zip", **service.settings)
            result = job.wait().result()
            seen += [repr(job), str(job), repr(result), repr(result.summary), str(result.summary)]
            seen += [repr(job.client), repr(job.options), repr(job.mapping), repr(job.status())]
            try:
                frame.smartmatch.match(**{**service.settings, "api_key": "wrong-key-123"})
            except sm.SmartMatchError as exc:
                seen += [str(exc), repr(exc), repr(exc.args)]
            seen += [str(w.message) for w in caught]
        out = capsys.readouterr()
        seen += [out.out, out.err, caplog.text]
        seen += [record.getMessage() for record in caplog.records]
        text = "\n".join(seen)
        assert len(handed) >= 2  # an upload URL and a download URL
        assert "urllib3.connectionpool" in caplog.text or "HTTP" in caplog.text
        assert service.api_key not in text
        assert "wrong-key-123" not in text
        for signature in handed:
            assert signature not in text
        assert not re.search(r"X-Amz-Signature=[0-9a-f]{16}", text)


@pytest.mark.parametrize(
    ("module", "logger"),
    [
        ("smartmatch_pandas.wire.sftp", "smartmatch_pandas.wire.sftp"),
        ("smartmatch_pandas.wire.sftp", "smartmatch_pandas.wire.sftp.ssh"),
        ("smartmatch_pandas.wire.webhook", "smartmatch_pandas.wire.webhook"),
    ],
)
def test_every_channel_logs_through_the_one_redactor(
    module: str, logger: str, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib

    importlib.import_module(module)
    register_secret("sftp-password-4321")
    with caplog.at_level(logging.DEBUG, logger=logger):
        logging.getLogger(logger).info("login with %s failed", "sftp-password-4321")
    assert "sftp-password-4321" not in caplog.text
    assert "login with REDACTED failed" in caplog.text


def test_a_webhook_url_is_shown_as_scheme_host_and_path() -> None:
    from smartmatch_pandas.errors import OptionError
    from smartmatch_pandas.options import MatchOptions

    from .leakcheck import WATCH

    webhook = "https://me:pa55word-1234@hooks.example.org/done?token=w3bh00k-t0ken-99"
    WATCH.token("w3bh00k-t0ken-99")
    WATCH.token("pa55word-1234")
    options = MatchOptions(webhook=webhook)
    assert options.webhook == webhook  # sent as given
    assert "'https://hooks.example.org/done'" in repr(options)
    with pytest.raises(OptionError) as caught:
        MatchOptions(webhook="ftp://hooks.example.org/done?token=w3bh00k-t0ken-99")
    assert "w3bh00k" not in str(caught.value)
    assert redact(webhook).endswith("/done?REDACTED")


def test_log_lines_from_the_wire_are_redacted_and_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from smartmatch_pandas.wire.secrets import install_log_redaction

    install_log_redaction("smartmatch_pandas.wire.test")
    caplog.set_level("DEBUG")
    logging.getLogger("smartmatch_pandas.wire.test").info(
        "%s is still being written", "/drop/sm_1.zip\x1b]0;owned\x07?token=t0ps3cr3t-4d9f"
    )
    assert "\x1b" not in caplog.text
    assert "\\x1b]0;owned" in caplog.text
    assert "t0ps3cr3t" not in caplog.text
