"""The local SmartMatch-compatible service over HTTP, and its lifecycle.

:class:`LocalService` starts a real HTTP server on 127.0.0.1 (a free port
by default) in a background thread; use it as a context manager, in a
notebook, a test or a script. ``smartmatch-pandas serve`` runs the same
thing from the shell.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from ..private_files import make_private_dirs
from . import faults as _faults
from .faults import REQUEST_KINDS, Fault, Faults
from .journal import Journal
from .matcher import LinkageMatcher, Matcher
from .service import Answer, ServiceConfig, SmartMatchService, fields_config
from .storage import PREFIX, ObjectStore, S3Error
from .voterfile import VoterFile

if TYPE_CHECKING:
    from .sftp_server import DropServer

log = logging.getLogger("smartmatch_pandas.local")

_LENGTH = re.compile(r"[0-9]{1,19}")
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
# A Host header fit to build URLs from: a name or an address, and a port.
_HOST_HEADER = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
#: The most of a refused upload's body read before answering (the rest is not awaited).
_DRAIN = 1 << 20
#: The S3 error code a status fault answers storage requests with.
_S3_CODES = {
    400: "BadRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    429: "SlowDown",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}

#: The environment variable that gives the local service its API key (``api_key=`` wins).
API_KEY_ENV = "SMARTMATCH_LOCAL_API_KEY"
#: The header by which the local service tells clients that it is the local one, so that
#: their advice on a refused key points at ``serve``'s export lines, not at TargetSmart.
LOCAL_HEADER = "X-SmartMatch-Service"

#: Where the service's API key came from: ``api_key=``, :data:`API_KEY_ENV`, the data
#: folder (kept from an earlier start), or new (and kept in the data folder, if any).
KeyOrigin = Literal["given", "environment", "kept", "new", "new, kept"]

_VOTER_FILES: dict[tuple[int, int], VoterFile] = {}
_MATCHERS: dict[int, tuple[VoterFile, LinkageMatcher]] = {}
_VOTER_FILES_LOCK = threading.Lock()


def voter_file(size: int, seed: int) -> VoterFile:
    """The voter file of ``(size, seed)``, loaded (or generated) once per process."""
    with _VOTER_FILES_LOCK:
        if (size, seed) not in _VOTER_FILES:
            _VOTER_FILES[(size, seed)] = VoterFile.generate(size, seed)
        return _VOTER_FILES[(size, seed)]


def default_matcher(voters: VoterFile) -> LinkageMatcher:
    """The :class:`LinkageMatcher` of ``voters``, built once per process and voter file."""
    with _VOTER_FILES_LOCK:
        known = _MATCHERS.get(id(voters))
        if known is None or known[0] is not voters:
            known = _MATCHERS[id(voters)] = (voters, LinkageMatcher(voters))
        return known[1]


class PortInUseError(OSError):
    """The local service could not listen where it was asked to: the port is taken by
    another program (often another ``smartmatch-pandas serve``), or not allowed.

    Attributes
    ----------
    what
        ``"service"`` or ``"SFTP drop"``: which of the two could not listen.
    address
        ``host:port``.
    reason
        Why, in a few words.
    """

    def __init__(self, message: str, *, what: str, address: str, reason: str) -> None:
        super().__init__(message)
        self.what, self.address, self.reason = what, address, reason


def _listen_error(exc: OSError, what: str, host: str, port: int) -> OSError:
    """A one-line account of a failure to listen on ``host:port``, saying what to do."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        reason = "the port is in use (another `smartmatch-pandas serve`?)"
    elif exc.errno == errno.EACCES:
        reason = "this user may not listen on that port"
    else:
        reason = exc.strerror or str(exc)
    error = PortInUseError(
        f"the local {what} cannot listen on {where}: {reason}; choose another port "
        "(0 picks a free one)",
        what=what,
        address=where,
        reason=reason,
    )
    error.errno = exc.errno  # as the failure to bind said, for code that tells errors apart
    return error


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        service: SmartMatchService,
        *,
        remote_webhooks: bool = False,
        max_jobs: int = 10_000,
        max_disk_bytes: int = 20 * 10**9,
    ) -> None:
        super().__init__(address, _Handler)
        self.service = service
        #: Whether webhooks may go to addresses other than loopback.
        self.remote_webhooks = remote_webhooks
        #: The most jobs its key may register, and bytes its storage may hold.
        self.max_jobs, self.max_disk_bytes = max_jobs, max_disk_bytes
        # Open connections, so that stopping the service ends them too: a client's
        # kept-alive connection must not go on being answered by a stopped service.
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection (the handlers then see them closed and return)."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback on stderr. A client that went away is
        # routine; anything else is a fault of the handler, logged and counted.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.debug("connection from %s ended: %s", client_address[0], error)
            return
        self.service.count("handler_crashes")
        log.error("a connection from %s crashed the handler", client_address[0], exc_info=True)

    @property
    def wildcard(self) -> bool:
        """Whether it listens on every interface (0.0.0.0 or ::): no address to hand out."""
        return self.server_address[0] in _WILDCARDS

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        if host in _WILDCARDS:
            host = socket.gethostname()  # a name others can reach, not 0.0.0.0
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle's algorithm on, the
    # client's delayed ACK would hold every answer back by ~40 ms.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "smartmatch-local/1"
    # A client that stops sending (a request line, headers or a body) is dropped.
    timeout = 30
    # http.server's default is HTTP/0.9, whose refusals go out with no status line.
    default_request_version = "HTTP/1.0"
    _fault: Fault | None = None

    # -- routing ------------------------------------------------------------------

    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_PUT(self) -> None:
        self._guarded(self._put)

    def do_POST(self) -> None:
        self._guarded(self._not_allowed)

    do_DELETE = do_PATCH = do_HEAD = do_POST  # noqa: N815

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.requestline.split()) < 3:  # a request of HTTP/0.9: no version, no headers
            self.send_error(400, "HTTP/0.9 requests are not served")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # What http.server refuses is the client's to fix: 4xx, not its 505 (an unknown
        # HTTP version) or 501 (an unknown method).
        code = {505: 400, 501: 405}.get(code, code)
        super().send_error(code, message, explain)

    def _guarded(self, handler: Any) -> None:
        self._fault = None
        try:
            if self._badly_framed():
                return
            handler()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.server.service.count("internal_errors")
            log.exception("request failed: %s %s", self.command, urlsplit(self.path).path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(Answer(500, {"url": "", "error": "Internal Error"}))

    def _badly_framed(self) -> bool:
        """Refuse (400, connection closed) a request whose body's end is ambiguous: two
        Content-Lengths that differ, both a Content-Length and a Transfer-Encoding (the
        ground of request smuggling), or a body on a GET (which would be read as the next
        request). True if refused."""
        lengths = set(self.headers.get_all("Content-Length") or [])
        encodings = self.headers.get_all("Transfer-Encoding") or []
        why = None
        if len(lengths) > 1:
            why = "conflicting Content-Length headers"
        elif lengths and encodings:
            why = "both a Content-Length and a Transfer-Encoding"
        elif len(encodings) > 1:
            why = "more than one Transfer-Encoding header"
        elif self.command != "PUT" and (encodings or lengths - {"0"}):
            why = f"a body on a {self.command} request"
        if why is None:
            return False
        self.server.service.count("badly_framed")
        self.close_connection = True
        self._reply(400, f"Bad Request: {why}".encode(), {"Content-Type": "text/plain"})
        return True

    def _base_url(self) -> str:
        """The base URL to hand out: the address the client reached, when the service
        listens on every interface (0.0.0.0 is no address to connect to)."""
        host = self.headers.get("Host", "")
        if self.server.wildcard and _HOST_HEADER.fullmatch(host):
            return f"http://{host}/"
        return self.server.base_url

    def _refused(self, query: dict[str, str]) -> bool:
        """Refuse a registration past the key's limit of jobs, or with a webhook the
        service may not post to; True if refused."""
        service = self.server.service
        if len(service.jobs) >= self.server.max_jobs and query.get("filename") not in service.jobs:
            service.count("jobs_refused")
            error = (
                f"Validation Error: this key has {len(service.jobs):,} jobs, the most the local "
                "service keeps (max_jobs): restart it, or start it with a larger max_jobs"
            )
            self._json(Answer(400, SmartMatchService.answer_body(query, url="", error=error)))
            return True
        return self._remote_webhook(query)

    def _remote_webhook(self, query: dict[str, str]) -> bool:
        """Refuse a webhook to an address other than loopback, unless allowed; True if so."""
        webhook = query.get("webhook")
        if not webhook or self.server.remote_webhooks or _is_loopback_url(webhook):
            return False
        self.server.service.count("remote_webhooks_refused")
        error = (
            "Validation Error: the local service posts webhooks to loopback addresses "
            "only (start it with remote_webhooks=True, or serve --remote-webhooks, to allow "
            "others)"
        )
        self._json(Answer(400, SmartMatchService.answer_body(query, url="", error=error)))
        return True

    def _get(self) -> None:
        path, query = self._parsed()
        service = self.server.service
        api_key = self.headers.get("x-api-key")
        if path == "/service/smartmatch":
            filename = query.get("filename")
            if not self._faulted("register", filename, query) and not self._refused(query):
                self._json(service.register(api_key, query, self._base_url()))
        elif path == "/service/smartmatch/poll":
            if not self._faulted("poll", query.get("filename"), query):
                self._json(service.poll(api_key, query, self._base_url()))
        elif path.startswith(PREFIX):
            if not self._faulted("download", _filename_of(path), query):
                self._storage_get(path, query)
        else:
            self._json(Answer(404, {"url": "", "error": f"Query Error: no endpoint {path}"}))

    def _put(self) -> None:
        path, query = self._parsed()
        if not path.startswith(PREFIX):
            self._not_allowed()
            return
        if self._faulted("upload", _filename_of(path), query):
            return
        service = self.server.service
        store = service.store
        try:
            self._check_storage_request()
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raise S3Error(
                    501,
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented",
                )
            length = self.headers.get("Content-Length")
            if length is None or not _LENGTH.fullmatch(length):
                raise S3Error(
                    411, "MissingContentLength", "You must provide the Content-Length HTTP header."
                )
            key = store.check("PUT", path, query, self.headers.get("Content-Type"))
            if int(length) > store.max_bytes:
                raise S3Error(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            job = service.job_for_upload(key)
            if job is None:
                raise S3Error(403, "AccessDenied", "Access Denied")
            if _bytes_under(store.root) + int(length) > self.server.max_disk_bytes:
                raise S3Error(
                    403,
                    "QuotaExceeded",
                    "The local service's storage for this key is full (max_disk_bytes)",
                )
            store.put_stream(key, self.rfile, int(length))  # type: ignore[arg-type]
        except S3Error as exc:
            # Read what is small of the body, so the client is not reset before it reads
            # the answer; the connection closes either way.
            self._discard_body(limit=_DRAIN)
            self.close_connection = True
            self._s3_error(exc)
            return
        # Recorded before the answer: a poll right after a 200 must see the upload.
        service.uploaded(job, self._base_url())
        self._reply(200, b"", {"ETag": f'"{uuid.uuid4().hex}"'})

    def _storage_get(self, path: str, query: dict[str, str]) -> None:
        store = self.server.service.store
        try:
            self._check_storage_request()
            key = store.check("GET", path, query, None)
            data = store.get(key)
        except S3Error as exc:
            self._s3_error(exc)
            return
        self.server.service.count("downloads")
        self._reply(200, data, {"Content-Type": "application/octet-stream"})

    def _check_storage_request(self) -> None:
        if self.headers.get("x-api-key") is not None:
            self.server.service.count("storage_requests_with_api_key")
            raise S3Error(
                400,
                "InvalidRequest",
                "An x-api-key header was sent to storage: API keys must never accompany "
                "a presigned URL",
            )

    def _not_allowed(self) -> None:
        self._reply(405, b"", {"Allow": "GET, PUT"})

    # -- injected faults (see .faults) ------------------------------------------------

    def _faulted(self, endpoint: str, filename: str | None, query: dict[str, str]) -> bool:
        """Inject the fault armed for this request, if any; True if it was answered so."""
        fault = self.server.service.faults.take(endpoint, REQUEST_KINDS, filename)
        if fault is None:
            return False
        self.server.service.count(f"faults_{fault.kind}")
        if fault.kind == "delay":
            time.sleep(fault.seconds)
            return False
        if fault.kind == "status":
            self._fault_status(fault, endpoint, query)
            return True
        if fault.kind == "drop" and self.command == "PUT":
            # Half the body is read, then the connection goes, with no answer.
            self._discard_body(limit=self.server.service.store.max_bytes, share=0.5)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        self._fault = fault  # drop, trickle, truncated, corrupt: applied by _reply
        return False

    def _fault_status(self, fault: Fault, endpoint: str, query: dict[str, str]) -> None:
        status = fault.status or 500
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if self.command == "PUT":
            self._discard_body(limit=self.server.service.store.max_bytes)
        if fault.body is not None:
            headers["Content-Type"] = fault.content_type or "text/plain; charset=utf-8"
            self._reply(status, fault.body.encode(), headers)
        elif endpoint in {"upload", "download"}:
            code = _S3_CODES.get(status, "InternalError")
            error = S3Error(status, code, f"injected fault (HTTP {status})")
            headers["Content-Type"] = "application/xml"
            self._reply(status, error.xml(uuid.uuid4().hex[:16].upper()), headers)
        else:
            body = SmartMatchService.answer_body(query, url="", error=_api_error(status))
            self._json(Answer(status, body, headers))

    def _discard_body(self, limit: int = _DRAIN, *, share: float = 1.0) -> None:
        """Read (a share of) the request's body, at most ``limit`` bytes, and let it go."""
        length = self.headers.get("Content-Length", "")
        if not _LENGTH.fullmatch(length) or "chunked" in self.headers.get("Transfer-Encoding", ""):
            self.close_connection = True
            return
        wanted = int(int(length) * share)
        left = min(wanted, limit)
        while left > 0:
            block = self.rfile.read(min(left, 1 << 20))
            if not block:
                break
            left -= len(block)
        if share < 1.0 or wanted > limit or left:
            self.close_connection = True

    # -- replies --------------------------------------------------------------------

    def _parsed(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _json(self, answer: Answer) -> None:
        body = json.dumps(answer.body).encode()
        headers = {"Content-Type": "application/json", LOCAL_HEADER: "local", **answer.headers}
        self._reply(answer.status, body, headers)

    def _s3_error(self, error: S3Error) -> None:
        self.server.service.count("storage_errors")
        body = error.xml(uuid.uuid4().hex[:16].upper())
        self._reply(error.status, body, {"Content-Type": "application/xml"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        fault, self._fault = self._fault, None
        if fault is not None and fault.kind == "truncated":
            body = _faults.cut_short(body, fault.keep)
        elif fault is not None and fault.kind == "corrupt":
            body = _faults.damage(body)
        elif fault is not None and fault.kind == "drop":
            self.close_connection = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if fault is not None and fault.kind == "drop":
            self.wfile.write(body[: len(body) // 2])
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif fault is not None and fault.kind == "trickle":
            step = max(1, int(fault.rate / 20))
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                time.sleep(step / fault.rate)
        else:
            self.wfile.write(body)

    # The request line holds presigned signatures, and a malformed one is quoted in
    # http.server's own messages: the log gets the method, path and status alone.

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "")  # unset when the request line could not be read
        log.debug("%s %s %s", self.command or "-", urlsplit(path).path or "-", code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("refused a malformed request: %s", args[0] if args else "")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s", format.split(" ", 1)[0])


def _bytes_under(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed)."""
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


def _is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is a loopback address or ``localhost`` (no name is resolved)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _filename_of(path: str) -> str | None:
    """The job a storage path belongs to: ``/storage/uploads/<filename>`` or
    ``/storage/deliverables/<filename>/...``."""
    parts = path[len(PREFIX) :].split("/")
    return parts[1] if len(parts) > 1 and parts[0] in {"uploads", "deliverables"} else None


def _api_error(status: int) -> str:
    """The ``error`` string of an API answer a status fault gives."""
    if status in {401, 403}:
        return f"Authorization Error: access denied (injected fault, HTTP {status})"
    if status == 429:
        return "Too Many Requests (injected fault)"
    if status < 500:
        return f"Query Error: the request was refused (injected fault, HTTP {status})"
    return f"Internal Error (injected fault, HTTP {status})"


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM, handled as Ctrl-C: the service is stopped and its folder removed."""
    raise KeyboardInterrupt


class LocalService:
    """A SmartMatch-compatible service on 127.0.0.1, for demos, tests and sandboxes.

    Parameters
    ----------
    host, port
        Where to listen; port 0 picks a free one. Loopback unless told otherwise.
    api_key
        The key it accepts: by default ``SMARTMATCH_LOCAL_API_KEY``, else the key kept
        in ``data_dir`` (when one is given), else a new random one (kept there).
    poll_interval
        Seconds the poll endpoint enforces between polls under the key.
    poll_scope
        ``"key"`` (the default): the poll limit counts every poll under the API key,
        as TargetSmart's gateway is taken to; ``"filename"``: each job's polls apart.
    delay
        Seconds from an upload to its deliverable being ready.
    voters
        The voter file: a size (generated from ``seed``, cached on disk after the
        first time) or a :class:`VoterFile`.
    seed
        The voter file's seed.
    data_dir
        Where uploads, deliverables and the ``smartmatch/`` drop folder live,
        with the jobs and secrets a restart needs (:mod:`.journal`): a service
        started again on the same folder knows every job it had, so they can be
        resumed. A private temporary folder (removed on stop) by default.
    url_ttl
        Seconds a presigned URL stays valid.
    max_upload_bytes
        The largest upload accepted.
    legacy_filenames
        Also accept the ``name-1.csv`` filenames some clients send.
    error_status
        ``"http"`` (4xx/5xx) or ``"200"`` (200 with ``error``) for refusals.
    matcher
        The record-linkage engine; :class:`LinkageMatcher` by default.
    fields
        The account's appended fields: names from
        :data:`~smartmatch_pandas.local.AVAILABLE_FIELDS`, or a mapping of output
        column to voter file column; :data:`~smartmatch_pandas.local.DEFAULT_FIELDS`
        by default. ``vb.voterbase_id`` is always appended.
    sftp_port
        Also serve the drop folder read-only over SFTP on this port (0: a
        free one); None (the default) runs no SFTP server.
    sftp_username, sftp_password
        The SFTP account; the password is generated when None.
    sftp_host_key
        The SFTP host key file, made on first start; default
        ``<data_dir>/sftp_host_key``.
    sftp_authorized_keys
        Public key lines (``"ssh-ed25519 AAAA..."``) that may also log in.
    drop_pause
        Testing switch: write each drop zip in place in two halves, this many
        seconds apart, instead of atomically.
    faults
        Faults to inject (:class:`~smartmatch_pandas.local.Fault`, or their text
        form such as ``"poll:status=503,times=2"``); :meth:`inject` adds more while
        it runs. None by default. See :mod:`smartmatch_pandas.local.faults`.
    remote_webhooks
        Post webhooks to any address; by default only to loopback ones
        (``127.0.0.0/8``, ``::1``, ``localhost``), so that a service reachable
        by others cannot be made to send requests into their network.
    max_jobs, max_disk_bytes
        The most jobs its key may register (10,000) and bytes its storage may
        hold (20 GB): past them, registrations and uploads are refused.

    Examples
    --------
    >>> with LocalService(poll_interval=1) as service:            # doctest: +SKIP
    ...     enriched = df.smartmatch.match(**service.settings)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        poll_interval: float = 30.0,
        poll_scope: Literal["key", "filename"] = "key",
        delay: float = 0.0,
        voters: int | VoterFile = 200_000,
        seed: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        url_ttl: float = 3600.0,
        max_upload_bytes: int = 5 * 10**9,
        legacy_filenames: bool = False,
        error_status: Literal["http", "200"] = "http",
        matcher: Matcher | None = None,
        fields: Mapping[str, str] | Sequence[str] | None = None,
        sftp_port: int | None = None,
        sftp_username: str = "smartmatch",
        sftp_password: str | None = None,
        sftp_host_key: str | os.PathLike[str] | None = None,
        sftp_authorized_keys: Sequence[str] = (),
        drop_pause: float = 0.0,
        faults: Sequence[Fault | str] = (),
        remote_webhooks: bool = False,
        max_jobs: int = 10_000,
        max_disk_bytes: int = 20 * 10**9,
    ) -> None:
        self.host, self.port, self._sftp_port = host, port, sftp_port or 0
        self.remote_webhooks = remote_webhooks
        self.limits = {"max_jobs": max_jobs, "max_disk_bytes": max_disk_bytes}
        self.voters = voters if isinstance(voters, VoterFile) else voter_file(voters, seed)
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="smartmatch-local-"))
        make_private_dirs(self.data_dir)
        #: The jobs and secrets kept across restarts: only in a data folder given.
        self.journal = None if self._own_dir else Journal(self.data_dir)
        self.api_key = self._choose_api_key(api_key)
        self.config = ServiceConfig(
            api_key=self.api_key,
            poll_interval=poll_interval,
            poll_scope=poll_scope,
            delay=delay,
            legacy_filenames=legacy_filenames,
            error_status=error_status,
            fields=fields_config(fields),
            drop_pause=drop_pause,
        )
        store = ObjectStore(
            self.data_dir / "storage",
            ttl=url_ttl,
            max_bytes=max_upload_bytes,
            secret=self.journal.signing_key() if self.journal else None,
        )
        self.service = SmartMatchService(
            self.config,
            store,
            self.voters,
            matcher or default_matcher(self.voters),
            self.data_dir / "smartmatch",
            Faults([f if isinstance(f, Fault) else Fault.parse(f) for f in faults]),
            journal=self.journal,
        )
        self._jobs_kept = len(self.service.jobs)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] | None = None
        self.sftp: DropServer | None = None
        if sftp_port is not None:
            from .sftp_server import DropServer

            self.sftp = DropServer(
                self.service.drop_folder,
                host=host,
                port=sftp_port,
                username=sftp_username,
                password=sftp_password or "local-" + secrets.token_urlsafe(18),
                host_key=Path(sftp_host_key or self.data_dir / "sftp_host_key"),
                authorized_keys=sftp_authorized_keys,
                count=self.service.count,
            )

    def _choose_api_key(self, given: str | None) -> str:
        """The key given, else the environment's, else the data folder's, else a new one
        (kept in the data folder, if any); :attr:`key_origin` says which."""
        environ = os.environ.get(API_KEY_ENV, "").strip()
        if given or environ:
            self.key_origin: KeyOrigin = "given" if given else "environment"
            return given or environ
        new = "local-" + secrets.token_urlsafe(18)
        if self.journal is None:
            self.key_origin = "new"
            return new
        key = self.journal.api_key(lambda: new)
        self.key_origin = "new, kept" if key == new else "kept"
        return key

    @property
    def jobs_kept(self) -> int:
        """Jobs the service knows from its data folder's earlier runs (0 without one)."""
        return self._jobs_kept

    def __repr__(self) -> str:
        where = self.base_url if self._server else "stopped"
        sftp = f", sftp={self.sftp.host}:{self.sftp.port}" if self.sftp and self._server else ""
        return f"LocalService({where}, voters={len(self.voters):,}{sftp})"

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> LocalService:
        """Start serving in a background thread.

        Raises
        ------
        PortInUseError
            The port (or the SFTP port) is taken or not allowed; nothing was started.
        """
        if self._server is None:
            try:
                server = _Server(
                    (self.host, self.port),
                    self.service,
                    remote_webhooks=self.remote_webhooks,
                    **self.limits,
                )
            except OSError as exc:
                raise _listen_error(exc, "service", self.host, self.port) from None
            if self.sftp is not None:
                sftp_port = self._sftp_port
                try:
                    self.sftp.start()
                except OSError as exc:
                    server.server_close()
                    raise _listen_error(exc, "SFTP drop", self.host, sftp_port) from None
            self._server = server
            if not _is_loopback_url(f"http://{self.host}/"):
                warnings.warn(
                    f"the local service listens on {self.host}, beyond this machine: anyone who "
                    f"can reach it there can use it with its key, over plain http. It hands "
                    f"out URLs of {self._server.base_url} (or of the address a client used)",
                    UserWarning,
                    stacklevel=2,
                )
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="smartmatch-local", daemon=True
            )
            self._thread.start()
            self.service.resume_unfinished(self._server.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, restore the environment, and remove the private data folder."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self.sftp is not None:
            self.sftp.stop()
        self.service.close()
        self.deactivate()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Serve in this thread until interrupted (Ctrl-C, or SIGTERM as ``kill``, systemd
        and ``docker stop`` send): either way the service stops and removes its folder.

        ``ready`` is called once SIGTERM is handled so: the place to announce the service,
        since whoever reads the announcement may send SIGTERM at once."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        self.start()
        assert self._thread is not None
        try:
            if ready is not None:
                ready()
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    # -- how clients reach it ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL, such as ``http://127.0.0.1:54321/``."""
        if self._server is None:
            raise RuntimeError("the local service is not running: call start() first")
        return self._server.base_url

    @property
    def poll_interval(self) -> float:
        """Seconds enforced between polls of one filename."""
        return self.config.poll_interval

    @property
    def settings(self) -> dict[str, Any]:
        """``base_url``, ``api_key`` and ``poll_interval``, as keyword arguments of ``match()``."""
        return {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "poll_interval": self.poll_interval,
        }

    @property
    def environ(self) -> dict[str, str]:
        """The environment variables that point the client at this service (and its SFTP)."""
        return {
            "SMARTMATCH_BASE_URL": self.base_url,
            "TS_API_KEY": self.api_key,
            "SMARTMATCH_POLL_INTERVAL": f"{self.poll_interval:g}",
            **self._sftp_environ(),
        }

    @property
    def sftp_settings(self) -> dict[str, Any]:
        """How to reach the SFTP drop: keyword arguments of ``smartmatch_pandas.wire.sftp``.

        ``job.wait(via="sftp", sftp=service.sftp_settings)``; the host key is
        pinned (``trust_host_key``), so no known_hosts file is needed, and the
        folder is looked at as often as the poll endpoint allows.
        """
        if self.sftp is None:
            raise RuntimeError("this service runs no SFTP server: pass sftp_port=0 to have one")
        return {
            "host": self.sftp.host,
            "port": self.sftp.port,
            "username": self.sftp.username,
            "password": self.sftp.password,
            "trust_host_key": self.sftp.known_hosts_line,
            "poll_interval": self.poll_interval,
        }

    def _sftp_environ(self) -> dict[str, str]:
        if self.sftp is None or self._server is None:
            return {}
        names = {
            "host": "TS_SFTP_HOST",
            "port": "TS_SFTP_PORT",
            "username": "TS_SFTP_USERNAME",
            "password": "TS_SFTP_PASSWORD",
            "trust_host_key": "TS_SFTP_HOST_KEY",
            "poll_interval": "SMARTMATCH_SFTP_POLL_INTERVAL",
        }
        return {
            names[k]: f"{v:g}" if isinstance(v, float) else str(v)
            for k, v in self.sftp_settings.items()
            if v is not None
        }

    def activate(self) -> LocalService:
        """Point this process's client at the service (sets the environment until stop)."""
        if self._saved_env is None:
            self._saved_env = {name: os.environ.get(name) for name in self.environ}
        os.environ.update(self.environ)
        return self

    def deactivate(self) -> None:
        """Restore the environment that :meth:`activate` changed."""
        if self._saved_env is None:
            return
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = None

    # -- faults ------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The faults armed (``.active``), those injected (``.fired``); ``.clear()`` heals."""
        return self.service.faults

    def inject(self, *faults: Fault | str) -> LocalService:
        """Arm more faults while the service runs (a :class:`Fault` or its text form)."""
        self.service.faults.add(*(f if isinstance(f, Fault) else Fault.parse(f) for f in faults))
        return self

    @property
    def stats(self) -> dict[str, int]:
        """What the service saw: registrations, uploads, polls, rate-limit violations, ..."""
        return dict(self.service.stats)

    @property
    def drop_folder(self) -> Path:
        """The ``smartmatch/`` folder where each job's zip lands (the SFTP stand-in)."""
        return self.service.drop_folder
