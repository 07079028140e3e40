"""Reading a job's deliverable: downloaded once into a spool (a fresh URL when one
expires), unpacked, merged back onto the frame, and kept in the result cache.
:class:`Reading` is the half of :class:`~smartmatch_pandas.job.handle.Job` that
does it."""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Final, Self, TypeVar, cast

from ..deliverable import (
    Deliverable,
    MatchResult,
    RowAllowance,
    merge_back,
    read_files,
    unpack_deliverable,
    uploaded_frame,
)
from ..deliverable.alignment import Witness
from ..errors import DeliverableError, DiskError, SmartMatchError, StorageError
from ..files.spool import Spool, SpooledFiles
from ..identifiers import IDENTIFIERS, MATCHBACK_ID
from ..preparation.standing import sent_profile
from ..progress import ProgressArg, Reporter, reporting
from ..wire.http import SmartMatchClient, download_limit
from ..wire.retry import MAX_URL_REFRESHES, is_expired_url
from ..wire.secrets import SecretURL
from .store import State
from .waiting import RESUMABLE, RESUME_SAID, Channel

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..clock import Clock
    from ..options import MatchOptions, Via
    from ..preparation.mapping import ColumnMapping
    from ..wire.sftp import SFTPSettings
    from .store import JobStore

_T = TypeVar("_T")


#: What an interrupted download or merge says of the job, before how to resume it.
READING_STOPPED: Final = (
    "Stopped reading the result. SmartMatch job {filename!r} is done at the service and "
    "its result is kept there (nothing is lost)."
)


class Reading:
    """How a :class:`~smartmatch_pandas.job.handle.Job` reads its deliverable: its
    :meth:`download`, :meth:`result` and :meth:`merged`.

    A part of ``Job``, never used alone: the job's state below is set by
    ``Job.__init__``, and declared here for the type checker.
    """

    client: SmartMatchClient
    filename: str
    rows: int
    options: MatchOptions
    mapping: ColumnMapping | None
    cache: bool
    cache_key: str | None
    channel: Channel
    from_cache: bool
    _frame: pd.DataFrame | None
    _state: State
    _url: SecretURL | None
    _deliverable: Spool | None
    _read: Deliverable | None
    _files: Mapping[str, bytes] | None
    _presence: Mapping[str, pa.Array] | None
    _result: MatchResult | None
    _delivered: threading.Event
    deadline: float | None

    if TYPE_CHECKING:  # the rest of Job (job.handle, job.waiting), which reading uses

        def wait(
            self,
            timeout: float | None = None,
            progress: ProgressArg | Reporter = True,
            *,
            via: Via | None = None,
            sftp: SFTPSettings | Mapping[str, Any] | None = None,
        ) -> Self: ...
        def _stored(self, call: Callable[[JobStore], _T], default: _T) -> _T: ...
        def _set_state(self, state: State, error: str | None = None) -> None: ...
        def _say_how_to_resume(self, exc: SmartMatchError) -> None: ...
        def _skipped(self) -> tuple[str, ...]: ...
        def _interrupted(self, stopped: str = ...) -> str: ...
        @property
        def witness(self) -> Witness | None: ...
        @property
        def _clock(self) -> Clock: ...

    def download(self, progress: ProgressArg | Reporter = False) -> bytes:
        """The deliverable's bytes (downloaded once, then kept: in memory, or beyond the
        spill threshold in a private temporary file, deleted with the job)."""
        return self._fetch(progress).getvalue()

    def _fetch(self, progress: ProgressArg | Reporter = False) -> Spool:
        """The deliverable, downloaded once into a spool: no larger than
        :func:`~smartmatch_pandas.wire.http.download_limit` allows for the rows sent,
        and by the deadline of the last :meth:`wait` that had a timeout."""
        if self._deliverable is not None:
            return self._deliverable
        if self._url is None:
            if self._state == "downloaded":
                # Known from the result cache, which keeps the files, not these bytes.
                self._state = "uploaded"
            self.wait(progress=progress)
        with reporting(progress) as reporter:
            for refresh in range(MAX_URL_REFRESHES + 1):
                reporter.stage("downloading")
                spool = Spool()
                left = None if self.deadline is None else self.deadline - self._clock.monotonic()
                try:
                    self.client.download(
                        self._url,  # type: ignore[arg-type]
                        sink=cast(IO[bytes], spool),  # written, told, sought and truncated
                        on_progress=reporter.advance,
                        filename=self.filename,
                        limit=download_limit(self.rows),
                        time_limit=None if left is None else max(0.0, left),
                    )
                except StorageError as exc:
                    spool.close()
                    if not is_expired_url(exc) or refresh == MAX_URL_REFRESHES:
                        raise
                    # An expired download URL: the next poll gives a fresh one.
                    self._state, self._url, self.channel = "uploaded", None, "poll"
                    self._delivered.clear()
                    self.wait(progress=reporter)
                    continue
                except OSError as exc:  # the spool's temporary file: a full disk
                    spool.close()
                    raise DiskError(
                        f"the deliverable could not be kept in a temporary file in "
                        f"{tempfile.gettempdir()} ({exc.strerror or exc}): free some space "
                        "there, or point TMPDIR at a folder with room (or raise "
                        "SMARTMATCH_SPILL_THRESHOLD to keep more in memory)",
                        filename=self.filename,
                    ) from None
                except BaseException:
                    spool.close()
                    raise
                self._deliverable = spool
                self._set_state("downloaded")
                return spool
        raise AssertionError("unreachable")  # pragma: no cover

    def result(self, progress: ProgressArg | Reporter = False, typed: bool = False) -> MatchResult:
        """Download the deliverable and merge it back onto the submitted frame.

        Waits first if the job is not ready yet. A job resumed without its
        frame is merged onto the columns that were uploaded, read back from
        the deliverable: one row per uploaded row, in upload order (the
        index is the row's position), the uploaded identifiers then the
        appended columns. The deliverable is kept in the result cache unless
        the job was submitted with ``cache=False``. With ``typed``, the appended
        voter fields are typed (:meth:`~smartmatch_pandas.deliverable.MatchResult.typed`).

        Raises
        ------
        DeliverableError
            The deliverable is unreadable or does not fit the rows sent.
        """
        if self._result is None:
            with reporting(progress) as reporter:
                result = self.merged(partial(self._merge_onto_frame, reporter), reporter)
            result.from_cache = self.from_cache
            self._result = result
        return self._result.typed() if typed else self._result

    def merged(self, merge: Callable[[Mapping[str, bytes]], _T], reporter: Reporter) -> _T:
        """What ``merge`` makes of the deliverable's files, which are then kept in the
        result cache.

        :meth:`result` merges onto the frame in memory; a file larger than memory
        is merged batch by batch
        (:func:`~smartmatch_pandas.verbs.large_files.resume_file`).

        Parameters
        ----------
        merge
            Takes the deliverable's files (name to bytes), from the result
            cache or downloaded and unpacked, and merges them.
        reporter
            Where the stages are reported.

        Returns
        -------
        merged
            What ``merge`` returned.

        Raises
        ------
        DeliverableError
            The deliverable cannot be merged: it is forgotten, so that the job
            fetches it again next time. This error, like those of the service
            and the network, says how to pick the job up again.
        """
        files: Mapping[str, bytes] | None = None
        try:
            files = self._unpacked(reporter)
            merged = merge(files)
        except DeliverableError as exc:
            self._unusable()
            self._say_how_to_resume(exc)
            raise
        except RESUMABLE as exc:
            self._keep_unmerged(files, exc)
            self._say_how_to_resume(exc)
            raise
        except KeyboardInterrupt as stop:
            reporter.close()
            if not getattr(stop, RESUME_SAID, False):  # as an interrupted wait says it
                print(self._interrupted(READING_STOPPED), file=sys.stderr, flush=True)
            raise
        except Exception as exc:
            self._keep_unmerged(files, exc)
            raise
        # Kept once it merged (or failed to on this side): a deliverable that cannot be used
        # is never cached.
        self._cache(files)
        reporter.stage("done")
        return merged

    def _keep_unmerged(self, files: Mapping[str, bytes] | None, exc: BaseException) -> None:
        """Keep a deliverable whose merge failed on this side (not the deliverable's fault:
        memory, disk, a bug), so that matching again merges it without paying for a new job."""
        if files is None or not self.cache or self.cache_key is None:
            return
        self._cache(files)
        if not isinstance(exc, SmartMatchError):  # those say how to resume already
            exc.add_note(
                f"SmartMatch job {self.filename!r} finished and its deliverable is kept: "
                "matching the same list again (or resuming the job) merges it at no cost"
            )

    def _merge_onto_frame(self, reporter: Reporter, files: Mapping[str, bytes]) -> MatchResult:
        known = self._presence is not None and self._frame is not None
        deliverable = self._read
        if deliverable is None or deliverable.files is not files:
            deliverable = read_files(
                files, filename=self.filename, skip=self._skipped(), allowance=self._allowance()
            )
        reporter.stage("merging")
        sent = self._sent_columns(deliverable)
        frame = self._frame
        if frame is None:
            frame = uploaded_frame(deliverable, sent, self.rows)
        result = merge_back(
            frame,
            deliverable,
            sent,
            filename=self.filename,
            presence=self._presence if known else None,
            witness=self.witness if self._frame is not None else None,
            max_matches=self.options.max_matches,
        )
        if self._frame is not None and self.mapping is not None:
            pairs = tuple(self.mapping.pairs)
        else:  # the uploaded columns, read back: named by their identifiers
            pairs = tuple((c, c) for c in frame.columns if c in IDENTIFIERS)
        result.sent_rows = partial(sent_profile, frame, pairs)
        return result

    def _allowance(self) -> RowAllowance | None:
        """The most result rows the job's options allow (None when the rows sent are not
        known)."""
        return RowAllowance(self.rows, self.options.max_matches) if self.rows else None

    def _unpacked(self, reporter: Reporter) -> Mapping[str, bytes]:
        """The deliverable's files: from the result cache, or downloaded and unpacked."""
        if self._files is not None:
            return self._files
        if self._read is not None:
            return self._read.files  # read as the SFTP drop's file was vetted
        return unpack_deliverable(self._fetch(reporter), filename=self.filename)

    def _cache(self, files: Mapping[str, bytes]) -> None:
        """Keep a deliverable that merged in the result cache.

        Compressing it takes a core for a while, so it is done on a thread of
        its own while the caller goes on with the result (see
        :class:`~smartmatch_pandas.job.cache.PendingResult`, which warns if it
        fails); whatever reads the result cache waits for it.
        """
        if self._files is not None or not self.cache or self.cache_key is None:
            return
        key = self.cache_key
        spooled = SpooledFiles.of(files)
        self._stored(lambda store: store.results.saving(key, self.filename, spooled), None)

    def _unusable(self) -> None:
        """The deliverable could not be used: forget it, so that the job fetches it again."""
        if self._files is not None:
            return  # from the result cache, which a new match with refresh=True replaces
        if self._deliverable is not None:
            self._deliverable.close()
        self._deliverable, self._read, self._url, self.channel = None, None, None, "poll"
        self._delivered.clear()
        self._state = "uploaded"  # here: poll for a fresh URL; in the store: not done
        self._stored(lambda store: store.update(self.filename, state="ready"), None)

    def _sent_columns(self, deliverable: Deliverable) -> list[str]:
        if self.mapping is not None:
            return [*self.mapping.identifiers, MATCHBACK_ID]
        # No record of the upload: the service echoes it, identifiers first.
        echoed = [c for c in deliverable.best.column_names if c in IDENTIFIERS]
        return [*echoed, MATCHBACK_ID]
