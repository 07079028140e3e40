"""How the local service's voter file scales: build, cache, index and match, at N people.

Each size runs in a child process of its own, so its time and peak memory are its
own. A baseline size is measured first in the same run, and every figure of the
large size is printed beside it with their ratio per person (1.00: linear), so a
reading taken on a busy machine is still comparable with the next one.

Prints, per size: the build, the read back from the cache, the index, the match of
a noisy contact list, rows matched and matched right, and the peak memory.

    python benchmarks/voter_file_scale.py                        # 5,000,000 vs 250,000
    python benchmarks/voter_file_scale.py --people 1000000 --baseline 100000

The default run takes a few minutes and about 10 GB at peak (the index).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = """
import json, resource, sys, time
from smartmatch_pandas.local import LinkageMatcher, VoterFile, sample_contacts

people, rows = int(sys.argv[1]), int(sys.argv[2])
started = time.perf_counter()
voters = VoterFile.generate(people, seed=0)
built = time.perf_counter()
again = VoterFile.generate(people, seed=0)
loaded = time.perf_counter()
same = voters.table.equals(again.table)
del voters  # a service holds one copy
matcher = LinkageMatcher(again)
indexed = time.perf_counter()
contacts = sample_contacts(again, rows, seed=1)
truth = contacts.pop("true_voterbase_id").to_numpy(object)
sampled = time.perf_counter()
found = matcher.match(contacts, 3)
matched = time.perf_counter()
best = found.rank == 1
ids = again.table.column("voterbase_id").take(found.person[best]).to_pylist()
right = sum(a == b for a, b in zip(ids, truth[found.row[best]]))
print(json.dumps({
    "people": len(again), "same": same,
    "build_s": built - started, "load_s": loaded - built, "index_s": indexed - loaded,
    "match_s": matched - sampled, "rows": len(contacts), "matched": int(best.sum()),
    "right": right, "in_file": int(sum(t is not None for t in truth)),
    "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
"""

#: Figures that grow with the voter file, compared per person.
PER_PERSON = ("build_s", "load_s", "index_s", "peak_bytes")


def measure(people: int, rows: int) -> dict[str, float]:
    """The figures of one size, from a child process with a cache folder of its own."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SMARTMATCH_VOTERFILE_CACHE": cache}
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(people), str(rows)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if run.returncode != 0:
        raise SystemExit(f"{people:,} people failed:\n{run.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    return figures


def show(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:>9} {figures['people']:>11,.0f} people: build {figures['build_s']:6.1f} s, "
        f"cache read {figures['load_s']:5.1f} s, index {figures['index_s']:6.1f} s, "
        f"match {figures['rows']:,.0f} rows {figures['match_s']:5.1f} s, "
        f"peak {figures['peak_bytes'] / 2**30:5.2f} GiB; matched {figures['matched']:,.0f}, "
        f"right {figures['right'] / max(1, figures['matched']):.2%}, same after cache: "
        f"{bool(figures['same'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5_000_000, help="the voter file measured")
    parser.add_argument("--baseline", type=int, default=250_000, help="the size compared with")
    parser.add_argument("--rows", type=int, default=10_000, help="contacts matched at each size")
    args = parser.parse_args()

    baseline = measure(args.baseline, args.rows)
    show("baseline", baseline)
    large = measure(args.people, args.rows)
    show("measured", large)
    scale = large["people"] / baseline["people"]
    print(f"per person, {args.people:,} against {args.baseline:,} (1.00: linear):")
    for name in PER_PERSON:
        print(f"  {name:>10}: {large[name] / baseline[name] / scale:5.2f}")
    print(f"  match time for the same rows: {large['match_s'] / baseline['match_s']:5.2f} x")


if __name__ == "__main__":
    main()
