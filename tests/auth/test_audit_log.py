"""AuditLogs records: the fields the requirements name, a 180-day TTL in epoch seconds, and a log line."""

from __future__ import annotations

import logging

import pytest

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.store.memory import MemoryTables


def test_a_record_has_every_field_and_expires_in_180_days(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(1_764_067_200.5)
    tables = MemoryTables(clock)
    caplog.set_level(logging.INFO, logger="wecare.audit")
    item = AuditLog(tables, clock).record("usr_1", "user.role_change", "user", "usr_2", {"old": "Viewer"})
    assert item["logId"].startswith("log_")
    assert {k: item[k] for k in ("userId", "action", "resourceType", "resourceId", "details")} == {
        "userId": "usr_1",
        "action": "user.role_change",
        "resourceType": "user",
        "resourceId": "usr_2",
        "details": {"old": "Viewer"},
    }
    assert item["timestamp"] == 1_764_067_200.5
    assert item["expiresAt"] == 1_764_067_200 + 180 * 24 * 3600 and isinstance(item["expiresAt"], int)
    assert tables["AuditLogs"].get({"logId": item["logId"]}) == item
    assert any(r.name == "wecare.audit" and "user.role_change" in r.getMessage() for r in caplog.records)


def test_records_are_found_by_user_newest_first_and_vanish_after_their_ttl() -> None:
    clock = FakeClock()
    tables = MemoryTables(clock)
    audit = AuditLog(tables, clock)
    audit.record("usr_1", "a", "x", "1")
    clock.advance(10)
    audit.record("usr_1", "b", "x", "2")
    audit.record("usr_2", "c", "x", "3")
    assert [r["action"] for r in audit.for_user("usr_1")] == ["b", "a"]
    clock.advance(180 * 24 * 3600)
    assert audit.for_user("usr_1") == []


def test_an_empty_user_is_recorded_as_anonymous() -> None:
    clock = FakeClock()
    assert (
        AuditLog(MemoryTables(clock), clock).record("", "auth.login.failure", "user", "x")["userId"]
        == "anonymous"
    )
