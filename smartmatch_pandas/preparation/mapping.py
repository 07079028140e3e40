"""Which of a frame's columns go to SmartMatch, and as which identifier.

Headers are read the way users write them: ``First Name``, ``ZIP Code``,
``Cell Phone``, ``DOB``, ``vb.voterbase_id`` are all recognised (see
:data:`ALIASES`), and so are the export layouts of the tools campaigns use
(NGP VAN, NationBuilder, Action Network, ActBlue, L2, Spoke, SmartMatch's own
output: see :data:`KNOWN_HEADERS`); anything else is sent only when mapped
with ``columns=``. Both come from one data table shipped with the package,
``aliases.csv``, each row with the source it was taken from.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

import pandas as pd

from ..errors import InputError, OptionError, warn
from ..identifiers import IDENTIFIERS, MATCHBACK_ID, NEEDS_STATE


@dataclass(frozen=True)
class ColumnMapping:
    """The frame columns sent to SmartMatch, each with the identifier it is sent as.

    Attributes
    ----------
    pairs
        ``(frame column, identifier)`` in the frame's column order.
    layout
        The tool whose export the frame looks like (``"NGP VAN / EveryAction"``,
        ``"L2"``, ...; see :func:`detect_layout`), or ``None``.
    """

    pairs: tuple[tuple[Hashable, str], ...]
    layout: str | None = None
    choices: tuple[Choice, ...] = ()
    supplied: tuple[tuple[Hashable, int], ...] = ()

    @property
    def reads(self) -> list[tuple[Hashable, str]]:
        """Every ``(frame column, identifier)`` read: the columns sent, then the other
        columns of each :class:`Choice` (each row sends one of them)."""
        read = list(self.pairs)
        for choice in self.choices:
            read += [pair for pair in choice.pairs if pair not in read]
        return read

    @property
    def choice_notes(self) -> list[str]:
        """Each choice in words, with how many rows each column supplied when known."""
        counts = dict(self.supplied)
        return [choice.describe(counts) for choice in self.choices]

    @property
    def layout_note(self) -> str | None:
        """``"looks like an NGP VAN / EveryAction export"``, or ``None``."""
        return None if self.layout is None else f"looks like {_article(self.layout)} export"

    @property
    def identifiers(self) -> list[str]:
        """The identifiers sent, in upload order."""
        return [identifier for _, identifier in self.pairs]

    @property
    def columns(self) -> list[Hashable]:
        """The frame columns read: those sent, in upload order, then the other columns of
        each :class:`Choice`."""
        return [column for column, _ in self.reads]

    def as_dict(self) -> dict[Hashable, str]:
        """``{frame column: identifier}``."""
        return dict(self.pairs)

    def __str__(self) -> str:
        shown = [
            identifier if column == identifier else f"{column!s} → {identifier}"
            for column, identifier in self.pairs
        ]
        lines = ["sending " + ", ".join(shown)]
        lines += [f"  each row: {note}" for note in self.choice_notes]
        lines += [f"  note: {note}" for note in [*self.notes, *self.id_notes]]
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def id_notes(self) -> list[str]:
        """What an id column may not be: a VAN id not said to come from the voter file."""
        has_state = "state" in self.identifiers
        return [
            uncertain_id_note(label, has_state)
            for label, identifier in self.pairs
            if identifier == "smartvan_id" and is_uncertain_van_id(label)
        ]

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


#: Headers of a VAN id that say it comes from the voter file (MyVoters): any other header
#: read as ``smartvan_id`` (``VANID``, ``VAN ID``) may be a MyCampaign id, the
#: committee's own number for a person, which no voter file holds.
VOTER_FILE_VAN_HEADERS: Final = frozenset(
    {"voterfilevanid", "smartvanid", "vansmartvanid", "vanvoterid", "myvotersvanid"}
)


def is_uncertain_van_id(label: Hashable) -> bool:
    """Whether a column sent as ``smartvan_id`` may hold ids that are not voter-file ids."""
    return not (isinstance(label, str) and canonical(label) in VOTER_FILE_VAN_HEADERS)


def uncertain_id_note(label: Hashable, has_state: bool) -> str:
    """What a VAN id column of unknown origin means for the match, and what to do."""
    state = (
        ""
        if has_state
        else "; and with no state column, SmartMatch cannot tell which state's file it is of"
    )
    return (
        f"{label!r} is sent as smartvan_id: a VAN id is a voter-file id only when it comes "
        "from VAN's voter file (MyVoters, exported as 'Voter File VANID'); a MyCampaign "
        "VANID is the committee's own number, which matches nobody or the wrong person"
        f"{state}. If it is not from MyVoters, leave it out with columns={{{label!r}: None}}"
    )


@dataclass(frozen=True)
class Choice:
    """Several columns, or sets of columns, for the same identifiers: each row sends the
    first, in order of preference, that holds a usable value.

    Attributes
    ----------
    identifiers
        The identifiers chosen together (``("phone",)``; an address's fields).
    options
        In order of preference, the column of each identifier in one option
        (``None`` where that option has none): ``(("CellPhone",), ("HomePhone",))``.
    """

    identifiers: tuple[str, ...]
    options: tuple[tuple[Hashable | None, ...], ...]

    @property
    def pairs(self) -> list[tuple[Hashable, str]]:
        """Every ``(column, identifier)`` of the options, in order of preference."""
        return [
            (column, identifier)
            for option in self.options
            for column, identifier in zip(option, self.identifiers, strict=True)
            if column is not None
        ]

    @property
    def is_address(self) -> bool:
        """Whether whole addresses are chosen (rather than one identifier's columns)."""
        return bool(set(self.identifiers) & set(ADDRESS))

    def describe(self, supplied: Mapping[Hashable, int] | None = None) -> str:
        """``phone from 'CellPhone' (84 rows), else 'HomePhone' (9 rows)``."""
        counts = supplied or {}

        def shown(option: tuple[Hashable | None, ...]) -> str:
            columns = [c for c in option if c is not None]
            text = (
                repr(columns[0])
                if len(columns) == 1
                else "(" + ", ".join(repr(c) for c in columns) + ")"
            )
            if columns[0] in counts:
                n = counts[columns[0]]
                text += f" ({n:,} row{'' if n == 1 else 's'})"
            return text

        what = "address" if self.is_address else self.identifiers[0]
        return f"{what} from " + ", else ".join(shown(option) for option in self.options)


@dataclass(frozen=True)
class KnownHeader:
    """One row of ``aliases.csv``: a header as some list or tool writes it.

    Attributes
    ----------
    tool
        The tool whose export layout has this header (``"NGP VAN / EveryAction"``,
        ``"L2"``, ...), or ``""`` for a header any list may have.
    header
        The header as written.
    identifier
        The identifier the column holds, or ``None`` for a header that only
        helps recognise the layout (``"Receipt ID"``, ``"LALVOTERID"``).
    auto
        Whether the header is sent as ``identifier`` by itself. ``False`` for a
        column that holds the identifier but is sent only when mapped with
        ``columns=`` (a work phone, a mailing address, SmartMatch's own output).
    preference
        Order among a tool's columns for one identifier, lowest first (a cell
        phone before a home phone before a work phone; a residential address
        before a mailing one), or ``None``.
    source
        Where the header was taken from: a URL, or repository and path.
    """

    tool: str
    header: str
    identifier: str | None
    auto: bool
    preference: int | None
    source: str


def _read_known_headers() -> tuple[KnownHeader, ...]:
    text = resources.files(__package__).joinpath("aliases.csv").read_text(encoding="utf-8")
    return tuple(
        KnownHeader(
            tool=row["tool"],
            header=row["header"],
            identifier=row["identifier"] or None,
            auto=row["auto"] == "yes",
            preference=int(row["preference"]) if row["preference"] else None,
            source=row["source"],
        )
        for row in csv.DictReader(io.StringIO(text))
    )


#: Every row of the package's ``aliases.csv``: the headers recognised, the tool
#: layouts they belong to, and the source each was taken from.
KNOWN_HEADERS: Final[tuple[KnownHeader, ...]] = _read_known_headers()


def _generic_aliases(rows: Iterable[KnownHeader]) -> dict[str, tuple[str, ...]]:
    by_identifier: dict[str, list[str]] = {}
    for row in rows:
        if not row.tool and row.auto and row.identifier is not None:
            by_identifier.setdefault(row.identifier, []).append(row.header)
    return {i: tuple(by_identifier[i]) for i in IDENTIFIERS if i in by_identifier}


#: Header variants read as each identifier (the rows of ``aliases.csv`` that belong
#: to no one tool). A header matches when it is equal to one of these, or to an
#: identifier's own name, or to a header a tool's layout sends (see
#: :data:`KNOWN_HEADERS`), once both are compared by :func:`canonical` (case,
#: spaces, punctuation and a ``vb.`` prefix ignored), or when it is one of
#: :data:`QUALIFIERS` followed by one of these ("Home Phone", "Donor Email").
#: Only whole headers match: "Email Opt In", "Phone Type", "Zip4", "Mailing
#: Address" or "Full Address" are never sent unless mapped with ``columns=``.
ALIASES: Final[dict[str, tuple[str, ...]]] = _generic_aliases(KNOWN_HEADERS)

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


def _alias_table(*, generic_only: bool = False) -> dict[str, str]:
    table: dict[str, str] = {}
    named = [(identifier, identifier) for identifier in IDENTIFIERS]
    named += [
        (row.header, row.identifier)
        for row in KNOWN_HEADERS
        if row.auto and row.identifier and not (generic_only and row.tool)
    ]
    for name, identifier in named:
        key = canonical(name)
        assert table.get(key, identifier) == identifier, f"alias {name!r} used twice"
        table[key] = identifier
    return table


_BY_ALIAS: Final = _alias_table()
_BY_GENERIC_ALIAS: Final = _alias_table(generic_only=True)


def _read_with(key: str, table: Mapping[str, str]) -> str | None:
    """The identifier a canonical header names in ``table``, alone or after a qualifier."""
    if key in table:
        return table[key]
    for qualifier in QUALIFIERS:
        if key.startswith(qualifier) and key[len(qualifier) :] in table:
            return table[key[len(qualifier) :]]
    return None


def _layout_headers() -> dict[str, str]:
    """``{canonical header: tool}`` for the headers that belong to one tool's layout only.

    A header that two tools share, or that any list may have (an identifier's
    own name, a generic alias, a qualifier before one: ``Donor First Name``),
    says nothing about which tool a frame came from.
    """
    tools_of: dict[str, set[str]] = {}
    for row in KNOWN_HEADERS:
        if row.tool:
            tools_of.setdefault(canonical(row.header), set()).add(row.tool)
    return {
        key: next(iter(tools))
        for key, tools in tools_of.items()
        if len(tools) == 1 and _read_with(key, _BY_GENERIC_ALIAS) is None
    }


_LAYOUT_OF: Final = _layout_headers()

#: Per tool, the canonical headers its layout never sends by themselves, even
#: where a list of no known layout would (ActBlue's ``Mobile`` is a yes/no flag,
#: not a phone number).
_NOT_SENT_IN: Final[dict[str, frozenset[str]]] = {
    tool: frozenset(
        canonical(row.header) for row in KNOWN_HEADERS if row.tool == tool and not row.auto
    )
    for tool in {row.tool for row in KNOWN_HEADERS if row.tool}
}

#: A frame looks like a tool's export when at least this share of its headers
#: belong to that tool's layout alone (and at least :data:`LAYOUT_MIN_HEADERS`
#: of them do), or when :data:`LAYOUT_ENOUGH_HEADERS` of them do whatever the
#: frame's width: a voter file has hundreds of columns the table does not list.
LAYOUT_MIN_SHARE: Final = 0.2
LAYOUT_MIN_HEADERS: Final = 2
LAYOUT_ENOUGH_HEADERS: Final = 5


def detect_layout(labels: Iterable[Hashable]) -> str | None:
    """The tool whose export a frame with these headers looks like, if any.

    Counts the headers that belong to one tool's layout alone (``vAddress``,
    ``can2_phone``, ``Residence_Addresses_AddressLine``: not ``FirstName`` or
    ``Donor ZIP``, which any list may have); one header lookup per column.

    Examples
    --------
    >>> detect_layout(["VANID", "FirstName", "LastName", "vAddress", "PreferredEmail", "Party"])
    'NGP VAN / EveryAction'
    >>> detect_layout(["First Name", "Last Name", "HomePhone"]) is None
    True
    """
    texts = [label for label in labels if isinstance(label, str)]
    counts = Counter(_LAYOUT_OF.get(canonical(label)) for label in texts)
    counts.pop(None, None)
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    tool, found = ranked[0]
    if found >= LAYOUT_ENOUGH_HEADERS:
        return tool
    if found >= LAYOUT_MIN_HEADERS and found >= LAYOUT_MIN_SHARE * len(texts):
        return tool
    return None


def _article(tool: str) -> str:
    """``"an NGP VAN"``, ``"a NationBuilder"``: initialisms are read letter by letter."""
    first = tool.split()[0]
    spelled = first.isupper() and tool[0] in "AEFHILMNORSX"
    return ("an " if spelled or tool[0] in "AEIOU" else "a ") + tool


def auto_identifier(label: Hashable) -> str | None:
    """The identifier a column header names by itself, if any.

    Examples
    --------
    >>> auto_identifier("Cell Phone"), auto_identifier("Donor ZIP"), auto_identifier("Zip4")
    ('phone', 'zip', None)
    """
    if not isinstance(label, str):
        return None
    return _read_with(canonical(label), _BY_ALIAS)


def layout_identifier(label: Hashable, layout: str | None) -> str | None:
    """The identifier a header names by itself in a frame that looks like ``layout``.

    As :func:`auto_identifier`, except for the headers the layout records as
    not sent (``Mobile``, a yes/no flag in an ActBlue export).

    Examples
    --------
    >>> layout_identifier("Mobile", None), layout_identifier("Mobile", "ActBlue")
    ('phone', None)
    """
    not_sent = _NOT_SENT_IN.get(layout or "", frozenset())
    if isinstance(label, str) and canonical(label) in not_sent:
        return None
    return auto_identifier(label)


#: Identifiers a row may send from one of several columns, by preference (a cell phone
#: before a home phone before a work phone; a preferred email first).
CHOSEN_PER_ROW: Final = frozenset({"phone", "email"})
#: The fields of an address: several sets of them (residential, mailing) are chosen
#: whole per row, never mixed.
ADDRESS: Final = ("address1", "address2", "city", "state", "zip", "latitude", "longitude")

#: The preference a qualifier gives a generic header ("Primary Phone" before "Phone"
#: before "Home Phone"); a header without one ranks as :data:`_PLAIN`.
_PLAIN: Final = 2
_QUALIFIER_PREFERENCE: Final = {"primary": 0, "home": 3, "res": 3, "residence": 3}


def preference(label: Hashable, identifier: str, layout: str | None = None) -> int | None:
    """Where a column ranks among several for ``identifier``, lowest first.

    The ``preference`` of the header's row in ``aliases.csv`` (the layout's own
    row first), else the qualifier's rank (``Primary Phone`` 0, ``Phone`` 2,
    ``Home Phone`` 3), else ``None`` (no sensible order).

    Examples
    --------
    >>> preference("CellPhone", "phone"), preference("Home Phone", "phone")
    (2, 3)
    """
    if not isinstance(label, str):
        return None
    key = canonical(label)
    rows = [r for r in KNOWN_HEADERS if r.identifier == identifier and canonical(r.header) == key]
    generic = key == identifier or key in _BY_GENERIC_ALIAS
    # The layout's own row, then a row of no tool; another tool's row only for a header
    # that is not also a plain one ("email" is NationBuilder's first, but any list's too).
    for tool in (layout or "", "", *([] if generic else [r.tool for r in rows])):
        for row in rows:
            if row.tool == tool and row.preference is not None:
                return row.preference
    if identifier not in CHOSEN_PER_ROW:
        return None
    if generic:
        return _PLAIN
    for qualifier in QUALIFIERS:
        if key.startswith(qualifier) and key[len(qualifier) :] in _BY_GENERIC_ALIAS | {
            identifier: identifier
        }:
            return _QUALIFIER_PREFERENCE.get(qualifier, _PLAIN)
    return None


@dataclass(frozen=True)
class Settled:
    """Candidate pairs sorted out: one column sent per identifier, the choices made per
    row, and what has no sensible order (a clash)."""

    pairs: list[tuple[Hashable, str]]
    choices: list[Choice]
    clashes: dict[str, list[Hashable]]


def settle(pairs: list[tuple[Hashable, str]], layout: str | None = None) -> Settled:
    """Sort out several columns for one identifier (see :func:`candidate_pairs`).

    Phones and emails in a documented order (:func:`preference`) become a
    :class:`Choice` each; address sets of different preference (residential,
    mailing) become one choice of whole sets; any other identifier with
    several columns, or columns of equal rank, is a clash.
    """
    by_identifier: dict[str, list[Hashable]] = {}
    for label, identifier in pairs:
        by_identifier.setdefault(identifier, []).append(label)
    clashes: dict[str, list[Hashable]] = {}
    choices: list[Choice] = []
    first: dict[str, Hashable] = {}
    for identifier, labels in by_identifier.items():
        if identifier in ADDRESS:
            continue
        if len(labels) == 1:
            first[identifier] = labels[0]
            continue
        ranks = [preference(label, identifier, layout) for label in labels]
        ordered = _ordered(labels, ranks) if identifier in CHOSEN_PER_ROW else None
        if ordered is None:
            clashes[identifier] = labels
        else:
            choices.append(Choice((identifier,), tuple((label,) for label in ordered)))
            first[identifier] = ordered[0]
    address = _address_choice(by_identifier, layout, clashes)
    if address is not None:
        choices.append(address)
    for identifier, labels in by_identifier.items():
        if identifier in ADDRESS and identifier not in clashes:
            first[identifier] = _first_of(address, identifier) if address else labels[0]
    kept = [(first[i], i) for _, i in pairs if i in first and first[i] is not None]
    return Settled(list(dict.fromkeys(kept)), choices, clashes)


def _ordered(labels: list[Hashable], ranks: list[int | None]) -> list[Hashable] | None:
    """``labels`` by rank (``None`` last), or ``None`` when two rank alike."""
    keys = [(rank is None, rank or 0) for rank in ranks]
    if len(set(keys)) < len(keys):
        return None
    return [label for _, label in sorted(zip(keys, labels, strict=True), key=lambda kl: kl[0])]


def _address_choice(
    by_identifier: dict[str, list[Hashable]],
    layout: str | None,
    clashes: dict[str, list[Hashable]],
) -> Choice | None:
    """Whole address sets by level (a column without a preference belongs to the first);
    ``None`` for a single set. Two columns for one field at one level clash."""
    levels: dict[int, dict[str, Hashable]] = {}
    for identifier in ADDRESS:
        for label in by_identifier.get(identifier, []):
            level = preference(label, identifier, layout) or 1
            fields = levels.setdefault(level, {})
            if identifier in fields:
                clashes.setdefault(identifier, [fields[identifier]]).append(label)
            fields[identifier] = label
    if len(levels) < 2 or any(i in clashes for i in ADDRESS):
        return None
    identifiers = tuple(i for i in ADDRESS if i in by_identifier)
    options = tuple(tuple(levels[level].get(i) for i in identifiers) for level in sorted(levels))
    return Choice(identifiers, options)


def _first_of(choice: Choice, identifier: str) -> Hashable | None:
    column = choice.identifiers.index(identifier)
    return next((o[column] for o in choice.options if o[column] is not None), None)


def resolve_mapping(
    frame_columns: Iterable[Hashable],
    columns: Mapping[Hashable, str | None] | None = None,
    *,
    frame: pd.DataFrame | None = None,
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
        With the tool whose export the frame looks like, if any
        (:func:`detect_layout`), as ``layout``.

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
    layout = detect_layout(labels)
    pairs = candidate_pairs(labels, columns, layout=layout)
    settled = settle(pairs, layout)
    if settled.clashes:
        raise InputError(clash_message(settled.clashes, filled_counts(frame, settled.clashes)))
    if not pairs:
        raise InputError(
            "no column of the frame is a SmartMatch identifier: name columns as in "
            "smartmatch_pandas.preparation.mapping.ALIASES or map them with "
            "columns={'your column': 'identifier'}; the identifiers are " + ", ".join(IDENTIFIERS)
        )
    mapping = ColumnMapping(tuple(settled.pairs), layout, tuple(settled.choices))
    for note in [*mapping.notes, *mapping.id_notes]:
        warn(note)
    return mapping


def candidate_pairs(
    labels: Sequence[Hashable],
    columns: Mapping[Hashable, str | None] | None = None,
    *,
    layout: str | None = None,
) -> list[tuple[Hashable, str]]:
    """Every ``(column, identifier)`` that would be sent, clashes included, in frame order.

    ``layout`` is the frame's :func:`detect_layout` if the caller has it (it is
    detected from ``labels`` otherwise).
    """
    overrides = _checked_overrides(labels, columns)
    layout = layout if layout is not None else detect_layout(labels)
    chosen = {i for i in overrides.values() if i is not None}
    pairs = []
    for label in labels:
        if label in overrides:
            identifier = overrides[label]
        else:
            identifier = layout_identifier(label, layout)
            if identifier in chosen:
                continue  # columns= gave this identifier to another column
        if identifier is not None:
            pairs.append((label, identifier))
    return pairs


def clashing(
    pairs: list[tuple[Hashable, str]], layout: str | None = None
) -> dict[str, list[Hashable]]:
    """Identifiers that more than one column would be sent as with no order of preference
    between them (see :func:`settle`), with those columns."""
    return settle(pairs, layout).clashes


def filled_counts(
    frame: pd.DataFrame | None, clashes: Mapping[str, list[Hashable]]
) -> dict[Hashable, int]:
    """How many rows of each clashing column hold something (not missing, not blank)."""
    if frame is None:
        return {}
    counts: dict[Hashable, int] = {}
    for labels in clashes.values():
        for label in labels:
            if label in frame.columns:
                column = frame[label]
                if isinstance(column, pd.Series):
                    text = column.astype("string").str.strip()
                    counts[label] = int((text.notna() & (text != "")).sum())
    return counts


def clash_message(
    clashes: dict[str, list[Hashable]], filled: Mapping[Hashable, int] | None = None
) -> str:
    """What clashes, and the ``columns=`` that settles it by keeping the fullest column of
    each (the first when the counts are not known)."""
    counts = filled or {}
    described = "; ".join(
        f"{_and([_with_count(c, counts) for c in labels])} as {identifier}"
        for identifier, labels in clashes.items()
    )
    keep: dict[Hashable, str | None] = {}
    for identifier, labels in clashes.items():
        if identifier not in ADDRESS:
            fullest = max(labels, key=lambda label: counts.get(label, -1))
            keep.update(dict.fromkeys(labels))
            keep[fullest] = identifier
    whole = _whole_address_kept(clashes, counts)
    keep.update(whole)
    advice = (
        " (an address is kept whole, from one set of columns; if the sets fill different "
        "rows, combine each pair into one column first)"
        if whole
        else ""
    )
    return (
        f"more than one column would be sent as the same identifier: {described}. "
        f"Choose one of each, for example with columns={keep!r}{advice}"
    )


def _whole_address_kept(
    clashes: Mapping[str, list[Hashable]], counts: Mapping[Hashable, int]
) -> dict[Hashable, str | None]:
    """The ``columns=`` keeping one whole address set: the one filling the most cells.

    The clashing columns of each address field are listed in the order their sets
    appear, so the k-th column of every field belongs to the k-th set; keeping the
    fullest column field by field would send fields of two addresses in one row.
    """
    fields = {i: labels for i, labels in clashes.items() if i in ADDRESS}
    if not fields:
        return {}
    sets = range(max(len(labels) for labels in fields.values()))

    def filled(k: int) -> int:
        return sum(counts.get(labels[k], 0) for labels in fields.values() if k < len(labels))

    chosen = max(sets, key=lambda k: (filled(k), -k))
    keep: dict[Hashable, str | None] = {}
    for identifier, labels in fields.items():
        keep.update(dict.fromkeys(labels))
        if chosen < len(labels):
            keep[labels[chosen]] = identifier
    return keep


def _with_count(label: Hashable, counts: Mapping[Hashable, int]) -> str:
    return repr(label) + (f" ({counts[label]:,} filled)" if label in counts else "")


def _and(shown: list[str]) -> str:
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
