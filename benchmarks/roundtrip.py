"""The client's own cost of ``match()`` at scale, against two yardsticks measured in the same run.

Runs ``smartmatch_pandas.match()`` on a synthetic contact list of N rows
(nine identifier columns, benchmarks/contacts.py) against the local service,
and prints per phase (map and normalise, write CSV, upload, download, parse,
merge) the median seconds of several runs, the client's total (the wall time
of ``match()`` less the wait for the service's matching), and the peak
memory (RSS) of this process during ``match()``. Then, on the same frame:

- the floor: pyarrow writing the upload CSV to memory, reading the
  deliverable CSV from memory, and joining the appended columns back by
  position;
- the naive path a user would write by hand: ``DataFrame.to_csv``,
  ``requests.put``, ``requests.get``, ``read_csv(dtype=str)``, ``merge`` on
  ``matchback_id``;

and the ratios.

The service runs in a process of its own (so its CPU time is not this
process's) with no processing delay and a poll interval of milliseconds. Its
matcher is a stand-in that answers at once (:class:`QuickMatcher`): three
rows in four matched to a voter chosen from the row's position. The service
still reads the real upload and builds a real deliverable from it (the
echoed columns, ``tsmart_match_code``, the account's 16 appended fields and
the two score fields), so what the client downloads, parses and merges is
what a matched list gives; and the benchmark checks every merged row against
the voter it must hold. Talks to 127.0.0.1 only; uses a temporary job store.

    .venv/bin/python -m benchmarks.roundtrip --rows 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import gc
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: Voters in the service's voter file (matched rows take their appended fields from them).
VOTERS = 200_000


# -- the service, in a process of its own ---------------------------------------------------


class QuickMatcher:
    """A stand-in matcher that answers at once, so the benchmark measures the client.

    Row ``i`` is matched when ``i % 4 != 3``, to voter ``(i * 7919) % voters``;
    with ``max_matches`` above 1, every fifth row has a second candidate.
    """

    def __init__(self, voters: int) -> None:
        self.voters = voters

    def match(self, contacts: pd.DataFrame, max_matches: int) -> Any:
        from smartmatch_pandas.local import Candidates

        rows = np.flatnonzero(np.arange(len(contacts)) % 4 != 3)
        ranks = [np.ones(len(rows), np.int64)]
        people = [expected_voter(rows, self.voters)]
        if max_matches > 1:
            extra = rows[rows % 5 == 0]
            rows = np.concatenate([rows, extra])
            people.append((expected_voter(extra, self.voters) + 1) % self.voters)
            ranks.append(np.full(len(extra), 2, np.int64))
        rank = np.concatenate(ranks)
        order = np.lexsort((rank, rows))
        return Candidates(
            row=rows[order],
            person=np.concatenate(people)[order],
            score=np.full(len(rows), 20.0),
            method=np.full(len(rows), "quick", dtype=object),
            rank=rank[order],
        )


def expected_voter(rows: np.ndarray, voters: int) -> np.ndarray:
    """The voter :class:`QuickMatcher` gives row ``rows``."""
    return (rows.astype(np.int64) * 7919) % voters


def serve() -> None:
    """Run the local service until stdin closes; print how to reach it as one JSON line."""
    from smartmatch_pandas.local import LocalService, VoterFile

    voters = VoterFile.generate(VOTERS, 0)
    with LocalService(
        poll_interval=0.001, delay=0, voters=voters, matcher=QuickMatcher(len(voters))
    ) as service:
        print(json.dumps({"base_url": service.base_url, "api_key": service.api_key}), flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def service_process() -> Iterator[dict[str, Any]]:
    """The local service in a child process; ``match()`` keyword arguments that reach it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.roundtrip", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        reach = json.loads(child.stdout.readline())
        yield {**reach, "poll_interval": 0.02}
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)


# -- memory -------------------------------------------------------------------------------------


def _status(name: str) -> int:
    found = re.search(rf"{name}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    assert found is not None
    return int(found[1]) * 1024


def settle() -> int:
    """Give back memory freed so far (Python's, glibc's and Arrow's pools), then reset the
    peak: the resident memory now, in bytes. Without it, memory a step freed would be
    reused by the next unseen, and its peak would look smaller than it is."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS
    return _status("VmRSS")


def peak() -> int:
    """The peak resident memory since :func:`settle`, in bytes."""
    return _status("VmHWM")


class Clock:
    """Wall and CPU seconds (all threads of this process) since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


# -- the client's runs, each in a fresh process -------------------------------------------------

PHASES = ("map and normalise", "write CSV", "upload", "download", "parse", "merge")


@contextlib.contextmanager
def timed_functions(seconds: dict[str, float], where: dict[str, tuple[Any, str]]) -> Iterator[None]:
    """Add the wall time spent in each named function to its phase while inside."""
    saved = []
    for phase, (module, name) in where.items():
        original = getattr(module, name)

        def wrapper(
            *args: Any, _f: Callable[..., Any] = original, _p: str = phase, **kw: Any
        ) -> Any:
            start = time.perf_counter()
            try:
                return _f(*args, **kw)
            finally:
                seconds[_p] = seconds.get(_p, 0.0) + time.perf_counter() - start

        setattr(module, name, wrapper)
        saved.append((module, name, original))
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def client_match(frame: pd.DataFrame, reach: dict[str, Any], max_matches: int) -> dict[str, Any]:
    """One ``match()``: seconds per phase, the client's total, and its peak memory."""
    import smartmatch_pandas as sm
    from smartmatch_pandas.job import reading
    from smartmatch_pandas.job.cache import settled
    from smartmatch_pandas.preparation import table

    seconds: dict[str, float] = {}
    stages: dict[str, tuple[float, float]] = {}
    clock = Clock()

    def on_progress(event: Any) -> None:
        if event.stage != "note" and event.stage not in stages:
            stages[event.stage] = clock.lap()

    where = {
        # Each where it is called from: the upload's build, and the job's reading.
        "map and normalise": (table, "prepare_table"),
        "write CSV": (table, "upload_body"),
        "parse": (reading, "read_files"),
        "merge": (reading, "merge_back"),
    }
    before = settle()
    with timed_functions(seconds, where):
        clock = Clock()
        out = sm.match(frame, max_matches=max_matches, refresh=True, progress=on_progress, **reach)
        wall, cpu = clock.lap()
    # The result cache is written on a thread of its own, finishing after match() returns:
    # its time is shown apart, and the peak memory counts it.
    settled()
    cache_after = clock.lap()[0] - wall
    used = peak() - before
    check_result(frame, out, max_matches)
    seconds["upload"] = stages["waiting"][0] - stages["uploading"][0]
    waiting = stages["downloading"][0] - stages["waiting"][0]
    waiting_cpu = stages["downloading"][1] - stages["waiting"][1]
    seconds["download"] = stages["merging"][0] - stages["downloading"][0] - seconds["parse"]
    client = wall - waiting
    appended = out.iloc[:, frame.shape[1] :]
    return {
        **seconds,
        "other": client - sum(seconds[p] for p in PHASES),
        "client": client,
        "client cpu": cpu - waiting_cpu,
        "waiting": waiting,
        "cache after": cache_after,
        "peak": used,
        "result": int(appended.memory_usage(deep=True, index=False).sum()),
    }


def check_result(frame: pd.DataFrame, out: pd.DataFrame, max_matches: int) -> None:
    """Every row is where it was, with the voter the quick matcher gave it."""
    from smartmatch_pandas.local import VoterFile

    assert out.index.equals(frame.index)
    assert out.iloc[:, : frame.shape[1]].equals(frame)
    ids = VoterFile.generate(VOTERS, 0).table["voterbase_id"].to_numpy(zero_copy_only=False)
    rows = np.arange(len(frame))
    expected = np.where(rows % 4 != 3, ids[expected_voter(rows, len(ids))], None)
    got = out["vb.voterbase_id"].to_numpy(dtype=object, na_value=None)
    assert (got == expected).all(), "a row was merged back onto the wrong voter"


def _deliverable_of(body: bytes, reach: dict[str, Any]) -> tuple[Any, str, Any]:
    """Register a job; return the client, its filename and the upload URL (not timed)."""
    from smartmatch_pandas.options import MatchOptions
    from smartmatch_pandas.wire.http import SmartMatchClient

    client = SmartMatchClient(reach["api_key"], reach["base_url"])
    options = MatchOptions().with_filename()
    assert options.filename is not None
    return client, options.filename, client.register(options.params(options.filename))


def _ready_url(client: Any, filename: str) -> Any:
    """Poll until the job's deliverable is ready (not timed: the service's share)."""
    while True:
        answer = client.poll(filename)
        if answer.ready:
            return answer.url
        time.sleep(0.02)


def upload_columns(frame: pd.DataFrame) -> dict[str, str]:
    """The frame's identifier columns, and the identifier each is sent as (every path)."""
    from smartmatch_pandas.preparation.mapping import resolve_mapping

    return {str(column): identifier for column, identifier in resolve_mapping(frame.columns).pairs}


def floor(frame: pd.DataFrame, reach: dict[str, Any]) -> dict[str, Any]:
    """The floor: pyarrow writes the upload CSV to memory, reads the deliverable CSV from
    memory, and the appended columns are joined back by position."""
    columns = upload_columns(frame)
    before = settle()
    clock = Clock()
    table = pa.Table.from_pandas(frame[list(columns)], preserve_index=False)
    table = table.rename_columns(list(columns.values())).append_column(
        "matchback_id", pa.array(np.arange(len(frame))).cast(pa.string())
    )
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    body = sink.getvalue()
    write = clock.lap()
    del table

    client, filename, url = _deliverable_of(body, reach)
    client.upload(url, io.BytesIO(body.to_pybytes()), filename=filename)
    del body
    deliverable = client.download(_ready_url(client, filename))
    assert deliverable is not None

    clock = Clock()
    names = next(csv.reader(io.StringIO(deliverable[:65536].decode())))
    parsed = pacsv.read_csv(
        pa.py_buffer(deliverable),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    read = clock.lap()
    clock = Clock()
    positions = pc.cast(parsed["matchback_id"], pa.int64()).to_numpy()
    rows_of = np.full(len(frame), -1)
    rows_of[positions] = np.arange(len(positions))
    take = pa.array(rows_of, mask=rows_of < 0)
    sent = {"matchback_id", *(c for c in names if c in _identifiers())}
    appended = pa.table({n: parsed[n].take(take) for n in names if n not in sent})
    extra = appended.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    extra.index = frame.index
    out = pd.concat([frame, extra], axis=1)
    join = clock.lap()
    used = peak() - before
    assert len(out) == len(frame)
    return {
        "write CSV": write[0],
        "read CSV": read[0],
        "join": join[0],
        "total": write[0] + read[0] + join[0],
        "total cpu": write[1] + read[1] + join[1],
        "peak": used,
        "upload CSV": _csv_size(frame),
    }


def _identifiers() -> frozenset[str]:
    from smartmatch_pandas.identifiers import IDENTIFIERS

    return frozenset(IDENTIFIERS)


def _csv_size(frame: pd.DataFrame) -> int:
    """Bytes of the upload CSV ``match()`` sends for ``frame``."""
    from smartmatch_pandas.preparation.mapping import resolve_mapping
    from smartmatch_pandas.preparation.table import prepare_table, upload_body

    with upload_body(prepare_table(frame, resolve_mapping(frame.columns))) as body:
        return len(body)


def naive(frame: pd.DataFrame, reach: dict[str, Any]) -> dict[str, Any]:
    """The path a user writes by hand: to_csv, requests.put, requests.get,
    read_csv(dtype=str), merge on matchback_id."""
    import requests

    columns = upload_columns(frame)
    seconds: dict[str, float] = {}
    clock = Clock()
    upload = frame[list(columns)].rename(columns=columns)
    upload["matchback_id"] = np.arange(len(frame))
    body = upload.to_csv(index=False).encode()
    del upload
    seconds["to_csv"] = clock.lap()[0]

    client, filename, url = _deliverable_of(body, reach)
    clock = Clock()
    requests.put(
        url.reveal(), data=body, headers={"Content-Type": ""}, timeout=600
    ).raise_for_status()
    seconds["requests.put"] = clock.lap()[0]
    del body

    ready = _ready_url(client, filename)
    clock = Clock()
    answer = requests.get(ready.reveal(), timeout=600)
    answer.raise_for_status()
    content = answer.content
    seconds["requests.get"] = clock.lap()[0]
    del answer

    clock = Clock()
    parsed = pd.read_csv(io.BytesIO(content), dtype=str)
    seconds["read_csv"] = clock.lap()[0]
    del content

    clock = Clock()
    appended = parsed.drop(columns=[c for c in parsed.columns if c in _identifiers()])
    keyed = frame.assign(matchback_id=np.arange(len(frame)).astype(str))
    out = keyed.merge(appended, on="matchback_id", how="left").drop(columns="matchback_id")
    seconds["merge"] = clock.lap()[0]
    assert len(out) == len(frame)
    seconds["total"] = sum(seconds.values())
    return seconds


def run_client(kind: str, rows: int, reach: dict[str, Any], max_matches: int) -> dict[str, Any]:
    """One measurement in this (fresh) process, on the benchmark's contact list."""
    from benchmarks.contacts import contact_list

    frame = contact_list(rows)
    figures: dict[str, Any] = {"frame": int(frame.memory_usage(deep=True).sum())}
    if kind == "match":
        figures.update(client_match(frame, reach, max_matches))
    elif kind == "floor":
        figures.update(floor(frame, reach))
    else:
        figures.update(naive(frame, reach))
    return figures


def in_child(kind: str, rows: int, reach: dict[str, Any], max_matches: int) -> dict[str, Any]:
    """:func:`run_client` in a fresh process (so no run inherits another's memory)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.roundtrip",
            "--client",
            kind,
            "--rows",
            str(rows),
            "--max-matches",
            str(max_matches),
        ],
        input=json.dumps(reach),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"the {kind} run failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# -- the report ---------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def least(runs: list[dict[str, Any]], key: str) -> float:
    """The fastest run's figure: the one the other engineers' load disturbed least."""
    return min(run[key] for run in runs)


def report(
    rows: int,
    matches: list[dict[str, Any]],
    floors: list[dict[str, Any]],
    naives: list[dict[str, Any]],
) -> None:
    mb = 1e6
    frame, csv_size = matches[0]["frame"], floors[0]["upload CSV"]
    print(
        f"{rows:,} rows: frame {frame / mb:,.1f} MB in memory, upload CSV {csv_size / mb:,.1f} MB; "
        f"medians of {len(matches)} runs, seconds"
    )
    print("match():")
    for phase in (*PHASES, "other"):
        print(f"  {phase:<18} {median(matches, phase):8.3f}")
    client, cpu = median(matches, "client"), median(matches, "client cpu")
    print(
        f"  {'client total':<18} {client:8.3f}   (CPU {cpu:.3f} s; the service's matching, "
        f"{median(matches, 'waiting'):.3f} s, excluded)"
    )
    print(
        "  result cache: written on a thread of its own, done "
        f"{median(matches, 'cache after'):.3f} s after match() returned"
    )
    used, kept = median(matches, "peak"), median(matches, "result")
    print(
        f"  peak memory during match() and its cache: {used / mb:,.1f} MB above the frame "
        f"already held, of which {kept / mb:,.1f} MB are the appended columns it returns"
    )
    print(
        f"    working memory (peak less the result returned): {(used - kept) / mb:,.1f} MB "
        f"= {(used - kept) / csv_size:.2f} x the upload CSV (goal: at most 2); "
        f"frame + peak = {(frame + used) / (frame + 2 * csv_size):.2f} x (frame + 2 x CSV)"
    )
    print("floor (pyarrow):")
    for phase in ("write CSV", "read CSV", "join"):
        print(f"  {phase:<18} {median(floors, phase):8.3f}")
    base = median(floors, "total")
    print(
        f"  {'total':<18} {base:8.3f}   (CPU {median(floors, 'total cpu'):.3f} s; "
        f"peak memory {median(floors, 'peak') / mb:,.1f} MB)"
    )
    fastest, fastest_floor = least(matches, "client"), least(floors, "total")
    print(
        f"ratios: client / floor = {client / base:.2f} of the medians, "
        f"{fastest / fastest_floor:.2f} of the minimums ({fastest:.3f} s / {fastest_floor:.3f} s), "
        f"{cpu / median(floors, 'total cpu'):.2f} in CPU time (goal <= 1.5)"
    )
    if not naives:
        return
    print("naive (pandas + requests):")
    for phase in ("to_csv", "requests.put", "requests.get", "read_csv", "merge"):
        print(f"  {phase:<18} {median(naives, phase):8.3f}")
    slow = median(naives, "total")
    print(f"  {'total':<18} {slow:8.3f}")
    print(f"ratio: naive / client = {slow / client:.1f} (goal >= 5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each path (medians shown)")
    parser.add_argument(
        "--naive-runs", type=int, default=None, help="runs of the naive path (0: none)"
    )
    parser.add_argument("--max-matches", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=("match", "floor", "naive"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.client:
        reach = json.loads(sys.stdin.read())
        print(json.dumps(run_client(args.client, args.rows, reach, args.max_matches)))
        return

    with tempfile.TemporaryDirectory() as home, service_process() as reach:
        os.environ["SMARTMATCH_HOME"] = home  # the children's job store: thrown away
        matches, floors, naives = [], [], []
        for _ in range(args.runs):
            matches.append(in_child("match", args.rows, reach, args.max_matches))
            floors.append(in_child("floor", args.rows, reach, args.max_matches))
        for _ in range(args.runs if args.naive_runs is None else args.naive_runs):
            naives.append(in_child("naive", args.rows, reach, args.max_matches))
    load = os.getloadavg()[0]
    print(
        f"command: {' '.join(['python -m benchmarks.roundtrip', *sys.argv[1:]])}; "
        f"load average at the end {load:.1f} on {os.cpu_count()} cores"
    )
    report(args.rows, matches, floors, naives)


if __name__ == "__main__":
    main()
