"""The WhatsApp tier (13.10) for bulk: a job over the capacity left is refused with the numbers, an
accepted job reserves its conversation openings atomically, its sends draw on the reservation, and
what it did not use is given back when it ends. Single sends racing each other never overshoot."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from channels.errors import ChannelRejected
from gateway.bulk.chunks import BULK_QUEUE
from gateway.errors import InvalidInput
from gateway.outbound.tier import CONFIG_KEY, RECIPIENT_PREFIX
from gateway.outbound.types import OutboundRequest, TemplateContent

from .conftest import World
from .helpers import assert_counters_match, drain, statuses

TEMPLATE = TemplateContent("order_update", "en_GB")


def _limit(world: World, limit: int) -> None:
    world.tables["SystemConfig"].put({"configKey": CONFIG_KEY, "configValue": limit})


def _outside_window(world: World, n: int, prefix: str) -> list[str]:
    # Outside the 24-hour window: every one of them opens a conversation.
    return world.add_contacts(n, prefix=prefix, last_inbound=None)


def _create(world: World, ids: list[str], **kw: Any) -> tuple[str, dict[str, Any]]:
    service = world.service()
    flight = service.preflight(channel="whatsapp", content=TEMPLATE, contact_ids=ids)
    job, _ = service.create(
        actor="u_op", channel="whatsapp", content=TEMPLATE, contact_ids=ids, preflight_result=flight, **kw
    )
    return job.job_id, flight


def test_a_job_over_the_capacity_left_is_refused_with_the_numbers_and_writes_nothing(world: World) -> None:
    _limit(world, 10)
    for i in range(3):
        world.tier.record_opening(f"earlier{i}")
    ids = _outside_window(world, 8, "tl")
    service = world.service()
    flight = service.preflight(channel="whatsapp", content=TEMPLATE, contact_ids=ids)
    assert flight["opensConversations"] == 8
    assert flight["tier"] == {"limit": 10, "used24h": 3, "reserved": 0, "remaining": 7}
    with pytest.raises(InvalidInput) as refused:
        service.create(
            actor="u_op", channel="whatsapp", content=TEMPLATE, contact_ids=ids, preflight_result=flight
        )
    assert refused.value.code == "TIER_LIMIT"
    assert refused.value.details == {"needed": 8, "remaining": 7, "limit": 10}
    assert world.queues[BULK_QUEUE].approximate_count() == 0
    assert world.tables["BulkRecipients"].scan(limit=10).items == []
    assert world.tier.status().reserved == 0


def test_an_accepted_job_reserves_its_openings_and_its_sends_draw_on_them(world: World) -> None:
    _limit(world, 10)
    ids = _outside_window(world, 6, "rs")
    job_id, _ = _create(world, ids)
    status = world.tier.status()
    assert (status.used24h, status.reserved, status.remaining) == (0, 6, 4)
    # A single send meanwhile takes from what is left, not from the job's reservation.
    other = _outside_window(world, 1, "single")[0]
    single = world.gateway.send(OutboundRequest(contact_id=other, channel="whatsapp", content=TEMPLATE))
    assert single.status == "sent"
    assert world.tier.status().remaining == 3
    drain(world, world.worker())
    assert statuses(world, job_id) == Counter({"sent": 6})
    assert_counters_match(world, job_id)
    end = world.tier.status()
    assert (end.used24h, end.reserved, end.remaining) == (7, 0, 3)
    assert world.tier.held_by(job_id) == 0


def test_unused_reservation_is_released_when_the_job_ends(world: World) -> None:
    _limit(world, 10)
    ids = _outside_window(world, 6, "un")
    job_id, _ = _create(world, ids)
    assert world.tier.held_by(job_id) == 6
    world.service().cancel(job_id, "u_op")
    assert world.tier.held_by(job_id) == 0 and world.tier.status().remaining == 10


def test_two_jobs_racing_for_the_last_capacity_one_wins(world: World) -> None:
    _limit(world, 10)
    first, second = _outside_window(world, 6, "ra"), _outside_window(world, 6, "rb")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create(ids: list[str]) -> None:
        service = world.service()
        flight = service.preflight(channel="whatsapp", content=TEMPLATE, contact_ids=ids)
        barrier.wait()
        try:
            service.create(
                actor="u_op", channel="whatsapp", content=TEMPLATE, contact_ids=ids, preflight_result=flight
            )
            outcomes.append("created")
        except InvalidInput as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=create, args=(ids,)) for ids in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["TIER_LIMIT", "created"]
    assert world.tier.status().reserved == 6


def test_racing_single_sends_never_exceed_the_limit(world: World) -> None:
    _limit(world, 5)
    ids = _outside_window(world, 12, "ss")
    barrier = threading.Barrier(len(ids))
    results: list[tuple[str, tuple[str, ...]]] = []
    lock = threading.Lock()

    def send(contact_id: str) -> None:
        barrier.wait()
        outcome = world.gateway.send(
            OutboundRequest(contact_id=contact_id, channel="whatsapp", content=TEMPLATE)
        )
        with lock:
            results.append((str(outcome.status), tuple(outcome.reasons)))

    threads = [threading.Thread(target=send, args=(c,)) for c in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    tally = Counter(status for status, _ in results)
    assert tally == Counter({"sent": 5, "rejected": 7})
    assert all(reasons == ("TIER_LIMIT",) for status, reasons in results if status == "rejected")
    assert len(world.driver_calls()) == 5
    assert world.tier.used24h() == 5


def test_a_send_the_provider_refused_gives_its_slot_back(world: World) -> None:
    _limit(world, 5)
    [contact_id] = _outside_window(world, 1, "pf")
    world.drivers["whatsapp"].fail_for["+447800000000"] = [
        ChannelRejected("(#131026) not on WhatsApp", code="ValidationException", http_status=400)
    ]
    outcome = world.gateway.send(OutboundRequest(contact_id=contact_id, channel="whatsapp", content=TEMPLATE))
    assert outcome.status == "failed"
    assert world.tier.used24h() == 0
    assert (
        world.tables["RateLimitTrackers"].get({"channel": RECIPIENT_PREFIX + contact_id, "windowStart": 0})
        is None
    )


def test_a_scheduled_job_the_tier_cannot_carry_when_due_pauses_with_the_numbers(world: World) -> None:
    _limit(world, 5)
    ids = _outside_window(world, 4, "sd")
    job_id, _ = _create(world, ids, send_at=world.clock.now() + 3600)
    assert world.tier.held_by(job_id) == 0  # nothing is held for a job that has not started
    for i in range(3):
        world.tier.record_opening(f"meanwhile{i}")
    world.clock.advance(3601)
    assert world.service().start_due() == []
    job = world.service().get(job_id)
    assert job["status"] == "paused" and job["pauseReason"] == "TIER_LIMIT"
    assert job["pauseDetails"] == {"needed": 4, "remaining": 2, "limit": 5}
    assert world.queues[BULK_QUEUE].approximate_count() == 0
