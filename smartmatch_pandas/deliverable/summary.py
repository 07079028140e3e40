"""What a finished job gives back: the match summary and the result merged onto the frame."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from .voter_fields import type_columns

if TYPE_CHECKING:
    from .exploration import Exploration

#: The column of ``MatchResult.candidates`` that ranks a row's candidates (1 = best).
RANK: Final = "match_rank"


def percent(share: float) -> str:
    """A share as people read it: ``42.5%``, and never rounded to all or none that is not:
    3,999 of 4,000 is ``>99.9%``, 1 of 4,000 ``<0.1%``; only all is ``100.0%`` and none
    ``0.0%`` (``n/a`` for a share of nothing). The one place a share is written."""
    if math.isnan(share):
        return "n/a"
    shown = f"{share:.1%}"
    if shown == "100.0%" and share < 1:
        return ">99.9%"
    if shown == "0.0%" and share > 0:
        return "<0.1%"
    return shown


@dataclass(frozen=True)
class IdentifierCoverage:
    """How many rows were sent with a value for one identifier, and how many of them matched."""

    identifier: str
    rows: int
    matched: int


@dataclass(frozen=True)
class MatchSummary:
    """How many rows were sent and how many matched.

    Attributes
    ----------
    rows
        Rows sent.
    matched
        Rows whose best match has ``tsmart_match_code`` ``Y``.
    report
        The service's own summary report, as text, if it sent one.
    missing
        Rows sent that the deliverable did not return.
    unknown
        Rows in the deliverable whose ``matchback_id`` was never sent.
    coverage
        Per identifier sent: the rows that had a value for it, and how many
        of those matched (read from the columns the deliverable echoes).
    typed
        Whether the appended voter fields were typed (``typed=True``).
    misfits
        With ``typed``: per appended column, the values of the best matches that
        did not fit its type and became missing (columns with none are left out).
    """

    rows: int
    matched: int
    report: str | None = None
    missing: int = 0
    unknown: int = 0
    coverage: tuple[IdentifierCoverage, ...] = ()
    typed: bool = False
    misfits: Mapping[str, int] = field(default_factory=dict)

    @property
    def match_rate(self) -> float:
        """``matched / rows`` (0.0 for no rows)."""
        return self.matched / self.rows if self.rows else 0.0

    def as_attrs(self) -> dict[str, object]:
        """The summary as plain JSON values, fit for ``DataFrame.attrs``.

        pandas writes ``attrs`` into Parquet files as JSON, so nothing else may go there.
        """
        attrs: dict[str, object] = {
            "rows": self.rows,
            "matched": self.matched,
            "match_rate": round(self.match_rate, 6),
            "missing": self.missing,
            "unknown": self.unknown,
            "report": self.report,
            "by_identifier": {
                c.identifier: {"rows_with_value": c.rows, "matched": c.matched}
                for c in self.coverage
            },
        }
        if self.typed:  # only then: an untyped result's attrs stay as they always were
            attrs["typed"] = {"misfits": dict(self.misfits)}
        return attrs

    def __str__(self) -> str:
        rate = percent(self.match_rate)
        return f"SmartMatch: {self.rows:,} rows sent, {self.matched:,} matched ({rate})"

    @property
    def by_identifier(self) -> pd.DataFrame:
        """Per identifier sent: the share of rows that had it, and the match rate with and
        without it, so a low match rate can be traced to the identifiers rows lacked."""
        frame = pd.DataFrame(
            {
                "rows_with_value": [c.rows for c in self.coverage],
                "share_of_rows": [c.rows / self.rows if self.rows else 0.0 for c in self.coverage],
                "match_rate_with": [
                    c.matched / c.rows if c.rows else np.nan for c in self.coverage
                ],
                "match_rate_without": [
                    (self.matched - c.matched) / (self.rows - c.rows)
                    if self.rows > c.rows
                    else np.nan
                    for c in self.coverage
                ],
            },
            index=pd.Index([c.identifier for c in self.coverage], name="identifier"),
        )
        return frame

    def describe(self) -> str:
        """The one-line summary, then one line per identifier sent."""
        lines = [str(self)]
        for name, row in self.by_identifier.iterrows():
            without = row["match_rate_without"]
            lines.append(
                f"  {name!s:<20} in {percent(row['share_of_rows']):>6} of rows; matched "
                f"{percent(row['match_rate_with'])} of those"
                + ("" if pd.isna(without) else f", {percent(without)} of the rest")
            )
        if self.misfits:
            lines.append(self.describe_misfits())
        return "\n".join(lines)

    def describe_misfits(self) -> str:
        """One line: the typed values that did not fit their type, per column ("" if none)."""
        if not self.misfits:
            return ""
        total = sum(self.misfits.values())
        each = ", ".join(f"{name} {count:,}" for name, count in self.misfits.items())
        return (
            f"  typed: {total:,} value{'s' if total != 1 else ''} did not fit their type "
            f"and are missing ({each})"
        )


@dataclass
class MatchResult:
    """Everything a finished job returned, merged back onto the frame.

    Attributes
    ----------
    frame
        The input rows, order, index and dtypes, then the appended columns.
    additional
        The additional candidates (rank 2 and up) as a long frame indexed by
        the input row's label: the input columns, ``match_rank``, the
        appended columns.
    summary
        Rows sent, rows matched, the match rate, and the service's report.
    files
        The deliverable's raw files, by their names in its archive: untrusted
        text, which may hold ``../`` or control characters. Save a file under
        :func:`~smartmatch_pandas.deliverable.safe_name` of its name, never under
        the name itself.
    filename
        The SmartMatch job's filename.
    renamed
        The appended columns renamed to keep clear of the frame's own columns
        (``vb.vf_party_2``), each with the field it holds (``vb.vf_party``).

    The frame's ``.attrs["smartmatch"]`` is set when the result is made, the same
    whichever way it was (``match()``, ``resume()``, ``job.result()``): see :attr:`attrs`.
    """

    frame: pd.DataFrame
    additional: pd.DataFrame
    summary: MatchSummary
    files: Mapping[str, bytes] = field(repr=False)
    filename: str | None = None
    #: The input row position of each row of ``additional``.
    additional_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    #: Whether the deliverable came from the result cache rather than the service.
    from_cache: bool = False
    #: Per input row, what was sent: its ``state`` as normalised and its ``standing``
    #: (see :func:`smartmatch_pandas.preparation.standing.sent_profile`), computed when
    #: first asked by the layer that knows the column mapping; None when not known.
    sent_rows: Callable[[], pd.DataFrame] | None = field(default=None, repr=False)
    #: The appended columns renamed to keep clear of the frame's own (``vb.vf_party_2``),
    #: each with the field it holds (``vb.vf_party``).
    renamed: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Set here, where every result's frame is made (match, resume, job.result, typed),
        # so that every path gives the same attrs.
        self.frame.attrs = {**self.frame.attrs, "smartmatch": self.attrs}

    @property
    def attrs(self) -> dict[str, object]:
        """What the frame's ``.attrs["smartmatch"]`` holds: the job's ``filename``, the
        summary (:meth:`MatchSummary.as_attrs`) and, when an appended column was renamed,
        ``renamed`` (column to the field it holds); ``rank`` when the rank column is not
        ``match_rank``."""
        attrs = result_attrs(self.filename, self.summary, self.renamed)
        if self.rank != RANK:  # the frame had a match_rank of its own
            attrs["rank"] = self.rank
        return attrs

    @property
    def fields(self) -> dict[str, str]:
        """Each appended column, by the field it holds (its own name unless renamed)."""
        by_column = {column: self.renamed.get(column, column) for column in self.appended_columns}
        return {name: column for column, name in by_column.items()}

    #: The name of the rank column in ``additional`` and ``candidates``: ``match_rank``, or
    #: ``match_rank_2``... when the frame has a column of that name already.
    rank: str = RANK

    @cached_property
    def candidates(self) -> pd.DataFrame:
        """Every candidate, best first: one row per (input row, candidate), with ``match_rank``.

        Rows without any match appear once, with rank 1 and empty appended columns.
        """
        best = self.frame.copy()
        best.insert(list(self.additional.columns).index(self.rank), self.rank, 1)
        both = pd.concat([best, self.additional], axis=0)
        rows = np.concatenate([np.arange(len(self.frame)), self.additional_rows])
        ranks = np.concatenate([np.ones(len(self.frame), np.int64), self.additional[self.rank]])
        out = both.iloc[np.lexsort((ranks, rows))]
        out.attrs = {**self.frame.attrs, "smartmatch": self.attrs}
        return out

    def explore(self) -> Exploration:
        """The exploration view: who matched, who they are, and why the others did not.

        Shown as HTML with inline SVG charts in a notebook, as text with
        ``print()``; each chart's figures are a DataFrame in ``.tables``.

        Returns
        -------
        Exploration
            The match rate overall, per identifier present and per state; among
            matched rows, the mix of party, registration status and gender, an
            age pyramid and the partisan score's distribution; the unmatched
            rows by what they were sent with. A panel whose field the service did
            not append is skipped, and ``.skipped`` says so.

        Examples
        --------
        >>> exploration = result.explore()            # doctest: +SKIP
        >>> exploration.tables["party"]               # doctest: +SKIP
        """
        from .exploration import explore

        sent = self.sent_rows() if self.sent_rows is not None else None
        return explore(self.frame, self.summary, sent, fields=self.fields)

    @property
    def appended_columns(self) -> list[str]:
        """The columns the deliverable appended (``tsmart_match_code``, ``vb.*``...), in order."""
        columns = list(self.additional.columns)
        rank = self.rank
        return [str(c) for c in columns[columns.index(rank) + 1 :]] if rank in columns else []

    def typed(self) -> MatchResult:
        """This result with its appended voter fields typed by the data dictionary.

        Ages and counts become nullable integers, scores, latitudes and longitudes
        nullable floats, dates ``datetime64[ms]``, few-valued fields (party, gender,
        registration status, match code) categoricals; ids, names and the like stay
        text (see :mod:`smartmatch_pandas.deliverable.voter_fields`). A value that does
        not fit becomes missing; the best matches' misfits are counted in
        ``summary.misfits``. The input's own columns are left as they are.

        Examples
        --------
        >>> result.typed().frame["vb.voterbase_age"].mean()  # doctest: +SKIP
        47.3
        """
        if self.summary.typed:
            return self
        appended = self.appended_columns
        # A renamed column (vb.vf_party_2) is typed by the field it holds.
        fields = {column: self.renamed.get(column, column) for column in appended}
        frame, misfits = type_columns(self.frame, fields)
        additional, _ = type_columns(self.additional, fields)
        frame, additional = _shared_categories(frame, additional, appended)
        summary = dataclasses.replace(
            self.summary, typed=True, misfits={k: n for k, n in misfits.items() if n}
        )
        return dataclasses.replace(self, frame=frame, additional=additional, summary=summary)

    def __repr__(self) -> str:
        return f"MatchResult({self.summary}, filename={self.filename!r})"


def result_attrs(
    filename: str | None, summary: MatchSummary, renamed: Mapping[str, str]
) -> dict[str, object]:
    """What a result frame's ``.attrs["smartmatch"]`` holds, however it was merged: the
    job's ``filename``, the summary, and ``renamed`` (column to the field it holds) when an
    appended column was renamed."""
    attrs: dict[str, object] = {"filename": filename, **summary.as_attrs()}
    if renamed:  # only then: a result's attrs stay as they always were
        attrs["renamed"] = dict(renamed)
    return attrs


def _shared_categories(
    frame: pd.DataFrame, additional: pd.DataFrame, appended: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames with one set of categories per categorical appended column, so that
    the candidates (the two, concatenated) keep the categorical dtype."""
    for name in appended:
        if not isinstance(frame[name].dtype, pd.CategoricalDtype):
            continue
        categories = frame[name].cat.categories.union(additional[name].cat.categories)
        frame[name] = frame[name].cat.set_categories(categories)
        additional[name] = additional[name].cat.set_categories(categories)
    return frame, additional
