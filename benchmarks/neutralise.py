"""What making cells safe to open costs when an enriched list is written as CSV.

Writes the same enriched-looking table (text columns as the service appends them,
a longitude column of negative numbers that must stay as they are, a few
formula-like cells) twice in the same run, through the command line's writer:

- the baseline: ``TableWriter`` writing CSV as it is (``--no-neutralise``);
- the default: the same with every text cell and header neutralised;

checks that only the formula-like cells changed, and prints the figures and the ratio.

    .venv/bin/python -m benchmarks.neutralise                  # 200,000 rows
    .venv/bin/python -m benchmarks.neutralise --rows 50000     # quicker
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from smartmatch_pandas.files.tables import TableOutput, TableWriter


def table(rows: int, columns: int = 24) -> pa.Table:
    """``columns`` text columns, a longitude column, one formula-like cell in a thousand."""
    text = {
        f"vb.field_{i}": pa.array([f"value {(j * 7 + i) % 977}" for j in range(rows)])
        for i in range(columns)
    }
    text["notes"] = pa.array(["=HYPERLINK(1)" if j % 1000 == 0 else "ok" for j in range(rows)])
    text["longitude"] = pa.array([f"-77.{j % 10_000:04d}" for j in range(rows)])
    return pa.table(text)


def timed(data: pa.Table, path: Path, neutral: bool, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        with TableWriter(TableOutput(path, "csv", neutral), data.schema) as writer:
            writer.write(data)
            writer.close()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = table(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        plain, safe = Path(folder) / "plain.csv", Path(folder) / "safe.csv"
        baseline = timed(data, plain, False, args.runs)
        neutral = timed(data, safe, True, args.runs)
        as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(data.column_names, pa.string()))
        read = pacsv.read_csv(safe, convert_options=as_text)
        changed = sum(str(v).startswith("'") for v in read["notes"].to_pylist())
        assert changed == -(-args.rows // 1000)
        assert read["longitude"].to_pylist()[:3] == [
            "-77.0000",
            "-77.0001",
            "-77.0002",
        ]
    size = data.num_rows * data.num_columns
    shape = f"{args.rows:,} rows x {data.num_columns} text columns ({size:,} cells)"
    print(f"{shape}, best of {args.runs}")
    print(f"  CSV as it is (the baseline):  {baseline:.3f} s")
    ratio = neutral / baseline
    print(f"  CSV with cells neutralised:   {neutral:.3f} s   ({ratio:.2f} x the baseline)")


if __name__ == "__main__":
    main()
