"""An object store behind presigned URLs, with S3's rules.

URLs carry S3 SigV4-shaped query parameters and an HMAC signature over the
method, the path, the expiry and (for uploads) the Content-Type, which is
signed as empty: any other Content-Type fails the signature, as on S3. The
rules a client meets from S3 (see the S3 presigned-URL notes) are checked
by :meth:`ObjectStore.check` and reported as :class:`S3Error`, which the
HTTP layer renders as S3's XML error bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import urlencode

from ..private_files import make_private_dirs, private_file

_KEY_RULE: Final = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
PREFIX: Final = "/storage/"


@dataclass
class S3Error(Exception):
    """An S3-style refusal: HTTP status, S3 error code and message."""

    status: int
    code: str
    message: str

    def xml(self, request_id: str) -> bytes:
        """The error as S3's XML body."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{_escape(self.message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ObjectStore:
    """Objects kept as files under ``root``, reached through signed URLs.

    Parameters
    ----------
    root
        The folder holding the objects; nothing outside it is ever read or written.
    ttl
        Seconds a presigned URL stays valid.
    max_bytes
        The largest upload accepted (S3's single-PUT limit is 5 GB).
    secret
        The key URLs are signed with; a new one by default (a data folder keeps
        its own, so that URLs outlive a restart).
    """

    def __init__(
        self,
        root: Path,
        *,
        ttl: float = 3600.0,
        max_bytes: int = 5 * 10**9,
        secret: bytes | None = None,
    ) -> None:
        self.root = root.resolve()
        make_private_dirs(self.root)
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._secret = secret or secrets.token_bytes(32)
        self._access_key = "LOCAL" + secrets.token_hex(6).upper()

    # -- URLs ------------------------------------------------------------------

    def presign(
        self,
        method: str,
        key: str,
        base_url: str,
        *,
        ttl: float | None = None,
        expired: bool = False,
    ) -> str:
        """A URL that allows ``method`` on ``key`` until it expires.

        ``expired=True`` (a fault to inject) dates it so that it has expired already.
        """
        _check_key(key)
        lifetime = self.ttl if ttl is None else ttl
        now = datetime.now(UTC) - timedelta(seconds=lifetime + 60 if expired else 0)
        signed_headers = "content-type;host" if method == "PUT" else "host"
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self._access_key}/{now:%Y%m%d}/us-east-1/s3/aws4_request",
            "X-Amz-Date": now.strftime(_DATE_FORMAT),
            "X-Amz-Expires": str(max(0, round(lifetime))),
            "X-Amz-SignedHeaders": signed_headers,
        }
        path = PREFIX + key
        query["X-Amz-Signature"] = self._sign(method, path, query, "")
        return f"{base_url.rstrip('/')}{path}?{urlencode(query)}"

    def check(self, method: str, path: str, query: dict[str, str], content_type: str | None) -> str:
        """Check a request against its signature and expiry; return the object key.

        Raises
        ------
        S3Error
            AccessDenied (missing credentials, expired), SignatureDoesNotMatch.
        """
        if not path.startswith(PREFIX):
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist")
        key = path[len(PREFIX) :]
        try:
            _check_key(key)
        except ValueError:
            raise S3Error(400, "InvalidURI", "Couldn't parse the specified URI.") from None
        signature = query.get("X-Amz-Signature")
        if not signature or "X-Amz-Date" not in query or "X-Amz-Expires" not in query:
            raise S3Error(
                403,
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Signature, X-Amz-Date "
                "and X-Amz-Expires parameters",
            )
        unsigned = {k: v for k, v in query.items() if k != "X-Amz-Signature"}
        signed_type = (content_type or "") if method == "PUT" else ""
        expected = self._sign(method, path, unsigned, signed_type)
        if not hmac.compare_digest(expected, signature):
            raise S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )
        try:
            issued = datetime.strptime(query["X-Amz-Date"], _DATE_FORMAT).replace(tzinfo=UTC)
            expires = issued.timestamp() + int(query["X-Amz-Expires"])
        except ValueError:
            raise S3Error(400, "AuthorizationQueryParametersError", "Invalid date") from None
        if time.time() > expires:
            raise S3Error(403, "AccessDenied", "Request has expired")
        return key

    def _sign(self, method: str, path: str, query: dict[str, str], content_type: str) -> str:
        canonical = "\n".join(
            [
                method,
                path,
                urlencode(sorted(query.items())),
                f"content-type:{content_type}" if method == "PUT" else "",
            ]
        )
        return hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()

    # -- objects ---------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file of ``key``, guaranteed to lie inside the store's root."""
        _check_key(key)
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"object key {key!r} leaves the store")
        return target

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self.path(key).is_file()

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically."""
        self.put_stream(key, io.BytesIO(data), len(data))

    def put_stream(self, key: str, body: BinaryIO, length: int) -> None:
        """Store ``length`` bytes read from ``body`` under ``key``, atomically.

        Raises
        ------
        S3Error
            IncompleteBody, when ``body`` ends before ``length`` bytes.
        """
        try:
            target = self.path(key)
        except ValueError:  # a link planted in the folder leads out of it
            raise S3Error(403, "AccessDenied", "Access Denied") from None
        make_private_dirs(target.parent)
        with private_file(target) as out:
            remaining = length
            while remaining:
                block = body.read(min(remaining, 1 << 20))
                if not block:
                    raise S3Error(
                        400,
                        "IncompleteBody",
                        "You did not provide the number of bytes specified by the "
                        "Content-Length HTTP header.",
                    )
                out.write(block)
                remaining -= len(block)

    def get(self, key: str) -> bytes:
        """The object under ``key``.

        Raises
        ------
        S3Error
            NoSuchKey.
        """
        try:
            return self.path(key).read_bytes()
        except (OSError, ValueError):  # missing, a folder, or (a planted link) outside the root
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.") from None


def _check_key(key: str) -> None:
    if not _KEY_RULE.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"invalid object key {key!r}")
