"""SmartMatchClient: the four HTTP exchanges of the SmartMatch protocol.

Register a job, upload its CSV to a presigned URL, poll for the result,
download the deliverable. Each is one method that does one exchange and
turns every failure into an exception of the package's family. Waiting,
scheduling and merging live elsewhere (:mod:`smartmatch_pandas.job.handle`).

Retries follow the wire's one policy (:mod:`smartmatch_pandas.wire.retry`):
urllib3's, with backoff and jitter, per exchange: registration, upload and
download are safe to repeat (the filename or the storage key makes them
idempotent), but a poll is not retried quickly, since the service would
count each retry against its rate limit.

Every exchange has a time limit: ``timeout`` bounds connecting and each
read, and a body must keep coming at :data:`MIN_TRANSFER_RATE` at least
(after a grace of one read timeout), so a server that trickles an answer
byte by byte cannot hold a call for ever. A download can be given a time
limit of its own across the whole body (``match(timeout=...)`` does).

Every body has a size limit too: an API answer :data:`MAX_ANSWER_BYTES`, an
error body :data:`MAX_ERROR_BYTES` (read, the rest ignored), a deliverable
what its caller allows (see :func:`download_limit`). No redirect is ever
followed, so the API key goes to the API's host and nowhere else; TargetSmart's
host is reached over https only, and an https service's presigned URLs must be
https too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import io
import ipaddress
import json
import math
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final, cast
from urllib.parse import unquote, urljoin, urlsplit

import requests
import requests.auth
import urllib3
from urllib3.util.retry import Retry

from .. import clock as clocks
from .._version import __version__
from ..errors import (
    AuthorizationError,
    DeliverableError,
    InternalError,
    JobFailedError,
    JobInternalError,
    JobQueryError,
    OptionError,
    QueryError,
    RateLimitError,
    ServiceError,
    SmartMatchError,
    StorageError,
    TransportError,
    UnreachableError,
    ValidationError,
    one_line,
    warn,
)
from ..files.spool import parse_size
from ..options import shown_url
from .retry import (
    DOWNLOAD_ATTEMPTS,
    REGISTER_ATTEMPTS,
    connection_failure,
    http_retry,
    pause,
    retry_after,
    why_not_connected,
)
from .secrets import SecretURL, install_log_redaction, redact, register_secret
from .watchdog import Watchdog, WatchedAdapter

DEFAULT_BASE_URL: Final = "https://api.targetsmart.com/"
#: The documented poll rate limit of the real service, in seconds.
SERVICE_POLL_INTERVAL: Final = 30.0
_REAL_HOSTS: Final = frozenset({"api.targetsmart.com"})
#: The header (and its value) by which the local service says that it is the local one.
LOCAL_SERVICE_HEADER: Final = ("X-SmartMatch-Service", "local")
_BLOCK: Final = 1 << 20
#: The largest API answer (registration, poll) read; its JSON is a few hundred bytes.
MAX_ANSWER_BYTES: Final = 1 << 20
#: The part of an error body read for its message (S3's XML error, a proxy's page).
MAX_ERROR_BYTES: Final = 16 * 1024
#: The longest presigned URL accepted (S3's are under 2 KiB).
MAX_URL_LENGTH: Final = 16 * 1024
#: The environment variable that sets the largest deliverable downloaded, as a size.
DOWNLOAD_LIMIT_ENV: Final = "SMARTMATCH_DOWNLOAD_LIMIT"
#: Bytes of deliverable allowed per row sent (appended columns and additional matches)...
DOWNLOAD_BYTES_PER_ROW: Final = 64 * 1024
#: ...and whatever the number of rows.
MIN_DOWNLOAD_LIMIT: Final = 256 * 2**20
#: Seconds to connect, and to wait for each read of an answer.
TIMEOUT: tuple[float, float] = (10.0, 120.0)
#: The slowest a body may come, in bytes per second, once a read timeout's grace is spent.
MIN_TRANSFER_RATE = 8 * 1024

Progress = Callable[[int], None]
"""Called with the number of bytes moved since the last call."""

install_log_redaction()


class _NoAuth(requests.auth.AuthBase):
    """No HTTP authentication: the API key is the API's, a presigned URL carries its own."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def _session(retry: Retry) -> requests.Session:
    session = requests.Session()
    # requests sends ~/.netrc's login to any host when a session has no auth of its own:
    # to the API, and to every storage host a service names. An auth of our own that adds
    # nothing stops that, and keeps trust_env, so proxies and CA bundles set in the
    # environment still apply.
    session.auth = _NoAuth()
    session.headers["User-Agent"] = f"smartmatch-pandas/{__version__}"
    # Bodies in 1 MiB blocks rather than urllib3's 16 KiB; connections a watchdog can cut.
    adapter = WatchedAdapter(max_retries=retry, blocksize=_BLOCK)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class PollResult:
    """One answer of the poll endpoint.

    Attributes
    ----------
    url
        The presigned download URL once the deliverable is ready, else None.
    """

    url: SecretURL | None

    @property
    def ready(self) -> bool:
        """Whether the deliverable can be downloaded."""
        return self.url is not None


def resolve_base_url(base_url: str | None = None) -> str:
    """Return the base URL: the argument, ``SMARTMATCH_BASE_URL``, or the real API."""
    if base_url is not None and not isinstance(base_url, str):
        raise OptionError(
            f"base_url={base_url!r} must be a string, an http(s) URL such as {DEFAULT_BASE_URL!r}"
        )
    url = base_url or os.environ.get("SMARTMATCH_BASE_URL") or DEFAULT_BASE_URL
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in {"http", "https"} or not host:
        raise OptionError(f"base_url={url!r} is not an http(s) URL such as {DEFAULT_BASE_URL!r}")
    if canonical_host(host) in _REAL_HOSTS and parts.scheme != "https":
        raise OptionError(
            f"base_url={url!r}: TargetSmart's API is reached over https only (the API key "
            f"would cross the network in clear); use {DEFAULT_BASE_URL!r}"
        )
    return url if url.endswith("/") else url + "/"


def download_limit(rows: int | None) -> int:
    """The largest deliverable downloaded for a job of ``rows`` rows, in bytes.

    ``SMARTMATCH_DOWNLOAD_LIMIT`` (bytes, or with ``K``, ``M`` or ``G``) if set;
    else :data:`DOWNLOAD_BYTES_PER_ROW` per row sent, and at least
    :data:`MIN_DOWNLOAD_LIMIT`. A deliverable holds one row per row sent (more
    with ``max_matches``), each the row's identifiers and the appended columns:
    a few hundred bytes, compressed less.

    Raises
    ------
    OptionError
        The variable is not a size.
    """
    text = os.environ.get(DOWNLOAD_LIMIT_ENV)
    if text:
        limit = parse_size(text, DOWNLOAD_LIMIT_ENV)
        if limit <= 0:
            raise OptionError(
                f"{DOWNLOAD_LIMIT_ENV}={text!r} would refuse every deliverable: give a size "
                "above zero (such as 20G), or unset it for the default"
            )
        return limit
    return max(MIN_DOWNLOAD_LIMIT, DOWNLOAD_BYTES_PER_ROW * max(0, rows or 0))


def resolve_api_key(api_key: str | None = None) -> str:
    """Return the API key: the argument or ``TS_API_KEY``; raise if there is neither."""
    if api_key is not None and not isinstance(api_key, str):
        raise OptionError(
            f"api_key must be a string (the TargetSmart API key), not a {type(api_key).__name__}"
        )
    key = api_key if api_key is not None else os.environ.get("TS_API_KEY")
    if not key or not key.strip():
        raise OptionError(
            "no SmartMatch API key: pass api_key=... or set the TS_API_KEY environment "
            "variable (for the local service, `smartmatch-pandas serve` prints it)"
        )
    register_secret(key)
    key = key.strip()  # a key read from a file with its line break
    if any(char.isspace() or not char.isprintable() for char in key):
        name = "api_key" if api_key is not None else "TS_API_KEY"
        raise OptionError(
            f"{name} holds a line break, a space or another control character inside it, "
            "which no TargetSmart key has (was it read with the rest of a file?): pass the "
            "key alone, stripped (not shown here: it is a secret)"
        )
    return key


def is_real_service(base_url: str) -> bool:
    """Whether ``base_url`` points at TargetSmart's own API (so its limits apply)."""
    return canonical_host(urlsplit(base_url).hostname or "") in _REAL_HOSTS


def canonical_host(host: str) -> str:
    """``host`` as name lookup reads it: escapes undone, any case, no trailing dot
    (``API%2eTargetSmart.com.`` is ``api.targetsmart.com``)."""
    return unquote(host).lower().rstrip(".")


class SmartMatchClient:
    """The HTTP side of SmartMatch: register, upload, poll, download.

    Parameters
    ----------
    api_key
        The TargetSmart API key; default the ``TS_API_KEY`` environment variable.
    base_url
        The API's base URL; default ``SMARTMATCH_BASE_URL`` or TargetSmart's API.
    timeout
        Seconds to wait for a connection and for each read of an answer;
        default :data:`TIMEOUT`.

    Examples
    --------
    >>> client = SmartMatchClient(api_key="...", base_url="http://127.0.0.1:8765/")
    >>> client
    SmartMatchClient(base_url='http://127.0.0.1:8765/')
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self._api_key = resolve_api_key(api_key)
        download_limit(None)  # a bad setting refused now, before a job is registered and paid
        self.timeout = timeout or TIMEOUT
        #: When every exchange must have ended (see :meth:`within`), or None.
        self.deadline: float | None = None
        self._api = _session(http_retry(status=True, reads=True))
        # Only failures to connect are retried: the request never reached the service.
        self._poll = _session(http_retry(status=False, reads=False))
        self._storage = _session(http_retry(status=True, reads=True))

    def __repr__(self) -> str:
        return f"SmartMatchClient(base_url={self.base_url!r})"

    def __enter__(self) -> SmartMatchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pools."""
        for session in (self._api, self._poll, self._storage):
            session.close()

    @property
    def host(self) -> str:
        """The API's host name."""
        return urlsplit(self.base_url).hostname or ""

    @property
    def address(self) -> str:
        """The API's host and port, as said in messages (never a user name or password)."""
        return _address(self.base_url)

    def key_fingerprint(self, salt: bytes) -> str:
        """A fingerprint of the API key, keyed with ``salt``: the same key gives the same
        fingerprint under the same salt, and nothing of the key can be read from it."""
        return hmac.new(salt, self._api_key.encode(), hashlib.sha256).hexdigest()[:24]

    # -- the four exchanges ---------------------------------------------------

    def register(self, params: Mapping[str, str]) -> SecretURL:
        """Register a job; return the presigned URL to upload its CSV to.

        Raises
        ------
        AuthorizationError, ValidationError, ServiceError
            The service refused: its message is in the exception.
        """
        filename = params.get("filename")
        answer = self._call(
            self._api, "service/smartmatch", params, filename, attempts=REGISTER_ATTEMPTS
        )
        echoed = answer.get("input")
        if isinstance(echoed, Mapping):
            warn_misunderstood(params, echoed, urlsplit(self.base_url).netloc)
        return self._url_of(answer, filename, what="upload")

    def poll(self, filename: str) -> PollResult:
        """Ask once whether the job's deliverable is ready.

        Raises
        ------
        RateLimitError
            The poll came too soon; ``retry_after`` says how long to wait.
        JobFailedError
            The service reports that the job failed.
        """
        answer = self._call(self._poll, "service/smartmatch/poll", {"filename": filename}, filename)
        if answer.get("url") is None or answer.get("url") == "":
            return PollResult(None)
        return PollResult(self._url_of(answer, filename, what="download"))

    def upload(
        self,
        url: SecretURL,
        body: bytes | IO[bytes],
        *,
        on_progress: Progress | None = None,
        filename: str | None = None,
    ) -> None:
        """PUT the CSV body to the presigned URL, with a Content-Length and no API key.

        ``body`` is bytes or a seekable binary file (read from its start), so
        its length is known (S3 refuses chunked uploads) and it can be sent
        again on a retry.
        """
        stream = _ProgressReader(io.BytesIO(body) if isinstance(body, bytes) else body, on_progress)
        # The URL is signed for an empty Content-Type; requests would send none at all.
        headers = {"Content-Type": ""}
        # The body must go at MIN_TRANSFER_RATE at least: a target reading it a few bytes at a
        # time is cut, whatever each send's timeout.
        with self._watchdog(self.deadline, sending=len(stream)) as dog:
            response = self._storage_request(
                "PUT",
                url,
                filename,
                dog,
                data=stream,
                headers=headers,
                timeout=_within(self.timeout, self.deadline),
            )
            response.close()

    def download(
        self,
        url: SecretURL,
        *,
        sink: IO[bytes] | None = None,
        on_progress: Progress | None = None,
        filename: str | None = None,
        attempts: int = DOWNLOAD_ATTEMPTS,
        limit: int | None = None,
        time_limit: float | None = None,
    ) -> bytes | None:
        """GET the deliverable; return its bytes, or write them to ``sink`` and return None.

        A body cut short (fewer bytes than its Content-Length) is fetched
        again, up to ``attempts`` times.

        Parameters
        ----------
        limit
            The most bytes accepted (default :func:`download_limit` of no rows):
            a larger body, announced or sent, is refused.
        time_limit
            Seconds the whole download may take, every attempt included.

        Raises
        ------
        DeliverableError
            The body is larger than ``limit``.
        TransportError
            The body broke off ``attempts`` times, or did not end within ``time_limit``.
        """
        limit = download_limit(None) if limit is None else limit
        deadline = _earliest(
            self.deadline, None if time_limit is None else clocks.CLOCK.monotonic() + time_limit
        )
        for attempt in range(1, attempts + 1):
            out = sink if sink is not None else io.BytesIO()
            start = out.tell()
            try:
                with self._watchdog(deadline) as dog:
                    response = self._storage_request(
                        "GET", url, filename, dog, timeout=_within(self.timeout, deadline)
                    )
                    with response:
                        _check_announced(response, limit, filename)
                        for block in _blocks(response, self.timeout[1], limit, deadline, dog):
                            out.write(block)
                            if on_progress:
                                on_progress(len(block))
            except _BodyTooLargeError:
                _forget(out, start)
                raise _too_large(limit, filename) from None
            except _DeadlineError as exc:
                _forget(out, start)
                raise TransportError(f"the download {exc}", filename=filename) from None
            except _BODY_ERRORS as exc:
                if attempt == attempts:
                    _forget(out, start)
                    raise TransportError(
                        f"the download broke off {attempts} times ({_describe(exc)})",
                        filename=filename,
                    ) from None
                _forget(out, start)
                pause(attempt)
                continue
            except BaseException:
                _forget(out, start)
                raise
            return None if sink is not None else out.getvalue()  # type: ignore[attr-defined]
        raise AssertionError("unreachable")  # pragma: no cover

    # -- plumbing -------------------------------------------------------------

    @contextlib.contextmanager
    def within(self, deadline: float | None) -> Iterator[None]:
        """Bound every exchange of the block by ``deadline`` (on :data:`clock.CLOCK`'s
        monotonic time; None bounds nothing more), as ``match(timeout=...)`` does."""
        previous, self.deadline = self.deadline, _earliest(self.deadline, deadline)
        try:
            yield
        finally:
            self.deadline = previous

    def _watchdog(self, deadline: float | None = None, sending: int = 0) -> Watchdog:
        """The watchdog of one exchange: each request of it sent and answered with headers
        within the connect and read timeouts (and the time ``sending`` bytes take at
        :data:`MIN_TRANSFER_RATE`), everything by ``deadline``."""
        return Watchdog(
            _earliest(self.deadline, deadline),
            grace=sum(self.timeout),
            sending=sending,
            rate=MIN_TRANSFER_RATE,
        )

    def _call(
        self,
        session: requests.Session,
        path: str,
        params: Mapping[str, str],
        filename: str | None,
        *,
        attempts: int = 1,
    ) -> dict[str, Any]:
        """One API request and its JSON answer; an answer that breaks off is asked for
        again, up to ``attempts`` times in all (only where that is safe)."""
        url = urljoin(self.base_url, path)
        for attempt in range(1, attempts + 1):
            response = None
            try:
                with self._watchdog() as dog:
                    response = session.get(
                        url,
                        params=params,
                        headers={"x-api-key": self._api_key},
                        timeout=_within(self.timeout, self.deadline),
                        stream=True,
                        allow_redirects=False,
                    )
                    with response:
                        _check_redirect(response, path, filename)
                        body = b"".join(
                            _blocks(response, self.timeout[1], MAX_ANSWER_BYTES, self.deadline, dog)
                        )
            except _DeadlineError as exc:
                raise TransportError(
                    f"the answer of the SmartMatch service at {self.host} to {path} {exc}",
                    filename=filename,
                ) from None
            except _BodyTooLargeError:
                raise ServiceError(
                    f"the service's answer to {path} is larger than {MAX_ANSWER_BYTES:,} bytes, "
                    "far more than SmartMatch ever sends: not read. Check base_url, or try again "
                    "later",
                    filename=filename,
                ) from None
            except _BODY_ERRORS as exc:
                if dog.fired:
                    raise TransportError(
                        f"the answer of the SmartMatch service at {self.host} to {path} {dog.why}",
                        filename=filename,
                    ) from None
                unsent = _never_sent(exc) if response is None else None
                if unsent is not None:
                    raise _not_sent(
                        "the SmartMatch service", self.base_url, unsent, filename
                    ) from None
                failure = connection_failure(exc) if response is None else None
                if failure is not None:
                    raise _unreachable(
                        "the SmartMatch service", self.base_url, failure, filename
                    ) from None
                # Only an answer that broke off once begun: urllib3 has retried the rest.
                if response is not None and attempt < attempts:
                    pause(attempt)
                    continue
                if response is None and _malformed_head(exc):
                    what = f"the answer of the SmartMatch service at {self.address} was malformed"
                    raise TransportError(f"{what}: {_describe(exc)}", filename=filename) from None
                if response is None:
                    what = f"could not reach the SmartMatch service at {self.address}"
                    raise TransportError(f"{what}: {_describe(exc)}", filename=filename) from None
                what = f"the answer of the SmartMatch service at {self.host} broke off"
                raise TransportError(f"{what}: {_describe(exc)}", filename=filename) from None
            return _read_api_answer(response, body, path, filename)
        raise AssertionError("unreachable")  # pragma: no cover

    def _url_of(self, answer: Mapping[str, Any], filename: str | None, *, what: str) -> SecretURL:
        """The answer's presigned URL, checked: an http(s) URL with a host (https from an
        https service), of a sane length."""
        url = answer.get("url")
        why = _bad_url(url, https=self.base_url.startswith("https:"))
        refused = refused_host(cast(str, url)) if why is None else None
        if refused is not None:
            done = "accepted the job" if what == "upload" else "answered the poll"
            raise ServiceError(
                f"the service {done} but named an {what} URL at {_shown_host(cast(str, url))}, "
                f"which is not used: {refused}. Check base_url, and report it to the service",
                filename=filename,
            )
        if why is not None:
            keys = sorted(one_line(str(key))[:40] for key in list(answer)[:10])
            done = "accepted the job" if what == "upload" else "answered the poll"
            raise ServiceError(
                f"the service {done} but gave no {what} URL (its answer's keys: {keys}); try "
                f"again, and report it if it persists. Its url was {why}",
                filename=filename,
            )
        return SecretURL(cast(str, url))

    def _storage_request(
        self, method: str, url: SecretURL, filename: str | None, dog: Watchdog, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("stream", True)  # an error body is read within MAX_ERROR_BYTES
        refused = refused_host(url.reveal())  # a URL kept, or from a webhook, checked again
        if refused is not None:
            raise ServiceError(
                f"the {'upload' if method == 'PUT' else 'download'} URL names "
                f"{_shown_host(url.reveal())}, which is not used: {refused}",
                filename=filename,
            )
        try:
            response = self._storage.request(method, url.reveal(), allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            if dog.fired:
                what = "upload to" if method == "PUT" else "download from"
                raise TransportError(
                    f"the {what} storage at {url.host} {dog.why}", filename=filename
                ) from None
            unsent = _never_sent(exc)
            if unsent is not None:
                raise _not_sent("storage", url.reveal(), unsent, filename) from None
            failure = connection_failure(exc)
            if failure is not None:
                raise _unreachable("storage", url.reveal(), failure, filename) from None
            raise TransportError(
                f"the {'upload' if method == 'PUT' else 'download'} to storage at {url.host} "
                f"failed: {_describe(exc)}",
                filename=filename,
            ) from None
        if response.is_redirect:
            response.close()
            where = _shown_host(urljoin(url.reveal(), response.headers.get("Location", "")))
            raise StorageError(
                f"storage answered the {'upload' if method == 'PUT' else 'download'} with a "
                f"redirect (HTTP {response.status_code}) to {where}, which is not followed: "
                "a presigned URL is used where it points only. Report it to the service",
                status=response.status_code,
                filename=filename,
            )
        if response.status_code >= 300:
            code, message = _s3_error(response)
            response.close()
            raise StorageError(
                f"storage refused the {'upload' if method == 'PUT' else 'download'}: HTTP "
                f"{response.status_code} {code or ''} {message or ''}".rstrip(),
                status=response.status_code,
                code=code,
                filename=filename,
            )
        return response


def _bad_url(url: object, *, https: bool) -> str | None:
    """Why ``url`` cannot be a presigned URL, or None if it can."""
    if not isinstance(url, str):
        return f"a {type(url).__name__} where a URL belongs"
    if len(url) > MAX_URL_LENGTH:
        return f"a text of {len(url):,} characters where a URL belongs"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "not a URL"
    if parts.scheme not in {"http", "https"} or not host:
        return "not an http(s) URL"
    if https and parts.scheme != "https":
        return "an http URL from an https service: the upload or download would be in clear"
    return None


def refused_host(url: str) -> str | None:
    """Why the host of ``url``, a URL a service named, is not sent to; None if it may be.

    A host that cannot be looked up at all (an empty label, one past 63 characters, a
    name past 253) is refused as the name it is, and so is an address where no storage
    lives but a cloud's metadata endpoint may: link-local (169.254.0.0/16, fe80::/10) or
    unspecified (0.0.0.0, ::), in any spelling the system reads as one (``2852039166``,
    ``::ffff:169.254.169.254``). Nothing is looked up: a name is judged by its text alone.
    Loopback is allowed (the local service lives there).
    """
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return "not a URL"
    address = _ip_address(host)
    if address is None:
        try:
            valid = len(host.rstrip(".")) <= 253 and bool(host.encode("idna"))
        except UnicodeError:  # what urllib3 would raise as it connects: an empty or long label
            valid = False
        return None if valid else "a host name that cannot be looked up (a label empty or too long)"
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if address.is_unspecified:
        return "an unspecified address (0.0.0.0 or ::), not a host"
    if address.is_link_local:
        return (
            "a link-local address (169.254.0.0/16, fe80::/10), where cloud metadata "
            "endpoints live, never storage"
        )
    return None


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as the IP address the system would read it as (``127.1``, ``0x7f000001``
    and ``2130706433`` are all 127.0.0.1), or None for a name."""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host)
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host):
        with contextlib.suppress(OSError):
            return ipaddress.IPv4Address(socket.inet_aton(host))
    return None


def _shown_host(url: str) -> str:
    """The host of ``url`` as a message may show it: escaped, and cut short."""
    try:
        host = urlsplit(url).hostname or "no host"
    except ValueError:
        host = "no host"
    return one_line(host[:80]) + ("…" if len(host) > 80 else "")


def _check_redirect(response: requests.Response, path: str, filename: str | None) -> None:
    """Refuse a redirect: following it would send the API key to another address."""
    if response.is_redirect:
        try:
            where = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
        except ValueError:
            where = "elsewhere"
        raise ServiceError(
            f"the service answered {path} with a redirect (HTTP {response.status_code}) to "
            f"{one_line(where)[:100]}, which is not followed: the API key goes to the API's "
            "host only. Check base_url",
            status=response.status_code,
            filename=filename,
        )


def _earliest(*deadlines: float | None) -> float | None:
    """The earliest of ``deadlines`` given, or None."""
    return min((d for d in deadlines if d is not None), default=None)


def _within(timeout: tuple[float, float], deadline: float | None) -> tuple[float, float]:
    """``timeout``, shortened so that no wait goes past ``deadline``."""
    if deadline is None:
        return timeout
    left = max(0.001, deadline - clocks.CLOCK.monotonic())
    return (min(timeout[0], left), min(timeout[1], left))


def _check_announced(response: requests.Response, limit: int, filename: str | None) -> None:
    """Refuse a body whose Content-Length is past ``limit`` before reading any of it."""
    try:
        announced = int(response.headers.get("Content-Length", "0"))
    except ValueError:
        return  # urllib3 refuses a malformed length as it reads
    if announced > limit:
        raise _too_large(limit, filename, announced)


def _too_large(limit: int, filename: str | None, announced: int | None = None) -> DeliverableError:
    size = f"announced as {announced:,} bytes" if announced else f"more than {limit:,} bytes"
    return DeliverableError(
        f"the deliverable is {size}, past the limit of {limit:,} bytes for this job: not "
        f"downloaded. If it is genuine, set {DOWNLOAD_LIMIT_ENV} (such as 20G) and resume",
        filename=filename,
    )


def _forget(out: IO[bytes], start: int) -> None:
    """Drop what a download that failed wrote to ``out``."""
    out.seek(start)
    out.truncate()


#: What is said of an exchange that its caller's deadline cut.
_TIME_ALLOWED: Final = "did not end within the time allowed"


class _BodyTooLargeError(Exception):
    """A body past its size limit."""


class _DeadlineError(Exception):
    """A body that did not end by its deadline."""

    def __init__(self, received: int, why: str = _TIME_ALLOWED) -> None:
        super().__init__(f"{why} ({received:,} bytes had come)")


class _TooSlowError(Exception):
    """A body that came slower than :data:`MIN_TRANSFER_RATE` allows."""

    def __init__(self, received: int, elapsed: float) -> None:
        super().__init__(
            f"the answer came too slowly ({received:,} bytes in {elapsed:.0f} s, below "
            f"{MIN_TRANSFER_RATE:,} bytes/s)"
        )


_BODY_ERRORS: Final = (requests.RequestException, urllib3.exceptions.HTTPError, _TooSlowError)


def _blocks(
    response: requests.Response,
    grace: float,
    limit: int,
    deadline: float | None = None,
    dog: Watchdog | None = None,
) -> Iterator[bytes]:
    """The response's body, block by block, within a size and a time limit.

    Each read returns what has arrived (at most one block), so a body that
    trickles in is timed as a whole: it is given up once it lags ``grace``
    seconds behind :data:`MIN_TRANSFER_RATE`, or at ``deadline`` (each read
    waits no longer than is left, and ``dog``, the exchange's watchdog, cuts
    the connection then). More than ``limit`` bytes (decoded) are never read.
    """
    start, received = clocks.CLOCK.monotonic(), 0
    while True:
        if deadline is not None:
            _read_timeout(response, deadline - clocks.CLOCK.monotonic(), received)
        try:
            block = response.raw.read1(min(_BLOCK, limit + 1 - received), decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            if dog is not None and dog.fired:
                raise _DeadlineError(received, dog.why or _TIME_ALLOWED) from None
            if deadline is not None and clocks.CLOCK.monotonic() >= deadline:
                raise _DeadlineError(received) from None
            raise
        if not block:
            if dog is not None and dog.fired:  # a body of no stated length, cut
                raise _DeadlineError(received, dog.why or _TIME_ALLOWED)
            return
        received += len(block)
        if received > limit:
            raise _BodyTooLargeError
        elapsed = clocks.CLOCK.monotonic() - start
        if elapsed > grace + received / MIN_TRANSFER_RATE:
            raise _TooSlowError(received, elapsed)
        yield block


def _read_timeout(response: requests.Response, left: float, received: int) -> None:
    """Let the next read of ``response`` wait ``left`` seconds at most."""
    if left <= 0:
        raise _DeadlineError(received)
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(min(left, sock.gettimeout() or left))


class _ProgressReader(io.RawIOBase):
    """A seekable, sized view of a binary file that reports bytes read.

    Its ``len()`` gives requests the Content-Length, and its ``seek`` lets
    urllib3 rewind the body to send it again on a retry.
    """

    def __init__(self, raw: IO[bytes], on_progress: Progress | None) -> None:
        super().__init__()
        self._raw = raw
        self._start = raw.tell()
        self._size = raw.seek(0, io.SEEK_END) - self._start
        raw.seek(self._start)
        self._on_progress = on_progress

    def __len__(self) -> int:
        return self._size - (self._raw.tell() - self._start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block = self._raw.read(size)
        if block and self._on_progress:
            self._on_progress(len(block))
        return block

    def readinto(self, buffer: Any) -> int:  # pragma: no cover - http.client uses read()
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset += self._start
        return self._raw.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._raw.tell() - self._start


#: The documented prefixes of a v2 error string, each with its class (and the class of a
#: job that failed with it, when a poll says so).
_ERROR_KINDS: Final[tuple[tuple[str, type[ServiceError], type[JobFailedError] | None], ...]] = (
    ("Authorization Error", AuthorizationError, None),
    ("Validation Error", ValidationError, None),
    ("Query Error", QueryError, JobQueryError),
    ("Internal Error", InternalError, JobInternalError),
)
#: Statuses on which an API gateway refuses a key with ``{"message": "Forbidden"}``.
_GATEWAY_REFUSALS: Final = frozenset({401, 403})


def _read_api_answer(
    response: requests.Response, body: bytes, path: str, filename: str | None
) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        answer = None
    try:
        return _checked_answer(response, answer, path, filename)
    except SmartMatchError as exc:
        if isinstance(answer, dict):
            raise exc.with_answer(**answer_ids(answer)) from None
        raise


def answer_ids(answer: Mapping[str, Any]) -> dict[str, Any]:
    """What a v2 answer says of itself: its ``gateway_id`` and ``function_id``, and its
    ``input`` (the request as understood) with secrets removed."""

    def text(key: str) -> str | None:
        value = answer.get(key)
        if not isinstance(value, str | int) or not str(value):
            return None
        return one_line(redact(str(value)))[:200]

    echoed = answer.get("input")
    return {
        "gateway_id": text("gateway_id"),
        "function_id": text("function_id"),
        "service_input": safe_input(echoed) if isinstance(echoed, Mapping) else None,
    }


def safe_input(echoed: Mapping[str, Any]) -> dict[str, Any]:
    """A service's echo of a request, fit to show: a webhook's URL without its query (a
    token may ride there), every other value with known secrets removed."""
    safe: dict[str, Any] = {}
    for key, value in list(echoed.items())[:_MAX_ECHOED]:  # a hostile echo may be huge
        name = one_line(str(key))[:60]
        if key == "webhook" and isinstance(value, str) and value:
            safe[name] = shown_url(value)
        elif isinstance(value, str):
            safe[name] = one_line(redact(value))[:200]
        else:
            safe[name] = value if isinstance(value, int | float | bool | None) else "…"
    return safe


#: The most parameters of a service's echo kept.
_MAX_ECHOED: Final = 50


#: (host, parameter) pairs already warned about: each is said once per process.
_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK: Final = threading.Lock()


def warn_misunderstood(sent: Mapping[str, str], echoed: Mapping[str, Any], host: str) -> None:
    """Warn, once per parameter and service, where the service's echo of a request
    (``input``) shows a parameter understood otherwise than sent: a boolean read as
    another, a number read as another. A parameter the echo leaves out is not judged."""
    for name, value in sent.items():
        if name not in echoed or _meaning(echoed[name]) == _meaning(value):
            continue
        with _WARNED_LOCK:
            if (host, name) in _WARNED:
                continue
            _WARNED.add((host, name))
        shown = "…" if name == "webhook" else redact(repr(echoed[name]))[:80]
        warn(
            f"the service at {host} understood {name}={redact(value)[:80]!r} as {shown}: "
            "check its result, and tell the smartmatch-pandas maintainers which service "
            "revision reads it so"
        )


def _meaning(value: object) -> object:
    """A parameter's value as a service may mean it: booleans and numbers by value
    (``"True"`` is ``true``, ``"1.50"`` is ``1.5``), anything else as its text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _checked_answer(
    response: requests.Response, answer: object, path: str, filename: str | None
) -> dict[str, Any]:
    status = response.status_code
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After"))
        asks = f"; it asks to wait {wait:g} s" if wait is not None else ""
        if path.endswith("poll"):
            message = f"the poll came sooner than the service's rate limit allows{asks}"
        else:
            message = (
                f"the service refused {path} as too many requests (HTTP 429){asks}; try again later"
            )
        raise RateLimitError(message, retry_after=wait, filename=filename)
    if isinstance(answer, dict) and status in _GATEWAY_REFUSALS and not answer.get("error"):
        said = redact(str(answer.get("message") or answer.get("Message") or "Forbidden"))[:200]
        raise AuthorizationError(
            f"the API gateway refused the request (HTTP {status} {said!r}): check the API key, "
            "and that SmartMatch is provisioned for it",
            status=status,
            service_message=said,
            filename=filename,
        )
    if not isinstance(answer, dict):
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise ServiceError(
            f"the service answered {path} with HTTP {status} and a body that is not a JSON "
            f"object ({kind}); check base_url, or try again later",
            status=status,
            filename=filename,
        )
    error = answer.get("error")
    if error:
        name, value = LOCAL_SERVICE_HEADER
        local = response.headers.get(name) == value
        text = error if isinstance(error, str) else json.dumps(error)[:1000]
        if not text.strip():
            raise ServiceError(
                f"the service answered {path} with an error but no words for it (HTTP "
                f"{status}); try again later, and report it if it persists",
                status=status,
                filename=filename,
            )
        raise _service_error(one_line(redact(text[:1000])), status, path, filename, local=local)
    if status >= 300:
        raise ServiceError(
            f"the service answered {path} with HTTP {status} and no error message",
            status=status,
            filename=filename,
        )
    return answer


_KEY_HINTS: Final = {
    False: " (check the API key, and that SmartMatch is provisioned for it)",
    True: " (a local service: use the key it was started with, by re-running the `export` "
    "lines `smartmatch-pandas serve` printed, or LocalService.settings; `serve --api-key` "
    "or --data-dir keeps one key across restarts)",
}


def _service_error(
    message: str, status: int, path: str, filename: str | None, *, local: bool = False
) -> ServiceError:
    # Only an answered poll says the job failed: an error status is the service's own trouble.
    job_failed = path.endswith("poll") and status < 300
    for prefix, cls, failed_cls in _ERROR_KINDS:
        if message.startswith(prefix):
            if job_failed and failed_cls is not None:
                return failed_cls.at_service(message, filename=filename, status=status)
            if cls is AuthorizationError:
                text = f"{message}{_KEY_HINTS[local]}"
            elif failed_cls is not None:
                text = f"the service reported: {message} (HTTP {status})"
            else:
                text = message
            return cls(text, status=status, service_message=message, filename=filename)
    if job_failed:
        return JobFailedError.at_service(message, filename=filename, status=status)
    return ServiceError(
        f"the service reported: {message} (HTTP {status})",
        status=status,
        service_message=message,
        filename=filename,
    )


_XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")


def _s3_error(response: requests.Response) -> tuple[str | None, str | None]:
    """S3's error ``Code`` and ``Message`` from an XML error body."""
    try:
        head = response.raw.read(MAX_ERROR_BYTES, decode_content=True) if response.raw else b""
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return None, None
    text = head.decode("utf-8", "replace")
    found = dict(_XML_FIELD.findall(text))
    code, message = found.get("Code"), found.get("Message")
    return (
        one_line(code)[:100] if code else None,
        one_line(redact(message))[:500] if message else None,
    )


_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def _address(url: str) -> str:
    """The host and port of ``url``: what a message may name of it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def is_loopback(base_url: str) -> bool:
    """Whether ``base_url`` names this machine (where the local service runs)."""
    host = canonical_host(urlsplit(base_url).hostname or "")
    return host in _LOOPBACK or host.startswith("127.")


def _unreachable(
    what: str, url: str, failure: BaseException, filename: str | None
) -> UnreachableError:
    """No connection to ``url`` could be made: said with its host alone, and what to check."""
    address = _address(url)
    if what == "storage":
        hint = "check the network"
    elif is_loopback(url):
        hint = (
            "is the local service running? Start it with `smartmatch-pandas serve` and use the "
            "base URL it prints"
        )
    else:
        hint = "check the base URL (base_url= or SMARTMATCH_BASE_URL) and the network"
    return UnreachableError(
        f"could not connect to {what} at {address}: {why_not_connected(failure)}; "
        f"nothing was sent. {hint[0].upper()}{hint[1:]}",
        host=address,
        filename=filename,
        not_running=isinstance(failure.__cause__, ConnectionRefusedError),
    )


def _never_sent(exc: BaseException) -> str | None:
    """Why a request certainly never left, in a few words (no URL, no secret), or None.

    A header value HTTP cannot carry is refused as the request is prepared, and a
    certificate that fails its check ends the TLS handshake before any byte of the
    request is written: the service saw nothing, as with a refused connection.
    """
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return "a header's value is not one HTTP can carry (a line break or control character)"
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"its certificate failed the check ({one_line(cause.verify_message or '')[:100]}"
                "); if it is a service of your own, point REQUESTS_CA_BUNDLE at its certificate"
            )
    return None


def _malformed_head(exc: BaseException) -> bool:
    """Whether a request failed on its answer's status line or headers (past urllib3's
    limits, or not HTTP): the service was reached, and answered something malformed."""
    causes = list(_chain(exc))
    if any(isinstance(cause, http.client.RemoteDisconnected) for cause in causes):
        return False  # no answer at all, rather than a malformed one
    return any(isinstance(cause, http.client.HTTPException) for cause in causes)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it: causes, contexts, urllib3's reasons and the
    exceptions requests and urllib3 wrap in their arguments."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        behind = [getattr(current, "reason", None), *current.args]
        behind += [current.__cause__, current.__context__]
        pending += [e for e in behind if isinstance(e, BaseException)]


def _not_sent(what: str, url: str, why: str, filename: str | None) -> UnreachableError:
    """A request that certainly never left for ``url``: said as a connection not made."""
    address = _address(url)
    return UnreachableError(
        f"could not send to {what} at {address}: {why}; nothing was sent",
        host=address,
        filename=filename,
    )


def _describe(exc: BaseException) -> str:
    """A one-line, secret-free account of a requests exception."""
    if isinstance(exc, _TooSlowError):
        return str(exc)
    reason: BaseException = exc
    while reason.__context__ is not None and reason.__context__ is not reason:
        reason = reason.__context__
    kind = type(exc).__name__
    text = str(reason).split("\n", 1)[0]
    # urllib3 names the request's path and query in its messages; drop them.
    text = re.sub(r"url: \S+", "url: …", text)
    return redact(f"{kind}: {text}")[:300]
