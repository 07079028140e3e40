"""Matching a list that is not a pandas frame: any Arrow stream, in batches, given back in
its own kind.

:func:`smartmatch_pandas.match` and :func:`smartmatch_pandas.submit` hand any
object exposing ``__arrow_c_stream__`` (a pyarrow Table or RecordBatchReader,
a DuckDB relation, a Polars DataFrame...) to :func:`match_stream` and
:func:`submit_stream`. The list goes the way of a file larger than memory
(:mod:`~smartmatch_pandas.verbs.large_files`): the upload is made batch by
batch (:func:`~smartmatch_pandas.preparation.batched.upload_file`) and the
deliverable merged back batch by batch
(:func:`~smartmatch_pandas.deliverable.batched.merge_file`), read from a
:class:`~smartmatch_pandas.files.streams.StreamedList`; the enriched batches
are gathered as Arrow (:class:`~smartmatch_pandas.files.streams.TableCollector`).
It never becomes a pandas frame.

What comes back (:func:`result_kind`, made batch by batch as the merge gives
them): a Polars DataFrame for a Polars DataFrame or LazyFrame (its query
streamed: :func:`~smartmatch_pandas.files.streams.lazy_stream`), else a
pyarrow Table (a stream with no table of its own, such as a RecordBatchReader
or a DuckDB relation, included): the input's columns as they came, then the
appended columns as text. A pyarrow Table keeps the job's summary
in its schema's metadata, under the key pandas keeps ``attrs`` under in a
Parquet file (``json.loads(table.schema.metadata[b"PANDAS_ATTRS"])["smartmatch"]``;
``pandas.read_parquet`` of the table written gives it as ``attrs``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Unpack

import pyarrow as pa

from ..files.streams import ArrowTables, ResultKind, StreamedList, TableCollector
from ..job.handle import RESUME_COMMAND, Job
from ..preparation.batched import file_mapping, upload_file
from ..progress import reporting
from .keywords import MatchKwargs, SubmitKwargs
from .large_files import match_batched
from .plan import make_plan
from .submitting import submit_body


def match_stream(data: object, **options: Unpack[MatchKwargs]) -> Any:
    """Match the contact list in an Arrow stream; return it enriched, in its own kind.

    What :func:`smartmatch_pandas.match` does for any object exposing
    ``__arrow_c_stream__``, with the same options and guarantees.

    Parameters
    ----------
    data
        The contact list: a pyarrow Table or RecordBatchReader, a Polars
        DataFrame, a DuckDB relation, or any other Arrow stream. A stream is
        read once (and copied, as it is read, to a spool that spills to a
        private temporary file past the spill threshold).
    **options
        :func:`smartmatch_pandas.match`'s keyword arguments.

    Returns
    -------
    pyarrow.Table or polars.DataFrame
        See :func:`result_kind`.

    Raises
    ------
    OptionError, InputError, SmartMatchError
        As :func:`smartmatch_pandas.match`.
    """
    with StreamedList.of(data) as listed, matched_again_to_resume():
        collector = TableCollector(result_kind(data), like=listed.schema)
        match_batched(listed, collector, **options)
    return collector.result


def submit_stream(data: object, **options: Unpack[SubmitKwargs]) -> Job:
    """Submit the contact list in an Arrow stream without waiting: what
    :func:`smartmatch_pandas.submit` does for any object exposing ``__arrow_c_stream__``.

    The stream is read once, to make the upload, and not kept: the job's
    ``result()`` is merged onto the columns that were uploaded. To have the
    whole list back enriched, :func:`smartmatch_pandas.match` the same list
    later: it picks the job up (by its data and options) rather than paying twice.
    """
    progress = options.pop("progress", True)
    with StreamedList.of(data, once=True) as listed, matched_again_to_resume():
        mapping = file_mapping(listed, options.get("columns"))
        plan = make_plan(None, options, mapping)
        with reporting(progress) as reporter:
            reporter.stage("preparing")
            upload = upload_file(listed, mapping, plan.invalid)
            job = submit_body(
                upload.body, plan, reporter, frame=None, rows=upload.rows, presence=upload.presence
            )
    job.progress = progress  # its wait() shows what its submission showed
    return job


@contextmanager
def matched_again_to_resume() -> Iterator[None]:
    """Errors and Ctrl-C say to match the same list again: a stream cannot be given to
    :func:`smartmatch_pandas.resume`, and the same match picks the job up at no cost."""
    token = RESUME_COMMAND.set(
        lambda filename: (
            f"smartmatch_pandas.match() of the same list with the same options "
            f"(it picks job {filename!r} up, at no cost)"
        )
    )
    try:
        yield
    finally:
        RESUME_COMMAND.reset(token)


class PolarsFrames:
    """The result as one Polars DataFrame, each enriched batch made a Polars frame as it
    comes (Polars keeps no schema metadata: the summary is in the progress notes)."""

    def __init__(self, polars: ModuleType) -> None:
        self.polars = polars

    def piece(self, table: pa.Table) -> Any:
        # Text as large_string: Polars makes it its own String either way, and a string_view
        # column pyarrow 21 cast back from large_string crashes Polars' import.
        viewed = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
        if any(field.type in viewed for field in table.schema):
            table = table.cast(
                pa.schema([f.with_type(viewed.get(f.type, f.type)) for f in table.schema])
            )
        return self.polars.from_arrow(table)

    def whole(self, pieces: list[Any], schema: pa.Schema) -> Any:
        if not pieces:
            return self.polars.from_arrow(schema.empty_table())
        return self.polars.concat(pieces, rechunk=False)


def result_kind(data: object) -> ResultKind:
    """What ``data``'s result is given back as: a Polars DataFrame for a Polars DataFrame
    or LazyFrame, else a pyarrow Table."""
    polars = sys.modules.get("polars")  # never imported here: a Polars frame brought it
    if polars is not None and isinstance(data, polars.DataFrame | polars.LazyFrame):
        return PolarsFrames(polars)
    return ArrowTables()


__all__ = ["PolarsFrames", "match_stream", "result_kind", "submit_stream"]
