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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from ..identifiers import MATCH_CODE
from .summary import IdentifierCoverage, MatchSummary
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


@dataclass(frozen=True)
class Exploration:
    """The exploration view of a matched list.

    Shown as HTML with inline SVG charts in a notebook, as text in a terminal
    (``print(exploration)``); every chart is one of :attr:`tables`.

    Attributes
    ----------
    rows
        Rows of the list.
    matched
        Rows whose best match has ``tsmart_match_code`` ``Y``.
    tables
        The tables, by name (each a DataFrame; a panel without its data has none):

        ``overall``
            ``rows``, ``matched``, ``match_rate`` (one row).
        ``by_identifier``
            Per identifier sent: ``rows_with_value``, ``share_of_rows``,
            ``match_rate_with``, ``match_rate_without``.
        ``by_state``
            Per state sent (normalised; ``(none)``): ``rows``, ``matched``,
            ``match_rate``, largest first.
        ``party``, ``registration``, ``gender``
            Among matched rows, per value (``(none)`` when empty): ``rows``, ``share``.
        ``age``
            Among matched rows, per age band: one column of rows per gender
            (``F``, ``M``, then ``other``: any other or none); no age: not counted.
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
    """

    rows: int
    matched: int
    tables: Mapping[str, pd.DataFrame]
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def match_rate(self) -> float:
        """``matched / rows`` (0.0 for no rows)."""
        return self.matched / self.rows if self.rows else 0.0

    def _repr_html_(self) -> str:
        from .exploration_view import exploration_html

        return exploration_html(self)

    def __str__(self) -> str:
        from .exploration_view import exploration_text

        return exploration_text(self)

    __repr__ = __str__


def explore(
    frame: pd.DataFrame,
    summary: MatchSummary | None = None,
    sent: pd.DataFrame | None = None,
) -> Exploration:
    """Explore a matched frame.

    Parameters
    ----------
    frame
        The result: the input rows with ``tsmart_match_code`` and the appended
        voter fields (as text, or typed).
    summary
        The job's summary, for the match rate per identifier present; without
        it, the one in ``frame.attrs["smartmatch"]`` if any.
    sent
        Per row of ``frame`` (same length, same order), what was sent: its
        ``state`` (normalised) and ``standing``
        (:func:`smartmatch_pandas.preparation.standing.sent_profile`).
        Without it, the panels per state and for unmatched rows are skipped.

    Returns
    -------
    Exploration
        Its tables, and the panels skipped with why.
    """
    if summary is None:
        summary = summary_from_attrs(frame)
    matched = matched_mask(frame)
    tables: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    rows, hits = len(frame), int(matched.sum())
    tables["overall"] = pd.DataFrame(
        {"rows": [rows], "matched": [hits], "match_rate": [hits / rows if rows else 0.0]}
    )
    if summary is not None and summary.coverage:
        tables["by_identifier"] = summary.by_identifier
    else:
        skipped["by_identifier"] = "the job's summary of identifiers sent is not known"
    if sent is not None and len(sent) != rows:
        sent = None  # not this frame's rows: nothing is said of them rather than a guess
    unknown = "what each row was sent with is not known"
    if sent is None:
        skipped["by_state"] = skipped["unmatched"] = unknown
    else:
        if sent["state"].notna().any():
            tables["by_state"] = match_rates(sent["state"], matched)
        else:
            skipped["by_state"] = "no state was sent"
        tables["unmatched"] = _unmatched(sent["standing"], matched)
    _voter_panels(frame, matched, tables, skipped)
    return Exploration(rows, hits, tables, skipped)


def match_rates(groups: pd.Series, matched: np.ndarray) -> pd.DataFrame:
    """Rows, matched rows and match rate per group (``(none)`` for missing), largest first."""
    names = pd.Series(groups.to_numpy(), dtype="string").fillna(NONE)
    frame = pd.DataFrame({"group": names.to_numpy(object), "matched": np.asarray(matched, bool)})
    grouped = frame.groupby("group", sort=True)["matched"].agg(["size", "sum", "mean"])
    grouped.columns = pd.Index(["rows", "matched", "match_rate"])
    grouped.index.name = groups.name if isinstance(groups.name, str) else "group"
    grouped["matched"] = grouped["matched"].astype(np.int64)
    return grouped.sort_values(["rows", "match_rate"], ascending=False)


def matched_mask(frame: pd.DataFrame) -> np.ndarray:
    """Per row: whether its best match has ``tsmart_match_code`` ``Y`` (text or categorical)."""
    if MATCH_CODE not in frame.columns:
        return np.zeros(len(frame), bool)
    codes = frame[MATCH_CODE].astype("string[pyarrow]")
    if not codes.isin(["Y", "N"]).all():  # written otherwise (as merge_back reads it)
        codes = codes.str.strip().str.upper()
    return (codes == "Y").fillna(False).to_numpy(bool)


def summary_from_attrs(frame: pd.DataFrame) -> MatchSummary | None:
    """The summary that ``match()`` put in ``frame.attrs["smartmatch"]``, if any."""
    attrs = frame.attrs.get("smartmatch")
    if not isinstance(attrs, Mapping):
        return None
    try:
        coverage = tuple(
            IdentifierCoverage(str(k), int(v["rows_with_value"]), int(v["matched"]))
            for k, v in dict(attrs.get("by_identifier") or {}).items()
        )
        return MatchSummary(int(attrs["rows"]), int(attrs["matched"]), coverage=coverage)
    except (KeyError, TypeError, ValueError):
        return None  # attrs of another shape (edited, or from another version): not used


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
    tables: dict[str, pd.DataFrame],
    skipped: dict[str, str],
) -> None:
    """The panels of appended voter fields, among matched rows; skipped when a field is absent."""
    for panel, column in FIELDS.items():
        if column not in frame.columns:
            skipped[panel] = f"the service did not append {column}"
    among = _typed(frame[[c for c in FIELDS.values() if c in frame.columns]].loc[matched])
    for panel in ("party", "registration", "gender"):
        if panel not in skipped:
            tables[panel] = _mix(among[FIELDS[panel]])
    if "age" not in skipped:
        genders = among[FIELDS["gender"]] if "gender" not in skipped else None
        tables["age"] = _pyramid(_numbers(among[FIELDS["age"]]), genders)
    if "partisan_score" not in skipped:
        tables["partisan_score"] = _histogram(_numbers(among[FIELDS["partisan_score"]]))


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


def _typed(fields: pd.DataFrame) -> pd.DataFrame:
    """The fields still held as text typed by the data dictionary (``typed=True``'s own
    rules); fields typed already are kept as they are."""
    text = [
        c
        for c in fields.columns
        if not isinstance(fields[c].dtype, pd.CategoricalDtype)
        and (fields[c].dtype == object or pd.api.types.is_string_dtype(fields[c].dtype))
    ]
    return type_columns(fields, text)[0] if text else fields


def _numbers(values: pd.Series) -> pd.Series:
    """A typed numeric field as floats (NaN where missing)."""
    return pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=values.index)
