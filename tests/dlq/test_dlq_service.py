from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.dlq import DlqService, dlq_message_id
from gateway.errors import InvalidInput, NotFound
from gateway.queue.memory import MemoryQueues
from gateway.store.memory import MemoryTables


class Recorder:
    """A replay handler that fails the payloads it is told to, and counts what it processed."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.calls: list[str] = []
        self.done: Counter[str] = Counter()

    def __call__(self, payload: str) -> None:
        self.calls.append(payload)
        if payload in self.failing:
            raise RuntimeError(f"cannot process {payload}")
        self.done[payload] += 1


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
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
def dlq(tables: MemoryTables, queues: MemoryQueues, clock: FakeClock, handler: Recorder) -> DlqService:
    return DlqService(tables, queues, clock, handlers={"inbound-dlq": handler}, audit=AuditLog(tables, clock))


def test_dead_letter_keeps_the_payload_on_the_queue_and_a_record(
    dlq: DlqService, queues: MemoryQueues, clock: FakeClock
) -> None:
    dlq_id = dlq.dead_letter(
        "inbound-dlq", '{"p": 1}', "ValueError: bad", original_message_id="sns-1", error_type="ValueError"
    )
    assert dlq_id == dlq_message_id("inbound-dlq", "sns-1")
    record = dlq.get(dlq_id)
    assert record == {
        "dlqMessageId": dlq_id,
        "kind": "dlq-message",
        "originalMessageId": "sns-1",
        "queueName": "inbound-dlq",
        "status": "pending",
        "retryCount": 0,
        "attempts": 1,
        "firstFailedAt": clock.now(),
        "lastAttemptAt": clock.now(),
        "payload": '{"p": 1}',
        "error": "ValueError: bad",
        "errorType": "ValueError",
        "expiresAt": int(clock.now()) + 7 * 86400,
    }
    [message] = queues["inbound-dlq"].receive(1)
    assert message.body == '{"p": 1}' and message.attributes["dlqMessageId"] == dlq_id


def test_records_expire_after_seven_days(dlq: DlqService, clock: FakeClock) -> None:
    dlq_id = dlq.dead_letter("inbound-dlq", "x", "err")
    clock.advance(7 * 86400 - 1)
    assert dlq.get(dlq_id)["status"] == "pending"
    clock.advance(1)
    with pytest.raises(NotFound):
        dlq.get(dlq_id)


def test_replay_success_deletes_from_the_queue(
    dlq: DlqService, queues: MemoryQueues, handler: Recorder, tables: MemoryTables
) -> None:
    dlq_id = dlq.dead_letter("inbound-dlq", "payload-1", "err", original_message_id="m1")
    report = dlq.replay("inbound-dlq", 10, actor="op-7")
    assert (report.received, report.replayed) == (1, 1)
    assert handler.calls == ["payload-1"]
    assert queues["inbound-dlq"].approximate_count() == 0
    record = dlq.get(dlq_id)
    assert record["status"] == "replayed" and "claimedUntil" not in record
    [audit] = tables["AuditLogs"].scan().items
    assert (audit["userId"], audit["action"], audit["resourceId"]) == ("op-7", "dlq.replay", "inbound-dlq")
    assert audit["details"]["replayed"] == 1


def test_failed_replay_counts_and_goes_back_on_the_queue(
    dlq: DlqService, queues: MemoryQueues, handler: Recorder
) -> None:
    dlq_id = dlq.dead_letter("inbound-dlq", "bad", "first error")
    handler.failing.add("bad")
    report = dlq.replay("inbound-dlq", 10)
    assert (report.failed, report.replayed) == (1, 0)
    assert "cannot process bad" in report.results[0].detail
    record = dlq.get(dlq_id)
    assert record["retryCount"] == 1 and record["attempts"] == 2 and record["status"] == "pending"
    assert record["error"] == "RuntimeError: cannot process bad"
    assert queues["inbound-dlq"].approximate_count() == 1
    handler.failing.clear()
    assert dlq.replay("inbound-dlq", 10).replayed == 1
    assert dlq.get(dlq_id)["status"] == "replayed"


def test_more_than_five_attempts_is_parked_and_never_replayed_again(
    dlq: DlqService, queues: MemoryQueues, handler: Recorder
) -> None:
    dlq_id = dlq.dead_letter("inbound-dlq", "bad", "err")
    handler.failing.add("bad")
    outcomes = [dlq.replay("inbound-dlq", 10).results[0].outcome for _ in range(5)]
    assert outcomes == ["failed"] * 4 + ["parked"]
    record = dlq.get(dlq_id)
    assert (record["status"], record["retryCount"], record["attempts"]) == ("parked", 5, 6)
    assert queues["inbound-dlq"].approximate_count() == 0
    handler.failing.clear()
    assert dlq.replay("inbound-dlq", 10).received == 0
    assert handler.done == Counter()
    assert [i["dlqMessageId"] for i in dlq.list_messages(status="parked")["items"]] == [dlq_id]


def test_a_message_put_back_is_not_retried_again_in_the_same_run(dlq: DlqService, handler: Recorder) -> None:
    dlq.dead_letter("inbound-dlq", "bad", "err")
    handler.failing.add("bad")
    report = dlq.replay("inbound-dlq", 100)
    assert report.received == 1 and handler.calls == ["bad"]


def test_same_delivery_failing_twice_is_one_record_and_processed_once(
    dlq: DlqService, queues: MemoryQueues, handler: Recorder
) -> None:
    first = dlq.dead_letter("inbound-dlq", "p", "err 1", original_message_id="sns-9")
    second = dlq.dead_letter("inbound-dlq", "p", "err 2", original_message_id="sns-9")
    assert first == second
    record = dlq.get(first)
    assert record["attempts"] == 2 and record["error"] == "err 2"
    assert queues["inbound-dlq"].approximate_count() == 2
    report = dlq.replay("inbound-dlq", 10)
    assert (report.replayed, report.skipped) == (1, 1)
    assert handler.done == Counter({"p": 1})  # dedupe by message id: processed once
    assert queues["inbound-dlq"].approximate_count() == 0


def test_a_replayed_record_failing_again_is_pending_again(dlq: DlqService, handler: Recorder) -> None:
    dlq_id = dlq.dead_letter("inbound-dlq", "p", "err", original_message_id="sns-1")
    dlq.replay("inbound-dlq", 10)
    dlq.dead_letter("inbound-dlq", "p", "new failure", original_message_id="sns-1")
    assert dlq.get(dlq_id)["status"] == "pending"
    assert dlq.replay("inbound-dlq", 10).replayed == 1
    assert handler.done["p"] == 2


def test_batches_are_at_most_the_requested_size(
    dlq: DlqService, queues: MemoryQueues, handler: Recorder
) -> None:
    for i in range(120):
        dlq.dead_letter("inbound-dlq", f"p{i}", "err", original_message_id=f"m{i}")
    report = dlq.replay("inbound-dlq", 100)
    assert report.received == 100 and report.replayed == 100
    assert queues["inbound-dlq"].approximate_count() == 20
    assert dlq.replay("inbound-dlq", 100).replayed == 20
    assert sorted(handler.done) == sorted(f"p{i}" for i in range(120))


@pytest.mark.parametrize("bad", [0, 101, -1, True])
def test_max_is_one_to_a_hundred(dlq: DlqService, bad: int) -> None:
    with pytest.raises(InvalidInput, match="max must be 1 to 100"):
        dlq.replay("inbound-dlq", bad)


def test_unknown_queue_and_missing_handler(dlq: DlqService) -> None:
    with pytest.raises(InvalidInput, match="unknown dead-letter queue"):
        dlq.replay("bulk-queue", 10)
    with pytest.raises(InvalidInput) as err:
        dlq.replay("outbound-dlq", 10)
    assert err.value.code == "NO_REPLAY_HANDLER"
    with pytest.raises(InvalidInput):
        dlq.register("nope", lambda payload: None)


def test_bulk_dlq_messages_moved_by_the_queue_are_adopted_and_replayed(
    dlq: DlqService, queues: MemoryQueues, clock: FakeClock
) -> None:
    chunks: list[dict[str, Any]] = []
    dlq.register("bulk-dlq", lambda payload: chunks.append(json.loads(payload)))
    queues["bulk-queue"].send(json.dumps({"jobId": "job_1", "chunk": 3}))
    for _ in range(5):  # a worker keeps failing the chunk: received, never deleted
        assert len(queues["bulk-queue"].receive(1, visibility_timeout=1)) == 1
        clock.advance(2)
    assert queues["bulk-queue"].receive(1) == []  # redriven to bulk-dlq after 5 receives
    assert queues["bulk-dlq"].approximate_count() == 1
    report = dlq.replay("bulk-dlq", 10, actor="op")
    assert report.replayed == 1 and chunks == [{"jobId": "job_1", "chunk": 3}]
    [record] = dlq.list_messages(queue="bulk-dlq")["items"]
    assert record["status"] == "replayed" and record["errorType"] == "Redrive"
    assert record["attempts"] == 6  # five failed receives, then the replay


def test_outbound_dlq_uses_its_own_handler(dlq: DlqService, handler: Recorder) -> None:
    sent: list[str] = []
    dlq.register("outbound-dlq", sent.append)
    dlq.dead_letter("outbound-dlq", "send-1", "throttled")
    dlq.dead_letter("inbound-dlq", "event-1", "bad")
    assert dlq.replay("outbound-dlq", 10).replayed == 1
    assert sent == ["send-1"] and handler.calls == []


def test_a_record_being_replayed_elsewhere_is_not_run_twice(
    tables: MemoryTables, queues: MemoryQueues, clock: FakeClock
) -> None:
    calls: list[str] = []
    nested: list[Any] = []

    def handler(payload: str) -> None:
        calls.append(payload)
        if len(calls) == 1:  # while the first copy runs, a second replayer takes the second copy
            nested.append(service.replay("inbound-dlq", 10))

    service = DlqService(tables, queues, clock, handlers={"inbound-dlq": handler})
    service.dead_letter("inbound-dlq", "p", "e", original_message_id="same")
    # The same delivery queued twice, but with its first copy hidden from the outer replay's first receive.
    service.dead_letter("inbound-dlq", "p", "e", original_message_id="same")
    outer = service.replay("inbound-dlq", 1)
    assert calls == ["p"]
    assert [r.outcome for r in nested[0].results] == ["busy"]
    assert [r.outcome for r in outer.results] == ["replayed"]
    clock.advance(1000)  # the busy copy comes back; the record is replayed: it is dropped, not re-run
    assert [r.outcome for r in service.replay("inbound-dlq", 10).results] == ["skipped"]
    assert calls == ["p"]


def test_list_messages(dlq: DlqService, clock: FakeClock, handler: Recorder) -> None:
    for i in range(5):
        dlq.dead_letter("inbound-dlq", f"p{i}", f"err {i}", original_message_id=f"m{i}")
        clock.advance(10)
    dlq.register("outbound-dlq", handler)
    dlq.dead_letter("outbound-dlq", "o", "err")
    first = dlq.list_messages(queue="inbound-dlq", limit=2)
    assert [i["payload"] for i in first["items"]] == ["p4", "p3"]  # newest attempt first
    assert first["depth"] == {"inbound-dlq": 5}
    second = dlq.list_messages(queue="inbound-dlq", limit=2, cursor=first["cursor"])
    assert [i["payload"] for i in second["items"]] == ["p2", "p1"]
    everything = dlq.list_messages(limit=100)
    assert len(everything["items"]) == 6 and set(everything["depth"]) == {
        "inbound-dlq",
        "bulk-dlq",
        "outbound-dlq",
    }
    assert dlq.list_messages(status="replayed")["items"] == []
    with pytest.raises(InvalidInput):
        dlq.list_messages(status="lost")
    with pytest.raises(InvalidInput):
        dlq.list_messages(limit=500)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plans=st.lists(st.lists(st.booleans(), min_size=1, max_size=8), min_size=1, max_size=6),
    batch=st.integers(min_value=1, max_value=4),
)
def test_every_dead_letter_ends_replayed_once_or_parked(plans: list[list[bool]], batch: int) -> None:
    """Each payload fails or succeeds per its plan on successive attempts; replays run until nothing moves."""
    clock = FakeClock()
    tables, queues = MemoryTables(clock), MemoryQueues(clock)
    attempts: Counter[str] = Counter()
    succeeded: Counter[str] = Counter()

    def handler(payload: str) -> None:
        n = attempts[payload]
        attempts[payload] += 1
        outcome = plans[int(payload)][min(n, len(plans[int(payload)]) - 1)]
        if not outcome:
            raise RuntimeError("planned failure")
        succeeded[payload] += 1

    service = DlqService(tables, queues, clock, handlers={"inbound-dlq": handler})
    for i in range(len(plans)):
        service.dead_letter("inbound-dlq", str(i), "original failure", original_message_id=f"m{i}")
    for _ in range(100):
        if service.replay("inbound-dlq", batch).received == 0:
            break
    for i, plan in enumerate(plans):
        record = service.get(dlq_message_id("inbound-dlq", f"m{i}"))
        first_success = next((n for n, ok in enumerate(plan + [plan[-1]] * 8) if ok), None)
        assert succeeded[str(i)] <= 1
        if first_success is not None and first_success < 5:
            assert record["status"] == "replayed" and succeeded[str(i)] == 1
            assert record["retryCount"] == first_success
        else:
            assert record["status"] == "parked" and succeeded[str(i)] == 0
            assert record["retryCount"] == 5 and attempts[str(i)] == 5
    assert queues["inbound-dlq"].approximate_count() == 0
