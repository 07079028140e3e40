"""What typing the appended voter fields costs (``typed=True``), against reading them as text.

Writes a result's appended columns as the service appends them (text: ages, dates of
birth, scores, latitudes and longitudes, party, gender, registration status, state,
ids, names, ZIP codes; one value in a thousand that does not fit) to a Parquet file,
then, in the same run:

- the baseline: reading those columns as text (``pandas.read_parquet``), as
  ``typed=False`` hands them over;
- typed: the same read, then ``type_columns`` on every column;

checks the misfits counted, and prints the figures and the ratio.

    .venv/bin/python -m benchmarks.typed_fields                  # 1,000,000 rows
    .venv/bin/python -m benchmarks.typed_fields --rows 100000    # quicker
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smartmatch_pandas.deliverable import TEXT_DTYPE, type_columns

#: One value in this many is one that does not fit its type.
MISFIT_EVERY = 1000


def appended(rows: int, seed: int = 0) -> pa.Table:
    """``rows`` of appended voter fields as text, as a deliverable holds them."""
    rng = np.random.default_rng(seed)
    born = np.datetime64("1930-01-01") + rng.integers(0, 27_000, rows).astype("timedelta64[D]")

    def text(values: np.ndarray | pa.Array) -> pa.Array:
        return pc.cast(pa.array(values), pa.large_string())

    def pick(*choices: str) -> pa.Array:
        return pa.array(choices, pa.large_string()).take(rng.integers(0, len(choices), rows))

    ages = text(rng.integers(18, 99, rows))
    bad = pa.array(np.arange(rows) % MISFIT_EVERY == 0)
    return pa.table(
        {
            "vb.voterbase_id": text(rng.integers(10**11, 10**12, rows)),
            "vb.tsmart_first_name": pick("Ann", "Bob", "Carmen", "Dmitri", "Eve"),
            "vb.tsmart_last_name": pick("Smith", "Garcia", "Nguyen", "Okafor"),
            "vb.tsmart_state": pick("CA", "TX", "NY", "FL", "PA", "OH"),
            "vb.tsmart_zip": text(rng.integers(10_000, 99_999, rows)),
            "vb.tsmart_latitude": text(np.round(rng.uniform(25, 49, rows), 6)),
            "vb.tsmart_longitude": text(np.round(rng.uniform(-124, -67, rows), 6)),
            "vb.voterbase_age": pc.if_else(bad, pa.scalar("n/a", pa.large_string()), ages),
            "vb.voterbase_dob": pc.strftime(pa.array(born), "%Y%m%d").cast(pa.large_string()),
            "vb.voterbase_gender": pick("F", "M", "U"),
            "vb.voterbase_registration_status": pick("Registered", "Unregistered"),
            "vb.vf_party": pick("Democrat", "Republican", "Independent", "Green"),
            "vb.tsmart_partisan_score": text(np.round(rng.uniform(0, 100, rows), 1)),
        }
    )


def read_text(path: Path) -> pd.DataFrame:
    """The columns as ``typed=False`` hands them over: text."""
    return pd.read_parquet(path).astype(TEXT_DTYPE)


def timed(path: Path, typed: bool, runs: int) -> tuple[float, dict[str, int]]:
    best, misfits = float("inf"), {}
    for _ in range(runs):
        start = time.perf_counter()
        frame = read_text(path)
        if typed:
            frame, misfits = type_columns(frame, frame.columns)
        best = min(best, time.perf_counter() - start)
    return best, misfits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = appended(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "appended.parquet"
        pq.write_table(data, path)
        baseline, _ = timed(path, False, args.runs)
        typed, misfits = timed(path, True, args.runs)
    assert misfits["vb.voterbase_age"] == -(-args.rows // MISFIT_EVERY)
    assert sum(misfits.values()) == misfits["vb.voterbase_age"]
    print(f"{args.rows:,} rows x {data.num_columns} appended columns, best of {args.runs}")
    print(f"  read as text (typed=False, the baseline):  {baseline:.3f} s")
    print(f"  read and typed (typed=True):              {typed:.3f} s   ", end="")
    print(f"({typed / baseline:.2f} x the baseline; typing alone {typed - baseline:.3f} s)")
    print(f"  values that did not fit, counted:         {sum(misfits.values()):,}")


if __name__ == "__main__":
    main()
