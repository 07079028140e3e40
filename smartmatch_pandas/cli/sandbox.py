"""The sandbox's commands: ``demo``, ``voterfile`` and ``sample`` (the local service's data)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..files.tables import write_table
from .flags import Commands, counted, share


def add_sandbox(commands: Commands) -> None:
    """The ``demo``, ``voterfile`` and ``sample`` commands."""
    demo = commands.add_parser("demo", help="match a sample list on a local service")
    demo.add_argument(
        "--rows", type=counted, default=3000, help="contacts in the sample list (default 3000)"
    )
    demo.add_argument(
        "--voters", type=counted, default=200_000, help="people in the voter file (default 200000)"
    )
    demo.add_argument("--seed", type=int, default=7, help="draws the sample list (default 7)")
    demo.add_argument(
        "--delay",
        type=float,
        default=5.0,
        help="seconds the service takes over the job, to show the wait (default 5)",
    )
    demo.set_defaults(run=run_demo)

    voterfile = commands.add_parser(
        "voterfile", help="write the local service's synthetic voter file (CSV or Parquet)"
    )
    voterfile.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write (.csv or .parquet)"
    )
    voterfile.add_argument("--voters", type=counted, default=200_000, help="people in the file")
    voterfile.add_argument("--seed", type=int, default=0, help="the voter file's seed")
    voterfile.set_defaults(run=run_voterfile)

    sample = commands.add_parser(
        "sample", help="write a noisy contact list drawn from the voter file, with ground truth"
    )
    sample.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write (.csv or .parquet)"
    )
    sample.add_argument("--rows", type=counted, default=1000, help="rows in the list")
    sample.add_argument("--seed", type=int, default=1, help="the list's seed")
    sample.add_argument(
        "--voters", type=counted, default=200_000, help="people in the voter file (default 200000)"
    )
    sample.add_argument("--voter-seed", type=int, default=0, help="the voter file's seed")
    sample.add_argument(
        "--outsiders", type=share, default=0.1, help="share of people not in the voter file"
    )
    sample.add_argument(
        "--labels", action="store_true", help="add a column naming each row's noise"
    )
    sample.set_defaults(run=run_sample)


def run_demo(args: argparse.Namespace) -> None:
    """Match a sample list on a local service, and score it against the ground truth."""
    from .. import verbs as api
    from ..local import LocalService, sample_contacts

    print(f"Starting a local SmartMatch service over {args.voters:,} synthetic voters...")
    with LocalService(voters=args.voters, poll_interval=2, delay=args.delay) as service:
        contacts = sample_contacts(service.voters, args.rows, seed=args.seed)
        truth = contacts.pop("true_voterbase_id")
        print(f"A contact list of {len(contacts):,} rows (some noisy, some not voters):")
        print(contacts.head(5).to_string(), "\n")
        # cache=False: a demo's service lives for this run alone; keep no result of it.
        enriched = api.match(contacts, max_matches=3, cache=False, **service.settings)
        print(against_truth(enriched["vb.voterbase_id"], truth), "\n")
        shown = [
            "first_name",
            "last_name",
            "zip",
            "tsmart_match_code",
            "vb.voterbase_id",
            "vb.vf_party",
            "vb.voterbase_age",
        ]
        print(enriched[shown].head(10).to_string())


def against_truth(found: pd.Series, truth: pd.Series) -> str:
    """Recall, precision and outsiders left alone, as a matcher's evaluation reports them."""
    got = found.to_numpy(dtype=object, na_value="")
    true = truth.to_numpy(dtype=object, na_value="")
    voters, matched = int((true != "").sum()), int((got != "").sum())
    right = int(((got == true) & (true != "")).sum())
    outsiders = len(true) - voters
    left_alone = int(((got == "") & (true == "")).sum())
    return (
        f"\nAgainst the ground truth: {right:,} of {voters:,} voters found "
        f"(recall {right / max(voters, 1):.1%}); {matched - right:,} of {matched:,} "
        f"matches wrong (precision {right / max(matched, 1):.2%}); {left_alone:,} of "
        f"{outsiders:,} people not in the voter file left unmatched."
    )


def run_voterfile(args: argparse.Namespace) -> None:
    """Write the synthetic voter file."""
    from ..local import VoterFile

    VoterFile.generate(args.voters, args.seed).write(args.output)
    print(f"wrote {args.voters:,} voters (seed {args.seed}) to {args.output}")


def run_sample(args: argparse.Namespace) -> None:
    """Write a noisy contact list drawn from the voter file."""
    from ..local import VoterFile, sample_contacts

    voters = VoterFile.generate(args.voters, args.voter_seed)
    frame = sample_contacts(
        voters, args.rows, seed=args.seed, outsiders=args.outsiders, labels=args.labels
    )
    write_table(frame, args.output)
    print(f"wrote {len(frame):,} contacts (ground truth: true_voterbase_id) to {args.output}")
