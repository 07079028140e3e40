"""A synthetic US voter file, generated deterministically from a seed.

People are drawn with vectorised numpy draws from one seeded generator and
assembled into text columns with pyarrow compute, so five million people
take well under a minute and no Python loop runs per person. The same
``(size, seed)`` gives the same file on every machine that has the same
reference data (:mod:`.reference`); the first build is cached on disk
(:func:`cache_dir`) and later ones are read back in a second or two.

What makes it realistic enough to match against:

- households: people share an address, a landline and (mostly) a last
  name; spouses are of similar age, adult children are younger and some
  sons are a "Jr" of their father;
- names with US frequencies (so "John Smith" is common and has namesakes),
  middle names or initials, suffixes, hyphenated married names;
- addresses, cities, counties, states, ZIP codes and coordinates that belong
  together, with population-weighted states, house numbers, apartments;
- an adult age pyramid, dates of birth, sex;
- wireless, landline and VoIP phones with the area code of the home or of an
  earlier home, emails in several styles, registration status, party and a
  partisan score that agrees with it;
- voterbase ids shaped ``ST-000000000000``, state voter ids, VAN ids and
  ExactTrack ids, each unique.

Column names follow the SmartMatch identifiers where one exists, so the
matcher compares like with like.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..paths import configured_dir, user_cache_dir
from ..private_files import make_private_dirs, private_file
from . import reference

#: Bump whenever the generator's output for a given (size, seed) changes: it keys the cache.
GENERATOR_VERSION: Final = 4
#: The version that seeds the draws: kept when a change leaves the people themselves (their
#: names, addresses, dates, phones, ids) as they were, so that the matcher's figures stay.
#: Version 4 redrew only party, partisan score and registration, from the same draws.
SEED_VERSION: Final = 3
#: The date ages are computed at (an election day), so a file never changes with the clock.
AS_OF: Final = dt.date(2026, 11, 3)
#: Environment variable that moves the cache of generated voter files.
CACHE_ENV: Final = "SMARTMATCH_VOTERFILE_CACHE"

STREET_NAMES: Final = (
    "Main",
    "Oak",
    "Maple",
    "Pine",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Walnut",
    "Spruce",
    "Ridge",
    "Church",
    "Willow",
    "Sunset",
    "Jackson",
    "Lincoln",
    "Jefferson",
    "Madison",
    "Franklin",
    "Highland",
    "Meadow",
    "River",
    "Forest",
    "Spring",
    "Valley",
    "Chestnut",
    "Cherry",
    "Birch",
    "Dogwood",
    "Magnolia",
    "Hickory",
    "Mill",
    "School",
    "Center",
    "Prospect",
    "Lakeview",
    "Woodland",
    "Fairview",
    "Orchard",
    "College",
    "Union",
    "Market",
    "Broad",
    "Front",
    "Bridge",
    "Grove",
    "Summit",
    "Adams",
    "Monroe",
    "Greenwood",
    "Riverside",
    "Cypress",
    "Laurel",
    "Poplar",
    "Sycamore",
    "Aspen",
    "Hillcrest",
    "Kingston",
)
STREET_SUFFIXES: Final = {
    "St": 25,
    "Ave": 18,
    "Rd": 14,
    "Dr": 14,
    "Ln": 8,
    "Ct": 6,
    "Way": 4,
    "Blvd": 3,
    "Pl": 3,
    "Cir": 3,
    "Ter": 2,
    "Pkwy": 1,
    "Trl": 1,
}
DIRECTIONS: Final = ("N", "S", "E", "W")
UNIT_KINDS: Final = ("Apt", "Apt", "Apt", "Unit", "Ste", "#")
#: Household sizes (voters per address) and their shares.
HOUSEHOLD_SIZES: Final = {1: 0.34, 2: 0.36, 3: 0.14, 4: 0.10, 5: 0.04, 6: 0.02}
#: Share of the adult population by age band (lower bound, share).
AGE_BANDS: Final = ((18, 0.12), (25, 0.17), (35, 0.16), (45, 0.15), (55, 0.16), (65, 0.14))
AGE_TAIL: Final = ((75, 0.07), (85, 0.03))
#: Registered Democrats and Republicans per state (shares of the registered, rounded from
#: the states' registration statistics of the mid-2020s); the rest is split as OTHER_PARTIES.
PARTY_REGISTRATION: Final = {
    "AK": (0.13, 0.24), "AZ": (0.30, 0.35), "CA": (0.46, 0.25), "CO": (0.27, 0.24),
    "CT": (0.35, 0.21), "DC": (0.76, 0.05), "DE": (0.47, 0.27), "FL": (0.32, 0.39),
    "IA": (0.30, 0.37), "ID": (0.12, 0.59), "KS": (0.26, 0.45), "KY": (0.44, 0.46),
    "LA": (0.38, 0.34), "MA": (0.30, 0.09), "MD": (0.52, 0.24), "ME": (0.35, 0.28),
    "NC": (0.32, 0.30), "NE": (0.29, 0.49), "NH": (0.26, 0.30), "NJ": (0.38, 0.24),
    "NM": (0.42, 0.31), "NV": (0.29, 0.28), "NY": (0.48, 0.22), "OK": (0.29, 0.52),
    "OR": (0.32, 0.24), "PA": (0.43, 0.41), "RI": (0.37, 0.15), "SD": (0.27, 0.49),
    "UT": (0.14, 0.52), "WV": (0.30, 0.41), "WY": (0.13, 0.70),
}  # fmt: skip
#: States where voters register without a party: their party is recorded as Unaffiliated, and
#: their lean (which the partisan score follows) drawn from these shares, rounded from the
#: states' recent presidential vote, less the share of voters who lean to neither side.
NO_PARTY_REGISTRATION: Final = {
    "AL": (0.33, 0.55), "AR": (0.31, 0.56), "GA": (0.43, 0.44), "HI": (0.55, 0.30),
    "IL": (0.50, 0.38), "IN": (0.36, 0.50), "MI": (0.45, 0.44), "MN": (0.47, 0.41),
    "MO": (0.37, 0.51), "MS": (0.36, 0.53), "MT": (0.36, 0.52), "ND": (0.28, 0.59),
    "OH": (0.40, 0.49), "SC": (0.38, 0.50), "TN": (0.33, 0.56), "TX": (0.41, 0.47),
    "VA": (0.47, 0.41), "VT": (0.58, 0.28), "WA": (0.52, 0.36), "WI": (0.45, 0.45),
}  # fmt: skip
#: A state in neither table (a territory): the national mix of registered voters.
NATIONAL_PARTIES: Final = (0.36, 0.31)
#: How the registered who are neither Democrats nor Republicans split.
OTHER_PARTIES: Final = {
    "Unaffiliated": 0.80,
    "Independent": 0.12,
    "Libertarian": 0.05,
    "Green": 0.03,
}
#: Share registered by age (linear between the points): the young register least.
REGISTERED_BY_AGE: Final = ((18, 0.68), (25, 0.76), (35, 0.84), (50, 0.89), (65, 0.93))
EMAIL_DOMAINS: Final = {
    "gmail.com": 0.46,
    "yahoo.com": 0.15,
    "hotmail.com": 0.08,
    "aol.com": 0.05,
    "outlook.com": 0.06,
    "icloud.com": 0.07,
    "comcast.net": 0.04,
    "att.net": 0.03,
    "msn.com": 0.02,
    "verizon.net": 0.02,
    "protonmail.com": 0.02,
}
SUFFIXES: Final = {"Jr": 0.6, "II": 0.15, "III": 0.2, "IV": 0.05}


@dataclass(frozen=True, eq=False)
class VoterFile:
    """The people SmartMatch matches against.

    Attributes
    ----------
    table
        One row per person, every column text (null where unknown):
        identifiers (``voterbase_id``, ``first_name``, ``zip``, ``dob``, ...)
        and the data the service appends (``party``, ``phone_wireless``, ...).
    seed
        The seed it was generated from.

    Examples
    --------
    >>> voters = VoterFile.generate(1_000, seed=3)       # doctest: +SKIP
    >>> voters.people[["voterbase_id", "first_name", "last_name", "zip"]].head()
    """

    table: pa.Table
    seed: int

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @cached_property
    def people(self) -> pd.DataFrame:
        """The table as a DataFrame of Arrow-backed strings (no copy of the text)."""
        people: pd.DataFrame = self.table.to_pandas(
            types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get
        )
        return people

    @classmethod
    def generate(cls, size: int = 200_000, seed: int = 0, *, cache: bool = True) -> VoterFile:
        """The voter file of ``size`` people drawn from ``seed``; the same arguments, the same file.

        With ``cache`` (the default) the first build is written to
        :func:`cache_dir` and read back afterwards.
        """
        if size < 1:
            raise ValueError(f"size {size} must be at least 1")
        if not cache:
            return cls(_build(size, seed), seed)
        path = cache_dir() / f"voters-v{GENERATOR_VERSION}-{reference.fingerprint()}-{size}-{seed}"
        path = path.with_suffix(".parquet")
        try:
            return cls(pq.read_table(path), seed)
        except (OSError, pa.ArrowInvalid):
            pass  # not built yet, or a damaged file: build it again
        table = _build(size, seed)
        _save(table, path)
        return cls(table, seed)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write it as Parquet (``.parquet``) or CSV (any other name), readable by you alone."""
        target = Path(path)
        with private_file(target) as out:
            if target.suffix.lower() == ".parquet":
                pq.write_table(self.table, out, compression="zstd")
            else:
                import pyarrow.csv as pacsv

                pacsv.write_csv(self.table, out)


def cache_dir() -> Path:
    """Where generated voter files are kept: ``$SMARTMATCH_VOTERFILE_CACHE``, else
    ``voterfiles/`` in the user's cache folder."""
    return configured_dir(CACHE_ENV, user_cache_dir() / "voterfiles")


def _save(table: pa.Table, path: Path) -> None:
    """Write atomically into a private folder; a read-only cache only costs a rebuild."""
    try:
        make_private_dirs(path.parent)
        with private_file(path) as out:
            pq.write_table(table, out, compression="zstd")
    except OSError:
        pass


# -- the generator ---------------------------------------------------------------------


def _build(size: int, seed: int) -> pa.Table:
    rng = np.random.default_rng([SEED_VERSION, seed])
    homes = _households(rng, size)
    person = _people(rng, homes)
    order = rng.permutation(size)  # files are not sorted by household
    columns = {name: values.take(pa.array(order)) for name, values in person.items()}
    return pa.table(columns)


@dataclass
class _Homes:
    """Per person: the household and its shared attributes (arrays of length size)."""

    household: np.ndarray
    member: np.ndarray  # 0 for the first person of a household, 1, 2, ...
    head: np.ndarray  # index of the household's first person
    zip_index: np.ndarray
    address1: pa.Array
    address2: pa.Array
    latitude: np.ndarray
    longitude: np.ndarray
    landline: pa.Array


def _households(rng: np.random.Generator, size: int) -> _Homes:
    sizes = rng.choice(list(HOUSEHOLD_SIZES), size // 2 + 2, p=_p(list(HOUSEHOLD_SIZES.values())))
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), size) + 1]
    sizes[-1] -= sizes.sum() - size
    count = len(sizes)
    household = np.repeat(np.arange(count), sizes)
    start = np.cumsum(sizes) - sizes
    member = np.arange(size) - start[household]

    zips = reference.zips()
    place = rng.choice(len(zips.zip), count, p=_zip_weights(zips))
    numbers = np.minimum(np.exp(rng.normal(6.2, 1.3, count)).astype(np.int64) + 1, 29999)
    street = _street_names(rng, count)
    address1 = pc.binary_join_element_wise(
        pa.array(numbers).cast(pa.string()), street, " ", null_handling="skip"
    )
    unit_kind = _pick(rng, UNIT_KINDS, count)
    unit_number = _text(rng.integers(1, 40, count))
    letter = _pick(rng, ("", "", "", "A", "B", "C"), count)
    unit = pc.binary_join_element_wise(
        unit_kind, pc.binary_join_element_wise(unit_number, letter, ""), " "
    )
    address2 = pc.if_else(pa.array(rng.random(count) < 0.17), unit, pa.nulls(count, pa.string()))
    jitter = rng.normal(0.0, 0.02, (2, count))
    area = pa.array(zips.area_code, pa.string()).take(pa.array(place))
    landline = _phones(rng, area, rng.random(count) < 0.3)
    return _Homes(
        household=household,
        member=member,
        head=start[household],
        zip_index=place[household],
        address1=address1.take(pa.array(household)),
        address2=address2.take(pa.array(household)),
        latitude=(zips.latitude[place] + jitter[0])[household],
        longitude=(zips.longitude[place] + jitter[1])[household],
        landline=landline.take(pa.array(household)),
    )


def _people(rng: np.random.Generator, homes: _Homes) -> dict[str, pa.Array]:
    size = len(homes.household)
    names, zips = reference.names(), reference.zips()
    head = homes.head
    spouse = (homes.member == 1) & (rng.random(size) < 0.75)
    child = (homes.member >= 2) | ((homes.member == 1) & ~spouse)

    # Sex: spouses mostly of the other sex; then names of that sex.
    male = rng.random(size) < 0.49
    male = np.where(spouse & (rng.random(size) < 0.92), ~male[head], male)
    first = _first_names(rng, names, male)
    middle = _first_names(rng, names, male)
    middle = np.where(middle == first, _first_names(rng, names, male), middle)

    # Ages: spouses near the head's, children 20-38 years younger (adults only).
    age = _adult_ages(rng, size)
    age = np.where(spouse, np.clip(age[head] + rng.normal(0, 4, size).round(), 18, 100), age)
    younger = age[head] - rng.integers(20, 39, size)
    age = np.where(child & (younger >= 18), younger, age).astype(np.int64)
    born = _birthdays(rng, age)

    # Last names: the household's, except for some spouses and relatives; a few hyphenate.
    surname = names.last[rng.choice(len(names.last), size, p=_p(names.last_weight))]
    own = (spouse & (rng.random(size) < 0.12)) | (child & (rng.random(size) < 0.1))
    last = np.where((homes.member == 0) | own, surname, surname[head])
    hyphen = spouse & ~male & ~own & (rng.random(size) < 0.04)
    last[hyphen] = surname[hyphen] + "-" + last[hyphen]

    # A son named for his father is a Jr, and the father then often a Sr.
    junior = child & male & male[head] & (younger >= 18) & (rng.random(size) < 0.12)
    first = np.where(junior, first[head], first)
    suffix = np.full(size, None, dtype=object)
    other = male & (rng.random(size) < 0.025)
    suffix[other] = _pick_weighted(rng, SUFFIXES, int(other.sum()))
    suffix[junior] = "Jr"
    senior = np.zeros(size, dtype=bool)
    senior[head[junior]] = rng.random(int(junior.sum())) < 0.5
    suffix[senior] = "Sr"

    middle_name = pa.array(middle, pa.string())
    initial = pc.utf8_slice_codeunits(middle_name, 0, 1)
    middle_name = pc.if_else(pa.array(rng.random(size) < 0.12), initial, middle_name)
    middle_name = pc.if_else(
        pa.array(rng.random(size) < 0.8), middle_name, pa.nulls(size, pa.string())
    )
    sex = np.where(male, "M", "F").astype(object)
    sex[rng.random(size) < 0.004] = "U"

    place = homes.zip_index
    home_area = pa.array(zips.area_code, pa.string()).take(pa.array(place))
    elsewhere = pa.array(zips.area_code, pa.string()).take(
        pa.array(rng.integers(0, len(zips.zip), size))
    )
    wireless_area = pc.if_else(pa.array(rng.random(size) < 0.7), home_area, elsewhere)
    state = zips.state[place]
    # The draws are taken in the order (and number) of earlier versions: the people's
    # phones and emails, drawn after them, stay as they were (see SEED_VERSION).
    party_draw = rng.random(size)
    leans = rng.beta(6, 2, size), rng.beta(2, 6, size), rng.beta(2, 2, size)
    party, lean = _politics(state, party_draw, leans)
    ages, shares = zip(*REGISTERED_BY_AGE, strict=True)
    registered = rng.random(size) < np.interp(age, ages, shares)

    return {
        "voterbase_id": _ids(state, "-", _permuted(size, 10**12, 7_919_861, 104_729), 12),
        "exact_track": _ids(
            np.full(size, "ET"), "", _permuted(size, 10**13, 3_892_771, 15_485_863), 13
        ),
        "smartvan_id": _text(10**7 + _permuted(size, 9 * 10**7, 7_777_777, 1_234_567)),
        "voter_id": pc.utf8_lpad(_text(_permuted(size, 10**9, 193_877_777, 982_451_653)), 9, "0"),
        "first_name": pa.array(first, pa.string()),
        "middle_name": middle_name,
        "last_name": pa.array(last, pa.string()),
        "name_suffix": pa.array(suffix, pa.string()),
        "gender": pa.array(sex, pa.string()),
        "dob": _text(_yyyymmdd(born)),
        "age": _text(age),
        "address1": homes.address1,
        "address2": homes.address2,
        "city": pa.array(zips.city[place], pa.string()),
        "state": pa.array(state, pa.string()),
        "zip": pa.array(zips.zip[place], pa.string()),
        "county": pa.array(zips.county[place], pa.string()),
        "latitude": _decimals(homes.latitude),
        "longitude": _decimals(homes.longitude),
        "phone_landline": homes.landline,
        "phone_wireless": _phones(rng, wireless_area, rng.random(size) < 0.8),
        "phone_voip": _phones(rng, home_area, rng.random(size) < 0.05),
        "email": _emails(rng, first, last, rng.random(size) < 0.65),
        "registration_status": pa.array(
            np.where(registered, "Registered", "Unregistered").astype(object), pa.string()
        ),
        "party": pa.array(party, pa.string(), mask=~registered),
        "partisan_score": _decimals(lean * 100, 1),
        "household_id": _ids(np.full(size, "HH"), "", homes.household + 1, 9),
    }


def _politics(
    state: np.ndarray, draw: np.ndarray, leans: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Each person's party (as recorded) and lean (0 Republican to 1 Democrat).

    ``draw`` (uniform) picks Democrat, Republican or another party by the state's
    shares, and which other party by where it falls in the rest; the lean is a
    Democrat's, a Republican's (``leans[0]``, ``leans[1]``) or a middling one
    (``leans[2]``), Greens leaning as Democrats and Libertarians as Republicans.
    Where voters register without a party, the party recorded is Unaffiliated.
    """
    shares = {**PARTY_REGISTRATION, **NO_PARTY_REGISTRATION}
    states, of_person = np.unique(state.astype(str), return_inverse=True)
    per_state = np.array([shares.get(s, NATIONAL_PARTIES) for s in states]).reshape(-1, 2)
    dem, rep = per_state[of_person, 0], per_state[of_person, 1]
    rest = np.clip((draw - dem - rep) / np.maximum(1 - dem - rep, 1e-9), 0, 1 - 1e-12)
    others = np.array(list(OTHER_PARTIES), dtype=object)
    bounds = np.cumsum(list(OTHER_PARTIES.values()))
    other = others[np.minimum(np.searchsorted(bounds, rest, side="right"), len(others) - 1)]
    party = np.where(draw < dem, "Democrat", np.where(draw < dem + rep, "Republican", other))
    democratic = (party == "Democrat") | (party == "Green")
    republican = (party == "Republican") | (party == "Libertarian")
    lean = np.select([democratic, republican], [leans[0], leans[1]], leans[2])
    without_parties = np.isin(states, list(NO_PARTY_REGISTRATION))[of_person]
    party = np.where(without_parties, "Unaffiliated", party).astype(object)
    return party, lean


def _p(weights: object) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    p: np.ndarray = w / w.sum()
    return p


def _pick(rng: np.random.Generator, choices: tuple[str, ...], size: int) -> pa.Array:
    return pa.array(choices, pa.string()).take(pa.array(rng.integers(0, len(choices), size)))


def _pick_weighted(rng: np.random.Generator, weights: Mapping[str, float], size: int) -> np.ndarray:
    keys = np.array(list(weights), dtype=object)
    picked: np.ndarray = keys[rng.choice(len(keys), size, p=_p(list(weights.values())))]
    return picked


def _text(numbers: np.ndarray) -> pa.Array:
    return pa.array(numbers, pa.int64()).cast(pa.string())


def _decimals(values: np.ndarray, places: int = 6) -> pa.Array:
    return pc.round(pa.array(values, pa.float64()), places).cast(pa.string())


def _yyyymmdd(days: np.ndarray) -> np.ndarray:
    month_start = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    day = (days - month_start).astype(np.int64) + 1
    out: np.ndarray = year * 10_000 + month * 100 + day
    return out


def _zip_weights(zips: reference.Zips) -> np.ndarray:
    """States by population; ZIPs within a state by a fixed heavy-tailed draw (like real ones)."""
    sizes = np.random.default_rng(2020).lognormal(0.0, 1.2, len(zips.zip))
    population = np.array([reference.STATES[s][1] for s in zips.state], dtype=float)
    in_state = pd.Series(sizes).groupby(zips.state).transform("sum").to_numpy()
    return _p(population * sizes / in_state)


def _street_names(rng: np.random.Generator, count: int) -> pa.Array:
    ordinals = [f"{n}{_ordinal(n)}" for n in range(1, 40)]
    surnames = list(reference.names().last[:150])
    vocabulary = [*STREET_NAMES, *ordinals, *surnames]
    popularity = 1 / np.arange(1, len(vocabulary) + 1) ** 0.8
    name = pa.array(vocabulary, pa.string()).take(
        pa.array(rng.choice(len(vocabulary), count, p=_p(popularity)))
    )
    kind = pa.array(_pick_weighted(rng, STREET_SUFFIXES, count), pa.string())
    direction = _pick(rng, DIRECTIONS, count)
    direction = pc.if_else(
        pa.array(rng.random(count) < 0.12), direction, pa.nulls(count, pa.string())
    )
    return pc.binary_join_element_wise(direction, name, kind, " ", null_handling="skip")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _first_names(rng: np.random.Generator, names: reference.Names, male: np.ndarray) -> np.ndarray:
    out = np.empty(len(male), dtype=object)
    for sex, chosen in (("M", male), ("F", ~male)):
        pool = names.first_sex == sex
        out[chosen] = names.first[pool][
            rng.choice(int(pool.sum()), int(chosen.sum()), p=_p(names.first_weight[pool]))
        ]
    return out


def _adult_ages(rng: np.random.Generator, size: int) -> np.ndarray:
    bands = [*AGE_BANDS, *AGE_TAIL]
    lows = np.array([b[0] for b in bands])
    highs = np.append(lows[1:], 101)
    band = rng.choice(len(bands), size, p=_p([b[1] for b in bands]))
    ages: np.ndarray = rng.integers(lows[band], highs[band])
    return ages


def _birthdays(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """A birthday that makes each person ``age`` on :data:`AS_OF` (as datetime64 days)."""
    year = (AS_OF.year - age - 1970).astype("datetime64[Y]")
    month = year.astype("datetime64[M]") + np.timedelta64(AS_OF.month - 1, "M")
    anniversary = month.astype("datetime64[D]") + np.timedelta64(AS_OF.day - 1, "D")
    born: np.ndarray = anniversary - rng.integers(0, 365, len(age)).astype("timedelta64[D]")
    return born


def _permuted(size: int, modulus: int, multiplier: int, offset: int) -> np.ndarray:
    """``size`` distinct, scattered numbers below ``modulus`` (an affine bijection of 0..size-1)."""
    if size > modulus or size * multiplier > 2**62:
        raise ValueError(f"a voter file of {size:,} people is larger than its ids allow")
    out: np.ndarray = (np.arange(size, dtype=np.int64) * multiplier + offset) % modulus
    return out


def _ids(prefix: np.ndarray, sep: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(_text(numbers), width, "0")
    return pc.binary_join_element_wise(pa.array(prefix, pa.string()), digits, sep)


def _phones(rng: np.random.Generator, area: pa.Array, present: np.ndarray) -> pa.Array:
    size = len(area)
    exchange = _text(rng.integers(200, 1000, size))
    line = pc.utf8_lpad(_text(rng.integers(0, 10000, size)), 4, "0")
    fallback = _text(rng.integers(201, 990, size))
    area = pc.if_else(pc.equal(area, ""), fallback, area)
    number = pc.binary_join_element_wise(area, exchange, line, "")
    return pc.if_else(pa.array(present), number, pa.nulls(size, pa.string()))


def _emails(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, present: np.ndarray
) -> pa.Array:
    size = len(first)
    f = pc.utf8_lower(pa.array(first, pa.string()))
    ln = pc.replace_substring_regex(pc.utf8_lower(pa.array(last, pa.string())), "[^a-z]", "")
    initial = pc.utf8_slice_codeunits(f, 0, 1)
    number = _text(rng.integers(1, 100, size))
    year = _text(rng.integers(50, 100, size))
    style = rng.choice(6, size, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    styles = [
        pc.binary_join_element_wise(f, ln, "."),
        pc.binary_join_element_wise(f, ln, ""),
        pc.binary_join_element_wise(initial, ln, ""),
        pc.binary_join_element_wise(f, ln, number, ""),
        pc.binary_join_element_wise(f, ln, "_"),
        pc.binary_join_element_wise(ln, f, year, ""),
    ]
    local = styles[0]
    for k in range(1, len(styles)):
        local = pc.if_else(pa.array(style == k), styles[k], local)
    domain = pa.array(_pick_weighted(rng, EMAIL_DOMAINS, size), pa.string())
    email = pc.binary_join_element_wise(local, domain, "@")
    # Addresses are unique: a repeat gets a number of its own.
    email = pc.if_else(pa.array(present), email, pa.nulls(size, pa.string()))
    taken = pd.Series(email.to_numpy(zero_copy_only=False)).duplicated().to_numpy() & present
    serial = _text(np.arange(size) + 100)
    unique = pc.binary_join_element_wise(
        pc.binary_join_element_wise(local, serial, ""), domain, "@"
    )
    email = pc.if_else(pa.array(taken), unique, email)
    return pc.if_else(pa.array(present), email, pa.nulls(size, pa.string()))
