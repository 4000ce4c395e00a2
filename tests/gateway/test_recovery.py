from __future__ import annotations

from collections.abc import Callable

from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.recovery import SendRecovery
from gateway.outbound.types import OutboundRequest, TextContent
from gateway.store.memory import MemoryTables
from gateway.store.port import Update

from .fakes import StoreCheckingDriver, contact_item


def sending(tables: MemoryTables, mid: str, ts: float) -> None:
    tables["Messages"].put(
        {
            "messageId": mid,
            "kind": "message",
            "contactId": "ct_1",
            "channel": "sms",
            "direction": "outbound",
            "status": "sending",
            "timestamp": ts,
            "statusTimestamps": {"sending": ts},
            "expiresAt": int(ts) + 30 * 86400,
        }
    )


def test_stale_sends_become_unknown_with_one_alert_and_are_not_resent(
    tables: MemoryTables,
    clock: FakeClock,
    alerts: LocalAlerts,
    metrics: Metrics,
    drivers: dict[str, StoreCheckingDriver],
) -> None:
    now = clock.now()
    sending(tables, "msg_old1", now - 600)
    sending(tables, "msg_old2", now - 301)
    sending(tables, "msg_fresh", now - 10)
    report = SendRecovery(tables, clock, alerts, metrics, stale_after=300).run()
    assert sorted(report.marked_unknown) == ["msg_old1", "msg_old2"]
    old = tables["Messages"].get({"messageId": "msg_old1"})
    assert old is not None and old["status"] == "unknown"
    assert old["errorDetails"]["code"] == "OUTCOME_UNKNOWN"
    assert old["statusTimestamps"] == {"sending": now - 600, "unknown": now}
    assert tables["Messages"].get({"messageId": "msg_fresh"})["status"] == "sending"
    assert len(alerts.recent) == 1 and alerts.recent[0].severity == "critical"
    assert "msg_old1" in alerts.recent[0].message
    assert metrics.counter("messages_unknown_total", {"channel": "sms"}) == 2
    assert sum(len(d.calls) for d in drivers.values()) == 0  # never resent
    assert SendRecovery(tables, clock, alerts, metrics, stale_after=300).run().marked_unknown == []
    assert len(alerts.recent) == 1


def test_a_crash_between_the_driver_call_and_the_status_write_is_recovered(
    *,
    make_gateway: Callable[..., Gateway],
    tables: MemoryTables,
    clock: FakeClock,
    alerts: LocalAlerts,
    metrics: Metrics,
    drivers: dict[str, StoreCheckingDriver],
) -> None:
    tables["Contacts"].put(contact_item("ct_1", now=clock.now()))
    gateway = make_gateway()
    original = tables["Messages"].put

    def crash_on_status_write(item, *, condition=None):  # type: ignore[no-untyped-def]
        if item.get("status") == "sent":
            raise SystemExit("process killed")
        return original(item, condition=condition)

    tables["Messages"].put = crash_on_status_write  # type: ignore[method-assign]
    try:
        gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("hi")))
    except SystemExit:
        pass
    finally:
        tables["Messages"].put = original  # type: ignore[method-assign]
    assert len(drivers["sms"].calls) == 1
    [stuck] = tables["Messages"].query("sending", index="byStatus").items
    clock.advance(301)
    report = SendRecovery(tables, clock, alerts, metrics).run()
    assert report.marked_unknown == [stuck["messageId"]]
    assert tables["Messages"].get({"messageId": stuck["messageId"]})["status"] == "unknown"
    assert len(drivers["sms"].calls) == 1


def test_a_send_that_finished_meanwhile_is_left_alone(
    tables: MemoryTables, clock: FakeClock, alerts: LocalAlerts, metrics: Metrics
) -> None:
    sending(tables, "msg_1", clock.now() - 900)
    messages = tables["Messages"]
    original = messages.query

    def query_then_finish(*args, **kwargs):  # type: ignore[no-untyped-def]
        page = original(*args, **kwargs)
        messages.update({"messageId": "msg_1"}, Update(set={"status": "sent"}))  # the slow send answers
        return page

    messages.query = query_then_finish  # type: ignore[method-assign]
    try:
        assert SendRecovery(tables, clock, alerts, metrics).run().marked_unknown == []
    finally:
        messages.query = original  # type: ignore[method-assign]
    assert messages.get({"messageId": "msg_1"})["status"] == "sent"
    assert alerts.recent == []
