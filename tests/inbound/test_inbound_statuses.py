from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.inbound.parse import StatusUpdate
from gateway.inbound.service import InboundService
from gateway.inbound.statuses import RANK, StatusTracker, apply_pending_statuses, can_advance, pending_key
from gateway.store.conditions import eq
from gateway.store.memory import MemoryTables
from gateway.store.port import Update

from .events import envelope, load, sns_event, status_value

WAMID = "wamid.HBgMNDQ3ODEyMzQ1Njc4FQIAERgS5826B83F1FE2D9C3CCAA=="  # the status fixtures' message
# What SendWhatsAppMessage returned for it: the gateway records this as the message's whatsappMessageId,
# and EUM status events carry it as the envelope's messageId.
AWS_ID = "150bb72e-0942-4a5f-8bfe-cf04f4c2f047"


def outbound(
    tables: MemoryTables,
    clock: FakeClock,
    wamid: str = AWS_ID,
    status: str = "sending",
    message_id: str = "msg_out1",
) -> str:
    now = clock.now()
    item: dict[str, Any] = {
        "messageId": message_id,
        "kind": "message",
        "contactId": "ct_1",
        "channel": "whatsapp",
        "direction": "outbound",
        "content": {"type": "template"},
        "timestamp": now,
        "status": status,
        "statusTimestamps": {status: now},
        "expiresAt": int(now) + 30 * 86400,
    }
    if wamid:
        item["whatsappMessageId"] = wamid
    tables["Messages"].put(item)
    return message_id


def update(status: str, ts: int, wamid: str = WAMID, **kw: Any) -> StatusUpdate:
    return StatusUpdate(
        wamid,
        status,
        ts,
        "447812345678",
        kw.get("errors", []),
        kw.get("conversation"),
        kw.get("pricing"),
        "phone-number-id-x",
        "110200300400501",
        kw.get("aws", AWS_ID),
    )


def test_fixture_statuses_in_order(service: InboundService, tables: MemoryTables, clock: FakeClock) -> None:
    mid = outbound(tables, clock)
    for name in (
        "eum-status-sent.sns-lambda.json",
        "eum-status-delivered.sns-lambda.json",
        "eum-status-read.sns-lambda.json",
    ):
        assert service.ingest_document(load(name)).statuses == 1
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None
    assert message["status"] == "read"
    assert message["statusTimestamps"] == {
        "sending": clock.now(),
        "sent": 1758188000,
        "delivered": 1758188002,
        "read": 1758188065,
    }
    assert message["conversation"] == {
        "id": "a75d17ad06104c51166f948319b03c6a",
        "originType": "utility",
        "expirationTimestamp": 1758273600,
    }
    assert message["pricing"]["category"] == "utility" and message["pricing"]["billable"] is True
    assert message["awsMessageId"] == "150bb72e-0942-4a5f-8bfe-cf04f4c2f047"


def test_a_late_delivered_never_overwrites_read(
    service: InboundService, tables: MemoryTables, clock: FakeClock
) -> None:
    mid = outbound(tables, clock)
    service.ingest_document(load("eum-status-read.sns-lambda.json"))
    service.ingest_document(load("eum-status-delivered.sns-lambda.json"))
    service.ingest_document(load("eum-status-sent.sns-lambda.json"))
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None and message["status"] == "read"
    assert set(message["statusTimestamps"]) == {"sending", "sent", "delivered", "read"}


def test_failed_stores_the_errors(service: InboundService, tables: MemoryTables, clock: FakeClock) -> None:
    mid = outbound(
        tables, clock, wamid="wamid.HBgMNDQ3ODk4NzY1NDMyFQIAERgSD4181CE92FB7E84332AA==", status="sent"
    )
    assert service.ingest_document(load("eum-status-failed-131047.sns-lambda.json")).statuses == 1
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None and message["status"] == "failed"
    assert message["errorDetails"]["code"] == "131047"
    assert "more than 24 hours" in message["errorDetails"]["message"]
    assert message["errorDetails"]["requestId"] == "47fd4b98-efd4-4f30-9eaf-c1349b1641c3"
    assert message["whatsappErrors"][0]["code"] == 131047
    assert message["statusTimestamps"]["failed"] == 1758188300


def test_failure_never_undoes_delivery(tables: MemoryTables, clock: FakeClock) -> None:
    mid = outbound(tables, clock, status="sent")
    tracker = StatusTracker(tables, clock)
    assert tracker.apply(update("delivered", 10)) == "applied"
    assert tracker.apply(update("failed", 11, errors=[{"code": 1, "title": "x"}])) == "recorded"
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None and message["status"] == "delivered" and "errorDetails" not in message
    assert message["statusTimestamps"]["failed"] == 11


def test_duplicate_status_writes_nothing(tables: MemoryTables, clock: FakeClock) -> None:
    mid = outbound(tables, clock)
    tracker = StatusTracker(tables, clock)
    assert tracker.apply(update("sent", 10)) == "applied"
    before = tables["Messages"].get({"messageId": mid})
    assert tracker.apply(update("sent", 10)) == "stale"
    assert tables["Messages"].get({"messageId": mid}) == before


def test_status_before_its_message_is_kept_and_applied_when_it_appears(
    service: InboundService, tables: MemoryTables, clock: FakeClock
) -> None:
    result = service.ingest_document(load("eum-status-delivered.sns-lambda.json"))
    assert result.pendingStatuses == 1
    pending = tables["Messages"].get({"messageId": pending_key(AWS_ID, "delivered")})
    assert pending is not None and pending["kind"] == "pending-status" and pending["pendingFor"] == AWS_ID
    assert pending["expiresAt"] == int(clock.now()) + 30 * 86400
    # Messages' byStatus/byWhatsappMessageId indexes never see it.
    assert tables["Messages"].query("delivered", index="byStatus").items == []
    assert tables["Messages"].query(AWS_ID, index="byWhatsappMessageId").items == []

    # The gateway records the send response (AWS id + status in one write), then applies pending statuses.
    mid = outbound(tables, clock, wamid="")
    tables["Messages"].update({"messageId": mid}, Update(set={"whatsappMessageId": AWS_ID, "status": "sent"}))
    assert service.apply_pending_statuses(AWS_ID) == 1
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None and message["status"] == "delivered"
    assert message["metaMessageId"] == WAMID
    assert tables["Messages"].get({"messageId": pending_key(AWS_ID, "delivered")}) is None
    assert apply_pending_statuses(tables, clock, AWS_ID) == 0  # nothing left, nothing double-applied


def test_pending_status_applied_when_the_message_lands_during_the_put(
    tables: MemoryTables, clock: FakeClock
) -> None:
    class Racing(StatusTracker):
        calls = 0

        def find_outbound(self, whatsapp_message_id: str) -> dict[str, Any] | None:
            Racing.calls += 1
            if Racing.calls == 1:  # the first lookup misses; the gateway's write lands right after it
                outbound(tables, clock)
                return None
            return super().find_outbound(whatsapp_message_id)

    assert Racing(tables, clock).apply(update("read", 50)) == "pending"
    message = tables["Messages"].get({"messageId": "msg_out1"})
    assert message is not None and message["status"] == "read"
    assert tables["Messages"].scan(filter=eq("kind", "pending-status")).items == []


def test_unknown_status_values_are_ignored(tables: MemoryTables, clock: FakeClock) -> None:
    outbound(tables, clock)
    assert StatusTracker(tables, clock).apply(update("deleted", 5)) == "ignored"


def test_several_statuses_in_one_event(
    service: InboundService, tables: MemoryTables, clock: FakeClock
) -> None:
    mid = outbound(tables, clock)
    value = status_value(WAMID, "sent", 100)
    value["statuses"].append({"id": WAMID, "status": "delivered", "timestamp": "101", "recipient_id": "1"})
    result = service.handle_sns_event(sns_event(json.dumps(envelope(value, aws_message_id=AWS_ID))))
    assert result.statuses == 2
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None and message["status"] == "delivered"


def test_can_advance_is_a_total_order() -> None:
    order = ["sending", "sent", "failed", "delivered", "read"]
    for a, b in itertools.permutations(order, 2):
        if b != "sending":
            assert can_advance(a, b) == (order.index(b) > order.index(a))
    assert not can_advance("read", "unknown-value")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(st.sampled_from(["sent", "delivered", "read", "failed"]), min_size=1, max_size=8))
def test_final_status_is_the_highest_seen_whatever_the_order(events: list[str]) -> None:
    clock = FakeClock()
    tables = MemoryTables(clock)
    outbound(tables, clock)
    tracker = StatusTracker(tables, clock)
    stamps = {"sent": 10, "failed": 15, "delivered": 20, "read": 30}
    for status in events:
        tracker.apply(update(status, stamps[status]))
    message = tables["Messages"].get({"messageId": "msg_out1"})
    assert message is not None
    assert message["status"] == max(events, key=RANK.__getitem__)
    assert {k: v for k, v in message["statusTimestamps"].items() if k != "sending"} == {
        s: stamps[s] for s in set(events)
    }


@pytest.mark.parametrize("first", ["sent", "delivered", "read", "failed"])
def test_pending_then_applied_equals_applied_directly(
    first: str, tables: MemoryTables, clock: FakeClock
) -> None:
    tracker = StatusTracker(tables, clock)
    tracker.apply(update(first, 7))
    outbound(tables, clock)
    assert tracker.apply_pending(AWS_ID) == 1
    message = tables["Messages"].get({"messageId": "msg_out1"})
    assert message is not None and message["status"] == first


def test_a_status_from_metas_own_webhook_matches_by_wamid(tables: MemoryTables, clock: FakeClock) -> None:
    # Meta's webhook carries no AWS message id; a message whose wamid we know is still found.
    outbound(tables, clock, wamid=WAMID)
    assert StatusTracker(tables, clock).apply(update("delivered", 9, aws="")) == "applied"
    message = tables["Messages"].get({"messageId": "msg_out1"})
    assert message is not None and message["status"] == "delivered"


def test_the_gateways_recorded_id_is_what_eum_statuses_match(
    service: InboundService, tables: MemoryTables, clock: FakeClock
) -> None:
    # The message as the gateway stores it: whatsappMessageId = the id SendWhatsAppMessage returned.
    mid = outbound(tables, clock, wamid=AWS_ID, status="sent")
    service.ingest_document(load("eum-status-read.sns-lambda.json"))
    message = tables["Messages"].get({"messageId": mid})
    assert message is not None and message["status"] == "read"
    assert message["metaMessageId"] == WAMID
