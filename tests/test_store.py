"""The job store: where it lives, who may read it, and what it never holds."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.job.cache import PendingResult, ResultCache, settled
from smartmatch_pandas.job.store import (
    JobRecord,
    JobStore,
    label_matches,
    label_to_json,
    store_home,
)
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.preparation.mapping import ColumnMapping


def test_smartmatch_home_moves_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMATCH_HOME", str(tmp_path / "elsewhere"))
    assert store_home() == tmp_path / "elsewhere"
    assert JobStore().home == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, "HOME/.cache/smartmatch-pandas"),
        ("linux", {"XDG_CACHE_HOME": "/xdg/cache"}, "/xdg/cache/smartmatch-pandas"),
        ("linux", {"XDG_CACHE_HOME": "relative/ignored"}, "HOME/.cache/smartmatch-pandas"),
        ("freebsd14", {}, "HOME/.cache/smartmatch-pandas"),
        ("darwin", {}, "HOME/Library/Caches/smartmatch-pandas"),
        ("win32", {"LOCALAPPDATA": "/appdata/local"}, "/appdata/local/smartmatch-pandas/Cache"),
        ("win32", {}, "HOME/AppData/Local/smartmatch-pandas/Cache"),
    ],
)
def test_the_default_is_the_users_cache_folder(
    platform: str,
    environ: dict[str, str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SMARTMATCH_HOME", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", platform)
    assert store_home() == Path(expected.replace("HOME", str(tmp_path)))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_folders_and_files_are_readable_by_the_user_alone(
    service: LocalService, contacts_frame: pd.DataFrame, store_home: Path
) -> None:
    sm.match(contacts_frame, **service.settings, progress=False)
    settled()  # the result is kept on a thread of its own: wait until it is written
    paths = [store_home, *store_home.rglob("*")]
    assert {p.name for p in paths} >= {"jobs", "results", ".lock"}
    assert any(p.suffix == ".parquet" for p in paths)
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


@pytest.fixture
def contacts_frame(service: LocalService) -> pd.DataFrame:
    return sample_contacts(service.voters, 30, seed=8).drop(columns="true_voterbase_id")


def test_records_hold_no_key_no_url_and_no_contact_data(
    service: LocalService, contacts_frame: pd.DataFrame, store_home: Path
) -> None:
    job = sm.submit(contacts_frame, max_matches=2, **service.settings, progress=False)
    job.wait(progress=False).result()
    text = (store_home / "jobs" / f"{job.filename}.json").read_text()
    record = json.loads(text)
    assert record["state"] == "downloaded"
    assert record["rows"] == 30
    assert record["fingerprint"].startswith("sha256:")
    assert record["host"] == service.base_url.split("/")[2]
    assert service.api_key not in text
    assert "X-Amz" not in text
    assert "storage/" not in text
    for column in ("first_name", "last_name", "email", "phone", "address1"):
        for value in contacts_frame[column].dropna():
            assert f'"{value}"' not in text, (column, value)


def test_an_unusable_store_stops_before_any_request(
    fresh_service: LocalService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SMARTMATCH_HOME", str(blocker / "store"))
    frame = sample_contacts(fresh_service.voters, 5, seed=1).drop(columns="true_voterbase_id")
    with pytest.raises(sm.OptionError, match="set SMARTMATCH_HOME to a folder you can write"):
        sm.submit(frame, **fresh_service.settings, progress=False)
    assert fresh_service.stats.get("registrations", 0) == 0


def test_taking_a_poll_turn_holds_the_key_for_the_interval(store_home: Path) -> None:
    store = JobStore()
    assert store.take_poll_turn("host/key", "claimed", 0.3) == 0.0
    assert 0.0 < store.take_poll_turn("host/key", "other", 0.3) <= 0.3  # the key, any job
    assert store.take_poll_turn("host/another_key", "other", 0.3) == 0.0
    store.poll_answered("host/key", "claimed", 0.2, done=False)
    assert store.take_poll_turn("host/key", "claimed", 0.3) > 0.1
    time.sleep(0.25)
    assert store.take_poll_turn("host/key", "claimed", 0.3) > 0  # other has waited longer
    assert store.take_poll_turn("host/key", "other", 0.3) == 0.0


def test_the_poll_budget_is_shared_through_the_store(store_home: Path) -> None:
    # Two stores on one folder stand for two processes: one queue, longest waiting first.
    mine, theirs = JobStore(), JobStore()
    assert mine.take_poll_turn("h/k", "a", 0.05) == 0.0
    assert theirs.take_poll_turn("h/k", "b", 0.05, waited=5.0) > 0
    mine.poll_answered("h/k", "a", 0.0, done=False)
    assert mine.take_poll_turn("h/k", "a", 0.05) > 0  # b has waited longer
    assert theirs.take_poll_turn("h/k", "b", 0.05) == 0.0
    theirs.poll_answered("h/k", "b", 60.0, done=True)  # a 429's Retry-After, say
    assert mine.take_poll_turn("h/k", "a", 0.05) > 59  # the whole key waits
    polls = json.loads((store_home / "polls.json").read_text())
    assert list(polls) == ["h/k"]
    assert list(polls["h/k"]["waiting"]) == ["a"]


def test_the_key_salt_is_private_and_kept(store_home: Path) -> None:
    salt = JobStore().key_salt()
    assert len(salt) >= 32
    assert JobStore().key_salt() == salt
    if os.name == "posix":
        assert (store_home / ".key_salt").stat().st_mode & 0o777 == 0o600


def test_unreadable_records_do_not_hide_the_others(store_home: Path) -> None:
    store = JobStore()
    store.save(_record("good"))
    (store.jobs_dir / "bad.json").write_text("{not json")
    assert [r.filename for r in store.records()] == ["good"]


def test_column_labels_of_any_kind_are_recorded(store_home: Path) -> None:
    for label in ["zip", 3, 2.5, True, None, ("a", 1)]:
        stored = json.loads(json.dumps(label_to_json(label)))
        assert label_matches(stored, label)
    assert not label_matches(label_to_json(1), True)
    assert not label_matches(label_to_json("1"), 1)


def _record(filename: str) -> JobRecord:
    return JobRecord.new(
        filename=filename,
        base_url="http://user:secret@127.0.0.1:9/base?q=1",
        options=sm.MatchOptions(filename=filename),
        mapping=ColumnMapping((("zip", "zip"),)),
        rows=1,
        fingerprint="sha256:00",
        key="k",
        poll_interval=0.3,
        cache=True,
    )


def test_the_service_is_stored_without_credentials(store_home: Path) -> None:
    record = _record("creds")
    assert record.service == "http://127.0.0.1:9/base"
    assert record.host == "127.0.0.1:9"
    assert "secret" not in record.to_json().decode()


class _HeldFile(Mapping[str, bytes]):
    """One deliverable file whose bytes are handed over only once ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __getitem__(self, name: str) -> bytes:
        self.release.wait(30)
        return b"voterbase_id\n1\n"

    def __iter__(self) -> Iterator[str]:
        return iter(["deliverable.csv"])

    def __len__(self) -> int:
        return 1


def test_a_result_being_cached_outlives_a_daemon_thread_that_started_it(tmp_path: Path) -> None:
    # The form reads results on a daemon thread; the write it starts must still hold the
    # end of the process until the file is whole (a daemon writer would be cut short).
    files = _HeldFile()
    started: list[PendingResult] = []
    starter = threading.Thread(
        target=lambda: started.append(ResultCache(tmp_path).saving("k", "f", files)),
        daemon=True,
    )
    starter.start()
    starter.join(10)
    writers = [t for t in threading.enumerate() if t.name == "smartmatch-result-cache"]
    files.release.set()
    started[0].wait()
    assert writers
    assert not any(t.daemon for t in writers)
    assert (tmp_path / "k.parquet").exists()
