from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from channels.base import S3Location, Sms, WhatsAppMedia, WhatsAppTemplate, WhatsAppText
from channels.errors import ChannelRejected, ChannelThrottled, ContentInvalid
from channels.retry import Retrier, botocore_config
from channels.sms import SmsRequestBuilder
from channels.whatsapp import MEDIA_ID_PLACEHOLDER, WhatsAppDriver, WhatsAppRequestBuilder

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
PHONE_ID = "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54"
BUCKET = "auth.wecare.digital"
PREFIX = "whatsapp-media/whatsapp-media-outgoing/"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1020
PDF = b"%PDF-1.7\n" + b"x" * 500


def webp(size: int, *, animated: bool) -> bytes:
    header = b"RIFF" + (size - 8).to_bytes(4, "little") + b"WEBP" + b"VP8X" + (10).to_bytes(4, "little")
    flags = bytes([0x02 if animated else 0x00])
    return (header + flags).ljust(size, b"\x00")


class Env:
    def __init__(self, social: Any, stubber: Stubber, s3: Any, sleeps: list[float]) -> None:
        self.social, self.stubber, self.s3, self.sleeps = social, stubber, s3, sleeps
        retrier = Retrier(sleep=sleeps.append, rand=lambda: 0.5)
        self.driver = WhatsAppDriver(WhatsAppRequestBuilder(), social, s3, retrier=retrier)

    def keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.fixture
def env() -> Iterator[Env]:
    with mock_aws():
        s3 = boto3.client("s3", config=botocore_config(), **CREDS)
        s3.create_bucket(Bucket=BUCKET)
        social = boto3.client("socialmessaging", config=botocore_config(), **CREDS)
        with Stubber(social) as stubber:
            yield Env(social, stubber, s3, [])
            stubber.assert_no_pending_responses()


def blob(payload: str) -> bytes:
    return payload.encode("utf-8")


def test_text_sends_the_exact_meta_message(env: Env) -> None:
    expected = {
        "originationPhoneNumberId": PHONE_ID,
        "message": blob(
            '{"messaging_product":"whatsapp","recipient_type":"individual","to":"+447812345678",'
            '"type":"text","text":{"preview_url":false,"body":"Hello 👋 ünïcode"}}'
        ),
        "metaApiVersion": "v20.0",
    }
    env.stubber.add_response(
        "send_whatsapp_message",
        {"messageId": "aws-msg-1", "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 200}},
        expected,
    )
    driver = env.driver
    result = driver.send(driver.build_request(WhatsAppText("+447812345678", PHONE_ID, "Hello 👋 ünïcode")))
    assert result.provider_message_id == "aws-msg-1"
    assert result.request_id == "req-1"


def test_wa_id_without_plus_is_sent_with_plus_and_preview_flag_passes_through(env: Env) -> None:
    prepared = env.driver.build_request(WhatsAppText("447812345678", PHONE_ID, "https://x.example", True))
    message = json.loads(prepared.calls[0].params["message"])
    assert message["to"] == "+447812345678"
    assert message["text"] == {"preview_url": True, "body": "https://x.example"}


def test_template_carries_name_language_and_components(env: Env) -> None:
    components = (
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "Y"}],
        },
    )
    expected_message = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+4915112345678",
        "type": "template",
        "template": {"name": "order_update", "language": {"code": "en_US"}, "components": list(components)},
    }
    env.stubber.add_response(
        "send_whatsapp_message",
        {"messageId": "aws-msg-2"},
        {
            "originationPhoneNumberId": PHONE_ID,
            "message": json.dumps(expected_message, ensure_ascii=False, separators=(",", ":")).encode(),
            "metaApiVersion": "v20.0",
        },
    )
    prepared = env.driver.build_request(
        WhatsAppTemplate("+4915112345678", PHONE_ID, "order_update", "en_US", components)
    )
    assert prepared.kind == "template"
    assert prepared.info["templateName"] == "order_update"
    assert env.driver.send(prepared).provider_message_id == "aws-msg-2"


def test_template_without_components_omits_the_key(env: Env) -> None:
    prepared = env.driver.build_request(WhatsAppTemplate("+447812345678", PHONE_ID, "hello_world", "en_US"))
    template = json.loads(prepared.calls[0].params["message"])["template"]
    assert template == {"name": "hello_world", "language": {"code": "en_US"}}


def test_image_is_uploaded_posted_then_sent_with_its_media_id(env: Env) -> None:
    key = f"{PREFIX}{hashlib.sha256(JPEG).hexdigest()}.jpg"
    env.stubber.add_response(
        "post_whatsapp_message_media",
        {"mediaId": "3604379269845931"},
        {"originationPhoneNumberId": PHONE_ID, "sourceS3File": {"bucketName": BUCKET, "key": key}},
    )
    env.stubber.add_response(
        "send_whatsapp_message",
        {"messageId": "aws-msg-3"},
        {
            "originationPhoneNumberId": PHONE_ID,
            "message": blob(
                '{"messaging_product":"whatsapp","recipient_type":"individual","to":"+447812345678",'
                '"type":"image","image":{"id":"3604379269845931","caption":"Your receipt"}}'
            ),
            "metaApiVersion": "v20.0",
        },
    )
    message = WhatsAppMedia(
        "+447812345678", PHONE_ID, "image", "image/jpeg", content=JPEG, caption="Your receipt"
    )
    prepared = env.driver.build_request(message)
    assert [c.operation for c in prepared.calls] == [
        "PutObject",
        "PostWhatsAppMessageMedia",
        "SendWhatsAppMessage",
    ]
    assert env.keys() == []  # building is pure: nothing uploaded yet

    result = env.driver.send(prepared)

    assert result.provider_message_id == "aws-msg-3"
    assert result.extra == {"s3Bucket": BUCKET, "s3Key": key, "mediaId": "3604379269845931"}
    stored = env.s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == JPEG
    assert stored["ContentType"] == "image/jpeg"


def test_document_carries_filename_and_caption(env: Env) -> None:
    prepared = env.driver.build_request(
        WhatsAppMedia(
            "+447812345678",
            PHONE_ID,
            "document",
            "application/pdf",
            content=PDF,
            caption="Invoice",
            filename="inv.pdf",
        )
    )
    message = json.loads(prepared.call("SendWhatsAppMessage").params["message"])
    assert message["document"] == {"id": MEDIA_ID_PLACEHOLDER, "caption": "Invoice", "filename": "inv.pdf"}
    assert prepared.call("PutObject").params["Key"].endswith(".pdf")


def test_media_from_an_existing_s3_object_is_checked_then_posted(env: Env) -> None:
    key = f"{PREFIX}uploaded/voice.ogg"
    env.s3.put_object(Bucket=BUCKET, Key=key, Body=b"OggS" + b"\x00" * 2000, ContentType="audio/ogg")
    env.stubber.add_response(
        "post_whatsapp_message_media",
        {"mediaId": "m-ogg"},
        {"originationPhoneNumberId": PHONE_ID, "sourceS3File": {"bucketName": BUCKET, "key": key}},
    )
    env.stubber.add_response(
        "send_whatsapp_message",
        {"messageId": "aws-msg-4"},
        {
            "originationPhoneNumberId": PHONE_ID,
            "message": blob(
                '{"messaging_product":"whatsapp","recipient_type":"individual","to":"+447812345678",'
                '"type":"audio","audio":{"id":"m-ogg"}}'
            ),
            "metaApiVersion": "v20.0",
        },
    )
    message = WhatsAppMedia("+447812345678", PHONE_ID, "audio", "audio/ogg", source=S3Location(BUCKET, key))
    prepared = env.driver.build_request(message)
    assert [c.operation for c in prepared.calls] == [
        "HeadObject",
        "PostWhatsAppMessageMedia",
        "SendWhatsAppMessage",
    ]
    assert env.driver.send(prepared).provider_message_id == "aws-msg-4"


def test_oversized_stored_object_is_refused_before_it_reaches_whatsapp(env: Env) -> None:
    key = f"{PREFIX}big-sticker.webp"
    env.s3.put_object(Bucket=BUCKET, Key=key, Body=webp(150_000, animated=False))
    message = WhatsAppMedia(
        "+447812345678", PHONE_ID, "sticker", "image/webp", source=S3Location(BUCKET, key)
    )
    with pytest.raises(ContentInvalid) as caught:
        env.driver.send(env.driver.build_request(message))
    assert caught.value.code == "MediaTooLarge"  # and the stubber saw no socialmessaging call


def test_oversized_image_is_refused_before_upload(env: Env) -> None:
    too_big = JPEG[:4] + b"\x00" * (5_000_001 - 4)
    with pytest.raises(ContentInvalid) as caught:
        env.driver.build_request(
            WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=too_big)
        )
    assert caught.value.code == "MediaTooLarge"
    assert env.keys() == []
    limit_sized = JPEG[:4] + b"\x00" * (5_000_000 - 4)
    env.driver.build_request(
        WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=limit_sized)
    )


def test_sticker_limits_depend_on_animation() -> None:
    builder = WhatsAppRequestBuilder()

    def sticker(content: bytes) -> WhatsAppMedia:
        return WhatsAppMedia("+447812345678", PHONE_ID, "sticker", "image/webp", content=content)

    builder.build_request(sticker(webp(100_000, animated=False)))
    builder.build_request(sticker(webp(400_000, animated=True)))
    with pytest.raises(ContentInvalid, match="100,000"):
        builder.build_request(sticker(webp(100_001, animated=False)))
    with pytest.raises(ContentInvalid, match="500,000"):
        builder.build_request(sticker(webp(500_001, animated=True)))


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/gif", content=JPEG),
            "MediaTypeNotSupported",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/png", content=JPEG),
            "MediaContentMismatch",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "video", "video/avi", content=b"x" * 10),
            "MediaTypeNotSupported",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "audio", "audio/ogg", content=b"x", caption="hi"),
            "CaptionNotAllowed",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "sticker", "image/webp", content=b"x", caption="hi"),
            "CaptionNotAllowed",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=JPEG, filename="a.jpg"),
            "FilenameNotAllowed",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=JPEG, caption="x" * 1025),
            "ContentTooLong",
        ),
        (WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=b""), "MediaEmpty"),
        (WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg"), "MediaSourceInvalid"),
        (
            WhatsAppMedia(
                "+447812345678", PHONE_ID, "image", "image/jpeg", content=JPEG, source=S3Location("b", "k")
            ),
            "MediaSourceInvalid",
        ),
        (
            WhatsAppMedia("+447812345678", PHONE_ID, "sticker", "image/webp", content=JPEG),
            "MediaContentMismatch",
        ),
        (WhatsAppText("+447812345678", PHONE_ID, ""), "ContentEmpty"),
        (WhatsAppText("+447812345678", PHONE_ID, "   "), "ContentEmpty"),
        (WhatsAppText("+447812345678", PHONE_ID, "x" * 4097), "ContentTooLong"),
        (WhatsAppText("+44 7812 345678", PHONE_ID, "hi"), "RecipientInvalid"),
        (WhatsAppText("07812345678", PHONE_ID, "hi"), "RecipientInvalid"),
        (WhatsAppText("+447812345678", "110200300400501", "hi"), "PhoneNumberIdInvalid"),
        (WhatsAppTemplate("+447812345678", PHONE_ID, "", "en_US"), "ContentEmpty"),
        (WhatsAppTemplate("+447812345678", PHONE_ID, "hello\nworld", "en_US"), "HeaderInjection"),
        (Sms("+447812345678", "hi"), "WrongChannel"),
    ],
)
def test_preflight_checks(message: Any, code: str) -> None:
    with pytest.raises(ContentInvalid) as caught:
        WhatsAppRequestBuilder().build_request(message)
    assert caught.value.code == code
    assert caught.value.retryable is False


def test_text_at_the_limit_passes() -> None:
    prepared = WhatsAppRequestBuilder().build_request(WhatsAppText("+447812345678", PHONE_ID, "é" * 4096))
    assert json.loads(prepared.calls[0].params["message"])["text"]["body"] == "é" * 4096


def test_validation_error_is_rejected_without_retry(env: Env) -> None:
    env.stubber.add_client_error(
        "send_whatsapp_message",
        service_error_code="ValidationException",
        service_message="Invalid recipient",
        http_status_code=400,
        response_meta={"RequestId": "req-bad"},
    )
    with pytest.raises(ChannelRejected) as caught:
        env.driver.send(env.driver.build_request(WhatsAppText("+447812345678", PHONE_ID, "hi")))
    assert caught.value.request_id == "req-bad"
    assert caught.value.operation == "SendWhatsAppMessage"
    assert env.sleeps == []


def test_throttling_is_retried_three_times_then_raised(env: Env) -> None:
    for _ in range(4):
        env.stubber.add_client_error(
            "send_whatsapp_message", service_error_code="ThrottledRequestException", http_status_code=429
        )
    with pytest.raises(ChannelThrottled) as caught:
        env.driver.send(env.driver.build_request(WhatsAppText("+447812345678", PHONE_ID, "hi")))
    assert caught.value.attempts == 4
    assert env.sleeps == [0.125, 0.25, 0.5]


def test_a_throttled_send_does_not_repeat_the_media_upload(env: Env) -> None:
    env.stubber.add_response("post_whatsapp_message_media", {"mediaId": "m1"})
    env.stubber.add_client_error(
        "send_whatsapp_message", service_error_code="ThrottledRequestException", http_status_code=429
    )
    env.stubber.add_response("send_whatsapp_message", {"messageId": "aws-msg-5"})
    message = WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=JPEG)
    result = env.driver.send(env.driver.build_request(message))
    assert result.provider_message_id == "aws-msg-5"
    assert len(env.sleeps) == 1  # one retry, of the send only; the stubber enforces the call order


def test_media_needs_an_s3_client() -> None:
    social = boto3.client("socialmessaging", **CREDS)
    driver = WhatsAppDriver(WhatsAppRequestBuilder(), social)
    prepared = driver.build_request(
        WhatsAppMedia("+447812345678", PHONE_ID, "image", "image/jpeg", content=JPEG)
    )
    with pytest.raises(ValueError, match="S3 client"):
        driver.send(prepared)


def test_a_request_for_another_channel_is_refused(env: Env) -> None:
    sms = SmsRequestBuilder().build_request(Sms("+447812345678", "hi"))
    with pytest.raises(ValueError, match="sms"):
        env.driver.send(sms)
