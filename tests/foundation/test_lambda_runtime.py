"""The AWS composition root over moto: DynamoDB tables, SQS queues, SSM secrets, SNS alerts."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gateway.bootstrap import Container, build_lambda
from gateway.clock import FakeClock
from gateway.config import ConfigError, load_settings
from gateway.inbound.errors import SignatureInvalid
from gateway.outbound.types import OutboundRequest, TemplateContent
from gateway.queue.sqs import create_sqs_queues
from gateway.store.dynamodb import create_dynamodb_tables
from gateway.store.port import StoreUnavailable

PREFIX = "wecare-test-"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        create_dynamodb_tables(session.client("dynamodb"), PREFIX)
        yield session


def _env(session: boto3.session.Session, **extra: str) -> dict[str, str]:
    urls = create_sqs_queues(session.client("sqs"), PREFIX)
    ssm = session.client("ssm")
    ssm.put_parameter(Name="/amplify/app/main/APP_SECRET", Value="s3cr3t-value", Type="SecureString")
    return {
        "ENVIRONMENT": "staging",
        "SEND_MODE": "DRY_RUN",
        "TABLE_PREFIX": PREFIX,
        "COGNITO_APP_CLIENT_ID": "client-123",
        "META_VERIFY_TOKEN": "verify-me",
        "BULK_QUEUE_URL": urls["bulk-queue"],
        "AI_QUEUE_URL": urls["ai-queue"],
        "BULK_DLQ_URL": urls["bulk-dlq"],
        "INBOUND_DLQ_URL": urls["inbound-dlq"],
        "OUTBOUND_DLQ_URL": urls["outbound-dlq"],
        "AMPLIFY_SSM_ENV_CONFIG": json.dumps({"APP_SECRET": {"path": "/amplify/app/main/APP_SECRET"}}),
        **extra,
    }


def _build(session: boto3.session.Session, env: dict[str, str], emf: io.StringIO) -> Container:
    settings = load_settings("lambda", env)
    return build_lambda(settings, session=session, clock=FakeClock(), emf_stream=emf)


def test_lambda_runtime_sends_dry_run_through_dynamodb(aws: boto3.session.Session) -> None:
    emf = io.StringIO()
    container = _build(aws, _env(aws), emf)
    contact = container.contacts.create(
        {"name": "Amelia", "phone": "+447812345678", "optInWhatsApp": True}, actor="test"
    )
    outcome = container.gateway.send(
        OutboundRequest(
            contact_id=contact["contactId"],
            channel="whatsapp",
            content=TemplateContent("order_update", "en_GB"),
        )
    )
    assert outcome.status == "sent"
    raw: dict[str, Any] = aws.client("dynamodb").get_item(
        TableName=PREFIX + "Messages", Key={"messageId": {"S": outcome.message_id}}
    )["Item"]
    assert raw["status"]["S"] == "sent"
    assert raw["decision"]["M"]["allowed"]["BOOL"] is True
    assert raw["expiresAt"]["N"].isdigit()  # TTL as Number epoch seconds
    # Metrics leave as CloudWatch embedded metric format lines.
    lines = [json.loads(line) for line in emf.getvalue().splitlines()]
    assert any("_aws" in doc and "CloudWatchMetrics" in doc["_aws"] for doc in lines)
    # The Meta webhook is open only because APP_SECRET came from SSM.
    assert container.inbound is not None and container.runtime == "lambda"


def test_lambda_runtime_reports_a_missing_table_clearly(aws: boto3.session.Session) -> None:
    container = _build(aws, _env(aws, TABLE_PREFIX="nope-"), io.StringIO())
    with pytest.raises(StoreUnavailable, match="nope-Contacts"):
        container.contacts.get("ct_missing")


def test_lambda_runtime_refuses_live_outside_production(aws: boto3.session.Session) -> None:
    with pytest.raises(ConfigError, match="SEND_MODE=LIVE is forbidden"):
        load_settings("lambda", _env(aws, SEND_MODE="LIVE", ENVIRONMENT="preview"))


def test_secrets_never_come_from_plain_env_in_lambda(aws: boto3.session.Session) -> None:
    env = _env(aws, AMPLIFY_SSM_ENV_CONFIG="{}", APP_SECRET="from-plain-env")
    container = _build(aws, env, io.StringIO())
    # No SSM entry for APP_SECRET: the Meta webhook stays closed even though the env var is set.
    with pytest.raises(SignatureInvalid):
        container.inbound.handle_meta(b"{}", "sha256=00")
