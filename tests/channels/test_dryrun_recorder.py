from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import boto3
import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber
from moto import mock_aws

from channels.base import (
    ApiCall,
    Channel,
    Email,
    OutboundMessage,
    PreparedRequest,
    Sms,
    WhatsAppMedia,
    WhatsAppText,
)
from channels.dryrun import DryRunRecord, DryRunRecorder, ServiceModels
from channels.email import EmailDriver, EmailRequestBuilder
from channels.errors import ContentInvalid
from channels.retry import botocore_config, no_retry
from channels.sms import SmsDriver, SmsRequestBuilder
from channels.whatsapp import MEDIA_ID_PLACEHOLDER, WhatsAppDriver, WhatsAppRequestBuilder
from channels.wiring import build_drivers, default_builders

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
PHONE_ID = "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06"
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 2000

WHATSAPP_TEXT = WhatsAppText("+447898765432", PHONE_ID, "Your appointment is at 10:00 ✅")
WHATSAPP_TEXT_PARAMS = {
    "originationPhoneNumberId": PHONE_ID,
    "message": (
        '{"messaging_product":"whatsapp","recipient_type":"individual","to":"+447898765432",'
        '"type":"text","text":{"preview_url":false,"body":"Your appointment is at 10:00 ✅"}}'
    ).encode(),
    "metaApiVersion": "v20.0",
}
SMS = Sms("+447898765432", "Reminder: 10:00 tomorrow")
SMS_PARAMS = {
    "DestinationPhoneNumber": "+447898765432",
    "OriginationIdentity": "pool-6fbf5a5f390d4eeeaa7dbae39d78933e",
    "MessageBody": "Reminder: 10:00 tomorrow",
    "MessageType": "TRANSACTIONAL",
}
EMAIL = Email("asha@example.com", "Reminder", text="10:00 tomorrow")
EMAIL_PARAMS = {
    "FromEmailAddress": '"WECARE.DIGITAL" <one@wecare.digital>',
    "Destination": {"ToAddresses": ["asha@example.com"]},
    "Content": {
        "Simple": {
            "Subject": {"Data": "Reminder", "Charset": "UTF-8"},
            "Body": {"Text": {"Data": "10:00 tomorrow", "Charset": "UTF-8"}},
        }
    },
}


@pytest.fixture(scope="module")
def models() -> ServiceModels:
    return ServiceModels()


def recorder_for(builder: Any, models: ServiceModels) -> tuple[DryRunRecorder, list[DryRunRecord]]:
    records: list[DryRunRecord] = []
    return DryRunRecorder(builder, records.append, models=models), records


class LiveCase(NamedTuple):
    service: str
    method: str
    response: dict[str, Any]
    driver: type[WhatsAppDriver] | type[SmsDriver] | type[EmailDriver]
    builder: type[WhatsAppRequestBuilder] | type[SmsRequestBuilder] | type[EmailRequestBuilder]
    message: OutboundMessage
    params: dict[str, Any]


LIVE_CASES = {
    "whatsapp": LiveCase(
        "socialmessaging",
        "send_whatsapp_message",
        {"messageId": "m"},
        WhatsAppDriver,
        WhatsAppRequestBuilder,
        WHATSAPP_TEXT,
        WHATSAPP_TEXT_PARAMS,
    ),
    "sms": LiveCase(
        "pinpoint-sms-voice-v2",
        "send_text_message",
        {"MessageId": "m"},
        SmsDriver,
        SmsRequestBuilder,
        SMS,
        SMS_PARAMS,
    ),
    "email": LiveCase(
        "sesv2", "send_email", {"MessageId": "m"}, EmailDriver, EmailRequestBuilder, EMAIL, EMAIL_PARAMS
    ),
}


@pytest.mark.parametrize("channel", sorted(LIVE_CASES))
def test_recorded_request_is_exactly_what_live_sends(models: ServiceModels, channel: str) -> None:
    service, method, response, driver_cls, builder_cls, message, params = LIVE_CASES[channel]
    client = boto3.client(service, **CREDS)
    with Stubber(client) as stubber:
        stubber.add_response(method, response, params)
        live = driver_cls(builder_cls(), client, retrier=no_retry())  # type: ignore[arg-type]
        live.send(live.build_request(message))
        stubber.assert_no_pending_responses()

    recorder, records = recorder_for(builder_cls(), models)
    result = recorder.send(recorder.build_request(message))

    [record] = records
    assert [call.params for call in record.calls] == [params]
    assert record.calls[0].service == service
    assert record.id == result.provider_message_id
    assert re.fullmatch(r"dryrun-[0-9a-f-]{36}", result.provider_message_id)
    assert result.extra["dryRun"] is True


def test_sms_dry_run_result_carries_encoding_and_segments(models: ServiceModels) -> None:
    recorder, records = recorder_for(SmsRequestBuilder(), models)
    result = recorder.send(recorder.build_request(Sms("+447898765432", "ж" * 71)))
    assert (result.extra["encoding"], result.extra["segments"]) == ("UCS-2", 2)
    assert records[0].info["segments"] == 2
    # The record says plainly that nothing was sent, and carries no provider flag reading "dryRun: false".
    rendered = records[0].to_json()
    assert rendered["sent"] is False and "not sent" in rendered["note"]
    assert "dryRun" not in rendered["info"] and "providerDryRun" not in rendered["info"]


class BrokenBuilder:
    """Stands in for a driver bug: emits a request the API model refuses."""

    channel: Channel = "whatsapp"

    def __init__(self, params: dict[str, Any], operation: str = "SendWhatsAppMessage") -> None:
        self.params = params
        self.operation = operation

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        return PreparedRequest("whatsapp", "text", (ApiCall("socialmessaging", self.operation, self.params),))


@pytest.mark.parametrize(
    ("params", "operation"),
    [
        (
            {"originationPhoneNumberId": PHONE_ID, "message": b"{}"},
            "SendWhatsAppMessage",
        ),  # metaApiVersion missing
        (
            {"originationPhoneNumberId": PHONE_ID, "message": 42, "metaApiVersion": "v20.0"},
            "SendWhatsAppMessage",
        ),
        ({**WHATSAPP_TEXT_PARAMS, "unexpected": 1}, "SendWhatsAppMessage"),
        (
            {"originationPhoneNumberId": "", "message": b"{}", "metaApiVersion": "v20.0"},
            "SendWhatsAppMessage",
        ),
        (WHATSAPP_TEXT_PARAMS, "SendWhatsAppMessages"),  # no such operation
    ],
)
def test_malformed_requests_are_rejected_and_not_recorded(
    models: ServiceModels, params: dict[str, Any], operation: str
) -> None:
    recorder, records = recorder_for(BrokenBuilder(params, operation), models)
    with pytest.raises(ContentInvalid) as caught:
        recorder.build_request(WHATSAPP_TEXT)
    assert caught.value.code == "RequestInvalid"
    assert records == []


def test_malformed_request_handed_straight_to_send_is_rejected(models: ServiceModels) -> None:
    recorder, records = recorder_for(SmsRequestBuilder(), models)
    bad = PreparedRequest(
        "sms", "sms", (ApiCall("pinpoint-sms-voice-v2", "SendTextMessage", {"MessageBody": "x"}),)
    )
    with pytest.raises(ContentInvalid, match="DestinationPhoneNumber"):
        recorder.send(bad)
    assert records == []


@pytest.fixture
def media_bucket() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", config=botocore_config(), **CREDS)
        s3.create_bucket(Bucket="auth.wecare.digital")
        yield s3


def test_media_is_validated_and_its_key_recorded_but_never_uploaded(
    models: ServiceModels, media_bucket: Any
) -> None:
    recorder, records = recorder_for(WhatsAppRequestBuilder(), models)
    message = WhatsAppMedia("+447898765432", PHONE_ID, "image", "image/jpeg", content=JPEG, caption="Menu")
    recorder.send(recorder.build_request(message))

    [record] = records
    key = f"whatsapp-media/whatsapp-media-outgoing/{hashlib.sha256(JPEG).hexdigest()}.jpg"
    assert [c.operation for c in record.calls] == [
        "PutObject",
        "PostWhatsAppMessageMedia",
        "SendWhatsAppMessage",
    ]
    assert record.calls[0].params["Key"] == key
    assert record.calls[1].params["sourceS3File"] == {"bucketName": "auth.wecare.digital", "key": key}
    assert media_bucket.list_objects_v2(Bucket="auth.wecare.digital").get("KeyCount") == 0

    rendered = record.to_json()
    assert rendered["calls"][0]["params"]["Body"] == {
        "$bytes": len(JPEG),
        "sha256": hashlib.sha256(JPEG).hexdigest(),
    }
    assert rendered["calls"][2]["params"]["message"]["image"] == {
        "id": MEDIA_ID_PLACEHOLDER,
        "caption": "Menu",
    }


def test_oversized_media_is_refused_in_dry_run_too(models: ServiceModels) -> None:
    recorder, records = recorder_for(WhatsAppRequestBuilder(), models)
    huge = b"\xff\xd8\xff" + b"\x00" * 5_000_000
    with pytest.raises(ContentInvalid, match="limit"):
        recorder.build_request(WhatsAppMedia("+447898765432", PHONE_ID, "image", "image/jpeg", content=huge))
    assert records == []


def test_recorder_refuses_drivers_and_anything_holding_a_client(models: ServiceModels) -> None:
    social = boto3.client("socialmessaging", **CREDS)
    with pytest.raises(TypeError, match="never a driver"):
        DryRunRecorder(WhatsAppDriver(WhatsAppRequestBuilder(), social), lambda r: None)

    class Sneaky:
        channel: Channel = "whatsapp"

        def __init__(self) -> None:
            self.client = social

        def build_request(self, message: OutboundMessage) -> PreparedRequest:
            raise AssertionError("unreachable")

    with pytest.raises(TypeError):
        DryRunRecorder(Sneaky(), lambda r: None)


def _reachable(obj: object, seen: set[int] | None = None, depth: int = 0) -> Iterator[object]:
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    yield obj
    children: list[object] = []
    if isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, list | tuple | set | frozenset):
        children = list(obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        children = list(vars(obj).values())
    for child in children:
        yield from _reachable(child, seen, depth + 1)


def test_dry_run_drivers_hold_no_aws_client_at_all() -> None:
    def no_clients(service: str) -> Any:
        raise AssertionError(f"DRY_RUN must not create a {service} client")

    drivers = build_drivers(
        "DRY_RUN", builders=default_builders(), client_factory=no_clients, sink=lambda r: None
    )
    assert set(drivers) == {"whatsapp", "sms", "email"}
    for driver in drivers.values():
        assert isinstance(driver, DryRunRecorder)
        assert not any(isinstance(o, BaseClient) for o in _reachable(driver))


def test_live_wiring_builds_one_client_per_service() -> None:
    made: list[str] = []

    def factory(service: str) -> Any:
        made.append(service)
        return boto3.client(service, config=botocore_config(), **CREDS)

    drivers = build_drivers("LIVE", builders=default_builders(sms_dry_run=True), client_factory=factory)
    assert sorted(made) == ["pinpoint-sms-voice-v2", "s3", "sesv2", "socialmessaging"]
    assert isinstance(drivers["sms"], SmsDriver) and drivers["sms"].dry_run is True
    with pytest.raises(ValueError, match="sink"):
        build_drivers("DRY_RUN", builders=default_builders())


def test_synthetic_ids_are_unique(models: ServiceModels) -> None:
    recorder, _ = recorder_for(SmsRequestBuilder(), models)
    ids = {recorder.send(recorder.build_request(SMS)).provider_message_id for _ in range(20)}
    assert len(ids) == 20
