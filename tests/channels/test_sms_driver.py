from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from channels.base import ApiCall, Email, PreparedRequest, Sms
from channels.errors import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ContentInvalid,
)
from channels.retry import Retrier, botocore_config
from channels.sms import SmsDriver, SmsRequestBuilder

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
POOL = "pool-6fbf5a5f390d4eeeaa7dbae39d78933e"


@pytest.fixture
def stub() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("pinpoint-sms-voice-v2", config=botocore_config(), **CREDS)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def driver_for(client: Any, sleeps: list[float] | None = None, **builder: Any) -> SmsDriver:
    record = sleeps if sleeps is not None else []
    return SmsDriver(
        SmsRequestBuilder(**builder), client, retrier=Retrier(sleep=record.append, rand=lambda: 1.0)
    )


def test_send_text_message_exact_request(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    stubber.add_response(
        "send_text_message",
        {"MessageId": "sms-1", "ResponseMetadata": {"RequestId": "req-9", "HTTPStatusCode": 200}},
        {
            "DestinationPhoneNumber": "+447812345678",
            "OriginationIdentity": POOL,
            "MessageBody": "Your code is 123456",
            "MessageType": "TRANSACTIONAL",
        },
    )
    driver = driver_for(client)
    result = driver.send(driver.build_request(Sms("447812345678", "Your code is 123456")))
    assert result.provider_message_id == "sms-1"
    assert result.request_id == "req-9"
    assert result.extra == {
        "encoding": "GSM-7",
        "segments": 1,
        "units": 19,
        "characters": 19,
        "dryRun": False,
    }


def test_unicode_long_body_reports_ucs2_segments(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    body = "नमस्ते " * 20  # 140 UTF-16 units of Devanagari
    stubber.add_response("send_text_message", {"MessageId": "sms-2"})
    driver = driver_for(client)
    prepared = driver.build_request(Sms("+919876543210", body))
    assert prepared.info["encoding"] == "UCS-2"
    assert prepared.info["segments"] == 3
    result = driver.send(prepared)
    assert (result.extra["encoding"], result.extra["segments"]) == ("UCS-2", 3)


def test_configuration_set_context_and_pool_override(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    stubber.add_response(
        "send_text_message",
        {"MessageId": "sms-3"},
        {
            "DestinationPhoneNumber": "+447812345678",
            "OriginationIdentity": "pool-other",
            "MessageBody": "hi",
            "MessageType": "TRANSACTIONAL",
            "ConfigurationSetName": "wecare-events",
            "Context": {"messageId": "m-42"},
        },
    )
    driver = driver_for(client, configuration_set="wecare-events")
    driver.send(
        driver.build_request(Sms("+447812345678", "hi", pool_id="pool-other", context={"messageId": "m-42"}))
    )


def test_dry_run_passes_dryrun_true(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    stubber.add_response(
        "send_text_message",
        {"MessageId": "sms-dry"},
        {
            "DestinationPhoneNumber": "+447812345678",
            "OriginationIdentity": POOL,
            "MessageBody": "preview only",
            "MessageType": "TRANSACTIONAL",
            "DryRun": True,
        },
    )
    driver = driver_for(client, dry_run=True)
    result = driver.send(driver.build_request(Sms("+447812345678", "preview only")))
    assert result.extra["dryRun"] is True


def test_dry_run_driver_refuses_a_request_without_dryrun(stub: tuple[Any, Stubber]) -> None:
    client, _ = stub
    live_request = SmsRequestBuilder().build_request(Sms("+447812345678", "real"))
    with pytest.raises(ContentInvalid) as caught:
        driver_for(client, dry_run=True).send(live_request)
    assert caught.value.code == "DryRunRequired"  # and no call reached the (stubbed) client


def test_dry_run_cannot_be_switched_off_after_construction() -> None:
    builder = SmsRequestBuilder(dry_run=True)
    with pytest.raises(AttributeError):
        builder.dry_run = False  # type: ignore[misc]
    assert builder.build_request(Sms("+447812345678", "x")).calls[0].params["DryRun"] is True


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (Sms("+447812345678", ""), "ContentEmpty"),
        (Sms("+447812345678", " \n "), "ContentEmpty"),
        (Sms("+447812345678", "x" * 1601), "ContentTooLong"),
        (Sms("+44 7812", "hi"), "RecipientInvalid"),
        (Sms("+447812345678", "hi", context={str(i): "v" for i in range(6)}), "ContextInvalid"),
        (Email("a@b.example", "s", "t"), "WrongChannel"),
    ],
)
def test_preflight_checks(message: Any, code: str) -> None:
    with pytest.raises(ContentInvalid) as caught:
        SmsRequestBuilder().build_request(message)
    assert caught.value.code == code


def test_1600_characters_is_accepted_as_eleven_segments() -> None:
    prepared = SmsRequestBuilder().build_request(Sms("+447812345678", "a" * 1600))
    assert prepared.info["segments"] == 11


def test_throttling_retried_then_succeeds(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    stubber.add_client_error(
        "send_text_message", service_error_code="ThrottlingException", http_status_code=400
    )
    stubber.add_client_error(
        "send_text_message", service_error_code="ThrottlingException", http_status_code=400
    )
    stubber.add_response("send_text_message", {"MessageId": "sms-4"})
    sleeps: list[float] = []
    driver = driver_for(client, sleeps)
    assert driver.send(driver.build_request(Sms("+447812345678", "hi"))).provider_message_id == "sms-4"
    assert sleeps == [0.25, 0.5]


def test_throttling_gives_up_after_four_attempts(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    for _ in range(4):
        stubber.add_client_error(
            "send_text_message", service_error_code="ThrottlingException", http_status_code=400
        )
    sleeps: list[float] = []
    driver = driver_for(client, sleeps)
    with pytest.raises(ChannelThrottled) as caught:
        driver.send(driver.build_request(Sms("+447812345678", "hi")))
    assert caught.value.attempts == 4
    assert sleeps == [0.25, 0.5, 1.0]


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("ValidationException", 400, ChannelRejected),
        ("AccessDeniedException", 403, ChannelRejected),
        ("ResourceNotFoundException", 404, ChannelRejected),
        ("ConflictException", 409, ChannelRejected),
        ("ServiceQuotaExceededException", 402, ChannelRejected),
    ],
)
def test_rejections_are_not_retried(
    stub: tuple[Any, Stubber], code: str, status: int, cls: type[ChannelError]
) -> None:
    client, stubber = stub
    stubber.add_client_error("send_text_message", service_error_code=code, http_status_code=status)
    sleeps: list[float] = []
    driver = driver_for(client, sleeps)
    with pytest.raises(cls) as caught:
        driver.send(driver.build_request(Sms("+447812345678", "hi")))
    assert caught.value.code == code
    assert sleeps == []


def test_internal_server_error_is_retried(stub: tuple[Any, Stubber]) -> None:
    client, stubber = stub
    for _ in range(4):
        stubber.add_client_error(
            "send_text_message", service_error_code="InternalServerException", http_status_code=500
        )
    driver = driver_for(client)
    with pytest.raises(ChannelUnavailable) as caught:
        driver.send(driver.build_request(Sms("+447812345678", "hi")))
    assert caught.value.attempts == 4


def test_foreign_plans_are_refused(stub: tuple[Any, Stubber]) -> None:
    client, _ = stub
    plan = PreparedRequest("sms", "sms", (ApiCall("sns", "Publish", {"Message": "x"}),))
    with pytest.raises(ValueError, match="SendTextMessage"):
        driver_for(client).send(plan)
