"""Bytes written once, then read: in memory while small, in a private temporary file beyond.

The upload body and the deliverable grow with the contact list and can be
larger than the memory a process may use. A :class:`Spool` keeps them in
memory up to the *spill threshold*, and beyond it in an anonymous temporary
file (:func:`tempfile.TemporaryFile`): readable by the user alone (0600),
with no name on Linux and unlinked at once elsewhere, so it is gone as soon
as it is closed or the process ends, whether the work succeeded, failed, was
interrupted or was killed. Contact data is never left on disk.

The threshold is ``SMARTMATCH_SPILL_THRESHOLD`` (bytes, or with a ``K``,
``M`` or ``G`` suffix; ``0`` spills everything), 64 MiB by default; the
folder is the system's temporary folder (``TMPDIR`` moves it).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import IO, Any, Final, cast

import pyarrow as pa

from ..errors import OptionError

#: The environment variable that sets the spill threshold.
THRESHOLD_ENV: Final = "SMARTMATCH_SPILL_THRESHOLD"
#: Bytes a spool keeps in memory by default before it moves to a temporary file.
DEFAULT_THRESHOLD: Final = 64 * 2**20
#: Bytes moved per read or write when copying.
BLOCK: Final = 1 << 20
_SIZE: Final = re.compile(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", re.IGNORECASE)
_UNITS: Final = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def spill_threshold() -> int:
    """Bytes kept in memory before spilling: ``SMARTMATCH_SPILL_THRESHOLD`` or 64 MiB.

    Raises
    ------
    OptionError
        The variable is not a size such as ``268435456``, ``256M`` or ``1G``.
    """
    text = os.environ.get(THRESHOLD_ENV)
    if not text:
        return DEFAULT_THRESHOLD
    return parse_size(
        text, THRESHOLD_ENV, "; 0 spills every upload and download to a temporary file"
    )


def parse_size(text: str, name: str, note: str = "") -> int:
    """Bytes from a size such as ``268435456``, ``256M`` or ``1G``, read from ``name``.

    Raises
    ------
    OptionError
        ``text`` is not a size: the message names ``name`` and adds ``note``.
    """
    found = _SIZE.fullmatch(text)
    if found is None:
        raise OptionError(
            f"{name}={text!r} is not a size: give bytes, or a number with K, M or G "
            f"(such as 256M){note}"
        )
    return int(found[1]) * _UNITS[found[2].upper()]


def fingerprint_of(digest: Any) -> str:
    """The fingerprint of data from its SHA-256 hash object (``"sha256:<hex>"``)."""
    return "sha256:" + str(digest.hexdigest())


class Spool:
    """Bytes written once, then read any number of times, from memory or a private file.

    Parameters
    ----------
    threshold
        Bytes kept in memory; beyond, everything moves to an anonymous
        temporary file. Default :func:`spill_threshold`.
    digest
        Keep the SHA-256 of what is written (see :attr:`fingerprint`).
    expected
        Bytes about to be written, if known: past the threshold, the spool
        goes to its file at once rather than filling memory first.

    Examples
    --------
    >>> with Spool(threshold=4) as spool:
    ...     _ = spool.write(b"matchback_id\\n0\\n")
    ...     spool.spilled, len(spool), spool.reader().read()
    (True, 15, b'matchback_id\\n0\\n')
    """

    def __init__(
        self, threshold: int | None = None, *, digest: bool = False, expected: int = 0
    ) -> None:
        self.threshold = spill_threshold() if threshold is None else threshold
        # In memory: the blocks written, as they came (no buffer regrown and copied).
        self._blocks: list[bytes] | None = []
        self._file: IO[bytes] | None = None
        self._size = self._cut = 0
        self._hash = hashlib.sha256() if digest else None
        self._lock = threading.Lock()
        self.closed = False
        if expected > self.threshold:
            self._spill()

    @classmethod
    def of(cls, data: bytes) -> Spool:
        """A spool holding ``data`` (in memory, whatever its size, and without a copy)."""
        spool = cls(threshold=len(data))
        spool._blocks = [data]
        spool._size = len(data)
        return spool

    def __repr__(self) -> str:
        where = "file" if self.spilled else "memory"
        return f"Spool({self._size:,} bytes in {where}{', closed' if self.closed else ''})"

    def __len__(self) -> int:
        return self._size

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def spilled(self) -> bool:
        """Whether the bytes are in a temporary file rather than in memory."""
        return self._file is not None

    @property
    def fingerprint(self) -> str:
        """``"sha256:<hex>"`` of everything written (needs ``digest=True``)."""
        if self._hash is None:
            raise ValueError("this spool keeps no digest: make it with digest=True")
        return fingerprint_of(self._hash)

    # -- writing ----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview | pa.Buffer) -> int:
        """Append ``data``; move to a temporary file once past the threshold."""
        view = memoryview(data)
        if self._hash is not None:
            self._hash.update(view)
        if self._file is None and self._size + view.nbytes > self.threshold:
            self._spill()
        if self._file is not None:
            self._file.write(view)
        else:
            assert self._blocks is not None
            # Bytes cannot change under us: kept as they are (a download's blocks); any
            # other buffer may, so it is copied.
            self._blocks.append(data if type(data) is bytes else bytes(view))
        self._size += view.nbytes
        return view.nbytes

    def copy_from(self, source: IO[bytes] | io.BufferedIOBase, limit: int | None = None) -> int:
        """Append everything ``source`` gives (at most ``limit`` bytes, then stop reading)."""
        moved = 0
        while limit is None or moved <= limit:
            block = source.read(BLOCK)
            if not block:
                break
            moved += self.write(block)
        return moved

    def tell(self) -> int:
        """Bytes written so far (where the next write goes)."""
        return self._size

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        """Go back to ``position`` to :meth:`truncate` there (a download begun again)."""
        if whence != io.SEEK_SET or not 0 <= position <= self._size:
            raise ValueError("a spool seeks back to a position already written, to truncate")
        self._cut = position
        return position

    def truncate(self, size: int | None = None) -> int:
        """Drop everything after ``size`` (default: the position sought)."""
        size = self._cut if size is None else size
        if size < self._size:
            if self._hash is not None:
                raise ValueError("a spool that keeps a digest cannot be truncated")
            if self._file is not None:
                self._file.seek(size)
                self._file.truncate()
            else:
                self._blocks = [self.getvalue()[:size]]
            self._size = size
        return size

    def _spill(self) -> None:
        # Created 0600; no name on Linux (O_TMPFILE), unlinked at once on other Unixes.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        assert self._blocks is not None
        for block in self._blocks:
            self._file.write(block)
        self._blocks = None

    # -- reading ----------------------------------------------------------------

    def reader(self) -> IO[bytes]:
        """A new seekable reader from the start; readers do not disturb one another."""
        self._check_open()
        if self._file is None:
            return self._memory_reader()
        self._file.flush()
        return cast(IO[bytes], _Reader(len(self), self._read_at))

    def getvalue(self) -> bytes:
        """All the bytes (read from the file if spilled: mind the size)."""
        self._check_open()
        if self._file is None:
            assert self._blocks is not None
            if len(self._blocks) != 1:
                self._blocks = [b"".join(self._blocks)]  # joined once, then shared
            return self._blocks[0]
        with self.reader() as reader:
            return reader.read()

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes."""
        with self.reader() as reader:
            return reader.read(n)

    def tail(self, n: int) -> bytes:
        """The last ``n`` bytes."""
        with self.reader() as reader:
            reader.seek(max(0, self._size - n))
            return reader.read()

    def arrow_input(self, start: int = 0) -> pa.NativeFile:
        """A pyarrow input stream of the bytes from ``start``: zero-copy from memory
        held in one block, block-wise from several or from a file."""
        self._check_open()
        if self._file is None and self._blocks is not None and len(self._blocks) <= 1:
            stream: pa.NativeFile = pa.BufferReader(self.getvalue())
        else:
            stream = pa.PythonFile(self.reader(), mode="r")
        stream.seek(start)
        return stream

    def _memory_reader(self) -> IO[bytes]:
        # The blocks as they were written, read in place: joining a download of tens of
        # megabytes into one block would copy all of it once more before it is parsed.
        assert self._blocks is not None
        if len(self._blocks) <= 1:
            return io.BytesIO(self._blocks[0] if self._blocks else b"")  # no copy
        return cast(IO[bytes], _blocks_reader(list(self._blocks)))

    def _read_at(self, position: int, size: int) -> bytes:
        assert self._file is not None
        if hasattr(os, "pread"):
            return os.pread(self._file.fileno(), size, position)
        with self._lock:
            self._file.seek(position)
            data = self._file.read(size)
            self._file.seek(0, io.SEEK_END)  # the next write appends, where it belongs
            return data

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("the spool is closed: its bytes are gone")

    def close(self) -> None:
        """Free the memory, or close (and so delete) the temporary file."""
        self.closed = True
        self._blocks = None
        if self._file is not None:
            self._file.close()
            self._file = None


class _Reader(io.RawIOBase):
    """A reader of ``size`` bytes with a position of its own, so threads can share what
    it reads: ``read_at(position, n)`` gives the bytes (a spilled spool's file, or its
    blocks in memory)."""

    def __init__(self, size: int, read_at: Callable[[int, int], bytes]) -> None:
        super().__init__()
        self._size = size
        self._read_at = read_at
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        block = self.read(len(view))
        view[: len(block)] = block
        return len(block)

    def read(self, size: int | None = -1) -> bytes:
        left = self._size - self._position
        size = left if size is None or size < 0 else min(size, left)
        if size <= 0:
            return b""
        block = self._read_at(self._position, size)
        self._position += len(block)
        return block

    def readall(self) -> bytes:
        return self.read()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def _blocks_reader(blocks: list[bytes]) -> _Reader:
    """A reader of blocks in memory as one stream: a whole block is given without a copy."""
    # Where each block starts in the stream, and (last) where the stream ends.
    starts = list(itertools.accumulate(map(len, blocks), initial=0))

    def read_at(position: int, size: int) -> bytes:
        k = bisect.bisect_right(starts, position) - 1  # the block holding it
        offset = position - starts[k]
        if offset == 0 and size == len(blocks[k]):
            return blocks[k]
        parts = []
        while size:
            piece = blocks[k][offset : offset + size]
            parts.append(piece)
            size -= len(piece)
            k, offset = k + 1, 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    return _Reader(starts[-1], read_at)


class SpooledFiles(Mapping[str, bytes]):
    """Files by name, each kept in a :class:`Spool`: ``files[name]`` reads its bytes,
    :meth:`spool` gives it without reading. Closing frees them all."""

    def __init__(self, spools: Mapping[str, Spool]) -> None:
        self._spools = dict(spools)

    @classmethod
    def of(cls, files: Mapping[str, bytes]) -> SpooledFiles:
        """``files`` as spools (in memory, without a copy); spooled files as they are."""
        if isinstance(files, SpooledFiles):
            return files
        return cls({name: Spool.of(data) for name, data in files.items()})

    def __getitem__(self, name: str) -> bytes:
        return self._spools[name].getvalue()

    def __iter__(self) -> Iterator[str]:
        return iter(self._spools)

    def __len__(self) -> int:
        return len(self._spools)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{n!r}: <{len(s):,} bytes>" for n, s in self._spools.items()) + "}"

    def spool(self, name: str) -> Spool:
        """The spool of file ``name``."""
        return self._spools[name]

    def close(self) -> None:
        """Free every file (temporary files are deleted)."""
        for spool in self._spools.values():
            spool.close()
