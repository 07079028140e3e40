"""What the job store costs and what the result cache saves, on the local service.

Prints:
- the store's bookkeeping per poll (claim + record, each a locked, fsynced
  write), against one poll request to the local service in the same run;
- a re-run served from the result cache, against the fresh match it repeats;
- the cached result's size, against the deliverable and the user's frame.

Talks to 127.0.0.1 only; uses a temporary job store.

    python benchmarks/job_store.py --rows 20000
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import smartmatch_pandas as sm
from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.wire.http import SmartMatchClient


def timed(call: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="contacts matched")
    parser.add_argument("--polls", type=int, default=200, help="poll cycles timed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["SMARTMATCH_HOME"] = home
        with LocalService(poll_interval=0.0001, voters=200_000) as service:
            frame = sample_contacts(service.voters, args.rows, seed=1)
            frame = frame.drop(columns="true_voterbase_id")
            settings = {**service.settings, "progress": False}

            start = time.perf_counter()
            job = sm.submit(frame, max_matches=3, **settings)
            job.wait(progress=False).result()
            fresh = time.perf_counter() - start
            again = timed(lambda: sm.match(frame, max_matches=3, **settings), 3)

            store = JobStore()

            def bookkeeping() -> None:
                store.take_poll_turn("bench/key", job.filename, 0.0)
                store.poll_answered("bench/key", job.filename, 0.0, done=False)
                store.polled(job.filename, 0.0)

            cycle = timed(bookkeeping, args.polls)
            with SmartMatchClient(service.api_key, service.base_url) as client:
                poll = timed(lambda: client.poll(job.filename), args.polls)

            cached = next(Path(home, "results").glob("*.parquet")).stat().st_size
            deliverable = len(job.download())
            user_frame = io.BytesIO()
            frame.to_parquet(user_frame)

    print(f"rows matched: {args.rows:,} (max_matches=3)")
    print(
        f"store bookkeeping per poll: {cycle * 1e3:.2f} ms; one local poll request: "
        f"{poll * 1e3:.2f} ms; ratio {cycle / poll:.2f} (TargetSmart allows one poll per 30 s)"
    )
    print(
        f"fresh match: {fresh:.2f} s; re-run from the cache: {again:.3f} s; "
        f"{fresh / again:.0f}x faster, 0 requests"
    )
    print(
        f"cached result: {cached / 1e6:.2f} MB; the deliverable: {deliverable / 1e6:.2f} MB; "
        f"the frame as Parquet: {user_frame.tell() / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
