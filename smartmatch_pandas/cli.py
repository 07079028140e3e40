"""``smartmatch-pandas``: demo, serve, match, and the job store's resume, jobs, clear-cache.

The CLI is a view: it builds the same options and calls the same verbs as
:func:`smartmatch_pandas.match`. The API key comes from ``TS_API_KEY`` only,
never a flag, so it stays out of shell history and process listings.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import SmartMatchError, printable
from .files.spool import spill_threshold
from .files.tables import read_table, write_table
from .identifiers import IDENTIFIERS
from .options import cli_options


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (SmartMatchError, ImportError) as exc:  # ImportError: an extra not installed
        print(f"smartmatch-pandas: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser, with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="smartmatch-pandas",
        description="Match contact lists against TargetSmart's voter file with SmartMatch.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="match a sample list on a local service")
    demo.add_argument(
        "--rows", type=int, default=3000, help="contacts in the sample list (default 3000)"
    )
    demo.add_argument(
        "--voters", type=int, default=200_000, help="people in the voter file (default 200000)"
    )
    demo.add_argument("--seed", type=int, default=7, help="draws the sample list (default 7)")
    demo.add_argument(
        "--delay",
        type=float,
        default=5.0,
        help="seconds the service takes over the job, to show the wait (default 5)",
    )
    demo.set_defaults(run=_demo)

    serve = commands.add_parser("serve", help="run the local SmartMatch-compatible service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument(
        "--remote-webhooks",
        action="store_true",
        help="post webhooks to any address, not only to loopback ones",
    )
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--poll-interval", type=float, default=30.0, help="seconds between polls")
    serve.add_argument("--delay", type=float, default=0.0, help="seconds until a job is ready")
    serve.add_argument(
        "--voters", type=int, default=200_000, help="people in the voter file (default 200000)"
    )
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--data-dir", type=Path, help="keep uploads and deliverables here")
    serve.add_argument(
        "--legacy-filenames", action="store_true", help="also accept filenames like name-1.csv"
    )
    sftp = serve.add_argument_group("SFTP drop (read-only, like TargetSmart's file-transfer area)")
    sftp.add_argument(
        "--sftp-port", type=int, metavar="P", help="also serve the drop folder over SFTP (0: any)"
    )
    sftp.add_argument("--sftp-user", default="smartmatch", help="the SFTP account's name")
    sftp.add_argument(
        "--sftp-host-key", type=Path, metavar="PATH", help="host key file (made if missing)"
    )
    sftp.add_argument(
        "--drop-pause",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="testing: write each drop zip in two halves this far apart, not atomically",
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. poll:status=503,times=2 or download:drop (repeatable; "
        "see docs/reliability.md)",
    )
    serve.set_defaults(run=_serve)

    voterfile = commands.add_parser(
        "voterfile", help="write the local service's synthetic voter file (CSV or Parquet)"
    )
    voterfile.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write (.csv or .parquet)"
    )
    voterfile.add_argument("--voters", type=int, default=200_000, help="people in the file")
    voterfile.add_argument("--seed", type=int, default=0, help="the voter file's seed")
    voterfile.set_defaults(run=_voterfile)

    sample = commands.add_parser(
        "sample", help="write a noisy contact list drawn from the voter file, with ground truth"
    )
    sample.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write (.csv or .parquet)"
    )
    sample.add_argument("--rows", type=int, default=1000, help="rows in the list")
    sample.add_argument("--seed", type=int, default=1, help="the list's seed")
    sample.add_argument(
        "--voters", type=int, default=200_000, help="people in the voter file (default 200000)"
    )
    sample.add_argument("--voter-seed", type=int, default=0, help="the voter file's seed")
    sample.add_argument(
        "--outsiders", type=float, default=0.1, help="share of people not in the voter file"
    )
    sample.add_argument(
        "--labels", action="store_true", help="add a column naming each row's noise"
    )
    sample.set_defaults(run=_sample)

    match = commands.add_parser("match", help="match a CSV or Parquet file")
    match.add_argument("input", type=Path, help="contact list (.csv or .parquet)")
    match.add_argument(
        "-o", "--output", type=Path, required=True, help="enriched list (.csv or .parquet)"
    )
    _option_arguments(match, "match")
    _memory_arguments(match)
    match.set_defaults(run=_match)
    _job_store_commands(commands)
    return parser


def _option_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the options that ``command`` takes, as the options declare them."""
    for option in cli_options(command):
        assert option.cli is not None
        help = option.cli.helps.get(command, option.doc)
        parser.add_argument(
            option.cli.flag, **option.cli.arguments(option.name, option.default, help)
        )


def _option_values(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The verb's keywords that the flags of ``command`` give."""
    values = {option.name: getattr(args, option.name) for option in cli_options(command)}
    if "columns" in values:
        values["columns"] = _columns(values["columns"])
    if "extra_params" in values:
        values["extra_params"] = _pairs(values["extra_params"], "--param") or None
    return values


def _memory_arguments(parser: argparse.ArgumentParser) -> None:
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument(
        "--stream",
        dest="stream",
        action="store_true",
        default=None,
        help="read, send and merge the list in batches, never holding it whole (the "
        "default for a file larger than SMARTMATCH_SPILL_THRESHOLD, 64 MiB)",
    )
    memory.add_argument(
        "--in-memory", dest="stream", action="store_false", help="hold the whole list in memory"
    )


def _demo(args: argparse.Namespace) -> None:
    from . import verbs as api
    from .local import LocalService, sample_contacts

    print(f"Starting a local SmartMatch service over {args.voters:,} synthetic voters...")
    with LocalService(voters=args.voters, poll_interval=2, delay=args.delay) as service:
        contacts = sample_contacts(service.voters, args.rows, seed=args.seed)
        truth = contacts.pop("true_voterbase_id")
        print(f"A contact list of {len(contacts):,} rows (some noisy, some not voters):")
        print(contacts.head(5).to_string(), "\n")
        # cache=False: a demo's service lives for this run alone; keep no result of it.
        enriched = api.match(contacts, max_matches=3, cache=False, **service.settings)
        print(_against_truth(enriched["vb.voterbase_id"], truth), "\n")
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


def _against_truth(found: pd.Series, truth: pd.Series) -> str:
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


def _serve(args: argparse.Namespace) -> None:
    from .local import Fault, LocalService

    try:
        faults = [Fault.parse(spec) for spec in args.fault]
    except ValueError as exc:
        raise SystemExit(f"smartmatch-pandas: --fault: {exc}") from None
    service = LocalService(
        host=args.host,
        port=args.port,
        poll_interval=args.poll_interval,
        delay=args.delay,
        voters=args.voters,
        seed=args.seed,
        data_dir=args.data_dir,
        legacy_filenames=args.legacy_filenames,
        sftp_port=args.sftp_port,
        sftp_username=args.sftp_user,
        sftp_host_key=args.sftp_host_key,
        drop_pause=args.drop_pause,
        faults=faults,
        remote_webhooks=args.remote_webhooks,
    ).start()
    for name, value in service.environ.items():
        print(f"export {name}={shlex.quote(value)}")
    if service.sftp is not None:
        print(
            f"# SFTP drop (read-only): sftp -P {service.sftp.port} {service.sftp.username}@"
            f"{service.sftp.host}:smartmatch/"
        )
        print(f"# its known_hosts line: {service.sftp.known_hosts_line}")
    for fault in faults:
        print(f"# injecting the fault {fault}")
    print(f"# serving SmartMatch at {service.base_url}; Ctrl-C stops", flush=True)
    service.serve_forever()


def _voterfile(args: argparse.Namespace) -> None:
    from .local import VoterFile

    VoterFile.generate(args.voters, args.seed).write(args.output)
    print(f"wrote {args.voters:,} voters (seed {args.seed}) to {args.output}")


def _sample(args: argparse.Namespace) -> None:
    from .local import VoterFile, sample_contacts

    voters = VoterFile.generate(args.voters, args.voter_seed)
    frame = sample_contacts(
        voters, args.rows, seed=args.seed, outsiders=args.outsiders, labels=args.labels
    )
    write_table(frame, args.output)
    print(f"wrote {len(frame):,} contacts (ground truth: true_voterbase_id) to {args.output}")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"smartmatch-pandas: {what} {item!r} must look like NAME=VALUE")
        out[name] = value
    return out


def _columns(items: list[str]) -> dict[Hashable, str | None] | None:
    """``--column COLUMN=IDENTIFIER`` flags as ``match()``'s ``columns``."""
    columns: dict[Hashable, str | None] = {
        k: (v or None) for k, v in _pairs(items, "--column").items()
    }
    unknown = [v for v in columns.values() if v is not None and v not in IDENTIFIERS]
    if unknown:
        raise SystemExit(f"smartmatch-pandas: unknown identifier {unknown[0]!r}")
    return columns or None


def _match(args: argparse.Namespace) -> None:
    from . import verbs as api

    options = _option_values(args, "match")
    resume_with = {"input": args.input, "output": args.output, "all_matches": args.all_matches}
    if _streamed(args):
        from .verbs.large_files import match_file

        with _resume_hint(resume_with):
            written = match_file(args.input, args.output, **options).written
    else:
        try:
            frame = read_table(args.input)
            with _resume_hint(resume_with):
                enriched = api.match(frame, **options)
            write_table(enriched, args.output)
        except MemoryError:  # Arrow's ArrowMemoryError is one too
            raise SystemExit(
                f"smartmatch-pandas: {args.input} does not fit in memory; match it with "
                "--stream, which reads, sends and merges it in batches"
            ) from None
        written = len(enriched)
    print(f"wrote {written:,} rows to {args.output}")


def _streamed(args: argparse.Namespace) -> bool:
    """Whether to match the file in batches: asked for, or larger than the spill threshold."""
    if args.stream is not None:
        return bool(args.stream)
    try:
        return bool(args.input.stat().st_size > spill_threshold())
    except OSError:
        return False  # reading it says what is wrong


# -- the job store: resume, jobs, clear-cache ------------------------------------


def _job_store_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    resume = commands.add_parser(
        "resume", help="pick up a submitted job: wait, download, merge back onto the input"
    )
    resume.add_argument("filename", help="the job's filename, as printed when it was submitted")
    resume.add_argument(
        "-i",
        "--input",
        type=Path,
        help="the contact list that was submitted (.csv or .parquet): the result is merged "
        "onto it (without it: the uploaded columns and the appended ones)",
    )
    resume.add_argument("-o", "--output", type=Path, help="write the result (.csv or .parquet)")
    _option_arguments(resume, "resume")
    _memory_arguments(resume)
    resume.set_defaults(run=_resume)

    jobs = commands.add_parser("jobs", help="list the jobs in the job store, newest first")
    jobs.set_defaults(run=_jobs)

    clear = commands.add_parser(
        "clear-cache", help="remove the cached results (they hold contact data)"
    )
    clear.add_argument(
        "--jobs", action="store_true", help="also forget finished jobs (unfinished ones stay)"
    )
    clear.set_defaults(run=_clear_cache)


@contextlib.contextmanager
def _resume_hint(args: dict[str, object]) -> Iterator[None]:
    """Make an interrupted wait print the shell command that resumes the job."""
    from .job.handle import RESUME_COMMAND

    def command(filename: str) -> str:
        words = ["smartmatch-pandas", "resume", filename]
        if args.get("input"):
            words += ["--input", str(args["input"])]
        if args.get("output"):
            words += ["-o", str(args["output"])]
        if args.get("all_matches"):
            words.append("--all-matches")
        return shlex.join(words)

    token = RESUME_COMMAND.set(command)
    try:
        yield
    finally:
        RESUME_COMMAND.reset(token)


def _resume(args: argparse.Namespace) -> None:
    from . import verbs as api

    resume_with = {"input": args.input, "output": args.output, "all_matches": args.all_matches}
    options = _option_values(args, "resume")
    options.pop("all_matches")  # how the result is written, not how the job is resumed
    if args.input and args.output and _streamed(args):
        from .verbs.large_files import resume_file

        with _resume_hint(resume_with):
            written = resume_file(
                args.filename, args.input, args.output, all_matches=args.all_matches, **options
            ).written
        print(f"wrote {written:,} rows to {args.output}")
        return
    frame = read_table(args.input) if args.input else None
    with _resume_hint(resume_with):
        result = api.resume(args.filename, frame, **options)
    table = result.candidates if args.all_matches else result.frame
    if args.output:
        write_table(table, args.output)
        print(f"wrote {len(table):,} rows to {args.output}")
    else:
        print(f"{result.summary}. Write it out with -o FILE (.csv or .parquet).")


def _jobs(args: argparse.Namespace) -> None:
    from . import verbs as api
    from .job.store import store_home

    listed = api.jobs()
    print(f"Job store: {store_home()}")
    if listed.empty:
        print("No jobs yet.")
        return
    shown = listed[["filename", "state", "submitted", "rows", "host", "polls", "note"]].copy()
    shown["submitted"] = shown["submitted"].dt.strftime("%Y-%m-%d %H:%M UTC")
    failed = listed["state"] == "failed"
    shown.loc[failed, "note"] = "failed: " + listed.loc[failed, "error"].fillna("")
    # A record's error is the service's text: its control characters are shown, not acted on.
    print(printable(shown.to_string(index=False)))


def _clear_cache(args: argparse.Namespace) -> None:
    from . import verbs as api
    from .job.store import store_home

    cleared = api.clear_cache(jobs=args.jobs)
    size = f"{cleared.bytes / 1e6:.1f} MB" if cleared.bytes >= 1e5 else f"{cleared.bytes:,} bytes"
    forgotten = f", and forgot {cleared.jobs:,} finished jobs" if args.jobs else ""
    print(f"Removed {cleared.results:,} cached results ({size}){forgotten} from {store_home()}.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
