"""Spools: bodies in memory while small, in private anonymous temporary files beyond;
``match()`` with every upload and download spilled gives the same result, and leaves nothing."""

from __future__ import annotations

import gc
import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import OptionError
from smartmatch_pandas.deliverable import unpack_deliverable
from smartmatch_pandas.files.spool import Spool, SpooledFiles, spill_threshold
from smartmatch_pandas.job.cache import settled
from smartmatch_pandas.local import LocalService
from smartmatch_pandas.progress import ProgressEvent

from .test_results import BEST, EXTRA, tarred, zipped

LINUX = sys.platform.startswith("linux")


@pytest.fixture
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder spools spill to, for this test alone."""
    folder = tmp_path / "spill"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def open_files_in(folder: Path) -> list[tuple[str, int]]:
    """This process's open files under ``folder``: their names and permission bits."""
    found = []
    for link in Path("/proc/self/fd").iterdir():
        try:
            target, mode = str(link.readlink()), stat.S_IMODE(link.stat().st_mode)
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append((target, mode))
    return found


# -- the spool itself -------------------------------------------------------------


def test_a_spool_stays_in_memory_below_its_threshold() -> None:
    with Spool(threshold=100, digest=True) as spool:
        spool.write(b"matchback_id\n")
        spool.write(memoryview(b"0\n1\n"))
        assert not spool.spilled
        assert len(spool) == 17
        assert spool.getvalue() == b"matchback_id\n0\n1\n"
        assert spool.fingerprint == "sha256:" + hashlib.sha256(b"matchback_id\n0\n1\n").hexdigest()


def test_blocks_in_memory_are_read_in_place_as_one_stream() -> None:
    data = bytes(range(256)) * 40
    spool = Spool(threshold=len(data))
    for start, size in [(0, 0), (0, 1000), (1000, 0), (1000, 3), (1003, 9237)]:
        spool.write(data[start : start + size])
    assert spool.head(1500) == data[:1500]
    assert spool.tail(1001) == data[-1001:]
    reader = spool.reader()
    assert reader.read(999) == data[:999]
    assert reader.read(5) == data[999:1004]  # across three blocks, one of them empty
    reader.seek(-10, os.SEEK_END)
    assert reader.read() == data[-10:]
    assert spool.arrow_input(1000).read() == data[1000:]
    assert spool.getvalue() == data


def test_past_its_threshold_a_spool_moves_to_a_private_file_with_no_name(
    spill_dir: Path,
) -> None:
    body = b"".join(f"{i},Ann,02134\n".encode() for i in range(10_000))
    with Spool(threshold=1000, digest=True) as spool:
        for start in range(0, len(body), 4096):
            spool.write(body[start : start + 4096])
        assert spool.spilled
        assert spool.fingerprint == "sha256:" + hashlib.sha256(body).hexdigest()
        assert spool.getvalue() == body
        assert spool.head(6) == b"0,Ann,"
        assert spool.tail(6) == b"02134\n"
        one, two = spool.reader(), spool.reader()
        assert one.read(5) == body[:5]
        assert two.read(7) == body[:7]  # each reader has a position of its own
        assert one.read(5) == body[5:10]
        assert not list(spill_dir.iterdir())  # anonymous: no name in the folder
        if LINUX:
            (_, mode), *others = open_files_in(spill_dir)
            assert mode == 0o600
            assert not others
    if LINUX:
        assert not open_files_in(spill_dir)  # closed, so gone


def test_expected_size_spills_at_once(spill_dir: Path) -> None:
    with Spool(threshold=10, expected=11) as spool:
        assert spool.spilled
        assert spool.getvalue() == b""


def test_a_download_begun_again_truncates_the_spool(spill_dir: Path) -> None:
    for threshold in (1 << 20, 0):
        with Spool(threshold=threshold) as spool:
            spool.write(b"abcdef")
            spool.seek(spool.tell() - 2)
            spool.truncate()
            spool.write(b"XY")
            assert spool.getvalue() == b"abcdXY"
            spool.seek(0)
            spool.truncate()
            assert spool.getvalue() == b""


def test_reading_between_writes_appends_where_it_belongs_without_pread(
    spill_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "pread", raising=False)  # as on Windows
    with Spool(threshold=0) as spool:
        spool.write(b"abcdef")
        assert spool.head(2) == b"ab"
        spool.write(b"gh")
        assert spool.getvalue() == b"abcdefgh"


def test_a_closed_spool_says_so() -> None:
    spool = Spool.of(b"data")
    spool.close()
    with pytest.raises(ValueError, match="closed"):
        spool.getvalue()


def test_spooled_files_read_as_bytes_and_compare_as_a_dict(spill_dir: Path) -> None:
    big = Spool(threshold=0)
    big.write(b"x" * 100)
    files = SpooledFiles({"a.csv": Spool.of(b"matchback_id\n"), "b.txt": big})
    assert files == {"a.csv": b"matchback_id\n", "b.txt": b"x" * 100}
    assert "100 bytes" in repr(files)
    files.close()


@pytest.mark.parametrize(
    ("text", "size"),
    [("", 64 << 20), ("0", 0), ("1000", 1000), ("16M", 16 << 20), ("2 GiB", 2 << 30)],
)
def test_the_threshold_comes_from_the_environment(
    text: str, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", text)
    assert spill_threshold() == size


def test_a_threshold_that_is_no_size_is_an_option_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "lots")
    with pytest.raises(OptionError, match="SMARTMATCH_SPILL_THRESHOLD='lots' is not a size"):
        spill_threshold()


@pytest.mark.skipif(not LINUX, reason="counts open files in /proc")
@pytest.mark.parametrize("shape", ["zip in a zip", "tar.gz", "a zip holding a damaged zip"])
def test_unpacking_keeps_open_only_the_files_it_returns(
    spill_dir: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")  # every member in a file
    deliverables = {
        "zip in a zip": zipped({"inner.zip": zipped({"out.csv": BEST}), "x.txt": "report"}),
        "tar.gz": tarred({"best.csv": BEST, "extra.csv": EXTRA}),
        "a zip holding a damaged zip": zipped(
            {"out.csv": BEST, "inner.zip": zipped({"x.csv": BEST})[:-30]}
        ),
    }
    try:
        files = unpack_deliverable(deliverables[shape])
    except sm.DeliverableError:
        assert shape.startswith("a zip holding a damaged")
        assert not open_files_in(spill_dir)  # what was unpacked before is closed too
        return
    assert len(open_files_in(spill_dir)) == len(files)
    files.close()
    assert not open_files_in(spill_dir)


# -- match() with every body spilled --------------------------------------------------


class Watcher:
    """A progress callback that notes the spilled files open at each stage."""

    def __init__(self, folder: Path, stop_at: str | None = None) -> None:
        self.folder, self.stop_at = folder, stop_at
        self.seen: dict[str, list[tuple[str, int]]] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "note" or event.stage in self.seen:
            return
        self.seen[event.stage] = open_files_in(self.folder) if LINUX else []
        if event.stage == self.stop_at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("fmt", ["csv", "zip"])
def test_match_with_every_body_spilled_gives_the_same_and_leaves_nothing(
    fresh_service: LocalService,
    contacts: pd.DataFrame,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    settings: dict[str, Any] = {**fresh_service.settings, "max_matches": 3, "format": fmt}
    kept = sm.match(contacts, **settings, progress=False, cache=False)
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")
    watcher = Watcher(spill_dir)
    spilled = sm.match(contacts, **settings, progress=watcher)
    pd.testing.assert_frame_equal(spilled, kept)
    assert not list(spill_dir.iterdir())
    if LINUX:
        assert watcher.seen["uploading"], "the upload body was not in a file"
        assert watcher.seen["merging"], "the deliverable was not in a file"
        assert {mode for _, mode in watcher.seen["merging"]} == {0o600}
        # The result cache is compressed from the spilled files on a thread of its own,
        # after match() returns; once it is written, they are closed.
        settled()
        assert not open_files_in(spill_dir)
    # The same upload, spilled or not, has the same fingerprint: this one is cached.
    again = sm.match(contacts, **settings, progress=False)
    assert again.attrs["smartmatch"]["filename"] == spilled.attrs["smartmatch"]["filename"]


@pytest.mark.parametrize("stage", ["uploading", "downloading", "merging"])
def test_an_interrupt_leaves_no_spilled_file(
    fresh_service: LocalService,
    contacts: pd.DataFrame,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    stage: str,
) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")
    watcher = Watcher(spill_dir, stop_at=stage)
    with pytest.raises(KeyboardInterrupt):
        sm.match(contacts, **fresh_service.settings, progress=watcher, cache=False)
    gc.collect()  # the interrupted job and its spools are gone with the call
    assert not list(spill_dir.iterdir())
    if LINUX:
        assert not open_files_in(spill_dir)


def test_a_failed_download_leaves_no_spilled_file(
    fresh_service: LocalService,
    contacts: pd.DataFrame,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")
    job = sm.submit(contacts, **fresh_service.settings, progress=False, cache=False)
    job.wait(progress=False)
    store = fresh_service.service.store
    deliverable = next(Path(store.root, "deliverables").rglob("*.*"))
    deliverable.write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(sm.DeliverableError):
        job.result()
    del job
    gc.collect()
    assert not list(spill_dir.iterdir())
    if LINUX:
        assert not open_files_in(spill_dir)
