"""The ``Queue`` contract: the memory fake, the local SQLite queue and SQS (moto) behave the same.

Time-dependent cases use timeouts of about a second: the fakes run on a FakeClock (``advance``
moves it), SQS on moto runs on the wall clock (``advance`` sleeps), and SQS counts whole seconds.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from queue_helpers import Broker

from gateway.queue.port import MAX_BATCH, OutgoingMessage, Queue, ReceiptInvalid, ReceivedMessage


def receive_all(queue: Queue, visibility_timeout: float = 30) -> list[ReceivedMessage]:
    out: list[ReceivedMessage] = []
    while batch := queue.receive(MAX_BATCH, visibility_timeout=visibility_timeout):
        out.extend(batch)
    return out


def test_send_receive_delete(broker: Broker) -> None:
    queue = broker.queues["bulk-queue"]
    mid = queue.send('{"jobId": "j-1", "chunk": 0}', attributes={"jobId": "j-1", "kind": "chunk"})
    [got] = queue.receive()
    assert got.message_id == mid
    assert got.body == '{"jobId": "j-1", "chunk": 0}'
    assert dict(got.attributes) == {"jobId": "j-1", "kind": "chunk"}
    assert got.receive_count == 1
    assert got.sent_at > 0
    assert queue.receive() == []  # in flight: hidden from other receivers
    assert queue.approximate_count() == 1  # …but still counted
    queue.delete(got.receipt_handle)
    assert queue.approximate_count() == 0
    broker.advance(1.1)
    assert queue.receive(visibility_timeout=1) == []


def test_queues_are_separate(broker: Broker) -> None:
    broker.queues["bulk-queue"].send("for bulk")
    assert broker.queues["inbound-dlq"].receive() == []
    assert broker.queues["outbound-dlq"].approximate_count() == 0
    assert [m.body for m in broker.queues["bulk-queue"].receive()] == ["for bulk"]
    with pytest.raises(KeyError):
        broker.queues["no-such-queue"]


def test_batches_of_up_to_ten(broker: Broker) -> None:
    queue = broker.queues["bulk-queue"]
    ids = queue.send_batch([OutgoingMessage(f"m{i}", {"i": str(i)}) for i in range(MAX_BATCH)])
    assert len(ids) == MAX_BATCH == len(set(ids))
    got = receive_all(queue)
    assert sorted(m.body for m in got) == sorted(f"m{i}" for i in range(MAX_BATCH))
    assert {m.message_id for m in got} == set(ids)
    assert all(m.attributes["i"] == m.body[1:] for m in got)
    with pytest.raises(ValueError):
        queue.send_batch([OutgoingMessage("x")] * (MAX_BATCH + 1))
    with pytest.raises(ValueError):
        queue.send_batch([])
    with pytest.raises(ValueError):
        queue.receive(MAX_BATCH + 1)
    with pytest.raises(ValueError):
        queue.receive(0)


def test_a_message_not_deleted_comes_back_after_its_visibility_timeout(broker: Broker) -> None:
    queue = broker.queues["bulk-queue"]
    queue.send("work")
    [first] = queue.receive(visibility_timeout=1)
    broker.advance(0.4)
    assert queue.receive(visibility_timeout=1) == []
    broker.advance(0.8)
    [again] = queue.receive(visibility_timeout=1)
    assert again.message_id == first.message_id and again.body == "work"
    assert again.receive_count == 2
    assert again.receipt_handle != first.receipt_handle
    queue.delete(again.receipt_handle)
    assert queue.approximate_count() == 0


def test_change_visibility(broker: Broker) -> None:
    queue = broker.queues["inbound-dlq"]
    queue.send("a")
    [msg] = queue.receive(visibility_timeout=30)
    queue.change_visibility(msg.receipt_handle, 0)
    [back] = queue.receive(visibility_timeout=1)
    assert back.message_id == msg.message_id and back.receive_count == 2
    queue.change_visibility(back.receipt_handle, 30)  # extend: still hidden after the first timeout
    broker.advance(1.2)
    assert queue.receive() == []


def test_delayed_messages_stay_hidden_until_due(broker: Broker) -> None:
    queue = broker.queues["bulk-queue"]
    queue.send("later", delay_seconds=1)
    assert queue.receive() == []
    assert queue.approximate_count() == 1
    broker.advance(1.2)
    assert [m.body for m in queue.receive()] == ["later"]


def test_a_poison_message_moves_to_the_dlq_after_five_receives(broker: Broker) -> None:
    queue, dlq = broker.queues["bulk-queue"], broker.queues["bulk-dlq"]
    mid = queue.send("poison", attributes={"jobId": "j"})
    counts = []
    for _ in range(5):
        [m] = queue.receive(visibility_timeout=0)  # never deleted: as if the worker failed each time
        counts.append(m.receive_count)
    assert counts == [1, 2, 3, 4, 5]
    assert queue.receive(visibility_timeout=0) == []  # the sixth receive redrives it instead
    assert queue.approximate_count() == 0
    [dead] = dlq.receive()
    assert (dead.message_id, dead.body, dict(dead.attributes)) == (mid, "poison", {"jobId": "j"})
    dlq.delete(dead.receipt_handle)
    assert dlq.approximate_count() == 0


def test_queues_without_redrive_keep_redelivering(broker: Broker) -> None:
    queue = broker.queues["inbound-dlq"]
    queue.send("keeps coming")
    counts = [queue.receive(visibility_timeout=0)[0].receive_count for _ in range(8)]
    assert counts == list(range(1, 9))


def test_a_zero_visibility_batch_does_not_repeat_messages(broker: Broker) -> None:
    queue = broker.queues["inbound-dlq"]
    queue.send_batch([OutgoingMessage("a"), OutgoingMessage("b")])
    got = queue.receive(MAX_BATCH, visibility_timeout=0)
    assert sorted(m.body for m in got) == ["a", "b"]


def test_bad_receipt_handles_are_refused(broker: Broker) -> None:
    queue = broker.queues["bulk-queue"]
    queue.send("x")
    for bad in ("garbage", "123:nope"):
        with pytest.raises(ReceiptInvalid):
            queue.delete(bad)
        with pytest.raises(ReceiptInvalid):
            queue.change_visibility(bad, 5)
    assert queue.approximate_count() == 1


def test_concurrent_consumers_each_get_distinct_messages(broker: Broker) -> None:
    queue = broker.queues["bulk-queue"]
    total = 40
    for start in range(0, total, MAX_BATCH):
        queue.send_batch([OutgoingMessage(f"m{i:02d}") for i in range(start, start + MAX_BATCH)])
    consumers = 4
    barrier = threading.Barrier(consumers)

    def consume(_: int) -> list[str]:
        barrier.wait()
        got = []
        while batch := queue.receive(3, visibility_timeout=60):
            for m in batch:
                got.append(m.body)
                queue.delete(m.receipt_handle)
        return got

    with ThreadPoolExecutor(consumers) as pool:
        results = list(pool.map(consume, range(consumers)))
    bodies = [b for r in results for b in r]
    assert sorted(bodies) == [f"m{i:02d}" for i in range(total)]  # each exactly once
    assert queue.approximate_count() == 0
