"""Files written safely and read back with suspicion: the job store's records, its lock
and folder, and a full disk (simulated: ENOSPC from a mock, which the local service
cannot produce) wherever the client writes."""

from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import private_files
from smartmatch_pandas.errors import DiskError, OptionError, SmartMatchWarning
from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import LocalService, sample_contacts


def _record(store: JobStore, name: str = "job_one", **values: Any) -> Path:
    """A valid record of job ``name`` written into ``store`` (``values`` changed); its path."""
    raw = {
        "format": 1,
        "filename": name,
        "service": "http://127.0.0.1:1/",
        "host": "127.0.0.1:1",
        "options": {"max_matches": 1, "format": "csv"},
        "mapping": [["first_name", "first_name"]],
        "submitted_at": "2026-12-05T10:00:00+00:00",
        "rows": 10,
        "fingerprint": "sha256:00",
        "key": "k",
        "poll_interval": 30.0,
        "state": "uploaded",
        **values,
    }
    path = store.jobs_dir / f"{name}.json"
    path.write_text(json.dumps(raw))
    return path


def test_a_truncated_record_is_listed_as_damaged_with_what_to_do(store_home: Path) -> None:
    store = JobStore()
    _record(store, "job_good")
    path = _record(store, "job_cut")
    path.write_bytes(path.read_bytes()[:40])
    listed = sm.jobs()
    assert list(listed["filename"]) == ["job_good", "job_cut"]
    damaged = listed[listed["state"] == "damaged"].iloc[0]
    assert str(path) in damaged["note"]
    assert "delete it" in damaged["note"]
    with pytest.raises(DiskError, match="damaged") as caught:
        store.load("job_cut")
    assert caught.value.filename == "job_cut"


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"rows": "ten"}, "'rows' is a str"),
        ({"options": ["x"]}, "'options' is a list"),
        ({"filename": "../../victim"}, "is not its file's name"),
        ({"filename": "job_other"}, "is not its file's name"),
    ],
)
def test_a_record_of_wrong_shape_is_damaged(
    store_home: Path, values: dict[str, Any], says: str
) -> None:
    store = JobStore()
    _record(store, "job_odd", **values)
    assert store.records() == []
    ((_, advice),) = store.damaged()
    assert says in advice


def test_a_record_cannot_point_outside_the_store(store_home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    store = JobStore()
    _record(store, "job_evil", filename=str(Path("..") / ".." / ".." / "victim"), state="failed")
    cleared = sm.clear_cache(jobs=True)
    assert cleared.jobs == 0
    assert victim.read_text() == "keep me"
    with pytest.raises(OptionError):
        store.remove("../../victim")


def test_a_planted_lock_link_is_refused_not_followed(store_home: Path, tmp_path: Path) -> None:
    store = JobStore()
    target = tmp_path / "created_by_the_link"
    (store.home / ".lock").symlink_to(target)
    with pytest.raises(DiskError, match="symbolic link"):
        store.update("job_one", state="ready")
    assert not target.exists()


def test_a_record_link_is_not_read(store_home: Path, tmp_path: Path) -> None:
    store = JobStore()
    elsewhere = _record(store, "job_one")
    moved = tmp_path / "job_one.json"
    elsewhere.rename(moved)
    elsewhere.symlink_to(moved)
    assert store.records() == []
    with pytest.raises(DiskError):
        store.load("job_one")


def test_a_loose_store_folder_is_warned_about(tmp_path: Path, monkeypatch: Any) -> None:
    home = tmp_path / "shared"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    monkeypatch.setenv("SMARTMATCH_HOME", str(home))
    with pytest.warns(SmartMatchWarning, match="chmod 700"):
        JobStore()
    home.chmod(0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        JobStore()


def _disk_full(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_leaves_the_record_as_it_was(store_home: Path, monkeypatch: Any) -> None:
    store = JobStore()
    path = _record(store, "job_one")
    before = path.read_bytes()
    monkeypatch.setattr(private_files.os, "fsync", _disk_full)
    with pytest.raises(DiskError, match="No space left on device") as caught:
        store.update("job_one", state="ready")
    assert caught.value.filename == "job_one"
    assert "free some space" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in store.jobs_dir.iterdir()) == ["job_one.json"]


@pytest.mark.network
def test_a_full_disk_during_the_download_is_resumable(monkeypatch: Any) -> None:
    with LocalService(poll_interval=0.1, voters=2_000, seed=0) as service:
        frame = sample_contacts(service.voters, 50, seed=2).drop(columns="true_voterbase_id")
        job = sm.submit(frame, **service.settings, progress=False, cache=False)
        monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")  # every byte to a temporary file

        class FullFile:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                pass

            write = flush = truncate = seek = _disk_full

            def close(self) -> None:
                pass

        with monkeypatch.context() as patch:
            patch.setattr("smartmatch_pandas.files.spool.tempfile.TemporaryFile", FullFile)
            with pytest.raises(DiskError, match="TMPDIR") as caught:
                job.wait(progress=False).result()
        filename = caught.value.filename
        assert filename is not None
        assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
        monkeypatch.delenv("SMARTMATCH_SPILL_THRESHOLD")  # no temporary file left to the GC
        result = sm.resume(filename, frame, api_key=service.api_key, progress=False)
        assert isinstance(result.frame, pd.DataFrame)
        assert len(result.frame) == 50


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_full_disk_while_writing_a_list_leaves_nothing(
    tmp_path: Path, monkeypatch: Any, suffix: str
) -> None:
    from smartmatch_pandas.files import tables

    frame = pd.DataFrame({"first_name": ["Ann", "Bo"], "vb.voterbase_id": ["X1", None]})
    target = tmp_path / f"out{suffix}"
    monkeypatch.setattr(private_files.os, "fsync", _disk_full)
    with pytest.raises(DiskError, match="No space left on device") as caught:
        tables.write_table(frame, target)
    assert str(target) in str(caught.value)
    assert list(tmp_path.iterdir()) == []
