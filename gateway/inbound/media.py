"""Inbound media: GetWhatsAppMessageMedia into the media bucket, and a ``MediaFiles`` record.

AWS End User Messaging Social fetches the file from Meta and writes it to S3 itself
(``destinationS3File``); its ``key`` is a *prefix* that the service combines with the media id. We give
every message its own folder (``<prefix><messageId>/``) so the location is deterministic: a replayed
event writes the same object and the same ``MediaFiles`` item (its id derives from the WhatsApp
message id and media id), never a second copy.

When an S3 client is injected the object is looked up under that folder to record its exact key,
size and content type; otherwise the key is prefix + media id and the metadata comes from the API.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gateway.clock import Clock
from gateway.inbound.errors import MediaError
from gateway.inbound.parse import MediaRef
from gateway.store.port import Tables

log = logging.getLogger("wecare.inbound.media")


def media_file_id(whatsapp_message_id: str, media_id: str) -> str:
    return "mf_" + hashlib.sha256(f"{whatsapp_message_id}\n{media_id}".encode()).hexdigest()[:32]


class MediaDownloader:
    """Downloads inbound WhatsApp media through an injected ``socialmessaging`` client."""

    def __init__(
        self, social: Any, tables: Tables, clock: Clock, *, bucket: str, prefix: str, s3: Any | None = None
    ) -> None:
        self._social = social
        self._tables = tables
        self._clock = clock
        self._bucket = bucket
        self._prefix = prefix
        self._s3 = s3

    def folder(self, message_id: str) -> str:
        return f"{self._prefix}{message_id}/"

    def download(
        self, *, message_id: str, whatsapp_message_id: str, media: MediaRef, phone_number_id: str
    ) -> dict[str, Any]:
        """Fetch the file into S3 and record it; returns the ``MediaFiles`` item. Raises MediaError."""
        folder = self.folder(message_id)
        try:
            response = self._social.get_whatsapp_message_media(
                mediaId=media.media_id,
                originationPhoneNumberId=phone_number_id,
                destinationS3File={"bucketName": self._bucket, "key": folder},
            )
        except (ClientError, BotoCoreError) as exc:
            raise MediaError(f"GetWhatsAppMessageMedia failed for media {media.media_id}: {exc}") from exc
        content_type = str(response.get("mimeType") or media.mime_type or "application/octet-stream")
        size = int(response.get("fileSize") or 0)
        key = folder + media.media_id
        if self._s3 is not None:
            key, size, content_type = self._locate(folder + media.media_id, size, content_type)
        record: dict[str, Any] = {
            "fileId": media_file_id(whatsapp_message_id, media.media_id),
            "messageId": message_id,
            "bucket": self._bucket,
            "s3Key": key,
            "contentType": content_type,
            "size": size,
            "uploadedAt": self._clock.now(),
            "whatsappMediaId": media.media_id,
            "direction": "inbound",
        }
        if media.sha256:
            record["sha256"] = media.sha256
        if media.filename:
            record["filename"] = media.filename
        self._tables["MediaFiles"].put(record)
        log.info("inbound media stored", extra={"messageId": message_id, "s3Key": key, "size": size})
        return record

    def _locate(self, key_prefix: str, size: int, content_type: str) -> tuple[str, int, str]:
        s3 = self._s3
        assert s3 is not None
        # The service may append an extension to prefix + media id; find the object it actually wrote.
        try:
            listing = s3.list_objects_v2(Bucket=self._bucket, Prefix=key_prefix, MaxKeys=10)
            objects = sorted(listing.get("Contents") or [], key=lambda o: len(o["Key"]))
            if not objects:
                raise MediaError(f"media file not found in s3://{self._bucket}/{key_prefix}* after download")
            key = str(objects[0]["Key"])
            head = s3.head_object(Bucket=self._bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            where = f"s3://{self._bucket}/{key_prefix}"
            raise MediaError(f"cannot read the downloaded media {where}: {exc}") from exc
        found_type = head.get("ContentType")
        if found_type and found_type not in ("binary/octet-stream", "application/octet-stream"):
            content_type = str(found_type)
        return key, int(head.get("ContentLength", size)), content_type
