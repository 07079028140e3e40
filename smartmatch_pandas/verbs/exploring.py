"""``explore_frame``: the exploration of a frame that ``match()`` returned.

``MatchResult.explore()`` knows what each row was sent with from its job; a frame
knows only its columns. The appended columns are the block at its end (``vb.*``,
``ts.*``, ``ts__*``, ``tsmart_*``, with ``tsmart_match_code`` among them); the
columns before them are read as ``match()`` read them (the same aliases, or the
same ``columns=``) to say what each row was sent with. Every panel is counted from
the frame's own rows (a filtered frame is explored as it is; pandas carries the
whole job's ``attrs`` over to a slice). The appended columns of a list enriched
before are renamed (``vb.vf_party_2``): the frame's ``attrs`` name them, or else
the renaming rule finds them (the name with the highest ``_<n>``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from typing import Final

import pandas as pd

from ..deliverable import Exploration, explore
from ..deliverable.exploration import FIELDS, VOTER_STATE
from ..deliverable.summary import RANK
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
        The match rate overall, per identifier present and per state; the
        voter fields among matched rows; the unmatched rows by what they were
        sent with: all counted from the frame's rows (of every candidate, with
        ``all_matches=True``, the best match of each row).

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
    given = frame.iloc[:, : first_appended(frame.columns)].drop(columns=RANK, errors="ignore")
    mapping = frame_mapping(given, columns)
    return explore(frame, None, sent_profile(given, mapping.pairs), fields=appended_fields(frame))


def appended_fields(frame: pd.DataFrame) -> dict[str, str]:
    """The column this match appended for each field the exploration reads: as
    ``attrs["smartmatch"]["renamed"]`` says, or else the field's name with the highest
    ``_<n>`` (the renaming rule gives a later match a higher number)."""
    attrs = frame.attrs.get("smartmatch")
    renamed = attrs.get("renamed") if isinstance(attrs, Mapping) else None
    names = [str(label) for label in frame.columns]
    if isinstance(renamed, Mapping):
        fields = {str(field): str(column) for column, field in renamed.items()}
        return {field: column for field, column in fields.items() if column in names}
    fields = {}
    for field in (MATCH_CODE, VOTER_STATE, *FIELDS.values()):
        pattern = re.compile(re.escape(field) + r"(?:_([0-9]+))?")
        numbered = [
            (int(found.group(1) or 1), name)
            for name in names
            if (found := pattern.fullmatch(name)) is not None
        ]
        if numbered:
            fields[field] = max(numbered)[1]
    return fields


def first_appended(labels: pd.Index) -> int:
    """The position of the first appended column: the block of appended names at the end,
    reaching back at least to ``tsmart_match_code``."""
    names = [str(label) for label in labels]
    start = len(names)
    while start > 0 and names[start - 1].startswith(APPENDED_PREFIXES):
        start -= 1
    return min(start, names.index(MATCH_CODE))
