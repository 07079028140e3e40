"""smartmatch-pandas: TargetSmart SmartMatch for pandas, in one line.

>>> import smartmatch_pandas                     # registers df.smartmatch
>>> enriched = df.smartmatch.match(max_matches=3)  # doctest: +SKIP

A submitted job is never lost: ``smartmatch_pandas.jobs()`` lists them and
``smartmatch_pandas.resume(filename, df)`` picks one up from any process.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import accessor as _accessor
from . import dask_accessor as _dask_accessor
from . import polars_accessor as _polars_accessor
from ._version import __version__
from .deliverable import MatchResult, MatchSummary
from .errors import (
    AuthorizationError,
    DeliverableError,
    DiskError,
    HostKeyError,
    InputError,
    InternalError,
    JobFailedError,
    JobTimeoutError,
    OptionError,
    PoorMatchWarning,
    QueryError,
    RateLimitError,
    ServiceError,
    SmartMatchError,
    SmartMatchWarning,
    StorageError,
    TransportError,
    UnreachableError,
    ValidationError,
)
from .files.streams import ArrowStream
from .files.tables import TableFile, TableOutput, read_table, write_table
from .identifiers import IDENTIFIERS
from .job.handle import Job
from .job.waiting import JobStatus
from .options import MatchOptions
from .preparation.check import CheckReport, check_frame
from .preparation.mapping import ColumnMapping
from .preparation.table import prepare_frame
from .progress import ProgressEvent
from .verbs import (
    Cleared,
    FileResult,
    ListResults,
    clear_cache,
    jobs,
    match,
    match_file,
    match_lists,
    resume,
    resume_file,
    submit,
)
from .wire.webhook import WebhookReceiver

if _TYPE_CHECKING:
    from .form.widget import MatchForm
    from .wire.sftp import SFTPSettings

# df.smartmatch on Polars frames and Dask DataFrames too, once Polars or Dask is imported
# (neither is imported here).
_polars_accessor.register_when_imported()
_dask_accessor.register_when_imported()
del _accessor, _dask_accessor, _polars_accessor


def __getattr__(name: str) -> _Any:
    # ``smartmatch_pandas.sftp`` needs the optional paramiko: imported on first use.
    if name == "sftp":
        return _import_module(".wire.sftp", __name__)
    if name == "SFTPSettings":
        return _import_module(".wire.sftp", __name__).SFTPSettings
    # The form needs ipywidgets, loaded only when a form is made.
    if name == "MatchForm":
        return _import_module(".form", __name__).MatchForm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IDENTIFIERS",
    "ArrowStream",
    "AuthorizationError",
    "CheckReport",
    "Cleared",
    "ColumnMapping",
    "DeliverableError",
    "DiskError",
    "FileResult",
    "HostKeyError",
    "InputError",
    "InternalError",
    "Job",
    "JobFailedError",
    "JobStatus",
    "JobTimeoutError",
    "ListResults",
    "MatchForm",
    "MatchOptions",
    "MatchResult",
    "MatchSummary",
    "OptionError",
    "PoorMatchWarning",
    "ProgressEvent",
    "QueryError",
    "RateLimitError",
    "SFTPSettings",
    "ServiceError",
    "SmartMatchError",
    "SmartMatchWarning",
    "StorageError",
    "TableFile",
    "TableOutput",
    "TransportError",
    "UnreachableError",
    "ValidationError",
    "WebhookReceiver",
    "__version__",
    "check_frame",
    "clear_cache",
    "jobs",
    "match",
    "match_file",
    "match_lists",
    "prepare_frame",
    "read_table",
    "resume",
    "resume_file",
    "submit",
    "write_table",
]
