"""``df.smartmatch``: the verbs of :mod:`smartmatch_pandas.verbs` on a DataFrame.

Thin by design: each method is one call to the plain function, so the
accessor holds no state (pandas caches one accessor per frame object).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

import pandas as pd

from . import verbs as api
from .deliverable import Exploration, MatchResult
from .job.handle import Job
from .options import InvalidPolicy
from .preparation.check import CheckReport, check_frame
from .preparation.mapping import ColumnMapping
from .preparation.table import frame_mapping, prepare_frame

if TYPE_CHECKING:
    from .form.widget import MatchForm


@pd.api.extensions.register_dataframe_accessor("smartmatch")
class SmartMatchAccessor:
    """SmartMatch on a DataFrame: ``df.smartmatch.match(max_matches=3)``."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def match(self, **options: Unpack[api.MatchKwargs]) -> pd.DataFrame:
        """Match this frame; see :func:`smartmatch_pandas.match`."""
        enriched: pd.DataFrame = api.match(self._df, **options)
        return enriched

    def submit(self, **options: Unpack[api.SubmitKwargs]) -> Job:
        """Submit this frame without waiting; see :func:`smartmatch_pandas.submit`."""
        return api.submit(self._df, **options)

    def resume(self, filename: str, **options: Unpack[api.ResumeKwargs]) -> MatchResult:
        """Pick up job ``filename``, submitted from this frame: :func:`smartmatch_pandas.resume`."""
        return api.resume(filename, self._df, **options)

    def mapping(self, columns: Mapping[Hashable, str | None] | None = None) -> ColumnMapping:
        """The columns that would be sent, and as which identifier; nothing is sent."""
        return frame_mapping(self._df, columns)

    def check(
        self, columns: Mapping[Hashable, str | None] | None = None, *, examples: int = 5
    ) -> CheckReport:
        """Report what would be sent and what is wrong with it; see :func:`check_frame`."""
        return check_frame(self._df, columns, examples=examples)

    def prepare(
        self,
        columns: Mapping[Hashable, str | None] | None = None,
        *,
        invalid: InvalidPolicy = "keep",
    ) -> pd.DataFrame:
        """Exactly the frame that would be uploaded; see :func:`prepare_frame`."""
        return prepare_frame(self._df, columns, invalid=invalid)

    def explore(self, columns: Mapping[Hashable, str | None] | None = None) -> Exploration:
        """Explore this frame, as ``match()`` returned it; see
        :func:`~smartmatch_pandas.verbs.exploring.explore_frame`."""
        return api.explore_frame(self._df, columns)

    def form(self, **options: Any) -> MatchForm:
        """A form to match this frame in a notebook: :class:`~smartmatch_pandas.MatchForm`."""
        from .form.widget import MatchForm  # ipywidgets: loaded when a form is asked for

        return MatchForm(self._df, **options)


SmartMatchAccessor.match.__doc__ = api.match.__doc__
SmartMatchAccessor.submit.__doc__ = api.submit.__doc__
SmartMatchAccessor.check.__doc__ = check_frame.__doc__
SmartMatchAccessor.prepare.__doc__ = prepare_frame.__doc__
SmartMatchAccessor.explore.__doc__ = api.explore_frame.__doc__
