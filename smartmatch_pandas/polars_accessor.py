"""``df.smartmatch`` on Polars: the verbs on a ``polars.DataFrame`` and a ``polars.LazyFrame``.

Registered by ``import smartmatch_pandas`` when Polars is there, without
importing it: at once if Polars is imported already, else the moment it is
(:func:`register_when_imported`). Thin, as the pandas accessor: ``match`` and
``submit`` hand the frame, an Arrow stream, to the verbs
(:mod:`~smartmatch_pandas.verbs.streams`), which match it in batches and give
a Polars DataFrame back. ``mapping``, ``check``, ``prepare`` and ``form`` look
at the frame through pandas (its columns as :class:`pandas.ArrowDtype`, text
not copied): they are for a list a person reads, not for millions of rows.

A LazyFrame is matched as a stream: its query runs on Polars' streaming
engine, batch by batch (``LazyFrame.collect_batches``, in
:func:`~smartmatch_pandas.files.streams.lazy_stream`), straight into the
upload; what comes back is a Polars DataFrame (the job has run: there is
nothing left to be lazy about). ``mapping``, ``check`` and ``prepare`` are
those of the DataFrame the query gives.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Unpack, cast

import pandas as pd
import pyarrow as pa

from . import verbs as api
from .files.streams import ArrowStream
from .files.tables import frame_of
from .import_hooks import when_imported
from .job.handle import Job
from .options import InvalidPolicy
from .preparation.check import CheckReport, check_frame
from .preparation.mapping import ColumnMapping
from .preparation.table import frame_mapping, prepare_frame

if TYPE_CHECKING:
    import polars as pl

    from .form.widget import MatchForm

#: The namespace's name on Polars frames, as on pandas ones.
NAMESPACE: Final = "smartmatch"


def pandas_view(df: pl.DataFrame) -> pd.DataFrame:
    """``df`` as a pandas frame of :class:`pandas.ArrowDtype` columns (text not copied),
    for the verbs that read a list as a person does."""
    return frame_of(df.to_arrow())


class PolarsSmartMatch:
    """SmartMatch on a Polars DataFrame: ``df.smartmatch.match(max_matches=3)``.

    The same verbs and options as on a pandas frame; results come back as
    Polars DataFrames (the input's columns as they were, the appended ones as
    ``String``), in the input's row order.
    """

    def __init__(self, df: pl.DataFrame) -> None:
        self._df = df

    def match(self, **options: Unpack[api.MatchKwargs]) -> pl.DataFrame:
        """Match this frame; see :func:`smartmatch_pandas.match`."""
        enriched: pl.DataFrame = api.match(self._df, **options)
        return enriched

    def submit(self, **options: Unpack[api.SubmitKwargs]) -> Job:
        """Submit this frame without waiting; see :func:`smartmatch_pandas.submit`."""
        return api.submit(self._df, **options)

    def mapping(self, columns: Mapping[Hashable, str | None] | None = None) -> ColumnMapping:
        """The columns that would be sent, and as which identifier; nothing is sent."""
        return frame_mapping(pandas_view(self._df), columns)

    def check(
        self, columns: Mapping[Hashable, str | None] | None = None, *, examples: int = 5
    ) -> CheckReport:
        """Report what would be sent and what is wrong with it; see :func:`check_frame`."""
        return check_frame(pandas_view(self._df), columns, examples=examples)

    def prepare(
        self,
        columns: Mapping[Hashable, str | None] | None = None,
        *,
        invalid: InvalidPolicy = "keep",
    ) -> pl.DataFrame:
        """Exactly the table that would be uploaded, as a Polars DataFrame; see
        :func:`prepare_frame`."""
        import polars as pl

        prepared = prepare_frame(pandas_view(self._df), columns, invalid=invalid)
        return pl.from_arrow(pa.Table.from_pandas(prepared, preserve_index=False))  # type: ignore[return-value]

    def form(self, **options: Any) -> MatchForm:
        """A form to match this frame in a notebook (:class:`~smartmatch_pandas.MatchForm`),
        shown and matched through pandas: its result is a pandas frame."""
        from .form.widget import MatchForm  # ipywidgets: loaded when a form is asked for

        return MatchForm(pandas_view(self._df), **options)


class PolarsLazySmartMatch:
    """SmartMatch on a Polars LazyFrame: the query's rows streamed into the upload,
    a Polars DataFrame back (see the module's notes)."""

    def __init__(self, lf: pl.LazyFrame) -> None:
        self._lf = lf
        # The verbs take a LazyFrame as a stream (files.streams.lazy_stream runs its query
        # batch by batch), though it has no __arrow_c_stream__ of its own to say so.
        self._query = cast(ArrowStream, lf)

    def match(self, **options: Unpack[api.MatchKwargs]) -> pl.DataFrame:
        """Run the query on the streaming engine and match its rows, batch by batch;
        see :func:`smartmatch_pandas.match`."""
        enriched: pl.DataFrame = api.match(self._query, **options)
        return enriched

    def submit(self, **options: Unpack[api.SubmitKwargs]) -> Job:
        """Run the query and submit its rows without waiting; see
        :func:`smartmatch_pandas.submit`."""
        return api.submit(self._query, **options)

    def mapping(self, columns: Mapping[Hashable, str | None] | None = None) -> ColumnMapping:
        """The columns that would be sent (of the query's result); nothing is sent."""
        return PolarsSmartMatch(self._lf.collect()).mapping(columns)

    def check(
        self, columns: Mapping[Hashable, str | None] | None = None, *, examples: int = 5
    ) -> CheckReport:
        """Report what would be sent for the query's rows; see :func:`check_frame`."""
        return PolarsSmartMatch(self._lf.collect()).check(columns, examples=examples)

    def prepare(
        self,
        columns: Mapping[Hashable, str | None] | None = None,
        *,
        invalid: InvalidPolicy = "keep",
    ) -> pl.DataFrame:
        """The table that would be uploaded for the query's rows; see :func:`prepare_frame`."""
        return PolarsSmartMatch(self._lf.collect()).prepare(columns, invalid=invalid)

    def form(self, **options: Any) -> MatchForm:
        """A form to match the query's rows in a notebook: the query is collected (the form
        shows the rows it matches), then as :meth:`PolarsSmartMatch.form`."""
        return PolarsSmartMatch(self._lf.collect()).form(**options)


PolarsSmartMatch.match.__doc__ = api.match.__doc__
PolarsSmartMatch.submit.__doc__ = api.submit.__doc__
PolarsSmartMatch.check.__doc__ = check_frame.__doc__


# -- registration, without importing Polars ------------------------------------------------------

_registered = threading.Lock()


def register(polars: ModuleType) -> None:
    """Register the namespaces on Polars' DataFrame and LazyFrame (once)."""
    with _registered:
        if hasattr(polars.DataFrame, NAMESPACE):
            return
        polars.api.register_dataframe_namespace(NAMESPACE)(PolarsSmartMatch)
        polars.api.register_lazyframe_namespace(NAMESPACE)(PolarsLazySmartMatch)


def register_when_imported() -> None:
    """Register the namespaces now if Polars is imported, else when it is (if ever)."""
    when_imported("polars", register)
