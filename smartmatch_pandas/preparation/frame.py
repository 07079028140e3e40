"""What makes a frame matchable at all, said once for the verbs, the check and the form.

A pandas DataFrame, with flat column labels, with rows, and with each column that is
sent appearing once. Each rule has one message, which says what to do.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Final

import pandas as pd

from ..errors import InputError

NO_ROWS: Final = "the frame has no rows: there is nothing to match"
FLAT_COLUMNS: Final = (
    "the frame has MultiIndex columns: flatten them first, for example "
    "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
)


def require_frame(df: object, *, flat: bool = True) -> pd.DataFrame:
    """``df`` itself, if it is a DataFrame (with flat columns, unless ``flat=False``);
    else raise `InputError`."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got a {type(df).__name__}")
    if flat and isinstance(df.columns, pd.MultiIndex):
        raise InputError(FLAT_COLUMNS)
    return df


def repeated(df: pd.DataFrame, labels: Iterable[Hashable]) -> list[Hashable]:
    """Those of ``labels`` that name more than one column of ``df``."""
    duplicated = set(df.columns[df.columns.duplicated()])
    return [label for label in labels if label in duplicated]


def repeated_message(label: Hashable, where: str | None = None) -> str:
    """Why a sent column that appears twice (in the frame, or in the file ``where``)
    cannot be sent, and what to do."""
    if where is not None:
        return f"column {label!r} appears more than once in {where}; rename the duplicates"
    return (
        f"column {label!r} appears more than once in the frame; rename or drop the "
        "duplicates, for example df.loc[:, ~df.columns.duplicated()]"
    )
