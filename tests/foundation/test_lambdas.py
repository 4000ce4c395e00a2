"""The Lambda entry points over moto, with the real fixture events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gateway import lambdas
from gateway.bootstrap import Container
from gateway.bulk.chunks import BULK_QUEUE, Chunk
from gateway.bulk.worker import BulkWorker, ChunkResult
from gateway.outbound.types import EmailContent
from gateway.queue.sqs import create_sqs_queues
from gateway.store.dynamodb import create_dynamodb_tables
from tests.lambda_support import lambda_environment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eum"
PREFIX = "wecare-l-"
CONTEXT = SimpleNamespace(aws_request_id="req-123")


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        create_dynamodb_tables(session.client("dynamodb"), PREFIX)
        urls = create_sqs_queues(session.client("sqs"), PREFIX)
        env = lambda_environment(PREFIX, urls, "client-123")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        lambdas.container.cache_clear()
        lambdas._http.cache_clear()
        yield session
        lambdas.container.cache_clear()
        lambdas._http.cache_clear()


def test_inbound_handler_stores_the_fixture_once(deployed: boto3.session.Session) -> None:
    event = json.loads((FIXTURES / "eum-inbound-text.sns-lambda.json").read_text())
    first = lambdas.inbound_whatsapp_handler(event, CONTEXT)
    again = lambdas.inbound_whatsapp_handler(event, CONTEXT)
    assert (first["messages"], again["messages"], again["duplicates"]) == (1, 0, 1)
    items = deployed.client("dynamodb").scan(TableName=PREFIX + "Messages")["Items"]
    inbound = [i for i in items if i.get("direction", {}).get("S") == "inbound"]
    assert len(inbound) == 1 and inbound[0]["status"]["S"] == "received"


def test_a_bad_record_goes_to_the_dlq_and_replay_reports_it(deployed: boto3.session.Session) -> None:
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{not json"}}]}
    result = lambdas.inbound_whatsapp_handler(event, CONTEXT)
    assert result["deadLettered"] == 1
    queue_url = deployed.client("sqs").get_queue_url(QueueName=PREFIX + "inbound-dlq")["QueueUrl"]
    attrs = deployed.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"
    report = lambdas.dlq_replay_handler({"queue": "inbound-dlq", "max": 10}, CONTEXT)
    assert report["failed"] == 1  # still malformed: counted, kept, never lost


def test_http_handler_serves_health_through_mangum(deployed: boto3.session.Session) -> None:
    event = {
        "version": "2.0",
        "routeKey": "GET /healthz",
        "rawPath": "/healthz",
        "rawQueryString": "",
        "headers": {"host": "base.wecare.digital"},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": "/healthz",
                "sourceIp": "203.0.113.9",
                "protocol": "HTTP/1.1",
                "userAgent": "test",
            },
            "requestId": "r1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    reply = lambdas.http_handler(event, CONTEXT)
    assert reply["statusCode"] == 200
    body = json.loads(reply["body"])
    assert body["runtime"] == "lambda" and body["environment"] == "preview" and body["sendMode"] == "DRY_RUN"
    unauth = {
        **event,
        "rawPath": "/api/contacts",
        "routeKey": "GET /api/contacts",
        "requestContext": {
            **event["requestContext"],
            "http": {**event["requestContext"]["http"], "path": "/api/contacts"},
        },
    }
    assert lambdas.http_handler(unauth, CONTEXT)["statusCode"] == 401


def test_send_recovery_handler_marks_stale_sends_unknown(deployed: boto3.session.Session) -> None:
    client = deployed.client("dynamodb")
    client.put_item(
        TableName=PREFIX + "Messages",
        Item={
            "messageId": {"S": "msg_stuck"},
            "kind": {"S": "message"},
            "contactId": {"S": "ct_1"},
            "channel": {"S": "sms"},
            "direction": {"S": "outbound"},
            "status": {"S": "sending"},
            "timestamp": {"N": "1000"},
            "expiresAt": {"N": "99999999999"},
        },
    )
    result = lambdas.send_recovery_handler({}, CONTEXT)
    assert result["markedUnknown"] == ["msg_stuck"]
    item = client.get_item(TableName=PREFIX + "Messages", Key={"messageId": {"S": "msg_stuck"}})["Item"]
    assert item["status"]["S"] == "unknown"


# -- bulk-worker: the SQS event source of bulk-queue ----------------------------------------------


def _bulk_job(n: int, tag: str) -> tuple[str, list[str]]:
    c = lambdas.container()
    assert c.contacts is not None and c.bulk is not None
    ids = [
        str(
            c.contacts.create(
                {"name": f"Contact {tag}{i}", "email": f"{tag}{i}@example.com", "optInEmail": True},
                actor="test",
            )["contactId"]
        )
        for i in range(n)
    ]
    job, created = c.bulk.create(
        actor="usr_1", channel="email", content=EmailContent("News", "Hello"), contact_ids=ids
    )
    assert created
    return job.job_id, ids


def _queue_url(session: boto3.session.Session, name: str) -> str:
    return str(session.client("sqs").get_queue_url(QueueName=PREFIX + name)["QueueUrl"])


def _sqs_records(session: boto3.session.Session) -> list[dict[str, Any]]:
    """Everything on bulk-queue, received and shaped as the SQS event source hands it to the Lambda."""
    sqs, url = session.client("sqs"), _queue_url(session, BULK_QUEUE)
    records: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=600
        ).get("Messages", [])
        if not got:
            return records
        records.extend(_record(m["Body"], m["MessageId"], m["ReceiptHandle"], m["Attributes"]) for m in got)


def _record(
    body: str, message_id: str, receipt: str = "AQEB-receipt", attributes: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": receipt,
        "body": body,
        "attributes": attributes
        or {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1765100000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1765100000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{PREFIX}{BULK_QUEUE}",
        "awsRegion": "us-east-1",
    }


def _sent_by_contact(c: Container) -> Counter[str]:
    items = c.tables["Messages"].scan(limit=10_000).items
    return Counter(
        str(i["contactId"]) for i in items if i.get("direction") == "outbound" and i.get("status") == "sent"
    )


def test_bulk_worker_handler_sends_a_chunk_in_dry_run(deployed: boto3.session.Session) -> None:
    job_id, ids = _bulk_job(3, "a")
    records = _sqs_records(deployed)
    assert len(records) == 1
    reply = lambdas.bulk_worker_handler({"Records": records}, CONTEXT)
    assert reply == {"batchItemFailures": []}
    c = lambdas.container()
    assert c.settings.SEND_MODE.value == "DRY_RUN"
    assert _sent_by_contact(c) == Counter({i: 1 for i in ids})
    assert c.bulk is not None
    job = c.bulk.get(job_id)
    assert job["status"] == "completed" and job["counts"]["sent"] == 3 and job["counts"]["pending"] == 0


def test_bulk_worker_handler_reports_only_the_record_that_raised(
    deployed: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    good_job, good_ids = _bulk_job(2, "g")
    bad_job, _ = _bulk_job(2, "b")
    records = _sqs_records(deployed)
    assert len(records) == 2
    process = BulkWorker.process_chunk

    def flaky(self: BulkWorker, body: Any) -> ChunkResult:
        if bad_job in str(body):
            raise RuntimeError("the store is down")
        return process(self, body)

    monkeypatch.setattr(BulkWorker, "process_chunk", flaky)
    bad_id = next(r["messageId"] for r in records if bad_job in r["body"])
    reply = lambdas.bulk_worker_handler({"Records": records}, CONTEXT)
    assert reply == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    c = lambdas.container()
    assert c.bulk is not None
    assert c.bulk.get(good_job)["counts"]["sent"] == 2
    assert c.bulk.get(bad_job)["counts"]["pending"] == 2  # untouched: SQS redelivers it
    assert _sent_by_contact(c) == Counter({i: 1 for i in good_ids})


def test_bulk_worker_handler_reports_malformed_bodies_and_goes_on(deployed: boto3.session.Session) -> None:
    job_id, _ = _bulk_job(1, "m")
    (good,) = _sqs_records(deployed)
    event = {
        "Records": [
            _record("{not json", "m-1"),
            _record(json.dumps({"jobId": 7, "recipientIds": "x"}), "m-2"),
            good,
        ]
    }
    reply = lambdas.bulk_worker_handler(event, CONTEXT)
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    c = lambdas.container()
    assert c.bulk is not None and c.bulk.get(job_id)["counts"]["sent"] == 1


def test_bulk_worker_handler_sends_nobody_twice_on_a_duplicate_delivery(
    deployed: boto3.session.Session,
) -> None:
    job_id, ids = _bulk_job(3, "d")
    (record,) = _sqs_records(deployed)
    twice = {"Records": [record, {**record, "messageId": "dup-1"}]}
    assert lambdas.bulk_worker_handler(twice, CONTEXT) == {"batchItemFailures": []}
    assert lambdas.bulk_worker_handler({"Records": [record]}, CONTEXT) == {"batchItemFailures": []}
    c = lambdas.container()
    assert _sent_by_contact(c) == Counter({i: 1 for i in ids})
    assert c.bulk is not None and c.bulk.get(job_id)["counts"]["sent"] == 3


def test_bulk_worker_handler_requeues_what_the_worker_hands_back(deployed: boto3.session.Session) -> None:
    # A chunk that arrives before its job exists is handed back (5 s) and re-queued on bulk-queue.
    body = Chunk("job_not_yet", ("r1", "r2")).body()
    reply = lambdas.bulk_worker_handler({"Records": [_record(body, "early-1")]}, CONTEXT)
    assert reply == {"batchItemFailures": []}
    attrs = deployed.client("sqs").get_queue_attributes(
        QueueUrl=_queue_url(deployed, BULK_QUEUE),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesDelayed"]) == ("0", "1")
