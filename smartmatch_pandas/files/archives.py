"""What kind of archive a deliverable is, told by its first bytes (never by its name)."""

from __future__ import annotations

from typing import Final, Literal

ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty zip
GZIP_MAGIC: Final = b"\x1f\x8b"
#: How many leading bytes :func:`archive_kind` needs.
MAGIC_BYTES: Final = 4

ArchiveKind = Literal["zip", "gzip"]


def archive_kind(head: bytes) -> ArchiveKind | None:
    """``"zip"``, ``"gzip"``, or None for anything else (a CSV), from the first bytes.

    Examples
    --------
    >>> archive_kind(b"PK\\x03\\x04..."), archive_kind(b"\\x1f\\x8b\\x08"), archive_kind(b"a,b")
    ('zip', 'gzip', None)
    """
    if head[:MAGIC_BYTES] in ZIP_MAGIC:
        return "zip"
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    return None
