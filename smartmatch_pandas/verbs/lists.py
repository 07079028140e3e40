"""Many lists at once: :func:`match_lists`, which submits several frames and waits for
them together, under one poll budget, one failure losing none of the others."""

from __future__ import annotations

import contextvars
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Unpack

import pandas as pd

from ..deliverable.summary import RANK
from ..errors import OptionError, SmartMatchError
from ..job.handle import Job
from ..job.waiting import check_wait_options
from ..options import check_flag, defaults_of, keywords_of
from ..progress import Board
from .keywords import MatchKwargs
from .plan import Plan, make_plan
from .submitting import submit_planned


@dataclass
class ListResults(Mapping[Hashable, pd.DataFrame]):
    """The results of :func:`match_lists`: a mapping of each list's name to its
    enriched frame, for the lists that matched, and what became of the others.

    Attributes
    ----------
    errors
        The error of each list that did not match, by name (its job, if one was
        registered, can be resumed by the filename the error carries).
    filenames
        The job's filename of each list submitted, by name: how each is resumed
        (``smartmatch_pandas.resume(filename, df)``).

    Examples
    --------
    >>> results = smartmatch_pandas.match_lists({"east": east, "west": west})  # doctest: +SKIP
    >>> results["east"]                        # the enriched frame   # doctest: +SKIP
    >>> results.errors                         # {} when every list matched  # doctest: +SKIP
    """

    frames: dict[Hashable, pd.DataFrame] = field(default_factory=dict)
    errors: dict[Hashable, SmartMatchError] = field(default_factory=dict)
    filenames: dict[Hashable, str] = field(default_factory=dict)

    def __getitem__(self, name: Hashable) -> pd.DataFrame:
        """The enriched frame of ``name``; a list that failed raises its error."""
        if name in self.errors:
            raise self.errors[name]
        return self.frames[name]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.frames)

    def __contains__(self, name: object) -> bool:
        return name in self.frames

    def get(self, name: Hashable, default: Any = None) -> Any:
        """The enriched frame of ``name``, or ``default`` if it did not match."""
        return self.frames.get(name, default)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def ok(self) -> bool:
        """Whether every list matched."""
        return not self.errors

    def raise_first(self) -> None:
        """Raise the first list's error, if any list failed."""
        for error in self.errors.values():
            raise error

    def __repr__(self) -> str:
        return (
            f"ListResults(matched={list(self.frames)!r}, failed={list(self.errors)!r}, "
            f"filenames={self.filenames!r})"
        )


def match_lists(
    frames: Sequence[pd.DataFrame] | Mapping[Any, pd.DataFrame],
    **options: Unpack[MatchKwargs],
) -> ListResults:
    """Match several contact lists at once; return each enriched, and what failed.

    Every list is checked before anything is sent; then each is submitted as a
    job of its own (with a generated filename) and all are awaited together,
    polled in turn under the API key's one poll budget (against TargetSmart,
    one poll per 30 s for all of them: the list done last is noticed within
    about 30 s per list still waiting, see ``docs/jobs.md``). A list whose job
    fails, or cannot be submitted, does not stop the others: its error is kept
    in :attr:`ListResults.errors`, and every job can be resumed by its filename.

    Parameters
    ----------
    frames
        The lists: a sequence of frames (named 0, 1, ...) or a mapping of names
        to frames.
    **options
        The keywords of :func:`~smartmatch_pandas.match` but ``filename`` (each
        job has its own), applied to every list; ``progress`` shows one line for
        all of them (a callable receives each job's events, with their ``job``).

    Returns
    -------
    ListResults
        A mapping of each matched list's name to its enriched frame, with
        ``errors`` and ``filenames`` by name.

    Raises
    ------
    OptionError, InputError
        Before anything is sent: an option, or a list (named), cannot be matched.
    KeyboardInterrupt
        After saying how to resume each job still running; they go on.

    Examples
    --------
    >>> results = smartmatch_pandas.match_lists([df_a, df_b, df_c])  # doctest: +SKIP
    >>> results[0]                                                   # doctest: +SKIP
    """
    named = _named(frames)
    defaults = defaults_of("match")
    unknown = [name for name in options if name not in defaults]
    if unknown:
        raise TypeError(f"match_lists() got an unexpected keyword argument {unknown[0]!r}")
    if "filename" in options:
        raise OptionError(
            "filename= cannot be given to match_lists(): each list gets a job (and a "
            "filename) of its own, listed in the result's .filenames"
        )
    settings = {**defaults, **options}
    timeout, all_matches = settings["timeout"], settings["all_matches"]
    check_flag("all_matches", all_matches)
    typed = check_flag("typed", settings["typed"])
    check_wait_options(timeout)
    plans = {name: _plan(name, frame, settings) for name, frame in named.items()}
    board = Board(settings["progress"], [str(name) for name in named])
    results = ListResults()
    try:
        jobs = _submit_all(named, plans, board, results)
        _wait_all(jobs, plans, board, results, timeout, all_matches, typed)
    finally:
        board.close()
    return results


def _named(frames: object) -> dict[Hashable, pd.DataFrame]:
    if isinstance(frames, pd.DataFrame):
        raise OptionError(
            "match_lists() takes several frames (a list or a dict of them): for one frame "
            "use match(df)"
        )
    if isinstance(frames, Mapping):
        named = dict(frames)
    elif isinstance(frames, Sequence) and not isinstance(frames, str | bytes):
        named = dict(enumerate(frames))
    else:
        raise OptionError(
            f"frames={type(frames).__name__} must be a list of DataFrames or a dict of "
            "names to DataFrames"
        )
    if not named:
        raise OptionError("frames is empty: give at least one DataFrame")
    return named


def _plan(name: Hashable, frame: object, settings: Mapping[str, object]) -> Plan:
    try:
        return make_plan(frame, keywords_of("submit", settings))  # type: ignore[arg-type]
    except SmartMatchError as exc:
        raise exc.with_context(before=f"list {name!r}") from None


def _submit_all(
    named: Mapping[Hashable, pd.DataFrame],
    plans: Mapping[Hashable, Plan],
    board: Board,
    results: ListResults,
) -> dict[Hashable, Job]:
    """Submit every list in turn; a list that cannot be submitted keeps its error."""
    jobs: dict[Hashable, Job] = {}
    for name, plan in plans.items():
        try:
            job = submit_planned(named[name], plan, board.reporter(str(name)))
        except SmartMatchError as exc:
            plan.client.close()
            results.errors[name] = exc
            if exc.filename:
                results.filenames[name] = exc.filename
            board.show(str(name), "failed")
            continue
        jobs[name] = job
        results.filenames[name] = job.filename
    return jobs


def _wait_all(
    jobs: Mapping[Hashable, Job],
    plans: Mapping[Hashable, Plan],
    board: Board,
    results: ListResults,
    timeout: float | None,
    all_matches: bool,
    typed: bool = False,
) -> None:
    """Wait for every job in a thread of its own; they poll in turn by the key's budget."""

    def finish(name: Hashable, job: Job) -> pd.DataFrame:
        reporter = board.reporter(str(name))
        with plans[name].client:
            result = job.wait(timeout=timeout, progress=reporter).result(
                progress=reporter, typed=typed
            )
        out = result.candidates if all_matches else result.frame
        out.attrs["smartmatch"] = {"filename": job.filename, **result.summary.as_attrs()}
        if all_matches and result.rank != RANK:  # the frame had a match_rank of its own
            out.attrs["smartmatch"]["rank"] = result.rank
        board.show(str(name), "done")
        return out

    if not jobs:
        return
    pool = ThreadPoolExecutor(len(jobs), thread_name_prefix="smartmatch-list")
    futures: dict[Hashable, Future[pd.DataFrame]] = {
        # Each in a copy of the caller's context: what it set (a command line's resume
        # command, say) holds in the threads too.
        name: pool.submit(contextvars.copy_context().run, finish, name, job)
        for name, job in jobs.items()
    }
    try:
        for name, future in futures.items():
            try:
                results.frames[name] = future.result()
            except SmartMatchError as exc:
                results.errors[name] = exc
                board.show(str(name), "failed")
    except KeyboardInterrupt:
        for job in jobs.values():
            job.stop_waiting()  # each says how to resume it
        raise
    finally:
        pool.shutdown(wait=True)
    # In the order given, whatever order they finished in.
    results.frames = {name: results.frames[name] for name in jobs if name in results.frames}
