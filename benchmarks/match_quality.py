"""Match quality and speed of the local engine, with splink and an exact join as yardsticks.

A noisy contact list (default 100,000 rows, ``sample_contacts`` with its
default noise) is matched against a synthetic voter file (default 1,000,000
people) by three engines, each in a child process of its own so its time and
peak memory are its own:

- ``ours``: :class:`~smartmatch_pandas.local.LinkageMatcher`, fed the raw
  list as a user uploads it (it normalises itself);
- ``splink``: splink 5 on DuckDB, fed the same list cleaned the usual way
  (lower case, digits of phones, five-digit ZIPs, ISO dates), with name,
  date-of-birth, ZIP, city, state, address, phone and email comparisons,
  u from random sampling and m from expectation maximisation; its best
  candidate per row is taken at match probability 0.9, and at the threshold
  that gives it its best F1 (a hindsight choice, in its favour);
- ``exact``: an exact join on cleaned first name, last name and ZIP code,
  keeping rows with exactly one candidate.

Precision, recall and F1 are printed overall and per kind of noise, with
each engine's matching time (everything after the data are loaded: for
ours, building the index and matching; for splink, training and
predicting) and peak memory. Usage::

    pip install -e '.[bench]'
    python benchmarks/match_quality.py                  # 100,000 rows x 1,000,000 voters
    python benchmarks/match_quality.py --rows 10000 --voters 100000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from smartmatch_pandas.local import LinkageMatcher, VoterFile, sample_contacts
from smartmatch_pandas.local.sample import NOISE as _SAMPLE_NOISE

ENGINES = ("ours", "splink", "exact")
#: Goals of the match-quality issue, checked at the end.
GOALS = {"precision": 0.99, "recall": 0.95, "seconds": 60.0, "vs_splink": 2.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voters", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1, help="the contact list's seed")
    parser.add_argument("--voter-seed", type=int, default=0)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--noise",
        choices=("sample", "field"),
        default="sample",
        help="sample_contacts' own noise, or the field's on top of it (see field_contacts)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)

    started = time.perf_counter()
    voters = VoterFile.generate(args.voters, args.voter_seed)
    if args.noise == "field":
        contacts = field_contacts(voters, args.rows, seed=args.seed)
    else:
        contacts = sample_contacts(voters, args.rows, seed=args.seed, labels=True)
    print(
        f"{len(contacts):,} contacts (seed {args.seed}) against {len(voters):,} voters "
        f"(seed {args.voter_seed}); data ready in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="smartmatch-bench-") as folder:
        contacts.to_parquet(Path(folder) / "contacts.parquet")
        runs = {}
        for engine in args.engines.split(","):
            runs[engine] = _run_child(engine, args, Path(folder))
            print(f"  {engine}: {runs[engine]['seconds']:.1f} s", flush=True)
            runs[engine]["predicted"] = pd.read_parquet(Path(folder) / f"{engine}.parquet")
    return _report(contacts, runs)


# -- the field's noise ----------------------------------------------------------------------------

#: Shares of the rows of voters hit by each kind of the field's noise (on top of
#: sample_contacts' own, with more movers and more outsiders).
FIELD_NOISE = {
    "van_id": 0.4,  # the voter's own VAN id, from MyVoters
    "other_system_id": 0.25,  # an id of another system (MyCampaign), no date of birth
    "two_errors": 0.06,  # a typo in the first and in the last name
    "first_initial": 0.05,  # "J" for John
    "last_first": 0.15,  # one "Last, First" column instead of two
}
#: Of the ids from another system, the share that is another voter's VAN id in the same
#: state (the rest: numbers no voter has, or only by chance).
COLLIDING = 1 / 3


def field_contacts(voters: VoterFile, rows: int, *, seed: int) -> pd.DataFrame:
    """A contact list with the field's noise: ``sample_contacts`` with more movers and
    outsiders, then VAN ids (the voter's own, or another system's: some of them another
    voter's of the same state, and those rows without a date of birth), two typos in one
    row, first initials, and names in one "Last, First" column. Labelled per row."""
    noise = {**_SAMPLE_NOISE, "moved": 0.12}
    frame = sample_contacts(voters, rows, seed=seed, labels=True, noise=noise, outsiders=0.15)
    rng = np.random.default_rng([seed, 0xF1E1D])
    people = voters.people
    person_of = pd.Series(np.arange(len(people)), index=people["voterbase_id"])
    truth = frame["true_voterbase_id"]
    inside = truth.notna().to_numpy()
    person = person_of.reindex(truth.fillna("")).to_numpy()
    van = people["smartvan_id"].to_numpy(object)
    labels = frame["noise"].to_numpy(object)

    def tag(hit: np.ndarray, name: str) -> None:
        labels[hit] = np.where(labels[hit] == "clean", name, labels[hit] + ";" + name)

    draw = rng.random(rows)
    own = inside & (draw < FIELD_NOISE["van_id"])
    other = (draw >= FIELD_NOISE["van_id"]) & (
        draw < FIELD_NOISE["van_id"] + FIELD_NOISE["other_system_id"]
    )
    frame["smartvan_id"] = None
    frame.loc[own, "smartvan_id"] = van[person[own].astype(int)]
    ids = rng.integers(10**7, 10**8, rows).astype(str).astype(object)
    colliding = other & (rng.random(rows) < COLLIDING) & frame["state"].notna().to_numpy()
    by_state = people.groupby("state").indices
    for i in np.flatnonzero(colliding):
        pool = by_state.get(frame.at[i, "state"])
        if pool is not None:
            ids[i] = van[pool[int(rng.integers(0, len(pool)))]]
    frame.loc[other, "smartvan_id"] = ids[other]
    frame.loc[other, ["dob", "age"]] = None
    tag(own, "van_id")
    tag(other & inside, "other_system_id")
    tag(colliding & inside, "colliding_id")

    named = inside & frame["first_name"].notna().to_numpy() & frame["last_name"].notna().to_numpy()
    two = named & (rng.random(rows) < FIELD_NOISE["two_errors"])
    for column in ("first_name", "last_name"):
        values = frame[column].to_numpy(object, copy=True)
        for i in np.flatnonzero(two & np.array([len(str(v)) >= 4 for v in values])):
            values[i] = _typo(str(values[i]), rng)
        frame[column] = values
    tag(two, "two_errors")
    initial = named & ~two & (rng.random(rows) < FIELD_NOISE["first_initial"])
    frame.loc[initial, "first_name"] = frame.loc[initial, "first_name"].str[0]
    tag(initial, "first_initial")
    last_first = frame["first_name"].notna().to_numpy() & frame["last_name"].notna().to_numpy()
    last_first &= rng.random(rows) < FIELD_NOISE["last_first"]
    frame["full_name"] = None
    frame.loc[last_first, "full_name"] = (
        frame.loc[last_first, "last_name"] + ", " + frame.loc[last_first, "first_name"]
    )
    frame.loc[last_first, ["first_name", "middle_name", "last_name"]] = None
    tag(last_first & inside, "last_first")
    frame["noise"] = labels
    return frame


def _typo(name: str, rng: np.random.Generator) -> str:
    j = int(rng.integers(1, len(name) - 1))
    return name[:j] + name[j + 1] + name[j] + name[j + 2 :]  # two letters swapped


# -- the parent: run, score, report -------------------------------------------------------------


def _run_child(engine: str, args: argparse.Namespace, folder: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--folder",
        str(folder),
        "--voters",
        str(args.voters),
        "--voter-seed",
        str(args.voter_seed),
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode:
        raise SystemExit(f"{engine} failed:\n{run.stderr[-4000:]}")
    figures: dict = json.loads(run.stdout.strip().splitlines()[-1])
    return figures


def _scores(truth: pd.Series, predicted: pd.Series) -> dict[str, float]:
    in_file = truth.notna()
    matched = predicted.notna()
    right = int((matched & (predicted == truth)).sum())
    precision = right / max(int(matched.sum()), 1)
    recall = right / max(int(in_file.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {
        "rows": len(truth),
        "matched": int(matched.sum()),
        "wrong": int(matched.sum()) - right,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _best_threshold(truth: pd.Series, predicted: pd.DataFrame) -> tuple[float, pd.Series]:
    """The probability threshold that gives ``predicted`` its best F1 on ``truth``."""
    best = (-1.0, 0.9, predicted["voterbase_id"])
    for threshold in np.round(np.arange(0.05, 1.0, 0.05), 2):
        chosen = predicted["voterbase_id"].where(predicted["score"] >= threshold)
        f1 = _scores(truth, chosen)["f1"]
        if f1 > best[0]:
            best = (f1, float(threshold), chosen)
    return best[1], best[2]


def _report(contacts: pd.DataFrame, runs: dict[str, dict]) -> int:
    truth = (
        contacts["true_voterbase_id"].astype(object).where(contacts["true_voterbase_id"].notna())
    )
    labels = contacts["noise"].str.split(";")
    engines: dict[str, pd.Series] = {}
    for engine, run in runs.items():
        predicted = run["predicted"].set_index("row").reindex(range(len(contacts)))
        if engine == "splink":
            engines["splink (p ≥ 0.9)"] = predicted["voterbase_id"].where(predicted["score"] >= 0.9)
            threshold, chosen = _best_threshold(truth, predicted)
            engines[f"splink (best F1, p ≥ {threshold:g})"] = chosen
            run["label"] = f"splink (best F1, p ≥ {threshold:g})"
        else:
            engines[engine] = predicted["voterbase_id"]
            run["label"] = engine

    print("\n## Overall\n")
    print("| engine | precision | recall | F1 | wrong matches | matching time | peak memory |")
    print("|---|---|---|---|---|---|---|")
    overall = {}
    for name, predicted in engines.items():
        s = overall[name] = _scores(truth, predicted)
        run = next(r for e, r in runs.items() if name.startswith(e))
        print(
            f"| {name} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | "
            f"{s['wrong']:,} | {run['seconds']:.1f} s | {run['peak_bytes'] / 2**30:.1f} GiB |"
        )
    if "ours" in runs:
        ours = runs["ours"]
        print(f"\nours: index {ours['index_seconds']:.1f} s + match {ours['match_seconds']:.1f} s")

    kinds = sorted({k for row in labels for k in row})
    print("\n## Per kind of noise (precision / recall; rows can carry several kinds)\n")
    print("| noise | rows | " + " | ".join(engines) + " |")
    print("|---|---|" + "---|" * len(engines))
    for kind in kinds:
        mask = labels.apply(lambda row, k=kind: k in row).to_numpy()
        cells = []
        for predicted in engines.values():
            s = _scores(truth[mask], predicted[mask])
            if kind in ("not_in_file", "housemate_not_in_file"):
                cells.append(f"{s['matched']} matched")
            else:
                cells.append(f"{s['precision']:.4f} / {s['recall']:.4f}")
        print(f"| {kind} | {int(mask.sum()):,} | " + " | ".join(cells) + " |")

    if "ours" not in runs or "splink" not in runs:
        return 0
    ours, mine = runs["ours"], overall["ours"]
    splink_name = runs["splink"]["label"]
    checks = {
        f"precision {mine['precision']:.4f} >= {GOALS['precision']}": mine["precision"]
        >= GOALS["precision"],
        f"recall {mine['recall']:.4f} >= {GOALS['recall']}": mine["recall"] >= GOALS["recall"],
        f"F1 {mine['f1']:.4f} >= splink's best {overall[splink_name]['f1']:.4f}": mine["f1"]
        >= overall[splink_name]["f1"],
        f"time {ours['seconds']:.1f} s <= 2 x splink's {runs['splink']['seconds']:.1f} s": ours[
            "seconds"
        ]
        <= GOALS["vs_splink"] * runs["splink"]["seconds"],
        f"time {ours['seconds']:.1f} s <= {GOALS['seconds']:.0f} s": ours["seconds"]
        <= GOALS["seconds"],
        f"ratio to splink's time: {ours['seconds'] / runs['splink']['seconds']:.2f}": True,
    }
    print("\n## Goals\n")
    for text, ok in checks.items():
        print(f"- [{'x' if ok else ' '}] {text}")
    return 0 if all(checks.values()) else 1


# -- the children: one engine each ----------------------------------------------------------------


def _child(args: argparse.Namespace) -> int:
    voters = VoterFile.generate(args.voters, args.voter_seed)
    contacts = pd.read_parquet(args.folder / "contacts.parquet")
    contacts = contacts.drop(columns=["true_voterbase_id", "noise"])
    figures: dict[str, float] = {}
    started = time.perf_counter()
    if args.child == "ours":
        matcher = LinkageMatcher(voters)
        indexed = time.perf_counter()
        found = matcher.match(contacts, max_matches=1)
        figures["index_seconds"] = indexed - started
        figures["match_seconds"] = time.perf_counter() - indexed
        ids = voters.table.column("voterbase_id").take(found.person).to_pylist()
        predicted = pd.DataFrame({"row": found.row, "voterbase_id": ids, "score": found.score})
    elif args.child == "splink":
        predicted = _splink(voters, contacts)
    else:
        predicted = _exact(voters, contacts)
    figures["seconds"] = time.perf_counter() - started
    figures["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    predicted.to_parquet(args.folder / f"{args.child}.parquet")
    print(json.dumps(figures))
    return 0


def _clean(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The cleaning a splink user would do: lower case, digits, five-digit ZIPs, ISO dates."""

    if "full_name" in frame:  # "Last, First" split as a splink user would
        parts = frame["full_name"].astype("string").str.split(",", n=1, expand=True)
        if parts.shape[1] == 2:
            frame = frame.assign(
                first_name=frame["first_name"].fillna(parts[1].str.strip()),
                last_name=frame["last_name"].fillna(parts[0].str.strip()),
            )

    def text(column: str, pattern: str = r"[^a-z]") -> pd.Series:
        if column not in frame:
            return pd.Series(None, index=frame.index, dtype=object)
        values = frame[column].astype("string").str.lower().str.replace(pattern, "", regex=True)
        return values.where(values != "", None).astype(object)

    digits = lambda column: text(column, r"\D")  # noqa: E731
    zips = digits("zip")
    zips = zips.where(zips.str.len() != 4, zips.str.zfill(5)).str[:5]
    phone = digits("phone")
    phone = phone.where(~((phone.str.len() == 11) & phone.str.startswith("1")), phone.str[1:])
    raw_dob = frame["dob"].astype("string") if "dob" in frame else pd.Series(dtype="string")
    dob = pd.to_datetime(raw_dob, format="%Y%m%d", errors="coerce")
    for form in ("%m/%d/%Y", "%Y-%m-%d"):
        dob = dob.fillna(pd.to_datetime(raw_dob, format=form, errors="coerce"))
    address = (
        frame["address1"].astype("string").str.lower().str.replace(r"[^a-z0-9 ]", "", regex=True)
    )
    return pd.DataFrame(
        {
            "unique_id": (prefix + pd.Series(np.arange(len(frame))).astype(str)).to_numpy(),
            "first_name": text("first_name"),
            "last_name": text("last_name"),
            "dob": dob.dt.strftime("%Y-%m-%d").astype(object).where(dob.notna(), None),
            "address": address.str.replace(r"\s+", " ", regex=True).astype(object),
            "city": text("city", r"[^a-z ]"),
            "state": frame["state"].astype("string").str.upper().astype(object),
            "zip": zips.astype(object),
            "phone": phone.where(phone.str.len() == 10, None).astype(object),
            "email": frame["email"].astype("string").str.lower().str.strip().astype(object),
        }
    ).replace({pd.NA: None, np.nan: None})


def _voter_side(voters: VoterFile) -> pd.DataFrame:
    p = voters.people
    frame = p[
        ["first_name", "last_name", "dob", "address1", "city", "state", "zip", "email"]
    ].copy()
    frame["phone"] = p["phone_wireless"].fillna(p["phone_landline"]).fillna(p["phone_voip"])
    return _clean(frame, "v")


def _splink(voters: VoterFile, contacts: pd.DataFrame) -> pd.DataFrame:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    left, right = _voter_side(voters), _clean(contacts, "c")
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("zip").configure(term_frequency_adjustments=True),
            cl.ExactMatch("city"),
            cl.ExactMatch("state"),
            cl.LevenshteinAtThresholds("address", 2),
            cl.ExactMatch("phone"),
            cl.EmailComparison("email"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("last_name", "zip"),
            block_on("first_name", "zip"),
            block_on("first_name", "dob"),
            block_on("last_name", "dob"),
            block_on("email"),
            block_on("phone"),
        ],
    )
    db = DuckDBAPI()
    linker = Linker([db.register(left), db.register(right)], settings, log_level=30)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "dob")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("last_name", "zip"))
    pairs = linker.inference.predict(threshold_match_probability=0.05).as_pandas_dataframe()
    contact_on_left = pairs["unique_id_l"].str.startswith("c")
    contact = pairs["unique_id_l"].where(contact_on_left, pairs["unique_id_r"])
    voter = pairs["unique_id_r"].where(contact_on_left, pairs["unique_id_l"])
    found = pd.DataFrame(
        {
            "row": contact.str[1:].astype(int),
            "person": voter.str[1:].astype(int),
            "score": pairs["match_probability"],
        }
    )
    found = found.sort_values(["row", "score", "person"], ascending=[True, False, True])
    found = found.drop_duplicates("row")
    ids = voters.people["voterbase_id"].to_numpy(object)
    return pd.DataFrame(
        {"row": found["row"], "voterbase_id": ids[found["person"]], "score": found["score"]}
    )


def _exact(voters: VoterFile, contacts: pd.DataFrame) -> pd.DataFrame:
    keys = ["first_name", "last_name", "zip"]
    left = _voter_side(voters)[keys].assign(person=np.arange(len(voters)))
    right = _clean(contacts, "c")[keys].assign(row=np.arange(len(contacts))).dropna()
    joined = right.merge(left.dropna(), on=keys)
    counts = joined.groupby("row")["person"].transform("size")
    unique = joined[counts == 1]
    ids = voters.people["voterbase_id"].to_numpy(object)
    return pd.DataFrame({"row": unique["row"], "voterbase_id": ids[unique["person"]], "score": 1.0})


if __name__ == "__main__":
    sys.exit(main())
