"""Driving a job through the queue in tests: receive, process, re-queue, delete — like the consumer."""

from __future__ import annotations

from collections import Counter

from gateway.bulk.chunks import BULK_QUEUE
from gateway.bulk.consumer import handle_chunk
from gateway.bulk.worker import BulkWorker

from .conftest import World


def drain(world: World, worker: BulkWorker, *, max_rounds: int = 500) -> int:
    """Process every chunk on bulk-queue (advancing the fake clock past delays); returns chunks handled."""
    queue = world.queues[BULK_QUEUE]
    handled = 0
    for _ in range(max_rounds):
        messages = queue.receive(10, visibility_timeout=600)
        if not messages:
            if queue.approximate_count() == 0:
                return handled
            world.clock.advance(60)
            continue
        for message in messages:
            handle_chunk(worker, queue, message.body)
            queue.delete(message.receipt_handle)
            handled += 1
    raise AssertionError("the queue did not drain")


def statuses(world: World, job_id: str) -> Counter[str]:
    items = world.tables["BulkRecipients"].query(job_id, limit=100_000).items
    return Counter(str(i["status"]) for i in items)


def assert_counters_match(world: World, job_id: str) -> None:
    job = world.tables["BulkJobs"].get({"jobId": job_id})
    assert job is not None
    tally = statuses(world, job_id)
    for status in ("pending", "sending", "sent", "failed", "rejected", "deferred", "cancelled", "unknown"):
        assert job.get(f"{status}Count", 0) == tally.get(status, 0), (status, job, tally)
