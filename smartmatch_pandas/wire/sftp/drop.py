"""The connection to the drop folder: :class:`SFTPDrop` lists it and reads a file
into a spool, reconnecting when the connection drops; it logs in with a key or
a password once the host key is trusted."""

from __future__ import annotations

import logging
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import paramiko

from ...errors import AuthorizationError, HostKeyError, OptionError, TransportError
from ...files.spool import Spool
from ..retry import SFTP_ATTEMPTS, pause
from ..secrets import install_log_redaction, redact
from .host_keys import check_host_key, prefer_key_types
from .settings import SFTPSettings

log = logging.getLogger("smartmatch_pandas.wire.sftp")
#: paramiko's records of the connection: its errors reach the user as exceptions.
_SSH_LOG: Final = "smartmatch_pandas.wire.sftp.ssh"
logging.getLogger(_SSH_LOG).addHandler(logging.NullHandler())
install_log_redaction(log.name, _SSH_LOG, f"{_SSH_LOG}.sftp")  # paramiko: its transport, its SFTP

#: Bytes read at a time: what a dropped connection can cost, and the progress step.
_BLOCK: Final = 1 << 15


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
    def version(self) -> tuple[str, int, datetime]:
        """Name, size and time written: equal while the file is not written to."""
        return (self.name, self.size, self.modified)


T = TypeVar("T")


class SFTPDrop:
    """A read-only connection to the drop folder that reconnects when it drops.

    Use it as a context manager; every method connects if needed, and an
    operation cut off by a dropped connection is tried again on a fresh one
    (:data:`~smartmatch_pandas.wire.retry.SFTP_ATTEMPTS` in all, backing off as
    :mod:`~smartmatch_pandas.wire.retry` says) before a
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
    ) -> Spool | None:
        """The file's bytes in a spool, resumed where a dropped connection cut it; None
        if it changed. The caller closes the spool (deleting any temporary file)."""
        spool = Spool(expected=remote.size)

        def read_rest(sftp: paramiko.SFTPClient) -> bool:
            now = sftp.stat(remote.path)
            if (now.st_size, now.st_mtime) != (remote.size, int(remote.modified.timestamp())):
                return False  # written to since it was listed
            if len(spool):
                log.info("resuming the download of %s at byte %d", remote.name, len(spool))
            with sftp.open(remote.path, "rb") as handle:
                handle.seek(len(spool))
                handle.prefetch(remote.size)
                while len(spool) < remote.size:
                    block = handle.read(min(_BLOCK, remote.size - len(spool)))
                    if not block:
                        return False  # shorter than listed: it changed
                    spool.write(block)
                    if on_progress:
                        on_progress(len(block))
            return True

        try:
            whole = self._call(f"download {remote.name}", read_rest)
        except BaseException:
            spool.close()
            raise
        if not whole:
            spool.close()
            return None
        return spool

    # -- plumbing -------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        for attempt in range(1, SFTP_ATTEMPTS + 1):
            try:
                return operation(self._client())
            except Exception as exc:
                if not self._dropped(exc):
                    raise
                self.close()
                if attempt == SFTP_ATTEMPTS:
                    raise TransportError(
                        f"could not {what} at {self.settings.where}: the connection failed "
                        f"{SFTP_ATTEMPTS} times ({_describe(exc)})"
                    ) from None
                log.warning("SFTP connection lost (%s); reconnecting", _describe(exc))
                pause(attempt)
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
        prefer_key_types(transport, settings)
        transport.start_client(timeout=settings.network_timeout)
        check_host_key(settings, transport.get_remote_server_key())
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
