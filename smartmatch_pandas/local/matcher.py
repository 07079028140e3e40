"""Record linkage of an uploaded contact list against the voter file.

:class:`Matcher` is the interface the service calls. :class:`LinkageMatcher`
is the engine: a Fellegi-Sunter probabilistic record linkage written as
DuckDB SQL, so every step (normalising, blocking, scoring, ranking) runs
column-wise in a vectorised, multi-threaded engine and no Python loop ever
runs per contact or per person.

1. **Normalise** both sides with the same SQL: names (accents, case,
   punctuation, titles, suffixes; ``full_name`` and ``first_name_combined``
   parsed), nicknames, USPS street abbreviations, ZIP codes (ZIP+4, lost
   leading zeros), dates of birth in several formats, phones in any format,
   emails, coordinates, state names.
2. **Block**: candidate pairs are the union of exact joins on keys such as
   email, phone, last name + ZIP, first name + date of birth, house number +
   ZIP (see :data:`BLOCKS`).
3. **Score** each pair: every comparison (:data:`COMPARISONS`) puts it at a
   level, each level has a weight ``log2(m / u)``; ``m`` is the chance that
   a true match is at that level (fixed, documented), ``u`` the chance that
   two different people are, measured on the voter file itself (random
   pairs, neighbours in a ZIP code, people of one last name in a ZIP code),
   the value's own frequency for exact agreement on names, ZIPs, cities and
   addresses, or ``per_person / people`` for identifiers unique to a
   person. Evidence that is not independent is conditioned, not counted
   twice: a last name is weighed among the ZIP code's people (families
   share one), an address or landline among the people of that last name
   there. The score is the match's log2 odds: the prior
   ``log2(1 / people)`` plus the weights.
4. **Rank**: a row's best candidate is its match when its score reaches
   ``threshold`` and leads the next candidate by ``margin`` (else the row
   is ambiguous and left unmatched); up to ``max_matches - 1`` more
   candidates whose score reaches ``candidate_threshold`` are its
   additional matches.

The result is deterministic: the same voter file and upload give the same
candidates, scores and order.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from ..identifiers import IDENTIFIERS
from . import reference
from .voterfile import VoterFile


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
        What the match rests on, such as ``"name+dob"`` or ``"email"``.
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
        where empty), one row per uploaded row, exactly as the user wrote
        them: the matcher normalises them itself.
        """
        ...


# -- comparisons -------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One level of a comparison: when a pair is at it, and ``m`` for it.

    ``tf`` names a voter-side column holding the frequency of the voter's
    value: exact agreement on a rare value weighs more than on a common one.
    ``given_tf`` is its stand-in under the comparison's ``given`` condition.
    ``measured_when`` stands in for ``when`` while u is measured on pairs of
    voters, for a level voter records never reach (a first initial alone);
    with ``format_share`` its u is then the measured
    agreement times ``m`` (the share of records written that way, the same
    for matches and non-matches). ``per_person`` is for identifiers unique to a
    person (ids, emails, personal phones), which random pairs never share:
    u is then ``per_person / people``, the chance that a wrong value (a typo, a
    reassigned number) happens to be another voter's.
    """

    label: str
    when: str
    m: float
    tf: str | None = None
    given_tf: str | None = None
    measured_when: str | None = None
    format_share: bool = False
    per_person: float | None = None


@dataclass(frozen=True)
class Comparison:
    """A comparison of one identifier: its levels, best first, the last one "disagree".

    ``null`` is when the pair cannot be compared (a side is missing): weight 0.
    ``u`` says which pairs of different people measure its u-probabilities:
    ``"random"`` pairs or ``"zip"`` neighbours (pairs in the same ZIP code).
    ``given``: evidence this comparison is not independent of. When it holds
    (SQL over the other comparisons' levels), u comes from the ``given_u``
    pairs instead: a shared last name says less among neighbours in a ZIP
    code (families), a shared address or landline less among people of the
    same last name there.
    """

    name: str
    null: str
    levels: tuple[Level, ...]
    u: str = "random"
    given: str | None = None
    given_u: str = "random"
    measured_null: str | None = None

    def level_sql(self, *, measuring: bool = False) -> str:
        cases = " ".join(
            f"WHEN {(lv.measured_when or lv.when) if measuring else lv.when} THEN {i}"
            for i, lv in enumerate(self.levels, 1)
        )
        null = (self.measured_null or self.null) if measuring else self.null
        return f"CASE WHEN {null} THEN 0 {cases} END"


def _both(column: str) -> str:
    return f"l.{column} IS NULL OR r.{column} IS NULL"


_ADDRESS_BOTH = (
    "l.hn IS NOT NULL AND l.street IS NOT NULL AND r.hn IS NOT NULL AND r.street IS NOT NULL"
)
_GEO_KM = "111.2 * sqrt(power(l.lat - r.lat, 2) + power(cos(radians(l.lat)) * (l.lon - r.lon), 2))"
_GEO_BOTH = "l.lat IS NOT NULL AND r.lat IS NOT NULL"
_DISAGREE = "TRUE"

#: Every comparison the score is made of, with its levels and m-probabilities.
COMPARISONS: Final = (
    Comparison(
        "voterbase_id",
        _both("vbid"),
        (
            Level("exact", "l.vbid = r.vbid", 0.995, per_person=0.01),
            Level("disagree", _DISAGREE, 0.005),
        ),
    ),
    Comparison(
        "exact_track",
        _both("etrack"),
        (
            Level("exact", "l.etrack = r.etrack", 0.995, per_person=0.01),
            Level("disagree", _DISAGREE, 0.005),
        ),
    ),
    # State voter ids and VAN ids are evidence, not a verdict: lists carry ids of other
    # systems (a committee's own MyCampaign VANIDs, another state's numbers) under the
    # same header, so a disagreeing id is common among true matches (m of "disagree"),
    # and an id that agrees may be another voter's by collision (per_person), which
    # the names, address and birth date then outweigh.
    Comparison(
        "voter_id",
        f"{_both('vid')} OR {_both('state')}",
        (
            Level("exact", "l.vid = r.vid AND l.state = r.state", 0.75, per_person=2.0),
            Level("disagree", _DISAGREE, 0.25),
        ),
    ),
    Comparison(
        "smartvan_id",
        f"{_both('vanid')} OR {_both('state')}",
        (
            Level("exact", "l.vanid = r.vanid AND l.state = r.state", 0.6, per_person=2.0),
            Level("disagree", _DISAGREE, 0.4),
        ),
    ),
    Comparison(
        "first_name",
        _both("fn"),
        (
            Level("exact", "l.fn = r.fn", 0.85, tf="tf_fn"),
            Level("nickname", "list_contains(l.fn_variants, r.fn)", 0.07),
            Level("fuzzy", "jaro_winkler_similarity(l.fn, r.fn) >= 0.88", 0.03),
            Level(
                "initial",
                "(length(l.fn) = 1 OR length(r.fn) = 1) AND l.fn[1] = r.fn[1]",
                0.02,
                measured_when="l.fn[1] = r.fn[1]",
                format_share=True,
            ),
            Level("swapped", "l.fn = r.ln", 0.01),
            Level("disagree", _DISAGREE, 0.02),
        ),
    ),
    Comparison(
        "middle_name",
        _both("mn"),
        (
            Level("exact", "l.mn = r.mn AND length(l.mn) > 1", 0.70),
            Level("initial", "l.mn[1] = r.mn[1]", 0.25),
            Level("disagree", _DISAGREE, 0.05),
        ),
    ),
    Comparison(
        "last_name",
        _both("ln"),
        (
            Level("exact", "l.ln = r.ln", 0.86, tf="tf_ln", given_tf="tf_ln_in_zip"),
            Level("part", "list_has_any(l.ln_parts, r.ln_parts)", 0.03),
            Level("fuzzy", "jaro_winkler_similarity(l.ln, r.ln) >= 0.9", 0.04),
            Level("swapped", "l.ln = r.fn", 0.01),
            Level("disagree", _DISAGREE, 0.06),
        ),
        given="lvl_area = 1",
        given_u="zip",
    ),
    Comparison(
        "name_suffix",
        # A suffix the list gives and the voter has not (a Jr against his father) disagrees.
        "l.sfx IS NULL",
        (
            Level("exact", "l.sfx = r.sfx", 0.85),
            Level("disagree", "r.sfx IS NULL OR l.sfx <> r.sfx", 0.15),
        ),
    ),
    Comparison(
        "dob",
        _both("dob"),
        (
            Level("exact", "l.dob = r.dob", 0.86),
            Level(
                "month/day swapped",
                "year(l.dob) = year(r.dob) AND month(l.dob) = day(r.dob) "
                "AND day(l.dob) = month(r.dob)",
                0.01,
            ),
            Level(
                "two of year, month, day",
                "(year(l.dob) = year(r.dob))::INT + (month(l.dob) = month(r.dob))::INT "
                "+ (day(l.dob) = day(r.dob))::INT >= 2",
                0.06,
            ),
            Level("disagree", _DISAGREE, 0.07),
        ),
    ),
    Comparison(
        "age",
        f"{_both('age')} OR (l.dob IS NOT NULL AND r.dob IS NOT NULL)",
        (
            Level("within 1 year", "abs(l.age - r.age) <= 1", 0.9),
            Level("within 3 years", "abs(l.age - r.age) <= 3", 0.05),
            Level("disagree", _DISAGREE, 0.05),
        ),
        measured_null=_both("age"),
    ),
    Comparison(
        "gender",
        _both("gender"),
        (Level("exact", "l.gender = r.gender", 0.96), Level("disagree", _DISAGREE, 0.04)),
    ),
    Comparison(
        "area",
        f"({_both('zip')}) AND ({_both('city')}) AND ({_both('state')})",
        (
            Level("zip", "l.zip = r.zip", 0.85, tf="tf_zip"),
            Level(
                "city",
                "l.city = r.city AND (l.state = r.state OR l.state IS NULL)",
                0.04,
                tf="tf_city",
            ),
            Level("state", "l.state = r.state", 0.06),
            Level("disagree", _DISAGREE, 0.05),
        ),
    ),
    Comparison(
        "residence",
        f"NOT ({_ADDRESS_BOTH}) AND NOT ({_GEO_BOTH})",
        (
            Level(
                "exact",
                f"CASE WHEN {_ADDRESS_BOTH} THEN l.hn = r.hn AND l.street = r.street "
                f"ELSE {_GEO_KM} < 0.05 END",
                0.82,
                tf="tf_address",
                given_tf="tf_kin_address",
            ),
            Level(
                "close",
                f"CASE WHEN {_ADDRESS_BOTH} THEN l.hn = r.hn "
                "AND jaro_winkler_similarity(l.street, r.street) >= 0.85 "
                f"ELSE {_GEO_KM} < 0.5 END",
                0.06,
            ),
            Level("disagree", _DISAGREE, 0.12),
        ),
        u="zip",
        given="lvl_last_name = 1",
        given_u="kin",
    ),
    Comparison(
        "phone",
        "l.phone IS NULL OR (r.personal IS NULL AND r.landline IS NULL)",
        (
            Level("personal", "list_contains(r.personal, l.phone)", 0.5, per_person=0.05),
            Level("landline", "l.phone = r.landline", 0.2),
            Level("disagree", _DISAGREE, 0.3),
        ),
        given="lvl_last_name = 1",
        given_u="kin",
    ),
    Comparison(
        "email",
        _both("email"),
        (
            Level("exact", "l.email = r.email", 0.75, per_person=0.02),
            Level("same user", "split_part(l.email, '@', 1) = split_part(r.email, '@', 1)", 0.05),
            Level("disagree", _DISAGREE, 0.2),
        ),
    ),
)

#: Candidate pairs: a pair is scored when it agrees exactly on one of these keys.
#: Each is (contact-side keys, voter-side keys, which contacts); ``c.fnv`` is any of the
#: contact's first-name variants (``bill`` finds ``william``), ``phone`` any of the voter's.
BLOCKS: Final = {
    "voterbase_id": (("c.vbid",), ("v.vbid",), "TRUE"),
    "exact_track": (("c.etrack",), ("v.etrack",), "TRUE"),
    "voter_id": (("c.vid", "c.state"), ("v.vid", "v.state"), "TRUE"),
    "smartvan_id": (("c.vanid", "c.state"), ("v.vanid", "v.state"), "TRUE"),
    "email": (("c.email",), ("v.email",), "TRUE"),
    "last_name+zip": (("c.ln", "c.zip"), ("v.ln", "v.zip"), "TRUE"),
    "first_name+zip": (("c.fn", "c.zip"), ("v.fn", "v.zip"), "TRUE"),
    "swapped names+zip": (("c.fn", "c.zip"), ("v.ln", "v.zip"), "TRUE"),
    "last_name+dob": (("c.ln", "c.dob"), ("v.ln", "v.dob"), "TRUE"),
    "first_name+dob": (("c.fnv", "c.dob"), ("v.fn", "v.dob"), "TRUE"),
    "names+state": (("c.fnv", "c.ln", "c.state"), ("v.fn", "v.ln", "v.state"), "TRUE"),
    "house_number+zip": (("c.hn", "c.zip"), ("v.hn", "v.zip"), "TRUE"),
    "last_name+city": (
        ("c.ln", "c.city", "c.state"),
        ("v.ln", "v.city", "v.state"),
        "c.zip IS NULL",
    ),
    "last_name+place": (
        ("c.ln", "c.cell_lat", "c.cell_lon"),
        ("v.ln", "v.cell_lat", "v.cell_lon"),
        "c.zip IS NULL",
    ),
}

#: The least score of a row's match: log2 odds of 4 to 1.
DEFAULT_THRESHOLD: Final = 2.0
#: How far a row's best candidate must lead the next: closer, and the row is ambiguous.
DEFAULT_MARGIN: Final = 1.0
#: The least score of an additional candidate.
DEFAULT_CANDIDATE_THRESHOLD: Final = -8.0

_SUFFIXES: Final = ("jr", "sr", "ii", "iii", "iv", "v", "2nd", "3rd")
_TITLES: Final = ("mr", "mrs", "ms", "miss", "dr", "prof", "rev", "hon", "sir")
_STREET_WORDS: Final = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "boulevard": "blvd",
    "place": "pl",
    "circle": "cir",
    "terrace": "ter",
    "parkway": "pkwy",
    "trail": "trl",
    "highway": "hwy",
    "square": "sq",
    "way": "way",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}
_CITY_WORDS: Final = {"saint": "st", "mount": "mt", "fort": "ft", "sainte": "ste"}
_UNIT: Final = r"(\s+|^)(#|(apt|apartment|unit|ste|suite|fl|floor|rm|room|bldg|lot|spc)\b).*$"
_DATE_FORMATS: Final = ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%m-%d-%Y", "%m/%d/%y")
#: The voter file's own column for each identifier the normaliser reads.
_VOTER_COLUMNS: Final = {
    "voterbase_id": "voterbase_id",
    "exact_track": "exact_track",
    "voter_id": "voter_id",
    "smartvan_id": "smartvan_id",
    "first_name": "first_name",
    "middle_name": "middle_name",
    "last_name": "last_name",
    "name_suffix": "name_suffix",
    "address1": "address1",
    "city": "city",
    "state": "state",
    "zip": "zip",
    "age": "age",
    "gender": "gender",
    "dob": "dob",
    "email": "email",
    "latitude": "latitude",
    "longitude": "longitude",
}


class LinkageMatcher:
    """Probabilistic record linkage (Fellegi-Sunter) on DuckDB.

    Building one normalises the voter file, indexes it and measures the
    u-probabilities (a few seconds per million people); each
    :meth:`match` then takes about a second per 10,000 contacts.

    Parameters
    ----------
    voters
        The voter file to match against.
    threshold
        The least score (log2 odds) a row's best candidate needs to be its
        match; 2 means odds of 4 to 1.
    margin
        How much more than the next candidate the best must score: a row
        whose two best candidates are closer (a father and son of the same
        name at the same address, and nothing to tell them apart) is left
        unmatched rather than guessed.
    candidate_threshold
        The least score of an additional candidate (ranks 2, 3, ...).
    threads
        DuckDB threads; all cores by default.

    Examples
    --------
    >>> matcher = LinkageMatcher(VoterFile.generate(20_000))          # doctest: +SKIP
    >>> found = matcher.match(contacts, max_matches=3)
    """

    def __init__(
        self,
        voters: VoterFile,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        candidate_threshold: float = DEFAULT_CANDIDATE_THRESHOLD,
        threads: int | None = None,
    ) -> None:
        import duckdb

        self.voters = voters
        self.threshold = threshold
        self.margin = margin
        self.candidate_threshold = candidate_threshold
        self._db = duckdb.connect(":memory:")
        if threads:
            self._db.execute(f"SET threads = {int(threads)}")
        self._db.execute("SET preserve_insertion_order = false")
        self._db.execute("SET enable_progress_bar = false")  # a service prints nothing
        self._db.register("raw_voters", voters.table)
        self._db.register("nick_pairs", reference.nicknames())
        self._db.execute("CREATE TABLE nick AS SELECT * FROM nick_pairs")
        self._db.unregister("nick_pairs")
        self._index()
        self._db.unregister("raw_voters")
        self.u = self._measure_u()
        self.prior = math.log2(1 / max(len(voters), 2))

    # -- public ----------------------------------------------------------------------

    def match(self, contacts: pd.DataFrame, max_matches: int) -> Candidates:
        """See :meth:`Matcher.match`."""
        name = f"contacts_{uuid.uuid4().hex}"
        db = self._db.cursor()  # a connection of this call's own: match() is thread-safe
        try:
            known = [c for c in contacts.columns if str(c) in _CONTACT_COLUMNS]
            frame = contacts[known].reset_index(drop=True)
            db.register(f"{name}_raw", _as_text(frame))
            present = {str(c) for c in known}
            db.execute(
                f"CREATE TEMP TABLE {name} AS "
                + _normalise(f"{name}_raw", present, _CONTACT_COLUMNS, "row_number() OVER () - 1")
            )
            db.execute(f"CREATE TEMP TABLE {name}_c AS " + _with_variants(name))
            result = db.execute(self._match_sql(f"{name}_c", max_matches)).fetchnumpy()
        finally:
            for suffix in ("_c", ""):
                db.execute(f"DROP TABLE IF EXISTS {name}{suffix}")
            db.close()
        return Candidates(
            np.asarray(result["row"], dtype=np.int64),
            np.asarray(result["person"], dtype=np.int64),
            np.asarray(result["score"], dtype=float),
            np.asarray(result["method"], dtype=object),
            np.asarray(result["rank"], dtype=np.int64),
        )

    def weights(self) -> pd.DataFrame:
        """Every comparison level with its m, u and weight.

        For a ``term_frequency`` level, u and the weight shown are the
        average over the voter file; a pair gets its value's own.
        """
        rows = []
        for comparison in COMPARISONS:
            for i, level in enumerate(comparison.levels, 1):
                rows.append(
                    {
                        "comparison": comparison.name,
                        "level": level.label,
                        "m": level.m,
                        "u": self.u[comparison.name]["u"][i],
                        "weight": self._weights(comparison, "u")[i - 1],
                        "given": comparison.given,
                        "weight_given": self._weights(comparison, "given")[i - 1]
                        if comparison.given
                        else None,
                        "term_frequency": bool(level.tf),
                    }
                )
        return pd.DataFrame(rows)

    # -- building ---------------------------------------------------------------------

    def _index(self) -> None:
        db = self._db
        present = set(self.voters.table.column_names)
        db.execute(
            "CREATE TABLE vn AS "
            + _normalise("raw_voters", present, _VOTER_COLUMNS, "row_number() OVER () - 1")
        )
        phones = (
            "SELECT row_number() OVER () - 1 AS rid, "
            + ", ".join(f"{_phone_sql(c)} AS {c}" for c in _PHONES)
            + " FROM raw_voters"
        )
        size = max(len(self.voters), 1)
        db.execute(
            f"""
            CREATE TABLE voters AS
            WITH ph AS ({phones})
            SELECT vn.* EXCLUDE (phone),
                nullif(list_filter([ph.phone_wireless, ph.phone_voip],
                    lambda x: x IS NOT NULL), []) AS personal,
                ph.phone_landline AS landline,
                coalesce(ph.phone_wireless, ph.phone_voip, ph.phone_landline) AS phone,
                count(*) OVER (PARTITION BY vn.fn) / {size} AS tf_fn,
                count(*) OVER (PARTITION BY vn.ln) / {size} AS tf_ln,
                count(*) OVER (PARTITION BY vn.zip) / {size} AS tf_zip,
                count(*) OVER (PARTITION BY vn.city, vn.state) / {size} AS tf_city,
                -- Of the others in the voter's ZIP code, the share who live at the address.
                CASE WHEN vn.hn IS NOT NULL THEN
                    greatest(count(*) OVER (PARTITION BY vn.zip, vn.hn, vn.street) - 1, 0.5)
                    / greatest(count(*) OVER (PARTITION BY vn.zip) - 1, 1)
                END AS tf_address,
                -- Of the others in the voter's ZIP code, the share of the voter's last name.
                greatest(count(*) OVER (PARTITION BY vn.zip, vn.ln) - 1, 0.5)
                    / greatest(count(*) OVER (PARTITION BY vn.zip) - 1, 1) AS tf_ln_in_zip,
                -- Of the others of the voter's last name in the ZIP code, the share who live
                -- at the voter's address.
                CASE WHEN vn.hn IS NOT NULL THEN
                    greatest(count(*) OVER (PARTITION BY vn.zip, vn.hn, vn.street, vn.ln) - 1, 0.5)
                    / greatest(count(*) OVER (PARTITION BY vn.zip, vn.ln) - 1, 1)
                END AS tf_kin_address
            FROM vn JOIN ph USING (rid)
            ORDER BY rid
            """
        )
        db.execute("DROP TABLE vn")
        db.execute(
            """
            CREATE TABLE voter_phones AS
            SELECT rid AS person, phone FROM (
                SELECT rid, unnest(list_concat(personal, [landline])) AS phone FROM voters
            ) WHERE phone IS NOT NULL
            """
        )

    def _measure_u(self) -> dict[str, dict[str, list[float]]]:
        """u-probabilities of every level, measured on pairs of different voters."""
        n = len(self.voters)
        sample = min(n, 300_000)
        step = max(n // sample, 1)
        samples = {
            # Random pairs: person i and a scattered partner.
            "random": f"""
                SELECT rid AS a, (rid * 7919 + {n // 3 + 1}) % {n} AS b FROM voters
                WHERE rid % {step} = 0""",
            # Neighbours: each person and the next one in the same ZIP code.
            "zip": f"""
                SELECT a, b FROM (
                    SELECT rid AS a, lead(rid) OVER (PARTITION BY zip ORDER BY hash(rid)) AS b
                    FROM voters WHERE zip IS NOT NULL)
                WHERE b IS NOT NULL AND a % {step} = 0""",
            # Kin: each person and the next one of the same last name in the same ZIP code.
            "kin": f"""
                SELECT a, b FROM (
                    SELECT rid AS a,
                        lead(rid) OVER (PARTITION BY zip, ln ORDER BY hash(rid)) AS b
                    FROM voters WHERE zip IS NOT NULL AND ln IS NOT NULL)
                WHERE b IS NOT NULL AND a % {step} = 0""",
        }
        levels = ", ".join(f"{c.level_sql(measuring=True)} AS {_lvl(c)}" for c in COMPARISONS)
        counts: dict[str, pd.DataFrame] = {}
        for kind, pairs in samples.items():
            sql = f"""
                WITH p AS ({pairs}),
                left_side AS (
                    SELECT voters.*, variants.fn_variants
                    FROM voters LEFT JOIN ({_VARIANTS_OF.format(source="voters")}) variants
                        USING (fn)
                )
                SELECT {levels}
                FROM p JOIN left_side l ON l.rid = p.a JOIN voters r ON r.rid = p.b
                WHERE p.a <> p.b
            """
            counts[kind] = self._db.execute(sql).fetch_df()
        u: dict[str, dict[str, list[float]]] = {}
        for comparison in COMPARISONS:
            measured = {}
            for kind in ("random", "zip", "kin"):
                column = counts[kind][_lvl(comparison)].to_numpy()
                compared = column[column > 0]
                total = max(len(compared), 1)
                # A level never seen among different people is rare, not impossible.
                measured[kind] = [0.0] + [
                    level.per_person / max(n, 2)
                    if level.per_person
                    else max(float((compared == i).sum()), 0.5)
                    / total
                    * (level.m if level.format_share else 1)
                    for i, level in enumerate(comparison.levels, 1)
                ]
            u[comparison.name] = {
                "u": measured[comparison.u],
                "given": measured[comparison.given_u],
            }
        return u

    # -- matching ----------------------------------------------------------------------

    def _match_sql(self, contacts: str, max_matches: int) -> str:
        joins = []
        for left, right, which in BLOCKS.values():
            source = contacts
            if "c.fnv" in left:
                source = f"(SELECT *, unnest(fn_variants) AS fnv FROM {contacts})"
            on = " AND ".join(f"{a} = {b}" for a, b in zip(left, right, strict=True))
            joins.append(
                f"SELECT c.rid AS contact, v.rid AS person FROM {source} c "
                f"JOIN voters v ON {on} WHERE {which}"
            )
        joins.append(f"SELECT c.rid, p.person FROM {contacts} c JOIN voter_phones p USING (phone)")
        levels = ", ".join(f"{c.level_sql()} AS {_lvl(c)}" for c in COMPARISONS)
        score = " + ".join(self._weight_sql(c) for c in COMPARISONS)
        return f"""
            WITH pairs AS (SELECT DISTINCT contact, person FROM ({" UNION ALL ".join(joins)})),
            levelled AS (
                SELECT p.contact, p.person, r.tf_fn, r.tf_ln, r.tf_zip, r.tf_city, r.tf_address,
                    r.tf_kin_address, r.tf_ln_in_zip,
                    {levels}
                FROM pairs p JOIN {contacts} l ON l.rid = p.contact
                JOIN voters r ON r.rid = p.person
            ),
            scored AS (
                SELECT contact, person, {self.prior!r} + {score} AS score, {_METHOD} AS method
                FROM levelled
            ),
            ranked AS (
                SELECT *,
                    row_number() OVER best_first AS rank,
                    first_value(score) OVER best_first AS best,
                    coalesce(nth_value(score, 2) OVER (best_first
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), -1e9) AS second
                FROM scored
                WINDOW best_first AS (PARTITION BY contact ORDER BY score DESC, person)
            )
            SELECT contact AS "row", person, round(score, 6) AS score, method, rank FROM ranked
            WHERE best >= {float(self.threshold)!r} AND best - second >= {float(self.margin)!r}
                AND rank <= {int(max_matches)}
                AND (rank = 1 OR score >= {float(self.candidate_threshold)!r})
            ORDER BY contact, rank
        """

    def _weight_sql(self, comparison: Comparison) -> str:
        floor = repr(1 / max(len(self.voters), 2))

        def case(weights: list[float], given: bool) -> str:
            whens = []
            for i, level in enumerate(comparison.levels, 1):
                weight = repr(weights[i - 1])
                tf = level.given_tf if given else level.tf
                if tf:
                    weight = f"log2({level.m!r} / greatest(coalesce({tf}, 0), {floor}))"
                    if i == 1:
                        weight = f"greatest({weight}, 0)"
                whens.append(f"WHEN {i} THEN {weight}")
            return f"CASE {_lvl(comparison)} {' '.join(whens)} ELSE 0 END"

        marginal = case(self._weights(comparison, "u"), given=False)
        if not comparison.given:
            return f"({marginal})"
        given = case(self._weights(comparison, "given"), given=True)
        return f"(CASE WHEN {comparison.given} THEN {given} ELSE {marginal} END)"

    def _weights(self, comparison: Comparison, kind: str) -> list[float]:
        """``log2(m / u)`` per level; exact agreement never counts against a pair, and no
        lesser agreement (seen too seldom among different people to measure) outweighs it."""
        weights: list[float] = []
        for i, level in enumerate(comparison.levels, 1):
            weight = math.log2(level.m / self.u[comparison.name][kind][i])
            if i == len(comparison.levels):  # disagreement never counts for a pair
                weight = min(weight, 0.0)
            weights.append(min(weight, weights[0]) if weights else max(weight, 0.0))
        return weights


def _lvl(comparison: Comparison) -> str:
    return f"lvl_{comparison.name}"


#: What a match rests on, from its strongest agreeing evidence (the summary counts these).
_NAME = "lvl_first_name BETWEEN 1 AND 5 AND lvl_last_name BETWEEN 1 AND 4"
_METHOD: Final = f"""CASE
    WHEN lvl_voterbase_id = 1 THEN 'voterbase_id'
    WHEN lvl_exact_track = 1 THEN 'exact_track'
    WHEN lvl_voter_id = 1 THEN 'voter_id'
    WHEN lvl_smartvan_id = 1 THEN 'smartvan_id'
    WHEN {_NAME} AND lvl_residence = 1 THEN 'name+address'
    WHEN {_NAME} AND lvl_dob = 1 THEN 'name+dob'
    WHEN lvl_email = 1 THEN 'email'
    WHEN lvl_phone IN (1, 2) THEN 'phone'
    WHEN {_NAME} AND lvl_area = 1 THEN 'name+zip'
    WHEN {_NAME} AND lvl_residence = 2 THEN 'name+location'
    WHEN {_NAME} AND lvl_area = 2 THEN 'name+city'
    ELSE 'probabilistic'
END"""

_PHONES: Final = ("phone_landline", "phone_wireless", "phone_voip")
#: The upload's identifier columns, each read under its own name.
_CONTACT_COLUMNS: Final = {name: name for name in IDENTIFIERS}

#: A first name's variants: itself, the names it is a nickname of, and its nicknames.
_VARIANTS_OF: Final = """
    SELECT fn, list_sort(list(DISTINCT v)) AS fn_variants FROM (
        SELECT fn, fn AS v FROM (SELECT DISTINCT fn FROM {source} WHERE fn IS NOT NULL)
        UNION ALL
        SELECT n.nickname AS fn, n.name AS v
        FROM nick n SEMI JOIN {source} s ON s.fn = n.nickname
        UNION ALL
        SELECT n.name AS fn, n.nickname AS v
        FROM nick n SEMI JOIN {source} s ON s.fn = n.name
    ) GROUP BY fn
"""


def _with_variants(source: str) -> str:
    return (
        f"SELECT s.*, coalesce(v.fn_variants, []) AS fn_variants FROM {source} s "
        f"LEFT JOIN ({_VARIANTS_OF.format(source=source)}) v USING (fn)"
    )


def _as_text(frame: pd.DataFrame) -> pa.Table:
    """Every column as text (null where missing): uploads are text, whatever pandas inferred."""
    text = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return pa.Table.from_pandas(text.astype(pd.StringDtype("pyarrow")), preserve_index=False)


# -- normalising ---------------------------------------------------------------------------


def _sql_in(words: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(f"'{w}'" for w in words) + ")"


def _case_map(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {expr} END"


def _name_tokens(expr: str) -> str:
    """Lower-case ASCII words of a name; apostrophes and dots vanish, hyphens stay inside."""
    cleaned = (
        f"regexp_replace(regexp_replace(lower(strip_accents({expr})), '[''\u2019`.]', '', 'g'), "
        "'[^a-z-]+', ' ', 'g')"
    )
    return (
        f"list_filter(string_split(trim({cleaned}), ' '), "
        "lambda t: t NOT IN ('', '-') AND t NOT IN " + _sql_in(_TITLES) + ")"
    )


def _letters(expr: str) -> str:
    return f"nullif(regexp_replace({expr}, '[^a-z]', '', 'g'), '')"


def _suffix(expr: str) -> str:
    mapped = _case_map(expr, {"2nd": "ii", "3rd": "iii"})
    return f"CASE WHEN {expr} IN {_sql_in(_SUFFIXES)} THEN {mapped} END"


def _phone_sql(column: str) -> str:
    digits = f"regexp_replace(\"{column}\", '[^0-9]', '', 'g')"
    ten = (
        f"CASE WHEN length({digits}) = 11 AND {digits}[1] = '1' THEN {digits}[2:] ELSE {digits} END"
    )
    return f"CASE WHEN regexp_full_match({ten}, '[2-9][0-9]{{9}}') THEN {ten} END"


def _normalise(source: str, present: set[str], columns: dict[str, str], rid: str) -> str:
    """SQL that turns raw identifier text into comparable values (both sides use it)."""

    def col(identifier: str) -> str:
        name = columns.get(identifier)
        return f'"{name}"' if name and name in present else "NULL::VARCHAR"

    states = {name.lower(): code for code, (name, _) in reference.STATES.items()}
    state_raw = f"upper(trim({col('state')}))"
    by_name = " ".join(f"WHEN '{name}' THEN '{code}'" for name, code in states.items())
    state = (
        f"CASE WHEN {state_raw} IN {_sql_in(list(reference.STATES))} THEN {state_raw} "
        f"ELSE CASE lower(trim({col('state')})) {by_name} END END"
    )
    zip_digits = f"regexp_replace({col('zip')}, '[^0-9]', '', 'g')"
    dob_formats = "[" + ", ".join(f"'{f}'" for f in _DATE_FORMATS) + "]"
    address = f"regexp_replace(lower(strip_accents({col('address1')})), '[.,]', ' ', 'g')"
    street = f"regexp_replace({address}, '{_UNIT}', '')"
    city = f"regexp_replace(lower(strip_accents({col('city')})), '[^a-z ]+', ' ', 'g')"
    city_words = f"string_split(trim({city}), ' ')"
    voter_id = f"upper(regexp_replace({col('voter_id')}, '[^A-Za-z0-9]', '', 'g'))"
    van_id = f"regexp_replace({col('smartvan_id')}, '[^0-9]', '', 'g')"
    age = f"try_cast(regexp_extract({col('age')}, '[0-9]+') AS INTEGER)"
    dob = f"CAST(try_strptime(trim({col('dob')}), {dob_formats}) AS DATE)"
    phone = _phone_sql(columns["phone"]) if columns.get("phone") in present else "NULL::VARCHAR"
    email = f"lower(trim({col('email')}))"
    latitude = f"try_cast({col('latitude')} AS DOUBLE)"
    longitude = f"try_cast({col('longitude')} AS DOUBLE)"
    return f"""
        WITH raw AS (
            SELECT {rid} AS rid, *,
                {_name_tokens(col("first_name"))} AS t_first,
                {_name_tokens(col("middle_name"))} AS t_middle,
                {_name_tokens(col("last_name"))} AS t_last,
                {_name_tokens(col("name_suffix"))} AS t_suffix,
                {_name_tokens(col("first_name_combined"))} AS t_combined,
                {_name_tokens(f"split_part({col('full_name')}, ',', 1)")} AS t_full_a,
                {_name_tokens(f"split_part({col('full_name')}, ',', 2)")} AS t_full_b,
                contains({col("full_name")}, ',') AS full_comma,
                list_filter(string_split(trim(regexp_replace({street}, '\\s+', ' ', 'g')), ' '),
                    lambda t: t <> '') AS t_street,
                {city_words} AS t_city
            FROM {source}
        ),
        parsed AS (
            SELECT *,
                -- "Last, First Middle Jr" or "First Middle Last Jr"
                CASE WHEN full_comma THEN t_full_b ELSE t_full_a END AS f_given_all,
                CASE WHEN full_comma THEN t_full_a END AS f_last_all
            FROM raw
        ),
        parts AS (
            SELECT *,
                CASE WHEN len(f_given_all) > 1 AND f_given_all[-1] IN {_sql_in(_SUFFIXES)}
                    THEN f_given_all[-1] END AS f_sfx,
                CASE WHEN len(f_given_all) > 1 AND f_given_all[-1] IN {_sql_in(_SUFFIXES)}
                    THEN f_given_all[1:-2] ELSE f_given_all END AS f_given,
                CASE WHEN len(t_last) > 1 AND t_last[-1] IN {_sql_in(_SUFFIXES)}
                    THEN t_last[-1] END AS l_sfx,
                CASE WHEN len(t_last) > 1 AND t_last[-1] IN {_sql_in(_SUFFIXES)}
                    THEN t_last[1:-2] ELSE t_last END AS l_core
            FROM parsed
        ),
        names AS (
            SELECT *,
                coalesce(
                    {_letters("t_first[1]")},
                    {_letters("t_combined[1]")},
                    {_letters("f_given[1]")}
                ) AS fn,
                coalesce(
                    {_letters("array_to_string(t_middle, '')")},
                    {_letters("t_first[2]")},
                    {_letters("t_combined[2]")},
                    CASE WHEN full_comma THEN {_letters("f_given[2]")}
                        WHEN len(f_given) >= 3 THEN {_letters("f_given[2]")} END
                ) AS mn,
                coalesce(
                    {_letters("array_to_string(l_core, '')")},
                    CASE WHEN full_comma THEN {_letters("array_to_string(f_last_all, '')")}
                        WHEN len(f_given) >= 2 THEN {_letters("f_given[-1]")} END
                ) AS ln,
                coalesce(
                    CASE WHEN len(l_core) > 0 THEN l_core
                        WHEN full_comma THEN f_last_all
                        WHEN len(f_given) >= 2 THEN [f_given[-1]] END, []
                ) AS ln_words,
                coalesce({_suffix("array_to_string(t_suffix, '')")}, {_suffix("l_sfx")},
                    {_suffix("f_sfx")}) AS sfx
            FROM parts
        )
        SELECT rid,
            nullif(upper(regexp_replace({col("voterbase_id")}, '\\s', '', 'g')), '') AS vbid,
            nullif(upper(regexp_replace({col("exact_track")}, '\\s', '', 'g')), '') AS etrack,
            nullif(ltrim({voter_id}, '0'), '') AS vid,
            nullif(ltrim({van_id}, '0'), '') AS vanid,
            fn, mn, ln,
            list_distinct(flatten(list_transform(ln_words,
                lambda w: list_filter(string_split(w, '-'), lambda x: x <> '')))) AS ln_parts,
            sfx,
            CASE WHEN regexp_full_match(t_street[1], '[0-9]+[a-z]?') THEN t_street[1] END AS hn,
            nullif(array_to_string(list_transform(t_street[2:],
                lambda t: {_case_map("t", _STREET_WORDS)}), ' '), '') AS street,
            nullif(array_to_string(list_transform(list_filter(t_city, lambda t: t <> ''),
                lambda t: {_case_map("t", _CITY_WORDS)}), ' '), '') AS city,
            {state} AS state,
            CASE
                WHEN length({zip_digits}) IN (5, 9) THEN {zip_digits}[1:5]
                WHEN length({zip_digits}) IN (3, 4) THEN lpad({zip_digits}, 5, '0')
                WHEN length({zip_digits}) = 8 THEN lpad({zip_digits}, 9, '0')[1:5]
            END AS zip,
            CASE WHEN {dob} BETWEEN DATE '1900-01-01' AND DATE '2030-01-01' THEN {dob} END AS dob,
            CASE WHEN {age} BETWEEN 17 AND 120 THEN {age} END AS age,
            CASE upper(trim({col("gender")}))[1]
                WHEN 'M' THEN 'M' WHEN 'F' THEN 'F' WHEN 'W' THEN 'F' END AS gender,
            {phone} AS phone,
            CASE WHEN regexp_full_match({email}, '[^@\\s]+@[^@\\s]+\\.[a-z]{{2,}}') THEN {email} END
                AS email,
            CASE WHEN {latitude} BETWEEN -90 AND 90 AND {longitude} BETWEEN -180 AND 180
                THEN {latitude} END AS lat,
            CASE WHEN lat IS NOT NULL THEN {longitude} END AS lon,
            CAST(floor(lat * 20) AS INTEGER) AS cell_lat,
            CAST(floor(lon * 20) AS INTEGER) AS cell_lon
        FROM names
    """
