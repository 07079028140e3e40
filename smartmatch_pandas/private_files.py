"""Files readable by the user alone, written whole or not at all.

Job records, cached results, output lists and the local service's stored
objects hold contact data or job details. Each is written to a temporary
file beside its place and renamed onto it once whole, so a reader sees the
old file or the new, never half of one; a failure leaves nothing behind.

The temporary file is made by :func:`tempfile.mkstemp` in the target's own
folder: created exclusively (a symbolic link planted under its name is never
followed), with mode 0600 from its first byte whatever the umask, and fsynced
before the rename. The rename replaces whatever is at the target (a link
included, not followed), and the file keeps its mode 0600.

Shared by the client and the local service, like :mod:`smartmatch_pandas.paths`:
it imports nothing of either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: How a temporary file's name ends: it starts with a dot, so listings skip it too.
PARTIAL_SUFFIX = ".partial"


class PrivateFile:
    """A private temporary file beside ``target``, renamed onto it by :meth:`commit`.

    Write through :attr:`file`, or through :attr:`path` for writers that open a
    file by name (Parquet, CSV); then :meth:`commit`, or :meth:`discard`.

    Parameters
    ----------
    target
        Where the file goes once whole; its folder must exist.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target)
        fd, name = tempfile.mkstemp(
            dir=self.target.parent, prefix=f".{self.target.name}.", suffix=PARTIAL_SUFFIX
        )
        #: The temporary file's name.
        self.path = Path(name)
        #: The temporary file, open for writing.
        self.file: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Make what was written durable, then rename it onto the target."""
        try:
            self.file.flush()
            # Any writer's data is the file's: an fsync through this descriptor covers it.
            os.fsync(self.file.fileno())
            self.file.close()
            self.path.replace(self.target)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        self.file.close()
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def private_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """The name of a private temporary file beside ``target``, renamed onto it if the
    block ends without an error (and removed if not)."""
    pending = PrivateFile(target)
    try:
        yield pending.path
    except BaseException:
        pending.discard()
        raise
    pending.commit()


@contextlib.contextmanager
def private_file(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A private temporary file beside ``target``, open for writing, renamed onto it if
    the block ends without an error (and removed if not)."""
    pending = PrivateFile(target)
    try:
        yield pending.file
    except BaseException:
        pending.discard()
        raise
    pending.commit()


def make_private_dirs(path: str | os.PathLike[str]) -> Path:
    """Make the folder ``path`` and every folder missing above it, each readable by the
    user alone (0700), whatever the umask.

    ``Path.mkdir(parents=True, mode=0o700)`` gives that mode to the last folder only: the
    ones it makes above (``~/.cache`` on a fresh account) get the umask's, 0755 as a rule.
    Folders that exist already are left as they are.

    Parameters
    ----------
    path
        The folder.

    Returns
    -------
    Path
        ``path``.
    """
    target = Path(path)
    for folder in [*reversed(target.parents), target]:
        if folder.exists():
            continue
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
        if os.name == "posix":
            folder.chmod(0o700)  # a umask such as 0277 would have taken the owner's bits
    return target


def write_private(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` privately, atomically and durably."""
    with private_file(target) as out:
        out.write(data)
