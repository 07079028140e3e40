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
    clashes = clashing(pairs)
    if clashes:
        raise InputError(clash_message(clashes))
    if not pairs:
        raise InputError(
            "no column of the frame is a SmartMatch identifier: name columns as in "
            "smartmatch_pandas.preparation.mapping.ALIASES or map them with "
            "columns={'your column': 'identifier'}; the identifiers are " + ", ".join(IDENTIFIERS)
        )
    mapping = ColumnMapping(tuple(pairs), layout)
    for note in mapping.notes:
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
