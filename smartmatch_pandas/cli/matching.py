"""``smartmatch-pandas match``, ``resume`` and ``check``: a list file in, the enriched list out.

Everything that can be refused is refused before the job is registered: the
list is opened (its encoding, delimiter and headers told, blank or repeated
headers made unique), the output checked (see :mod:`.outputs`), the flags'
values checked by the verbs before they send anything.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from ..deliverable.summary import RANK
from ..deliverable.voter_fields import dates_as_days
from ..errors import InputError, SmartMatchError
from ..files.spool import spill_threshold
from ..files.tables import (
    SPREADSHEET_KINDS,
    TableFile,
    TableOutput,
    TableWriter,
    frame_of,
    write_table,
)
from ..progress import ProgressArg, ProgressEvent
from .flags import Commands, memory_arguments, option_arguments, option_values, talk_arguments
from .inputs import input_arguments, open_input
from .messages import Console, UsageError, command_line_words
from .outputs import ADDITIONAL, output_arguments, planned_output

_LIST_HELP = "the contact list: .csv (.tsv, .txt, .csv.gz), .xlsx or .parquet"


def add_matching(commands: Commands) -> None:
    """The ``match``, ``resume`` and ``check`` commands."""
    match = commands.add_parser(
        "match",
        help="match a contact list file, writing the enriched list",
        description="Match a contact list file against the voter file and write the enriched "
        "list. Everything that can be refused (the list, the output, the flags) is refused "
        "before the job is registered.",
    )
    match.add_argument(
        "input",
        type=Path,
        nargs="+",
        help=_LIST_HELP + "; several lists are matched at once (with --output-dir)",
    )
    output_arguments(match, required=False)
    match.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write each enriched list into DIR under its own name (made if missing): "
        "needed with several lists",
    )
    input_arguments(match)
    option_arguments(match, "match")
    talk_arguments(match)
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
        help="the contact list that was submitted: the result is merged onto it (without "
        "it: the uploaded columns and the appended ones)",
    )
    output_arguments(resume, required=False)
    input_arguments(resume)
    option_arguments(resume, "resume")
    talk_arguments(resume)
    memory_arguments(resume)
    resume.set_defaults(run=run_resume)

    check = commands.add_parser(
        "check", help="say what would be sent of a list, and what is wrong with it (free)"
    )
    check.add_argument("input", type=Path, help=_LIST_HELP)
    input_arguments(check)
    option_arguments(check, "check")
    check.set_defaults(run=run_check)


def run_match(args: argparse.Namespace) -> None:
    """Match the input file and write the enriched list (and the additional candidates);
    several input files are matched at once (:func:`run_several`)."""
    if len(args.input) > 1 or args.output_dir is not None:
        run_several(args)
        return
    if args.output is None:
        raise UsageError("give -o OUTPUT, the enriched list to write (or --output-dir DIR)")
    args.input = args.input[0]
    console: Console = args.console
    output = planned_output(args.output, args)
    table = open_input(args.input, args)
    options = option_values(args, "match")
    options["progress"] = console.progress()
    additional = _additional(output, options, args)
    with resume_hint(
        console, args.input, output.path, options["all_matches"], bool(options["typed"])
    ):
        if _streamed(args):
            _match_streamed(console, table, output, additional, options)
        else:
            _match_in_memory(console, table, output, additional, options)


def _match_streamed(
    console: Console,
    table: TableFile,
    output: TableOutput,
    additional: TableOutput | None,
    options: dict[str, Any],
) -> None:
    from ..verbs.large_files import match_file

    if output.kind == "xlsx":
        per_row = options["max_matches"] if options["all_matches"] else 1
        output.check_rows(table.count_rows() * per_row)
    done = match_file(table, output, **options)
    console.result(f"wrote {done.written:,} rows to {output.path}")
    if additional is not None:
        others = _additional_streamed(done.filename, table, additional, options)
        console.result(_additional_written(others, additional))


def _match_in_memory(
    console: Console,
    table: TableFile,
    output: TableOutput,
    additional: TableOutput | None,
    options: dict[str, Any],
) -> None:
    from .. import verbs as api

    frame = _read(table)
    output.check_rows(len(frame) * (options["max_matches"] if options["all_matches"] else 1))
    if additional is not None:
        additional.check_rows(len(frame) * (options["max_matches"] - 1), "the candidates")
        options = {**options, "all_matches": True}  # split below
    enriched = api.match(frame, **options)
    again = ["--input", str(table.path), "-o", str(output.path)]
    if additional is None:
        _write(enriched, output, again, table)
        console.result(f"wrote {len(enriched):,} rows to {output.path}")
        return
    best, rest = _split(enriched)
    _write(best, output, again, table)
    _write(rest, additional, again, table)
    console.result(f"wrote {len(best):,} rows to {output.path}")
    console.result(_additional_written(len(rest), additional))


def run_several(args: argparse.Namespace) -> None:
    """Match several list files at once, under the key's one poll budget, writing each
    enriched list into ``--output-dir``; one that fails loses none of the others."""
    from ..verbs.lists import match_lists

    console: Console = args.console
    paths: list[Path] = args.input
    if args.output is not None:
        raise UsageError(
            "-o names one output: with several lists give --output-dir DIR, where each is "
            "written under its own name"
        )
    if args.output_dir is None:
        raise UsageError("several lists need --output-dir DIR, where each is written")
    if args.stream:
        raise UsageError("--stream matches one list at a time: give the lists one by one")
    outputs = _outputs_in(args.output_dir, paths, args)
    tables = {path: open_input(path, args) for path in paths}
    options = option_values(args, "match")
    if options.get("filename"):
        raise UsageError("--filename names one job: with several lists each gets its own")
    options.pop("filename", None)
    options["progress"] = _notes_of(console)
    frames = {str(path): _read(table) for path, table in tables.items()}
    additional = {path: _additional(outputs[path], options, args) for path in paths}
    for path in paths:
        rows = len(frames[str(path)])
        outputs[path].check_rows(rows * (options["max_matches"] if options["all_matches"] else 1))
    if any(additional.values()):
        options = {**options, "all_matches": True}  # split below
    with resume_hint(console, Path("LIST"), Path("OUTPUT"), bool(options["all_matches"])):
        try:
            results = match_lists(frames, **options)
        except KeyboardInterrupt:
            console.error(
                "each job goes on at the service: resume it with its own list as LIST and "
                "its output as OUTPUT (the lines above name each list's job)"
            )
            raise
    for path in paths:
        name = str(path)
        if name in results.errors:
            continue
        again = ["--input", name, "-o", str(outputs[path].path)]
        beside = additional[path]
        if beside is None:
            best = results[name]
        else:
            best, rest = _split(results[name])
            _write(rest, beside, again, tables[path])
        _write(best, outputs[path], again, tables[path])
        console.result(f"wrote {len(best):,} rows to {outputs[path].path}")
        if beside is not None:
            console.result(_additional_written(len(rest), beside))
    for failed, error in results.errors.items():
        filename = results.filenames.get(failed)
        hint = f" (job {filename})" if filename else ""
        console.error(f"{failed}{hint}: {error}")
    results.raise_first()


def _outputs_in(
    folder: Path, paths: list[Path], args: argparse.Namespace
) -> dict[Path, TableOutput]:
    """Each list's output in ``folder``: its own name, with its own extension where that is
    one an output can have, else ``.csv``; refused now if two would collide."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"--output-dir {folder} cannot be made ({exc.strerror or exc})") from None
    outputs: dict[Path, TableOutput] = {}
    taken: dict[Path, Path] = {}
    for path in paths:
        name = path.name
        kept = next((s for s in _OUTPUT_SUFFIXES if name.lower().endswith(s)), None)
        target = folder / (name if kept else f"{path.stem}.csv")
        if target in taken:
            raise UsageError(
                f"{taken[target]} and {path} would both be written to {target}: rename one"
            )
        taken[target] = path
        outputs[path] = planned_output(target, args)
    return outputs


#: The input suffixes an output keeps (the others become ``.csv``).
_OUTPUT_SUFFIXES: tuple[str, ...] = (".csv.gz", ".csv", ".parquet", ".xlsx")


def _notes_of(console: Console) -> ProgressArg:
    """Progress for several lists: each note said, named by its list; no bars."""

    def say(event: ProgressEvent) -> None:
        if event.stage == "note" and event.message and not console.quiet:
            console.say(f"{event.job}: {event.message}" if event.job else event.message)

    return say


def _additional_written(rows: int, additional: TableOutput) -> str:
    return f"wrote {rows:,} additional candidates (rank 2 and up) to {additional.path}"


def _write(frame: pd.DataFrame, output: TableOutput, again: list[str], source: TableFile) -> None:
    """Write a paid-for result (read from ``source``); if it cannot be, say how to write it
    again at no cost."""
    try:
        write_table(_as_written(frame, output), output, source=source)
    except OSError as exc:
        filename = frame.attrs.get("smartmatch", {}).get("filename") or "FILENAME"
        command = shlex.join(["smartmatch-pandas", "resume", filename, *again, "--overwrite"])
        raise SmartMatchError(
            f"{output.path} could not be written ({exc.strerror or exc}); the result is kept "
            f"in the job store: write it again with {command}",
            filename=filename,
        ) from None


def _as_written(frame: pd.DataFrame, output: TableOutput) -> pd.DataFrame:
    """``frame`` as ``output`` holds it: in a CSV or a workbook, typed dates as days
    (YYYY-MM-DD, with no time of day; a result read without ``--typed`` is written as it
    always was)."""
    typed = "typed" in frame.attrs.get("smartmatch", {})
    return dates_as_days(frame) if typed and output.kind in SPREADSHEET_KINDS else frame


def _additional(
    output: TableOutput, options: dict[str, Any], args: argparse.Namespace
) -> TableOutput | None:
    """Where the additional candidates go: beside the output, when more than one match per
    row is paid for and ``--all-matches`` does not write them all into the output."""
    if options["max_matches"] == 1 or options["all_matches"]:
        return None
    return planned_output(output.beside(ADDITIONAL).path, args)


def _split(candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate → the best of each row (the enriched list) and the others."""
    rank = candidates.attrs.get("smartmatch", {}).get("rank", RANK)  # match_rank_2...
    best = candidates[candidates[rank] == 1].drop(columns=rank)
    best.attrs = candidates.attrs
    return best, candidates[candidates[rank] > 1]


def _additional_streamed(
    filename: str, table: TableFile, additional: TableOutput, options: dict[str, Any]
) -> int:
    """Write the additional candidates of a job matched in batches, in batches: every
    candidate merged again from the job's deliverable (the job store's copy, or the
    service's: no new job) into a private temporary file, then those of rank 2 and up."""
    from ..verbs.large_files import resume_file

    with tempfile.TemporaryDirectory(prefix="smartmatch-") as folder:  # mode 0700
        every = Path(folder) / "candidates.parquet"
        keep = {k: options[k] for k in ("base_url", "poll_interval", "cache")}
        resume_file(filename, table, every, all_matches=True, progress=False, **keep)
        candidates = TableFile(every)
        written = 0
        with TableWriter(additional, candidates.schema) as writer:
            for batch in candidates.batches():
                rest = batch.filter(pc.greater(batch[RANK], 1))
                writer.write(rest)
                written += rest.num_rows
            writer.close()
    return written


def _read(table: TableFile) -> pd.DataFrame:
    try:
        return frame_of(table.read())
    except MemoryError:  # Arrow's ArrowMemoryError is one too
        raise InputError(
            f"{table.path} does not fit in memory; match it with --stream, which reads, sends "
            "and merges it in batches"
        ) from None


def _streamed(args: argparse.Namespace) -> bool:
    """Whether to match the file in batches: asked for, or larger than the spill threshold."""
    if args.stream is not None:
        return bool(args.stream)
    try:
        return bool(args.input.stat().st_size > spill_threshold())
    except OSError:
        return False  # reading it says what is wrong


@contextlib.contextmanager
def resume_hint(
    console: Console,
    source: Path | None,
    output: Path | None,
    all_matches: bool,
    typed: bool = False,
) -> Iterator[None]:
    """Make an interrupted wait print the shell command that resumes the job (and let the
    console know that there is a job to resume)."""
    from ..job.handle import RESUME_COMMAND

    def command(filename: str) -> str:
        console.job = filename
        words = ["smartmatch-pandas", "resume", filename]
        if source:
            words += ["--input", str(source)]
        if output:
            words += ["-o", str(output)]
        if all_matches:
            words.append("--all-matches")
        if typed:
            words.append("--typed")
        return shlex.join(words)

    token = RESUME_COMMAND.set(command)
    try:
        yield
    finally:
        RESUME_COMMAND.reset(token)


def run_resume(args: argparse.Namespace) -> None:
    """Pick up a submitted job, and write its result if asked."""
    from .. import verbs as api

    console: Console = args.console
    output = planned_output(args.output, args) if args.output else None
    table = open_input(args.input, args) if args.input else None
    options = option_values(args, "resume")
    options["progress"] = console.progress()
    all_matches = options.pop("all_matches")  # how the result is written, not how it is resumed
    with resume_hint(console, args.input, args.output, all_matches, bool(options["typed"])):
        if table is not None and output is not None and _streamed(args):
            from ..verbs.large_files import resume_file

            written = resume_file(
                args.filename, table, output, all_matches=all_matches, **options
            ).written
            console.result(f"wrote {written:,} rows to {output.path}")
            return
        frame = _read(table) if table is not None else None
        result = api.resume(args.filename, frame, **options)
    written_table = result.candidates if all_matches else result.frame
    if output is None:
        print(f"{result.summary}. Write it out with -o FILE (.csv, .parquet or .xlsx).")
        return
    output.check_rows(len(written_table))
    write_table(_as_written(written_table, output), output, source=table)
    console.result(f"wrote {len(written_table):,} rows to {output.path}")


def run_check(args: argparse.Namespace) -> None:
    """Print what would be sent of the list and what is wrong with it."""
    from ..preparation.check import check_frame

    table = open_input(args.input, args)
    columns = option_values(args, "check")["columns"]
    print(command_line_words(str(check_frame(_read(table), columns)), str(args.input)))
