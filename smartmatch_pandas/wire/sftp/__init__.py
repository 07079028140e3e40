"""Results from the SFTP drop: SmartMatch's third delivery channel.

SmartMatch puts every finished job's deliverable (a zip of the output CSV
and a summary report) in the ``smartmatch`` folder of the account's
file-transfer area. This module finds a job's file there, leaves it alone
while it is still being written, downloads it into a
:class:`~smartmatch_pandas.files.spool.Spool` (in memory, or past the spill
threshold in a private temporary file; resuming after a dropped connection),
checks that it is whole without holding it whole, and hands the spool back.
Whether a whole file is the job's deliverable is the caller's ``vet`` to say
(the job layer reads it with the one deliverable reader every channel uses,
:class:`~smartmatch_pandas.job.vetting.DeliverableCheck`). It never writes
or deletes anything on the server.

>>> job = smartmatch_pandas.submit(df)                        # doctest: +SKIP
>>> enriched = job.wait(via="sftp").result().frame            # doctest: +SKIP
>>> smartmatch_pandas.wire.sftp.list_deliverables()           # doctest: +SKIP

Settings come from arguments, else environment variables, else defaults
(see :class:`SFTPSettings`): ``host`` (``TS_SFTP_HOST``, default
``transfer.targetsmart.com``), ``port`` (``TS_SFTP_PORT``, 22), ``username``
(``TS_SFTP_USERNAME``), ``password`` (``TS_SFTP_PASSWORD``) or ``key_file``
(``TS_SFTP_KEY_FILE``) with ``key_passphrase`` (``TS_SFTP_KEY_PASSPHRASE``),
``folder`` (``TS_SFTP_FOLDER``, ``smartmatch``), ``known_hosts``
(``TS_SFTP_KNOWN_HOSTS``), ``trust_host_key`` (``TS_SFTP_HOST_KEY``) and
``poll_interval`` (``SMARTMATCH_SFTP_POLL_INTERVAL``, 180 s).

The server's host key must be known (``known_hosts``) or pinned
(``trust_host_key``); an unknown or changed key is refused before any
credential is sent. Passwords and passphrases never appear in a repr, a
message or a log line.

Paramiko does the SSH: it is synchronous, so it works from a plain notebook
cell where an event loop is already running.

The modules: :mod:`~smartmatch_pandas.wire.sftp.settings` (how to reach the
drop), :mod:`~smartmatch_pandas.wire.sftp.host_keys` (which server to trust),
:mod:`~smartmatch_pandas.wire.sftp.drop` (the connection, listing and reading)
and :mod:`~smartmatch_pandas.wire.sftp.finding` (a job's file, once or until it
is there).
"""

from __future__ import annotations

try:
    import paramiko  # noqa: F401  (the optional extra: its absence said plainly, once)
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "results over SFTP need paramiko: pip install 'smartmatch-pandas[sftp]'"
    ) from exc

from .drop import RemoteFile, SFTPDrop, log
from .finding import (
    Vet,
    belongs_to,
    fetch_deliverable,
    incomplete,
    is_deliverable_name,
    list_deliverables,
    wait_for_deliverable,
)
from .settings import (
    DEFAULT_FOLDER,
    DEFAULT_HOST,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PORT,
    ENVIRONMENT,
    MIN_SERVICE_POLL_INTERVAL,
    SFTPOptions,
    SFTPSettings,
)

__all__ = [
    "DEFAULT_FOLDER",
    "DEFAULT_HOST",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_PORT",
    "ENVIRONMENT",
    "MIN_SERVICE_POLL_INTERVAL",
    "RemoteFile",
    "SFTPDrop",
    "SFTPOptions",
    "SFTPSettings",
    "Vet",
    "belongs_to",
    "fetch_deliverable",
    "incomplete",
    "is_deliverable_name",
    "list_deliverables",
    "log",
    "wait_for_deliverable",
]
