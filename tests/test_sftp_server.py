"""The local service's SFTP drop, seen from a plain SSH client: read only, one folder.

The client here is paramiko itself, not the package's, so that the
server's refusals are checked at the protocol level.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from smartmatch_pandas.local import LocalService
from smartmatch_pandas.wire import sftp as sftp

from .test_sftp import _no_sftp_environment  # noqa: F401  (autouse: no developer's account)


@pytest.fixture(scope="module")
def served() -> Iterator[LocalService]:
    with LocalService(voters=20_000, seed=0, sftp_port=0) as running:
        (running.drop_folder / "job_a.zip").write_bytes(b"PK\x05\x06" + bytes(18))
        yield running


@pytest.fixture
def client(served: LocalService) -> Iterator[paramiko.SFTPClient]:
    settings = served.sftp_settings
    transport = paramiko.Transport(("127.0.0.1", settings["port"]))
    transport.connect(username=settings["username"], password=settings["password"])
    sftp_client = paramiko.SFTPClient.from_transport(transport)
    assert sftp_client is not None
    yield sftp_client
    transport.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_tree_is_the_drop_folder(client: paramiko.SFTPClient, served: LocalService) -> None:
    assert client.normalize(".") == "/"
    assert client.listdir(".") == ["smartmatch"]
    assert "job_a.zip" in client.listdir("smartmatch")
    with client.open("/smartmatch/job_a.zip", "rb") as handle:
        assert handle.read() == (served.drop_folder / "job_a.zip").read_bytes()
        assert handle.stat().st_size == 22


WRITES: dict[str, Callable[[paramiko.SFTPClient], Any]] = {
    "create": lambda c: c.open("smartmatch/new.zip", "wb"),
    "overwrite": lambda c: c.open("smartmatch/job_a.zip", "wb"),
    "append": lambda c: c.open("smartmatch/job_a.zip", "ab"),
    "update": lambda c: c.open("smartmatch/job_a.zip", "r+b"),
    "delete": lambda c: c.remove("smartmatch/job_a.zip"),
    "rename": lambda c: c.rename("smartmatch/job_a.zip", "smartmatch/b.zip"),
    "posix-rename": lambda c: c.posix_rename("smartmatch/job_a.zip", "smartmatch/b.zip"),
    "mkdir": lambda c: c.mkdir("smartmatch/sub"),
    "rmdir": lambda c: c.rmdir("smartmatch"),
    "chmod": lambda c: c.chmod("smartmatch/job_a.zip", 0o777),
    "utime": lambda c: c.utime("smartmatch/job_a.zip", (0, 0)),
    "symlink": lambda c: c.symlink("/etc/passwd", "smartmatch/passwd"),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_writes_are_refused(client: paramiko.SFTPClient, served: LocalService, write: str) -> None:
    before = snapshot(served.drop_folder)
    with pytest.raises(PermissionError):
        WRITES[write](client)
    assert snapshot(served.drop_folder) == before


OUTSIDE = [
    "/etc/passwd",
    "../etc/passwd",
    "smartmatch/../../etc/passwd",
    "smartmatch/../smartmatch/job_a.zip",
    "/smartmatch/./../../etc/hostname",
]


@pytest.mark.parametrize("path", OUTSIDE)
def test_paths_outside_the_folder_are_refused(client: paramiko.SFTPClient, path: str) -> None:
    with pytest.raises(PermissionError):
        client.open(path, "rb")
    with pytest.raises(PermissionError):
        client.stat(path)


def test_the_real_path_is_not_reachable(client: paramiko.SFTPClient, served: LocalService) -> None:
    real = served.drop_folder / "job_a.zip"
    with pytest.raises(PermissionError):
        client.open(str(real), "rb")
    with pytest.raises(PermissionError):
        client.listdir(str(served.data_dir))


def test_symbolic_links_are_neither_listed_nor_followed(
    client: paramiko.SFTPClient, served: LocalService, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for SFTP")
    link = served.drop_folder / "leak.zip"
    link.symlink_to(secret)
    (served.drop_folder / "subfolder").mkdir()
    try:
        listed = client.listdir("smartmatch")
        assert "leak.zip" not in listed
        assert "subfolder" not in listed
        with pytest.raises(PermissionError):
            client.open("smartmatch/leak.zip", "rb")
        with pytest.raises(PermissionError):
            client.readlink("smartmatch/leak.zip")
    finally:
        link.unlink()
        (served.drop_folder / "subfolder").rmdir()


def test_only_sftp_is_served(served: LocalService) -> None:
    settings = served.sftp_settings
    transport = paramiko.Transport(("127.0.0.1", settings["port"]))
    try:
        transport.connect(username=settings["username"], password=settings["password"])
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.exec_command("cat /etc/passwd")
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 0))
    finally:
        transport.close()


def test_wrong_password_is_refused(served: LocalService) -> None:
    settings = served.sftp_settings
    transport = paramiko.Transport(("127.0.0.1", settings["port"]))
    try:
        with pytest.raises(paramiko.AuthenticationException):
            transport.connect(username=settings["username"], password="guess")
    finally:
        transport.close()


@pytest.mark.subprocess
def test_serve_prints_what_a_client_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = [sys.executable, "-m", "smartmatch_pandas.cli", "serve", "--port", "0"]
    command += ["--voters", "2000", "--sftp-port", "0", "--data-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = []
        while not (line := process.stdout.readline()).startswith("# serving"):
            assert line, "serve stopped before serving"
            lines.append(line)
        exports = dict(
            shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export ")
        )
        known = next(line for line in lines if line.startswith("# its known_hosts line: "))
        key = tmp_path / "sftp_host_key"
        assert key.stat().st_mode & 0o777 == 0o600
        assert exports["TS_SFTP_HOST_KEY"] == known.split(": ", 1)[1].strip()
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        # The printed settings are enough: host, port, account and the pinned host key.
        assert sftp.list_deliverables() == []
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert process.returncode in (0, 130)


@pytest.mark.skipif(shutil.which("sftp") is None, reason="no OpenSSH sftp client here")
@pytest.mark.subprocess
@pytest.mark.network
def test_openssh_sftp_client_reads_but_cannot_write(tmp_path: Path) -> None:
    """The printed known_hosts line and the server work with OpenSSH's own client."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    identity = tmp_path / "id_ed25519"
    identity.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    identity.chmod(0o600)
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    with LocalService(voters=20_000, sftp_port=0, sftp_authorized_keys=[public.decode()]) as svc:
        assert svc.sftp is not None
        (svc.drop_folder / "job_b.zip").write_bytes(b"results")
        known = tmp_path / "known_hosts"
        known.write_text(svc.sftp.known_hosts_line + "\n")
        (tmp_path / "upload.txt").write_text("no")
        command = ["sftp", "-b", "-", "-i", str(identity), "-P", str(svc.sftp.port)]
        command += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
        command += ["-o", "BatchMode=yes", "-F", "/dev/null", "smartmatch@127.0.0.1"]
        script = "ls smartmatch\nget smartmatch/job_b.zip got.zip\n-put upload.txt smartmatch/\n"
        done = subprocess.run(
            command, input=script, capture_output=True, text=True, cwd=tmp_path, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert "job_b.zip" in done.stdout
        assert (tmp_path / "got.zip").read_bytes() == b"results"
        assert "Permission denied" in done.stderr
        assert not (svc.drop_folder / "upload.txt").exists()


def test_the_server_imports_nothing_of_the_client_side() -> None:
    """The SFTP server is part of the independent implementation of the protocol."""
    import ast

    import smartmatch_pandas.local.sftp_server as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.level or "smartmatch" in (node.module or ""))
    }
    imported |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if "smartmatch" in alias.name
    }
    # private_files is shared, as docs/architecture.md says: it imports nothing of either.
    assert imported <= {"__future__", "identifiers", "private_files"}, imported
