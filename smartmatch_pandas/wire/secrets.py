"""Keeping API keys, presigned URLs and passwords out of everything a person can see.

Presigned URLs are bearer credentials until they expire, and API keys,
webhook tokens and SFTP passwords for much longer: they must never reach a
message, a log line or a repr. This is the wire's one redactor: every channel
(HTTP, SFTP, the webhook receiver) registers its secrets here
(:func:`register_secret`), wraps URLs in :class:`SecretURL`, whose text is
redacted, passes free text that might hold one (a library's exception) through
:func:`redact`, and has its loggers filtered (:func:`install_log_redaction`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import urlsplit

from ..errors import one_line, printable

_REDACTED = "REDACTED"
# Query parameters that carry S3 credentials in either signature version.
_SIGNED_PARAM = re.compile(
    r"(?i)((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId"
    r"|x-amz-security-token)=)[^&\s\"'<>]+"
)
# A URL's query, or a request target's (urllib3 logs "GET /path?query HTTP/1.1"): a presigned
# URL's query is its signature, whatever its parameters are called, so all of it goes.
_QUERY = re.compile(
    r"((?:\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#\"'<>]+)?/[^\s?#\"'<>]*)\?[^\s#\"'<>]+"
)
_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember ``value`` (an API key) so that :func:`redact` removes it, in every shape a
    message may quote it in: as it is, stripped, and escaped as ``repr()``, JSON and
    :func:`~smartmatch_pandas.errors.one_line` escape it (a library's exception quotes a
    header value with its line breaks as ``\\n``)."""
    if not value:
        return
    shapes = {value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1], one_line(value)}
    with _lock:
        _known.update(shape for shape in shapes if len(shape) >= 4)


def redact(text: str) -> str:
    """Return ``text`` with every known secret, URL signature and URL query removed."""
    text = _SIGNED_PARAM.sub(rf"\g<1>{_REDACTED}", text)
    text = _QUERY.sub(rf"\g<1>?{_REDACTED}", text)
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


class SecretURL:
    """A presigned URL that shows only its scheme, host and path.

    ``str()`` and ``repr()`` give the redacted form; :meth:`reveal` gives
    the URL itself and is called only where the request is made.
    """

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url

    def reveal(self) -> str:
        """Return the full URL, signature included: only for the request itself."""
        return self._url

    @property
    def host(self) -> str:
        """The URL's host, safe to show."""
        return urlsplit(self._url).hostname or ""

    def __str__(self) -> str:
        parts = urlsplit(self._url)
        query = "?…" if parts.query else ""
        return f"{parts.scheme}://{parts.netloc}{parts.path}{query}"

    def __repr__(self) -> str:
        return f"SecretURL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretURL) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a presigned URL is a secret and is not pickled")


class RedactingFilter(logging.Filter):
    """Redacts secrets from records of the HTTP libraries' loggers, and escapes their
    control characters (a file name or a header from a server may hold some).

    urllib3 logs every request line at DEBUG, presigned query string included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = printable(redact(message))
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(*loggers: str) -> None:
    """Attach :class:`RedactingFilter` to the loggers that see request URLs, and to
    ``loggers`` (a channel's own)."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "requests", *loggers):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
