"""A deliverable's bytes → its files, each in a spool, within a budget against decompression bombs.

The deliverable is recognised by its content, never by the format asked
for: a CSV, a gzip (of a CSV or of a tar of files), or a zip of files, told
apart by their magic bytes (:mod:`smartmatch_pandas.files.archives`). Members
are unpacked one by one into spools of their own, so neither the deliverable
nor its files need fit in memory.

The files' names are the archive's member names as the service wrote them:
untrusted text (``../../.bashrc``, ``/etc/passwd``, control characters). The
package never writes a file under one (members go to anonymous spools, the
result cache stores names as values); :func:`safe_name` makes one fit to save
a file under.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import re
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, Final

from ..errors import DeliverableError, DiskError
from ..files import archives
from ..files.archives import MAGIC_BYTES, archive_kind
from ..files.spool import Spool, SpooledFiles, spill_threshold

_MAX_NESTING: Final = 3
#: A deliverable may unpack to this many times its own size at most, or to
#: :data:`MIN_UNPACK_ALLOWANCE` (the rule of
#: :func:`~smartmatch_pandas.files.archives.unpack_allowance`).
MAX_EXPANSION = archives.MAX_EXPANSION
#: Bytes any deliverable may unpack to, however small it is.
MIN_UNPACK_ALLOWANCE = archives.MIN_UNPACK_ALLOWANCE


_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
#: The longest name :func:`safe_name` gives.
MAX_SAFE_NAME: Final = 100


def safe_name(name: str) -> str:
    """A name to save a file of the deliverable under, made of its untrusted member name.

    The last part of its path only, each run of characters other than letters,
    digits, ``.``, ``-`` and ``_`` as one ``_``, no leading dot, at most
    :data:`MAX_SAFE_NAME` characters: never a path, a hidden file, ``..`` or
    a control character.

    Examples
    --------
    >>> safe_name("../../home/me/.bashrc")
    'bashrc'
    >>> safe_name("results/best matches.csv")
    'best_matches.csv'
    >>> safe_name("..")
    'file'
    """
    last = re.split(r"[/\\]", name)[-1]
    cleaned = _UNSAFE.sub("_", last)[-MAX_SAFE_NAME:].lstrip("._")
    return cleaned or "file"


def unpack_deliverable(data: bytes | Spool, *, filename: str | None = None) -> SpooledFiles:
    """The files inside a deliverable, whatever its format, each in a spool.

    Members are unpacked one by one into spools of their own (see
    :func:`unpack_spool`), so neither the deliverable nor its files need fit in memory.

    Raises
    ------
    DeliverableError
        The bytes are corrupt or truncated, or unpack to far more than a
        deliverable can (see :data:`MAX_EXPANSION`).
    """
    spool = data if isinstance(data, Spool) else Spool.of(data)
    budget = UnpackBudget(
        archives.unpack_allowance(len(spool), MAX_EXPANSION, MIN_UNPACK_ALLOWANCE)
    )
    try:
        return SpooledFiles(unpack_spool(spool, budget))
    except _TooLargeError:
        raise DeliverableError(
            f"the deliverable ({len(spool):,} bytes) unpacks to more than {budget.limit:,} "
            "bytes, as a decompression bomb does: it was not unpacked. If it is genuine, "
            "raise smartmatch_pandas.deliverable.unpack.MAX_EXPANSION",
            filename=filename,
        ) from None
    except MemoryError:
        raise
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise _corrupt(exc, filename) from None
        raise DiskError(
            f"the deliverable could not be unpacked into temporary files in "
            f"{tempfile.gettempdir()} ({exc.strerror}): free some space there, or point "
            "TMPDIR at a folder with room",
            filename=filename,
        ) from None
    except Exception as exc:  # anything the archive modules make of damaged bytes
        raise _corrupt(exc, filename) from None


def _corrupt(exc: BaseException, filename: str | None) -> DeliverableError:
    return DeliverableError(
        f"the deliverable is corrupt or truncated ({type(exc).__name__}: "
        f"{str(exc)[:200]}); download it again with resume(filename)",
        filename=filename,
    )


_DISK_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


class _TooLargeError(Exception):
    """Unpacking went past the budget."""


class UnpackBudget:
    """The bytes unpacking may still produce: a guard against decompression bombs.

    Attributes
    ----------
    left
        Bytes the members may still unpack to, in memory or on disk.
    memory
        Bytes they may still hold in memory, all together (default the spill
        threshold): past it, every further member goes to a temporary file, so
        many members each under the threshold cannot fill memory together.
    """

    def __init__(self, limit: int, memory: int | None = None) -> None:
        self.limit = self.left = limit
        self.memory = spill_threshold() if memory is None else memory


# -- unpacked member by member into spools: a deliverable never needs to be whole in memory --


def unpack_spool(
    spool: Spool, budget: UnpackBudget, name: str = "deliverable.csv", depth: int = 0
) -> dict[str, Spool]:
    """Every file inside ``spool``, by name, each in a spool of its own, opening zip,
    gzip and tar by their magic bytes.

    Members are copied block by block into new spools, which spill past the
    threshold as any other; what they unpack to counts against ``budget``.
    """
    if depth > _MAX_NESTING:
        return {name: spool}
    kind = archive_kind(spool.head(MAGIC_BYTES))
    if kind == "zip":
        with zipfile.ZipFile(spool.reader()) as archive, _closed_on_error() as out:
            for info in archive.infolist():
                if info.is_dir() or info.filename.startswith("__MACOSX/"):
                    continue
                if info.file_size > budget.left:
                    raise _TooLargeError
                with archive.open(info) as member:
                    inner = _copied(member, budget)
                out.update(_members(inner, budget, info.filename, depth + 1))
        return out
    if kind == "gzip":
        with gzip.GzipFile(fileobj=spool.reader()) as stream:
            inner = _copied(stream, budget)
        if not (len(inner) > 262 and inner.head(262)[257:262] == b"ustar"):
            return _members(inner, budget, name.removesuffix(".gz"), depth + 1)
        with inner, tarfile.open(fileobj=inner.reader()) as archive, _closed_on_error() as out:
            for entry in archive:
                handle = archive.extractfile(entry) if entry.isfile() else None
                if handle is not None:
                    extracted = _copied(handle, budget)
                    out.update(_members(extracted, budget, entry.name, depth + 1))
        return out
    return {name: spool}


def _members(inner: Spool, budget: UnpackBudget, name: str, depth: int) -> dict[str, Spool]:
    """The files in ``inner``, a member just copied out of an archive: it is closed
    (its temporary file deleted) unless it is one of them itself."""
    try:
        found = unpack_spool(inner, budget, name, depth)
    except BaseException:
        inner.close()
        raise
    if all(spool is not inner for spool in found.values()):
        inner.close()  # an archive within: its members have spools of their own
    return found


@contextlib.contextmanager
def _closed_on_error() -> Iterator[dict[str, Spool]]:
    """Files unpacked so far, closed if unpacking the rest fails."""
    out: dict[str, Spool] = {}
    try:
        yield out
    except BaseException:
        for spool in out.values():
            spool.close()
        raise


def _copied(stream: IO[bytes] | io.BufferedIOBase, budget: UnpackBudget) -> Spool:
    """``stream`` copied into a new spool, within the budget (its memory included)."""
    spool = Spool(threshold=max(0, budget.memory))
    try:
        budget.left -= spool.copy_from(stream, limit=budget.left)
    except BaseException:
        spool.close()
        raise
    if budget.left < 0:
        spool.close()
        raise _TooLargeError
    if not spool.spilled:
        budget.memory -= len(spool)
    return spool
