"""DecisionService: listing stored decisions with filters and pages; reading them for replay."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.clock import FakeClock
from gateway.decisions import DecisionService
from gateway.errors import InvalidInput
from gateway.policy.engine import PolicyEngine
from gateway.store.memory import MemoryTables

from .conftest import NOW, policy_input


def store(tables: MemoryTables, engine: PolicyEngine, n: int, at: float, **patch: Any) -> list[str]:
    ids = []
    for i in range(n):
        doc = policy_input(**patch)
        message_id = f"msg-{at}-{i}"
        tables["Messages"].put(
            {
                "messageId": message_id,
                "kind": "message",
                "direction": "outbound",
                "contactId": "ct_1",
                "channel": doc["request"]["channel"],
                "timestamp": at + i,
                "status": "sending",
                "decision": engine.evaluate(doc).to_dict(),
                "policyInput": doc,
                "expiresAt": int(NOW) + 10**7,
            }
        )
        ids.append(message_id)
    return ids


@pytest.fixture
def world(fast: PolicyEngine) -> tuple[MemoryTables, DecisionService]:
    clock = FakeClock(NOW)
    tables = MemoryTables(clock)
    store(tables, fast, 3, NOW - 100)  # allowed WhatsApp
    store(tables, fast, 2, NOW - 50, contact={"optInWhatsApp": False})  # OPT_IN_REQUIRED
    store(tables, fast, 2, NOW - 10, request={"channel": "sms", "phoneNumberId": ""}, tier={"used24h": 0})
    tables["Messages"].put(
        {
            "messageId": "in-1",
            "kind": "message",
            "direction": "inbound",
            "channel": "whatsapp",
            "timestamp": NOW,
            "status": "received",
            "expiresAt": int(NOW) + 10**7,
        }
    )
    tables["Messages"].put({"messageId": "idem#x", "kind": "idempotency", "expiresAt": int(NOW) + 10**7})
    return tables, DecisionService(tables, clock)


def test_lists_outbound_decisions_newest_first(world: tuple[MemoryTables, DecisionService]) -> None:
    _, service = world
    page = service.list(limit=100)
    assert len(page["items"]) == 7 and page["cursor"] is None
    stamps = [i["timestamp"] for i in page["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all("policyInput" not in i for i in page["items"])
    assert {"messageId", "channel", "timestamp", "decision"} <= set(page["items"][0])


def test_filters(world: tuple[MemoryTables, DecisionService]) -> None:
    _, service = world
    assert len(service.list(reason="OPT_IN_REQUIRED")["items"]) == 2
    assert len(service.list(allowed=False)["items"]) == 2
    assert len(service.list(allowed=True)["items"]) == 5
    assert len(service.list(channel="sms")["items"]) == 2
    assert len(service.list(since=NOW - 60, until=NOW - 40)["items"]) == 2
    assert service.list(reason="TIER_LIMIT")["items"] == []
    with_input = service.list(channel="sms", include_input=True)["items"]
    assert with_input[0]["policyInput"]["request"]["channel"] == "sms"


def test_pages_follow_the_cursor(world: tuple[MemoryTables, DecisionService]) -> None:
    _, service = world
    seen: list[str] = []
    cursor = None
    while True:
        page = service.list(limit=2, cursor=cursor)
        seen.extend(i["messageId"] for i in page["items"])
        cursor = page["cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "kwargs", [{"limit": 0}, {"limit": 501}, {"channel": "fax"}, {"since": NOW, "until": NOW - 1}]
)
def test_invalid_filters_are_refused(
    world: tuple[MemoryTables, DecisionService], kwargs: dict[str, Any]
) -> None:
    _, service = world
    with pytest.raises(InvalidInput):
        service.list(**kwargs)


def test_iter_recorded_yields_every_input_with_its_decision(
    world: tuple[MemoryTables, DecisionService],
) -> None:
    _, service = world
    records = list(service.iter_recorded(page_size=3))
    assert len(records) == 7
    denied = [r for r in records if not r.decision["allowed"]]
    assert len(denied) == 2 and denied[0].policy_input["contact"]["optInWhatsApp"] is False
