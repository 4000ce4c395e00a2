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


def _counting_transactions(world: World, store: RecipientStore) -> list[int]:
    """Wrap the store's transaction: each call's number of writes is recorded."""
    sizes: list[int] = []
    inner = store._transact
    assert inner is not None

    def transact(writes: list[object]) -> None:
        sizes.append(len(writes))
        inner(writes)  # type: ignore[arg-type]

    store._transact = transact  # type: ignore[assignment]
    return sizes


def test_claim_many_claims_the_pending_ones_in_one_transaction(world: World) -> None:
    store = _setup(world, 5)
    sizes = _counting_transactions(world, store)
    claims = store.claim_many("job_r", ["ct_0", "ct_1", "ct_2", "ct_3"])
    assert sizes == [5]  # four recipients and one counter write, one commit
    assert all(c is not None and not c.recovered for c in claims.values())
    assert {rid: c.message_id for rid, c in claims.items() if c} == {
        f"ct_{i}": message_id("job_r", f"ct_{i}") for i in range(4)
    }
    job = world.tables["BulkJobs"].get({"jobId": "job_r"})
    assert job is not None and job["pendingCount"] == 1 and job["sendingCount"] == 4
    # Claimed already: none of them again, and the fifth on its own.
    again = store.claim_many("job_r", ["ct_3", "ct_4"])
    assert again["ct_3"] is None and again["ct_4"] is not None


def test_claim_many_falls_back_one_by_one_when_another_worker_got_one_first(world: World) -> None:
    store = _setup(world, 3)
    rival = RecipientStore(world.tables, world.clock, JobStore(world.tables, world.clock))
    real_get = store.get
    raced: list[str] = []

    def get_then_race(job_id: str, recipient_id: str) -> dict[str, object] | None:
        item = real_get(job_id, recipient_id)
        if recipient_id == "ct_2" and not raced:  # read as pending, then the rival claims it first
            raced.append(recipient_id)
            assert rival.claim(job_id, recipient_id) is not None
        return item

    store.get = get_then_race  # type: ignore[method-assign]
    claims = store.claim_many("job_r", ["ct_0", "ct_1", "ct_2"])
    assert claims["ct_0"] is not None and claims["ct_1"] is not None and claims["ct_2"] is None
    job = world.tables["BulkJobs"].get({"jobId": "job_r"})
    assert job is not None and job["pendingCount"] == 0 and job["sendingCount"] == 3


def test_release_many_gives_back_unsent_claims_in_one_transaction(world: World) -> None:
    store = _setup(world, 3)
    claims = [c for c in store.claim_many("job_r", ["ct_0", "ct_1", "ct_2"]).values() if c is not None]
    sizes = _counting_transactions(world, store)
    store.release_many("job_r", claims)
    assert sizes == [4]
    assert {store.get("job_r", f"ct_{i}")["status"] for i in range(3)} == {"pending"}  # type: ignore[index]
    job = world.tables["BulkJobs"].get({"jobId": "job_r"})
    assert job is not None and job["pendingCount"] == 3 and job["sendingCount"] == 0
    # The same message ids when they are claimed again: the attempt did not move on.
    again = store.claim_many("job_r", ["ct_0"])
    assert again["ct_0"] is not None and again["ct_0"].message_id == message_id("job_r", "ct_0")
