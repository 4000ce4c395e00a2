"""The transaction contract: several conditional updates across tables, all applied or none, on
every adapter (memory, SQLite, DynamoDB on moto)."""

from __future__ import annotations

import threading
from typing import cast

import pytest
from store_helpers import Store

from gateway.store.conditions import eq
from gateway.store.port import ConditionFailed, Transactions, Update, Write


def _tx(store: Store) -> Transactions:
    assert callable(getattr(store.tables, "transact", None)), f"{store.kind} has no transactions"
    return cast(Transactions, store.tables)


def _seed(store: Store) -> None:
    store.tables["BulkJobs"].put({"jobId": "job_1", "status": "running", "pendingCount": 2, "sentCount": 0})
    for rid in ("ct_a", "ct_b"):
        store.tables["BulkRecipients"].put({"jobId": "job_1", "recipientId": rid, "status": "pending"})


def _move(rid: str, source: str, target: str) -> list[Write]:
    return [
        Write(
            "BulkRecipients",
            {"jobId": "job_1", "recipientId": rid},
            Update(set={"status": target}),
            eq("status", source),
        ),
        Write("BulkJobs", {"jobId": "job_1"}, Update(add={f"{source}Count": -1, f"{target}Count": 1})),
    ]


def test_all_writes_apply_together(store: Store) -> None:
    _seed(store)
    _tx(store).transact(_move("ct_a", "pending", "sent"))
    job = store.tables["BulkJobs"].get({"jobId": "job_1"})
    assert job is not None and (job["pendingCount"], job["sentCount"]) == (1, 1)
    recipient = store.tables["BulkRecipients"].get({"jobId": "job_1", "recipientId": "ct_a"})
    assert recipient is not None and recipient["status"] == "sent"


def test_a_failed_condition_writes_nothing(store: Store) -> None:
    _seed(store)
    with pytest.raises(ConditionFailed):
        # The counter comes first, the failing recipient condition second: the counter must not move.
        _tx(store).transact(list(reversed(_move("ct_a", "sending", "sent"))))
    job = store.tables["BulkJobs"].get({"jobId": "job_1"})
    assert job is not None and (job["pendingCount"], job["sentCount"]) == (2, 0)
    recipient = store.tables["BulkRecipients"].get({"jobId": "job_1", "recipientId": "ct_a"})
    assert recipient is not None and recipient["status"] == "pending"


def test_racing_moves_of_one_recipient_count_once(store: Store) -> None:
    _seed(store)
    won: list[str] = []
    barrier = threading.Barrier(4)

    def move() -> None:
        barrier.wait()
        try:
            _tx(store).transact(_move("ct_b", "pending", "sent"))
            won.append("x")
        except ConditionFailed:
            pass

    threads = [threading.Thread(target=move) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    job = store.tables["BulkJobs"].get({"jobId": "job_1"})
    assert len(won) == 1 and job is not None and (job["pendingCount"], job["sentCount"]) == (1, 1)
