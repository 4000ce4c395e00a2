"""WhatsApp through AWS End User Messaging Social (``socialmessaging``, API 2024-01-01).

Every message is one ``SendWhatsAppMessage(originationPhoneNumberId, message, metaApiVersion)`` call
whose ``message`` is a **blob**: the UTF-8 bytes of a Meta Cloud API message object, e.g. ::

    {"messaging_product":"whatsapp","recipient_type":"individual","to":"+447700900123",
     "type":"text","text":{"preview_url":false,"body":"Hello"}}

The JSON is compact and keeps non-ASCII characters as UTF-8 (not ``\\u`` escapes), so the bytes we
store in DRY_RUN are byte-for-byte what LIVE sends.

Recipient format: ``to`` is always sent as ``+`` followed by the E.164 digits. Meta accepts a bare
``wa_id`` as well, but documents that a number *without* the plus sign may get the business number's
own country code prepended, which can misdeliver; with the ``+`` there is no ambiguity.

Media is a three-step plan (see :class:`~channels.base.PreparedRequest`):

1. ``s3:PutObject`` to ``s3://<media bucket>/<outbound prefix><sha256 of content><ext>`` — the key is
   derived from the content, so a retry or a resend overwrites the same object instead of piling up
   copies, and a DRY_RUN can name the key without uploading. (Media given as an existing S3 object
   skips the upload and instead starts with ``s3:HeadObject`` to check its size.)
2. ``PostWhatsAppMessageMedia(originationPhoneNumberId, sourceS3File={bucketName, key})`` → ``mediaId``
   (the media id is only valid for the phone number that uploaded it — the same one that sends).
3. ``SendWhatsAppMessage`` with ``{"type": kind, kind: {"id": mediaId, ...}}``. Until step 2 has run the
   id is the placeholder :data:`MEDIA_ID_PLACEHOLDER`; ``send`` fills it in.

Type and size are checked against WhatsApp's table (:mod:`channels.whatsapp_media`) before any upload.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from channels.aws import invoke, request_id, require
from channels.base import (
    ApiCall,
    Channel,
    OutboundMessage,
    PreparedRequest,
    SendResult,
    WhatsAppMedia,
    WhatsAppTemplate,
    WhatsAppText,
)
from channels.errors import ContentInvalid
from channels.retry import Retrier
from channels.validation import e164, non_empty, single_line
from channels.whatsapp_media import (
    CAPTION_KINDS,
    CAPTION_MAX_CHARS,
    FILENAME_KINDS,
    check_content,
    check_size,
    max_bytes,
    media_type,
)

SERVICE = "socialmessaging"
META_API_VERSION = "v20.0"
TEXT_MAX_CHARS = 4096
MEDIA_ID_PLACEHOLDER = "${mediaId}"
DEFAULT_MEDIA_BUCKET = "auth.wecare.digital"
DEFAULT_MEDIA_PREFIX = "whatsapp-media/whatsapp-media-outgoing/"


def encode_message(message: Mapping[str, Any]) -> bytes:
    """The ``message`` blob: compact JSON, UTF-8."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _envelope(to: str, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: body,
    }


def _phone_number_id(value: str) -> str:
    single_line(value, "phone_number_id")
    if not (value.startswith("phone-number-id-") and len(value) > len("phone-number-id-")) and not (
        value.startswith("arn:") and ":phone-number-id/" in value
    ):
        raise ContentInvalid(
            f"phone_number_id must look like phone-number-id-<id>, got {value!r}", code="PhoneNumberIdInvalid"
        )
    return value


class WhatsAppRequestBuilder:
    """The pure half: WhatsApp messages → the exact socialmessaging/S3 calls. Holds no client."""

    channel: Channel = "whatsapp"

    def __init__(
        self,
        *,
        media_bucket: str = DEFAULT_MEDIA_BUCKET,
        media_prefix: str = DEFAULT_MEDIA_PREFIX,
        meta_api_version: str = META_API_VERSION,
    ) -> None:
        if media_prefix and not media_prefix.endswith("/"):
            raise ValueError("media_prefix must end with '/'")
        self.media_bucket = media_bucket
        self.media_prefix = media_prefix
        self.meta_api_version = meta_api_version

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        if isinstance(message, WhatsAppText):
            return self._text(message)
        if isinstance(message, WhatsAppMedia):
            return self._media(message)
        if isinstance(message, WhatsAppTemplate):
            return self._template(message)
        raise ContentInvalid(f"the WhatsApp driver cannot send {type(message).__name__}", code="WrongChannel")

    def _send_call(self, phone_number_id: str, message: Mapping[str, Any]) -> ApiCall:
        return ApiCall(
            SERVICE,
            "SendWhatsAppMessage",
            {
                "originationPhoneNumberId": phone_number_id,
                "message": encode_message(message),
                "metaApiVersion": self.meta_api_version,
            },
        )

    def _text(self, msg: WhatsAppText) -> PreparedRequest:
        to, origin = e164(msg.to), _phone_number_id(msg.phone_number_id)
        body = non_empty(msg.body, "body", max_chars=TEXT_MAX_CHARS)
        payload = _envelope(to, "text", {"preview_url": bool(msg.preview_url), "body": body})
        return PreparedRequest("whatsapp", "text", (self._send_call(origin, payload),), {"to": to})

    def _template(self, msg: WhatsAppTemplate) -> PreparedRequest:
        to, origin = e164(msg.to), _phone_number_id(msg.phone_number_id)
        name = single_line(non_empty(msg.name, "template name"), "template name")
        language = single_line(non_empty(msg.language, "template language"), "template language")
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if msg.components:
            template["components"] = [dict(component) for component in msg.components]
        payload = _envelope(to, "template", template)
        info = {"to": to, "templateName": name, "templateLanguage": language}
        return PreparedRequest("whatsapp", "template", (self._send_call(origin, payload),), info)

    def _media(self, msg: WhatsAppMedia) -> PreparedRequest:
        to, origin = e164(msg.to), _phone_number_id(msg.phone_number_id)
        kind = msg.kind
        if (msg.content is None) == (msg.source is None):
            raise ContentInvalid("media needs exactly one of content or source", code="MediaSourceInvalid")
        body: dict[str, Any] = {"id": MEDIA_ID_PLACEHOLDER}
        if msg.caption is not None:
            if kind not in CAPTION_KINDS:
                raise ContentInvalid(f"WhatsApp does not show captions on {kind}", code="CaptionNotAllowed")
            body["caption"] = non_empty(msg.caption, "caption", max_chars=CAPTION_MAX_CHARS)
        if msg.filename is not None:
            if kind not in FILENAME_KINDS:
                raise ContentInvalid(
                    f"only documents carry a filename, not {kind}", code="FilenameNotAllowed"
                )
            body["filename"] = single_line(non_empty(msg.filename, "filename", max_chars=240), "filename")

        first: ApiCall
        if msg.content is not None:
            row = check_content(kind, msg.mime_type, msg.content, msg.animated)
            digest = hashlib.sha256(msg.content).hexdigest()
            bucket, key = self.media_bucket, f"{self.media_prefix}{digest}{row.extension}"
            first = ApiCall(
                "s3",
                "PutObject",
                {"Bucket": bucket, "Key": key, "Body": msg.content, "ContentType": row.mime_type},
            )
            info: dict[str, Any] = {"bytes": len(msg.content), "sha256": digest}
        else:
            assert msg.source is not None
            row = media_type(kind, msg.mime_type)
            bucket, key = msg.source.bucket, msg.source.key
            single_line(non_empty(bucket, "source bucket"), "source bucket")
            single_line(non_empty(key, "source key"), "source key")
            first = ApiCall("s3", "HeadObject", {"Bucket": bucket, "Key": key})
            info = {}
        info.update(
            {
                "to": to,
                "mediaKind": kind,
                "mimeType": row.mime_type,
                "s3Bucket": bucket,
                "s3Key": key,
                "maxBytes": max_bytes(kind, row, animated=msg.animated),
            }
        )
        post = ApiCall(
            SERVICE,
            "PostWhatsAppMessageMedia",
            {"originationPhoneNumberId": origin, "sourceS3File": {"bucketName": bucket, "key": key}},
        )
        send = self._send_call(origin, _envelope(to, kind, body))
        return PreparedRequest("whatsapp", "media", (first, post, send), info)


def with_media_id(message: bytes, media_id: str) -> bytes:
    """The SendWhatsAppMessage blob with the placeholder media id replaced by the real one."""
    payload = json.loads(message)
    kind = payload["type"]
    if payload[kind].get("id") != MEDIA_ID_PLACEHOLDER:
        raise ValueError("message has no media id placeholder")
    payload[kind]["id"] = media_id
    return encode_message(payload)


class WhatsAppDriver:
    """LIVE WhatsApp driver. Clients are injected (build them with ``retry.botocore_config()``)."""

    channel: Channel = "whatsapp"

    def __init__(
        self,
        builder: WhatsAppRequestBuilder,
        social_client: Any,
        s3_client: Any | None = None,
        *,
        retrier: Retrier | None = None,
    ) -> None:
        self.builder = builder
        self._social = social_client
        self._s3 = s3_client
        self._retry = retrier if retrier is not None else Retrier()

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        return self.builder.build_request(message)

    def send(self, prepared: PreparedRequest) -> SendResult:
        if prepared.channel != "whatsapp":
            raise ValueError(f"a {prepared.channel} request was handed to the WhatsApp driver")
        media_id: str | None = None
        extra: dict[str, Any] = {}
        for call in prepared.calls:
            if call.operation == "PutObject":
                invoke(self._retry, "PutObject", self._s3_client().put_object, call.params)
                extra.update({"s3Bucket": call.params["Bucket"], "s3Key": call.params["Key"]})
            elif call.operation == "HeadObject":
                head = invoke(self._retry, "HeadObject", self._s3_client().head_object, call.params)
                self._check_stored_size(prepared, int(head.get("ContentLength", 0)))
                extra.update({"s3Bucket": call.params["Bucket"], "s3Key": call.params["Key"]})
            elif call.operation == "PostWhatsAppMessageMedia":
                posted = invoke(
                    self._retry, call.operation, self._social.post_whatsapp_message_media, call.params
                )
                media_id = require(posted, "mediaId", call.operation)
                extra["mediaId"] = media_id
            elif call.operation == "SendWhatsAppMessage":
                params = dict(call.params)
                if media_id is not None:
                    params["message"] = with_media_id(params["message"], media_id)
                sent = invoke(self._retry, call.operation, self._social.send_whatsapp_message, params)
                return SendResult(require(sent, "messageId", call.operation), request_id(sent), extra)
            else:
                raise ValueError(f"the WhatsApp driver does not perform {call.service}:{call.operation}")
        raise ValueError("a WhatsApp request must end with SendWhatsAppMessage")

    def _s3_client(self) -> Any:
        if self._s3 is None:
            raise ValueError("media messages need an S3 client; none was given to the WhatsApp driver")
        return self._s3

    @staticmethod
    def _check_stored_size(prepared: PreparedRequest, size: int) -> None:
        info = prepared.info
        kind = info["mediaKind"]
        row = media_type(kind, info["mimeType"])
        limit = int(info["maxBytes"])
        # The stored object is checked against the limit chosen at build time (static sticker unless
        # the caller said otherwise).
        check_size(kind, row, size, animated=limit > row.max_bytes)
