from __future__ import annotations

import json
from collections import Counter

from gateway.bulk.chunks import BULK_DLQ, BULK_QUEUE, Chunk
from gateway.bulk.consumer import dead_letter_handler, handle_chunk, poll_once, requeue
from gateway.dlq import DlqService

from .conftest import TEXT, World
from .helpers import statuses


def test_poll_once_handles_and_deletes(world: World) -> None:
    ids = world.add_contacts(150)
    job, _ = world.service().create(actor="u", channel="whatsapp", content=TEXT, contact_ids=ids)
    queue = world.queues[BULK_QUEUE]
    worker = world.worker()
    assert poll_once(worker, queue, max_messages=10) == 2
    assert queue.approximate_count() == 0
    assert statuses(world, job.job_id) == Counter({"sent": 150})


def test_handed_back_recipients_are_requeued_in_chunks_with_the_delay(world: World) -> None:
    ids = world.add_contacts(12)
    job, _ = world.service().create(actor="u", channel="sms", content=TEXT, contact_ids=ids)
    queue = world.queues[BULK_QUEUE]
    (message,) = queue.receive(1, visibility_timeout=600)
    result = handle_chunk(world.worker(max_rate_wait=0.0), queue, message.body)
    queue.delete(message.receipt_handle)
    assert result.retry and queue.approximate_count() == 1
    assert queue.receive(1) == []  # delayed
    world.clock.advance(5)
    (again,) = queue.receive(1)
    assert json.loads(again.body)["recipientIds"] == result.retry
    assert requeue(queue, job.job_id, [f"r{i}" for i in range(250)], 10_000) == 3  # chunks of <= 100


def test_the_bulk_dlq_replay_resumes_exactly_the_unsent(world: World) -> None:
    ids = world.add_contacts(5)
    job, _ = world.service().create(actor="u", channel="whatsapp", content=TEXT, contact_ids=ids)
    queue = world.queues[BULK_QUEUE]
    queue.receive(1, visibility_timeout=600)  # taken by a worker that keeps failing...
    worker = world.worker()
    worker.process_chunk(Chunk(job.job_id, tuple(ids[:2])).body())  # ...after two were sent
    world.queues[BULK_DLQ].send(Chunk(job.job_id, tuple(ids)).body())
    dlq = DlqService(world.tables, world.queues, world.clock, audit=world.audit)
    dlq.register(BULK_DLQ, dead_letter_handler(worker, queue))
    report = dlq.replay(BULK_DLQ, 10, actor="usr_admin")
    assert report.replayed == 1, report
    assert statuses(world, job.job_id) == Counter({"sent": 5})
    calls = world.driver_calls()
    assert len(calls) == 5 and len(set(calls)) == 5
