"""The one private atomic writer: 0600 from the first byte, whole or not at all,
never through a symbolic link."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from smartmatch_pandas.private_files import private_file, private_path, write_private

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
