"""``smartmatch-pandas``: demo, serve, match, check, and the job store's resume, jobs,
clear-cache.

The CLI is a view: it builds the same options and calls the same verbs as
:func:`smartmatch_pandas.match`. The API key comes from ``TS_API_KEY`` only,
never a flag, so it stays out of shell history and process listings.

Its modules: :mod:`.parser` assembles the commands, each declared with its
flags beside what it runs (:mod:`.sandbox`: ``demo``, ``voterfile``,
``sample``; :mod:`.serve`; :mod:`.matching`: ``match``, ``resume``,
``check``; :mod:`.store`: ``jobs``, ``clear-cache``); :mod:`.flags` derives
the options' flags from their declaration; :mod:`.inputs` and :mod:`.outputs`
open the list and check the output; :mod:`.messages` says everything, in
command-line words, and holds the exit codes.

Exit status: 0 done, 1 failed, 2 a wrong command or flag (nothing sent),
3 interrupted while a job goes on (resume it), 4 timed out while a job goes on
(resume it); see :class:`~smartmatch_pandas.cli.messages.ExitCode`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import JobTimeoutError, OptionError, SmartMatchError
from .messages import Console, ExitCode, UsageError
from .parser import build_parser

__all__ = ["ExitCode", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see :class:`ExitCode`)."""
    args = build_parser().parse_args(argv)  # a wrong command or flag: exit status 2
    quiet = bool(getattr(args, "quiet", False))
    source = getattr(args, "input", None)
    if isinstance(source, list):  # match's lists: advice names the one list there is
        source = source[0] if len(source) == 1 else None
    console = Console(
        bars=bool(getattr(args, "progress", True)) and not quiet,
        quiet=quiet,
        input_name=str(source) if source else None,
    )
    args.console = console
    try:
        with console.warnings_said():
            return int(args.run(args) or ExitCode.DONE)
    except (UsageError, OptionError) as exc:
        console.error(str(exc))
        return ExitCode.USAGE
    except JobTimeoutError as exc:
        console.error(str(exc))
        return ExitCode.TIMED_OUT
    except (SmartMatchError, ImportError) as exc:  # ImportError: an extra not installed
        console.error(str(exc))
        return ExitCode.FAILED
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED if console.job else 130
    except BrokenPipeError:  # `smartmatch-pandas jobs | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED
    except OSError as exc:  # a file that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        console.error(f"{where}{exc.strerror or exc}")
        return ExitCode.FAILED
    finally:
        console.close()
