"""The webhook receiver, end to end with the local service: callbacks complete jobs, no polls."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pandas as pd
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import smartmatch_pandas as sm
from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.wire.webhook import WebhookReceiver, callback_url

from .conftest import POLL


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def frame_of(service: LocalService, rows: int = 40) -> pd.DataFrame:
    return sample_contacts(service.voters, rows, seed=13).drop(columns="true_voterbase_id")


@pytest.mark.parametrize("delay", [0.0, 6 * POLL])
def test_the_callback_completes_the_job_without_polling(
    fresh_service: LocalService,
    receiver: WebhookReceiver,
    delay: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # With no delay the callback may come before submit() returns: it is kept until watched.
    fresh_service.config.delay = delay
    frame = frame_of(fresh_service)
    caplog.set_level(logging.DEBUG)
    enriched = frame.smartmatch.match(
        max_matches=2, webhook=receiver, cache=False, **fresh_service.settings, progress=False
    )
    stats = fresh_service.stats
    assert stats.get("polls", 0) == 0
    assert stats["webhooks"] == 1
    assert receiver.stats["accepted"] == 1
    polled = frame.smartmatch.match(max_matches=2, cache=False, **fresh_service.settings)
    pd.testing.assert_frame_equal(enriched, polled)
    # Neither the job's token nor the callback's signature reaches a log line.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    filename = re.findall(r"SmartMatch job (\w+) is ready \(webhook\)", logged)[0]
    token = receiver.url_for(filename).rsplit("token=", 1)[1]
    assert token not in logged
    # The download was logged, its whole query redacted (the signature by its shape).
    assert ".zip?REDACTED" in logged
    assert "X-Amz-Signature" not in logged


def test_each_job_has_its_own_webhook_url(
    fresh_service: LocalService, receiver: WebhookReceiver
) -> None:
    fresh_service.config.delay = 4 * POLL
    frames = [frame_of(fresh_service, 20).iloc[i * 10 : (i + 1) * 10] for i in range(2)]
    jobs = [
        sm.submit(f, webhook=receiver, **fresh_service.settings, progress=False) for f in frames
    ]
    urls = {receiver.url_for(job.filename) for job in jobs}
    assert len(urls) == 2
    assert all(job.channel == "webhook" for job in jobs)
    for job in jobs:
        assert len(job.wait(progress=False).result().frame) == 10
    assert fresh_service.stats.get("polls", 0) == 0
    record = json.loads((JobStore().jobs_dir / f"{jobs[0].filename}.json").read_text())
    assert record["options"]["webhook"] == receiver.url_for(jobs[0].filename)


def test_bodies_of_another_shape_and_unknown_jobs_are_refused(
    receiver: WebhookReceiver,
) -> None:
    url = receiver.url_for("known_job")
    bad_bodies = [
        b"not json",
        b"[]",
        b'"https://example.org/x"',
        b"{}",
        b'{"callback": 5}',
        b'{"callback": "ftp://example.org/x"}',
        b'{"callback": "not a url"}',
        b'{"url": "https://example.org/x"}',
    ]
    for body in bad_bodies:
        answer = requests.post(url, data=body, timeout=5)
        assert answer.status_code == 400, body
        assert answer.json()["ok"] is False
    unknown = url.rsplit("=", 1)[0] + "=not-a-token"
    good = json.dumps({"callback": "https://storage.example.org/d?X-Amz-Signature=s"})
    assert requests.post(unknown, data=good, timeout=5).status_code == 404
    assert requests.get(url, timeout=5).status_code == 405
    too_big = json.dumps({"callback": "https://e.org/" + "x" * 70_000})
    assert requests.post(url, data=too_big, timeout=5).status_code == 413
    assert receiver.stats["accepted"] == 0
    assert receiver.stats["rejected_body"] == len(bad_bodies) + 1
    assert receiver.stats["rejected_unknown"] == 1
    receiver.forget("known_job")
    assert requests.post(url, data=good, timeout=5).status_code == 404


def test_callback_url_reads_only_the_documented_shape() -> None:
    found = callback_url(b'{"callback": "https://s3.example.org/k?X-Amz-Signature=abc"}')
    assert found is not None
    assert found.reveal().endswith("abc")
    assert "abc" not in repr(found)
    assert callback_url(b'{"callback": "https://s3.example.org/k", "extra": 1}') is not None
    assert callback_url(b"\xff\xfe") is None


def test_waiting_for_a_callback_that_never_comes_times_out(
    fresh_service: LocalService, receiver: WebhookReceiver
) -> None:
    fresh_service.config.delay = 60.0
    job = sm.submit(
        frame_of(fresh_service, 5), webhook=receiver, **fresh_service.settings, progress=False
    )
    with pytest.raises(sm.JobTimeoutError) as caught:
        job.wait(timeout=3 * POLL, progress=False)
    assert caught.value.filename == job.filename
    assert fresh_service.stats.get("polls", 0) == 0


def test_a_receiver_on_every_interface_needs_its_public_url() -> None:
    with pytest.raises(sm.OptionError, match="public_url"):
        WebhookReceiver(host="0.0.0.0").url_for("job")  # checked before listening
    with pytest.raises(sm.OptionError, match="not running"):
        WebhookReceiver().url_for("job")
    public = WebhookReceiver(public_url="https://hooks.example.org/sm/")
    assert public.url_for("job").startswith("https://hooks.example.org/sm/")
    with pytest.raises(sm.OptionError):
        WebhookReceiver(public_url="not a url")


def test_a_job_not_submitted_through_the_receiver_is_not_watched(
    fresh_service: LocalService, receiver: WebhookReceiver
) -> None:
    job = sm.submit(frame_of(fresh_service, 5), **fresh_service.settings, progress=False)
    with pytest.raises(sm.OptionError, match="not submitted with a URL of this receiver"):
        receiver.watch(job)


@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=9), inner),
        max_leaves=15,
    )
    | st.fixed_dictionaries(
        {"callback": st.text(max_size=60) | st.sampled_from(["http://[::1/x", "https://h/p?s=1"])}
    )
)
def test_any_callback_body_is_a_url_or_refused(payload: object) -> None:
    found = callback_url(json.dumps(payload).encode())
    assert found is None or found.reveal().startswith(("http://", "https://"))


def test_a_callback_nested_past_the_parser_is_refused() -> None:
    assert callback_url(b"[" * 100_000 + b"]" * 100_000) is None
    assert callback_url(b'{"callback": "http://[::1/deliverable.zip"}') is None
