"""A webhook receiver: SmartMatch's callback completes a job, without polling.

For scripts and servers that the service can reach; a notebook on a laptop
usually cannot be reached, and polls instead.

>>> from smartmatch_pandas.wire.webhook import WebhookReceiver
>>> with WebhookReceiver(host="0.0.0.0", port=8080,
...                      public_url="https://hooks.example.org/smartmatch") as hooks:
...     enriched = smartmatch_pandas.match(df, webhook=hooks)     # doctest: +SKIP

When a job is done the service POSTs ``{"callback": "<download URL>"}`` to
the job's webhook. That body names no job, so each job is registered with a
webhook URL of its own: the receiver's URL followed by the job's filename and a
random token in the query (``/<filename>?token=<token>``), which is how the
receiver knows the job a callback belongs to; a URL's query is secret
everywhere it is shown, so the token is too. A POST whose token is not one
the receiver handed out is refused (404), and so
is a body that is not a JSON object with an http(s) URL as ``callback``
(400). The token and the callback URL are secrets: neither is ever logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from ..errors import OptionError
from ..options import check_filename, check_webhook
from .http import refused_host
from .secrets import SecretURL, install_log_redaction, register_secret

log = logging.getLogger("smartmatch_pandas.wire.webhook")
install_log_redaction(log.name)

#: The path under which the receiver hands out per-job URLs.
PATH: Final = "/smartmatch"
_ANY_ADDRESS: Final = frozenset({"", "0.0.0.0", "::"})


class Watched(Protocol):
    """What the receiver needs of a job (a :class:`~smartmatch_pandas.Job`): the wire
    knows nothing of the job layer above it."""

    @property
    def filename(self) -> str:
        """The job's filename."""
        ...

    @property
    def channel(self) -> str:
        """How the job learns that it is done."""
        ...

    @channel.setter
    def channel(self, value: Literal["webhook"]) -> None: ...

    def deliver(self, url: SecretURL) -> None:
        """Hand the job its download URL."""
        ...


@dataclass
class _Route:
    """One job's webhook: its filename, the Job once watched, and the URL once called back."""

    filename: str
    job: Watched | None = None
    url: SecretURL | None = None


class WebhookReceiver:
    """Receives SmartMatch's webhook callbacks and completes the matching jobs.

    Pass it as ``webhook=`` to :func:`~smartmatch_pandas.match` or
    :func:`~smartmatch_pandas.submit`: the job is registered with a URL of
    its own on this receiver, and ``job.wait()`` waits for the callback
    instead of polling.

    Parameters
    ----------
    host, port
        Where to listen; port 0 picks a free one. Loopback by default.
    public_url
        The address the service reaches the receiver at, when it is not
        ``http://host:port`` (behind a proxy, or listening on all
        interfaces). Per-job URLs are this followed by
        ``/<filename>?token=<token>``; the receiver routes on the token
        alone, so a proxy may rewrite the path before it.
    max_body
        The largest callback body accepted, in bytes.

    Attributes
    ----------
    stats
        Callbacks ``accepted``, ``rejected_body`` (not the expected shape)
        and ``rejected_unknown`` (no job of this receiver).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        max_body: int = 64 * 1024,
    ) -> None:
        if public_url is not None:
            check_webhook(public_url)
        self.host, self.port = host, port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.max_body = max_body
        self.stats: Counter[str] = Counter()
        self._routes: dict[str, _Route] = {}
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = f"http://{self.host}:{self.port}" if self._server else "stopped"
        return f"WebhookReceiver({where}, jobs={len(self._routes)})"

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        """Start listening in a background thread."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="smartmatch-webhook", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening. Jobs still waiting can be resumed, which polls."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- jobs -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The receiver's base URL; a job's webhook is this followed by
        ``/<filename>?token=<token>``."""
        if self.public_url is not None:
            return self.public_url
        if self.host in _ANY_ADDRESS:
            raise OptionError(
                f"the webhook receiver listens on all interfaces ({self.host!r}): give "
                "public_url=, the address the SmartMatch service reaches it at"
            )
        if self._server is None:
            raise OptionError("the webhook receiver is not running: call start() first")
        return f"http://{self.host}:{self.port}{PATH}"

    def url_for(self, filename: str) -> str:
        """The webhook URL to register job ``filename`` with (the same on every call)."""
        check_filename(filename)
        base = self.url
        with self._lock:
            token = self._tokens.get(filename)
            if token is None:
                token = secrets.token_urlsafe(24)
                register_secret(token)  # kept out of logs, such as urllib3's request lines
                self._tokens[filename] = token
                self._routes[token] = _Route(filename)
        return f"{base}/{filename}?token={token}"

    def knows(self, filename: str) -> bool:
        """Whether job ``filename`` was given a URL on this receiver."""
        with self._lock:
            return filename in self._tokens

    def watch(self, job: Watched) -> None:
        """Complete ``job`` when its callback comes; it then waits without polling.

        A callback that came before (a quick job) completes it at once.
        """
        with self._lock:
            token = self._tokens.get(job.filename)
            if token is None:
                raise OptionError(
                    f"job {job.filename!r} was not submitted with a URL of this receiver: "
                    "pass webhook=receiver to submit(), or register receiver.url_for(filename)"
                )
            route = self._routes[token]
            route.job = job
            url = route.url
        job.channel = "webhook"
        if url is not None:
            job.deliver(url)

    def forget(self, filename: str) -> None:
        """Stop accepting callbacks for job ``filename``."""
        with self._lock:
            token = self._tokens.pop(filename, None)
            if token is not None:
                del self._routes[token]

    def _knows_token(self, token: str) -> bool:
        with self._lock:
            return token in self._routes

    def _called_back(self, token: str, url: SecretURL) -> bool:
        """A callback for ``token``: hand its URL to the job (or keep it until watched)."""
        with self._lock:
            route = self._routes.get(token)
            if route is None:
                return False
            route.url = url
            job = route.job
        log.info("SmartMatch job %s is ready (webhook)", route.filename)
        if job is not None:
            job.deliver(url)
        return True


def callback_url(body: bytes) -> SecretURL | None:
    """The URL of a ``{"callback": "<http(s) URL>"}`` body; None for any other body, and
    for a URL whose host is refused (:func:`~smartmatch_pandas.wire.http.refused_host`)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested junk
        return None
    url = payload.get("callback") if isinstance(payload, dict) else None
    if not isinstance(url, str) or len(url) > _MAX_URL_LENGTH:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # such as http://[::1/x
        return None
    if parts.scheme not in {"http", "https"} or not host or refused_host(url) is not None:
        return None
    return SecretURL(url)


#: The longest callback URL taken (S3's presigned URLs are under 2 KiB).
_MAX_URL_LENGTH = 16 * 1024


def _token_of(target: str) -> str:
    """The token of a callback's request target: in its query (``?token=``)."""
    try:
        return parse_qs(urlsplit(target).query).get("token", [""])[0]
    except ValueError:
        return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: WebhookReceiver) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "smartmatch-webhook/1"
    timeout = 15
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and the sender's delayed ACK hold every answer back some 40 ms.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        receiver = self.server.receiver
        token = _token_of(self.path)
        if not receiver._knows_token(token):
            receiver.stats["rejected_unknown"] += 1
            self._reply(404, "no SmartMatch job of this receiver has that URL")
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            receiver.stats["rejected_body"] += 1
            self._reply(411, "a Content-Length is required")
            return
        if int(length) > receiver.max_body:
            receiver.stats["rejected_body"] += 1
            self._reply(413, "the body is too large for a SmartMatch callback")
            return
        url = callback_url(self.rfile.read(int(length)))
        if url is None:
            receiver.stats["rejected_body"] += 1
            self._reply(400, 'expected a JSON body {"callback": "<http(s) URL>"}', read=True)
            return
        if not receiver._called_back(token, url):
            receiver.stats["rejected_unknown"] += 1
            self._reply(404, "no SmartMatch job of this receiver has that URL", read=True)
            return
        receiver.stats["accepted"] += 1
        self._reply(200, None, read=True)

    def do_GET(self) -> None:
        self._reply(405, "only POST is accepted")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815

    def _reply(self, status: int, error: str | None, *, read: bool = False) -> None:
        if not read:
            self.close_connection = True  # the body was not read
        body = json.dumps({"ok": error is None, "error": error}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds the job's token: log nothing of it.
        log.debug("webhook %s answered", self.command)
