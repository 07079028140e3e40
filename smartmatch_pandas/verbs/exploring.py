"""``explore_frame``: the exploration of a frame that ``match()`` returned.

``MatchResult.explore()`` knows what each row was sent with from its job; a frame
knows only its columns. The appended columns are the block at its end (``vb.*``,
``ts.*``, ``ts__*``, ``tsmart_*``, with ``tsmart_match_code`` among them); the
columns before them are read as ``match()`` read them (the same aliases, or the
same ``columns=``) to say what each row was sent with.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Final

import pandas as pd

from ..deliverable import Exploration, explore
from ..errors import InputError
from ..identifiers import MATCH_CODE
from ..preparation.frame import require_frame
from ..preparation.standing import sent_profile
from ..preparation.table import frame_mapping

#: How the names of the columns a deliverable appends begin.
APPENDED_PREFIXES: Final = ("vb.", "ts.", "ts__", "tsmart_")


def explore_frame(
    frame: pd.DataFrame, columns: Mapping[Hashable, str | None] | None = None
) -> Exploration:
    """Explore a frame that ``match()`` returned: what ``MatchResult.explore()`` shows.

    Parameters
    ----------
    frame
        The enriched frame: the list's columns, then the appended ones.
    columns
        The ``columns=`` the list was matched with, if any.

    Returns
    -------
    Exploration
        The match rate overall, per identifier present (from
        ``frame.attrs["smartmatch"]``) and per state; the voter fields among
        matched rows; the unmatched rows by what they were sent with.

    Raises
    ------
    InputError
        ``frame`` has no ``tsmart_match_code`` column (it was not matched).

    Examples
    --------
    >>> enriched = df.smartmatch.match()          # doctest: +SKIP
    >>> enriched.smartmatch.explore()             # doctest: +SKIP
    """
    require_frame(frame)
    if MATCH_CODE not in frame.columns:
        raise InputError(
            f"the frame has no {MATCH_CODE} column: explore the frame match() returned, "
            "or a job's result with result.explore()"
        )
    given = frame.iloc[:, : first_appended(frame.columns)]
    mapping = frame_mapping(given, columns)
    return explore(frame, None, sent_profile(given, mapping.pairs))


def first_appended(labels: pd.Index) -> int:
    """The position of the first appended column: the block of appended names at the end,
    reaching back at least to ``tsmart_match_code``."""
    names = [str(label) for label in labels]
    start = len(names)
    while start > 0 and names[start - 1].startswith(APPENDED_PREFIXES):
        start -= 1
    return min(start, names.index(MATCH_CODE))
