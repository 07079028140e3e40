"""What kind of archive a deliverable is, told by its first bytes (never by its name)."""

from __future__ import annotations

from typing import Final, Literal

ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty zip
GZIP_MAGIC: Final = b"\x1f\x8b"
#: How many leading bytes :func:`archive_kind` needs.
MAGIC_BYTES: Final = 4
#: An archive may unpack to this many times its own size at most (CSV compresses some
#: 5-20 times; a decompression bomb, thousands), or to :data:`MIN_UNPACK_ALLOWANCE`.
MAX_EXPANSION: Final = 250
#: Bytes any archive may unpack to, however small it is.
MIN_UNPACK_ALLOWANCE: Final = 256 * 2**20


def unpack_allowance(
    size: int, expansion: int = MAX_EXPANSION, floor: int = MIN_UNPACK_ALLOWANCE
) -> int:
    """The most bytes an archive of ``size`` bytes may unpack to: past them it is a
    decompression bomb, and no reader of the package goes further."""
    return max(floor, expansion * size)


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
