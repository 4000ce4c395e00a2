from __future__ import annotations

import itertools
import threading

import pytest

from gateway.bulk.jobs import JOB_STATUSES, TERMINAL, TRANSITIONS, JobStore, can_move, counter
from gateway.errors import Conflict

from .conftest import World


def _job(store: JobStore, job_id: str, status: str) -> None:
    assert store.create({"jobId": job_id, "status": status, "createdAt": 1.0, "totalRecipients": 0})


ALL_PAIRS = list(itertools.product(JOB_STATUSES, JOB_STATUSES))


def test_the_table_names_every_state_and_terminal_states_go_nowhere() -> None:
    assert set(TRANSITIONS) == set(JOB_STATUSES)
    for state in TERMINAL:
        assert TRANSITIONS[state] == frozenset()
    for state in set(JOB_STATUSES) - TERMINAL:
        assert "failed" in TRANSITIONS[state]


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS)
def test_every_transition_valid_or_conflict_naming_the_state(world: World, source: str, target: str) -> None:
    store = JobStore(world.tables, world.clock)
    _job(store, "job_x", source)
    if can_move(source, target):
        moved = store.transition("job_x", target)
        assert moved.status == target
        assert store.require("job_x").status == target
        assert moved.item[f"{target}At"] == world.clock.now()
    else:
        with pytest.raises(Conflict) as caught:
            store.transition("job_x", target)
        assert caught.value.details["status"] == source
        assert store.require("job_x").status == source


def test_expect_narrows_the_accepted_sources(world: World) -> None:
    store = JobStore(world.tables, world.clock)
    _job(store, "job_x", "paused")
    with pytest.raises(Conflict) as caught:
        store.transition("job_x", "running", expect=("pending",))
    assert caught.value.details == {"status": "paused", "target": "running"}


def test_two_racing_controllers_one_wins(world: World) -> None:
    store = JobStore(world.tables, world.clock)
    for round_ in range(10):
        job_id = f"job_{round_}"
        _job(store, job_id, "running")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def go(
            target: str,
            job_id: str = job_id,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                store.transition(job_id, target, expect=("running",))
                outcomes.append(target)
            except Conflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=go, args=(t,)) for t in ("paused", "completed")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("conflict") == 1
        winner = next(o for o in outcomes if o != "conflict")
        assert store.require(job_id).status == winner


def test_counters_follow_moves_and_reconcile_recounts(world: World) -> None:
    store = JobStore(world.tables, world.clock)
    _job(store, "job_c", "running")
    recipients = world.tables["BulkRecipients"]
    for i in range(5):
        recipients.put({"jobId": "job_c", "recipientId": f"r{i}", "status": "sent" if i < 3 else "pending"})
    store.count_move("job_c", "pending", "sent", 2)
    assert store.require("job_c").item[counter("sent")] == 2
    job = store.reconcile("job_c")
    assert job.counts()["sent"] == 3 and job.counts()["pending"] == 2
    assert store.tally("job_c")["sent"] == 3
