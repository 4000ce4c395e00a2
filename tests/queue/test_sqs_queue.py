"""What only the SQS adapter promises: exact requests, partial batch failures, error mapping, set-up."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from gateway.queue.port import QUEUE_NAMES, OutgoingMessage, QueueUnavailable, ReceiptInvalid
from gateway.queue.sqs import SqsQueues, create_sqs_queues

URL = "https://sqs.us-east-1.amazonaws.com/809904170947/bulk-queue"
URLS = {name: f"https://sqs.us-east-1.amazonaws.com/809904170947/{name}" for name in QUEUE_NAMES}


def client() -> Any:
    return boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_send_request() -> None:
    c = client()
    queue = SqsQueues(c, URLS)["bulk-queue"]
    with Stubber(c) as stub:
        stub.add_response(
            "send_message",
            {"MessageId": "id-1", "MD5OfMessageBody": "x"},
            {
                "QueueUrl": URL,
                "MessageBody": "body",
                "DelaySeconds": 5,
                "MessageAttributes": {"jobId": {"DataType": "String", "StringValue": "j-1"}},
            },
        )
        assert queue.send("body", attributes={"jobId": "j-1"}, delay_seconds=5) == "id-1"
        stub.assert_no_pending_responses()


def test_receive_request_and_mapping() -> None:
    c = client()
    queue = SqsQueues(c, URLS)["bulk-queue"]
    with Stubber(c) as stub:
        stub.add_response(
            "receive_message",
            {
                "Messages": [
                    {
                        "MessageId": "id-1",
                        "ReceiptHandle": "rh-1",
                        "Body": "b",
                        "MD5OfBody": "x",
                        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1764067200123"},
                        "MessageAttributes": {"jobId": {"DataType": "String", "StringValue": "j-1"}},
                    }
                ]
            },
            {
                "QueueUrl": URL,
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": 20,
                "VisibilityTimeout": 3,
                "MessageAttributeNames": ["All"],
                "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
            },
        )
        [m] = queue.receive(10, visibility_timeout=2.5, wait_seconds=45)  # whole seconds, capped at 20
        stub.assert_no_pending_responses()
    assert (m.message_id, m.body, m.receipt_handle, m.receive_count) == ("id-1", "b", "rh-1", 3)
    assert dict(m.attributes) == {"jobId": "j-1"}
    assert m.sent_at == pytest.approx(1764067200.123)


def test_a_partly_failed_batch_resends_only_the_failures() -> None:
    c = client()
    queue = SqsQueues(c, URLS)["bulk-queue"]
    entries = [{"Id": str(i), "MessageBody": f"m{i}", "DelaySeconds": 0} for i in range(3)]
    with Stubber(c) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [
                    {"Id": "0", "MessageId": "a", "MD5OfMessageBody": "x"},
                    {"Id": "2", "MessageId": "c", "MD5OfMessageBody": "x"},
                ],
                "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}],
            },
            {"QueueUrl": URL, "Entries": entries},
        )
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "b", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": URL, "Entries": [entries[1]]},
        )
        assert queue.send_batch([OutgoingMessage(f"m{i}") for i in range(3)]) == ["a", "b", "c"]
        stub.assert_no_pending_responses()


def test_a_batch_entry_sqs_refuses_is_reported_not_retried() -> None:
    c = client()
    queue = SqsQueues(c, URLS)["bulk-queue"]
    with Stubber(c) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [],
                "Failed": [
                    {
                        "Id": "0",
                        "SenderFault": True,
                        "Code": "InvalidMessageContents",
                        "Message": "bad characters",
                    }
                ],
            },
            {"QueueUrl": URL, "Entries": ANY},
        )
        with pytest.raises(QueueUnavailable, match="InvalidMessageContents bad characters"):
            queue.send_batch([OutgoingMessage("\x00")])
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["ReceiptHandleIsInvalid", "MessageNotInflight"])
def test_stale_receipts_are_receipt_invalid(code: str) -> None:
    c = client()
    queue = SqsQueues(c, URLS)["bulk-queue"]
    with Stubber(c) as stub:
        stub.add_client_error("change_message_visibility", code, "stale")
        with pytest.raises(ReceiptInvalid):
            queue.change_visibility("rh", 10)


def test_a_missing_queue_is_queue_unavailable() -> None:
    c = client()
    queue = SqsQueues(c, URLS)["inbound-dlq"]
    with Stubber(c) as stub:
        stub.add_client_error("send_message", "AWS.SimpleQueueService.NonExistentQueue", "no such queue")
        with pytest.raises(QueueUnavailable) as err:
            queue.send("x")
    assert "inbound-dlq" in str(err.value) and "does not exist" in str(err.value)


def test_every_queue_needs_a_url() -> None:
    with pytest.raises(ValueError, match="bulk-dlq"):
        SqsQueues(client(), {k: v for k, v in URLS.items() if k != "bulk-dlq"})


def test_create_queues_wires_the_bulk_dead_letter_queue() -> None:
    with mock_aws():
        c = client()
        urls = create_sqs_queues(c, "dev-")
        assert set(urls) == set(QUEUE_NAMES)
        attrs = c.get_queue_attributes(QueueUrl=urls["bulk-queue"], AttributeNames=["All"])["Attributes"]
        policy = json.loads(attrs["RedrivePolicy"])
        dlq_arn = c.get_queue_attributes(QueueUrl=urls["bulk-dlq"], AttributeNames=["QueueArn"])["Attributes"]
        assert policy["deadLetterTargetArn"] == dlq_arn["QueueArn"]
        assert int(policy["maxReceiveCount"]) == 5
        others = c.get_queue_attributes(QueueUrl=urls["inbound-dlq"], AttributeNames=["All"])["Attributes"]
        assert "RedrivePolicy" not in others
