"""What each row was sent with: its state, as normalised, and whether anything locates the person.

The input check counts these standings over a list (``check_frame``'s problems);
the exploration of a result shows them for the rows that did not match, so a
reader sees why (:mod:`smartmatch_pandas.deliverable.exploration`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Final

import numpy as np
import pandas as pd

from ..errors import InputError
from ..identifiers import PRESENT
from .frame import repeated
from .normalize import decoded, normalize

#: Identifiers that say who a person is when a name is not enough.
LOCATORS: Final = frozenset(
    {
        "voterbase_id",
        "smartvan_id",
        "voter_id",
        "exact_track",
        "address1",
        "zip",
        "dob",
        "phone",
        "email",
        "latitude",
        "longitude",
    }
)
NAMES: Final = frozenset({"full_name", "first_name_combined", "first_name", "last_name"})

NOTHING_USABLE: Final = "nothing usable"
NAMES_ONLY: Final = "names only"
NO_NAME_OR_LOCATOR: Final = "no name or locator"
UNREADABLE: Final = "unreadable values"
LOCATED: Final = "had a locator"
#: A row's standing, the first that applies: no usable value at all; a name but nothing
#: to locate the person by; neither (a state or a city alone); a locator, but a value the
#: normaliser could not read; a locator and every value read.
STANDINGS: Final = (NOTHING_USABLE, NAMES_ONLY, NO_NAME_OR_LOCATOR, UNREADABLE, LOCATED)
STANDING_DTYPE: Final = pd.CategoricalDtype(list(STANDINGS))


def row_standing(usable: Mapping[str, np.ndarray], unreadable: np.ndarray) -> pd.Categorical:
    """Each row's standing (one of :data:`STANDINGS`).

    Parameters
    ----------
    usable
        Per identifier sent, the rows with a value its rule reads.
    unreadable
        The rows with a value some identifier's rule could not read.
    """
    rows = len(unreadable)
    anything = _any(usable.values(), rows)
    named = _any((v for k, v in usable.items() if k in NAMES), rows)
    located = _any((v for k, v in usable.items() if k in LOCATORS), rows)
    codes = np.select([~anything, named & ~located, ~located, unreadable], [0, 1, 2, 3], 4)
    return pd.Categorical.from_codes(codes.astype(np.int8), dtype=STANDING_DTYPE)


def sent_profile(df: pd.DataFrame, pairs: Iterable[tuple[Hashable, str]]) -> pd.DataFrame:
    """Per row of ``df``, what it was sent with, for the columns sent as ``pairs``.

    Returns
    -------
    pandas.DataFrame
        On ``df``'s index: ``state``, the state as sent (normalised; missing when none
        or unreadable); ``state_unreadable``, a state was given that could not be read
        (Ontario, ZZ); ``standing`` (:func:`row_standing`); and per identifier sent,
        ``present:<identifier>``: the row held a value for it (as the job's summary
        counts rows with a value).

    A column that cannot be read as its identifier (or is repeated) counts as sent empty.
    """
    rows = len(df)
    usable: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    unreadable = np.zeros(rows, bool)
    state = pd.Series(pd.NA, index=range(rows), dtype="string")
    state_unreadable = np.zeros(rows, bool)
    for label, identifier in pairs:
        if repeated(df, [label]):
            continue
        try:
            column = normalize(df[label], identifier, label=label)
        except InputError:
            continue
        valid = column.present & ~column.invalid
        usable[identifier] = usable.get(identifier, np.zeros(rows, bool)) | valid
        present[identifier] = present.get(identifier, np.zeros(rows, bool)) | column.present
        unreadable |= column.invalid
        if identifier == "state":
            state = decoded(column.value).to_pandas().astype("string")
            state_unreadable = column.invalid
    columns: dict[str, object] = {
        "state": state.to_numpy(),
        "state_unreadable": state_unreadable,
        "standing": row_standing(usable, unreadable),
    }
    columns.update({PRESENT + identifier: flags for identifier, flags in present.items()})
    return pd.DataFrame(columns, index=df.index)


def normalised_states(states: pd.Series, *, label: Hashable = None) -> pd.Series:
    """``states`` as USPS codes, as they are sent (missing where none or unreadable)."""
    # Long columns are normalised per distinct value: expand them before counting.
    values = decoded(normalize(states, "state", label=label).value)
    return pd.Series(values.to_pandas().astype("string").to_numpy(), index=states.index)


def _any(flags: Iterable[np.ndarray], rows: int) -> np.ndarray:
    out = np.zeros(rows, bool)
    for f in flags:
        out |= f
    return out
