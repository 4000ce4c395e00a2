"""From request content to the channel's message: media resolved, the address taken from the contact.

The request never carries an address (so nobody can message one that skipped the opt-in checks): the
phone or e-mail comes from the contact the policy decided on.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import (
    Email,
    OutboundMessage,
    S3Location,
    Sms,
    WhatsAppMedia,
    WhatsAppTemplate,
    WhatsAppText,
)
from gateway.errors import InvalidInput
from gateway.outbound.types import EmailContent, MediaContent, OutboundRequest, TemplateContent, TextContent
from gateway.store.port import Item, Table


@dataclass(frozen=True)
class Media:
    s3: S3Location | None
    mime_type: str
    size: int | None


def resolve_media(files: Table, default_bucket: str, request: OutboundRequest) -> Media | None:
    """The media a request sends: an upload it carries, or a stored file by id (FILE_NOT_FOUND if none)."""
    content = request.content
    if not isinstance(content, MediaContent):
        return None
    if content.upload is not None:
        return Media(None, content.upload.mime_type, len(content.upload.content))
    assert content.file_id is not None
    item = files.get({"fileId": content.file_id})
    if item is None or not item.get("s3Key"):
        raise InvalidInput(
            f"no uploaded file {content.file_id!r}; upload it first or send the file with the request",
            code="FILE_NOT_FOUND",
            details={"fileId": content.file_id},
        )
    bucket = str(item.get("s3Bucket") or item.get("bucket") or default_bucket)
    size = item.get("size")
    return Media(
        S3Location(bucket, str(item["s3Key"])),
        str(item.get("contentType") or "application/octet-stream"),
        int(size) if isinstance(size, int | float) else None,
    )


def channel_message(
    request: OutboundRequest, contact: Item | None, phone_number_id: str, media: Media | None, message_id: str
) -> OutboundMessage:
    phone = str((contact or {}).get("phone") or "")
    content = request.content
    if request.channel == "whatsapp":
        if isinstance(content, TextContent):
            return WhatsAppText(to=phone, phone_number_id=phone_number_id, body=content.body)
        if isinstance(content, TemplateContent):
            return WhatsAppTemplate(
                to=phone,
                phone_number_id=phone_number_id,
                name=content.name,
                language=content.language,
                components=tuple(content.components),
            )
        assert isinstance(content, MediaContent) and media is not None
        upload = content.upload
        filename = content.filename or (upload.filename if upload is not None else None)
        return WhatsAppMedia(
            to=phone,
            phone_number_id=phone_number_id,
            kind=content.media_kind,
            mime_type=media.mime_type,
            content=upload.content if upload is not None else None,
            source=media.s3,
            caption=content.caption,
            # Only documents carry a filename on WhatsApp; an upload's name is kept for those only.
            filename=filename if content.media_kind == "document" else None,
        )
    if request.channel == "sms":
        assert isinstance(content, TextContent)
        return Sms(to=phone, body=content.body, context={"messageId": message_id})
    assert isinstance(content, EmailContent)
    return Email(
        to=str((contact or {}).get("email") or ""),
        subject=content.subject,
        text=content.text,
        html=content.html,
    )
