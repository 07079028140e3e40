"""The client's own time of ``match()`` in two checkouts of the package, in the same run.

Runs :mod:`benchmarks.roundtrip`'s ``match`` and ``floor`` measurements, each in
a fresh process, alternating between the checkouts given (each with its own
``benchmarks/roundtrip.py`` and package on ``PYTHONPATH``) against one local
service, so that the load of the machine falls on all of them alike. Prints,
per checkout, the medians and minimums of the client's total and of the floor,
and the ratios between checkouts and to the floor. Talks to 127.0.0.1 only.

    python -m benchmarks.compare_trees --rows 200000 --runs 5 /work/wt-base /work/wt-new
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.roundtrip import service_process


def measured(tree: Path, kind: str, rows: int, reach: dict[str, Any]) -> dict[str, Any]:
    """One ``--client`` run of ``tree``'s roundtrip benchmark, on ``tree``'s package."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.roundtrip", "--client", kind, "--rows", str(rows)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        input=json.dumps(reach),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"the {kind} run of {tree} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts to compare")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    clients: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    cpus: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    floors: list[float] = []
    floor_cpus: list[float] = []
    with tempfile.TemporaryDirectory() as home, service_process() as reach:
        os.environ["SMARTMATCH_HOME"] = home  # the children's job store: thrown away
        for _ in range(args.runs):
            for tree in args.trees:
                figures = measured(tree, "match", args.rows, reach)
                clients[tree].append(figures["client"])
                cpus[tree].append(figures["client cpu"])
            floor = measured(args.trees[-1], "floor", args.rows, reach)
            floors.append(floor["total"])
            floor_cpus.append(floor["total cpu"])
    load = os.getloadavg()[0]
    print(
        f"command: python -m benchmarks.compare_trees {' '.join(sys.argv[1:])}; "
        f"load average at the end {load:.1f} on {os.cpu_count()} cores"
    )
    floor_median, floor_min = statistics.median(floors), min(floors)
    print(
        f"{args.rows:,} rows, {args.runs} runs each, seconds; floor (pyarrow): median "
        f"{floor_median:.3f} (CPU {statistics.median(floor_cpus):.3f}), min {floor_min:.3f}"
    )
    first = args.trees[0]
    for tree in args.trees:
        median, least = statistics.median(clients[tree]), min(clients[tree])
        versus = statistics.median(clients[first])
        print(
            f"  {tree!s:<28} client total: median {median:.3f} (CPU "
            f"{statistics.median(cpus[tree]):.3f}), min {least:.3f}; / floor: "
            f"{median / floor_median:.2f} (medians), {least / floor_min:.2f} (minimums); "
            f"/ {first.name}: {median / versus:.2f}"
        )


if __name__ == "__main__":
    main()
