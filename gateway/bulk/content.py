"""A job's content, stored once on the job as the message record's content document and rebuilt per send.

The stored shape is :meth:`OutboundRequest.content_document` (``{"type": "text", "body": ...}``…), so a
job's content reads like the messages it produced. Media is by ``fileId`` only: a job never carries bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidInput
from gateway.outbound.types import Content, EmailContent, MediaContent, TemplateContent, TextContent
from gateway.outbound.types import content_document as stored_document


def content_document(content: Content) -> dict[str, Any]:
    """The message record's content document; bulk media must name a stored file."""
    if isinstance(content, MediaContent) and (content.upload is not None or content.file_id is None):
        raise InvalidInput("bulk media must be given by fileId", code="BULK_MEDIA_BY_FILE_ID")
    return stored_document(content)


def content_from_document(doc: Mapping[str, Any]) -> Content:
    kind = doc.get("type")
    if kind == "text":
        return TextContent(str(doc.get("body", "")))
    if kind == "template":
        return TemplateContent(
            str(doc["name"]), str(doc["language"]), tuple(dict(c) for c in doc.get("components", []))
        )
    if kind == "email":
        text, html = doc.get("text"), doc.get("html")
        return EmailContent(
            str(doc["subject"]), None if text is None else str(text), None if html is None else str(html)
        )
    if kind == "media":
        caption, filename = doc.get("caption"), doc.get("filename")
        return MediaContent(
            media_kind=doc["mediaKind"],
            file_id=str(doc["fileId"]),
            caption=None if caption is None else str(caption),
            filename=None if filename is None else str(filename),
        )
    raise InvalidInput(f"unknown bulk content type {kind!r}", code="BULK_CONTENT_INVALID")
