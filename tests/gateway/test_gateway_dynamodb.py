"""The same limiter, tier and gateway code on the DynamoDB adapter (moto): the conditions and atomic
adds it relies on mean the same thing there as on SQLite."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.ratelimit import Bucket, RateLimiter, RateLimits
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import OutboundRequest, TemplateContent, TextContent
from gateway.store.dynamodb import DynamoTables, create_dynamodb_tables

from .fakes import PARAMS, RuleEngine, StoreCheckingDriver, builders, contact_item


@pytest.fixture
def dynamo(clock: FakeClock) -> Iterator[DynamoTables]:
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        create_dynamodb_tables(client, "test-")
        yield DynamoTables(client, "test-", clock)


def test_limiter_instances_share_one_counter_in_dynamodb(dynamo: DynamoTables, clock: FakeClock) -> None:
    # One token per lease: every token of the second is handed out, and not one more.
    exact = [RateLimiter(dynamo["RateLimitTrackers"], clock, pace=False, max_lease=1) for _ in range(3)]
    email = Bucket("email", 10)
    granted = [sum(1 for _ in range(8) if lim.try_acquire([email]) == 0.0) for lim in exact]
    assert sum(granted) == 10
    item = dynamo["RateLimitTrackers"].get({"channel": "email", "windowStart": math.floor(clock.now())})
    assert item is not None and item["messageCount"] == 10
    assert item["lastUpdatedAt"] == math.floor(clock.now()) + 86400
    # Batched leases: a token leased but not used in its second is lost — capacity, never safety.
    clock.advance(1)
    leasing = [RateLimiter(dynamo["RateLimitTrackers"], clock, pace=False) for _ in range(3)]
    granted = [sum(1 for _ in range(8) if lim.try_acquire([email]) == 0.0) for lim in leasing]
    item = dynamo["RateLimitTrackers"].get({"channel": "email", "windowStart": math.floor(clock.now())})
    assert item is not None and item["messageCount"] == 10
    assert 9 <= sum(granted) <= 10


def test_tier_counting_in_dynamodb(dynamo: DynamoTables, clock: FakeClock) -> None:
    metrics = Metrics()
    tier = TierTracker(dynamo, clock, LocalAlerts(metrics), metrics, default_limit=250)
    assert tier.record_opening("ct_a") is True
    assert tier.record_opening("ct_a") is False
    clock.advance(86401)
    assert tier.record_opening("ct_a") is True  # an expired marker no longer counts
    assert tier.used24h() == 2  # the first opening's 15-minute bucket still overlaps the window
    clock.advance(900)
    assert tier.used24h() == 1


def test_a_send_and_its_idempotent_repeat_in_dynamodb(dynamo: DynamoTables, clock: FakeClock) -> None:
    metrics = Metrics()
    now = clock.now()
    dynamo["Contacts"].put(contact_item("ct_1", now=now, last_inbound=now - 60))
    drivers: dict[str, Any] = {ch: StoreCheckingDriver(ch, dynamo, b) for ch, b in builders().items()}
    gateway = Gateway(
        tables=dynamo,
        clock=clock,
        settings=Settings(SEND_MODE=SendMode.LIVE, ENVIRONMENT=Environment.production),
        engine=RuleEngine(),
        limits=RateLimits.from_params(PARAMS),
        limiter=RateLimiter(dynamo["RateLimitTrackers"], clock),
        tier=TierTracker(dynamo, clock, LocalAlerts(metrics), metrics, default_limit=250),
        drivers=drivers,
        metrics=metrics,
    )
    first = gateway.send(
        OutboundRequest(
            contact_id="ct_1", channel="whatsapp", content=TextContent("hi"), actor="u_1", idempotency_key="k"
        )
    )
    again = gateway.send(
        OutboundRequest(
            contact_id="ct_1", channel="whatsapp", content=TextContent("hi"), actor="u_1", idempotency_key="k"
        )
    )
    template = gateway.send(
        OutboundRequest(contact_id="ct_1", channel="whatsapp", content=TemplateContent("t", "en"))
    )
    assert (first.status, again.replayed, template.status) == ("sent", True, "sent")
    assert len(drivers["whatsapp"].calls) == 2 and drivers["whatsapp"].violations == []
    stored = dynamo["Messages"].query(first.message["whatsappMessageId"], index="byWhatsappMessageId").items
    assert [m["messageId"] for m in stored] == [first.message_id]
