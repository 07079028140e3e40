"""Results from the SFTP drop: SmartMatch's third delivery channel.

SmartMatch puts every finished job's deliverable (a zip of the output CSV
and a summary report) in the ``smartmatch`` folder of the account's
file-transfer area. This module finds a job's file there, leaves it alone
while it is still being written, downloads it to memory (resuming after a
dropped connection), verifies it, and hands it to the same reading and
merge-back as the other channels. It never writes or deletes anything on
the server.

>>> job = smartmatch_pandas.submit(df)                        # doctest: +SKIP
>>> enriched = job.wait(via="sftp").result().frame            # doctest: +SKIP
>>> smartmatch_pandas.wire.sftp.list_deliverables()                # doctest: +SKIP

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
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import socket
import stat
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypedDict, TypeVar, Unpack

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..deliverable import read_deliverable
from ..errors import (
    AuthorizationError,
    DeliverableError,
    HostKeyError,
    JobTimeoutError,
    OptionError,
    SmartMatchWarning,
    TransportError,
)
from ..files.archives import MAGIC_BYTES, archive_kind
from ..identifiers import MATCHBACK_ID
from ..progress import ProgressArg, Reporter, reporting
from .secrets import redact, register_secret

try:
    import paramiko
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "results over SFTP need paramiko: pip install 'smartmatch-pandas[sftp]'"
    ) from exc

log = logging.getLogger("smartmatch_pandas.wire.sftp")
#: paramiko's records of the connection: its errors reach the user as exceptions.
_SSH_LOG: Final = "smartmatch_pandas.wire.sftp.ssh"
logging.getLogger(_SSH_LOG).addHandler(logging.NullHandler())

DEFAULT_HOST: Final = "transfer.targetsmart.com"
DEFAULT_PORT: Final = 22
DEFAULT_FOLDER: Final = "smartmatch"
#: Seconds between two looks at the folder: TargetSmart asks clients to poll gently.
DEFAULT_POLL_INTERVAL: Final = 180.0
#: The least poll interval allowed against TargetSmart's server (its API's own limit).
MIN_SERVICE_POLL_INTERVAL: Final = 30.0
#: Attempts at an operation whose connection dropped (each after a fresh connection).
RETRIES: Final = 4
#: Consecutive looks at the folder that may fail before waiting gives up.
MAX_LOOK_FAILURES: Final = 10
#: Connections are kept between looks only when looks are this frequent.
_KEEP_OPEN_BELOW: Final = 60.0
#: Bytes read at a time: what a dropped connection can cost, and the progress step.
_BLOCK: Final = 1 << 15
#: Names that file-transfer tools give a file while it is being written.
_PARTIAL_SUFFIXES: Final = (".part", ".partial", ".filepart", ".tmp", ".temp", ".crdownload")
_ARCHIVE_SUFFIXES: Final = (".zip", ".gz", ".tgz")

ENVIRONMENT: Final = {
    "host": "TS_SFTP_HOST",
    "port": "TS_SFTP_PORT",
    "username": "TS_SFTP_USERNAME",
    "password": "TS_SFTP_PASSWORD",
    "key_file": "TS_SFTP_KEY_FILE",
    "key_passphrase": "TS_SFTP_KEY_PASSPHRASE",
    "folder": "TS_SFTP_FOLDER",
    "known_hosts": "TS_SFTP_KNOWN_HOSTS",
    "trust_host_key": "TS_SFTP_HOST_KEY",
    "poll_interval": "SMARTMATCH_SFTP_POLL_INTERVAL",
}
_SECRET_FIELDS: Final = frozenset({"password", "key_passphrase"})


class SFTPOptions(TypedDict, total=False):
    """Keyword arguments that override :class:`SFTPSettings` fields."""

    host: str
    port: int
    username: str
    password: str | None
    key_file: str | os.PathLike[str] | None
    key_passphrase: str | None
    folder: str
    known_hosts: str | os.PathLike[str] | None
    trust_host_key: str | None
    poll_interval: float
    settle: float
    network_timeout: float


@dataclass(frozen=True, repr=False)
class SFTPSettings:
    """How to reach the SFTP drop folder, checked once.

    Build it with :meth:`resolve`, which reads the environment for anything
    not given.

    Attributes
    ----------
    username
        The SFTP account (``TS_SFTP_USERNAME``).
    host, port
        The server; TargetSmart's ``transfer.targetsmart.com``, port 22, by default.
    password
        The account's password (``TS_SFTP_PASSWORD``); never shown.
    key_file, key_passphrase
        A private key file to log in with, and its passphrase (never shown).
    folder
        The folder the deliverables land in, relative to the login folder.
    known_hosts
        A known_hosts file; default ``~/.ssh/known_hosts`` and
        ``/etc/ssh/ssh_known_hosts``.
    trust_host_key
        Trust exactly this host key, whatever the known_hosts files say: a
        fingerprint (``"SHA256:..."``), a public key (``"ssh-ed25519 AAAA..."``)
        or a known_hosts line. Check it with TargetSmart before pinning it.
    poll_interval
        Seconds between two looks at the folder while waiting (default 180).
    settle
        Seconds between the two listings that must show a file at the same
        size before it is taken.
    network_timeout
        Seconds any single network operation may take.
    """

    username: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password: str | None = None
    key_file: Path | None = None
    key_passphrase: str | None = None
    folder: str = DEFAULT_FOLDER
    known_hosts: Path | None = None
    trust_host_key: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    settle: float = 5.0
    network_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("key_file", "known_hosts"):  # paths given as text
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        register_secret(self.password)
        register_secret(self.key_passphrase)
        if not isinstance(self.username, str) or not self.username:
            raise OptionError(
                "no SFTP username: pass username=... or set TS_SFTP_USERNAME (TargetSmart "
                "Client Services give SFTP accounts)"
            )
        if not self.password and self.key_file is None:
            raise OptionError(
                f"no SFTP password or private key for user {self.username!r}: set "
                "TS_SFTP_PASSWORD, or pass key_file=... (or set TS_SFTP_KEY_FILE)"
            )
        if (
            not isinstance(self.port, int)
            or isinstance(self.port, bool)
            or not 0 < self.port < 65536
        ):
            raise OptionError(f"port={self.port!r} must be a TCP port number, 1-65535")
        for name in ("poll_interval", "settle", "network_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise OptionError(f"{name}={value!r} must be a number of seconds, 0 or more")
        if self.poll_interval <= 0 or self.network_timeout <= 0:
            raise OptionError("poll_interval and network_timeout must be more than 0 seconds")
        if self.host == DEFAULT_HOST and self.poll_interval < MIN_SERVICE_POLL_INTERVAL:
            raise OptionError(
                f"poll_interval={self.poll_interval:g} looks at TargetSmart's SFTP folder too "
                f"often: use {MIN_SERVICE_POLL_INTERVAL:g} s or more (the default is "
                f"{DEFAULT_POLL_INTERVAL:g})"
            )
        if self.trust_host_key is not None:
            _pin(self.trust_host_key)  # raises on a malformed pin

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value is not None:
                value = "<hidden>"
            shown.append(f"{f.name}={value!r}")
        return f"SFTPSettings({', '.join(shown)})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SFTP settings hold a password and are not pickled")

    @property
    def where(self) -> str:
        """``sftp://user@host:port/folder``, safe to show."""
        return f"sftp://{self.username}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def resolve(
        cls,
        settings: SFTPSettings | Mapping[str, Any] | None = None,
        /,
        **options: Unpack[SFTPOptions],
    ) -> SFTPSettings:
        """Settings from ``settings``, then ``options``, then the environment, then defaults.

        Raises
        ------
        OptionError
            A setting is missing or malformed; the message names the
            argument or the environment variable.
        """
        if isinstance(settings, SFTPSettings):
            return replace(settings, **_typed(dict(options), "argument")) if options else settings
        given: dict[str, Any] = {**(settings or {}), **options}
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise OptionError(
                f"unknown SFTP setting {unknown[0]!r}; the settings are "
                + ", ".join(f.name for f in fields(cls))
            )
        values = _typed({k: v for k, v in given.items() if v is not None}, "argument")
        for name, variable in ENVIRONMENT.items():
            if name not in values and os.environ.get(variable):
                values.update(_typed({name: os.environ[variable]}, variable))
        values.setdefault("username", "")
        return cls(**values)


def _typed(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Convert text (from the environment) to each field's type, naming ``source`` on error."""
    out = dict(values)
    for name in ("port",):
        if isinstance(out.get(name), str):
            try:
                out[name] = int(out[name])
            except ValueError:
                raise OptionError(f"{source} {name}={out[name]!r} must be a port number") from None
    for name in ("poll_interval", "settle", "network_timeout"):
        if isinstance(out.get(name), str):
            try:
                out[name] = float(out[name])
            except ValueError:
                raise OptionError(
                    f"{source} {name}={out[name]!r} must be a number of seconds"
                ) from None
    for name in ("key_file", "known_hosts"):
        if out.get(name) is not None:
            out[name] = Path(out[name]).expanduser()
    return out


# -- host keys ------------------------------------------------------------------


def _pin(value: str) -> tuple[str, str]:
    """``("fingerprint", "SHA256:...")`` or ``("key", "type base64")`` of a trusted key."""
    text = value.strip()
    if text.startswith("SHA256:"):
        return "fingerprint", text
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if word.startswith(("ssh-", "ecdsa-")):
            return "key", f"{word} {words[i + 1]}"
    raise OptionError(
        "trust_host_key must be a fingerprint ('SHA256:...'), a public key "
        "('ssh-ed25519 AAAA...') or a known_hosts line"
    )


def _host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _known_keys(settings: SFTPSettings) -> tuple[dict[str, paramiko.PKey], list[Path]]:
    """The known host keys of the server, by key type, and the files read."""
    if settings.known_hosts is not None:
        files = [settings.known_hosts]
    else:
        files = [Path("~/.ssh/known_hosts").expanduser(), Path("/etc/ssh/ssh_known_hosts")]
    keys: dict[str, paramiko.PKey] = {}
    entry = _host_entry(settings.host, settings.port)
    for path in files:
        if not path.is_file():
            continue
        known = paramiko.HostKeys()
        try:
            known.load(str(path))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise OptionError(f"the known_hosts file {path} cannot be read: {exc}") from None
        for keytype, key in (known.lookup(entry) or {}).items():
            keys.setdefault(keytype, key)
    return keys, files


def _describe_key(key: paramiko.PKey) -> str:
    return f"{key.get_name()} key {key.fingerprint}"


def _check_host_key(settings: SFTPSettings, key: paramiko.PKey) -> None:
    """Accept the server's ``key`` only if it is pinned or known; else raise before logging in."""
    entry = _host_entry(settings.host, settings.port)
    line = f"{entry} {key.get_name()} {key.get_base64()}"
    if settings.trust_host_key is not None:
        kind, pinned = _pin(settings.trust_host_key)
        presented = key.fingerprint if kind == "fingerprint" else line.split(" ", 1)[1]
        if presented == pinned:
            return
        raise HostKeyError(
            f"the SFTP server {entry} presented the {_describe_key(key)}, not the key you "
            "trusted (trust_host_key / TS_SFTP_HOST_KEY). Nothing was sent to it. If the "
            "server's key really changed, check the new fingerprint with its operator and "
            "trust that one instead"
        )
    known, files = _known_keys(settings)
    if known.get(key.get_name()) == key:
        return
    where = ", ".join(str(p) for p in files)
    if not known:
        raise HostKeyError(
            f"the SFTP server {entry} is not in your known hosts ({where}); it presented the "
            f"{_describe_key(key)}. Nothing was sent to it. Check that fingerprint with "
            "TargetSmart (or the server's operator), then trust it: pass "
            f"trust_host_key={key.fingerprint!r} (or set TS_SFTP_HOST_KEY), or add this line "
            f"to your known_hosts file:\n{line}"
        )
    expected = ", ".join(_describe_key(k) for k in known.values())
    raise HostKeyError(
        f"the host key of the SFTP server {entry} HAS CHANGED: your known hosts ({where}) "
        f"have the {expected}, but it presented the {_describe_key(key)}. Someone may be "
        "intercepting the connection; nothing was sent to it. If the operator confirms a "
        "new key, replace the line in your known_hosts file"
    )


def _prefer_key_types(transport: paramiko.Transport, settings: SFTPSettings) -> None:
    """Ask the server for the type of host key we can check, as OpenSSH does."""
    if settings.trust_host_key is not None and _pin(settings.trust_host_key)[0] == "key":
        wanted = [_pin(settings.trust_host_key)[1].split()[0]]
    else:
        wanted = list(_known_keys(settings)[0])
    algorithms: list[str] = []
    for keytype in wanted:
        algorithms += (
            ["rsa-sha2-512", "rsa-sha2-256", keytype] if keytype == "ssh-rsa" else [keytype]
        )
    options = transport.get_security_options()
    available = list(options.key_types)
    first = [a for a in algorithms if a in available]
    options.key_types = tuple(first + [a for a in available if a not in first])


# -- the connection -------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """A file in the SFTP folder, as listed.

    Attributes
    ----------
    name
        The file's name.
    path
        Its path on the server (the folder, then the name).
    size
        Bytes.
    modified
        When it was last written (UTC).
    """

    name: str
    path: str
    size: int
    modified: datetime

    @property
    def _version(self) -> tuple[str, int, datetime]:
        return (self.name, self.size, self.modified)


T = TypeVar("T")


class SFTPDrop:
    """A read-only connection to the drop folder that reconnects when it drops.

    Use it as a context manager; every method connects if needed, and an
    operation cut off by a dropped connection is tried again on a fresh one
    (up to :data:`RETRIES` times, backing off) before a
    :class:`~smartmatch_pandas.TransportError` is raised.
    """

    def __init__(self, settings: SFTPSettings) -> None:
        self.settings = settings
        self.connections = 0
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __repr__(self) -> str:
        state = "connected" if self._sftp is not None else "not connected"
        return f"SFTPDrop({self.settings.where}, {state})"

    def __enter__(self) -> SFTPDrop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next operation opens a new one)."""
        sftp, transport, self._sftp, self._transport = self._sftp, self._transport, None, None
        if sftp is not None:
            sftp.close()
        if transport is not None:
            transport.close()

    # -- operations -----------------------------------------------------------------

    def listing(self) -> list[RemoteFile]:
        """Every regular file in the folder, newest first."""
        folder = self.settings.folder

        def list_folder(sftp: paramiko.SFTPClient) -> list[RemoteFile]:
            try:
                entries = sftp.listdir_attr(folder)
            except (FileNotFoundError, PermissionError) as exc:
                if not self._alive():
                    raise
                what = "no folder" if isinstance(exc, FileNotFoundError) else "no access to folder"
                raise OptionError(
                    f"there is {what} {folder!r} at {self.settings.where}: check folder= "
                    "(or TS_SFTP_FOLDER)"
                ) from None
            files = [_remote(folder, a) for a in entries if _is_file(a)]
            return sorted(files, key=lambda f: f.modified, reverse=True)

        return self._call("list the folder", list_folder)

    def read(
        self, remote: RemoteFile, on_progress: Callable[[int], Any] | None = None
    ) -> bytes | None:
        """The file's bytes, resumed where a dropped connection cut it; None if it changed."""
        buffer = bytearray()

        def read_rest(sftp: paramiko.SFTPClient) -> bytes | None:
            now = sftp.stat(remote.path)
            if (now.st_size, now.st_mtime) != (remote.size, int(remote.modified.timestamp())):
                return None  # written to since it was listed
            if buffer:
                log.info("resuming the download of %s at byte %d", remote.name, len(buffer))
            with sftp.open(remote.path, "rb") as handle:
                handle.seek(len(buffer))
                handle.prefetch(remote.size)
                while len(buffer) < remote.size:
                    block = handle.read(min(_BLOCK, remote.size - len(buffer)))
                    if not block:
                        return None  # shorter than listed: it changed
                    buffer.extend(block)
                    if on_progress:
                        on_progress(len(block))
            return bytes(buffer)

        return self._call(f"download {remote.name}", read_rest)

    # -- plumbing -------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        for attempt in range(RETRIES + 1):
            try:
                return operation(self._client())
            except Exception as exc:
                if not self._dropped(exc):
                    raise
                self.close()
                if attempt == RETRIES:
                    raise TransportError(
                        f"could not {what} at {self.settings.where}: the connection failed "
                        f"{RETRIES + 1} times ({_describe(exc)})"
                    ) from None
                log.warning("SFTP connection lost (%s); reconnecting", _describe(exc))
                time.sleep(min(0.5 * 2**attempt, 10.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    def _dropped(self, exc: Exception) -> bool:
        """Whether ``exc`` is a lost or failed connection (as opposed to an answer)."""
        if isinstance(exc, paramiko.AuthenticationException | HostKeyError | OptionError):
            return False
        if isinstance(exc, EOFError | TimeoutError | ConnectionError | paramiko.SSHException):
            return True
        return isinstance(exc, OSError) and not self._alive()

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is None or not self._alive():
            self.close()
            self._transport, self._sftp = _connect(self.settings)
            self.connections += 1
        return self._sftp


def _connect(settings: SFTPSettings) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    """Connect, check the host key, log in, open SFTP."""
    sock = socket.create_connection((settings.host, settings.port), settings.network_timeout)
    transport = paramiko.Transport(sock)
    transport.set_log_channel(_SSH_LOG)
    try:
        transport.banner_timeout = transport.auth_timeout = settings.network_timeout
        _prefer_key_types(transport, settings)
        transport.start_client(timeout=settings.network_timeout)
        _check_host_key(settings, transport.get_remote_server_key())
        _log_in(transport, settings)
        transport.set_keepalive(30)
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:  # pragma: no cover - paramiko returns None only on a closed channel
            raise paramiko.SSHException("the server did not open an SFTP session")
        sftp.get_channel().settimeout(settings.network_timeout)  # type: ignore[union-attr]
    except BaseException:
        transport.close()
        raise
    return transport, sftp


def _log_in(transport: paramiko.Transport, settings: SFTPSettings) -> None:
    refused: list[str] = []
    if settings.key_file is not None:
        key = _private_key(settings)
        try:
            transport.auth_publickey(settings.username, key)
            return
        except paramiko.AuthenticationException as exc:
            refused.append(f"the key {settings.key_file} ({_describe(exc)})")
    if settings.password:
        try:
            transport.auth_password(settings.username, settings.password)
            return
        except paramiko.AuthenticationException as exc:
            refused.append(f"the password ({_describe(exc)})")
    raise AuthorizationError(
        f"the SFTP server {settings.host}:{settings.port} refused user {settings.username!r} "
        f"with {' and '.join(refused)}: check TS_SFTP_USERNAME and TS_SFTP_PASSWORD "
        "(or key_file)"
    )


def _private_key(settings: SFTPSettings) -> paramiko.PKey:
    assert settings.key_file is not None
    try:
        passphrase = settings.key_passphrase.encode() if settings.key_passphrase else None
        return paramiko.PKey.from_path(settings.key_file, passphrase)  # type: ignore[arg-type]
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError for an encrypted OpenSSH key without a passphrase
        raise OptionError(
            f"the private key {settings.key_file} is encrypted: pass key_passphrase=... "
            "(or set TS_SFTP_KEY_PASSPHRASE)"
        ) from None
    except (OSError, paramiko.SSHException, ValueError) as exc:
        hint = " (is the passphrase right?)" if settings.key_passphrase else ""
        raise OptionError(
            f"the private key {settings.key_file} cannot be read{hint}: {_describe(exc)}"
        ) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _is_file(attrs: paramiko.SFTPAttributes) -> bool:
    return attrs.st_mode is None or stat.S_ISREG(attrs.st_mode)


def _remote(folder: str, attrs: paramiko.SFTPAttributes) -> RemoteFile:
    return RemoteFile(
        name=attrs.filename,
        path=f"{folder.rstrip('/')}/{attrs.filename}",
        size=int(attrs.st_size or 0),
        modified=datetime.fromtimestamp(attrs.st_mtime or 0, UTC),
    )


# -- finding a job's deliverable -------------------------------------------------


def is_deliverable_name(name: str) -> bool:
    """Whether a file named ``name`` may be a deliverable (not hidden, not a partial upload)."""
    return not name.startswith(".") and not name.lower().endswith(_PARTIAL_SUFFIXES)


def belongs_to(name: str, filename: str) -> bool:
    """Whether the file ``name`` is named after the job ``filename``.

    No exact scheme is assumed: the job's name (without a ``.csv`` suffix)
    must appear in the file's name as a whole word, any case, so
    ``JOB_1.zip``, ``job_1_output.zip`` and ``2026-job_1.csv.zip`` belong to
    ``job_1``, while ``job_10.zip`` does not.
    """
    stem = filename.removesuffix(".csv")
    pattern = rf"(?<![A-Za-z0-9]){re.escape(stem)}(?![A-Za-z0-9])"
    return re.search(pattern, name, re.IGNORECASE) is not None


def _candidates(files: list[RemoteFile], filename: str) -> list[RemoteFile]:
    """The job's possible deliverables, the likeliest first."""
    exact = f"{filename.removesuffix('.csv')}.zip".lower()
    mine = [f for f in files if is_deliverable_name(f.name) and belongs_to(f.name, filename)]
    return sorted(
        mine,
        key=lambda f: (
            f.name.lower() != exact,
            not f.name.lower().endswith(_ARCHIVE_SUFFIXES),
            len(f.name),
            -f.modified.timestamp(),
        ),
    )


def _incomplete(data: bytes) -> str | None:
    """Why ``data`` is not a whole archive yet, or None if it is whole (or not an archive)."""
    try:
        kind = archive_kind(data[:MAGIC_BYTES])
        if kind == "zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                broken = archive.testzip()
            if broken is not None:
                return f"its member {broken!r} fails its checksum"
        elif kind == "gzip":
            gzip.decompress(data)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        return f"it is not a complete archive yet ({type(exc).__name__})"
    return None


def _misfit(data: bytes, filename: str, rows: int | None) -> str | None:
    """Why the whole file ``data`` is not this job's deliverable, or None if it fits."""
    try:
        deliverable = read_deliverable(data, filename=filename)
    except DeliverableError as exc:
        return exc.message
    if rows is None:
        return None
    try:
        ids = pc.cast(pc.utf8_trim_whitespace(deliverable.best[MATCHBACK_ID]), pa.int64())
        positions = np.sort(ids.to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return f"its {MATCHBACK_ID} values are not the row numbers this job sent"
    if not np.array_equal(positions, np.arange(rows)):
        return (
            f"its best-match file has {len(positions):,} rows, not one for each of the "
            f"{rows:,} rows this job sent"
        )
    return None


class _Finder:
    """Looks for one job's deliverable, remembering the files it turned down."""

    def __init__(self, drop: SFTPDrop, filename: str, rows: int | None, reporter: Reporter) -> None:
        self.drop, self.filename, self.rows, self.reporter = drop, filename, rows, reporter
        self.turned_down: dict[tuple[str, int, datetime], str] = {}

    def look(self) -> bytes | None:
        """One look: the verified deliverable, or None if it is not (wholly) there yet."""
        first = _candidates(self.drop.listing(), self.filename)
        first = [f for f in first if f._version not in self.turned_down]
        if not first:
            return None
        time.sleep(self.drop.settings.settle)
        again = {f.name: f for f in self.drop.listing()}
        for candidate in first:
            now = again.get(candidate.name)
            if now is None or now._version != candidate._version or now.size == 0:
                log.info("%s is still being written; looking again later", candidate.name)
                continue
            data = self._download(now)
            if data is None:
                log.info("%s changed while it was read; looking again later", now.name)
                continue
            incomplete = _incomplete(data)
            if incomplete is not None:
                self.turned_down[now._version] = f"still being written: {incomplete}"
                log.info(
                    "%s is still being written (%s); looking again later", now.name, incomplete
                )
                continue
            misfit = _misfit(data, self.filename, self.rows)
            if misfit is None:
                return data
            self.turned_down[now._version] = misfit
            warnings.warn(
                f"{now.name} in {self.drop.settings.where} is named after job "
                f"{self.filename!r} but was not taken: {misfit}",
                SmartMatchWarning,
                stacklevel=2,
            )
        return None

    def _download(self, remote: RemoteFile) -> bytes | None:
        self.reporter.stage("downloading", total=remote.size)
        try:
            return self.drop.read(remote, self.reporter.advance)
        finally:
            self.reporter.stage("waiting")

    def not_taken(self) -> str:
        if not self.turned_down:
            return ""
        found = "; ".join(f"{v[0]}: {why}" for v, why in self.turned_down.items())
        return f". Files named after it that were not taken: {found}"


# -- the public verbs ------------------------------------------------------------


@contextmanager
def _drop(
    settings: SFTPSettings | Mapping[str, Any] | None, options: SFTPOptions
) -> Iterator[SFTPDrop]:
    with SFTPDrop(SFTPSettings.resolve(settings, **options)) as drop:
        yield drop


def list_deliverables(
    filename: str | None = None,
    *,
    settings: SFTPSettings | Mapping[str, Any] | None = None,
    **options: Unpack[SFTPOptions],
) -> list[RemoteFile]:
    """The files in the SFTP folder that may be deliverables, newest first.

    Parameters
    ----------
    filename
        Only those named after this job.
    settings, **options
        The connection: an :class:`SFTPSettings` or a dict, and/or its
        fields as keywords; the environment fills the rest.

    Examples
    --------
    >>> for f in smartmatch_pandas.wire.sftp.list_deliverables():     # doctest: +SKIP
    ...     print(f.name, f.size, f.modified)
    """
    with _drop(settings, options) as drop:
        files = [f for f in drop.listing() if is_deliverable_name(f.name)]
    if filename is not None:
        files = [f for f in files if belongs_to(f.name, filename)]
    return files


def fetch_deliverable(
    filename: str,
    *,
    rows: int | None = None,
    settings: SFTPSettings | Mapping[str, Any] | None = None,
    **options: Unpack[SFTPOptions],
) -> bytes | None:
    """Look once for the job's deliverable: its verified bytes, or None if not there yet.

    A file still being written (its size changes between two listings
    ``settle`` seconds apart, or its archive does not open) is left for later.

    Parameters
    ----------
    filename
        The job's filename.
    rows
        The number of rows the job sent: a file whose best-match CSV has not
        exactly one row for each is not taken.
    """
    with _drop(settings, options) as drop:
        return _Finder(drop, filename, rows, Reporter(False)).look()


def wait_for_deliverable(
    filename: str,
    *,
    rows: int | None = None,
    timeout: float | None = None,
    progress: ProgressArg | Reporter = False,
    settings: SFTPSettings | Mapping[str, Any] | None = None,
    **options: Unpack[SFTPOptions],
) -> bytes:
    """Wait until the job's deliverable is in the SFTP folder; return its verified bytes.

    Looks every ``poll_interval`` seconds (180 by default), tolerating
    dropped connections and failed looks (up to :data:`MAX_LOOK_FAILURES` in
    a row). Nothing is written or deleted on the server.

    Raises
    ------
    JobTimeoutError
        Not there within ``timeout`` seconds.
    HostKeyError, AuthorizationError, OptionError
        The server's key is not trusted; the login or a setting is wrong.
    TransportError
        The server could not be reached, look after look.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    resolved = SFTPSettings.resolve(settings, **options)
    looks = failures = 0
    with reporting(progress) as reporter, SFTPDrop(resolved) as drop:
        reporter.stage("waiting")
        finder = _Finder(drop, filename, rows, reporter)
        while True:
            try:
                data = finder.look()
                failures = 0
            except TransportError:
                failures += 1
                if failures >= MAX_LOOK_FAILURES:
                    raise
                data = None
            looks += 1
            if data is not None:
                return data
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"the deliverable of SmartMatch job {filename!r} was not in "
                    f"{resolved.where} within the timeout ({looks} looks){finder.not_taken()}; "
                    "the job may still be running: wait again later",
                    filename=filename,
                )
            if resolved.poll_interval >= _KEEP_OPEN_BELOW:
                drop.close()  # no connection held open for minutes between looks
            _pause(resolved.poll_interval, deadline, looks, reporter)


def _pause(seconds: float, deadline: float | None, looks: int, reporter: Reporter) -> None:
    """Sleep until the next look (or the deadline), counting down."""
    due = time.monotonic() + seconds
    if deadline is not None:
        due = min(due, deadline)
    while (left := due - time.monotonic()) > 0:
        reporter.waiting(looks, left)
        time.sleep(min(left, 1.0))
