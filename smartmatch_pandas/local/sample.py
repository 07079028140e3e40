"""Contact lists drawn from the voter file, with the noise real lists have.

A row is a person of the voter file as a campaign's CRM would hold them:
some fields missing, names typed with typos or as nicknames, an address
from before a move, phones and dates in whatever format, the same person
twice, and people who are not in the voter file at all (strangers, and
housemates of voters who are not registered themselves). Each row keeps its
ground truth (``true_voterbase_id``, empty for people not in the file) and,
on request, the noise it was given, so match quality can be measured per
kind of noise.

The noise is drawn from the seed alone: the same voter file, rows and seed
give the same list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import pandas as pd

from . import reference
from .voterfile import VoterFile

#: Share of the rows of voters that each kind of noise hits (independently).
NOISE: Final = {
    "nickname": 0.08,
    "first_name_typo": 0.04,
    "last_name_typo": 0.05,
    "swapped_names": 0.015,
    "married_name": 0.02,
    "upper_or_lower_case": 0.2,
    "moved": 0.07,
    "address_format": 0.2,
    "zip_format": 0.08,
    "dob_error": 0.03,
    "dob_format": 0.1,
    "phone_format": 0.7,
    "other_phone": 0.05,
    "other_email": 0.05,
}
#: Share of rows whose field is left empty (on top of what the voter file lacks).
MISSING: Final = {
    "middle_name": 0.75,
    "address1": 0.08,
    "city": 0.1,
    "state": 0.03,
    "zip": 0.05,
    "phone": 0.3,
    "email": 0.35,
    "dob": 0.35,
}
#: The list's columns, in order (``true_voterbase_id`` and ``noise`` follow).
COLUMNS: Final = (
    "first_name",
    "middle_name",
    "last_name",
    "address1",
    "city",
    "state",
    "zip",
    "phone",
    "email",
    "dob",
    "age",
)
_SPELLED_OUT: Final = {
    " St": " Street",
    " Ave": " Avenue",
    " Rd": " Road",
    " Dr": " Drive",
    " Ln": " Lane",
    " Ct": " Court",
    " Blvd": " Boulevard",
}
_KEYBOARD: Final = "qwertyuiopasdfghjklzxcvbnm"
#: A kind of noise changes the rows it is given and returns those it changed.
_Noise = Callable[[pd.DataFrame, np.ndarray, np.random.Generator, pd.DataFrame], np.ndarray]
#: The fields a kind of noise needs (a row without them is left alone).
_NEEDS: Final = {
    "nickname": ("first_name",),
    "first_name_typo": ("first_name",),
    "last_name_typo": ("last_name",),
    "swapped_names": ("first_name", "last_name"),
    "married_name": ("last_name",),
    "moved": ("address1",),
    "address_format": ("address1",),
    "zip_format": ("zip",),
    "dob_error": ("dob",),
    "dob_format": ("dob",),
    "phone_format": ("phone",),
    "other_phone": ("phone",),
    "other_email": ("email",),
}


def sample_contacts(
    voters: VoterFile,
    rows: int,
    *,
    seed: int = 1,
    outsiders: float = 0.1,
    duplicates: float = 0.03,
    noise: dict[str, float] | None = None,
    labels: bool = False,
) -> pd.DataFrame:
    """A contact list of ``rows`` rows: people of ``voters`` with noise, and outsiders.

    Parameters
    ----------
    voters
        The voter file to draw from.
    rows
        How many rows.
    seed
        The same seed gives the same list.
    outsiders
        Share of rows that are people not in the voter file: seven in ten
        strangers, three in ten housemates of a voter (same address and
        last name, another person).
    duplicates
        Share of rows that repeat a person of another row (with noise of
        their own).
    noise
        Share of rows each kind of noise hits; :data:`NOISE` by default
        (``{}`` for none).
    labels
        Add a ``noise`` column: the kinds of noise of each row, ``;``-separated
        (``"clean"`` for none; ``"not_in_file"`` and ``"housemate_not_in_file"``
        for outsiders; ``"duplicate"``).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` as text (None where empty), then ``true_voterbase_id``.
    """
    if rows < 0:
        raise ValueError(f"rows {rows} must be 0 or more")
    rng = np.random.default_rng([seed, 0x5A3])
    shares = dict(NOISE if noise is None else noise)
    unknown = set(shares) - set(NOISE)
    if unknown:
        raise ValueError(f"unknown kinds of noise {sorted(unknown)}; known: {sorted(NOISE)}")
    kind = rng.choice(3, rows, p=[1 - outsiders, outsiders * 0.7, outsiders * 0.3])
    people = voters.people
    picks = rng.choice(len(people), rows, replace=rows > len(people))
    repeat = (rng.random(rows) < duplicates) & (kind == 0)
    repeat[0] = False
    earlier = np.minimum((rng.random(rows) * np.arange(rows)).astype(np.int64), rows - 1)
    picks = np.where(repeat, picks[earlier], picks)
    repeat &= kind[earlier] == 0
    frame = _records(people, picks)
    frame["true_voterbase_id"] = people["voterbase_id"].to_numpy(object)[picks]
    tags = pd.DataFrame(False, index=frame.index, columns=[*NOISE, "duplicate"])
    tags["duplicate"] = repeat

    strangers = kind == 1
    if strangers.any():
        others = VoterFile.generate(max(int(strangers.sum()), 50), seed=seed + 10_007, cache=False)
        stranger = _records(others.people, np.arange(strangers.sum()))
        frame.loc[strangers, list(COLUMNS)] = stranger[list(COLUMNS)].to_numpy()
        # Their own addresses: a number no voter's address has (addresses are unique).
        email = stranger["email"].str.replace("@", ".x@", regex=False)
        frame.loc[strangers, "email"] = email.to_numpy()
        frame.loc[strangers, "true_voterbase_id"] = None
    housemates = kind == 2
    if housemates.any():
        _housemates(frame, housemates, rng)

    for column, share in MISSING.items():
        frame.loc[rng.random(rows) < share, column] = None
    # Age is known for some of those whose date of birth is not.
    frame.loc[frame["dob"].notna() | (rng.random(rows) < 0.7), "age"] = None
    inside = kind == 0
    for name, share in shares.items():
        hit = inside & (rng.random(rows) < share)
        for column in _NEEDS.get(name, ()):
            hit &= frame[column].notna().to_numpy()
        if hit.any():
            hit = _NOISES[name](frame, hit, rng, people)
        tags[name] = hit

    frame = frame.astype(object).where(frame.notna(), None)
    if labels:
        names = np.array(tags.columns, dtype=object)
        label = [";".join(names[flags]) or "clean" for flags in tags.to_numpy()]
        frame["noise"] = np.where(strangers, "not_in_file", label)
        frame.loc[housemates, "noise"] = "housemate_not_in_file"
    return frame.reset_index(drop=True)


def _records(people: pd.DataFrame, picks: np.ndarray) -> pd.DataFrame:
    """The list's columns for voters ``picks``, as the voter file has them."""
    chosen = people.iloc[picks]
    phone = chosen["phone_wireless"].fillna(chosen["phone_landline"]).fillna(chosen["phone_voip"])
    dob = chosen["dob"]
    return pd.DataFrame(
        {
            "first_name": chosen["first_name"].to_numpy(object),
            "middle_name": chosen["middle_name"].to_numpy(object),
            "last_name": chosen["last_name"].to_numpy(object),
            "address1": (chosen["address1"] + (" " + chosen["address2"]).fillna("")).to_numpy(
                object
            ),
            "city": chosen["city"].to_numpy(object),
            "state": chosen["state"].to_numpy(object),
            "zip": chosen["zip"].to_numpy(object),
            "phone": phone.to_numpy(object),
            "email": chosen["email"].to_numpy(object),
            "dob": dob.to_numpy(object),
            "age": chosen["age"].to_numpy(object),
        }
    ).astype(object)


def _housemates(frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator) -> None:
    """Someone living with the voter of the row, who is not in the file themselves."""
    n = int(hit.sum())
    names = reference.names()
    frame.loc[hit, "first_name"] = names.first[
        rng.choice(len(names.first), n, p=names.first_weight / names.first_weight.sum())
    ]
    frame.loc[hit, "middle_name"] = None
    born = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, n), unit="D")
    frame.loc[hit, "dob"] = born.strftime("%Y%m%d").to_numpy(object)
    frame.loc[hit, "age"] = None
    frame.loc[hit, "email"] = None
    frame.loc[hit, "phone"] = _random_phones(rng, n)
    frame.loc[hit, "true_voterbase_id"] = None


# -- the kinds of noise: each changes the rows it hits and says which it changed ----------


def _nickname(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    pairs = reference.nicknames().to_pandas()
    pairs = pairs[pairs["nickname"].str.len() > 1]
    first = frame["first_name"].str.lower()
    choices = pairs.groupby("name")["nickname"].agg(list)
    options = first.map(choices)
    hit = hit & options.notna().to_numpy()
    draw = rng.random(len(frame))
    picked = [
        opts[int(d * len(opts))].title() for opts, d in zip(options[hit], draw[hit], strict=True)
    ]
    frame.loc[hit, "first_name"] = picked
    return hit


def _typo(column: str) -> _Noise:
    def apply(
        frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
    ) -> np.ndarray:
        values = frame[column].to_numpy(object, copy=True)
        hit = hit & np.array([isinstance(v, str) and len(v) >= 4 for v in values])
        for i in np.flatnonzero(hit):  # a few percent of rows: one edit each
            values[i] = _edit(values[i], rng)
        frame[column] = values
        return hit

    return apply


def _edit(name: str, rng: np.random.Generator) -> str:
    j = int(rng.integers(1, len(name) - 1))
    letter = _KEYBOARD[int(rng.integers(0, len(_KEYBOARD)))]
    how = int(rng.integers(0, 4))
    if how == 0:  # transpose
        return name[:j] + name[j + 1] + name[j] + name[j + 2 :]
    if how == 1:  # delete
        return name[:j] + name[j + 1 :]
    if how == 2:  # insert
        return name[:j] + letter + name[j:]
    return name[:j] + letter + name[j + 1 :]  # substitute


def _swapped_names(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    first = frame.loc[hit, "first_name"].to_numpy()
    frame.loc[hit, "first_name"] = frame.loc[hit, "last_name"].to_numpy()
    frame.loc[hit, "last_name"] = first
    return hit


def _married_name(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    names = reference.names()
    n = int(hit.sum())
    frame.loc[hit, "last_name"] = names.last[
        rng.choice(len(names.last), n, p=names.last_weight / names.last_weight.sum())
    ]
    return hit


def _case(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    upper = hit & (rng.random(len(frame)) < 0.7)
    lower = hit & ~upper
    for column in ("first_name", "middle_name", "last_name", "address1", "city", "email"):
        values = frame[column]
        frame.loc[upper, column] = values[upper].str.upper()
        frame.loc[lower, column] = values[lower].str.lower()
    return hit


def _moved(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, people: pd.DataFrame
) -> np.ndarray:
    """The list has the person's new home; the voter file still the old one."""
    new = _records(people, rng.integers(0, len(people), int(hit.sum())))
    for column in ("address1", "city", "state", "zip"):
        frame.loc[hit, column] = new[column].to_numpy()
    return hit


def _address_format(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    address = frame.loc[hit, "address1"].astype("string")
    for short, long in _SPELLED_OUT.items():
        address = address.str.replace(rf"{short}\b", long, regex=True)
    address = address.str.replace(r"\bApt ", "Apartment ", regex=True)
    address = address.str.replace(r"^(\d+) ", r"\1, ", regex=True).where(
        rng.random(len(address)) < 0.2, address
    )
    frame.loc[hit, "address1"] = address.to_numpy(object)
    return hit


def _zip_format(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    zips = frame.loc[hit, "zip"].astype("string")
    plus4 = (
        zips
        + "-"
        + pd.Series(rng.integers(0, 10_000, len(zips)), index=zips.index).astype(str).str.zfill(4)
    )
    lost_zero = zips.str.lstrip("0")  # what a spreadsheet makes of 02134
    frame.loc[hit, "zip"] = plus4.where(zips.str[0] != "0", lost_zero).to_numpy(object)
    return hit


def _dob_error(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    dob = frame.loc[hit, "dob"].astype("string")
    swapped = dob.str[:4] + dob.str[6:8] + dob.str[4:6]
    year_typo = dob.str[:3] + ((dob.str[3].astype(int) + 1) % 10).astype(str) + dob.str[4:]
    # The day after, in numpy's own days (pandas 2.2 adds a Timedelta in a unit numpy
    # deprecates).
    days = pd.to_datetime(dob, format="%Y%m%d").to_numpy().astype("datetime64[D]")
    day_typo = pd.Series(days + np.timedelta64(1, "D"), index=dob.index)
    how = rng.integers(0, 3, len(dob))
    valid_swap = dob.str[6:8].astype(int) <= 12
    out = np.where(
        (how == 0) & valid_swap,
        swapped,
        np.where(how == 1, year_typo, day_typo.dt.strftime("%Y%m%d")),
    )
    frame.loc[hit, "dob"] = out.astype(object)
    return hit


def _dob_format(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    dob = pd.to_datetime(frame.loc[hit, "dob"], format="%Y%m%d", errors="coerce")
    style = rng.integers(0, 2, len(dob))
    out = np.where(style == 0, dob.dt.strftime("%m/%d/%Y"), dob.dt.strftime("%Y-%m-%d"))
    frame.loc[hit, "dob"] = (
        pd.Series(out, index=dob.index).where(dob.notna(), None).to_numpy(object)
    )
    return hit


def _phone_format(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    phone = frame.loc[hit, "phone"].astype("string")
    a, b, c = phone.str[:3], phone.str[3:6], phone.str[6:]
    styles = [
        a + "-" + b + "-" + c,
        "(" + a + ") " + b + "-" + c,
        a + "." + b + "." + c,
        "+1 " + a + " " + b + " " + c,
        "1-" + a + "-" + b + "-" + c,
    ]
    style = rng.integers(0, len(styles), len(phone))
    out = np.select([style == k for k in range(len(styles))], styles)
    frame.loc[hit, "phone"] = (
        pd.Series(out, index=phone.index).where(phone.notna(), None).to_numpy(object)
    )
    return hit & frame["phone"].notna().to_numpy()


def _other_phone(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    frame.loc[hit, "phone"] = _random_phones(rng, int(hit.sum()))
    return hit


def _other_email(
    frame: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, _: pd.DataFrame
) -> np.ndarray:
    first = frame.loc[hit, "first_name"].astype("string").str.lower()
    number = pd.Series(rng.integers(100, 10_000, len(first)), index=first.index).astype(str)
    frame.loc[hit, "email"] = (first + number + "@example.net").to_numpy(object)
    return hit


def _random_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    numbers = rng.integers(201, 990, n) * 10**7 + rng.integers(2_000_000, 10_000_000, n)
    return numbers.astype(str).astype(object)


_NOISES: Final[dict[str, _Noise]] = {
    "nickname": _nickname,
    "first_name_typo": _typo("first_name"),
    "last_name_typo": _typo("last_name"),
    "swapped_names": _swapped_names,
    "married_name": _married_name,
    "upper_or_lower_case": _case,
    "moved": _moved,
    "address_format": _address_format,
    "zip_format": _zip_format,
    "dob_error": _dob_error,
    "dob_format": _dob_format,
    "phone_format": _phone_format,
    "other_phone": _other_phone,
    "other_email": _other_email,
}
