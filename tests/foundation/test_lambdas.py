"""The Lambda entry points over moto, with the real fixture events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from gateway import lambdas
from gateway.queue.sqs import create_sqs_queues
from gateway.store.dynamodb import create_dynamodb_tables

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
        env = {
            "ENVIRONMENT": "preview",
            "SEND_MODE": "DRY_RUN",
            "TABLE_PREFIX": PREFIX,
            "COGNITO_APP_CLIENT_ID": "client-123",
            "BULK_QUEUE_URL": urls["bulk-queue"],
            "BULK_DLQ_URL": urls["bulk-dlq"],
            "INBOUND_DLQ_URL": urls["inbound-dlq"],
            "OUTBOUND_DLQ_URL": urls["outbound-dlq"],
            "AMPLIFY_SSM_ENV_CONFIG": "{}",
        }
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
