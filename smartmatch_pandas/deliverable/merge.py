"""A deliverable merged back onto the frame it came from, by row position.

Each result row carries the ``matchback_id`` the client sent: the row's
position in the upload. The best matches' appended columns are placed on
their rows (:func:`taken_text`, shared with the batched merge of
:mod:`smartmatch_pandas.deliverable.batched`); the additional matches become a
long frame of candidates; the summary counts rows sent, matched, missing.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DeliverableError, SmartMatchWarning
from ..identifiers import MATCH_CODE, MATCHBACK_ID
from .alignment import Witness, check_alignment
from .read import Deliverable, plain_numbers
from .summary import RANK, IdentifierCoverage, MatchResult, MatchSummary

#: The dtype of every appended column: text, with ``pd.NA`` for missing.
TEXT_DTYPE: Final = pd.StringDtype("pyarrow")
_LARGE_TEXT: Final = pa.large_string()
_TEXT: Final = pa.string()


def merge_back(
    df: pd.DataFrame,
    deliverable: Deliverable,
    sent_columns: Sequence[str],
    *,
    filename: str | None = None,
    presence: Mapping[str, pa.Array] | None = None,
    witness: Witness | None = None,
    max_matches: int | None = None,
) -> MatchResult:
    """Join a deliverable back onto the frame it came from, by row position.

    Parameters
    ----------
    df
        The frame that was uploaded (only its length and labels are used to
        place the results; its columns and dtypes are kept as they are).
    deliverable
        The parsed deliverable.
    sent_columns
        The columns of the upload; the service echoes them back and they are
        not appended again.
    presence
        Per identifier sent, which input rows had a value: the summary's
        coverage is counted from it for identifiers whose echoed column was
        not read (see :func:`~smartmatch_pandas.deliverable.read.read_files`' ``skip``).
    witness
        A sent column, as uploaded: the deliverable's echo of it must agree with it.
    max_matches
        The candidates asked for per row, the best included: a row's candidates past
        them are left out, with a warning (see :func:`past_max_matches`).

    Raises
    ------
    DeliverableError
        A ``matchback_id`` that is not a row position the client sent, or rows that
        do not line up with the rows sent (see :mod:`~smartmatch_pandas.deliverable.alignment`).
    """
    n = len(df)
    positions = row_positions(deliverable.best, n, filename, deliverable.best_ids)
    known = positions >= 0
    best = deliverable.best.filter(pa.array(known)) if not known.all() else deliverable.best
    positions = positions[known]
    check_alignment(best, positions, witness, filename)
    echoed = set(sent_columns)
    appended = [c for c in best.column_names if c not in echoed]
    rank = rank_name(df.columns, shown=deliverable.additional is not None)
    names = output_names([*df.columns, rank], appended)

    if len(positions) == n and _in_order(positions):
        rows_of = positions  # every row, in upload order: the columns are taken as they are
    else:
        rows_of = np.full(n, -1, dtype=np.int64)
        rows_of[positions] = np.arange(len(positions))
    frame = _with_appended(df, best, appended, names, rows_of)

    additional, additional_rows = _additional(
        df, deliverable, best, appended, names, filename, rank, max_matches
    )
    missing = int((rows_of < 0).sum())
    check_missing(n, missing, filename)
    unknown = int((~known).sum())
    warn_gaps(list(df.index[np.flatnonzero(rows_of < 0)[:5]]), n, missing, unknown, filename)
    matched = matched_rows(best)
    summary = MatchSummary(
        rows=n,
        matched=count_true(matched),
        report=deliverable.report,
        missing=missing,
        unknown=unknown,
        coverage=_coverage(best, matched, sent_columns, presence or {}, positions),
    )
    renamed = {new: old for new, old in zip(names, appended, strict=True) if new != old}
    return MatchResult(
        frame,
        additional,
        summary,
        deliverable.files,
        filename,
        additional_rows,
        renamed=renamed,
        rank=rank,
    )


def row_positions(
    table: pa.Table, n: int, filename: str | None, plain: np.ndarray | None = None
) -> np.ndarray:
    """The row position each result row belongs to; -1 where it is not a row that was sent.

    ``plain`` is the table's ids as :func:`~smartmatch_pandas.deliverable.read.plain_numbers`
    read them, if known already.
    """
    if plain is None:
        plain = plain_numbers(table[MATCHBACK_ID])
    if plain is not None:  # as the client sent them: no need to trim or check each
        out = plain.copy()
        out[out >= n] = -1
        return out
    ids = pc.utf8_trim_whitespace(table[MATCHBACK_ID])
    # Digits only: Arrow's cast would also read "0x1" or "+1" and place a row by guess.
    digits = pc.match_substring_regex(ids, r"^[0-9]{1,18}$")
    if not pc.all(pc.or_kleene(digits, pc.is_null(ids)), min_count=0).as_py():
        bad = ids.filter(pc.invert(pc.fill_null(digits, True)))[0].as_py()
        raise DeliverableError(
            f"the deliverable has a {MATCHBACK_ID} that the client never sent ({bad!r}); "
            "it cannot be merged back",
            filename=filename,
        )
    values = pc.cast(ids, pa.int64())
    out = values.to_numpy(zero_copy_only=False)
    if values.null_count:
        out = np.where(pc.is_null(values).to_numpy(zero_copy_only=False), -1, out)
    out = np.array(out, dtype=np.int64)  # a writable copy
    out[(out < 0) | (out >= n)] = -1
    return out


def output_names(existing: Iterable[Hashable], appended: list[str]) -> list[str]:
    """Names for the appended columns that do not collide with the frame's own
    (``existing``): ``name_2``, ``name_3``... with a warning."""
    taken = set(existing)
    names = []
    for name in appended:
        new = _unique(name, taken)
        taken.add(new)
        names.append(new)
    return names


def rank_name(existing: Iterable[Hashable], *, shown: bool = True) -> str:
    """The name of the candidates' rank column: ``match_rank``, or ``match_rank_2``...
    when the frame has one already (an earlier result matched again), with a warning
    if it is ``shown``."""
    return _unique(RANK, set(existing), warn=shown)


def _unique(name: str, taken: set[Hashable], *, warn: bool = True) -> str:
    new, k = name, 2
    while new in taken:
        new, k = f"{name}_{k}", k + 1
    if new != name and warn:
        warnings.warn(
            f"the frame already has a column {name!r}: the appended one is named {new!r}",
            SmartMatchWarning,
            stacklevel=5,
        )
    return new


def _in_order(positions: np.ndarray) -> bool:
    """Whether ``positions`` is 0, 1, 2, ... (a deliverable in upload order)."""
    return bool(np.array_equal(positions, np.arange(len(positions))))


def uploaded_frame(deliverable: Deliverable, sent: list[str], rows: int) -> pd.DataFrame:
    """The uploaded columns, read back from the deliverable, one row per uploaded row.

    What a job resumed without its frame is merged onto: the index is the
    row's position in the upload, the columns are the identifiers of ``sent``
    the deliverable echoes.

    Raises
    ------
    DeliverableError
        The ``matchback_id`` column holds no row numbers.
    """
    best = deliverable.best
    ids = pd.to_numeric(pd.Series(best[MATCHBACK_ID].to_pylist(), dtype=object), errors="coerce")
    ids = ids.astype("float64")
    # Row numbers only: inf, 1e400 or 1.5 place no row (they would overflow, or truncate).
    ids = ids.where(np.isfinite(ids) & (ids == np.floor(ids)))
    if ids.isna().all() and len(ids):
        raise DeliverableError(
            f"the deliverable's {MATCHBACK_ID} column holds no row numbers; it cannot be "
            "placed back in upload order"
        )
    n = max(rows, min(len(best), int(min(ids.max(), len(best))) + 1)) if len(ids) else rows
    valid = (ids.notna() & (ids >= 0) & (ids < n)).to_numpy()
    take = np.full(n, -1, dtype=np.int64)
    take[ids[valid].astype(np.int64).to_numpy()] = np.flatnonzero(valid)
    identifiers = [c for c in sent if c != MATCHBACK_ID and c in best.column_names]
    return _appended_frame(best, identifiers, identifiers, take, pd.RangeIndex(n))


def _appended_frame(
    table: pa.Table, appended: list[str], names: list[str], take: np.ndarray, index: pd.Index
) -> pd.DataFrame:
    """The appended columns (see :func:`taken_text`) as a frame on ``index``."""
    columns = {
        name: pd.Series(pd.arrays.ArrowStringArray(values), index=index, copy=False)
        for values, name in zip(taken_text(table, appended, take), names, strict=True)
    }
    return pd.DataFrame(columns, index=index, copy=False)


def taken_text(
    table: pa.Table | None, columns: list[str], take: np.ndarray
) -> list[pa.ChunkedArray]:
    """``columns`` as ``large_string`` (the type pandas keeps text in), row ``i`` taken
    from ``table`` row ``take[i]`` (-1, no table, or a column it lacks: empty).

    When ``take`` is every row of ``table`` in order, the columns are used as they
    are, without a copy.
    """
    if table is None:
        return [pa.chunked_array([pa.nulls(len(take), _LARGE_TEXT)]) for _ in columns]
    whole = len(take) == table.num_rows and _in_order(take)
    indices = None if whole else pa.array(take, mask=take < 0)
    out = []
    for name in columns:
        values = table[name] if name in table.column_names else pa.nulls(table.num_rows, _TEXT)
        values = values if whole else values.take(indices)
        if isinstance(values, pa.Array):
            values = pa.chunked_array([values])
        out.append(values if values.type == _LARGE_TEXT else values.cast(_LARGE_TEXT))
    return out


def _with_appended(
    df: pd.DataFrame,
    best: pa.Table,
    appended: list[str],
    names: list[str],
    rows_of: np.ndarray,
) -> pd.DataFrame:
    extra = _appended_frame(best, appended, names, rows_of, df.index)
    if not len(extra.columns):
        return df.copy()
    # A copy of the user's columns under pandas 2 (no Copy-on-Write): the result must
    # not share memory with the frame it was merged onto.
    merged = pd.concat([df, extra], axis=1)
    # concat keeps neither the columns' name nor the frame's own attrs.
    merged.columns.name = df.columns.name
    merged.attrs = copy.deepcopy(df.attrs)
    return merged


def _additional(
    df: pd.DataFrame,
    deliverable: Deliverable,
    best: pa.Table,
    appended: list[str],
    names: list[str],
    filename: str | None,
    rank: str = RANK,
    max_matches: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The additional candidates as a long frame (input columns, rank, appended columns),
    and the input row position of each."""
    table = deliverable.additional
    if table is not None:
        table = without_repeated_best(table, best)
        positions = row_positions(table, len(df), filename)
        keep = positions >= 0
        table, positions = table.filter(pa.array(keep)), positions[keep]
    if table is None or table.num_rows == 0:
        positions = np.zeros(0, dtype=np.int64)
        table = pa.table({c: pa.array([], pa.string()) for c in appended})
    order = np.argsort(positions, kind="stable")
    positions = positions[order]
    ranks = candidate_ranks(positions)
    if max_matches is not None:  # the service's first of each row, as many as were asked
        past, surplus, rows = past_max_matches(positions, ranks, max_matches)
        warn_surplus(surplus, rows, max_matches, filename)
        order, positions, ranks = order[~past], positions[~past], ranks[~past]
    source = df.iloc[positions]
    missing = [c for c in appended if c not in table.column_names]
    for column in missing:
        table = table.append_column(column, pa.nulls(table.num_rows, pa.string()))
    extra = _appended_frame(table, appended, names, order, source.index)
    extra.insert(0, rank, ranks)
    return pd.concat([source, extra], axis=1), positions


def without_repeated_best(additional: pa.Table, best: pa.Table) -> pa.Table:
    """The rows of the additional file but those that repeat a row's best match (same
    voterbase id)."""
    key = "vb.voterbase_id"
    if key not in additional.column_names or key not in best.column_names:
        return additional
    best_pairs = set(zip(best[MATCHBACK_ID].to_pylist(), best[key].to_pylist(), strict=True))
    repeated = [
        (mid, vid) in best_pairs
        for mid, vid in zip(
            additional[MATCHBACK_ID].to_pylist(), additional[key].to_pylist(), strict=True
        )
    ]
    return (
        additional.filter(pc.invert(pa.array(repeated, pa.bool_())))
        if any(repeated)
        else additional
    )


def candidate_ranks(sorted_positions: np.ndarray) -> np.ndarray:
    """2, 3, ... within each run of equal positions (the best is rank 1)."""
    if not len(sorted_positions):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, sorted_positions[1:] != sorted_positions[:-1]]
    run_start = np.maximum.accumulate(np.where(starts, np.arange(len(starts)), 0))
    return np.arange(len(starts)) - run_start + 2


def past_max_matches(
    positions: np.ndarray, ranks: np.ndarray, max_matches: int
) -> tuple[np.ndarray, int, int]:
    """Which additional candidates (each on its input row ``positions``, with its rank) go
    past ``max_matches``; and how many they are, on how many rows."""
    past = ranks > max_matches
    if not past.any():
        return past, 0, 0
    return past, int(past.sum()), len(np.unique(positions[past]))


def warn_surplus(surplus: int, rows: int, max_matches: int, filename: str | None) -> None:
    """Warn of the ``surplus`` candidates of ``rows`` rows left out, past ``max_matches``."""
    if not surplus:
        return
    job = f" (job {filename!r})" if filename else ""
    warnings.warn(
        f"the deliverable{job} gives {rows:,} rows more than max_matches={max_matches} "
        f"candidates: the {surplus:,} past the first {max_matches} of their row were left out",
        SmartMatchWarning,
        stacklevel=4,
    )


def count_true(flags: pa.ChunkedArray | pa.Array) -> int:
    """How many of ``flags`` are true."""
    return int(pc.sum(flags).as_py() or 0)


def coverage_counts(
    has: pa.ChunkedArray | pa.Array, matched: pa.ChunkedArray | pa.Array
) -> tuple[int, int]:
    """Rows with a value (``has``), and matched rows among them."""
    return count_true(has), count_true(pc.and_(has, matched))


def matched_rows(best: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Per row: whether its best match is a match (code ``Y``, or a voterbase id)."""
    if MATCH_CODE in best.column_names:
        codes = best[MATCH_CODE]
        if not pc.all(pc.is_in(codes, value_set=pa.array(["Y", "N"]))).as_py():
            codes = pc.utf8_upper(pc.utf8_trim_whitespace(codes))  # written otherwise
        return pc.fill_null(pc.equal(codes, "Y"), False)
    if "vb.voterbase_id" in best.column_names:
        return pc.is_valid(best["vb.voterbase_id"])
    return pa.array(np.zeros(best.num_rows, bool))


def _has_value(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row: not null, not empty, not whitespace alone."""
    blank = pc.or_(pc.equal(pc.utf8_length(values), 0), pc.utf8_is_space(values))
    return pc.fill_null(pc.invert(blank), False)


def _coverage(
    best: pa.Table,
    matched: pa.ChunkedArray | pa.Array,
    sent_columns: Sequence[str],
    presence: Mapping[str, pa.Array],
    positions: np.ndarray,
) -> tuple[IdentifierCoverage, ...]:
    """Rows with a value, and matched rows among them (``matched``: per row of ``best``),
    per identifier sent: read from the column the deliverable echoes, or else from
    ``presence`` at each row's position."""
    coverage = []
    for identifier in sent_columns:
        if identifier in best.column_names and identifier != MATCHBACK_ID:
            has = _has_value(best[identifier])
        elif identifier in presence:
            has = presence[identifier].take(pa.array(positions))
        else:
            continue
        coverage.append(IdentifierCoverage(identifier, *coverage_counts(has, matched)))
    return tuple(coverage)


#: Rows that may be missing from a deliverable, with a warning, however short the list.
MISSING_ROWS_WARNED: Final = 10
#: Beyond those, the share of the rows sent that may be missing before it is refused.
MISSING_SHARE_WARNED: Final = 0.1


def check_missing(rows: int, missing: int, filename: str | None) -> None:
    """Refuse a deliverable missing most of the ``rows`` sent: the service returns every
    row sent, matched or not, so one without any, or without more than
    :data:`MISSING_SHARE_WARNED` of them (and more than :data:`MISSING_ROWS_WARNED`), is
    broken, not a result (and is not cached). A few rows missing are warned of."""
    many = missing > MISSING_ROWS_WARNED and missing > rows * MISSING_SHARE_WARNED
    if not rows or not (missing == rows or many):
        return
    raise DeliverableError(
        f"the deliverable is missing {missing:,} of the {rows:,} rows sent, where the "
        "service returns every row sent, matched or not: it is broken, not merged (report "
        "it to the service if it persists)",
        filename=filename,
    )


def warn_gaps(
    labels: Sequence[Hashable], rows: int, missing: int, unknown: int, filename: str | None
) -> None:
    """Warn of rows missing from the deliverable (``labels``: the first few) and of rows
    it has that were never sent."""
    job = f" (job {filename!r})" if filename else ""
    if missing:
        warnings.warn(
            f"{missing:,} of {rows:,} rows are missing from the deliverable{job}: their "
            f"appended columns are empty (first rows: {labels})",
            SmartMatchWarning,
            stacklevel=3,
        )
    if unknown:
        warnings.warn(
            f"{unknown:,} rows of the deliverable{job} carry a {MATCHBACK_ID} that was never "
            "sent: they were left out",
            SmartMatchWarning,
            stacklevel=3,
        )
