"""The local service's memory on disk, so that a restart forgets nothing it promised.

With a data folder (``smartmatch-pandas serve --data-dir DIR``,
``LocalService(data_dir=...)``) the service keeps, beside the uploads and
deliverables its object store holds already:

- ``jobs/<filename>.json``: each registered job and its state, so that a job
  submitted before a restart can be polled, downloaded (or uploaded) after it;
- ``signing_key``: the secret presigned URLs are signed with, so that a URL
  handed out before a restart stays valid until it expires;
- ``api_key``: the key the service generated, when none was given, so that
  the ``export TS_API_KEY=...`` lines printed once stay true.

Folders are 0700 and files 0600, written atomically
(:mod:`smartmatch_pandas.private_files`); nothing here holds contact data.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..private_files import write_private


class Journal:
    """A data folder's record of the service's jobs and secrets.

    Parameters
    ----------
    folder
        The service's data folder; made (0700) if missing.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.jobs_dir = folder / "jobs"
        # A folder of the user's own is left as it is; the ones made here are private.
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.jobs_dir.mkdir(exist_ok=True, mode=0o700)
        self.jobs_dir.chmod(0o700)

    def save_job(self, record: dict[str, Any]) -> None:
        """Write one job's record, replacing the one of the same filename."""
        path = self.jobs_dir / f"{record['filename']}.json"
        write_private(path, json.dumps(record, indent=1, sort_keys=True).encode())

    def jobs(self) -> list[dict[str, Any]]:
        """Every job recorded (a file that cannot be read is skipped, not fatal)."""
        found = []
        for path in sorted(self.jobs_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                record = json.loads(path.read_bytes())
                if isinstance(record, dict) and isinstance(record.get("filename"), str):
                    found.append(record)
        return found

    def signing_key(self) -> bytes:
        """The secret presigned URLs are signed with: the one kept, or a new one kept now."""
        return self._kept("signing_key", lambda: secrets.token_bytes(32))

    def api_key(self, make: Callable[[], str]) -> str:
        """The API key generated for this folder before, or ``make()``'s, kept now."""
        return self._kept("api_key", lambda: make().encode()).decode().strip()

    def _kept(self, name: str, make: Callable[[], bytes]) -> bytes:
        path = self.folder / name
        with contextlib.suppress(FileNotFoundError):
            kept = path.read_bytes()
            if kept.strip():
                return kept
        value = make()
        write_private(path, value)
        return value
