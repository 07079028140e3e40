"""Contact lists drawn from the voter file, with the noise real lists have.

Each row keeps its ground truth (``true_voterbase_id``, empty for people
who are not in the voter file), so match quality can be measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .voterfile import VoterFile

NICKNAMES = {
    "Robert": "Bob",
    "William": "Bill",
    "Richard": "Dick",
    "James": "Jim",
    "Michael": "Mike",
    "Joseph": "Joe",
    "Thomas": "Tom",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Elizabeth": "Liz",
    "Margaret": "Peggy",
    "Jennifer": "Jen",
    "Patricia": "Pat",
    "Susan": "Sue",
    "Deborah": "Debbie",
    "Kimberly": "Kim",
    "Rebecca": "Becky",
}


def sample_contacts(
    voters: VoterFile, rows: int, *, seed: int = 1, outsiders: float = 0.1
) -> pd.DataFrame:
    """A contact list of ``rows`` rows: people from ``voters`` with noise, plus outsiders.

    Parameters
    ----------
    voters
        The voter file to draw from.
    rows
        How many rows.
    seed
        The same seed gives the same list.
    outsiders
        Share of rows that are people not in the voter file.
    """
    rng = np.random.default_rng(seed)
    people = voters.people
    picks = rng.choice(len(people), rows, replace=rows > len(people))
    frame = people.iloc[picks][
        [
            "voterbase_id",
            "first_name",
            "last_name",
            "address1",
            "city",
            "state",
            "zip",
            "phone_wireless",
            "email",
            "dob",
        ]
    ].reset_index(drop=True)
    frame = frame.rename(columns={"phone_wireless": "phone", "voterbase_id": "true_voterbase_id"})
    _nicknames(frame, rng, 0.08)
    _typos(frame, "last_name", rng, 0.05)
    _typos(frame, "first_name", rng, 0.03)
    _phone_formats(frame, rng)
    for column, share in {"email": 0.3, "phone": 0.25, "dob": 0.4, "address1": 0.1}.items():
        frame.loc[rng.random(rows) < share, column] = None
    outside = rng.random(rows) < outsiders
    stranger = VoterFile.generate(max(int(outside.sum()), 1), seed=seed + 10_000).people
    for column in ["first_name", "last_name", "address1", "city", "state", "zip", "dob"]:
        frame.loc[outside, column] = stranger[column].to_numpy()[: outside.sum()]
    frame.loc[outside, ["email", "phone"]] = None
    frame.loc[outside, "true_voterbase_id"] = None
    frame = frame.replace("", None)
    return frame[[c for c in frame.columns if c != "true_voterbase_id"] + ["true_voterbase_id"]]


def _nicknames(frame: pd.DataFrame, rng: np.random.Generator, share: float) -> None:
    hit = (rng.random(len(frame)) < share) & frame["first_name"].isin(list(NICKNAMES))
    frame.loc[hit, "first_name"] = frame.loc[hit, "first_name"].map(NICKNAMES)


def _typos(frame: pd.DataFrame, column: str, rng: np.random.Generator, share: float) -> None:
    hit = np.flatnonzero(rng.random(len(frame)) < share)
    values = frame[column].to_numpy(object)
    for i in hit:  # a few percent of rows: swapping two letters needs no vectorising
        name = values[i]
        if isinstance(name, str) and len(name) > 3:
            j = int(rng.integers(1, len(name) - 2))
            values[i] = name[:j] + name[j + 1] + name[j] + name[j + 2 :]
    frame[column] = values


def _phone_formats(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    phone = frame["phone"].fillna("")
    style = rng.integers(0, 4, len(frame))
    dashed = phone.str[:3] + "-" + phone.str[3:6] + "-" + phone.str[6:]
    paren = "(" + phone.str[:3] + ") " + phone.str[3:6] + "-" + phone.str[6:]
    dotted = phone.str[:3] + "." + phone.str[3:6] + "." + phone.str[6:]
    formatted = np.select([style == 1, style == 2, style == 3], [dashed, paren, dotted], phone)
    frame["phone"] = pd.Series(formatted, index=frame.index).where(phone != "", None)
