"""A large Parquet list matched through Dask on a local cluster of two workers, beside pandas.

Writes a contact list of N rows (benchmarks/contacts.py) as a folder of Parquet
files of 250,000 rows each; starts the local service in a process of its own
(the quick matcher of benchmarks/roundtrip.py, so the client is what is timed);
then, each in a fresh process, with the same list and options:

- **pandas**: ``pd.read_parquet`` the folder, ``df.smartmatch.match()``, write the
  enriched frame to Parquet;
- **dask**: ``dd.read_parquet`` the folder on a ``LocalCluster`` of two worker
  processes (one thread each), ``ddf.smartmatch.match()`` (one job; the
  upload and the wait on the client), then ``to_parquet`` (the merge on the
  workers, each reading its partition's piece).

Time is the wall time from reading to the enriched list written (the cluster's
start-up excluded, and said). Memory is sampled every 50 ms with psutil over
the process tree: the client process, the workers (every process under it:
nannies and workers), and their sum; each figure is the peak of that sum,
resident memory, the interpreter and libraries included; "above its start" is
the client's peak less what it held once its libraries were imported (and,
for Dask, its cluster connected). The two outputs are
compared row by row (``vb.voterbase_id`` and ``tsmart_match_code``).

    .venv/bin/python -m benchmarks.dask_frames --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq

from benchmarks.contacts import contact_table
from benchmarks.roundtrip import VOTERS, service_process

#: Rows per Parquet file of the list (a Dask partition each).
PIECE = 250_000
_MB = 1024 * 1024


def write_list(folder: Path, rows: int) -> None:
    """The contact list, ``rows`` rows, as Parquet files of :data:`PIECE` rows."""
    from smartmatch_pandas.local import VoterFile

    voters = VoterFile.generate(VOTERS, 0)
    folder.mkdir()
    for k, start in enumerate(range(0, rows, PIECE)):
        table = contact_table(min(PIECE, rows - start), seed=k, voters=voters)
        pq.write_table(table, folder / f"part-{k:04d}.parquet")


def run_pandas(source: str, output: str, reach: dict[str, Any]) -> dict[str, float]:
    import pandas as pd

    import smartmatch_pandas  # noqa: F401

    baseline = psutil.Process().memory_info().rss / _MB
    started = time.perf_counter()
    df = pd.read_parquet(source)
    enriched = df.smartmatch.match(**reach, progress=False)
    enriched.to_parquet(output)
    return {"seconds": time.perf_counter() - started, "client_start_mb": baseline}


def run_dask(source: str, output: str, reach: dict[str, Any]) -> dict[str, float]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import smartmatch_pandas  # noqa: F401

    up = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        baseline = psutil.Process().memory_info().rss / _MB
        started = time.perf_counter()
        ddf = dd.read_parquet(source)
        enriched = ddf.smartmatch.match(**reach, progress=False)
        matched = time.perf_counter()
        # Numbered to sort as they are ordered (part.10 would come before part.2).
        enriched.to_parquet(output, write_index=False, name_function=lambda k: f"{k:05d}.parquet")
        done = time.perf_counter()
        partitions = ddf.npartitions
    return {
        "seconds": done - started,
        "client": matched - started,
        "workers": done - matched,
        "startup": started - up,
        "partitions": partitions,
        "client_start_mb": baseline,
    }


class TreeMemory:
    """Peak resident memory of a process and of the processes under it, sampled."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.client = self.workers = self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(every,), daemon=True)
        self._thread.start()

    def _sample(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                client = self.root.memory_info().rss
                workers = sum(_rss(p) for p in self.root.children(recursive=True))
            except psutil.NoSuchProcess:
                return
            self.client = max(self.client, client)
            self.workers = max(self.workers, workers)
            self.total = max(self.total, client + workers)
            self._stop.wait(every)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {
            "client_mb": self.client / _MB,
            "workers_mb": self.workers / _MB,
            "total_mb": self.total / _MB,
        }


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def in_child(path: str, source: Path, output: Path, reach: dict[str, Any]) -> dict[str, float]:
    """One path, in a fresh process, its process tree's memory sampled."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.dask_frames",
            "--client",
            path,
            str(source),
            str(output),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    memory = TreeMemory(child.pid)
    out, _ = child.communicate(json.dumps(reach), timeout=3600)
    figures: dict[str, float] = {**json.loads(out.strip().splitlines()[-1]), **memory.stop()}
    if child.returncode:
        raise SystemExit(f"the {path} path failed ({child.returncode})")
    return figures


def same_results(a: Path, b: Path) -> int:
    """Rows of the two outputs, checked equal in their appended match columns."""
    columns = ["vb.voterbase_id", "tsmart_match_code"]
    left, right = pq.read_table(a, columns=columns), pq.read_table(b, columns=columns)
    assert left.num_rows == right.num_rows, (left.num_rows, right.num_rows)
    for name in columns:
        assert left[name].equals(right[name].cast(left[name].type)), name
    return left.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        path, source, output = args.client
        reach = json.loads(sys.stdin.read())
        run = run_pandas if path == "pandas" else run_dask
        print(json.dumps(run(source, output, reach)))
        return

    with tempfile.TemporaryDirectory() as work, service_process() as reach:
        os.environ["SMARTMATCH_HOME"] = str(Path(work) / "home")  # the children's job store
        source = Path(work) / "list"
        write_list(source, args.rows)
        size = sum(f.stat().st_size for f in source.iterdir()) / _MB
        # cache=False: the second path is a job of its own, not the first one's result.
        reach = {**reach, "cache": False}
        pandas = in_child("pandas", source, Path(work) / "pandas.parquet", reach)
        dask = in_child("dask", source, Path(work) / "dask", reach)
        rows = same_results(Path(work) / "pandas.parquet", Path(work) / "dask")
    load = os.getloadavg()[0]
    print(f"load average at the end {load:.1f} on {os.cpu_count()} cores")
    print(
        f"{rows:,} rows, {size:,.1f} MB of Parquet in {dask['partitions']:.0f} files; "
        "the same results on both paths"
    )
    print(
        f"{'path':<8}{'time':>10}{'client peak':>14}{'above its start':>17}"
        f"{'workers peak':>15}{'total peak':>13}"
    )
    for name, f in (("pandas", pandas), ("dask", dask)):
        workers = f"{f['workers_mb']:,.0f} MB" if name == "dask" else "-"
        above = f["client_mb"] - f["client_start_mb"]
        print(
            f"{name:<8}{f['seconds']:>9.1f}s{f['client_mb']:>11,.0f} MB{above:>14,.0f} MB"
            f"{workers:>15}{f['total_mb']:>10,.0f} MB"
        )
    print(
        f"dask: {dask['client']:.1f} s on the client (partitions read, upload, wait, "
        f"deliverable cut into pieces), {dask['workers']:.1f} s merging and writing on the "
        f"workers; cluster start-up {dask['startup']:.1f} s, not counted"
    )
    print(
        f"ratios: dask / pandas time {dask['seconds'] / pandas['seconds']:.2f}, "
        f"client peak {dask['client_mb'] / pandas['client_mb']:.2f}, "
        f"total peak {dask['total_mb'] / pandas['total_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
