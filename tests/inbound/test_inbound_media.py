from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from gateway.clock import FakeClock
from gateway.dlq import DlqService
from gateway.inbound.media import MediaDownloader, media_file_id
from gateway.inbound.service import INBOUND_DLQ, InboundService, inbound_message_id
from gateway.store.conditions import eq
from gateway.store.memory import MemoryTables

from .events import P1, load
from .fakes import FakeContacts

BUCKET = "auth.wecare.digital"
PREFIX = "whatsapp-media/whatsapp-media-incoming/"
IMAGE_WAMID = "wamid.HBgMNDQ3ODEyMzQ1Njc4FQIAEhgU13E4E3786712D6D48CE4AA=="
IMAGE_MEDIA_ID = "1081239475620183"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        social = boto3.client("socialmessaging", region_name="us-east-1")
        with Stubber(social) as stub:
            yield {"s3": s3, "social": social, "stub": stub}


def _aws_writes_the_file(social: Any, s3: Any, suffix: str, body: bytes, content_type: str) -> None:
    """What the real service does during the call: put the file at key-prefix + media id (+ extension)."""

    def write(params: dict[str, Any], **_: Any) -> None:
        destination = params["destinationS3File"]
        s3.put_object(
            Bucket=destination["bucketName"],
            Key=destination["key"] + params["mediaId"] + suffix,
            Body=body,
            ContentType=content_type,
        )

    social.meta.events.register("provide-client-params.socialmessaging.GetWhatsAppMessageMedia", write)


def build(
    aws: dict[str, Any], tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> InboundService:
    media = MediaDownloader(aws["social"], tables, clock, bucket=BUCKET, prefix=PREFIX, s3=aws["s3"])
    service = InboundService(tables, clock, contacts, dlq, media=media)
    dlq.register(INBOUND_DLQ, service.replay)
    return service


def expected_params(message_id: str, media_id: str = IMAGE_MEDIA_ID, phone: str = P1) -> dict[str, Any]:
    return {
        "mediaId": media_id,
        "originationPhoneNumberId": phone,
        "destinationS3File": {"bucketName": BUCKET, "key": f"{PREFIX}{message_id}/"},
    }


def test_image_is_downloaded_to_the_media_bucket_and_recorded(
    aws: dict[str, Any], tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    service = build(aws, tables, clock, contacts, dlq)
    message_id = inbound_message_id(IMAGE_WAMID)
    _aws_writes_the_file(aws["social"], aws["s3"], ".jpeg", b"\xff\xd8jpeg-bytes", "image/jpeg")
    aws["stub"].add_response(
        "get_whatsapp_message_media", {"mimeType": "image/jpeg", "fileSize": 12}, expected_params(message_id)
    )

    result = service.ingest_document(load("eum-inbound-image.sns-lambda.json"))

    assert result.messages == 1 and result.deadLettered == 0, result.errors
    aws["stub"].assert_no_pending_responses()
    key = f"{PREFIX}{message_id}/{IMAGE_MEDIA_ID}.jpeg"
    assert aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"\xff\xd8jpeg-bytes"
    [record] = tables["MediaFiles"].query(message_id, index="byMessage").items
    assert record == {
        "fileId": media_file_id(IMAGE_WAMID, IMAGE_MEDIA_ID),
        "messageId": message_id,
        "bucket": BUCKET,
        "s3Key": key,
        "contentType": "image/jpeg",
        "size": 12,
        "uploadedAt": clock.now(),
        "whatsappMediaId": IMAGE_MEDIA_ID,
        "direction": "inbound",
        "sha256": "b1a6Jq3fWm0m0ybq2yVvQkqgk3gqG7QyK6x9H0sJw5c=",
    }
    stored = tables["Messages"].get({"messageId": message_id})
    assert stored is not None
    assert stored["mediaId"] == IMAGE_MEDIA_ID and stored["mediaS3Key"] == key
    assert stored["media"] == {
        "fileId": record["fileId"],
        "bucket": BUCKET,
        "s3Key": key,
        "contentType": "image/jpeg",
        "size": 12,
    }
    assert stored["content"]["caption"] == "Damaged box"


def test_document_keeps_its_filename_and_uses_the_number_it_reached(
    aws: dict[str, Any], tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    service = build(aws, tables, clock, contacts, dlq)
    wamid = "wamid.HBgMNDQ3ODEyMzQ1Njc4FQIAEhgU92DC0B9D32459F0CDFDAAA=="
    message_id = inbound_message_id(wamid)
    _aws_writes_the_file(aws["social"], aws["s3"], "", b"%PDF-1.7", "application/pdf")
    aws["stub"].add_response(
        "get_whatsapp_message_media",
        {"mimeType": "application/pdf", "fileSize": 8},
        expected_params(message_id, "1569034417782290"),
    )
    assert service.ingest_document(load("eum-inbound-document.sns-lambda.json")).messages == 1
    [record] = tables["MediaFiles"].scan().items
    assert record["filename"] == "invoice-2025-0918.pdf" and record["size"] == 8
    assert record["s3Key"] == f"{PREFIX}{message_id}/1569034417782290"


def test_media_failure_goes_to_the_dlq_and_replay_stores_it_once(
    aws: dict[str, Any], tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    service = build(aws, tables, clock, contacts, dlq)
    message_id = inbound_message_id(IMAGE_WAMID)
    aws["stub"].add_client_error(
        "get_whatsapp_message_media",
        "ThrottledRequestException",
        "slow down",
        http_status_code=429,
        expected_params=expected_params(message_id),
    )
    result = service.ingest_document(load("eum-inbound-image.sns-lambda.json"))
    assert result.deadLettered == 1 and "ThrottledRequestException" in result.errors[0]
    assert tables["Messages"].scan(filter=eq("direction", "inbound")).items == []

    _aws_writes_the_file(aws["social"], aws["s3"], ".jpeg", b"jpeg", "image/jpeg")
    aws["stub"].add_response(
        "get_whatsapp_message_media", {"mimeType": "image/jpeg", "fileSize": 4}, expected_params(message_id)
    )
    report = dlq.replay("inbound-dlq", 10)
    assert report.replayed == 1
    assert len(tables["Messages"].scan(filter=eq("direction", "inbound")).items) == 1
    assert len(tables["MediaFiles"].scan().items) == 1
    aws["stub"].assert_no_pending_responses()


def test_media_missing_from_s3_after_the_call_is_a_failure(
    aws: dict[str, Any], tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    service = build(aws, tables, clock, contacts, dlq)
    aws["stub"].add_response(
        "get_whatsapp_message_media",
        {"mimeType": "image/jpeg", "fileSize": 4},
        expected_params(inbound_message_id(IMAGE_WAMID)),
    )
    result = service.ingest_document(load("eum-inbound-image.sns-lambda.json"))
    assert result.deadLettered == 1 and "not found" in result.errors[0]
    assert tables["MediaFiles"].scan().items == []


def test_media_from_meta_webhook_without_a_known_eum_number_is_kept_not_failed(
    aws: dict[str, Any], tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    service = build(aws, tables, clock, contacts, dlq)
    envelope = json.loads(load("eum-inbound-image.sns-lambda.json")["Records"][0]["Sns"]["Message"])
    entry = json.loads(envelope["whatsAppWebhookEntry"])
    result = service.ingest_document({"object": "whatsapp_business_account", "entry": [entry]})
    assert result.messages == 1
    [stored] = tables["Messages"].scan(filter=eq("direction", "inbound")).items
    assert stored["mediaStatus"] == "unknown_phone_number_id" and stored["mediaId"] == IMAGE_MEDIA_ID
    aws["stub"].assert_no_pending_responses()  # no call was made
