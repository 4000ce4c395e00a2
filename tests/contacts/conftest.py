"""Contact service fixtures, on both embedded adapters: the in-memory fake and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.contacts.service import ContactService
from gateway.store.memory import MemoryTables
from gateway.store.port import Tables
from gateway.store.sqlite import SqliteTables


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def tables(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Tables]:
    store: Tables = (
        MemoryTables(clock) if request.param == "memory" else SqliteTables(tmp_path / "wecare.db", clock)
    )
    yield store
    store.close()


@pytest.fixture
def audit(tables: Tables, clock: FakeClock) -> AuditLog:
    return AuditLog(tables, clock)


@pytest.fixture
def contacts(tables: Tables, clock: FakeClock, audit: AuditLog) -> ContactService:
    return ContactService(tables, clock, audit)
