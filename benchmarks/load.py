"""Load: many clients submitting and polling the local service at once, on 127.0.0.1.

Each client is a thread of its own, with its own SmartMatchClient (its own
connection pools), that submits a job, waits for it within the rate limit
and merges its result, as ``match()`` does. First one client alone (the
baseline), then all of them together; printed: jobs completed, lost and
failed, wall time, throughput, and latency percentiles per exchange and per
job, with the ratio of the loaded p50 to the lone one. Bounded: every wait
has a timeout, and the run stops after ``--timeout`` seconds whatever happens.

    python -m benchmarks.load --clients 50 --rows 200

Talks to 127.0.0.1 only; uses a temporary job store.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import smartmatch_pandas as sm
from smartmatch_pandas.job.store import JobStore
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.wire.http import SmartMatchClient

EXCHANGES = ("register", "upload", "poll", "download")


@dataclass
class Load:
    """What a load run saw."""

    clients: int
    rows: int
    wall: float
    latencies: dict[str, list[float]]
    completed: int
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    service: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(len(self.latencies[name]) for name in EXCHANGES)

    def p50(self, name: str) -> float:
        return float(np.percentile(self.latencies[name], 50)) if self.latencies[name] else 0.0


@contextmanager
def timed_exchanges() -> Iterator[dict[str, list[float]]]:
    """Time every register/upload/poll/download any SmartMatchClient makes (seconds)."""
    latencies: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    originals = {name: getattr(SmartMatchClient, name) for name in EXCHANGES}

    def timing(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                with lock:
                    latencies[name].append(time.perf_counter() - start)

        return call

    for name, method in originals.items():
        setattr(SmartMatchClient, name, timing(name, method))
    try:
        yield latencies
    finally:
        for name, method in originals.items():
            setattr(SmartMatchClient, name, method)


def run_load(
    service: LocalService,
    clients: int,
    rows: int,
    *,
    timeout: float = 120.0,
    seed: int = 0,
) -> Load:
    """``clients`` threads each match a list of ``rows`` contacts against ``service``."""
    frames = [
        sample_contacts(service.voters, rows, seed=seed * 10_000 + i).drop(
            columns="true_voterbase_id"
        )
        for i in range(clients)
    ]
    errors: list[str] = []
    filenames: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + timeout
    before = dict(service.stats)

    def client(frame: pd.DataFrame) -> float:
        start = time.perf_counter()
        try:
            job = sm.submit(frame, **service.settings, progress=False, cache=False)
            with lock:
                filenames.append(job.filename)
            left = max(1.0, deadline - time.monotonic())
            result = job.wait(timeout=left, progress=False).result()
            if len(result.frame) != len(frame):
                raise AssertionError(f"{job.filename}: {len(result.frame)} rows back")
        except Exception as exc:  # every failure is counted, none stops the others
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            raise
        return time.perf_counter() - start

    with timed_exchanges() as latencies, ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        futures = [pool.submit(client, frame) for frame in frames]
        done, pending = wait(futures, timeout=timeout + 30)
        wall = time.perf_counter() - start
        for future in pending:
            future.cancel()
            errors.append("a client did not finish in time")
        jobs = [f.result() for f in done if f.exception() is None]
    latencies["job"] = jobs
    states = {r.filename: r.state for r in JobStore().records()}
    lost = [name for name in filenames if states.get(name) != "downloaded"]
    after = service.stats
    change = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return Load(clients, rows, wall, dict(latencies), len(jobs), errors, lost, change)


def report(alone: Load, loaded: Load, poll_interval: float) -> str:
    """The figures, as printed."""
    lines = [
        f"{loaded.clients} clients x 1 job of {loaded.rows:,} rows at once; the service polls "
        f"every {poll_interval:g} s per job; 127.0.0.1",
        f"jobs: {loaded.clients} submitted, {loaded.completed} completed, {len(loaded.lost)} "
        f"lost, {len(loaded.errors)} unexpected errors",
        f"wall time {loaded.wall:.2f} s: {loaded.completed / loaded.wall:.1f} jobs/s, "
        f"{loaded.completed * loaded.rows / loaded.wall:,.0f} rows/s, "
        f"{loaded.requests / loaded.wall:.0f} requests/s ({loaded.requests:,} requests)",
        "",
        f"{'latency (ms)':<18}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"
        f"{'alone p50':>11}{'ratio':>7}",
    ]
    for name in [*EXCHANGES, "job"]:
        values = np.array(loaded.latencies.get(name, [])) * 1000
        if not len(values):
            continue
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        lone = alone.p50(name) * 1000
        ratio = p50 / lone if lone else float("nan")
        label = "job, end to end" if name == "job" else name
        lines.append(
            f"{label:<18}{len(values):>6}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{values.max():>9.1f}"
            f"{lone:>11.1f}{ratio:>7.2f}"
        )
    service = loaded.service
    lines += [
        "",
        "service: "
        + ", ".join(
            f"{name.replace('_', ' ')} {service.get(name, 0):,}"
            for name in (
                "registrations",
                "uploads",
                "polls",
                "rate_limit_violations",
                "downloads",
                "jobs_done",
                "jobs_failed",
                "internal_errors",
            )
        ),
    ]
    for error in loaded.errors[:5]:
        lines.append(f"error: {error}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="clients at once")
    parser.add_argument("--rows", type=int, default=200, help="contacts per job")
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--voters", type=int, default=200_000, help="people in the voter file")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the run may take")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["SMARTMATCH_HOME"] = home
        with LocalService(poll_interval=args.poll_interval, voters=args.voters) as service:
            alone = run_load(service, 1, args.rows, timeout=args.timeout, seed=1)
            loaded = run_load(service, args.clients, args.rows, timeout=args.timeout, seed=2)
    print(report(alone, loaded, args.poll_interval))


if __name__ == "__main__":
    main()
