"""The job store's commands: ``jobs`` and ``clear-cache`` (``resume`` is in :mod:`.matching`)."""

from __future__ import annotations

import argparse

from ..errors import printable
from .flags import Commands
from .messages import command_line_words


def add_store(commands: Commands) -> None:
    """The ``jobs`` and ``clear-cache`` commands."""
    jobs = commands.add_parser("jobs", help="list the jobs in the job store, newest first")
    jobs.set_defaults(run=run_jobs)

    clear = commands.add_parser(
        "clear-cache", help="remove the cached results (they hold contact data)"
    )
    clear.add_argument(
        "--jobs", action="store_true", help="also forget finished jobs (unfinished ones stay)"
    )
    clear.set_defaults(run=run_clear_cache)


def run_jobs(args: argparse.Namespace) -> None:
    """List the job store."""
    from .. import verbs as api
    from ..job.store import store_home

    listed = api.jobs()
    print(f"Job store: {store_home()}")
    if listed.empty:
        print("No jobs yet.")
        return
    shown = listed[["filename", "state", "submitted", "rows", "host", "polls", "note"]].copy()
    shown["submitted"] = shown["submitted"].dt.strftime("%Y-%m-%d %H:%M UTC")
    failed = listed["state"] == "failed"
    shown.loc[failed, "note"] = "failed: " + listed.loc[failed, "error"].fillna("")
    said = shown["note"].fillna("").astype(str).map(command_line_words)
    shown["note"] = said.str.replace("resume it with the frame", "resume it with --input LIST")
    # A record's error is the service's text: its control characters are shown, not acted on.
    print(printable(shown.to_string(index=False)))


def run_clear_cache(args: argparse.Namespace) -> None:
    """Remove the cached results (and finished jobs, if asked)."""
    from .. import verbs as api
    from ..job.store import store_home

    cleared = api.clear_cache(jobs=args.jobs)
    size = f"{cleared.bytes / 1e6:.1f} MB" if cleared.bytes >= 1e5 else f"{cleared.bytes:,} bytes"
    forgotten = f", and forgot {cleared.jobs:,} finished jobs" if args.jobs else ""
    print(f"Removed {cleared.results:,} cached results ({size}){forgotten} from {store_home()}.")
