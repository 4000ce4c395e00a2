"""Random interleavings of deliveries (duplicates, redelivery), pause, resume, cancel and crashes.

Whatever the order: no recipient is sent twice, none is lost, and the job's counters equal its
recipients' states after every step.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bulk.chunks import Chunk
from gateway.bulk.service import BulkService
from gateway.bulk.worker import BulkWorker
from gateway.clock import FakeClock
from gateway.errors import Conflict
from gateway.store.memory import MemoryTables
from gateway.store.port import Tables
from gateway.store.sqlite import SqliteTables

from .conftest import TEXT, World, build_world
from .helpers import assert_counters_match, statuses
from .test_worker import DiesAfterSend

N = 12
CHUNKS = 4  # of 3 recipients each

op = st.one_of(
    st.tuples(st.just("deliver"), st.integers(0, CHUNKS - 1)),
    st.tuples(st.just("crash_in_driver"), st.integers(0, CHUNKS - 1)),
    st.tuples(st.just("crash_after_send"), st.integers(0, CHUNKS - 1)),
    st.tuples(st.just("crash_after_claim"), st.integers(0, N - 1)),
    st.tuples(st.just("pause"), st.just(0)),
    st.tuples(st.just("resume"), st.just(0)),
    st.tuples(st.just("cancel"), st.just(0)),
)


def _check(world: World, job_id: str, addresses: dict[str, str]) -> None:
    calls = Counter(world.driver_calls())
    assert all(n == 1 for n in calls.values()), calls  # nobody sent twice
    assert world.violations() == []
    items = world.tables["BulkRecipients"].query(job_id, limit=1000).items
    for item in items:
        if item["status"] == "sent":
            assert calls[addresses[item["recipientId"]]] == 1
        if item["status"] in ("pending", "cancelled"):
            assert calls[addresses[item["recipientId"]]] == 0
    assert_counters_match(world, job_id)


@dataclass
class Run:
    world: World
    service: BulkService
    worker: BulkWorker
    job_id: str
    ids: list[str]
    bodies: list[str]

    def deliver(self, arg: int) -> None:
        self.worker.process_chunk(self.bodies[arg])

    def crash_in_driver(self, arg: int) -> None:
        driver = self.world.drivers["whatsapp"]
        driver.boom = RuntimeError("killed inside the provider call")
        with contextlib.suppress(RuntimeError):
            self.worker.process_chunk(self.bodies[arg])
        driver.boom = None

    def crash_after_send(self, arg: int) -> None:
        dying = BulkWorker(
            self.world.tables, self.world.clock, DiesAfterSend(self.world, self.ids[arg * 3]), stale_after=0
        )
        with contextlib.suppress(SystemExit):
            dying.process_chunk(self.bodies[arg])

    def crash_after_claim(self, arg: int) -> None:
        with contextlib.suppress(Conflict):
            self.service.jobs.transition(self.job_id, "running", expect=("pending",))
        if self.service.jobs.require(self.job_id).status == "running":
            self.worker.recipients.claim(self.job_id, self.ids[arg])

    def control(self, name: str) -> None:
        with contextlib.suppress(Conflict):
            getattr(self.service, name)(self.job_id, "usr_op")


def _run(tables: Tables, clock: FakeClock, ops: list[tuple[str, int]]) -> None:
    world = build_world(tables, clock)
    ids = world.add_contacts(N)
    addresses = {contact_id: f"+4478{i:08d}" for i, contact_id in enumerate(ids)}
    service = world.service()
    job, _ = service.create(actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids)
    bodies = [Chunk(job.job_id, tuple(ids[i * 3 : (i + 1) * 3])).body() for i in range(CHUNKS)]
    run = Run(world, service, world.worker(), job.job_id, ids, bodies)
    for name, arg in ops:
        if name in ("pause", "resume", "cancel"):
            run.control(name)
        else:
            getattr(run, name)(arg)
        world.clock.advance(1)
        _check(world, job.job_id, addresses)
    # Finally: resume if paused, redeliver everything until nothing moves.
    run.control("resume")
    for _ in range(3):
        for body in bodies:
            run.deliver(bodies.index(body))
    _check(world, job.job_id, addresses)
    final = service.jobs.require(job.job_id)
    tally = statuses(world, job.job_id)
    assert final.status in ("completed", "cancelled"), (final.status, tally)
    assert set(tally) <= {"sent", "unknown", "cancelled"}  # none lost: each one has a final answer
    if final.status == "completed":
        assert tally["cancelled"] == 0
    # Each sent or unknown recipient was handed to the driver exactly once; nobody else was.
    assert sum(Counter(world.driver_calls()).values()) == tally["sent"] + tally["unknown"]
    assert final.counts()["sent"] == tally["sent"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=25))
def test_interleavings_on_memory(ops: list[tuple[str, int]]) -> None:
    clock = FakeClock()
    _run(MemoryTables(clock), clock, ops)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=25))
def test_interleavings_on_sqlite(ops: list[tuple[str, int]]) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        tables = SqliteTables(Path(tmp) / "p.db", clock)
        try:
            _run(tables, clock, ops)
        finally:
            tables.close()
