from __future__ import annotations

import hashlib
import threading

from gateway.bulk.jobs import JobStore
from gateway.bulk.recipients import RecipientStore, message_id, new_recipient

from .conftest import World


def test_message_id_is_derived_from_job_and_recipient() -> None:
    digest = hashlib.sha256(b"job_1\x00ct_1").hexdigest()[:32]
    assert message_id("job_1", "ct_1") == "msg_bulk_" + digest
    assert message_id("job_1", "ct_1", 1) != message_id("job_1", "ct_1")
    assert message_id("job_1", "ct_1", 1) == message_id("job_1", "ct_1", 1)


def _setup(world: World, n: int = 1) -> RecipientStore:
    jobs = JobStore(world.tables, world.clock)
    jobs.create(
        {"jobId": "job_r", "status": "running", "createdAt": 0.0, "totalRecipients": n, "pendingCount": n}
    )
    store = RecipientStore(world.tables, world.clock, jobs, stale_after=300)
    for i in range(n):
        assert store.add(new_recipient("job_r", f"ct_{i}", "a1"))
    assert not store.add(new_recipient("job_r", "ct_0", "a1"))  # the key is the dedupe
    return store


def test_claim_moves_pending_to_sending_once(world: World) -> None:
    store = _setup(world)
    claim = store.claim("job_r", "ct_0")
    assert claim is not None and not claim.recovered
    assert claim.message_id == message_id("job_r", "ct_0")
    assert store.get("job_r", "ct_0")["status"] == "sending"  # type: ignore[index]
    assert store.claim("job_r", "ct_0") is None  # a live claim is not taken over
    job = world.tables["BulkJobs"].get({"jobId": "job_r"})
    assert job is not None and job["pendingCount"] == 0 and job["sendingCount"] == 1


def test_two_threads_claim_the_same_recipient_one_wins(world: World) -> None:
    store = _setup(world, 20)
    for i in range(20):
        barrier = threading.Barrier(2)
        wins: list[bool] = []

        def go(i: int = i, barrier: threading.Barrier = barrier, wins: list[bool] = wins) -> None:
            barrier.wait()
            wins.append(store.claim("job_r", f"ct_{i}") is not None)

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False, True]
    job = world.tables["BulkJobs"].get({"jobId": "job_r"})
    assert job is not None and job["sendingCount"] == 20 and job["pendingCount"] == 0


def test_a_stale_claim_is_taken_over_by_one(world: World) -> None:
    store = _setup(world)
    assert store.claim("job_r", "ct_0") is not None
    world.clock.advance(301)
    taken = store.claim("job_r", "ct_0")
    assert taken is not None and taken.recovered
    assert taken.message_id == message_id("job_r", "ct_0")  # the same id: a replay, never a new send
    assert store.claim("job_r", "ct_0") is None  # the takeover refreshed the claim


def test_a_move_from_the_wrong_state_does_nothing(world: World) -> None:
    store = _setup(world)
    assert store.move("job_r", "ct_0", "sending", "sent") is None
    assert store.get("job_r", "ct_0")["status"] == "pending"  # type: ignore[index]
