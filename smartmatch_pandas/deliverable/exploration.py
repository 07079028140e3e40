"""The exploration of a matched list: who matched, who they are, and why the others did not.

:func:`explore` turns a result frame (its match codes and the voter fields the
service appended, as text or typed) into the tables of an :class:`Exploration`:
the match rate overall, per identifier present and per state; among matched
rows the mix of party, registration status and gender, an age pyramid and the
partisan score's distribution; among unmatched rows what they lacked. Voter
fields still held as text are typed as ``typed=True`` types them
(:mod:`smartmatch_pandas.deliverable.voter_fields`). The drawing (HTML with inline SVG, and text) is
:mod:`smartmatch_pandas.deliverable.exploration_view`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from ..identifiers import MATCH_CODE, PRESENT
from ..private_files import write_private
from .summary import RANK, IdentifierCoverage, MatchSummary
from .voter_fields import type_columns

#: The appended voter fields each panel reads.
FIELDS: Final = {
    "party": "vb.vf_party",
    "registration": "vb.voterbase_registration_status",
    "gender": "vb.voterbase_gender",
    "age": "vb.voterbase_age",
    "partisan_score": "vb.tsmart_partisan_score",
}
#: Lower bounds of the age pyramid's bands (the last is open-ended).
AGE_BANDS: Final = (18, 25, 35, 45, 55, 65, 75, 85)
#: The partisan score's histogram: ten bins of ten points (0 = most Republican).
SCORE_BINS: Final = tuple(range(0, 101, 10))
#: Label of a missing value in the mixes and per state.
NONE: Final = "(none)"
#: The genders shown side by side in the age pyramid; others are counted apart.
PYRAMID_SIDES: Final = ("F", "M")
#: Label of a state sent that could not be read (Ontario, ZZ), apart from ``(none)``.
UNREADABLE: Final = "(unreadable)"
#: The voter file's state, which counts the matched rows of a list sent with no state.
VOTER_STATE: Final = "vb.tsmart_state"
#: Label of the unmatched rows when the rows are counted by the voter file's state.
NOT_MATCHED: Final = "(not matched)"
#: The columns of each panel's table (a skipped panel's table is empty, with these).
COLUMNS: Final = {
    "overall": ("rows", "matched", "match_rate"),
    "by_identifier": ("rows_with_value", "share_of_rows", "match_rate_with", "match_rate_without"),
    "by_state": ("rows", "matched", "match_rate"),
    "party": ("rows", "share"),
    "registration": ("rows", "share", "share_of_list"),
    "gender": ("rows", "share"),
    "age": (*PYRAMID_SIDES, "other"),
    "partisan_score": ("rows", "share"),
    "unmatched": ("rows", "unmatched", "share_of_unmatched"),
}


@dataclass(frozen=True)
class Exploration:
    """The exploration view of a matched list.

    Shown as HTML with inline SVG charts in a notebook, as text in a terminal
    (``print(exploration)``); every chart is one of :attr:`tables`.

    Attributes
    ----------
    rows
        Rows explored: those of the frame (of a filtered frame, the rows kept; of
        every candidate, ``all_matches``, one per row: its best match).
    matched
        Rows whose best match has ``tsmart_match_code`` ``Y``.
    tables
        The tables, by name, each counted from the rows explored (a panel
        skipped has its table, empty, with the same columns):

        ``overall``
            ``rows``, ``matched``, ``match_rate`` (one row).
        ``by_identifier``
            Per identifier sent: ``rows_with_value``, ``share_of_rows``,
            ``match_rate_with``, ``match_rate_without``.
        ``by_state``
            Per state sent (normalised; ``(none)`` when none was sent,
            ``(unreadable)`` when it could not be read): ``rows``, ``matched``,
            ``match_rate``, largest first. With no state sent, per state of the
            voter file (``vb.tsmart_state``) of the matched rows, if appended.
        ``party``, ``registration``, ``gender``
            Among matched rows, per value (``(none)`` when empty): ``rows``, ``share``
            (of matched rows); ``registration`` has ``share_of_list`` too (of all rows).
        ``age``
            Among matched rows, per age band: one column of rows per gender
            (``F``, ``M``, then ``other``: any other or none); rows with no age,
            or under 18, are not counted (:attr:`notes` says how many).
        ``partisan_score``
            Among matched rows, per bin of ten points (``[0, 10)`` ... ``[90, 100]``):
            ``rows``, ``share``.
        ``unmatched``
            Per standing of the rows sent (nothing usable, names only, no name
            or locator, unreadable values, had a locator): ``rows``,
            ``unmatched``, ``share_of_unmatched``.
    skipped
        Panels left out, by name, with the reason (a field the service did not
        append, no state column sent, ...).
    notes
        What the view says of the rows it shows: matched rows a chart leaves out
        and why, the best match explored of each row, the voter file's state used.
    """

    rows: int
    matched: int
    tables: Mapping[str, pd.DataFrame]
    skipped: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def match_rate(self) -> float:
        """``matched / rows`` (0.0 for no rows)."""
        return self.matched / self.rows if self.rows else 0.0

    def _repr_html_(self) -> str:
        from .exploration_view import exploration_html

        return exploration_html(self)

    def to_html(self) -> str:
        """The exploration as a whole HTML page, standalone (no script, no file beside it).

        Examples
        --------
        >>> page = result.explore().to_html()          # doctest: +SKIP
        """
        from .exploration_view import exploration_page

        return exploration_page(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_html` to ``path``, readable by you alone (0600), atomically: it
        holds no contact, but figures of your list.

        Examples
        --------
        >>> result.explore().save("exploration.html")  # doctest: +SKIP
        """
        write_private(path, self.to_html().encode("utf-8"))

    def __str__(self) -> str:
        from .exploration_view import exploration_text

        return exploration_text(self)

    __repr__ = __str__


def explore(
    frame: pd.DataFrame,
    summary: MatchSummary | None = None,
    sent: pd.DataFrame | None = None,
    *,
    fields: Mapping[str, str] | None = None,
) -> Exploration:
    """Explore a matched frame.

    Parameters
    ----------
    frame
        The result: the input rows with ``tsmart_match_code`` and the appended
        voter fields (as text, or typed). Every candidate of an ``all_matches``
        result (with a ``match_rank`` column): the best match of each row is
        explored, and a note says so.
    summary
        The job's summary, for the match rate per identifier present, when
        ``frame`` is the job's whole result; without it, counted from ``sent``.
    sent
        Per row of ``frame`` (same length, same order), what was sent
        (:func:`smartmatch_pandas.preparation.standing.sent_profile`).
        Without it, the panels per identifier, per state (unless the voter
        file's state was appended) and for unmatched rows are skipped.
    fields
        The column holding each appended field, when it is not the field's own
        name (``{"vb.vf_party": "vb.vf_party_2"}``: a list enriched before).

    Returns
    -------
    Exploration
        Its tables, the panels skipped with why, and notes on rows left out.
    """
    notes: list[str] = []
    columns = {name: name for name in (MATCH_CODE, VOTER_STATE, *FIELDS.values())}
    columns.update(fields or {})
    if RANK in frame.columns:
        frame, sent = _best_only(frame, sent, notes)
    if sent is not None and len(sent) != len(frame):
        sent = None  # not this frame's rows: nothing is said of them rather than a guess
    matched = matched_mask(frame, columns[MATCH_CODE])
    tables: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    rows, hits = len(frame), int(matched.sum())
    tables["overall"] = pd.DataFrame(
        {"rows": [rows], "matched": [hits], "match_rate": [hits / rows if rows else 0.0]}
    )
    unknown = "what each row was sent with is not known"
    if summary is not None and summary.coverage and summary.rows == rows:
        tables["by_identifier"] = summary.by_identifier
    elif sent is not None and any(str(c).startswith(PRESENT) for c in sent.columns):
        tables["by_identifier"] = _coverage(sent, matched)
    else:
        skipped["by_identifier"] = unknown
    _state_panel(frame, sent, matched, columns[VOTER_STATE], tables, skipped, notes)
    if sent is None:
        skipped["unmatched"] = unknown
    else:
        tables["unmatched"] = _unmatched(sent["standing"], matched)
    _voter_panels(frame, matched, columns, tables, skipped, notes)
    for name in skipped:  # each table is there, empty when its panel is skipped
        tables[name] = pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS[name]})
    return Exploration(rows, hits, tables, skipped, tuple(notes))


def _best_only(
    frame: pd.DataFrame, sent: pd.DataFrame | None, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Of every candidate (``all_matches``), the best match of each row."""
    best = (pd.to_numeric(frame[RANK], errors="coerce") == 1).to_numpy(bool)
    others = len(frame) - int(best.sum())
    notes.append(
        f"Every candidate of each row was given: each row is explored by its best match "
        f"({RANK} 1); {others:,} other candidate{'s' if others != 1 else ''} left out."
    )
    if sent is not None and len(sent) == len(frame):
        sent = sent.loc[best]
    return frame.loc[best], sent


def _coverage(sent: pd.DataFrame, matched: np.ndarray) -> pd.DataFrame:
    """The match rate per identifier present, counted from the rows themselves."""
    coverage = tuple(
        IdentifierCoverage(
            str(name)[len(PRESENT) :],
            int(sent[name].to_numpy(bool).sum()),
            int((sent[name].to_numpy(bool) & matched).sum()),
        )
        for name in sent.columns
        if str(name).startswith(PRESENT)
    )
    return MatchSummary(len(sent), int(matched.sum()), coverage=coverage).by_identifier


def _state_panel(
    frame: pd.DataFrame,
    sent: pd.DataFrame | None,
    matched: np.ndarray,
    voter_state: str,
    tables: dict[str, pd.DataFrame],
    skipped: dict[str, str],
    notes: list[str],
) -> None:
    """The match rate per state sent; with none sent, the rows per the voter file's state
    (``vb.tsmart_state``) of their match, when it was appended."""
    if sent is not None:
        states = pd.Series(sent["state"].to_numpy(), dtype="string")
        if "state_unreadable" in sent.columns:  # apart from the rows sent with no state
            states = states.mask(sent["state_unreadable"].to_numpy(bool), UNREADABLE)
        if states.notna().any():
            tables["by_state"] = match_rates(states.rename("state"), matched)
            return
    if voter_state in frame.columns:
        states = _labels(frame[voter_state]).where(matched, NOT_MATCHED)
        tables["by_state"] = match_rates(states.rename(VOTER_STATE), matched)
        notes.append(
            "No state was sent: the matched rows are counted by the voter file's state "
            f"({VOTER_STATE}), the others under {NOT_MATCHED}."
        )
        return
    sent_none = "no state was sent"
    skipped["by_state"] = (
        sent_none if sent is not None else "what each row was sent with is not known"
    )


def match_rates(groups: pd.Series, matched: np.ndarray) -> pd.DataFrame:
    """Rows, matched rows and match rate per group (``(none)`` for missing), largest first."""
    names = pd.Series(groups.to_numpy(), dtype="string").fillna(NONE)
    frame = pd.DataFrame({"group": names.to_numpy(object), "matched": np.asarray(matched, bool)})
    grouped = frame.groupby("group", sort=True)["matched"].agg(["size", "sum", "mean"])
    grouped.columns = pd.Index(["rows", "matched", "match_rate"])
    grouped.index.name = groups.name if isinstance(groups.name, str) else "group"
    grouped["matched"] = grouped["matched"].astype(np.int64)
    return grouped.sort_values(["rows", "match_rate"], ascending=False)


def matched_mask(frame: pd.DataFrame, column: str = MATCH_CODE) -> np.ndarray:
    """Per row: whether its best match has ``tsmart_match_code`` ``Y`` (text or categorical),
    read from ``column``."""
    if column not in frame.columns:
        return np.zeros(len(frame), bool)
    codes = frame[column].astype("string[pyarrow]")
    if not codes.isin(["Y", "N"]).all():  # written otherwise (as merge_back reads it)
        codes = codes.str.strip().str.upper()
    return (codes == "Y").fillna(False).to_numpy(bool)


def _unmatched(standing: pd.Series, matched: np.ndarray) -> pd.DataFrame:
    # The standings kept as they are (categorical: every standing listed, with zeros too).
    frame = pd.DataFrame({"standing": standing.reset_index(drop=True), "unmatched": ~matched})
    table = frame.groupby("standing", observed=False)["unmatched"].agg(["size", "sum"])
    table.columns = pd.Index(["rows", "unmatched"])
    table = table.astype(np.int64)
    total = int(table["unmatched"].sum())
    table["share_of_unmatched"] = table["unmatched"] / total if total else 0.0
    table.index = pd.Index([str(s) for s in table.index], name="standing")
    return table


def _voter_panels(
    frame: pd.DataFrame,
    matched: np.ndarray,
    columns: Mapping[str, str],
    tables: dict[str, pd.DataFrame],
    skipped: dict[str, str],
    notes: list[str],
) -> None:
    """The panels of appended voter fields, among matched rows; skipped when a field is absent."""
    read = {panel: columns[name] for panel, name in FIELDS.items()}
    for panel, column in read.items():
        if column not in frame.columns:
            skipped[panel] = f"the service did not append {FIELDS[panel]}"
    shown = [panel for panel in FIELDS if panel not in skipped]
    given = frame[[read[p] for p in shown]].loc[matched]
    among = _typed(given, {read[p]: FIELDS[p] for p in shown})
    for panel in ("party", "registration", "gender"):
        if panel in shown:
            tables[panel] = _mix(among[read[panel]])
    if "registration" in tables:  # beside the share of matched rows, that of the whole list
        registration = tables["registration"]
        registration["share_of_list"] = registration["rows"] / len(frame) if len(frame) else 0.0
    if "age" in shown:
        genders = among[read["gender"]] if "gender" in shown else None
        ages = _numbers(among[read["age"]])
        tables["age"] = _pyramid(ages, genders)
        notes += _left_out("the age pyramid", given[read["age"]], ages, ages < 18, "under 18")
    if "partisan_score" in shown:
        scores = _numbers(among[read["partisan_score"]])
        tables["partisan_score"] = _histogram(scores)
        outside = (scores < SCORE_BINS[0]) | (scores > SCORE_BINS[-1])
        notes += _left_out(
            "the partisan score", given[read["partisan_score"]], scores, outside, "outside 0-100"
        )


def _left_out(
    chart: str, given: pd.Series, values: pd.Series, outside: pd.Series, why: str
) -> list[str]:
    """A note of the matched rows a chart leaves out, and why (none left out: no note)."""
    blank = (_labels(given) == NONE).to_numpy(bool)
    misfit = ~blank & values.isna().to_numpy(bool)
    beyond = outside.fillna(False).to_numpy(bool)
    counts = [
        (int(blank.sum()), "with no value"),
        (int(misfit.sum()), "with a value that is not a number"),
        (int(beyond.sum()), why),
    ]
    total = sum(n for n, _ in counts)
    if not total:
        return []
    reasons = ", ".join(f"{n:,} {reason}" for n, reason in counts if n)
    return [f"{total:,} of {len(given):,} matched rows are not in {chart}: {reasons}."]


def _mix(values: pd.Series) -> pd.DataFrame:
    text = _labels(values)
    counts = text.value_counts(sort=True)
    counts.index = pd.Index([str(v) for v in counts.index], name=values.name)
    table = counts.rename("rows").to_frame().astype(np.int64)
    total = int(table["rows"].sum())
    table["share"] = table["rows"] / total if total else 0.0
    return table


def _pyramid(ages: pd.Series, genders: pd.Series | None) -> pd.DataFrame:
    labels = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(AGE_BANDS)]
    labels.append(f"{AGE_BANDS[-1]}+")
    bands = pd.cut(ages, [*AGE_BANDS, np.inf], right=False, labels=labels)
    sides = (
        _labels(genders).where(lambda g: g.isin(PYRAMID_SIDES), "other")
        if genders is not None
        else pd.Series("other", index=ages.index)
    )
    table = pd.crosstab(bands, sides, dropna=True).reindex(
        index=labels, columns=[*PYRAMID_SIDES, "other"], fill_value=0
    )
    table.index.name, table.columns.name = "age", "gender"
    return table.astype(np.int64)


def _histogram(scores: pd.Series) -> pd.DataFrame:
    edges = np.array(SCORE_BINS, float)
    values = scores.dropna().to_numpy(float)
    values = values[(values >= edges[0]) & (values <= edges[-1])]
    counts, _ = np.histogram(values, bins=edges)  # the last bin holds 100 too
    labels = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(SCORE_BINS)]
    total = int(counts.sum())
    return pd.DataFrame(
        {"rows": counts.astype(np.int64), "share": counts / total if total else 0.0},
        index=pd.Index(labels, name="partisan_score"),
    )


def _labels(values: pd.Series) -> pd.Series:
    """A field's values as text labels (stripped; ``(none)`` when missing or blank)."""
    text = values.astype("string").str.strip()
    return text.mask(text == "").fillna(NONE).astype(object)


def _typed(fields: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """The fields still held as text typed by the data dictionary (``typed=True``'s own
    rules; ``names``: column to the field it holds); fields typed already are kept."""
    text = {
        c: names[c]
        for c in fields.columns
        if not isinstance(fields[c].dtype, pd.CategoricalDtype)
        and (fields[c].dtype == object or pd.api.types.is_string_dtype(fields[c].dtype))
    }
    return type_columns(fields, text)[0] if text else fields


def _numbers(values: pd.Series) -> pd.Series:
    """A typed numeric field as floats (NaN where missing)."""
    return pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=values.index)
