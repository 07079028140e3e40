"""smartmatch-pandas: TargetSmart SmartMatch for pandas, in one line.

>>> import smartmatch_pandas                     # registers df.smartmatch
>>> enriched = df.smartmatch.match(max_matches=3)  # doctest: +SKIP

A submitted job is never lost: ``smartmatch_pandas.jobs()`` lists them and
``smartmatch_pandas.resume(filename, df)`` picks one up from any process.
"""

__version__ = "0.1.0"

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import accessor as _accessor
from .api import clear_cache, jobs, match, resume, submit
from .check import CheckReport, check_frame
from .errors import (
    AuthorizationError,
    DeliverableError,
    HostKeyError,
    InputError,
    JobFailedError,
    JobTimeoutError,
    OptionError,
    RateLimitError,
    ServiceError,
    SmartMatchError,
    SmartMatchWarning,
    StorageError,
    TransportError,
    ValidationError,
)
from .fields import ColumnMapping
from .identifiers import IDENTIFIERS
from .job import Job, JobStatus
from .options import MatchOptions
from .prepare import prepare_frame
from .progress import ProgressEvent
from .results import MatchResult, MatchSummary

if _TYPE_CHECKING:
    from .widgets import MatchForm

del _accessor


def __getattr__(name: str) -> _Any:
    # ``smartmatch_pandas.sftp`` needs the optional paramiko: imported on first use.
    if name == "sftp":
        return _import_module(".sftp", __name__)
    # The form needs ipywidgets, loaded only when a form is made.
    if name == "MatchForm":
        return _import_module(".widgets", __name__).MatchForm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IDENTIFIERS",
    "AuthorizationError",
    "CheckReport",
    "ColumnMapping",
    "DeliverableError",
    "HostKeyError",
    "InputError",
    "Job",
    "JobFailedError",
    "JobStatus",
    "JobTimeoutError",
    "MatchForm",
    "MatchOptions",
    "MatchResult",
    "MatchSummary",
    "OptionError",
    "ProgressEvent",
    "RateLimitError",
    "ServiceError",
    "SmartMatchError",
    "SmartMatchWarning",
    "StorageError",
    "TransportError",
    "ValidationError",
    "__version__",
    "check_frame",
    "clear_cache",
    "jobs",
    "match",
    "prepare_frame",
    "resume",
    "submit",
]
