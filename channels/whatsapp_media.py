"""WhatsApp's outbound media rules as data: accepted MIME types, size limits, file extensions.

Source: Meta's "Supported media types" (Cloud API) as republished in the AWS End User Messaging Social
user guide. Limits are applied in decimal units (5 MB = 5,000,000 bytes) — the stricter reading, so a
file we accept is never refused by Meta for size.

Checks run before anything is uploaded. Where the bytes are at hand we also sniff the magic numbers of
JPEG, PNG and WebP, because Meta accepts a mislabelled upload and only fails the message later,
asynchronously; for stickers the WebP header tells animated (500 KB) from static (100 KB).
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import MediaKind
from channels.errors import ContentInvalid

KB = 1_000
MB = 1_000_000


@dataclass(frozen=True)
class MediaType:
    mime_type: str
    extension: str
    max_bytes: int


def _table(*rows: tuple[str, str, int]) -> dict[str, MediaType]:
    return {mime: MediaType(mime, ext, size) for mime, ext, size in rows}


MEDIA_TYPES: dict[MediaKind, dict[str, MediaType]] = {
    "image": _table(("image/jpeg", ".jpg", 5 * MB), ("image/png", ".png", 5 * MB)),
    "video": _table(
        ("video/mp4", ".mp4", 16 * MB),
        ("video/3gpp", ".3gp", 16 * MB),
        ("video/3gp", ".3gp", 16 * MB),  # spelling used in the AWS guide
    ),
    "audio": _table(
        ("audio/aac", ".aac", 16 * MB),
        ("audio/amr", ".amr", 16 * MB),
        ("audio/mpeg", ".mp3", 16 * MB),
        ("audio/mp4", ".m4a", 16 * MB),
        ("audio/ogg", ".ogg", 16 * MB),  # OPUS codec only, per Meta
    ),
    "document": _table(
        ("text/plain", ".txt", 100 * MB),
        ("application/pdf", ".pdf", 100 * MB),
        ("application/msword", ".doc", 100 * MB),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx", 100 * MB),
        ("application/vnd.ms-excel", ".xls", 100 * MB),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx", 100 * MB),
        ("application/vnd.ms-powerpoint", ".ppt", 100 * MB),
        ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx", 100 * MB),
    ),
    # Static stickers; animated ones get ANIMATED_STICKER_MAX_BYTES.
    "sticker": _table(("image/webp", ".webp", 100 * KB)),
}
ANIMATED_STICKER_MAX_BYTES = 500 * KB

# Kinds whose message object accepts a caption / a filename.
CAPTION_KINDS: frozenset[MediaKind] = frozenset({"image", "video", "document"})
FILENAME_KINDS: frozenset[MediaKind] = frozenset({"document"})
CAPTION_MAX_CHARS = 1024


def media_type(kind: MediaKind, mime_type: str) -> MediaType:
    """The table row for ``kind``/``mime_type``; ContentInvalid when WhatsApp does not take it."""
    rows = MEDIA_TYPES.get(kind)
    if rows is None:
        raise ContentInvalid(f"unknown media kind {kind!r}", code="MediaKindInvalid")
    row = rows.get(mime_type.strip().lower())
    if row is None:
        raise ContentInvalid(
            f"{kind} does not accept {mime_type!r}; allowed: {', '.join(sorted(rows))}",
            code="MediaTypeNotSupported",
        )
    return row


def is_animated_webp(content: bytes) -> bool:
    """True when a WebP file carries the VP8X animation flag."""
    # RIFF....WEBPVP8X<size:4><flags:1>: bit 1 of the flags byte marks an animation.
    return len(content) > 20 and content[12:16] == b"VP8X" and bool(content[20] & 0x02)


_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def _sniff(mime: str, content: bytes) -> bool:
    if mime == "image/webp":
        return content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    prefixes = _MAGIC.get(mime)
    return prefixes is None or content.startswith(prefixes)


def max_bytes(kind: MediaKind, row: MediaType, *, animated: bool | None) -> int:
    if kind == "sticker" and animated:
        return ANIMATED_STICKER_MAX_BYTES
    return row.max_bytes


def check_size(kind: MediaKind, row: MediaType, size: int, *, animated: bool | None) -> None:
    limit = max_bytes(kind, row, animated=animated)
    if size <= 0:
        raise ContentInvalid(f"{kind} file is empty", code="MediaEmpty")
    if size > limit:
        raise ContentInvalid(
            f"{kind} ({row.mime_type}) is {size:,} bytes; WhatsApp's limit is {limit:,} bytes",
            code="MediaTooLarge",
        )


def check_content(kind: MediaKind, mime_type: str, content: bytes, animated: bool | None) -> MediaType:
    """Full pre-upload check of in-memory media: type, magic number, size."""
    row = media_type(kind, mime_type)
    if content and not _sniff(row.mime_type, content):
        raise ContentInvalid(f"the file's content is not {row.mime_type}", code="MediaContentMismatch")
    if kind == "sticker" and animated is None:
        animated = is_animated_webp(content)
    check_size(kind, row, len(content), animated=animated)
    return row
