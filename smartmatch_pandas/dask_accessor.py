"""``ddf.smartmatch``: the verbs on a Dask DataFrame, one job per frame.

Registered by ``import smartmatch_pandas`` when Dask is installed, without
importing Dask: :func:`register_when_imported` registers the accessor at once
if ``dask.dataframe`` is loaded already, else as soon as it is.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from . import verbs as api
from .import_hooks import when_imported
from .job.handle import Job
from .options import InvalidPolicy
from .preparation.check import CheckReport
from .preparation.mapping import ColumnMapping
from .verbs import dask_frames

if TYPE_CHECKING:
    import dask.dataframe as dd


class DaskSmartMatchAccessor:
    """SmartMatch on a Dask DataFrame: ``ddf.smartmatch.match(max_matches=3)``.

    The whole frame is ONE job: its partitions are uploaded from the client,
    and the result is a lazy Dask frame with the same partitions, divisions
    and index (see :mod:`smartmatch_pandas.verbs.dask_frames`).
    """

    def __init__(self, ddf: dd.DataFrame) -> None:
        self._ddf = ddf

    @property
    def attrs(self) -> dict[str, Any]:
        """The job's filename and summary, on the frame :meth:`match` returned (computed
        frames hold them in ``.attrs["smartmatch"]``); empty on any other frame."""
        return dict(self._ddf._meta.attrs.get("smartmatch", {}))

    def match(self, **options: Unpack[api.MatchKwargs]) -> dd.DataFrame:
        """Match this frame as one job: :func:`~smartmatch_pandas.verbs.dask_frames.match_dask`."""
        return dask_frames.match_dask(self._ddf, **options)

    def submit(self, **options: Unpack[api.SubmitKwargs]) -> Job:
        """Submit this frame as one job without waiting; pick it up with :meth:`resume`."""
        return dask_frames.submit_dask(self._ddf, **options)

    def resume(self, filename: str, **options: Unpack[api.ResumeKwargs]) -> dd.DataFrame:
        """Pick up job ``filename``, submitted from this frame; the enriched frame, lazily."""
        return dask_frames.resume_dask(filename, self._ddf, **options)

    def mapping(self, columns: Mapping[Hashable, str | None] | None = None) -> ColumnMapping:
        """The columns that would be sent, and as which identifier; nothing is computed."""
        return dask_frames.dask_mapping(self._ddf, columns)

    def check(
        self, columns: Mapping[Hashable, str | None] | None = None, *, examples: int = 5
    ) -> CheckReport:
        """Report what would be sent and what is wrong with it (the mapped columns are
        computed onto the client); see :func:`~smartmatch_pandas.check_frame`."""
        return dask_frames.check_dask(self._ddf, columns, examples=examples)

    def prepare(
        self,
        columns: Mapping[Hashable, str | None] | None = None,
        *,
        invalid: InvalidPolicy = "keep",
    ) -> dd.DataFrame:
        """Exactly what would be uploaded, lazily; see :func:`~smartmatch_pandas.prepare_frame`."""
        return dask_frames.prepare_dask(self._ddf, columns, invalid=invalid)


DaskSmartMatchAccessor.match.__doc__ = dask_frames.match_dask.__doc__


def register() -> None:
    """Register ``ddf.smartmatch`` on Dask DataFrames (imports ``dask.dataframe``)."""
    from dask.dataframe.extensions import register_dataframe_accessor

    register_dataframe_accessor("smartmatch")(DaskSmartMatchAccessor)  # type: ignore[no-untyped-call]


def register_when_imported() -> None:
    """Register the accessor now if Dask's DataFrames are loaded, else when they are;
    nothing if Dask is not installed."""
    when_imported("dask.dataframe", lambda _: register())


__all__ = ["DaskSmartMatchAccessor", "register", "register_when_imported"]
