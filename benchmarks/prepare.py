"""How fast a messy contact list is prepared for upload, against a row-by-row baseline.

Builds a frame of every identifier in every format variant docs/preparing.md
lists (ZIPs as integers, floats and ZIP+4 text; birth dates as dates,
Timestamps, three text formats and integers; phones in every layout with +1
and extensions; states spelled out; names with stray whitespace; invalid
values sprinkled in), with headers as users write them. Then times, in the
same run:

- the vectorised path: ``prepare_table`` + ``write_csv`` (the upload body);
- the row-by-row Python normaliser of the same rules (benchmarks/row_by_row.py);

checks that both produce the same upload, and prints the figures and the ratio.

    .venv/bin/python -m benchmarks.prepare                 # 1,000,000 rows
    .venv/bin/python -m benchmarks.prepare --rows 100000   # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.row_by_row import prepare_rows
from smartmatch_pandas.preparation.mapping import resolve_mapping
from smartmatch_pandas.preparation.table import prepare_table, write_csv

TODAY = dt.date(2026, 11, 1)  # fixed, so the same rows are valid in every run
FIRST = ["James", "Mary", "Zoë", "José", "Zoe\u0308", "Ann-Marie", "Wei", "Aaliyah", "Robert"]
LAST = ["Smith", "García", "O'Brien", "Nguyen", "Van Buren", "Johnson", "Lee", "Müller"]
STREETS = ["Main St", "Oak Ave", "Pine Rd", "Martin Luther King Jr Blvd", "Calle Ocho"]
CITIES = ["Boston", "Chicago", "San Antonio", "Washington", "Honolulu", "Española"]
STATES = ["MA", "ma", "Massachusetts", "IL", "illinois", "TX", "Texas", "D.C.", "dc",
          "District of Columbia", "HI", "new  york", "XX", "Calif."]  # fmt: skip
GENDERS = ["F", "female", "Woman", "M", "Male", "m", "unknown", "U", "", "X", None]
SUFFIXES = ["Jr", "Jr.", "III", "Sr", None, None, None]


def _pick(rng: np.random.Generator, choices: list[object], n: int) -> np.ndarray:
    out = np.empty(len(choices), dtype=object)
    out[:] = choices
    return out[rng.integers(0, len(choices), n)]


def _digits(rng: np.random.Generator, n: int, width: int, low: int = 0) -> np.ndarray:
    return np.char.zfill(rng.integers(low, 10**width, n).astype(str), width).astype(object)


def _mixed(rng: np.random.Generator, variants: list[np.ndarray]) -> np.ndarray:
    """Row i takes its value from one variant chosen at random."""
    n = len(variants[0])
    which = rng.integers(0, len(variants), n)
    out = np.empty(n, dtype=object)
    for k, values in enumerate(variants):
        out[which == k] = values[which == k]
    return out


def _cat(*parts: object) -> np.ndarray:
    out = parts[0]
    for part in parts[1:]:
        out = np.char.add(np.asarray(out, dtype=str), np.asarray(part, dtype=str))
    return np.asarray(out, dtype=object)


def messy_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` contacts, every identifier, every format variant, headers as users write them."""
    rng = np.random.default_rng(seed)
    n = rows
    zip5 = rng.integers(501, 99_999, n)
    zip_text = np.char.zfill(zip5.astype(str), 5)
    plus4 = _digits(rng, n, 4)
    area, exchange = rng.integers(200, 999, n).astype(str), rng.integers(200, 999, n).astype(str)
    line = _digits(rng, n, 4)
    ten = _cat(area, exchange, line)
    born = np.datetime64("1930-01-01") + rng.integers(0, 28_000, n).astype("timedelta64[D]")
    born_index = pd.DatetimeIndex(born)
    y, m, d = born_index.year.astype(str), born_index.month.astype(str), born_index.day.astype(str)
    first = _pick(rng, FIRST, n)
    last = _pick(rng, LAST, n)
    local = _cat(np.char.lower(first.astype(str)), ".", rng.integers(1, 10**6, n).astype(str))
    domain = _pick(rng, ["gmail.com", "Yahoo.COM", "outlook.com", "AOL.com"], n)
    email = _cat(local, "@", domain)
    lat = np.round(rng.uniform(18, 65, n), 6)
    lon = np.round(rng.uniform(-170, -65, n), 6)

    frame = pd.DataFrame(
        {
            "vb.voterbase_id": _cat(_pick(rng, ["IL-", "MA-", " TX-"], n), _digits(rng, n, 12)),
            "VAN ID": pd.array(rng.integers(100_000, 9_999_999, n), dtype="Int64"),
            "State Voter ID": _mixed(rng, [_digits(rng, n, 9), _cat(_digits(rng, n, 9), "  ")]),
            "exact_track": _cat("Y", _digits(rng, n, 14)),
            "Full Name": _cat(first, "  ", last),
            "First and Middle Name": _cat(first, " ", _pick(rng, FIRST, n)),
            "First Name": pd.Categorical(
                _mixed(rng, [first, _cat(" ", first, " "), _cat(first, "\t")])
            ),
            "Middle Initial": _pick(rng, ["A", "B.", " C ", None], n),
            "Last Name": pd.array(
                _mixed(rng, [last, _cat(last, "  Jr"), _cat("\u00a0", last)]),
                dtype="string[pyarrow]",
            ),
            "Suffix": _pick(rng, SUFFIXES, n),
            "Street Address": _mixed(
                rng,
                [
                    _cat(rng.integers(1, 9999, n), " ", _pick(rng, STREETS, n)),
                    _cat(rng.integers(1, 9999, n), "  ", _pick(rng, STREETS, n), " "),
                ],
            ),
            "Apt": _pick(rng, ["Apt 4", "#12", "Unit  B", "", None, None], n),
            "City": pd.Categorical(_pick(rng, CITIES, n)),
            "State": _pick(rng, STATES, n),
            "ZIP Code": _mixed(
                rng,
                [
                    zip5.astype(object),  # integers that lost their zeros
                    zip5.astype(float).astype(object),  # 2134.0
                    zip_text,
                    _cat(zip_text, "-", plus4),
                    _cat(zip_text, plus4),
                    _cat(" ", zip_text, " "),
                    _pick(rng, ["n/a", "1234567", "", None], n),
                ],
            ),
            "Age": _mixed(
                rng,
                [
                    rng.integers(18, 100, n).astype(object),
                    rng.integers(18, 100, n).astype(float).astype(object),
                    rng.integers(18, 100, n).astype(str).astype(object),
                    _pick(rng, ["042", "150", "abc", None], n),
                ],
            ),
            "Sex": _pick(rng, GENDERS, n),
            "DOB": _mixed(
                rng,
                [
                    np.array(born_index.date, dtype=object),
                    np.array(list(born_index), dtype=object),  # Timestamps
                    born_index.strftime("%Y-%m-%d").to_numpy(object),
                    _cat(m, "/", d, "/", y),
                    born_index.strftime("%Y%m%d").to_numpy(object),
                    (y.astype(int) * 10_000 + m.astype(int) * 100 + d.astype(int)).to_numpy(object),
                    _pick(rng, ["2/30/1990", "2099-01-01", "1900-01-01", "76-1-14", None], n),
                ],
            ),
            "Cell Phone": _mixed(
                rng,
                [
                    ten,
                    _cat(area, "-", exchange, "-", line),
                    _cat("(", area, ") ", exchange, "-", line),
                    _cat(area, ".", exchange, ".", line),
                    _cat("+1 ", area, " ", exchange, " ", line),
                    _cat("1-", area, "-", exchange, "-", line, " x", rng.integers(1, 999, n)),
                    ten.astype(np.int64).astype(object),
                    ten.astype(np.float64).astype(object),
                    _pick(rng, ["555-CALL-NOW", "12345", "+44 20 7946 0958", None], n),
                ],
            ),
            "E-mail Address": _mixed(
                rng, [email, _cat(" ", email, " "), _pick(rng, ["ann at x", "x@y", None], n)]
            ),
            "Latitude": np.where(rng.random(n) < 0.05, np.nan, lat),
            "Longitude": _mixed(
                rng, [lon.astype(str).astype(object), lon.astype(object), _pick(rng, ["abc"], n)]
            ),
        }
    )
    return frame


def _time(function: object, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="vectorised runs (best is kept)")
    args = parser.parse_args()

    frame = messy_frame(args.rows)
    mapping = resolve_mapping(frame.columns)
    assert len(mapping) == 22, mapping
    print(f"{args.rows:,} rows, {len(mapping)} identifiers: {mapping}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the invalid values are there on purpose
        seconds, table = _time(lambda: prepare_table(frame, mapping, today=TODAY), args.repeat)
        csv_seconds, body = _time(lambda: write_csv(table), args.repeat)  # type: ignore[arg-type]
    vectorised = seconds + csv_seconds
    print(f"vectorised: prepare_table {seconds:.2f} s + write_csv {csv_seconds:.2f} s "
          f"= {vectorised:.2f} s ({len(body) / 1e6:.0f} MB of CSV)")  # type: ignore[arg-type]  # fmt: skip

    start = time.perf_counter()
    reference = prepare_rows(frame, mapping.pairs, TODAY)
    baseline = time.perf_counter() - start
    print(f"row by row: {baseline:.2f} s")

    for name in table.column_names:  # type: ignore[attr-defined]
        got = table[name].to_pylist()  # type: ignore[index]
        if got != reference[name]:
            bad = next(
                i for i, (a, b) in enumerate(zip(got, reference[name], strict=True)) if a != b
            )
            raise SystemExit(
                f"MISMATCH in {name} at row {bad}: vectorised {got[bad]!r}, "
                f"row by row {reference[name][bad]!r} (input {frame.iloc[bad].to_dict()})"
            )
    print("both produce the same upload")
    print(f"ratio: vectorised is {baseline / vectorised:.1f}x faster than row by row")


if __name__ == "__main__":
    main()
