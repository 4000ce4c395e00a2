from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.clock import FakeClock
from gateway.dlq import DlqService
from gateway.inbound.service import INBOUND_DLQ, InboundService
from gateway.queue.memory import MemoryQueues
from gateway.store.memory import MemoryTables

from .fakes import FakeContacts


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tables(clock: FakeClock) -> MemoryTables:
    return MemoryTables(clock)


@pytest.fixture
def queues(clock: FakeClock) -> MemoryQueues:
    return MemoryQueues(clock)


@pytest.fixture
def contacts(clock: FakeClock) -> FakeContacts:
    return FakeContacts(clock)


@pytest.fixture
def dlq(tables: MemoryTables, queues: MemoryQueues, clock: FakeClock) -> DlqService:
    return DlqService(tables, queues, clock)


@pytest.fixture
def make_service(
    tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> Callable[..., InboundService]:
    def build(**kw: Any) -> InboundService:
        service = InboundService(tables, clock, kw.pop("contacts", contacts), dlq, **kw)
        dlq.register(INBOUND_DLQ, service.replay)  # as the composition root does
        return service

    return build


@pytest.fixture
def service(make_service: Callable[..., InboundService]) -> InboundService:
    return make_service()
