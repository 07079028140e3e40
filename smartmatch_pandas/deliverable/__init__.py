"""The deliverable: unpacked, its CSVs read, merged back onto the frame, summarised.

Modules of :mod:`smartmatch_pandas.deliverable`:

``unpack``
    The bytes → the files inside, within a budget against decompression bombs.
``read``
    The files → the best-match and additional-match CSVs, and the report.
``merge``
    The CSVs merged back onto the frame, by row position.
``batched``
    The same merge onto a list in a file larger than memory, batch by batch.
``summary``
    What a finished job gives back: :class:`MatchResult`, :class:`MatchSummary`.
``exploration``
    ``MatchResult.explore()``: the tables of :class:`Exploration`.
``exploration_view``
    The exploration drawn: HTML with inline SVG, and text.
``voter_fields``
    The appended voter fields typed by the data dictionary ``voter_fields.csv``.
"""

from .batched import merge_file
from .exploration import Exploration, explore
from .merge import TEXT_DTYPE, merge_back, uploaded_frame
from .read import Deliverable, RowAllowance, read_deliverable, read_files
from .summary import RANK, IdentifierCoverage, MatchResult, MatchSummary
from .unpack import safe_name, unpack_deliverable
from .voter_fields import FieldDictionary, FieldRule, type_columns, voter_fields

__all__ = [
    "RANK",
    "TEXT_DTYPE",
    "Deliverable",
    "Exploration",
    "FieldDictionary",
    "FieldRule",
    "IdentifierCoverage",
    "MatchResult",
    "MatchSummary",
    "RowAllowance",
    "explore",
    "merge_back",
    "merge_file",
    "read_deliverable",
    "read_files",
    "safe_name",
    "type_columns",
    "unpack_deliverable",
    "uploaded_frame",
    "voter_fields",
]
