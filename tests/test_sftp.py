"""Results over SFTP, end to end: register and upload over HTTP, fetch from the SFTP drop.

Every test talks to a real local service and its real SFTP server over
127.0.0.1 sockets. Faults are real too: a partly written zip (the
service's ``drop_pause`` switch), a relay that cuts the TCP connection in
the middle of a download, a host key that is not the one known.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.job.vetting import DeliverableCheck
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.local.sftp_server import known_hosts_line, load_or_create_host_key
from smartmatch_pandas.wire import sftp as sftp

from .conftest import POLL
from .test_match import assert_merged_exactly


@pytest.fixture(autouse=True)
def _no_sftp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own SFTP account."""
    for variable in sftp.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def drop_service() -> Iterator[LocalService]:
    """A local service that also serves its drop folder over SFTP."""
    with LocalService(poll_interval=POLL, voters=20_000, seed=0, sftp_port=0) as running:
        yield running


def quick(service: LocalService, **overrides: Any) -> dict[str, Any]:
    """The service's SFTP settings, looking often (a local server asks for no gentleness)."""
    return {**service.sftp_settings, "poll_interval": 0.2, "settle": 0.05, **overrides}


def submit(frame: pd.DataFrame, service: LocalService, **options: Any) -> sm.Job:
    return sm.submit(frame, **options, **service.settings, progress=False)


# -- the happy path ----------------------------------------------------------------


@pytest.mark.parametrize("max_matches", [1, 3])
def test_results_over_sftp_merge_back_exactly(
    contacts: pd.DataFrame, drop_service: LocalService, max_matches: int
) -> None:
    polls_before = drop_service.stats.get("polls", 0)
    job = submit(contacts, drop_service, max_matches=max_matches)
    result = job.wait(via="sftp", sftp=quick(drop_service), progress=False).result()

    assert drop_service.stats.get("polls", 0) == polls_before  # the poll endpoint was never used
    assert job.state == "downloaded"
    assert_merged_exactly(contacts, result.frame)
    by_poll = submit(contacts, drop_service, max_matches=max_matches).wait(progress=False)
    pd.testing.assert_frame_equal(result.frame, by_poll.result().frame)
    pd.testing.assert_frame_equal(result.additional, by_poll.result().additional)
    assert "summary report" in (result.summary.report or "")


def test_settings_from_the_environment(
    contacts: pd.DataFrame, drop_service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in drop_service.environ.items():
        monkeypatch.setenv(name, value)
    assert drop_service.environ["SMARTMATCH_SFTP_POLL_INTERVAL"] == f"{POLL:g}"
    job = submit(contacts, drop_service)
    enriched = job.wait(via="sftp", sftp={"settle": 0.05}, progress=False).result().frame
    assert_merged_exactly(contacts, enriched)
    names = [f.name for f in sftp.list_deliverables(job.filename)]
    assert names == [f"{job.filename}.zip"]


def test_found_whatever_its_name(contacts: pd.DataFrame, drop_service: LocalService) -> None:
    job = submit(contacts, drop_service, filename="renamed_job_1")
    job.wait(progress=False)  # done: its zip is in the drop folder
    drop = drop_service.drop_folder
    original = (drop / "renamed_job_1.zip").read_bytes()
    (drop / "renamed_job_1.zip").rename(drop / "2026-11-28_RENAMED_JOB_1_output.zip")
    (drop / "renamed_job_10.zip").write_bytes(b"another job's file")
    try:
        check = DeliverableCheck("renamed_job_1", rows=len(contacts))
        spool = sftp.fetch_deliverable("renamed_job_1", vet=check, **quick(drop_service))
        assert spool is not None
        with spool:
            assert spool.getvalue() == original
        assert check.accepted is not None
        assert check.accepted.best.num_rows == len(contacts)
        assert [f.name for f in sftp.list_deliverables("renamed_job_1", **quick(drop_service))] == [
            "2026-11-28_RENAMED_JOB_1_output.zip"
        ]
    finally:
        (drop / "renamed_job_10.zip").unlink()


def test_a_file_that_does_not_fit_the_job_is_not_taken(contacts: pd.DataFrame) -> None:
    with LocalService(poll_interval=POLL, voters=20_000, sftp_port=0, delay=0.5) as service:
        other = submit(contacts.iloc[:50], service, filename="fit_other")
        other.wait(progress=False)
        # Named after the next job, but another job's results (50 rows, not 200).
        drop = service.drop_folder
        shutil.copy(drop / "fit_other.zip", drop / "fit_mine_v0.zip")
        job = submit(contacts, service, filename="fit_mine")
        with pytest.warns(sm.SmartMatchWarning) as warned:
            result = job.wait(via="sftp", sftp=quick(service), progress=False).result()
    assert_merged_exactly(contacts, result.frame)
    assert len(warned) == 1  # turned down once, not at every look
    message = str(warned[0].message)
    assert "fit_mine_v0.zip" in message
    assert "was not taken: its best-match file has 50 rows" in message
    assert "not one for each of the 200 rows" in message


def test_the_download_is_spooled_and_read_once(
    contacts: pd.DataFrame, drop_service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartmatch_pandas.job import reading, vetting

    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")  # every spool to a private file
    job = submit(contacts, drop_service, filename="spooled_job")
    job.wait(progress=False)  # done: its zip is in the drop folder
    original = (drop_service.drop_folder / "spooled_job.zip").read_bytes()
    spool = sftp.fetch_deliverable("spooled_job", **quick(drop_service))
    assert spool is not None
    with spool:
        assert spool.spilled
        assert spool.getvalue() == original
    assert spool.closed

    calls: list[str] = []
    for module in (reading, vetting):
        for name in ("unpack_deliverable", "read_files"):
            real = getattr(module, name)

            def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
                calls.append(_name)
                return _real(*args, **kw)

            monkeypatch.setattr(module, name, counted)
    again = submit(contacts, drop_service, filename="spooled_job_2")
    result = again.wait(via="sftp", sftp=quick(drop_service), progress=False).result()
    assert_merged_exactly(contacts, result.frame)
    assert sorted(calls) == ["read_files", "unpack_deliverable"]  # unpacked and parsed once


def test_completeness_is_checked_without_holding_the_file() -> None:
    import gzip
    import io
    import zipfile

    from smartmatch_pandas.files.spool import Spool

    body = b"matchback_id,vb.voterbase_id\n" + b"".join(b"%d,x\n" % i for i in range(5000))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("job.csv", body)
    for whole in (packed.getvalue(), gzip.compress(body)):
        with Spool(threshold=0) as spool:  # in a temporary file
            spool.write(whole)
            assert sftp.incomplete(spool) is None
        with Spool(threshold=0) as spool:
            spool.write(whole[: len(whole) // 2])
            assert "not a complete archive yet" in (sftp.incomplete(spool) or "")
    with Spool() as plain:
        plain.write(body)
        assert sftp.incomplete(plain) is None  # not an archive: nothing to check


# -- faults ----------------------------------------------------------------------------


def test_partly_written_deliverable_is_not_taken(
    contacts: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    with LocalService(poll_interval=POLL, voters=20_000, sftp_port=0, drop_pause=2.5) as service:
        job = submit(contacts, service)
        partial = service.drop_folder / f"{job.filename}.zip"
        until = time.monotonic() + 10
        while not (partial.exists() and partial.stat().st_size) and time.monotonic() < until:
            time.sleep(0.02)
        half = partial.stat().st_size
        with caplog.at_level(logging.INFO, logger="smartmatch_pandas.wire.sftp"):
            check = DeliverableCheck(job.filename, rows=len(contacts))
            taken = sftp.fetch_deliverable(job.filename, vet=check, **quick(service))
            assert taken is None
            assert partial.stat().st_size == half  # it really was half written when looked at
            assert "still being written" in caplog.text
            result = job.wait(via="sftp", sftp=quick(service), progress=False).result()
        assert partial.stat().st_size > half
        assert_merged_exactly(contacts, result.frame)


class CuttingRelay:
    """A TCP relay to ``port`` that cuts its first connection after ``cut_after`` bytes down.

    The cut is a real one: both sockets are shut down mid-stream, as when a
    network drops.
    """

    def __init__(self, port: int, cut_after: int) -> None:
        self.target, self.cut_after = port, cut_after
        self.connections = 0
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            limit = self.cut_after if self.connections == 0 else None
            self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, limit), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        moved = 0
        try:
            while data := source.recv(16384):
                if limit is not None and moved + len(data) > limit:
                    sink.sendall(data[: limit - moved])
                    self.cut.set()
                    break
                sink.sendall(data)
                moved += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_dropped_connection_during_download_is_resumed(
    drop_service: LocalService, caplog: pytest.LogCaptureFixture
) -> None:
    frame = sample_contacts(drop_service.voters, 3000, seed=5).drop(columns="true_voterbase_id")
    job = submit(frame, drop_service)
    job.wait(progress=False)  # ready: the zip (about 190 kB) is in the drop folder
    size = (drop_service.drop_folder / f"{job.filename}.zip").stat().st_size
    assert size > 150_000
    relay = CuttingRelay(drop_service.sftp_settings["port"], cut_after=80_000)
    logins = drop_service.stats.get("sftp_logins", 0)
    try:
        with caplog.at_level(logging.INFO, logger="smartmatch_pandas.wire.sftp"):
            job.wait(via="sftp", sftp=quick(drop_service, port=relay.port), progress=False)
    finally:
        relay.close()
    assert relay.cut.is_set()
    assert relay.connections == 2
    assert drop_service.stats["sftp_logins"] == logins + 2
    assert f"resuming the download of {job.filename}.zip at byte" in caplog.text
    resumed_at = int(caplog.text.split(" at byte ")[1].split()[0])
    assert 0 < resumed_at < size  # it went on from there, not from the start
    assert_merged_exactly(frame, job.result().frame)


def test_connection_dropped_while_waiting_is_reopened(contacts: pd.DataFrame) -> None:
    with LocalService(poll_interval=POLL, voters=20_000, sftp_port=0, delay=1.2) as service:
        job = submit(contacts, service)
        assert service.sftp is not None
        cutter = threading.Timer(0.5, service.sftp.drop_connections)
        cutter.start()
        result = job.wait(via="sftp", sftp=quick(service), progress=False).result()
        cutter.join()
        assert service.stats["sftp_logins"] >= 2
    assert_merged_exactly(contacts, result.frame)


def test_not_there_in_time(contacts: pd.DataFrame) -> None:
    with LocalService(poll_interval=POLL, voters=20_000, sftp_port=0, delay=60) as service:
        job = submit(contacts, service)
        started = time.monotonic()
        with pytest.raises(sm.JobTimeoutError, match="was not in sftp://") as caught:
            job.wait(timeout=0.6, via="sftp", sftp=quick(service), progress=False)
        assert time.monotonic() - started < 3
        assert caught.value.filename == job.filename
        assert "smartmatch_pandas.resume(" in str(caught.value)


# -- who is trusted ----------------------------------------------------------------------


def test_unknown_host_key_is_refused_before_logging_in(
    drop_service: LocalService, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    settings = {**quick(drop_service), "trust_host_key": None, "known_hosts": known}
    attempts = drop_service.stats.get("sftp_logins", 0) + drop_service.stats.get(
        "sftp_auth_failures", 0
    )
    with pytest.raises(sm.HostKeyError, match="not in your known hosts") as caught:
        sftp.list_deliverables(**settings)
    assert drop_service.sftp is not None
    assert drop_service.sftp.host_key.fingerprint in str(caught.value)
    assert drop_service.sftp.known_hosts_line in str(caught.value)  # the line to add, once checked
    after = drop_service.stats.get("sftp_logins", 0) + drop_service.stats.get(
        "sftp_auth_failures", 0
    )
    assert after == attempts  # no password was sent

    known.write_text(drop_service.sftp.known_hosts_line + "\n")
    assert isinstance(sftp.list_deliverables(**settings), list)
    fingerprint = {**settings, "known_hosts": tmp_path / "none", "trust_host_key": None}
    fingerprint["trust_host_key"] = drop_service.sftp.host_key.fingerprint
    assert isinstance(sftp.list_deliverables(**fingerprint), list)


def test_changed_host_key_is_refused(drop_service: LocalService, tmp_path: Path) -> None:
    assert drop_service.sftp is not None
    port = drop_service.sftp.port
    impostor = load_or_create_host_key(tmp_path / "other_key")
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_line("127.0.0.1", port, impostor) + "\n")
    settings = {**quick(drop_service), "trust_host_key": None, "known_hosts": known}
    with pytest.raises(sm.HostKeyError, match="HAS CHANGED") as caught:
        sftp.list_deliverables(**settings)
    assert impostor.fingerprint in str(caught.value)
    assert drop_service.sftp.host_key.fingerprint in str(caught.value)

    pinned = {**quick(drop_service), "trust_host_key": impostor.fingerprint}
    with pytest.raises(sm.HostKeyError, match="not the key you trusted"):
        sftp.list_deliverables(**pinned)


@pytest.mark.network
def test_the_host_key_is_kept_private_and_across_restarts(tmp_path: Path) -> None:
    with LocalService(voters=20_000, data_dir=tmp_path, sftp_port=0) as first:
        line = first.sftp_settings["trust_host_key"].split(" ", 1)[1]
    key_file = tmp_path / "sftp_host_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    with LocalService(voters=20_000, data_dir=tmp_path, sftp_port=0) as second:
        assert second.sftp_settings["trust_host_key"].split(" ", 1)[1] == line


def test_wrong_credentials_are_refused(drop_service: LocalService) -> None:
    failures = drop_service.stats.get("sftp_auth_failures", 0)
    wrong = "not-the-password-1234"
    with pytest.raises(sm.AuthorizationError, match="refused user 'smartmatch'") as caught:
        sftp.list_deliverables(**quick(drop_service, password=wrong))
    assert wrong not in str(caught.value)
    assert "TS_SFTP_PASSWORD" in str(caught.value)
    with pytest.raises(sm.AuthorizationError, match="refused user 'somebody'"):
        sftp.list_deliverables(**quick(drop_service, username="somebody"))
    assert drop_service.stats["sftp_auth_failures"] >= failures + 2


def test_a_private_key_logs_in(contacts: pd.DataFrame, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    with LocalService(
        poll_interval=POLL, voters=20_000, sftp_port=0, sftp_authorized_keys=[public.decode()]
    ) as service:
        by_key = {**quick(service), "password": None, "key_file": key_file}
        with pytest.raises(sm.OptionError, match="TS_SFTP_KEY_PASSPHRASE"):
            sftp.list_deliverables(**by_key)
        with pytest.raises(sm.OptionError, match="is the passphrase right") as caught:
            sftp.list_deliverables(**by_key, key_passphrase="wrong words")
        assert "wrong words" not in str(caught.value)
        by_key["key_passphrase"] = "open sesame"
        job = submit(contacts, service)
        enriched = job.wait(via="sftp", sftp=by_key, progress=False).result().frame
        assert_merged_exactly(contacts, enriched)


# -- settings -----------------------------------------------------------------------------


def test_secrets_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_SFTP_USERNAME", "acme")
    monkeypatch.setenv("TS_SFTP_PASSWORD", "hunter2-hunter2")
    settings = sftp.SFTPSettings.resolve(key_passphrase="phrase-phrase")
    assert (settings.host, settings.port, settings.folder) == (
        "transfer.targetsmart.com",
        22,
        "smartmatch",
    )
    assert settings.poll_interval == 180
    for text in (repr(settings), str(settings), repr(sftp.SFTPDrop(settings))):
        assert "hunter2" not in text
        assert "phrase-phrase" not in text
    assert "hunter2" not in sm.wire.secrets.redact("login hunter2-hunter2 failed")
    with pytest.raises(TypeError):
        pickle.dumps(settings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "TS_SFTP_USERNAME"),
        ({"username": "acme"}, "TS_SFTP_PASSWORD"),
        ({"username": "acme", "password": "x", "port": 0}, "port=0"),
        ({"username": "acme", "password": "x", "poll_interval": 10}, "too often"),
        ({"username": "acme", "password": "x", "trust_host_key": "yes"}, "trust_host_key"),
        ({"username": "acme", "password": "x", "hostname": "h"}, "unknown SFTP setting"),
    ],
)
def test_settings_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(sm.OptionError, match=message):
        sftp.SFTPSettings.resolve(options)


def test_environment_values_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_SFTP_PORT", "twenty-two")
    with pytest.raises(sm.OptionError, match="TS_SFTP_PORT"):
        sftp.SFTPSettings.resolve(username="acme", password="x")


def test_via_is_checked(contacts: pd.DataFrame, drop_service: LocalService) -> None:
    job = submit(contacts.iloc[:5], drop_service)
    with pytest.raises(sm.OptionError, match="via='ftp'"):
        job.wait(via="ftp", progress=False)  # type: ignore[arg-type]
    with pytest.raises(sm.OptionError, match="only with via='sftp'"):
        job.wait(sftp=quick(drop_service), progress=False)


@pytest.mark.parametrize(
    ("name", "mine"),
    [
        ("job_1.zip", True),
        ("JOB_1.ZIP", True),
        ("job_1_output.zip", True),
        ("2026-11-28-job_1.csv.zip", True),
        ("job_10.zip", False),
        ("xjob_1.zip", False),
        ("ajob_1b.zip", False),
    ],
)
def test_names_that_belong_to_a_job(name: str, mine: bool) -> None:
    assert sftp.belongs_to(name, "job_1") is mine


def test_partial_and_hidden_files_are_not_deliverables() -> None:
    assert sftp.is_deliverable_name("job_1.zip")
    for name in (".job_1.zip.partial", "job_1.zip.part", "job_1.zip.filepart", ".job_1.zip"):
        assert not sftp.is_deliverable_name(name)


def test_a_missing_folder_is_named(drop_service: LocalService) -> None:
    with pytest.raises(sm.OptionError, match="no folder 'results' at sftp://smartmatch@"):
        sftp.list_deliverables(**quick(drop_service, folder="results"))


# -- resuming by SFTP --------------------------------------------------------------------


def test_resume_via_sftp_merges_back_without_polling(
    contacts: pd.DataFrame, drop_service: LocalService
) -> None:
    job = submit(contacts, drop_service, max_matches=2, cache=False)
    polls_before = drop_service.stats.get("polls", 0)
    result = sm.resume(
        job.filename,
        contacts,
        api_key=drop_service.api_key,
        via="sftp",
        sftp=quick(drop_service),
        progress=False,
    )
    assert drop_service.stats.get("polls", 0) == polls_before
    assert_merged_exactly(contacts, result.frame)
    assert len(result.additional) > 0


def test_a_file_resumed_via_sftp_streams_without_polling(
    contacts: pd.DataFrame, drop_service: LocalService, tmp_path: Path
) -> None:
    from smartmatch_pandas.verbs.large_files import resume_file

    given, written = tmp_path / "in.parquet", tmp_path / "out.parquet"
    contacts.to_parquet(given)
    job = submit(contacts, drop_service, cache=False)
    polls_before = drop_service.stats.get("polls", 0)
    done = resume_file(
        job.filename,
        given,
        written,
        api_key=drop_service.api_key,
        via="sftp",
        sftp=quick(drop_service),
        progress=False,
    )
    assert drop_service.stats.get("polls", 0) == polls_before
    assert done.written == len(contacts)
    pd.testing.assert_series_equal(
        pd.read_parquet(written)["vb.voterbase_id"],
        job.wait(progress=False).result().frame["vb.voterbase_id"].reset_index(drop=True),
        check_dtype=False,
    )


@pytest.mark.subprocess
def test_resume_via_sftp_on_the_command_line(
    contacts: pd.DataFrame, drop_service: LocalService, tmp_path: Path, store_home: Path
) -> None:
    import os
    import subprocess
    import sys

    given, written = tmp_path / "in.parquet", tmp_path / "out.parquet"
    contacts.to_parquet(given)
    job = submit(contacts, drop_service, cache=False)
    polls_before = drop_service.stats.get("polls", 0)
    env = {**os.environ, **drop_service.environ, "SMARTMATCH_HOME": str(store_home)}
    env["SMARTMATCH_SFTP_POLL_INTERVAL"] = "0.2"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartmatch_pandas.cli",
            "resume",
            job.filename,
            "--input",
            str(given),
            "-o",
            str(written),
            "--via",
            "sftp",
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert drop_service.stats.get("polls", 0) == polls_before
    pd.testing.assert_series_equal(
        pd.read_parquet(written)["vb.voterbase_id"],
        job.wait(progress=False).result().frame["vb.voterbase_id"].reset_index(drop=True),
        check_dtype=False,
    )
