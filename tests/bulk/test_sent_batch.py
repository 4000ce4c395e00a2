"""Sent recipients are recorded a batch at a time: fewer transactions, the same exactly-once."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.bulk.chunks import BULK_QUEUE
from gateway.bulk.recipients import MAX_MOVES_PER_TRANSACTION, Move
from gateway.bulk.sent_batch import SentBatch
from gateway.bulk.worker import BulkWorker
from gateway.outbound.types import OutboundRequest, SendOutcome
from gateway.store.conditions import eq
from gateway.store.port import Write

from .conftest import TEXT, World
from .helpers import assert_counters_match, statuses


def _job(world: World, n: int) -> tuple[str, list[str], str]:
    ids = world.add_contacts(n)
    job, created = world.service().create(actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids)
    assert created
    queue = world.queues[BULK_QUEUE]
    (message,) = queue.receive(1, visibility_timeout=600)
    queue.delete(message.receipt_handle)
    return job.job_id, ids, message.body


def _record_transactions(world: World) -> list[Sequence[Write]]:
    seen: list[Sequence[Write]] = []
    original = world.tables.transact  # type: ignore[attr-defined]

    def spy(writes: Sequence[Write]) -> None:
        seen.append(list(writes))
        original(writes)

    world.tables.transact = spy  # type: ignore[attr-defined]
    return seen


def test_a_chunk_records_its_sent_recipients_in_a_few_transactions(world: World) -> None:
    job_id, _, body = _job(world, 100)
    transactions = _record_transactions(world)
    world.worker().process_chunk(body)
    to_sent = [t for t in transactions if any(w.update.set.get("status") == "sent" for w in t)]
    # One transaction (and one write of the job's item) per batch, not one per recipient.
    assert len(to_sent) == math.ceil(100 / MAX_MOVES_PER_TRANSACTION)
    assert sum(len(t) - 1 for t in to_sent) == 100
    assert all(sum(w.table == "BulkJobs" for w in t) == 1 for t in to_sent)
    assert statuses(world, job_id) == Counter({"sent": 100})
    assert_counters_match(world, job_id)
    assert world.service().get(job_id)["status"] == "completed"


def test_one_recipient_that_changed_hands_does_not_hold_back_the_others(world: World) -> None:
    job_id, ids, _ = _job(world, 3)
    recipients = world.worker().recipients
    claims = [recipients.claim(job_id, i) for i in ids]
    assert all(c is not None for c in claims)
    moves = [
        Move(i, {"sentAt": 1.0}, eq("claimedAt", c.item["claimedAt"]))  # type: ignore[union-attr]
        for i, c in zip(ids, claims, strict=True)
    ]
    moves[1] = Move(ids[1], {"sentAt": 1.0}, eq("claimedAt", -1))  # another worker's claim now
    moved = recipients.move_all(job_id, "sending", "sent", moves)
    assert [m is not None for m in moved] == [True, False, True]
    assert statuses(world, job_id) == Counter({"sent": 2, "sending": 1})
    assert_counters_match(world, job_id)


def test_more_moves_than_one_transaction_holds_are_refused(world: World) -> None:
    recipients = world.worker().recipients
    too_many = [Move(f"r{i}", {}) for i in range(MAX_MOVES_PER_TRANSACTION + 1)]
    with pytest.raises(ValueError, match="at most"):
        recipients.move_all("job", "sending", "sent", too_many)


class DiesOn:
    """The gateway sends; on ``die_on`` the worker's process dies before that send returns."""

    def __init__(self, world: World, die_on: str) -> None:
        self._gateway = world.gateway
        self.die_on = die_on

    def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome:
        if request.contact_id == self.die_on:
            raise RuntimeError("the store went away")
        return self._gateway.send(request, max_rate_wait=max_rate_wait)


def test_a_chunk_that_fails_midway_still_records_the_sends_it_made(world: World) -> None:
    job_id, ids, body = _job(world, 10)
    worker = BulkWorker(world.tables, world.clock, DiesOn(world, ids[6]), stale_after=300)
    with pytest.raises(RuntimeError):
        worker.process_chunk(body)
    # The six sent before the failure are recorded, not left "sending" for the stale-claim wait.
    assert statuses(world, job_id) == Counter({"sent": 6, "sending": 1, "pending": 3})
    assert_counters_match(world, job_id)


def test_a_worker_killed_with_a_batch_in_hand_resolves_it_by_replay_never_a_resend(world: World) -> None:
    job_id, ids, body = _job(world, 10)

    class Killed(DiesOn):
        def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome:
            if request.contact_id == self.die_on:
                raise SystemExit("kill -9")  # not an Exception: nothing of the batch is written
            return super().send(request, max_rate_wait=max_rate_wait)

    # Everything sent stays in hand until the chunk ends.
    dying = BulkWorker(
        world.tables, world.clock, Killed(world, ids[5]), stale_after=0, sent_batch_seconds=3600.0
    )
    original = dying.recipients.move_all

    def lost(*args: Any, **kw: Any) -> Any:
        raise SystemExit("kill -9")

    dying.recipients.move_all = lost  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        dying.process_chunk(body)
    dying.recipients.move_all = original  # type: ignore[method-assign]
    assert statuses(world, job_id) == Counter({"sending": 6, "pending": 4})
    world.worker().process_chunk(body)
    calls = world.driver_calls()
    assert len(calls) == 10 and len(set(calls)) == 10  # the five sent ones were replayed, not resent
    assert statuses(world, job_id) == Counter({"sent": 10})
    assert_counters_match(world, job_id)


def test_a_batch_is_due_once_its_oldest_send_is_max_age_old(world: World) -> None:
    job_id, ids, _ = _job(world, 2)
    recipients = world.worker().recipients
    claim = recipients.claim(job_id, ids[0])
    assert claim is not None
    batch = SentBatch(recipients, job_id, max_age=0.05)
    batch.add(ids[0], claim.item["claimedAt"], {"sentAt": 1.0})
    assert not batch.due() and len(batch) == 1
    time.sleep(0.06)
    assert batch.due()
    batch.flush()
    assert len(batch) == 0 and statuses(world, job_id)["sent"] == 1
    assert_counters_match(world, job_id)
