"""The one private atomic writer: 0600 from the first byte, whole or not at all,
never through a symbolic link."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import voter_file
from smartmatch_pandas.private_files import (
    make_private_dirs,
    private_file,
    private_path,
    write_private,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and links")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_a_private_file_is_0600_from_its_first_byte(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with private_file(tmp_path / "out.csv") as out:
            out.write(b"a")
            out.flush()
            (partial,) = tmp_path.glob(".out.csv.*.partial")
            assert _mode(partial) == 0o600
    finally:
        os.umask(old)
    assert (tmp_path / "out.csv").read_bytes() == b"a"
    assert _mode(tmp_path / "out.csv") == 0o600


@posix_only
def test_an_older_file_is_replaced_whatever_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


@posix_only
def test_a_link_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"untouched")
    link = tmp_path / "out.parquet"
    link.symlink_to(elsewhere)
    write_private(link, b"data")
    assert not link.is_symlink()
    assert link.read_bytes() == b"data"
    assert elsewhere.read_bytes() == b"untouched"


def _stop_half_way(target: Path, *, by_name: bool) -> None:
    if by_name:
        with private_path(target) as partial:
            partial.write_bytes(b"half")
            raise RuntimeError("stopped")
    with private_file(target) as out:
        out.write(b"half")
        raise RuntimeError("stopped")


@pytest.mark.parametrize("by_name", [False, True])
def test_a_failure_leaves_the_old_file_and_nothing_else(tmp_path: Path, by_name: bool) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="stopped"):
        _stop_half_way(target, by_name=by_name)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_writer_that_opens_by_name_is_committed_whole(tmp_path: Path) -> None:
    with private_path(tmp_path / "t.bin") as partial:
        partial.write_bytes(b"by name")
    assert (tmp_path / "t.bin").read_bytes() == b"by name"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin"]


@posix_only
def test_every_folder_made_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    previous = os.umask(0o022)
    try:
        make_private_dirs(existing / "a" / "b" / "c")
    finally:
        os.umask(previous)
    assert _mode(existing) == 0o755  # not made here: left as it was
    for folder in (existing / "a", existing / "a" / "b", existing / "a" / "b" / "c"):
        assert _mode(folder) == 0o700, folder


@posix_only
def test_the_voter_file_cache_made_first_leaves_the_cache_folders_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's order on a fresh account: the local service first (its voter-file
    # cache makes ~/.cache), then the client's job store, under the usual umask.
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CACHE_HOME", "SMARTMATCH_VOTERFILE_CACHE", "SMARTMATCH_HOME"):
        monkeypatch.delenv(name, raising=False)
    previous = os.umask(0o022)
    try:
        voter_file(300, seed=5)
        JobStore()
    finally:
        os.umask(previous)
    cache = tmp_path / ".cache"
    made = [cache, cache / "smartmatch-pandas", cache / "smartmatch-pandas" / "voterfiles"]
    made += [cache / "smartmatch-pandas" / "jobs", cache / "smartmatch-pandas" / "results"]
    assert {str(f.relative_to(tmp_path)): oct(_mode(f)) for f in made} == {
        str(f.relative_to(tmp_path)): "0o700" for f in made
    }
