"""Small hostile HTTP servers on loopback, for tests of what the client does with them.

A :class:`RawServer` answers every request with whatever bytes its handler
writes to the socket: lying lengths, endless or dripping bodies, redirects,
junk. It records the requests it received (head and body), so a test can
prove what never reached it.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: A megabyte of a body, sent again and again (never allocated anew).
MEGABYTE = b"x" * 2**20


@dataclass
class Request:
    """What a hostile server received."""

    head: str
    body: bytes = b""

    @property
    def target(self) -> str:
        """The request line's target (path and query)."""
        return self.head.split(" ", 2)[1]


@dataclass
class Conn:
    """One connection of a :class:`RawServer`, for its handler."""

    sock: socket.socket
    request: Request
    stopping: threading.Event
    server: RawServer | None = None

    def send(self, data: bytes) -> bool:
        """Send ``data``; False once the client went away or the server stops."""
        if self.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        if self.server is not None:
            self.server.sent += len(data)
        return True

    def head(self, status: str = "200 OK", **headers: object) -> bool:
        """Send a status line and headers (``Content_Length`` as ``Content-Length``)."""
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def answer(self, body: bytes, status: str = "200 OK", **headers: object) -> None:
        """A whole answer with its Content-Length."""
        headers.setdefault("Content_Type", "application/json")
        if self.head(status, Content_Length=len(body), Connection="close", **headers):
            self.send(body)

    def endless_chunks(self, chunk: bytes = MEGABYTE) -> None:
        """A chunked body that never ends (until the client goes away)."""
        if not self.head(Transfer_Encoding="chunked", Content_Type="application/octet-stream"):
            return
        framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        while self.send(framed):
            pass

    def drip(self, every: float, announced: int = 10**11) -> None:
        """A body announced as ``announced`` bytes, sent one byte every ``every`` seconds."""
        if not self.head(Content_Length=announced, Content_Type="application/octet-stream"):
            return
        while self.send(b"x"):
            self.stopping.wait(every)

    def drip_head(self, every: float, status: str = "200 OK") -> None:
        """A status line, then headers that never end, one byte every ``every`` seconds."""
        head = itertools.chain(f"HTTP/1.1 {status}\r\n".encode(), itertools.cycle(b"X-A: b\r\n"))
        for byte in head:
            if not self.send(bytes([byte])) or self.stopping.wait(every):
                return

    def read_slowly(self, every: float, size: int = 1024) -> None:
        """Read the request's body ``size`` bytes every ``every`` seconds, answering
        nothing, until the client goes away (a server made with ``read_body=False``)."""
        while not self.stopping.wait(every):
            try:
                if not self.sock.recv(size):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def silence(self, **headers: object) -> None:
        """Headers, then nothing at all, until the client goes away or the server stops."""
        self.head(Content_Length=100, **headers)
        self.stopping.wait(30)


Handler = Callable[[Conn], None]


@dataclass
class RawServer:
    """A loopback HTTP server whose ``handler`` writes each answer's raw bytes."""

    handler: Handler
    requests: list[Request] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    #: Whether a request's body is read before the handler runs (else the handler reads it).
    read_body: bool = True

    def __post_init__(self) -> None:
        #: Bytes sent to clients so far.
        self.sent = 0
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop answering, and end every endless answer."""
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        if self.tls is not None:
            try:
                client.settimeout(5)
                client = self.tls.wrap_socket(client, server_side=True)
            except OSError:
                client.close()
                return
        with client:
            client.settimeout(5)
            request = _read_request(client, self.read_body)
            if request is None:
                return
            self.requests.append(request)
            self.handler(Conn(client, request, self.stopping, self))
            try:
                client.shutdown(socket.SHUT_WR)
                time.sleep(0.05)  # let the client read the end before the reset of a close
            except OSError:
                pass


def _read_request(client: socket.socket, read_body: bool = True) -> Request | None:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            block = client.recv(65536)
            if not block:
                return None
            data += block
        head, _, body = data.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        length = 0
        for line in text.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while read_body and len(body) < min(length, 2**24):
            block = client.recv(65536)
            if not block:
                break
            body += block
    except OSError:
        return None
    return Request(text, body)


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the file a client trusts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
