"""A read-only SFTP server over the local service's ``smartmatch/`` drop folder.

SmartMatch also delivers every job's zip to the ``smartmatch`` folder of the
account's file-transfer area. :class:`DropServer` plays that area on
127.0.0.1: one user (password and/or public keys), one folder, read only.
The tree it shows is virtual::

    /                  the user's home: holds only the folder
    /smartmatch/       the service's drop folder
    /smartmatch/NAME   a regular file in it

Anything else is refused: writes, renames, deletes, ``..``, symbolic links
(never followed, never listed), any path outside that tree, other channel
kinds (shell, exec, port forwarding). The host key is an Ed25519 key made
on first start and kept, readable by the user alone, so that clients can
pin it.

Built on paramiko's server side; imports nothing of the client side.
"""

from __future__ import annotations

import errno
import hmac
import logging
import os
import posixpath
import socket
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, Literal

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.sftp import SFTP_NO_SUCH_FILE, SFTP_PERMISSION_DENIED

from ..private_files import make_private_dirs

log = logging.getLogger("smartmatch_pandas.local.sftp")
#: paramiko's own records of each connection (a client hanging up logs an error
#: there): kept off the console unless logging is configured.
_SSH_LOG: Final = "smartmatch_pandas.local.sftp.ssh"
logging.getLogger(_SSH_LOG).addHandler(logging.NullHandler())

#: The folder's name in the virtual tree, as on TargetSmart's server.
FOLDER: Final = "smartmatch"
_WRITE_FLAGS: Final = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_NO_FOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)

Counter = Callable[[str], None]
#: A path of the virtual tree: the home, the folder, a name the home does not
#: hold, a file in the folder; None for a path that reaches outside the tree.
_Node = Literal["root", "folder", "missing"] | Path | None


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """The server's host key at ``path``, made (Ed25519, mode 0600) if there is none."""
    if not path.exists():
        make_private_dirs(path.parent)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        log.info("made a new SFTP host key at %s", path)
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a private key readable by others is not private
    return paramiko.PKey.from_path(path)


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    """The ``known_hosts`` line that trusts ``key`` for ``host:port``."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.get_name()} {key.get_base64()}"


class DropServer:
    """A read-only SFTP server for one folder, on a background thread.

    Parameters
    ----------
    folder
        The local folder shown as ``/smartmatch``.
    host, port
        Where to listen; port 0 picks a free one.
    username, password
        The one account; ``password=None`` allows public keys only.
    host_key
        The host key file, created on first start.
    authorized_keys
        Public keys (``"ssh-ed25519 AAAA..."`` lines) the user may log in with.
    count
        Called with the name of each event (``sftp_logins``,
        ``sftp_auth_failures``, ``sftp_refused``, ``sftp_opens``), for the
        service's counters.
    """

    def __init__(
        self,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str,
        password: str | None,
        host_key: Path,
        authorized_keys: Iterable[str] = (),
        count: Counter | None = None,
    ) -> None:
        self.folder = folder
        self.host, self._port = host, port
        self.username = username
        #: The account's password (None: public keys only); never shown in a repr.
        self.password = password
        self.host_key_path = host_key
        self._authorized = {_key_text(line) for line in authorized_keys}
        self._count: Counter = count or (lambda name: None)
        self._key: paramiko.PKey | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: set[paramiko.Transport] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"{self.host}:{self.port}" if self._listener else "stopped"
        return f"DropServer({state}, user={self.username!r})"

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> DropServer:
        """Make or load the host key, listen, and accept connections in the background."""
        if self._listener is None:
            self._key = load_or_create_host_key(self.host_key_path)
            self._listener = socket.create_server((self.host, self._port))
            self._listener.settimeout(0.2)
            self._thread = threading.Thread(
                target=self._accept_forever, name="smartmatch-sftp", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            transports, self._transports = set(self._transports), set()
        for transport in transports:
            transport.close()

    def drop_connections(self) -> int:
        """Cut every open connection (a fault for tests); return how many were cut."""
        with self._lock:
            transports, self._transports = set(self._transports), set()
        for transport in transports:
            transport.close()
        return len(transports)

    # -- what clients need ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._listener is None:
            raise RuntimeError("the SFTP server is not running: call start() first")
        return int(self._listener.getsockname()[1])

    @property
    def host_key(self) -> paramiko.PKey:
        """The host key (public part used by clients)."""
        if self._key is None:
            raise RuntimeError("the SFTP server is not running: call start() first")
        return self._key

    @property
    def takes_keys(self) -> bool:
        """Whether the account may log in with a public key (any is authorized)."""
        return bool(self._authorized)

    @property
    def known_hosts_line(self) -> str:
        """The ``known_hosts`` line a client needs to trust this server."""
        return known_hosts_line(self.host, self.port, self.host_key)

    # -- connections ------------------------------------------------------------------

    def _accept_forever(self) -> None:
        while (listener := self._listener) is not None:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            try:
                self._serve(sock)
            except Exception:  # one bad connection must not stop the server
                log.exception("an SFTP connection could not be started")
                sock.close()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        transport = paramiko.Transport(sock)
        transport.set_log_channel(_SSH_LOG)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _ReadOnlyFolder, self)
        with self._lock:
            self._transports = {t for t in self._transports if t.is_active()}
            self._transports.add(transport)
        # With an event, negotiation runs on the transport's own thread.
        transport.start_server(event=threading.Event(), server=_Gate(self))

    def check_password(self, username: str, password: str) -> bool:
        """Whether ``username``/``password`` is the account (in constant time)."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        expected = (self.password or "").encode()
        return (
            user_ok
            and self.password is not None
            and hmac.compare_digest(password.encode(), expected)
        )

    def check_key(self, username: str, key: paramiko.PKey) -> bool:
        """Whether ``key`` is one of the user's authorized keys."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        return user_ok and f"{key.get_name()} {key.get_base64()}" in self._authorized

    def count(self, name: str) -> None:
        """Count one event."""
        self._count(name)


def _key_text(line: str) -> str:
    """``"type base64"`` of an authorized_keys line (options and comment dropped)."""
    words = line.split()
    for i, word in enumerate(words[:-1]):
        if word.startswith(("ssh-", "ecdsa-")):
            return f"{word} {words[i + 1]}"
    raise ValueError(f"not a public key line: {line[:40]!r}")


class _Gate(paramiko.ServerInterface):
    """Who may log in, and what they may open: one user, the SFTP subsystem only."""

    def __init__(self, server: DropServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        kinds = ["publickey"] if self.server.takes_keys else []
        if self.server.password is not None:
            kinds.append("password")
        return ",".join(kinds)

    def check_auth_password(self, username: str, password: str) -> int:
        if self.server.check_password(username, password):
            self.server.count("sftp_logins")
            return AUTH_SUCCESSFUL
        self.server.count("sftp_auth_failures")
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if self.server.check_key(username, key):
            self.server.count("sftp_logins")
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        self.server.count("sftp_refused")
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _ReadHandle(paramiko.SFTPHandle):
    readfile: Any

    def stat(self) -> paramiko.SFTPAttributes:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _ReadOnlyFolder(paramiko.SFTPServerInterface):
    """The virtual tree ``/`` → ``/smartmatch`` → files, read only."""

    def __init__(self, server: Any, drop: DropServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.drop = drop

    # -- paths ----------------------------------------------------------------------

    def _where(self, path: str) -> _Node:
        """What ``path`` names in the virtual tree; None if it reaches outside it."""
        if "\x00" in path or ".." in path.split("/"):
            return None
        virtual = posixpath.normpath(posixpath.join("/", path))
        if virtual == "/":
            return "root"
        if virtual == f"/{FOLDER}":
            return "folder"
        parent, name = posixpath.split(virtual)
        if parent == "/":
            return "missing"  # the home holds nothing else
        if parent != f"/{FOLDER}":
            return None
        return self.drop.folder / name

    def _refuse(self, code: int = SFTP_PERMISSION_DENIED) -> int:
        self.drop.count("sftp_refused")
        return code

    def _file_stat(self, where: Path) -> paramiko.SFTPAttributes | int:
        try:
            st = os.lstat(where)
        except FileNotFoundError:
            return SFTP_NO_SUCH_FILE
        if not stat.S_ISREG(st.st_mode):  # symbolic links and folders are not served
            return self._refuse()
        attrs = paramiko.SFTPAttributes.from_stat(st, where.name)
        return attrs

    def _folder_stat(self, name: str) -> paramiko.SFTPAttributes:
        st = self.drop.folder.stat()
        attrs = paramiko.SFTPAttributes.from_stat(st, name)
        attrs.st_mode = stat.S_IFDIR | 0o500
        return attrs

    # -- reading --------------------------------------------------------------------

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath(posixpath.join("/", path))

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        where = self._where(path)
        if where == "root":
            return [self._folder_stat(FOLDER)]
        if where == "missing" or isinstance(where, Path):
            return SFTP_NO_SUCH_FILE  # no such folder
        if where is None:
            return self._refuse()
        files = []
        with os.scandir(self.drop.folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files.append(paramiko.SFTPAttributes.from_stat(st, entry.name))
        return files

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        where = self._where(path)
        if where is None:
            return self._refuse()
        if where == "missing":
            return SFTP_NO_SUCH_FILE
        if isinstance(where, Path):
            return self._file_stat(where)
        return self._folder_stat(FOLDER if where == "folder" else "/")

    lstat = stat

    def open(
        self, path: str, flags: int, attr: paramiko.SFTPAttributes
    ) -> paramiko.SFTPHandle | int:
        where = self._where(path)
        if flags & _WRITE_FLAGS or where is None:
            return self._refuse()
        if not isinstance(where, Path):
            return SFTP_NO_SUCH_FILE if where == "missing" else self._refuse()
        checked = self._file_stat(where)
        if isinstance(checked, int):
            return checked
        try:
            fd = os.open(where, os.O_RDONLY | _NO_FOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return self._refuse()
            return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)
        handle = _ReadHandle(flags)
        handle.readfile = os.fdopen(fd, "rb")
        self.drop.count("sftp_opens")
        return handle

    # -- everything that would change the folder: refused ---------------------------

    def remove(self, path: str) -> int:
        return self._refuse()

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._refuse()

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._refuse()

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._refuse()

    def rmdir(self, path: str) -> int:
        return self._refuse()

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._refuse()

    def symlink(self, target_path: str, path: str) -> int:
        return self._refuse()

    def readlink(self, path: str) -> str | int:
        return self._refuse()
