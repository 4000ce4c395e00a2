"""A bulk world: a real Gateway over MemoryTables or a real SQLite file, with spying drivers.

Every test that takes ``world`` runs twice, once per store (``memory``, ``sqlite``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from channels.base import Channel, PreparedRequest, SendResult
from channels.errors import ChannelError
from gateway.alerts import LocalAlerts
from gateway.audit import AuditLog
from gateway.bulk.service import BulkService
from gateway.bulk.worker import BulkWorker
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.ratelimit import RateLimiter, RateLimits
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import Outbox, TextContent
from gateway.queue.memory import MemoryQueues
from gateway.store.memory import MemoryTables
from gateway.store.port import Tables
from gateway.store.sqlite import SqliteTables
from tests.gateway.fakes import PARAMS, RuleEngine, StoreCheckingDriver, builders, contact_item

TEXT = TextContent("Hello from the bulk tests")


class PickyDriver(StoreCheckingDriver):
    """A StoreCheckingDriver that fails chosen addresses: ``fail_for[to] = [error, ...]``, one per call."""

    def __init__(self, channel: Channel, tables: Tables, builder: Any) -> None:
        super().__init__(channel, tables, builder)
        self.fail_for: dict[str, list[ChannelError]] = {}

    def send(self, prepared: PreparedRequest) -> SendResult:
        queued = self.fail_for.get(str(prepared.info.get("to")))
        self.fail_with = queued.pop(0) if queued else None
        try:
            return super().send(prepared)
        finally:
            self.fail_with = None


@dataclass
class World:
    tables: Tables
    clock: FakeClock
    queues: MemoryQueues
    gateway: Gateway
    drivers: dict[Channel, PickyDriver]
    engine: RuleEngine
    tier: TierTracker
    audit: AuditLog
    settings: Settings

    def worker(self, **kw: Any) -> BulkWorker:
        kw.setdefault("stale_after", 0.0)
        kw.setdefault("tier", self.tier)
        kw.setdefault("status_check_seconds", 0.0)  # every recipient sees a pause at once
        return BulkWorker(self.tables, self.clock, self.gateway, audit=self.audit, **kw)

    def service(self, **kw: Any) -> BulkService:
        kw.setdefault("tier", self.tier)
        return BulkService(self.tables, self.clock, self.queues, self.gateway, self.audit, **kw)

    def add_contacts(self, n: int, prefix: str = "ct", **kw: Any) -> list[str]:
        ids = [f"{prefix}{i:05d}" for i in range(n)]
        kw.setdefault("last_inbound", self.clock.now() - 60)  # inside the window: free text may go
        contacts = self.tables["Contacts"]
        for i, contact_id in enumerate(ids):
            contacts.put(contact_item(contact_id, now=self.clock.now(), phone=f"+4478{i:08d}", **kw))
        return ids

    def driver_calls(self) -> list[str]:
        """Every recipient address any driver was asked to send to, in call order."""
        return [str(p.info.get("to")) for d in self.drivers.values() for p in d.calls]

    def violations(self) -> list[str]:
        return [v for d in self.drivers.values() for v in d.violations]


def build_world(tables: Tables, clock: FakeClock) -> World:
    metrics = Metrics()
    settings = Settings(SEND_MODE=SendMode.LIVE, ENVIRONMENT=Environment.production)
    engine = RuleEngine()
    tier = TierTracker(tables, clock, LocalAlerts(metrics), metrics, default_limit=250)
    drivers: dict[Channel, PickyDriver] = {ch: PickyDriver(ch, tables, b) for ch, b in builders().items()}
    audit = AuditLog(tables, clock)
    gateway = Gateway(
        tables=tables,
        clock=clock,
        settings=settings,
        engine=engine,
        limits=RateLimits.from_params(PARAMS),
        limiter=RateLimiter(tables["RateLimitTrackers"], clock),
        tier=tier,
        drivers=drivers,
        metrics=metrics,
        outbox=Outbox(),
        audit=audit,
    )
    return World(tables, clock, MemoryQueues(clock), gateway, drivers, engine, tier, audit, settings)


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = FakeClock()
    path = tmp_path / "w.db"
    tables: Tables = MemoryTables(clock) if request.param == "memory" else SqliteTables(path, clock)
    yield build_world(tables, clock)
    tables.close()
