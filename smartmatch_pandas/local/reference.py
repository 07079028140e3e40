"""Reference data the voter file is drawn from and the matcher normalises with.

All of it ships inside packages of the ``local`` extra, so nothing is
downloaded at run time:

- US first names (by sex) and last names with their relative frequencies:
  Faker's ``en_US`` person lists (MIT; drawn by Faker from the Social
  Security Administration's baby-name tables and the Census Bureau's
  surname list).
- Nicknames: the ``nicknames`` package (Apache-2.0), a hand-curated table
  of English given names and their nicknames.
- ZIP codes with their city, state, county, area codes and centroid:
  the ``zipcodes`` package (MIT).
- State names and 2020 census populations (public domain facts), below.

Each table is loaded once per process. :func:`fingerprint` hashes what was
loaded, so a cached voter file is rebuilt when an upgraded package changes
the data it was drawn from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
import pyarrow as pa

#: Two-letter code → (name, 2020 census population in thousands): the 50 states and DC.
STATES: Final = {
    "AL": ("Alabama", 5024),
    "AK": ("Alaska", 733),
    "AZ": ("Arizona", 7152),
    "AR": ("Arkansas", 3012),
    "CA": ("California", 39538),
    "CO": ("Colorado", 5774),
    "CT": ("Connecticut", 3606),
    "DE": ("Delaware", 990),
    "DC": ("District of Columbia", 690),
    "FL": ("Florida", 21538),
    "GA": ("Georgia", 10712),
    "HI": ("Hawaii", 1455),
    "ID": ("Idaho", 1839),
    "IL": ("Illinois", 12813),
    "IN": ("Indiana", 6786),
    "IA": ("Iowa", 3190),
    "KS": ("Kansas", 2938),
    "KY": ("Kentucky", 4506),
    "LA": ("Louisiana", 4658),
    "ME": ("Maine", 1362),
    "MD": ("Maryland", 6177),
    "MA": ("Massachusetts", 7030),
    "MI": ("Michigan", 10077),
    "MN": ("Minnesota", 5706),
    "MS": ("Mississippi", 2961),
    "MO": ("Missouri", 6154),
    "MT": ("Montana", 1084),
    "NE": ("Nebraska", 1962),
    "NV": ("Nevada", 3105),
    "NH": ("New Hampshire", 1378),
    "NJ": ("New Jersey", 9289),
    "NM": ("New Mexico", 2118),
    "NY": ("New York", 20201),
    "NC": ("North Carolina", 10439),
    "ND": ("North Dakota", 779),
    "OH": ("Ohio", 11799),
    "OK": ("Oklahoma", 3959),
    "OR": ("Oregon", 4237),
    "PA": ("Pennsylvania", 13003),
    "RI": ("Rhode Island", 1097),
    "SC": ("South Carolina", 5119),
    "SD": ("South Dakota", 887),
    "TN": ("Tennessee", 6911),
    "TX": ("Texas", 29146),
    "UT": ("Utah", 3272),
    "VT": ("Vermont", 643),
    "VA": ("Virginia", 8631),
    "WA": ("Washington", 7705),
    "WV": ("West Virginia", 1794),
    "WI": ("Wisconsin", 5894),
    "WY": ("Wyoming", 577),
}


@dataclass(frozen=True)
class Names:
    """Given names (with sex) and surnames, with relative frequencies."""

    first: np.ndarray  # object array of names
    first_sex: np.ndarray  # "F" or "M"
    first_weight: np.ndarray
    last: np.ndarray
    last_weight: np.ndarray


@dataclass(frozen=True)
class Zips:
    """Standard, active ZIP codes of the 50 states and DC (one row each)."""

    zip: np.ndarray
    city: np.ndarray
    state: np.ndarray
    county: np.ndarray
    area_code: np.ndarray
    latitude: np.ndarray  # float64
    longitude: np.ndarray  # float64


@cache
def names() -> Names:
    """Faker's US first and last names with their frequencies."""
    from faker.providers.person.en_US import Provider

    female = dict(Provider.first_names_female)
    male = dict(Provider.first_names_male)
    first = [*female, *male]
    sex = ["F"] * len(female) + ["M"] * len(male)
    weight = [*female.values(), *male.values()]
    last = dict(Provider.last_names)
    return Names(
        first=np.array(first, dtype=object),
        first_sex=np.array(sex, dtype=object),
        first_weight=np.array(weight, dtype=float),
        last=np.array(list(last), dtype=object),
        last_weight=np.array(list(last.values()), dtype=float),
    )


@cache
def nicknames() -> pa.Table:
    """``(name, nickname)`` pairs, lower case: ``("robert", "bob")``, ..."""
    import nicknames as package

    pairs = sorted(
        (t.name1.lower(), t.name2.lower())
        for t in package.name_triplets()
        if t.relationship == "has_nickname"
    )
    name, nick = zip(*pairs, strict=True)
    return pa.table({"name": pa.array(name, pa.string()), "nickname": pa.array(nick, pa.string())})


@cache
def zips() -> Zips:
    """The ZIP table: every standard, active ZIP of the states and DC with a centroid."""
    import zipcodes

    rows = sorted(
        (r for r in zipcodes.list_all() if _usable(r)),  # type: ignore[no-untyped-call]
        key=lambda r: r["zip_code"],
    )
    return Zips(
        zip=np.array([r["zip_code"] for r in rows], dtype=object),
        city=np.array([r["city"] for r in rows], dtype=object),
        state=np.array([r["state"] for r in rows], dtype=object),
        county=np.array([r["county"] or "" for r in rows], dtype=object),
        area_code=np.array([(r["area_codes"] or [""])[0] for r in rows], dtype=object),
        latitude=np.array([float(r["lat"]) for r in rows]),
        longitude=np.array([float(r["long"]) for r in rows]),
    )


def _usable(row: dict[str, object]) -> bool:
    return bool(
        row["zip_code_type"] == "STANDARD"
        and row["active"]
        and row["state"] in STATES
        and row["lat"]
        and row["long"]
    )


@cache
def fingerprint() -> str:
    """A short hash of every reference table, part of the voter file's cache key."""
    digest = hashlib.sha256()
    n, z = names(), zips()
    for array in (n.first, n.first_sex, n.last, z.zip, z.city, z.state, z.area_code):
        digest.update("\x1f".join(map(str, array)).encode())
    for numbers in (n.first_weight, n.last_weight, z.latitude, z.longitude):
        digest.update(np.ascontiguousarray(numbers).tobytes())
    for column in nicknames().columns:
        digest.update("\x1f".join(column.to_pylist()).encode())
    digest.update(repr(sorted(STATES.items())).encode())
    return digest.hexdigest()[:12]
