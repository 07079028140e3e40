"""Where the package keeps files on the user's machine.

Shared by the client (job store, result cache) and the local service
(voter files): it says where files go, and nothing about the protocol.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

APP_NAME: Final = "smartmatch-pandas"


def user_cache_dir() -> Path:
    """The user's cache folder for this package.

    ``$XDG_CACHE_HOME/smartmatch-pandas`` (default ``~/.cache/smartmatch-pandas``)
    on Linux and other Unixes, ``~/Library/Caches/smartmatch-pandas`` on macOS,
    and ``%LOCALAPPDATA%\\smartmatch-pandas\\Cache`` on Windows.
    """
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / APP_NAME / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_NAME
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / APP_NAME


def configured_dir(variable: str, default: Path) -> Path:
    """The folder named by the environment variable ``variable``, else ``default``."""
    moved = os.environ.get(variable)
    return Path(moved).expanduser() if moved else default
