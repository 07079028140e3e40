"""``smartmatch-pandas match`` and ``resume``: a list file in, the enriched list file out."""

from __future__ import annotations

import argparse
import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path

from ..files.spool import spill_threshold
from ..files.tables import read_table, write_table
from .flags import Commands, memory_arguments, option_arguments, option_values


def add_matching(commands: Commands) -> None:
    """The ``match`` and ``resume`` commands."""
    match = commands.add_parser("match", help="match a CSV or Parquet file")
    match.add_argument("input", type=Path, help="contact list (.csv or .parquet)")
    match.add_argument(
        "-o", "--output", type=Path, required=True, help="enriched list (.csv or .parquet)"
    )
    option_arguments(match, "match")
    memory_arguments(match)
    match.set_defaults(run=run_match)

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
    option_arguments(resume, "resume")
    memory_arguments(resume)
    resume.set_defaults(run=run_resume)


def run_match(args: argparse.Namespace) -> None:
    """Match the input file and write the enriched list."""
    from .. import verbs as api

    options = option_values(args, "match")
    resume_with = {"input": args.input, "output": args.output, "all_matches": args.all_matches}
    if _streamed(args):
        from ..verbs.large_files import match_file

        with resume_hint(resume_with):
            written = match_file(args.input, args.output, **options).written
    else:
        try:
            frame = read_table(args.input)
            with resume_hint(resume_with):
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


@contextlib.contextmanager
def resume_hint(args: dict[str, object]) -> Iterator[None]:
    """Make an interrupted wait print the shell command that resumes the job."""
    from ..job.handle import RESUME_COMMAND

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


def run_resume(args: argparse.Namespace) -> None:
    """Pick up a submitted job, and write its result if asked."""
    from .. import verbs as api

    resume_with = {"input": args.input, "output": args.output, "all_matches": args.all_matches}
    options = option_values(args, "resume")
    options.pop("all_matches")  # how the result is written, not how the job is resumed
    if args.input and args.output and _streamed(args):
        from ..verbs.large_files import resume_file

        with resume_hint(resume_with):
            written = resume_file(
                args.filename, args.input, args.output, all_matches=args.all_matches, **options
            ).written
        print(f"wrote {written:,} rows to {args.output}")
        return
    frame = read_table(args.input) if args.input else None
    with resume_hint(resume_with):
        result = api.resume(args.filename, frame, **options)
    table = result.candidates if args.all_matches else result.frame
    if args.output:
        write_table(table, args.output)
        print(f"wrote {len(table):,} rows to {args.output}")
    else:
        print(f"{result.summary}. Write it out with -o FILE (.csv or .parquet).")
