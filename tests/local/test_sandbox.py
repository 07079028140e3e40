"""The local service as a lasting sandbox: a port in use said plainly, a data folder that
keeps its jobs and key across restarts, and a refused key answered with local advice."""

from __future__ import annotations

import errno
import json
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.local.server import API_KEY_ENV, PortInUseError

from ..conftest import POLL

pytestmark = pytest.mark.network


def contacts(service: LocalService) -> pd.DataFrame:
    return sample_contacts(service.voters, 30, seed=4).drop(columns="true_voterbase_id")


def restarted(data_dir: Path, port: int = 0, **kwargs: Any) -> LocalService:
    return LocalService(
        port=port, data_dir=data_dir, poll_interval=POLL, voters=20_000, **kwargs
    ).start()


@pytest.fixture
def lasting(tmp_path: Path) -> Iterator[LocalService]:
    running = restarted(tmp_path / "sandbox")
    try:
        yield running
    finally:
        running.stop()


def test_a_port_in_use_is_one_clear_error(service: LocalService) -> None:
    taken = int(service.base_url.rsplit(":", 1)[1].strip("/"))
    second = LocalService(port=taken, voters=20_000)
    with pytest.raises(PortInUseError) as caught:
        second.start()
    second.stop()
    message = str(caught.value)
    assert f"127.0.0.1:{taken}" in message
    assert "in use" in message
    assert message.startswith("the local service cannot listen")  # no [Errno 98] prefix
    assert "\n" not in message
    assert isinstance(caught.value, OSError)
    assert caught.value.errno == errno.EADDRINUSE


def test_a_job_submitted_before_a_restart_is_resumed_after_it(
    lasting: LocalService, tmp_path: Path
) -> None:
    frame = contacts(lasting)
    expected = sm.match(frame, **lasting.settings, progress=False, cache=False)
    lasting.config.delay = 2.0  # not ready yet when the service stops
    job = sm.submit(frame, **lasting.settings, progress=False, cache=False)
    port, key = lasting.base_url.rsplit(":", 1)[1].strip("/"), lasting.api_key
    lasting.stop()
    again = restarted(tmp_path / "sandbox", port=int(port))
    try:
        assert again.api_key == key  # the generated key is kept with the data
        assert (lasting.key_origin, again.key_origin) == ("new, kept", "kept")
        assert again.jobs_kept == 2
        assert again.base_url == f"http://127.0.0.1:{port}/"
        result = sm.resume(job.filename, frame, api_key=key, progress=False, timeout=120)
    finally:
        again.stop()
    pd.testing.assert_frame_equal(result.frame, expected)


def test_a_job_never_uploaded_before_a_restart_is_uploaded_after_it(
    lasting: LocalService, tmp_path: Path
) -> None:
    frame = contacts(lasting)
    lasting.inject("upload:status=503,times=always")
    with pytest.raises(sm.StorageError) as caught:
        sm.match(frame, **lasting.settings, progress=False)
    filename = caught.value.filename
    assert filename is not None
    port = int(lasting.base_url.rsplit(":", 1)[1].strip("/"))
    lasting.stop()
    again = restarted(tmp_path / "sandbox", port=port)
    try:
        result = sm.resume(filename, frame, api_key=again.api_key, progress=False, timeout=120)
        assert again.stats["registrations"] == 1  # registered again, under the same name
    finally:
        again.stop()
    assert len(result.frame) == len(frame)


def test_the_data_folder_is_private(lasting: LocalService) -> None:
    frame = contacts(lasting)
    sm.match(frame, **lasting.settings, progress=False)
    root = lasting.data_dir
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert (root / "jobs").is_dir()
    assert any((root / "jobs").glob("*.json"))


def test_the_environment_gives_one_key_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "sandbox-key-from-the-environment")
    services = [
        LocalService(voters=20_000),
        LocalService(voters=20_000, api_key="given-wins"),
        LocalService(voters=20_000, data_dir=tmp_path / "d"),
    ]
    keys = [s.api_key for s in services]
    for made in services:
        made.stop()
    assert keys == ["sandbox-key-from-the-environment", "given-wins", keys[0]]
    assert [s.key_origin for s in services] == ["environment", "given", "environment"]
    # A key given is not written into the data folder: only a generated one is kept.
    assert not (tmp_path / "d" / "api_key").exists()


def test_a_generated_key_is_kept_in_the_data_folder_only(tmp_path: Path) -> None:
    services = [LocalService(voters=20_000, data_dir=tmp_path / "d") for _ in range(2)]
    services += [LocalService(voters=20_000) for _ in range(2)]
    keys = [s.api_key for s in services]
    for made in services:
        made.stop()
    assert keys[0] == keys[1]  # one data folder, one key
    assert [s.key_origin for s in services] == ["new, kept", "kept", "new", "new"]
    assert len(set(keys)) == 3  # without one, each start has a new key


def test_a_refused_key_on_the_local_service_points_at_its_exports(
    service: LocalService,
) -> None:
    frame = contacts(service)
    with pytest.raises(sm.AuthorizationError) as caught:
        sm.match(frame, base_url=service.base_url, api_key="a-stale-key-0000", progress=False)
    message = str(caught.value)
    assert "smartmatch-pandas serve" in message
    assert "export" in message
    assert "provisioned" not in message
    assert sm.jobs().empty  # refused: nothing left behind


def test_an_sftp_port_in_use_is_said_too(service: LocalService) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"SFTP drop cannot listen on 127.0.0.1:{taken}"):
            LocalService(voters=20_000, sftp_port=taken).start()


def test_a_job_left_processing_by_a_killed_service_is_matched_after_a_restart(
    lasting: LocalService, tmp_path: Path
) -> None:
    frame = contacts(lasting)
    job = sm.submit(frame, **lasting.settings, progress=False)
    job.wait(timeout=60)
    port, key = int(lasting.base_url.rsplit(":", 1)[1].strip("/")), lasting.api_key
    lasting.stop()
    # What a service killed in the middle of matching leaves: the upload, and a journal
    # that says processing, with no deliverable yet.
    record_path = tmp_path / "sandbox" / "jobs" / f"{job.filename}.json"
    record = json.loads(record_path.read_text())
    record.update(state="processing", ready_wall=None, summary={})
    record_path.write_text(json.dumps(record))
    shutil.rmtree(tmp_path / "sandbox" / "storage" / "deliverables")
    again = restarted(tmp_path / "sandbox", port=port)
    try:
        result = sm.resume(job.filename, frame, api_key=key, progress=False, timeout=120)
        assert again.stats["jobs_done"] == 1  # matched again from the kept upload
    finally:
        again.stop()
    assert len(result.frame) == len(frame)


def test_a_wait_goes_on_across_a_restart(lasting: LocalService, tmp_path: Path) -> None:
    """A poll refused while the service is down is tried again at the next interval (a
    second refusal in a row would end the wait, saying the service is not running); the
    service restarted within the interval knows the job, and the wait completes."""
    frame = contacts(lasting)
    lasting.config.delay = 1.0
    job = sm.submit(frame, **{**lasting.settings, "poll_interval": 3.0}, progress=False)
    port = int(lasting.base_url.rsplit(":", 1)[1].strip("/"))
    lasting.stop()
    started: list[LocalService] = []
    timer = threading.Timer(0.5, lambda: started.append(restarted(tmp_path / "sandbox", port)))
    timer.start()
    try:
        result = job.wait(timeout=60).result()
    finally:
        timer.join()
        for again in started:
            again.stop()
    assert len(result.frame) == len(frame)
    assert started[0].stats["polls"] >= 1
