from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.errors import InvalidInput, NotFound
from gateway.messages.query import MessageQueryService
from gateway.store.memory import MemoryTables

T0 = 1_764_067_200.0


def put(
    tables: MemoryTables,
    mid: str,
    *,
    ts: float,
    contact: str = "ct_1",
    channel: str = "whatsapp",
    status: str = "sent",
    direction: str = "outbound",
) -> None:
    tables["Messages"].put(
        {
            "messageId": mid,
            "kind": "message",
            "contactId": contact,
            "channel": channel,
            "direction": direction,
            "status": status,
            "timestamp": ts,
            "content": {"type": "text", "body": mid},
            "decision": {"allowed": status != "rejected", "reasons": [], "warnings": [], "violations": []},
            "policyInput": {"now": int(ts)},
            "requestHash": "sha256:x",
            "expiresAt": int(ts) + 30 * 86400,
        }
    )


@pytest.fixture
def service(tables: MemoryTables) -> MessageQueryService:
    return MessageQueryService(tables)


def test_get_returns_the_decision_and_input_but_not_internal_fields(
    service: MessageQueryService, tables: MemoryTables
) -> None:
    put(tables, "msg_1", ts=T0)
    message = service.get("msg_1")
    assert message["decision"]["allowed"] is True
    assert message["policyInput"] == {"now": int(T0)}
    assert "requestHash" not in message


def test_get_refuses_other_record_kinds(service: MessageQueryService, tables: MemoryTables) -> None:
    tables["Messages"].put({"messageId": "idem#u#k", "kind": "idempotency", "resultMessageId": "msg_1"})
    with pytest.raises(NotFound):
        service.get("idem#u#k")
    with pytest.raises(NotFound):
        service.get("msg_missing")


def test_list_filters_and_orders_newest_first(service: MessageQueryService, tables: MemoryTables) -> None:
    put(tables, "a", ts=T0 + 1, channel="sms", status="failed")
    put(tables, "b", ts=T0 + 2, status="rejected")
    put(tables, "c", ts=T0 + 3, contact="ct_2")
    put(tables, "d", ts=T0 + 4, direction="inbound", status="received")
    tables["Messages"].put({"messageId": "idem#u#k", "kind": "idempotency", "resultMessageId": "a"})

    def ids(**kw: Any) -> list[str]:
        return [m["messageId"] for m in service.list_page(**kw).items]

    assert ids() == ["d", "c", "b", "a"]
    assert ids(contact_id="ct_1") == ["d", "b", "a"]
    assert ids(contact_id="ct_1", channel="sms") == ["a"]
    assert ids(status="rejected") == ["b"]
    assert ids(contact_id="ct_1", status="failed") == ["a"]
    assert ids(direction="inbound") == ["d"]
    assert ids(channel="email") == []
    row = service.list_page(status="rejected").items[0]
    assert "policyInput" not in row and row["decision"] == {"allowed": False, "reasons": [], "warnings": []}


@pytest.mark.parametrize(
    "kw", [{"channel": "fax"}, {"status": "lost"}, {"direction": "sideways"}, {"limit": 0}, {"limit": 500}]
)
def test_invalid_filters_are_explained(service: MessageQueryService, kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        service.list_page(**kw)


def test_a_cursor_is_bound_to_its_query(service: MessageQueryService, tables: MemoryTables) -> None:
    for i in range(3):
        put(tables, f"m{i}", ts=T0 + i)
    page = service.list_page(limit=1)
    assert page.cursor is not None
    with pytest.raises(InvalidInput) as err:
        service.list_page(limit=1, cursor=page.cursor, channel="sms")
    assert err.value.code == "INVALID_CURSOR"
    with pytest.raises(InvalidInput):
        service.list_page(cursor="garbage!")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(["sent", "failed", "rejected", "received"]),
            st.sampled_from(["ct_1", "ct_2"]),
        ),
        max_size=30,
    ),
    limit=st.integers(1, 7),
    by_contact=st.booleans(),
)
def test_paging_returns_every_message_once_in_order_even_with_ties(
    rows: list[tuple[int, str, str]], limit: int, by_contact: bool
) -> None:
    tables = MemoryTables(FakeClock())
    for i, (ts, status, contact) in enumerate(rows):
        put(tables, f"m{i:02d}", ts=T0 + ts, status=status, contact=contact)  # many equal timestamps
    service = MessageQueryService(tables)
    kw: dict[str, Any] = {"contact_id": "ct_1"} if by_contact else {}
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = service.list_page(limit=limit, cursor=cursor, **kw)
        assert len(page.items) <= limit
        seen.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break
    expected = sorted(
        (
            r
            for r in ((T0 + ts, f"m{i:02d}", c) for i, (ts, _s, c) in enumerate(rows))
            if not by_contact or r[2] == "ct_1"
        ),
        reverse=True,
    )
    assert [m["messageId"] for m in seen] == [mid for _ts, mid, _c in expected]
