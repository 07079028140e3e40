"""What ``MatchResult.explore()`` costs, against the group-bys an analyst writes by hand.

Makes a matched list as ``match()`` returns it (contact columns, then the match code and
the appended voter fields as text: party, registration status, gender, age, partisan
score), then, in the same run:

- the baseline: the same figures written by hand in pandas (the match rate per state
  as given, the mixes of party, registration and gender among matched rows, ages in
  bands by gender, the score in bins of ten);
- the exploration: what each row was sent with (the states normalised, each row's
  standing), every table of ``explore()``, its HTML and its text;

and prints the figures and the ratio.

    .venv/bin/python -m benchmarks.exploration                   # 200,000 rows
    .venv/bin/python -m benchmarks.exploration --rows 20000      # quicker
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from smartmatch_pandas.deliverable import explore
from smartmatch_pandas.preparation.standing import sent_profile

SENT = ("first_name", "last_name", "address1", "zip", "state")


def matched_list(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` of a list as ``match()`` returns it, the voter fields as text."""
    rng = np.random.default_rng(seed)

    def pick(*choices: str | None, p: list[float] | None = None) -> np.ndarray:
        return np.array(choices, dtype=object)[rng.choice(len(choices), rows, p=p)]

    matched = rng.random(rows) < 0.88

    def appended(values: np.ndarray) -> pd.Series:
        return pd.Series(np.where(matched, values, None), dtype="string[pyarrow]")

    return pd.DataFrame(
        {
            "first_name": pick(
                "Ann", "Bob", "Carmen", "Dmitri", "Eve", None, p=[0.2] * 4 + [0.19, 0.01]
            ),
            "last_name": pick("Smith", "Garcia", "Nguyen", "Okafor"),
            "address1": pick("1 Main St", "22 Oak Ave", "5 Elm Rd", None),
            "zip": pick("02139", "10001", "73301", "9021", None),
            "state": pick("MA", "New York", "tx", "CA", "Florida", None),
            "tsmart_match_code": np.where(matched, "Y", "N"),
            "vb.vf_party": appended(pick("Democrat", "Republican", "Unaffiliated", None)),
            "vb.voterbase_registration_status": appended(pick("Registered", "Unregistered")),
            "vb.voterbase_gender": appended(pick("F", "M", "U", p=[0.51, 0.485, 0.005])),
            "vb.voterbase_age": appended(rng.integers(18, 101, rows).astype(str)),
            "vb.tsmart_partisan_score": appended(
                np.round(rng.uniform(0, 100, rows), 1).astype(str)
            ),
        }
    )


def by_hand(frame: pd.DataFrame) -> dict[str, pd.DataFrame | pd.Series]:
    """The figures an analyst writes: group-bys on the frame as it is (states as given)."""
    hits = frame["tsmart_match_code"] == "Y"
    among = frame[hits]
    age = pd.to_numeric(among["vb.voterbase_age"], errors="coerce")
    score = pd.to_numeric(among["vb.tsmart_partisan_score"], errors="coerce")
    return {
        "by_state": hits.groupby(frame["state"].fillna("(none)")).agg(["size", "mean"]),
        "party": among["vb.vf_party"].value_counts(dropna=False),
        "registration": among["vb.voterbase_registration_status"].value_counts(dropna=False),
        "gender": among["vb.voterbase_gender"].value_counts(dropna=False),
        "age": pd.crosstab(
            pd.cut(age, [18, 25, 35, 45, 55, 65, 75, 85, 101], right=False),
            among["vb.voterbase_gender"],
        ),
        "partisan_score": pd.cut(score, range(0, 101, 10), include_lowest=True).value_counts(),
    }


def explored(frame: pd.DataFrame) -> str:
    """Everything ``MatchResult.explore()`` does: the rows' standing, the tables, HTML, text."""
    exploration = explore(frame, None, sent_profile(frame, [(c, c) for c in SENT]))
    return exploration._repr_html_() + str(exploration)


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    frame = matched_list(args.rows)
    baseline = best_of(args.runs, lambda: by_hand(frame))
    exploring = best_of(args.runs, lambda: explored(frame))
    print(
        f"{args.rows:,} rows, {len(SENT)} columns sent, 5 voter fields as text, best of {args.runs}"
    )
    print(f"  by hand (group-bys in pandas, the baseline): {baseline:6.3f} s")
    print(
        f"  explore() with its HTML and text:            {exploring:6.3f} s   "
        f"({exploring / baseline:.2f} x the baseline)"
    )


if __name__ == "__main__":
    main()
