"""A deliverable cut into one piece per partition of a list held in partitions (a Dask frame).

The client reads the deliverable once, a range of rows at a time
(:func:`~smartmatch_pandas.deliverable.batched.slice_deliverable`), and writes each
partition's share of the appended columns to a Parquet *piece* in a private temporary folder
(:meth:`PartitionPieces.write`); the task that merges a partition reads its
piece alone (:func:`merged_partition`), wherever it runs. The folder lives as
long as the :class:`PartitionPieces` made on the client (the lazy result holds
it) and is removed with it; a copy sent to a worker process only reads it.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import tempfile
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..private_files import private_file
from .merge import TEXT_DTYPE, taken_text
from .voter_fields import type_columns


class PartitionPieces:
    """The appended columns of a deliverable, one Parquet piece per partition.

    Attributes
    ----------
    folder
        The private temporary folder (0700) holding the pieces.
    lengths
        The rows of each partition, as uploaded.
    columns
        The appended columns' names, as they appear in the result.
    attrs
        What each merged partition's ``.attrs`` holds (the job's filename and summary).
    typed_fields
        The appended columns each partition types (``typed=True``), with the voter field
        of each; empty, they stay text.
    fingerprints
        Each partition's :func:`partition_fingerprint` of its ``mapped`` columns, as
        uploaded; empty, only the lengths are checked.
    mapped
        The partition's columns that were uploaded, in the frame's order.
    """

    def __init__(
        self,
        folder: Path,
        lengths: Sequence[int],
        columns: Sequence[str],
        attrs: Mapping[str, Any] | None = None,
        typed_fields: Mapping[str, str] | None = None,
        fingerprints: Sequence[str] = (),
        mapped: Sequence[Hashable] = (),
    ) -> None:
        self.folder = folder
        self.lengths = tuple(lengths)
        self.columns = tuple(columns)
        self.attrs = dict(attrs or {})
        self.typed_fields = dict(typed_fields or {})
        self.fingerprints = tuple(fingerprints)
        self.mapped = tuple(mapped)
        self._remove: weakref.finalize[Any, Any] | None = None

    @classmethod
    def write(
        cls,
        columns: Sequence[str],
        lengths: Sequence[int],
        rows: Callable[[int, int], pa.Table],
        attrs: Mapping[str, Any] | None = None,
        where: str | None = None,
        typed_fields: Mapping[str, str] | None = None,
        fingerprints: Sequence[str] = (),
        mapped: Sequence[Hashable] = (),
    ) -> PartitionPieces:
        """Write one piece per partition of ``lengths`` rows into a new private temporary
        folder (under ``where``, else the system's temporary folder).

        Parameters
        ----------
        columns
            The appended columns' names.
        lengths
            The rows of each partition, in order.
        rows
            ``rows(start, n)``: the appended columns of rows ``[start, start + n)`` of the
            whole list, called in order (see
            :meth:`~smartmatch_pandas.deliverable.batched.SlicedDeliverable.appended_rows`).
        attrs
            What each merged partition's ``.attrs`` holds.
        typed_fields
            The appended columns to type, with their voter fields.
        fingerprints, mapped
            Each partition's fingerprint of its ``mapped`` columns as uploaded, checked
            again as it is merged.
        """
        folder = Path(tempfile.mkdtemp(prefix="smartmatch-pieces-", dir=where))  # 0700
        pieces = cls(folder, lengths, columns, attrs, typed_fields, fingerprints, mapped)
        # Removed when the pieces are garbage (the lazy result that holds them is gone),
        # or at exit.
        pieces._remove = weakref.finalize(pieces, shutil.rmtree, folder, ignore_errors=True)
        start = 0
        try:
            for number, n in enumerate(pieces.lengths):
                with private_file(pieces.path(number)) as out:
                    pq.write_table(rows(start, n), out)
                start += n
        except BaseException:
            pieces.remove()
            raise
        return pieces

    def path(self, number: int) -> Path:
        """Where partition ``number``'s piece is."""
        return self.folder / f"{number}.parquet"

    def piece(self, number: int, index: pd.Index) -> pd.DataFrame:
        """Partition ``number``'s appended columns on ``index``: as text, or typed by the
        data dictionary (``typed_fields``)."""
        try:
            table = pq.read_table(self.path(number))
        except FileNotFoundError:
            raise InputError(
                f"the SmartMatch result's piece for partition {number} is gone from "
                f"{self.folder}: the result was released (or, on a cluster, the workers do "
                "not share the client's file system); match the Dask frame again"
            ) from None
        columns = taken_text(table, list(self.columns), np.arange(table.num_rows))
        text = pd.DataFrame(
            {
                name: pd.Series(pd.arrays.ArrowStringArray(values), index=index, copy=False)
                for name, values in zip(self.columns, columns, strict=True)
            },
            index=index,
            copy=False,
        )
        return type_columns(text, self.typed_fields)[0] if self.typed_fields else text

    def remove(self) -> None:
        """Remove the folder now (a copy on a worker never does)."""
        if self._remove is not None:
            self._remove()

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy sent to a worker reads the pieces, never removes them.
        return (
            PartitionPieces,
            (
                self.folder,
                self.lengths,
                self.columns,
                self.attrs,
                self.typed_fields,
                self.fingerprints,
                self.mapped,
            ),
        )

    def __dask_tokenize__(self) -> object:
        return (str(self.folder), self.lengths, self.fingerprints)

    def __repr__(self) -> str:
        return f"PartitionPieces({len(self.lengths)} partitions in {self.folder})"


def empty_appended(meta: pd.DataFrame, pieces: PartitionPieces) -> pd.DataFrame:
    """``meta`` (a partition's empty frame) followed by the appended columns, as text or
    typed as each partition types them."""
    extra = pd.DataFrame(
        {c: pd.Series([], dtype=TEXT_DTYPE) for c in pieces.columns}, index=meta.index
    )
    if pieces.typed_fields:
        extra = type_columns(extra, pieces.typed_fields)[0]
    return _joined(meta, extra, pieces.attrs)


def merged_partition(
    part: pd.DataFrame, pieces: PartitionPieces, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Partition ``part`` followed by its share of the appended columns.

    Raises
    ------
    InputError
        The partition has other rows than were uploaded, or other values (or the same in
        another order) in its mapped columns: the frame changed since.
    """
    number = partition_info["number"] if partition_info is not None else 0
    if len(part) != pieces.lengths[number]:
        raise _changed(number, f"has {len(part):,} rows now where {pieces.lengths[number]:,}")
    fingerprint = pieces.fingerprints[number] if pieces.fingerprints else None
    if fingerprint and partition_fingerprint(part[list(pieces.mapped)]) != fingerprint:
        raise _changed(number, "holds other contact data now (or in another order) than")
    return _joined(part, pieces.piece(number, part.index), pieces.attrs)


def partition_fingerprint(part: pd.DataFrame) -> str:
    """A digest of the partition's values, row by row in order (its index left out: rows
    are merged by position).

    Cheap beside the upload itself: one vectorised hash of each row
    (:func:`pandas.util.hash_pandas_object`), then a digest of those hashes in order, so
    that rows shuffled within the partition change it.
    """
    rows = pd.util.hash_pandas_object(part, index=False).to_numpy()
    return hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()


def _changed(number: int, what: str) -> InputError:
    return InputError(
        f"partition {number} of the Dask frame {what} were matched: the frame changed "
        "since it was matched (data read again and changed, or drawn at random); persist "
        "it before matching, or match it again"
    )


def _joined(part: pd.DataFrame, extra: pd.DataFrame, attrs: Mapping[str, Any]) -> pd.DataFrame:
    merged = pd.concat([part, extra], axis=1) if len(extra.columns) else part.copy()
    # concat keeps neither the columns' name nor the frame's own attrs; every partition
    # carries the job's, so the computed frame has them as a pandas frame's match would.
    merged.columns.name = part.columns.name
    merged.attrs = {**copy.deepcopy(part.attrs), **copy.deepcopy(dict(attrs.items()))}
    return merged
