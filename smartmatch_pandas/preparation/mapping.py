"""Which of a frame's columns go to SmartMatch, and as which identifier.

Headers are read the way users write them: ``First Name``, ``ZIP Code``,
``Cell Phone``, ``DOB``, ``vb.voterbase_id`` are all recognised (see
:data:`ALIASES`); anything else is sent only when mapped with ``columns=``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import InputError, OptionError, warn
from ..identifiers import IDENTIFIERS, MATCHBACK_ID, NEEDS_STATE


@dataclass(frozen=True)
class ColumnMapping:
    """The frame columns sent to SmartMatch, each with the identifier it is sent as.

    Attributes
    ----------
    pairs
        ``(frame column, identifier)`` in the frame's column order.
    """

    pairs: tuple[tuple[Hashable, str], ...]

    @property
    def identifiers(self) -> list[str]:
        """The identifiers sent, in upload order."""
        return [identifier for _, identifier in self.pairs]

    @property
    def columns(self) -> list[Hashable]:
        """The frame columns sent, in upload order."""
        return [column for column, _ in self.pairs]

    def as_dict(self) -> dict[Hashable, str]:
        """``{frame column: identifier}``."""
        return dict(self.pairs)

    def __str__(self) -> str:
        shown = [
            identifier if column == identifier else f"{column!s} → {identifier}"
            for column, identifier in self.pairs
        ]
        return "sending " + ", ".join(shown)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def notes(self) -> list[str]:
        """Problems of the mapping that do not stop a match (an id sent without its state)."""
        sent = set(self.identifiers)
        if "state" in sent:
            return []
        return [
            f"{identifier} is sent without a state: SmartMatch reads {identifier} together "
            "with the state it belongs to, so add a state column (or map one with "
            "columns={'your column': 'state'})"
            for identifier in IDENTIFIERS
            if identifier in NEEDS_STATE and identifier in sent
        ]


#: Header variants read as each identifier. A header matches when it is equal to one
#: of these, or to an identifier's own name, once both are compared by
#: :func:`canonical` (case, spaces, punctuation and a ``vb.`` prefix ignored), or
#: when it is one of :data:`QUALIFIERS` followed by one of these ("Home Phone",
#: "Donor Email"). Only whole headers match: "Email Opt In", "Phone Type",
#: "Zip4", "Mailing Address" or "Full Address" are never sent unless mapped with
#: ``columns=``.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "voterbase_id": ("voterbase", "voter base id", "tsmart voterbase id"),
    "smartvan_id": ("smart van id", "van id", "vanid", "voter file vanid", "van voter id"),
    "voter_id": (
        "state voter id",
        "state voter number",
        "state file id",
        "sos voter id",
        "sos id",
        "voter registration id",
        "voter registration number",
        "voter reg id",
        "voter reg number",
    ),
    "exact_track": ("exact track id",),
    "full_name": ("name", "full legal name", "complete name"),
    "first_name_combined": (
        "first and middle name",
        "first middle name",
        "first and middle",
        "first middle",
        "given names",
    ),
    "first_name": (
        "first",
        "fname",
        "f name",
        "first nm",
        "given name",
        "forename",
        "name first",
    ),
    "middle_name": ("middle", "mname", "middle initial", "mi", "name middle", "middle nm"),
    "last_name": (
        "last",
        "lname",
        "l name",
        "last nm",
        "surname",
        "family name",
        "name last",
    ),
    "name_suffix": ("suffix", "suffix name", "generational suffix"),
    "address1": (
        "address",
        "address line 1",
        "addr",
        "addr1",
        "addr line 1",
        "street",
        "street 1",
        "street address",
        "street address 1",
        "street line 1",
    ),
    "address2": (
        "address line 2",
        "addr2",
        "addr line 2",
        "street 2",
        "street address 2",
        "street line 2",
        "apt",
        "apt no",
        "apt number",
        "apartment",
        "apartment number",
        "unit",
        "unit no",
        "unit number",
        "suite",
        "apt unit",
        "apt suite",
        "unit apt",
    ),
    "city": ("town", "city town", "city name", "municipality", "locality"),
    "state": (
        "state code",
        "state abbr",
        "state abbreviation",
        "state province",
        "state or province",
        "state prov",
    ),
    "zip": (
        "zip code",
        "zipcode",
        "zip5",
        "zip code 5",
        "postal code",
        "postal",
        "postcode",
        "post code",
        "zip postal code",
        "zip or postal code",
        "postal zip code",
        "zip postal",
        "postal zip",
    ),
    "age": ("current age", "age years"),
    "gender": ("sex", "gender sex", "sex gender"),
    "dob": ("date of birth", "birthdate", "birth date", "birthday", "birth dt", "bday"),
    "phone": (
        "phone number",
        "phone no",
        "phone num",
        "phone1",
        "telephone",
        "telephone number",
        "tel",
        "cell",
        "cell phone",
        "cell number",
        "cell phone number",
        "mobile",
        "mobile phone",
        "mobile number",
        "mobile phone number",
        "wireless phone",
        "wireless number",
    ),
    "email": ("e-mail", "email address", "e-mail address", "email1", "email addr"),
    "latitude": ("lat",),
    "longitude": ("long", "lng", "lon"),
}

#: Words a header may put before an alias or identifier: "Home Phone", "Donor First
#: Name", "Primary Email", "Residential Address". ("Mailing" is not one: a mailing
#: address is often not where a voter is registered.)
QUALIFIERS: Final[tuple[str, ...]] = (
    "contact",
    "customer",
    "donor",
    "home",
    "legal",
    "member",
    "person",
    "personal",
    "primary",
    "res",
    "residence",
    "residential",
    "supporter",
    "voter",
)


def canonical(label: str) -> str:
    """A header as it is compared: lower case ASCII letters and digits, ``vb.`` dropped.

    Examples
    --------
    >>> canonical("vb.First_Name"), canonical("Zip/Postal Code"), canonical("E-mail")
    ('firstname', 'zippostalcode', 'email')
    """
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    text = text.strip().removeprefix("vb.")
    return re.sub(r"[^a-z0-9]", "", text)


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for identifier in IDENTIFIERS:
        for name in (identifier, *ALIASES.get(identifier, ())):
            key = canonical(name)
            assert table.get(key, identifier) == identifier, f"alias {name!r} used twice"
            table[key] = identifier
    return table


_BY_ALIAS: Final = _alias_table()


def auto_identifier(label: Hashable) -> str | None:
    """The identifier a column header names by itself, if any.

    Examples
    --------
    >>> auto_identifier("Cell Phone"), auto_identifier("Donor ZIP"), auto_identifier("Zip4")
    ('phone', 'zip', None)
    """
    if not isinstance(label, str):
        return None
    key = canonical(label)
    if key in _BY_ALIAS:
        return _BY_ALIAS[key]
    for qualifier in QUALIFIERS:
        if key.startswith(qualifier) and key[len(qualifier) :] in _BY_ALIAS:
            return _BY_ALIAS[key[len(qualifier) :]]
    return None


def resolve_mapping(
    frame_columns: Iterable[Hashable],
    columns: Mapping[Hashable, str | None] | None = None,
) -> ColumnMapping:
    """Decide which frame columns are sent, and as which identifier.

    Headers are read by :func:`auto_identifier` (see :data:`ALIASES`);
    ``columns`` overrides that: a column named there is sent as the
    identifier given (or not at all for ``None``), and takes that identifier
    from any column that was mapped to it automatically.

    Parameters
    ----------
    frame_columns
        The frame's column labels.
    columns
        ``{frame column: identifier}`` overriding or extending the automatic
        mapping; ``None`` as the identifier keeps a column from being sent.

    Returns
    -------
    ColumnMapping

    Raises
    ------
    OptionError
        ``columns`` names a column the frame lacks or an unknown identifier.
    InputError
        No column maps to an identifier, or two map to the same one (the
        message shows the ``columns=`` that settles it).

    Warns
    -----
    SmartMatchWarning
        ``smartvan_id`` or ``voter_id`` is sent without a ``state``.
    """
    labels = list(frame_columns)
    pairs = candidate_pairs(labels, columns)
    clashes = clashing(pairs)
    if clashes:
        raise InputError(clash_message(clashes))
    if not pairs:
        raise InputError(
            "no column of the frame is a SmartMatch identifier: name columns as in "
            "smartmatch_pandas.preparation.mapping.ALIASES or map them with "
            "columns={'your column': 'identifier'}; the identifiers are " + ", ".join(IDENTIFIERS)
        )
    mapping = ColumnMapping(tuple(pairs))
    for note in mapping.notes:
        warn(note)
    return mapping


def candidate_pairs(
    labels: Sequence[Hashable], columns: Mapping[Hashable, str | None] | None = None
) -> list[tuple[Hashable, str]]:
    """Every ``(column, identifier)`` that would be sent, clashes included, in frame order."""
    overrides = _checked_overrides(labels, columns)
    chosen = {i for i in overrides.values() if i is not None}
    pairs = []
    for label in labels:
        if label in overrides:
            identifier = overrides[label]
        else:
            identifier = auto_identifier(label)
            if identifier in chosen:
                continue  # columns= gave this identifier to another column
        if identifier is not None:
            pairs.append((label, identifier))
    return pairs


def clashing(pairs: list[tuple[Hashable, str]]) -> dict[str, list[Hashable]]:
    """Identifiers that more than one column would be sent as, with those columns."""
    by_identifier: dict[str, list[Hashable]] = {}
    for label, identifier in pairs:
        by_identifier.setdefault(identifier, []).append(label)
    return {i: labels for i, labels in by_identifier.items() if len(labels) > 1}


def clash_message(clashes: dict[str, list[Hashable]]) -> str:
    """What clashes, and the ``columns=`` that settles it by keeping the first of each."""
    described = "; ".join(
        f"{_and(labels)} as {identifier}" for identifier, labels in clashes.items()
    )
    settle: dict[Hashable, str | None] = {}
    for identifier, labels in clashes.items():
        settle[labels[0]] = identifier
        settle.update(dict.fromkeys(labels[1:]))
    return (
        f"more than one column would be sent as the same identifier: {described}. "
        f"Choose one of each, for example with columns={settle!r}"
    )


def _and(labels: list[Hashable]) -> str:
    shown = [repr(label) for label in labels]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _checked_overrides(
    labels: Sequence[Hashable], columns: Mapping[Hashable, str | None] | None
) -> dict[Hashable, str | None]:
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise OptionError(
            f"columns={columns!r} must be a dict of {{frame column: identifier or None}}"
        )
    for label, identifier in columns.items():
        if label not in labels:
            raise OptionError(
                f"columns names {label!r}, which is not a column of the frame "
                f"(its columns: {labels[:20]!r})"
            )
        if identifier is not None and identifier not in IDENTIFIERS:
            hint = " (the client adds it itself)" if identifier == MATCHBACK_ID else ""
            raise OptionError(
                f"columns[{label!r}]={identifier!r} is not a SmartMatch identifier{hint}; "
                "use one of " + ", ".join(IDENTIFIERS) + ", or None to leave the column out"
            )
    return dict(columns)
