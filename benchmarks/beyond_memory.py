"""``smartmatch-pandas match`` on a contact list larger than the memory its process may use.

Writes a CRM export (benchmarks/contacts.py: nine identifier columns and a
CRM's other columns, some 1,300 bytes a row) of at least twice the memory
allowed, as CSV or Parquet, in pieces; starts the local service in a process
of its own (no limit; its quick matcher, as in benchmarks/roundtrip.py); then
runs ``smartmatch-pandas match FILE -o OUTPUT`` in a process whose address
space is capped with ``RLIMIT_AS`` (``prlimit``, ``ulimit -v``), and checks
every row of the output against the input and the voter the matcher gave it.
With ``--in-memory-too``, the same command with ``--in-memory`` runs under the
same cap, to show that holding the list would not fit.

Arrow's default allocator (mimalloc) reserves address space far beyond what
it uses, so under an address-space cap the process runs with
``ARROW_DEFAULT_MEMORY_POOL=system`` (the C library's allocator);
``MALLOC_ARENA_MAX=2`` keeps glibc from reserving an arena per thread, and
``MALLOC_MMAP_THRESHOLD_=131072`` has it map every buffer over 128 KiB on its
own and give it back when freed (by default glibc raises that threshold as
buffers come and go, and a stream of batch-sized buffers then piles up in
its heap).

    .venv/bin/python -m benchmarks.beyond_memory --limit-mb 1024
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchmarks.contacts import crm_export
from benchmarks.roundtrip import VOTERS, expected_voter, service_process

#: Rows written per piece of the big file.
PIECE = 250_000


def write_big_file(path: Path, size: int) -> int:
    """A CRM export of at least ``size`` bytes at ``path``, written piece by piece; its rows."""
    from smartmatch_pandas.local import VoterFile

    voters = VoterFile.generate(VOTERS, 0)
    rows, writer = 0, None
    try:
        while not path.exists() or path.stat().st_size < size:
            piece = crm_export(PIECE, seed=rows // PIECE, voters=voters)
            ids = pa.array(np.arange(rows, rows + PIECE)).cast(pa.string())
            piece = piece.set_column(0, "crm_id", ids)  # the row's number, to check the output
            if writer is None:
                writer = (
                    pq.ParquetWriter(path, piece.schema)
                    if path.suffix == ".parquet"
                    else pacsv.CSVWriter(path, piece.schema)
                )
            writer.write_table(piece)  # on disk at once (a Parquet row group too)
            rows += PIECE
    finally:
        if writer is not None:
            writer.close()
    return rows


#: Runs the command line, then says its peak resident memory (VmHWM; the kernel's
#: ru_maxrss would count the parent's memory at the fork).
_CLI = """
import atexit, re, sys
from pathlib import Path
from smartmatch_pandas.cli import main
def peak():
    found = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())
    print(f"peak={int(found[1]) * 1024}", file=sys.stderr)
atexit.register(peak)
sys.exit(main(sys.argv[1:]))
"""


def run_capped(arguments: list[str], limit: int, env: dict[str, str]) -> dict[str, Any]:
    """Run ``smartmatch-pandas ARGUMENTS`` with its address space capped at ``limit``
    bytes: exit status, seconds, peak resident memory, and the end of its errors."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CLI, *arguments],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=cap,
        check=False,
    )
    found = re.findall(r"^peak=(\d+)$", child.stderr, re.MULTILINE)
    return {
        "status": child.returncode,
        "seconds": time.perf_counter() - start,
        "peak": int(found[-1]) if found else None,
        "errors": child.stderr[-600:],
    }


def check_output(source: Path, output: Path, rows: int) -> None:
    """Every row of ``output`` is its input row, in order, with the voter it was given."""
    from smartmatch_pandas.files.tables import TableFile
    from smartmatch_pandas.local import VoterFile

    ids = VoterFile.generate(VOTERS, 0).table["voterbase_id"].to_numpy(zero_copy_only=False)
    given = TableFile(source).batches(["crm_id", "First Name", "ZIP"])
    pending: pa.Table | None = None
    seen = 0
    for batch in TableFile(output).batches(["crm_id", "First Name", "ZIP", "vb.voterbase_id"]):
        n = batch.num_rows
        while pending is None or pending.num_rows < n:
            more = next(given)
            pending = more if pending is None else pa.concat_tables([pending, more])
        expected, pending = pending.slice(0, n), pending.slice(n)
        for name in ("crm_id", "First Name", "ZIP"):
            got = batch.column(name).cast(pa.string()).combine_chunks()
            assert got.equals(expected[name].combine_chunks()), f"{name} moved or changed"
        positions = np.arange(seen, seen + n)
        voter = np.where(positions % 4 != 3, ids[expected_voter(positions, len(ids))], None)
        got_voter = batch.column("vb.voterbase_id").to_numpy(zero_copy_only=False)
        assert (got_voter == voter).all(), "a row has the wrong voter"
        seen += n
    assert seen == rows, f"{seen:,} rows written of {rows:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit-mb", type=int, default=1024, help="the cap on address space")
    parser.add_argument("--times", type=float, default=2.0, help="file size / the cap")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--output", choices=("csv", "parquet"), default="parquet")
    parser.add_argument("--in-memory-too", action="store_true")
    args = parser.parse_args()
    limit = args.limit_mb << 20

    with tempfile.TemporaryDirectory(prefix="smartmatch-beyond-") as folder:
        work = Path(folder)
        source, output = work / f"contacts.{args.format}", work / f"enriched.{args.output}"
        start = time.perf_counter()
        rows = write_big_file(source, int(args.times * limit))
        size = source.stat().st_size
        print(f"input: {rows:,} rows, {size / 2**20:,.0f} MiB of {args.format.upper()} "
              f"({size / limit:.2f} x the cap of {args.limit_mb:,} MiB), written in "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        with service_process() as reach:
            env = {
                **os.environ,
                "SMARTMATCH_BASE_URL": reach["base_url"],
                "TS_API_KEY": reach["api_key"],
                "SMARTMATCH_POLL_INTERVAL": "0.5",
                "SMARTMATCH_HOME": str(work / "home"),
                "ARROW_DEFAULT_MEMORY_POOL": "system",
                "MALLOC_ARENA_MAX": "2",
                "MALLOC_MMAP_THRESHOLD_": "131072",
            }
            command = ["match", str(source), "-o", str(output), "--no-progress"]
            streamed = run_capped(command, limit, env)
            if streamed["status"] != 0:
                raise SystemExit(f"the streamed match failed:\n{streamed['errors']}")
            print(f"streamed: done in {streamed['seconds']:.0f} s; peak resident memory "
                  f"{streamed['peak'] / 2**20:,.0f} MiB under the cap of {args.limit_mb:,} MiB "
                  f"of address space; output {output.stat().st_size / 2**20:,.0f} MiB")  # fmt: skip
            check_output(source, output, rows)
            print(f"output checked: all {rows:,} rows in order, each with its voter")
            if args.in_memory_too:
                output.unlink()
                held = run_capped([*command, "--in-memory"], limit, env)
                said = [x for x in held["errors"].splitlines() if x and not x.startswith("peak=")]
                last = said[-1:] or ["(no message)"]
                print(f"in memory, under the same cap: exit status {held['status']} after "
                      f"{held['seconds']:.0f} s: {last[0]}")  # fmt: skip


if __name__ == "__main__":
    main()
