"""A large Parquet file matched through pandas, through Polars (lazily scanned) and through a
pyarrow dataset: time and peak memory of each.

Writes a contact list (benchmarks/contacts.py: nine identifier columns and a
CRM id) of ``--rows`` rows to Parquet, in pieces; starts the local service in a
process of its own (its quick matcher, as in benchmarks/roundtrip.py); then
matches the file in a fresh process per way, one after the other:

- ``pandas``: ``pd.read_parquet(path)``, then ``smartmatch_pandas.match(df)``
  (the baseline);
- ``polars-lazy``: ``pl.scan_parquet(path).smartmatch.match()``, the query
  streamed into the upload;
- ``arrow-dataset``: ``smartmatch_pandas.match(ds.dataset(path).scanner().to_reader())``;
- ``arrow-100-row-batches``: the file read with ``pq.read_table`` and matched as a
  ``RecordBatchReader`` of 100-row batches (gathered into batches of the usual size as
  they are read: about as fast as the dataset's reader; the time includes the read).

Each prints its seconds (reading included) and its peak resident memory
(``VmHWM``), beside the pandas way's, and the size of what it returned; each
result is checked: every row in the file's order (by its CRM id).

    .venv/bin/python -m benchmarks.frames --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.contacts import contact_table
from benchmarks.roundtrip import VOTERS, service_process

#: Rows written per piece of the file (one row group each).
PIECE = 500_000
#: The ways a list is matched, in the order they run; the first is the baseline.
WAYS = ("pandas", "polars-lazy", "arrow-dataset", "arrow-100-row-batches")


def write_file(path: Path, rows: int) -> None:
    """A contact list of ``rows`` rows at ``path``, written piece by piece."""
    from smartmatch_pandas.local import VoterFile

    voters = VoterFile.generate(VOTERS, 0)
    with pq.ParquetWriter(path, contact_table(1, voters=voters).schema) as writer:
        for start in range(0, rows, PIECE):
            piece = contact_table(min(PIECE, rows - start), seed=start // PIECE, voters=voters)
            ids = pa.array([f"C{i:09d}" for i in range(start, start + piece.num_rows)])
            writer.write_table(piece.set_column(0, "crm_id", ids))


def match_one_way(way: str, path: Path) -> dict[str, Any]:
    """Match the file at ``path`` one way, in this process (the service named by the
    environment): seconds, rows, bytes returned."""
    import smartmatch_pandas as sm

    settings = {"progress": False, "cache": False}
    start = time.perf_counter()
    if way == "pandas":
        import pandas as pd

        out = sm.match(pd.read_parquet(path), **settings)
        ids, size = out["crm_id"], int(out.memory_usage(deep=True).sum())
    elif way == "polars-lazy":
        import polars as pl

        out = pl.scan_parquet(path).smartmatch.match(**settings)
        ids, size = out["crm_id"].to_arrow(), int(out.estimated_size())
    elif way == "arrow-100-row-batches":
        table = pq.read_table(path)
        batches = table.to_batches(max_chunksize=100)
        out = sm.match(pa.RecordBatchReader.from_batches(table.schema, batches), **settings)
        ids, size = out["crm_id"], int(out.nbytes)
    else:
        import pyarrow.dataset as ds

        out = sm.match(ds.dataset(path).scanner().to_reader(), **settings)
        ids, size = out["crm_id"], int(out.nbytes)
    seconds = time.perf_counter() - start
    expected = pa.array([f"C{i:09d}" for i in range(len(ids))])
    in_order = pa.chunked_array([pa.array(ids)]).cast(pa.string()).combine_chunks()
    assert in_order.equals(expected), f"{way}: rows moved"
    return {"seconds": seconds, "rows": len(ids), "returned": size}


def in_child(way: str, path: Path, reach: dict[str, Any], home: Path) -> dict[str, Any]:
    """:func:`match_one_way` in a process of its own, with its peak resident memory."""
    code = (
        "import json, re, sys\n"
        "from pathlib import Path\n"
        "from benchmarks.frames import match_one_way\n"
        "done = match_one_way(sys.argv[1], Path(sys.argv[2]))\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text())\n"
        "print(json.dumps({**done, 'peak': int(hwm[1]) * 1024}))\n"
    )
    env = {  # the key in the environment, never on a command line others may read
        **os.environ,
        "SMARTMATCH_HOME": str(home / way),
        "SMARTMATCH_BASE_URL": reach["base_url"],
        "TS_API_KEY": reach["api_key"],
        "SMARTMATCH_POLL_INTERVAL": str(reach["poll_interval"]),
    }
    child = subprocess.run(
        [sys.executable, "-c", code, way, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode:
        raise SystemExit(f"{way} failed:\n{child.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the Parquet file")
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartmatch-frames-") as folder:
        work = Path(folder)
        path = work / "contacts.parquet"
        write_file(path, args.rows)
        held = pq.read_table(path).nbytes
        print(f"input: {args.rows:,} rows of Parquet, {path.stat().st_size / 2**20:,.0f} MiB "
              f"on disk, {held / 2**20:,.0f} MiB as Arrow in memory")  # fmt: skip
        with service_process() as reach:
            results = {way: in_child(way, path, reach, work) for way in args.ways}
    base = results.get("pandas")
    for way, done in results.items():
        versus = ""
        if base is not None and way != "pandas":
            versus = (f" ({done['peak'] / base['peak']:.2f} x the memory, "
                      f"{done['seconds'] / base['seconds']:.2f} x the time of pandas)")  # fmt: skip
        print(f"{way:>13}: {done['seconds']:6.1f} s, peak resident memory "
              f"{done['peak'] / 2**20:7,.0f} MiB, returned {done['returned'] / 2**20:,.0f} MiB"
              f"{versus}")  # fmt: skip


if __name__ == "__main__":
    main()
