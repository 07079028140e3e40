"""``smartmatch-pandas``: demo, serve, match, and the job store's resume, jobs, clear-cache.

The CLI is a view: it builds the same options and calls the same verbs as
:func:`smartmatch_pandas.match`. The API key comes from ``TS_API_KEY`` only,
never a flag, so it stays out of shell history and process listings.

Its modules: :mod:`.parser` assembles the commands, each declared with its
flags beside what it runs (:mod:`.sandbox`: ``demo``, ``voterfile``,
``sample``; :mod:`.serve`; :mod:`.matching`: ``match``, ``resume``;
:mod:`.store`: ``jobs``, ``clear-cache``); :mod:`.flags` derives the options'
flags from their declaration.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import SmartMatchError
from .parser import build_parser

__all__ = ["build_parser", "main"]


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
