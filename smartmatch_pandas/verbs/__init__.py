"""The verbs: match, submit, resume, jobs, clear_cache, matching many lists at once, and
matching a file larger than memory.

Plain typed functions; the accessor, the form and the command line only gather
their arguments and call them.
"""

from .exploring import explore_frame
from .keywords import MatchKwargs, ResumeKwargs, SubmitKwargs
from .large_files import FileResult, match_file, resume_file
from .lists import ListResults, match_lists
from .matching import match
from .resuming import resume
from .store_views import Cleared, clear_cache, jobs
from .submitting import submit

__all__ = [
    "Cleared",
    "FileResult",
    "ListResults",
    "MatchKwargs",
    "ResumeKwargs",
    "SubmitKwargs",
    "clear_cache",
    "explore_frame",
    "jobs",
    "match",
    "match_file",
    "match_lists",
    "resume",
    "resume_file",
    "submit",
]
