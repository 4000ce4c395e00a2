from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.ses.models import ses_backends

from channels.base import Email, Sms
from channels.email import EmailDriver, EmailRequestBuilder
from channels.errors import ChannelRejected, ChannelThrottled, ContentInvalid
from channels.retry import Retrier, botocore_config, no_retry

ACCOUNT_ID = "123456789012"  # moto's default account
CREDS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}


@pytest.fixture
def ses() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sesv2", config=botocore_config(), **CREDS)
        yield client


def sent_messages() -> list[Any]:
    return list(ses_backends[ACCOUNT_ID]["us-east-1"].sent_messages)


def test_request_shape_is_exact() -> None:
    prepared = EmailRequestBuilder().build_request(
        Email("asha@example.com", "Your order", text="Plain body", html="<p>HTML body</p>")
    )
    assert prepared.calls[0].service == "sesv2"
    assert prepared.calls[0].operation == "SendEmail"
    assert prepared.calls[0].params == {
        "FromEmailAddress": '"WECARE.DIGITAL" <one@wecare.digital>',
        "Destination": {"ToAddresses": ["asha@example.com"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "Your order", "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": "Plain body", "Charset": "UTF-8"},
                    "Html": {"Data": "<p>HTML body</p>", "Charset": "UTF-8"},
                },
            }
        },
    }


def test_sends_through_ses_from_the_verified_sender(ses: Any) -> None:
    ses.create_email_identity(EmailIdentity="one@wecare.digital")
    driver = EmailDriver(EmailRequestBuilder(), ses, retrier=no_retry())
    result = driver.send(driver.build_request(Email("asha@example.com", "Welcome", html="<h1>Hi Asha</h1>")))
    assert result.provider_message_id
    [message] = sent_messages()
    assert message.id == result.provider_message_id
    assert message.source == '"WECARE.DIGITAL" <one@wecare.digital>'
    assert message.destinations == {"ToAddresses": ["asha@example.com"]}
    assert message.subject == "Welcome"
    assert message.body == "<h1>Hi Asha</h1>"


def test_text_only_email_is_sent(ses: Any) -> None:
    ses.create_email_identity(EmailIdentity="wecare.digital")
    driver = EmailDriver(EmailRequestBuilder(), ses, retrier=no_retry())
    prepared = driver.build_request(Email("asha@example.com", "Plain", text="Just text"))
    assert prepared.calls[0].params["Content"]["Simple"]["Body"] == {
        "Text": {"Data": "Just text", "Charset": "UTF-8"}
    }
    driver.send(prepared)
    assert sent_messages()[-1].body == "Just text"


def test_unverified_sender_is_rejected_without_retry(ses: Any) -> None:
    sleeps: list[float] = []
    driver = EmailDriver(EmailRequestBuilder(), ses, retrier=Retrier(sleep=sleeps.append))
    with pytest.raises(ChannelRejected) as caught:
        driver.send(driver.build_request(Email("asha@example.com", "Hi", text="x")))
    assert caught.value.code == "MessageRejected"
    assert caught.value.retryable is False
    assert sleeps == []
    assert sent_messages() == []


def test_too_many_requests_is_throttled_and_retried() -> None:
    client = boto3.client("sesv2", **CREDS)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "send_email", service_error_code="TooManyRequestsException", http_status_code=429
        )
        stubber.add_response("send_email", {"MessageId": "ses-1"})
        sleeps: list[float] = []
        driver = EmailDriver(
            EmailRequestBuilder(), client, retrier=Retrier(sleep=sleeps.append, rand=lambda: 0.5)
        )
        assert (
            driver.send(driver.build_request(Email("a@example.com", "s", text="t"))).provider_message_id
            == "ses-1"
        )
        assert sleeps == [0.125]
    with Stubber(client) as stubber:
        for _ in range(4):
            stubber.add_client_error(
                "send_email", service_error_code="TooManyRequestsException", http_status_code=429
            )
        with pytest.raises(ChannelThrottled):
            driver.send(driver.build_request(Email("a@example.com", "s", text="t")))


def test_from_name_is_rfc2047_encoded_when_not_ascii() -> None:
    prepared = EmailRequestBuilder().build_request(
        Email("a@example.com", "s", text="t", from_name="Café Ünïon", from_address="news@wecare.digital")
    )
    sender = prepared.calls[0].params["FromEmailAddress"]
    assert sender.startswith("=?utf-8?") and sender.endswith(" <news@wecare.digital>")


def test_idn_domain_is_sent_as_punycode_and_reply_to_is_passed() -> None:
    prepared = EmailRequestBuilder(configuration_set="wecare-mail").build_request(
        Email("asha@bücher.example", "s", text="t", reply_to=("help@wecare.digital",))
    )
    params = prepared.calls[0].params
    assert params["Destination"] == {"ToAddresses": ["asha@xn--bcher-kva.example"]}
    assert params["ReplyToAddresses"] == ["help@wecare.digital"]
    assert params["ConfigurationSetName"] == "wecare-mail"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (Email("a@example.com", "Hi\r\nBcc: victim@example.com", text="x"), "HeaderInjection"),
        (Email("a@example.com", "Hi\nthere", text="x"), "HeaderInjection"),
        (Email("a@example.com", "Hi", text="x", from_name="Evil\r\nBcc: x@y.z"), "HeaderInjection"),
        (Email("a@example.com\r\nBcc: x@y.z", "Hi", text="x"), "HeaderInjection"),
        (Email("a@example.com", "Hi", text="x", reply_to=("r@example.com\nBcc: x@y.z",)), "HeaderInjection"),
        (Email("a@example.com", "", text="x"), "ContentEmpty"),
        (Email("a@example.com", "Hi"), "ContentEmpty"),
        (Email("a@example.com", "Hi", text="  ", html=""), "ContentEmpty"),
        (Email("not-an-address", "Hi", text="x"), "AddressInvalid"),
        (Email("Asha <a@example.com>", "Hi", text="x"), "AddressInvalid"),
        (Email("a@example.com, b@example.com", "Hi", text="x"), "AddressInvalid"),
        (Email("a@localhost", "Hi", text="x"), "AddressInvalid"),
        (Email("a@example.com", "x" * 999, text="x"), "ContentTooLong"),
        (Sms("+447812345678", "x"), "WrongChannel"),
    ],
)
def test_preflight_and_header_injection(message: Any, code: str) -> None:
    with pytest.raises(ContentInvalid) as caught:
        EmailRequestBuilder().build_request(message)
    assert caught.value.code == code


def test_sender_settings_are_checked_at_construction() -> None:
    with pytest.raises(ContentInvalid):
        EmailRequestBuilder(from_name="WECARE\r\nBcc: x@y.z")
    with pytest.raises(ContentInvalid):
        EmailRequestBuilder(from_address="nobody")
