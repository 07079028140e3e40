"""A synthetic voter file, generated deterministically from a seed.

Every person is made by vectorised draws from a seeded generator, so the
same ``(size, seed)`` always gives the same file. Column names follow the
SmartMatch identifiers where one exists, so the matcher compares like with
like; the appended ``vb.*`` fields are drawn from these columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

# (first name, gender, relative frequency)
FIRST_NAMES: Final = [
    ("James", "M", 33),
    ("Robert", "M", 31),
    ("John", "M", 31),
    ("Michael", "M", 30),
    ("David", "M", 24),
    ("William", "M", 24),
    ("Richard", "M", 17),
    ("Joseph", "M", 16),
    ("Thomas", "M", 15),
    ("Christopher", "M", 13),
    ("Charles", "M", 13),
    ("Daniel", "M", 12),
    ("Matthew", "M", 11),
    ("Anthony", "M", 9),
    ("Mark", "M", 9),
    ("Donald", "M", 9),
    ("Steven", "M", 8),
    ("Andrew", "M", 7),
    ("Paul", "M", 7),
    ("Joshua", "M", 7),
    ("Kenneth", "M", 7),
    ("Kevin", "M", 6),
    ("Brian", "M", 6),
    ("George", "M", 6),
    ("Timothy", "M", 5),
    ("Ronald", "M", 5),
    ("Jason", "M", 5),
    ("Edward", "M", 5),
    ("Jeffrey", "M", 5),
    ("Ryan", "M", 4),
    ("Jacob", "M", 4),
    ("Gary", "M", 4),
    ("Nicholas", "M", 4),
    ("Eric", "M", 4),
    ("Jonathan", "M", 4),
    ("Luis", "M", 3),
    ("Carlos", "M", 3),
    ("Jose", "M", 4),
    ("Juan", "M", 3),
    ("Wei", "M", 1),
    ("Mary", "F", 29),
    ("Patricia", "F", 14),
    ("Jennifer", "F", 14),
    ("Linda", "F", 13),
    ("Elizabeth", "F", 12),
    ("Barbara", "F", 12),
    ("Susan", "F", 11),
    ("Jessica", "F", 10),
    ("Sarah", "F", 9),
    ("Karen", "F", 9),
    ("Lisa", "F", 8),
    ("Nancy", "F", 8),
    ("Betty", "F", 7),
    ("Margaret", "F", 7),
    ("Sandra", "F", 7),
    ("Ashley", "F", 7),
    ("Kimberly", "F", 6),
    ("Emily", "F", 6),
    ("Donna", "F", 6),
    ("Michelle", "F", 6),
    ("Carol", "F", 5),
    ("Amanda", "F", 5),
    ("Dorothy", "F", 5),
    ("Melissa", "F", 5),
    ("Deborah", "F", 5),
    ("Stephanie", "F", 5),
    ("Rebecca", "F", 4),
    ("Sharon", "F", 4),
    ("Laura", "F", 4),
    ("Cynthia", "F", 4),
    ("Maria", "F", 4),
    ("Ana", "F", 2),
    ("Guadalupe", "F", 1),
    ("Mei", "F", 1),
    ("Aaliyah", "F", 1),
    ("Zoë", "F", 1),
]
LAST_NAMES: Final = [
    ("Smith", 24),
    ("Johnson", 19),
    ("Williams", 16),
    ("Brown", 14),
    ("Jones", 14),
    ("Garcia", 11),
    ("Miller", 11),
    ("Davis", 11),
    ("Rodriguez", 10),
    ("Martinez", 10),
    ("Hernandez", 10),
    ("Lopez", 9),
    ("Gonzalez", 8),
    ("Wilson", 8),
    ("Anderson", 8),
    ("Thomas", 8),
    ("Taylor", 8),
    ("Moore", 7),
    ("Jackson", 7),
    ("Martin", 7),
    ("Lee", 7),
    ("Perez", 7),
    ("Thompson", 7),
    ("White", 7),
    ("Harris", 6),
    ("Sanchez", 6),
    ("Clark", 6),
    ("Ramirez", 6),
    ("Lewis", 6),
    ("Robinson", 6),
    ("Walker", 6),
    ("Young", 5),
    ("Allen", 5),
    ("King", 5),
    ("Wright", 5),
    ("Scott", 5),
    ("Torres", 5),
    ("Nguyen", 5),
    ("Hill", 5),
    ("Flores", 5),
    ("Green", 5),
    ("Adams", 5),
    ("Nelson", 5),
    ("Baker", 5),
    ("Hall", 4),
    ("Rivera", 4),
    ("Campbell", 4),
    ("Mitchell", 4),
    ("Carter", 4),
    ("Roberts", 4),
    ("O'Brien", 2),
    ("Zeta-Jones", 1),
    ("Müller", 1),
    ("Nakamura", 1),
    ("Okafor", 1),
    ("Kowalski", 1),
    ("Dubois", 1),
    ("Haddad", 1),
    ("Chen", 3),
    ("Patel", 3),
]
# (city, state, ZIP, latitude, longitude)
PLACES: Final = [
    ("Boston", "MA", "02134", 42.3539, -71.1337),
    ("Cambridge", "MA", "02139", 42.3647, -71.1042),
    ("Worcester", "MA", "01604", 42.2626, -71.7798),
    ("Providence", "RI", "02906", 41.8396, -71.3925),
    ("Hartford", "CT", "06106", 41.7486, -72.6942),
    ("Newark", "NJ", "07102", 40.7357, -74.1724),
    ("Trenton", "NJ", "08608", 40.2204, -74.7643),
    ("Brooklyn", "NY", "11215", 40.6681, -73.9806),
    ("Buffalo", "NY", "14201", 42.8962, -78.8858),
    ("Philadelphia", "PA", "19104", 39.9597, -75.1968),
    ("Pittsburgh", "PA", "15213", 40.4443, -79.9553),
    ("Baltimore", "MD", "21218", 39.3305, -76.6016),
    ("Washington", "DC", "20009", 38.9194, -77.0375),
    ("Richmond", "VA", "23220", 37.5496, -77.4595),
    ("Raleigh", "NC", "27601", 35.7724, -78.6381),
    ("Charlotte", "NC", "28202", 35.2283, -80.8454),
    ("Atlanta", "GA", "30303", 33.7525, -84.3888),
    ("Savannah", "GA", "31401", 32.0749, -81.0884),
    ("Miami", "FL", "33130", 25.7676, -80.2043),
    ("Tampa", "FL", "33602", 27.9516, -82.4588),
    ("Orlando", "FL", "32801", 28.5398, -81.3730),
    ("Columbus", "OH", "43215", 39.9676, -83.0113),
    ("Cleveland", "OH", "44113", 41.4818, -81.6945),
    ("Detroit", "MI", "48201", 42.3471, -83.0601),
    ("Ann Arbor", "MI", "48104", 42.2661, -83.7210),
    ("Chicago", "IL", "60614", 41.9227, -87.6533),
    ("Springfield", "IL", "62701", 39.8000, -89.6497),
    ("Milwaukee", "WI", "53202", 43.0469, -87.8989),
    ("Madison", "WI", "53703", 43.0779, -89.3837),
    ("Minneapolis", "MN", "55401", 44.9836, -93.2698),
    ("Des Moines", "IA", "50309", 41.5860, -93.6249),
    ("Davenport", "IA", "52801", 41.5214, -90.5748),
    ("St. Louis", "MO", "63103", 38.6315, -90.2178),
    ("Kansas City", "MO", "64106", 39.1050, -94.5722),
    ("Omaha", "NE", "68102", 41.2587, -95.9356),
    ("Denver", "CO", "80202", 39.7525, -104.9995),
    ("Phoenix", "AZ", "85004", 33.4510, -112.0686),
    ("Tucson", "AZ", "85701", 32.2169, -110.9719),
    ("Las Vegas", "NV", "89101", 36.1727, -115.1219),
    ("Albuquerque", "NM", "87102", 35.0820, -106.6480),
    ("Austin", "TX", "78701", 30.2713, -97.7426),
    ("Houston", "TX", "77002", 29.7569, -95.3651),
    ("Dallas", "TX", "75201", 32.7882, -96.7990),
    ("El Paso", "TX", "79901", 31.7587, -106.4869),
    ("Los Angeles", "CA", "90012", 34.0614, -118.2385),
    ("Oakland", "CA", "94612", 37.8085, -122.2666),
    ("San Diego", "CA", "92101", 32.7194, -117.1628),
    ("Portland", "OR", "97205", 45.5207, -122.6880),
    ("Seattle", "WA", "98101", 47.6114, -122.3305),
    ("Anchorage", "AK", "99501", 61.2163, -149.8766),
    ("Honolulu", "HI", "96813", 21.3114, -157.8583),
    ("Little Rock", "AR", "72201", 34.7465, -92.2896),
    ("Newport", "AR", "72112", 35.6048, -91.2818),
    ("Boca Raton", "FL", "33410", 26.8458, -80.0887),
]
STREETS: Final = [
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Walnut",
    "Spring",
    "North",
    "Ridge",
    "Church",
    "Willow",
    "Mill",
    "Sunset",
    "Railroad",
    "Jackson",
    "Cherry",
    "Highland",
    "Franklin",
    "Lincoln",
    "Madison",
    "Center",
    "River",
]
STREET_TYPES: Final = ["St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pl"]
SUFFIXES: Final = ["", "", "", "", "", "", "", "", "", "", "", "", "Jr", "Sr", "II", "III"]
PARTIES: Final = ["Democrat", "Republican", "Independent", "Green", "Libertarian", "Unaffiliated"]
PARTY_WEIGHTS: Final = [36, 30, 12, 1, 1, 20]
EMAIL_DOMAINS: Final = ["gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com"]


@dataclass(frozen=True)
class VoterFile:
    """The people SmartMatch matches against.

    Attributes
    ----------
    people
        One row per person: identifiers (``voterbase_id``, ``first_name``,
        ``zip``, ...) and the data the service appends. Text columns only.
    seed
        The seed it was generated from.
    """

    people: pd.DataFrame
    seed: int

    def __len__(self) -> int:
        return len(self.people)

    @classmethod
    def generate(cls, size: int = 200_000, seed: int = 0) -> VoterFile:
        """Generate ``size`` people from ``seed``; the same arguments give the same file."""
        rng = np.random.default_rng(seed)
        firsts, genders, weights = zip(*FIRST_NAMES, strict=True)
        first_idx = rng.choice(len(firsts), size, p=_p(weights))
        last = np.array([n for n, _ in LAST_NAMES], dtype=object)[
            rng.choice(len(LAST_NAMES), size, p=_p([w for _, w in LAST_NAMES]))
        ]
        middle_idx = rng.choice(len(firsts), size)
        place_idx = rng.choice(len(PLACES), size)
        places = np.array(PLACES, dtype=object)[place_idx]
        birth = _birthdays(rng, size)
        age = (np.datetime64("2026-11-01") - birth).astype("timedelta64[D]").astype(int) // 365
        people = pd.DataFrame(
            {
                "voterbase_id": _voterbase_ids(places[:, 1], rng),
                "first_name": np.array(firsts, dtype=object)[first_idx],
                "middle_name": np.where(
                    rng.random(size) < 0.7, np.array(firsts, dtype=object)[middle_idx], ""
                ),
                "last_name": last,
                "name_suffix": np.array(SUFFIXES, dtype=object)[
                    rng.integers(0, len(SUFFIXES), size)
                ],
                "gender": np.array(genders, dtype=object)[first_idx],
                "dob": pd.DatetimeIndex(birth).strftime("%Y%m%d").to_numpy(dtype=object),
                "age": age.astype(str).astype(object),
                "address1": _streets(rng, size),
                "address2": np.where(rng.random(size) < 0.15, _units(rng, size), ""),
                "city": places[:, 0],
                "state": places[:, 1],
                "zip": places[:, 2],
                "latitude": _jitter(places[:, 3], rng),
                "longitude": _jitter(places[:, 4], rng),
                "phone_landline": _phones(rng, size, 0.35),
                "phone_wireless": _phones(rng, size, 0.75),
                "phone_voip": _phones(rng, size, 0.05),
                "voter_id": _digits(rng, size, 9),
                "smartvan_id": (rng.permutation(size) + 100_000).astype(str).astype(object),
                "exact_track": np.char.add("Y", _digits(rng, size, 14).astype(str)).astype(object),
                "registration_status": np.where(
                    rng.random(size) < 0.85, "Registered", "Unregistered"
                ).astype(object),
                "party": np.array(PARTIES, dtype=object)[
                    rng.choice(len(PARTIES), size, p=_p(PARTY_WEIGHTS))
                ],
                "partisan_score": np.round(rng.beta(2, 2, size) * 100, 1)
                .astype(str)
                .astype(object),
            }
        )
        people["email"] = _emails(people, rng)
        return cls(people, seed)


def _p(weights: object) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    p: np.ndarray = w / w.sum()
    return p


def _birthdays(rng: np.random.Generator, size: int) -> np.ndarray:
    start = np.datetime64("1930-01-01")
    span = (np.datetime64("2008-10-31") - start).astype(int)
    return start + rng.integers(0, span, size).astype("timedelta64[D]")


def _voterbase_ids(states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    numbers = rng.choice(10**12, size=len(states), replace=False)
    return np.array([f"{s}-{n:012d}" for s, n in zip(states, numbers, strict=True)], dtype=object)


def _streets(rng: np.random.Generator, size: int) -> np.ndarray:
    numbers = rng.integers(1, 9999, size).astype(str)
    names = np.array(STREETS)[rng.integers(0, len(STREETS), size)]
    kinds = np.array(STREET_TYPES)[rng.integers(0, len(STREET_TYPES), size)]
    return np.char.add(
        np.char.add(np.char.add(numbers, " "), np.char.add(names, " ")), kinds
    ).astype(object)


def _units(rng: np.random.Generator, size: int) -> np.ndarray:
    return np.char.add("Apt ", rng.integers(1, 40, size).astype(str)).astype(object)


def _jitter(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = values.astype(float) + rng.normal(0, 0.02, len(values))
    return np.char.mod("%.6f", out).astype(object)


def _digits(rng: np.random.Generator, size: int, width: int) -> np.ndarray:
    return np.char.zfill(rng.integers(0, 10**width - 1, size).astype(str), width).astype(object)


def _phones(rng: np.random.Generator, size: int, share: float) -> np.ndarray:
    area = rng.integers(201, 990, size)
    exchange = rng.integers(200, 999, size)
    line = rng.integers(0, 10000, size)
    text = np.char.add(
        np.char.add(area.astype(str), exchange.astype(str)), np.char.zfill(line.astype(str), 4)
    )
    return np.where(rng.random(size) < share, text, "").astype(object)


def _emails(people: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    local = (
        people["first_name"]
        .str.lower()
        .str.normalize("NFKD")
        .str.encode("ascii", "ignore")
        .str.decode("ascii")
        + "."
        + people["last_name"].str.lower().str.replace(r"[^a-z]", "", regex=True)
        + pd.Series(rng.integers(1, 999, len(people)).astype(str), index=people.index)
    )
    domain = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), len(people))]
    email = (local + "@" + domain).to_numpy(dtype=object)
    return np.asarray(np.where(rng.random(len(people)) < 0.6, email, ""), dtype=object)
