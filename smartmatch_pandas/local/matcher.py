"""Record linkage of an uploaded contact list against the voter file.

:class:`Matcher` is the interface the service calls; :class:`SimpleMatcher`
finds candidates by exact agreement on blocking keys (ids, email, phone,
name with ZIP or birth date) and ranks them by a weighted count of the
fields that agree. It works column-wise on whole frames, never row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import pandas as pd

from .voterfile import VoterFile

PHONES: Final = ("phone_landline", "phone_wireless", "phone_voip")
# Fields compared between a contact and a candidate, and the weight of agreement.
WEIGHTS: Final = {
    "voterbase_id": 20.0,
    "email": 8.0,
    "phone": 7.0,
    "first_name": 3.0,
    "last_name": 4.0,
    "dob": 6.0,
    "zip": 2.0,
    "address1": 4.0,
    "city": 1.0,
    "state": 0.5,
    "gender": 0.5,
}
# Blocking keys: a candidate must agree exactly on one of these.
BLOCKS: Final = (
    ("voterbase_id",),
    ("email",),
    ("phone",),
    ("first_name", "last_name", "zip"),
    ("first_name", "last_name", "dob"),
    ("last_name", "dob", "zip"),
    ("last_name", "address1", "zip"),
)


@dataclass(frozen=True)
class Candidates:
    """Accepted candidates, best first within each contact row.

    Attributes
    ----------
    row
        The contact's row position in the upload.
    person
        The candidate's row position in the voter file.
    score
        The candidate's score (higher is better).
    method
        The blocking key that found the candidate, such as ``"email"``.
    rank
        1 for a row's best candidate, then 2, 3, ...
    """

    row: np.ndarray
    person: np.ndarray
    score: np.ndarray
    method: np.ndarray
    rank: np.ndarray


class Matcher(Protocol):
    """What the local service needs of a record-linkage engine."""

    def match(self, contacts: pd.DataFrame, max_matches: int) -> Candidates:
        """Up to ``max_matches`` accepted candidates per contact row, best first.

        ``contacts`` holds the upload's identifier columns as text (None
        where empty), one row per uploaded row.
        """
        ...


class SimpleMatcher:
    """Exact blocking keys plus a weighted agreement score.

    Parameters
    ----------
    voters
        The voter file to match against.
    threshold
        The least score a candidate needs to be accepted.
    """

    def __init__(self, voters: VoterFile, threshold: float = 9.0) -> None:
        self.voters = voters
        self.threshold = threshold
        self._people = _normalise(voters.people)
        person = np.repeat(np.arange(len(self._people)), len(PHONES))
        phone = self._people[list(PHONES)].to_numpy(object).ravel()
        present = phone != ""
        self._phones = pd.DataFrame({"person": person[present], "phone": phone[present]})

    def match(self, contacts: pd.DataFrame, max_matches: int) -> Candidates:
        """See :meth:`Matcher.match`."""
        mine = _normalise(contacts)
        pairs = self._candidate_pairs(mine)
        if pairs.empty:
            empty = np.zeros(0, dtype=np.int64)
            return Candidates(empty, empty, np.zeros(0), np.zeros(0, dtype=object), empty)
        pairs["score"] = self._score(mine, pairs)
        pairs = pairs[pairs["score"] >= self.threshold]
        pairs = pairs.sort_values(["row", "score", "person"], ascending=[True, False, True])
        pairs["rank"] = pairs.groupby("row").cumcount() + 1
        pairs = pairs[pairs["rank"] <= max_matches]
        return Candidates(
            pairs["row"].to_numpy(np.int64),
            pairs["person"].to_numpy(np.int64),
            pairs["score"].to_numpy(float),
            pairs["method"].to_numpy(object),
            pairs["rank"].to_numpy(np.int64),
        )

    def _candidate_pairs(self, contacts: pd.DataFrame) -> pd.DataFrame:
        found = []
        people = self._people.reset_index(names="person")
        rows = contacts.reset_index(names="row")
        for key in BLOCKS:
            if not all(k in contacts.columns for k in key):
                continue
            left = rows[["row", *key]]
            left = left[left[list(key)].astype(bool).all(axis=1)]
            right = self._phones if key == ("phone",) else people[["person", *key]]
            right = right[right[list(key)].astype(bool).all(axis=1)]
            joined = left.merge(right, on=list(key))[["row", "person"]]
            joined["method"] = "+".join(key)
            found.append(joined)
        if not found:
            return pd.DataFrame(columns=["row", "person", "method"])
        pairs = pd.concat(found, ignore_index=True)
        return pairs.drop_duplicates(["row", "person"], keep="first").reset_index(drop=True)

    def _score(self, contacts: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
        score = np.zeros(len(pairs))
        for field, weight in WEIGHTS.items():
            if field not in contacts.columns:
                continue
            mine = contacts[field].to_numpy(object)[pairs["row"].to_numpy()]
            if field == "phone":
                theirs = [
                    self._people[p].to_numpy(object)[pairs["person"].to_numpy()] for p in PHONES
                ]
                agree = np.logical_or.reduce([mine == t for t in theirs])
            else:
                theirs_ = self._people[field].to_numpy(object)[pairs["person"].to_numpy()]
                agree = mine == theirs_
            score += weight * (agree & (mine != ""))
        return score


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Comparable forms: lower-case trimmed text, digits of phones, 5-digit ZIPs."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column].fillna("").astype(str).str.strip().str.lower()
        if column.startswith("phone"):
            values = values.str.replace(r"\D", "", regex=True).str[-10:]
        elif column == "zip":
            values = values.str[:5]
        elif column == "dob":
            values = values.str.replace(r"\D", "", regex=True)
        out[column] = values.to_numpy(object)
    return out
