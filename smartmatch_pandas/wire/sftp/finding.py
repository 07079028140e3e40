"""Finding a job's deliverable in the drop: the files named after it, left alone
while still being written, checked whole and vetted; one look, or looks until
it is there."""

from __future__ import annotations

import gzip
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final, Unpack

from ... import clock as clocks
from ...errors import JobTimeoutError, SmartMatchWarning, TransportError
from ...files.archives import MAGIC_BYTES, archive_kind, unpack_allowance
from ...files.spool import BLOCK, Spool
from ...progress import ProgressArg, Reporter, reporting
from ..http import DOWNLOAD_LIMIT_ENV, download_limit
from ..retry import MAX_LOOK_FAILURES
from .drop import RemoteFile, SFTPDrop, log
from .settings import SFTPOptions, SFTPSettings

#: Connections are kept between looks only when looks are this frequent.
_KEEP_OPEN_BELOW: Final = 60.0
#: Names that file-transfer tools give a file while it is being written.
_PARTIAL_SUFFIXES: Final = (".part", ".partial", ".filepart", ".tmp", ".temp", ".crdownload")
_ARCHIVE_SUFFIXES: Final = (".zip", ".gz", ".tgz")

Vet = Callable[[Spool], str | None]
"""Says why a whole file found for a job is not its deliverable, or None if it is."""


def is_deliverable_name(name: str) -> bool:
    """Whether a file named ``name`` may be a deliverable (not hidden, not a partial upload)."""
    return not name.startswith(".") and not name.lower().endswith(_PARTIAL_SUFFIXES)


def belongs_to(name: str, filename: str) -> bool:
    """Whether the file ``name`` is named after the job ``filename``.

    No exact scheme is assumed: the job's name (without a ``.csv`` suffix)
    must appear in the file's name as a whole word, any case, so
    ``JOB_1.zip``, ``job_1_output.zip`` and ``2026-job_1.csv.zip`` belong to
    ``job_1``, while ``job_10.zip`` does not.
    """
    stem = filename.removesuffix(".csv")
    pattern = rf"(?<![A-Za-z0-9]){re.escape(stem)}(?![A-Za-z0-9])"
    return re.search(pattern, name, re.IGNORECASE) is not None


def _candidates(files: list[RemoteFile], filename: str) -> list[RemoteFile]:
    """The job's possible deliverables, the likeliest first."""
    exact = f"{filename.removesuffix('.csv')}.zip".lower()
    mine = [f for f in files if is_deliverable_name(f.name) and belongs_to(f.name, filename)]
    return sorted(
        mine,
        key=lambda f: (
            f.name.lower() != exact,
            not f.name.lower().endswith(_ARCHIVE_SUFFIXES),
            len(f.name),
            -f.modified.timestamp(),
        ),
    )


def incomplete(spool: Spool) -> str | None:
    """Why ``spool`` is not a whole archive yet, or None if it is whole (or not an archive).

    Read block by block (every zip member's checksum, the gzip stream to its
    end), never held whole in memory, and never past what it may unpack to
    (:func:`~smartmatch_pandas.files.archives.unpack_allowance`): a bomb is
    taken as whole here, for the unpacking to refuse, rather than decompressed
    for as long as it lasts.
    """
    allowance = unpack_allowance(len(spool))
    try:
        kind = archive_kind(spool.head(MAGIC_BYTES))
        if kind == "zip":
            with zipfile.ZipFile(spool.reader()) as archive:
                # A member is never read past its stated size: their sum bounds the test.
                if sum(info.file_size for info in archive.infolist()) > allowance:
                    return None
                broken = archive.testzip()
            if broken is not None:
                return f"its member {broken!r} fails its checksum"
        elif kind == "gzip":
            with gzip.GzipFile(fileobj=spool.reader()) as stream:
                read = 0
                while read <= allowance and (block := stream.read(BLOCK)):
                    read += len(block)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        return f"it is not a complete archive yet ({type(exc).__name__})"
    return None


class _Finder:
    """Looks for one job's deliverable, remembering the files it turned down."""

    def __init__(
        self,
        drop: SFTPDrop,
        filename: str,
        vet: Vet | None,
        reporter: Reporter,
        limit: int | None = None,
    ) -> None:
        self.drop, self.filename, self.vet, self.reporter = drop, filename, vet, reporter
        self.limit = download_limit(None) if limit is None else limit
        self.turned_down: dict[tuple[str, int, datetime], str] = {}

    def look(self) -> Spool | None:
        """One look: the verified deliverable, or None if it is not (wholly) there yet."""
        first = _candidates(self.drop.listing(), self.filename)
        first = [f for f in first if f.version not in self.turned_down]
        if not first:
            return None
        clocks.CLOCK.sleep(self.drop.settings.settle)
        again = {f.name: f for f in self.drop.listing()}
        for candidate in first:
            now = again.get(candidate.name)
            if now is None or now.version != candidate.version or now.size == 0:
                log.info("%s is still being written; looking again later", candidate.name)
                continue
            if now.size > self.limit:
                self.turned_down[now.version] = (
                    f"{now.size:,} bytes, past the limit of {self.limit:,} for this job (if it "
                    f"is genuine, set {DOWNLOAD_LIMIT_ENV} and wait again)"
                )
                continue
            spool = self._download(now)
            if spool is None:
                log.info("%s changed while it was read; looking again later", now.name)
                continue
            unfinished = incomplete(spool)
            if unfinished is not None:
                spool.close()
                self.turned_down[now.version] = f"still being written: {unfinished}"
                log.info(
                    "%s is still being written (%s); looking again later", now.name, unfinished
                )
                continue
            misfit = self._vetted(spool)
            if misfit is None:
                return spool
            spool.close()
            self.turned_down[now.version] = misfit
            warnings.warn(
                f"{now.name} in {self.drop.settings.where} is named after job "
                f"{self.filename!r} but was not taken: {misfit}",
                SmartMatchWarning,
                stacklevel=2,
            )
        return None

    def _vetted(self, spool: Spool) -> str | None:
        """The caller's ``vet`` of a whole file: why it is not the deliverable, or None."""
        if self.vet is None:
            return None
        try:
            return self.vet(spool)
        except BaseException:
            spool.close()
            raise

    def _download(self, remote: RemoteFile) -> Spool | None:
        self.reporter.stage("downloading", total=remote.size)
        try:
            return self.drop.read(remote, self.reporter.advance)
        finally:
            self.reporter.stage("waiting")

    def not_taken(self) -> str:
        if not self.turned_down:
            return ""
        found = "; ".join(f"{v[0]}: {why}" for v, why in self.turned_down.items())
        return f". Files named after it that were not taken: {found}"


# -- the public verbs ------------------------------------------------------------


@contextmanager
def _drop(
    settings: SFTPSettings | Mapping[str, Any] | None, options: SFTPOptions
) -> Iterator[SFTPDrop]:
    with SFTPDrop(SFTPSettings.resolve(settings, **options)) as drop:
        yield drop


def list_deliverables(
    filename: str | None = None,
    *,
    settings: SFTPSettings | Mapping[str, Any] | None = None,
    **options: Unpack[SFTPOptions],
) -> list[RemoteFile]:
    """The files in the SFTP folder that may be deliverables, newest first.

    Parameters
    ----------
    filename
        Only those named after this job.
    settings, **options
        The connection: an :class:`SFTPSettings` or a dict, and/or its
        fields as keywords; the environment fills the rest.

    Examples
    --------
    >>> for f in smartmatch_pandas.wire.sftp.list_deliverables():     # doctest: +SKIP
    ...     print(f.name, f.size, f.modified)
    """
    with _drop(settings, options) as drop:
        files = [f for f in drop.listing() if is_deliverable_name(f.name)]
    if filename is not None:
        files = [f for f in files if belongs_to(f.name, filename)]
    return files


def fetch_deliverable(
    filename: str,
    *,
    vet: Vet | None = None,
    settings: SFTPSettings | Mapping[str, Any] | None = None,
    limit: int | None = None,
    **options: Unpack[SFTPOptions],
) -> Spool | None:
    """Look once for the job's deliverable: a spool of its verified bytes, or None if
    it is not there yet.

    A file still being written (its size changes between two listings
    ``settle`` seconds apart, or its archive is not whole) is left for later.
    The bytes come back in a :class:`~smartmatch_pandas.files.spool.Spool`
    (``spool.getvalue()`` gives them; past the spill threshold they are in a
    private temporary file): close it when done.

    Parameters
    ----------
    filename
        The job's filename.
    vet
        Says why a whole file is not the job's deliverable (or None if it is):
        such a file is not taken, with a warning. Pass a
        :class:`~smartmatch_pandas.job.vetting.DeliverableCheck` to check that it
        reads as a deliverable with one row for each row the job sent (what
        ``rows=`` did before the bytes came back in a spool).
    settings, **options
        The connection: an :class:`SFTPSettings` or a dict, and/or its
        fields as keywords; the environment fills the rest.
    limit
        The largest file taken, in bytes (default
        :func:`~smartmatch_pandas.wire.http.download_limit`): a larger one is
        turned down unread, as an HTTP download is.
    """
    with _drop(settings, options) as drop:
        return _Finder(drop, filename, vet, Reporter(False), limit).look()


def wait_for_deliverable(
    filename: str,
    *,
    vet: Vet | None = None,
    timeout: float | None = None,
    progress: ProgressArg | Reporter = False,
    settings: SFTPSettings | Mapping[str, Any] | None = None,
    limit: int | None = None,
    **options: Unpack[SFTPOptions],
) -> Spool:
    """Wait until the job's deliverable is in the SFTP folder; return a spool of its
    verified bytes (``vet`` as :func:`fetch_deliverable`), which the caller closes.

    Looks every ``poll_interval`` seconds (180 by default), tolerating
    dropped connections and failed looks (up to
    :data:`~smartmatch_pandas.wire.retry.MAX_LOOK_FAILURES` in a row). Nothing is
    written or deleted on the server.

    Raises
    ------
    JobTimeoutError
        Not there within ``timeout`` seconds.
    HostKeyError, AuthorizationError, OptionError
        The server's key is not trusted; the login or a setting is wrong.
    TransportError
        The server could not be reached, look after look.
    """
    deadline = None if timeout is None else clocks.CLOCK.monotonic() + timeout
    resolved = SFTPSettings.resolve(settings, **options)
    looks = failures = 0
    with reporting(progress) as reporter, SFTPDrop(resolved) as drop:
        reporter.stage("waiting")
        finder = _Finder(drop, filename, vet, reporter, limit)
        while True:
            try:
                found = finder.look()
                failures = 0
            except TransportError:
                failures += 1
                if failures >= MAX_LOOK_FAILURES:
                    raise
                found = None
            looks += 1
            if found is not None:
                return found
            if deadline is not None and clocks.CLOCK.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"the deliverable of SmartMatch job {filename!r} was not in "
                    f"{resolved.where} within the timeout ({looks} looks){finder.not_taken()}; "
                    "the job may still be running: wait again later",
                    filename=filename,
                )
            if resolved.poll_interval >= _KEEP_OPEN_BELOW:
                drop.close()  # no connection held open for minutes between looks
            _pause(resolved.poll_interval, deadline, looks, reporter)


def _pause(seconds: float, deadline: float | None, looks: int, reporter: Reporter) -> None:
    """Sleep until the next look (or the deadline), counting down."""
    due = clocks.CLOCK.monotonic() + seconds
    if deadline is not None:
        due = min(due, deadline)
    while (left := due - clocks.CLOCK.monotonic()) > 0:
        reporter.waiting(looks, left)
        clocks.CLOCK.sleep(min(left, 1.0))
