"""The gateway over the real drivers: exact AWS requests (Stubber for the services moto lacks, moto for
SES v2 and S3), retries on throttling/5xx only, and what ends up stored."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.ses.models import ses_backends

from channels.email import EmailDriver, EmailRequestBuilder
from channels.retry import Retrier, botocore_config
from channels.sms import SmsDriver, SmsRequestBuilder
from channels.whatsapp import WhatsAppDriver, WhatsAppRequestBuilder, encode_message
from gateway.clock import FakeClock
from gateway.outbound.gateway import Gateway
from gateway.outbound.types import (
    EmailContent,
    MediaContent,
    MediaUpload,
    OutboundRequest,
    TemplateContent,
    TextContent,
)
from gateway.store.memory import MemoryTables

from .fakes import PN1, contact_item

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
BUCKET = "auth.wecare.digital"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1020
POOL = "pool-6fbf5a5f390d4eeeaa7dbae39d78933e"


class Aws:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        retrier = Retrier(sleep=self.sleeps.append, rand=lambda: 1.0)
        self.s3 = boto3.client("s3", config=botocore_config(), **CREDS)
        self.s3.create_bucket(Bucket=BUCKET)
        self.social = boto3.client("socialmessaging", config=botocore_config(), **CREDS)
        self.sms = boto3.client("pinpoint-sms-voice-v2", config=botocore_config(), **CREDS)
        self.ses = boto3.client("sesv2", config=botocore_config(), **CREDS)
        self.ses.create_email_identity(EmailIdentity="one@wecare.digital")
        self.drivers = {
            "whatsapp": WhatsAppDriver(WhatsAppRequestBuilder(), self.social, self.s3, retrier=retrier),
            "sms": SmsDriver(SmsRequestBuilder(), self.sms, retrier=retrier),
            "email": EmailDriver(EmailRequestBuilder(), self.ses, retrier=retrier),
        }


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield Aws()


@pytest.fixture
def live(aws: Aws, make_gateway: Callable[..., Gateway], tables: MemoryTables, clock: FakeClock) -> Gateway:
    now = clock.now()
    tables["Contacts"].put(contact_item("ct_1", now=now, last_inbound=now - 60))
    return make_gateway(drivers=aws.drivers)


def test_whatsapp_text_sends_exactly_this_request(aws: Aws, live: Gateway, tables: MemoryTables) -> None:
    expected = {
        "originationPhoneNumberId": PN1,
        "message": encode_message(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+447812345678",
                "type": "text",
                "text": {"preview_url": False, "body": "Hello Ana"},
            }
        ),
        "metaApiVersion": "v20.0",
    }
    with Stubber(aws.social) as stub:
        stub.add_response("send_whatsapp_message", {"messageId": "wa-aws-1"}, expected)
        outcome = live.send(
            OutboundRequest(contact_id="ct_1", channel="whatsapp", content=TextContent("Hello Ana"))
        )
        stub.assert_no_pending_responses()
    assert outcome.status == "sent"
    assert outcome.message["whatsappMessageId"] == "wa-aws-1"
    assert outcome.message["sendMode"] == "LIVE"
    assert tables["Messages"].query("wa-aws-1", index="byWhatsappMessageId").items[0]["messageId"] == (
        outcome.message_id
    )


def test_whatsapp_template_outside_the_window(
    aws: Aws, live: Gateway, tables: MemoryTables, clock: FakeClock
) -> None:
    tables["Contacts"].put(contact_item("ct_2", now=clock.now(), phone="+4915112345678"))
    components = ({"type": "body", "parameters": [{"type": "text", "text": "A-17"}]},)
    expected = {
        "originationPhoneNumberId": PN1,
        "message": encode_message(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+4915112345678",
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "de"},
                    "components": [dict(components[0])],
                },
            }
        ),
        "metaApiVersion": "v20.0",
    }
    with Stubber(aws.social) as stub:
        stub.add_response("send_whatsapp_message", {"messageId": "wa-aws-2"}, expected)
        outcome = live.send(
            OutboundRequest(
                contact_id="ct_2",
                channel="whatsapp",
                content=TemplateContent("order_update", "de", components),
            )
        )
    assert (outcome.status, outcome.message["category"]) == ("sent", "template")


def test_whatsapp_media_is_uploaded_to_s3_then_posted_then_sent(aws: Aws, live: Gateway) -> None:
    key = f"whatsapp-media/whatsapp-media-outgoing/{hashlib.sha256(JPEG).hexdigest()}.jpg"
    with Stubber(aws.social) as stub:
        stub.add_response(
            "post_whatsapp_message_media",
            {"mediaId": "media-9"},
            {"originationPhoneNumberId": PN1, "sourceS3File": {"bucketName": BUCKET, "key": key}},
        )
        stub.add_response(
            "send_whatsapp_message",
            {"messageId": "wa-aws-3"},
            {
                "originationPhoneNumberId": PN1,
                "message": encode_message(
                    {
                        "messaging_product": "whatsapp",
                        "recipient_type": "individual",
                        "to": "+447812345678",
                        "type": "image",
                        "image": {"id": "media-9", "caption": "Receipt"},
                    }
                ),
                "metaApiVersion": "v20.0",
            },
        )
        outcome = live.send(
            OutboundRequest(
                contact_id="ct_1",
                channel="whatsapp",
                content=MediaContent("image", upload=MediaUpload(JPEG, "image/jpeg"), caption="Receipt"),
            )
        )
    assert outcome.status == "sent" and outcome.message["mediaId"] == "media-9"
    assert aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == JPEG


def test_sms_sends_exactly_this_request(aws: Aws, live: Gateway) -> None:
    with Stubber(aws.sms) as stub:
        stub.add_response(
            "send_text_message",
            {"MessageId": "sms-1"},
            {
                "DestinationPhoneNumber": "+447812345678",
                "OriginationIdentity": POOL,
                "MessageBody": "Your code is 1234",
                "MessageType": "TRANSACTIONAL",
                "Context": {"messageId": ANY},
            },
        )
        outcome = live.send(
            OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("Your code is 1234"))
        )
    assert outcome.status == "sent"
    assert outcome.message["providerMessageId"] == "sms-1"
    assert outcome.message["sms"] == {"encoding": "GSM-7", "segments": 1, "units": 17, "characters": 17}
    assert "whatsappMessageId" not in outcome.message


def test_throttling_is_retried_with_backoff_then_succeeds(aws: Aws, live: Gateway) -> None:
    with Stubber(aws.sms) as stub:
        stub.add_client_error("send_text_message", "ThrottlingException", http_status_code=400)
        stub.add_client_error("send_text_message", "InternalServerException", http_status_code=500)
        stub.add_response("send_text_message", {"MessageId": "sms-2"})
        outcome = live.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("hi")))
    assert outcome.status == "sent"
    assert aws.sleeps == [0.25, 0.5]  # full jitter at its ceiling (rand = 1.0): base * 2**(n-1)


def test_at_most_three_retries_then_failed_with_the_providers_details(aws: Aws, live: Gateway) -> None:
    with Stubber(aws.social) as stub:
        for _ in range(4):
            stub.add_client_error(
                "send_whatsapp_message", "ThrottledRequestException", "slow down", http_status_code=429
            )
        outcome = live.send(OutboundRequest(contact_id="ct_1", channel="whatsapp", content=TextContent("hi")))
        stub.assert_no_pending_responses()
    assert outcome.status == "failed"
    details = outcome.message["errorDetails"]
    assert (details["code"], details["message"], details["attempts"]) == (
        "ThrottledRequestException",
        "slow down",
        4,
    )
    assert "requestId" in details
    assert len(aws.sleeps) == 3


def test_a_validation_error_fails_at_once(aws: Aws, live: Gateway) -> None:
    with Stubber(aws.social) as stub:
        stub.add_client_error(
            "send_whatsapp_message", "ValidationException", "bad phone", http_status_code=400
        )
        outcome = live.send(OutboundRequest(contact_id="ct_1", channel="whatsapp", content=TextContent("hi")))
    assert outcome.status == "failed" and outcome.message["errorDetails"]["code"] == "ValidationException"
    assert aws.sleeps == []


def test_email_through_ses_v2(aws: Aws, live: Gateway) -> None:
    outcome = live.send(
        OutboundRequest(
            contact_id="ct_1",
            channel="email",
            content=EmailContent("Welcome", text="Hi Ana", html="<p>Hi Ana</p>"),
        )
    )
    assert outcome.status == "sent"
    [sent] = ses_backends["123456789012"]["us-east-1"].sent_messages
    assert sent.id == outcome.message["providerMessageId"]
    assert sent.destinations == {"ToAddresses": ["ana@example.com"]}
    assert sent.subject == "Welcome"


def test_email_refused_by_ses_is_failed_and_not_retried(
    aws: Aws, live: Gateway, tables: MemoryTables, clock: FakeClock
) -> None:
    aws.ses.delete_email_identity(EmailIdentity="one@wecare.digital")
    outcome = live.send(
        OutboundRequest(contact_id="ct_1", channel="email", content=EmailContent("Hi", text="x"))
    )
    assert outcome.status == "failed"
    assert outcome.message["errorDetails"]["code"] == "MessageRejected"
    assert aws.sleeps == []
    assert ses_backends["123456789012"]["us-east-1"].sent_messages == []


def test_a_deny_never_touches_aws(aws: Aws, live: Gateway, tables: MemoryTables, clock: FakeClock) -> None:
    tables["Contacts"].put(contact_item("ct_3", now=clock.now(), whatsapp=False, sms=False, mail=False))
    with Stubber(aws.social) as social, Stubber(aws.sms) as sms:
        for channel, content in (
            ("whatsapp", TextContent("x")),
            ("sms", TextContent("x")),
            ("email", EmailContent("s", text="x")),
        ):
            outcome = live.send(OutboundRequest(contact_id="ct_3", channel=channel, content=content))  # type: ignore[arg-type]
            assert outcome.status == "rejected"
        social.assert_no_pending_responses()
        sms.assert_no_pending_responses()
    assert ses_backends["123456789012"]["us-east-1"].sent_messages == []
    assert aws.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
