"""The result cache: a finished job's deliverable, kept for the same data and options.

Layout, in the job store's ``results/`` folder (see :mod:`smartmatch_pandas.job.store`)::

    <key>.parquet     the deliverable's files, in blocks, with the job's filename

A result is written on a thread of its own to a private file renamed into
place once whole (:mod:`smartmatch_pandas.private_files`); anything in this
process that reads the cache first waits for the results being written.
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from .._version import __version__
from ..errors import SmartMatchWarning
from ..files.spool import Spool, SpooledFiles
from ..private_files import private_path

_RESULT_META: Final = b"smartmatch"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CachedResult:
    """A finished job's deliverable, from the result cache.

    Attributes
    ----------
    filename
        The job that produced it.
    saved_at
        When it was stored (ISO 8601, UTC).
    files
        The deliverable's files, by name, as the service sent them.
    """

    filename: str
    saved_at: str
    files: Mapping[str, bytes]


class ResultCache:
    """The cached results in ``folder``, by cache key
    (:func:`~smartmatch_pandas.job.store.cache_key`).

    Parameters
    ----------
    folder
        The folder results are kept in; it must exist.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"ResultCache({str(self.folder)!r})"

    def path(self, key: str) -> Path:
        """Where the result under ``key`` is kept."""
        return self.folder / f"{key}.parquet"

    def saving(
        self, key: str, filename: str, files: Mapping[str, bytes], *, warn: bool = True
    ) -> PendingResult:
        """Start keeping a finished job's deliverable files under ``key``, as Parquet, on
        a thread of its own (see :class:`PendingResult`); ``files`` must stay open until
        it is written. A failure is warned of (``warn``), and kept in its ``error``.

        A file is kept in rows of at most :data:`RESULT_BLOCK` bytes (its name
        repeated), read block by block from its spool when it has one
        (:class:`~smartmatch_pandas.files.spool.SpooledFiles`): a deliverable larger
        than memory is cached without ever being held whole.
        """
        meta = {"filename": filename, "saved_at": _now(), "version": __version__}
        path = self.path(key)
        return PendingResult(path, lambda partial: _write_result(partial, meta, files), warn=warn)

    def load(self, key: str) -> CachedResult | None:
        """The cached deliverable for ``key``, or None.

        Its files are spools (:class:`~smartmatch_pandas.files.spool.SpooledFiles`):
        large ones spill to private temporary files as they are read.
        """
        settled(self.path(key))
        try:
            source = pq.ParquetFile(self.path(key))
        except (FileNotFoundError, pa.ArrowInvalid, OSError):
            return None
        spools: dict[str, Spool] = {}
        try:
            with source:
                meta = json.loads((source.schema_arrow.metadata or {}).get(_RESULT_META, b"{}"))
                for batch in source.iter_batches(batch_size=1):
                    for name, block in zip(batch["name"], batch["content"], strict=True):
                        spools.setdefault(name.as_py(), Spool()).write(block.as_buffer())
        except (pa.ArrowInvalid, OSError, ValueError):
            SpooledFiles(spools).close()
            return None
        files = SpooledFiles(spools)
        return CachedResult(str(meta.get("filename", "")), str(meta.get("saved_at", "")), files)

    def filename_of(self, key: str) -> str | None:
        """The filename of the job whose result is cached under ``key``, without reading it."""
        settled(self.path(key))
        try:
            schema = pq.read_schema(self.path(key))
        except (FileNotFoundError, pa.ArrowInvalid, OSError):
            return None
        meta = json.loads((schema.metadata or {}).get(_RESULT_META, b"{}"))
        return str(meta.get("filename", "")) or None

    def clear(self, keys: set[str] | None = None) -> tuple[int, int]:
        """Remove cached results (those of ``keys``, or all); return (files, bytes) removed."""
        settled()
        count = size = 0
        for path in self.folder.glob("*.parquet"):
            if keys is not None and path.stem not in keys:
                continue
            with contextlib.suppress(FileNotFoundError):
                size += path.stat().st_size
                path.unlink()
                count += 1
        return count, size


class PendingResult:
    """A result being written on a thread of its own, to a private partial file
    renamed into place once whole.

    Compressing a large deliverable takes a core for a while, so it is done
    while the caller goes on. Until it is settled, anything that reads the
    result cache in this process waits for it, and so does the end of the
    process (the thread is not a daemon): nothing is half written.
    """

    def __init__(self, path: Path, write: Callable[[Path], None], *, warn: bool = True) -> None:
        self._path, self._warn = path, warn
        #: What went wrong writing it, if anything.
        self.error: BaseException | None = None
        # Said outright: a thread takes its maker's daemon flag, and the form reads
        # results on a daemon thread, whose writer would then be cut short at exit.
        self._thread = threading.Thread(
            target=self._run, args=(write,), name="smartmatch-result-cache", daemon=False
        )
        with _PENDING_LOCK:
            _PENDING[path] = self
        self._thread.start()

    def _run(self, write: Callable[[Path], None]) -> None:
        try:
            with private_path(self._path) as partial:
                write(partial)
        except BaseException as exc:  # kept for wait()'s caller, or warned of
            self.error = exc
        finally:
            with _PENDING_LOCK:
                if _PENDING.get(self._path) is self:
                    del _PENDING[self._path]
        if self.error is not None and self._warn:
            warnings.warn(
                f"a result could not be kept in the result cache at {self._path.parent} "
                f"({getattr(self.error, 'strerror', None) or self.error}); the job is done "
                "all the same",
                SmartMatchWarning,
                stacklevel=1,
            )

    def wait(self) -> None:
        """Wait until the result is written, or has failed (see :attr:`error`)."""
        self._thread.join()


_PENDING: dict[Path, PendingResult] = {}
_PENDING_LOCK = threading.Lock()


def settled(path: Path | None = None) -> None:
    """Wait for this process's results being written (the one at ``path``, or all)."""
    with _PENDING_LOCK:
        pending = [p for k, p in _PENDING.items() if path is None or k == path]
    for result in pending:
        result.wait()


def _write_result(partial: Path, meta: dict[str, str], files: Mapping[str, bytes]) -> None:
    schema = _RESULT_SCHEMA.with_metadata({_RESULT_META: json.dumps(meta).encode()})
    with pq.ParquetWriter(
        str(partial),
        schema,
        compression="zstd",
        # One long value per row: neither dictionaries nor min/max statistics help.
        use_dictionary=False,
        write_statistics=False,
    ) as writer:
        for name in files:
            for block in _file_blocks(files, name):
                writer.write_table(pa.table([[name], [block]], schema=schema))


#: Bytes of a deliverable's file per row of a cached result.
RESULT_BLOCK: Final = 4 * 2**20
_RESULT_SCHEMA: Final = pa.schema([("name", pa.string()), ("content", pa.large_binary())])


def _file_blocks(files: Mapping[str, bytes], name: str) -> Iterator[bytes]:
    """File ``name`` in blocks of at most :data:`RESULT_BLOCK` bytes (one, if empty)."""
    with SpooledFiles.of(files).spool(name).reader() as reader:
        block = reader.read(RESULT_BLOCK)
        yield block
        while block := reader.read(RESULT_BLOCK):
            yield block
