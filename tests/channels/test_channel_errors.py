from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from channels.errors import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ContentInvalid,
    from_botocore_error,
    from_client_error,
)

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}


@pytest.fixture
def sms_stub() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("pinpoint-sms-voice-v2", **CREDS)
    with Stubber(client) as stubber:
        yield client, stubber


# (error code, HTTP status, expected class, retryable)
CASES = [
    ("ThrottlingException", 400, ChannelThrottled, True),
    ("ThrottledRequestException", 429, ChannelThrottled, True),
    ("TooManyRequestsException", 429, ChannelThrottled, True),
    ("SomethingNew", 429, ChannelThrottled, True),
    ("InternalServerException", 500, ChannelUnavailable, True),
    ("InternalServiceErrorException", 500, ChannelUnavailable, True),
    ("DependencyException", 502, ChannelUnavailable, True),
    ("SomethingElse", 503, ChannelUnavailable, True),
    ("ValidationException", 400, ChannelRejected, False),
    ("AccessDeniedException", 403, ChannelRejected, False),
    ("AccessDeniedByMetaException", 403, ChannelRejected, False),
    ("ResourceNotFoundException", 404, ChannelRejected, False),
    ("ConflictException", 409, ChannelRejected, False),
    ("ServiceQuotaExceededException", 402, ChannelRejected, False),
    ("MessageRejected", 400, ChannelRejected, False),
]


@pytest.mark.parametrize(("code", "status", "cls", "retryable"), CASES)
def test_client_errors_are_classified(
    sms_stub: tuple[object, Stubber], code: str, status: int, cls: type[ChannelError], retryable: bool
) -> None:
    client, stubber = sms_stub
    stubber.add_client_error(
        "send_text_message",
        service_error_code=code,
        service_message="provider says no",
        http_status_code=status,
        response_meta={"RequestId": "req-123"},
    )
    with pytest.raises(ClientError) as raised:
        client.send_text_message(DestinationPhoneNumber="+447812345678")  # type: ignore[attr-defined]
    error = from_client_error(raised.value, "SendTextMessage")
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.code == code
    assert error.message == "provider says no"
    assert error.request_id == "req-123"
    assert error.http_status == status
    assert error.operation == "SendTextMessage"
    assert error.to_dict()["type"] == cls.__name__


def test_botocore_failures_are_classified() -> None:
    connect = from_botocore_error(EndpointConnectionError(endpoint_url="https://x"))
    assert isinstance(connect, ChannelUnavailable) and connect.retryable

    connect_timeout = from_botocore_error(ConnectTimeoutError(endpoint_url="https://x"))
    assert isinstance(connect_timeout, ChannelUnavailable) and connect_timeout.retryable

    # The request may have been delivered: never resend automatically.
    read_timeout = from_botocore_error(ReadTimeoutError(endpoint_url="https://x"))
    assert isinstance(read_timeout, ChannelUnavailable)
    assert not read_timeout.retryable and read_timeout.code == "OutcomeUnknown"

    bad_params = from_botocore_error(ParamValidationError(report="Missing required parameter"))
    assert isinstance(bad_params, ContentInvalid) and not bad_params.retryable

    no_creds = from_botocore_error(NoCredentialsError())
    assert isinstance(no_creds, ChannelError) and not no_creds.retryable


def test_content_invalid_is_never_retryable() -> None:
    error = ContentInvalid("too big", code="MediaTooLarge")
    assert error.retryable is False
    assert error.code == "MediaTooLarge"
    assert "MediaTooLarge" in repr(error)
