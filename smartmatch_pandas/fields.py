"""Which of a frame's columns go to SmartMatch, and as which identifier."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from .errors import InputError, OptionError
from .identifiers import IDENTIFIERS, MATCHBACK_ID


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


def resolve_mapping(
    frame_columns: Iterable[Hashable],
    columns: Mapping[Hashable, str | None] | None = None,
) -> ColumnMapping:
    """Decide which frame columns are sent, and as which identifier.

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
        No column maps to an identifier, or two map to the same one.
    """
    labels = list(frame_columns)
    overrides = _checked_overrides(labels, columns)
    chosen: dict[str, Hashable] = {}
    for label in labels:
        identifier = overrides[label] if label in overrides else auto_identifier(label)
        if identifier is None:
            continue
        if identifier in chosen:
            other = chosen[identifier]
            raise InputError(
                f"columns {other!r} and {label!r} would both be sent as {identifier!r}: keep "
                f"one, for example columns={{{label!r}: None}}"
            )
        chosen[identifier] = label
    if not chosen:
        raise InputError(
            "no column of the frame is a SmartMatch identifier: rename columns or map them "
            "with columns={'your column': 'identifier'}; the identifiers are "
            + ", ".join(IDENTIFIERS)
        )
    by_label = {label: identifier for identifier, label in chosen.items()}
    return ColumnMapping(tuple((label, by_label[label]) for label in labels if label in by_label))


def auto_identifier(label: Hashable) -> str | None:
    """The identifier a column label names by itself, if any."""
    if isinstance(label, str) and label in IDENTIFIERS:
        return label
    return None


def _checked_overrides(
    labels: list[Hashable], columns: Mapping[Hashable, str | None] | None
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
