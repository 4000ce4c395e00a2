from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from gateway.bulk.chunks import BULK_QUEUE
from gateway.errors import Conflict, InvalidInput
from gateway.outbound.types import MediaContent, MediaUpload, TextContent
from gateway.store.port import Update
from tests.gateway.fakes import contact_item

from .conftest import TEXT, World
from .helpers import assert_counters_match, drain, statuses


def _mixed(world: World) -> list[str]:
    """Allowed, opt-in missing, deleted, outside the window, and one that does not exist."""
    now = world.clock.now()
    contacts = world.tables["Contacts"]
    ids: list[str] = []
    for i in range(12):
        kind = i % 4
        contact_id = f"mx{i:03d}"
        contacts.put(
            contact_item(
                contact_id,
                now=now,
                phone=f"+4478{i:08d}",
                whatsapp=kind != 1,
                deleted=kind == 2,
                last_inbound=None if kind == 3 else now - 60,
            )
        )
        ids.append(contact_id)
    ids.append("ct_missing")
    return ids


def test_preflight_equals_the_real_run(world: World) -> None:
    ids = _mixed(world)
    service = world.service()
    before = (world.tables["Messages"].scan(limit=1000).items, world.queues[BULK_QUEUE].approximate_count())
    answer = service.preflight(channel="whatsapp", content=TEXT, contact_ids=ids)
    assert (
        world.tables["Messages"].scan(limit=1000).items,
        world.queues[BULK_QUEUE].approximate_count(),
    ) == before  # no side effect
    assert world.driver_calls() == []
    assert answer["total"] == 13 and answer["wouldSend"] == 3 and answer["opensConversations"] == 0
    job, _ = service.create(
        actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids, preflight_result=answer
    )
    drain(world, world.worker())
    tally = statuses(world, job.job_id)
    assert tally["sent"] == answer["wouldSend"]
    assert tally["rejected"] == answer["total"] - answer["wouldSend"]
    refused: Counter[str] = Counter()
    for item in world.tables["BulkRecipients"].query(job.job_id, limit=1000).items:
        refused.update(item.get("reasons", []))
    assert dict(refused) == answer["refused"]
    assert set(answer["refused"]) >= {
        "OPT_IN_REQUIRED",
        "CONTACT_DELETED",
        "TEMPLATE_REQUIRED",
        "CONTACT_NOT_FOUND",
    }
    assert_counters_match(world, job.job_id)


def test_create_writes_job_recipients_and_chunks(world: World) -> None:
    ids = world.add_contacts(250)
    job, created = world.service().create(
        actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=iter(ids + ids[:10]), name="spring"
    )
    assert created and job.status == "pending" and job.total == 250  # a repeat within the list is one
    view = world.service().get(job.job_id)
    assert view["counts"] == {
        "sent": 0,
        "failed": 0,
        "rejected": 0,
        "pending": 250,
        "cancelled": 0,
        "deferred": 0,
        "sending": 0,
        "unknown": 0,
    }
    assert view["createdBy"] == "usr_1" and view["content"] == {"type": "text", "body": TEXT.body}
    assert world.queues[BULK_QUEUE].approximate_count() == 3
    assert_counters_match(world, job.job_id)


def test_create_is_idempotent_by_key(world: World) -> None:
    ids = world.add_contacts(120)
    service = world.service()
    first, created = service.create(
        actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids, idempotency_key="k1"
    )
    again, created_again = service.create(
        actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids, idempotency_key="k1"
    )
    assert created and not created_again and again.job_id == first.job_id
    assert world.queues[BULK_QUEUE].approximate_count() == 2  # not enqueued twice
    other, _ = service.create(
        actor="usr_2", channel="whatsapp", content=TEXT, contact_ids=ids, idempotency_key="k1"
    )
    assert other.job_id != first.job_id  # the key is scoped by its creator
    with pytest.raises(InvalidInput) as caught:
        service.create(
            actor="usr_1",
            channel="whatsapp",
            content=TextContent("other"),
            contact_ids=ids,
            idempotency_key="k1",
        )
    assert caught.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_a_create_that_died_midway_is_completed_by_its_repeat(world: World) -> None:
    ids = world.add_contacts(150)
    service = world.service()

    def dying() -> Iterator[str]:
        for n, contact_id in enumerate(ids):
            if n == 120:
                raise KeyboardInterrupt("killed")
            yield contact_id

    with pytest.raises(KeyboardInterrupt):
        service.create(
            actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=dying(), idempotency_key="k"
        )
    job, created = service.create(
        actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids, idempotency_key="k"
    )
    assert created and job.total == 150
    drain(world, world.worker())
    assert statuses(world, job.job_id) == Counter({"sent": 150})
    assert len(world.driver_calls()) == 150 and len(set(world.driver_calls())) == 150


def test_create_validates_like_the_messages_route(world: World) -> None:
    service = world.service()
    with pytest.raises(InvalidInput):
        service.create(actor="u", channel="email", content=TEXT, contact_ids=["a"])
    with pytest.raises(InvalidInput):
        service.create(actor="u", channel="fax", content=TEXT, contact_ids=["a"])
    with pytest.raises(InvalidInput):
        service.create(
            actor="u",
            channel="whatsapp",
            contact_ids=["a"],
            content=MediaContent("image", upload=MediaUpload(b"x", "image/png")),
        )
    with pytest.raises(InvalidInput) as caught:
        service.create(actor="u", channel="whatsapp", content=TEXT, contact_ids=[])
    assert caught.value.code == "NO_RECIPIENTS"
    with pytest.raises(InvalidInput) as too_many:
        world.service(max_recipients=5).create(
            actor="u", channel="whatsapp", content=TEXT, contact_ids=[f"c{i}" for i in range(6)]
        )
    assert too_many.value.code == "TOO_MANY_RECIPIENTS"
    with pytest.raises(InvalidInput):
        service.create(
            actor="u",
            channel="whatsapp",
            content=TEXT,
            contact_ids=["a"],
            send_at=world.clock.now() + 36 * 24 * 3600,
        )


def test_pause_stops_sends_and_resume_continues_without_resending(world: World) -> None:
    ids = world.add_contacts(250)
    service = world.service()
    job, _ = service.create(actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids)
    queue = world.queues[BULK_QUEUE]
    worker = world.worker()
    (first, *rest) = queue.receive(10, visibility_timeout=600)
    worker.process_chunk(first.body)
    queue.delete(first.receipt_handle)
    service.pause(job.job_id, "usr_op")
    with pytest.raises(Conflict) as caught:
        service.pause(job.job_id, "usr_op")
    assert caught.value.details["status"] == "paused"
    for message in rest:  # chunks delivered while paused send nothing
        result = worker.process_chunk(message.body)
        assert result.stopped == "paused" and result.sent == 0
        queue.delete(message.receipt_handle)
    assert len(world.driver_calls()) == 100
    assert statuses(world, job.job_id) == Counter({"sent": 100, "pending": 150})
    assert_counters_match(world, job.job_id)
    service.resume(job.job_id, "usr_op")
    drain(world, worker)
    calls = world.driver_calls()
    assert len(calls) == 250 and len(set(calls)) == 250
    assert service.get(job.job_id)["status"] == "completed"
    actions = [a["action"] for a in world.tables["AuditLogs"].scan(limit=1000).items]
    assert {"bulk.created", "bulk.paused", "bulk.resumed"} <= set(actions)


def test_cancel_marks_every_unsent_recipient_cancelled(world: World) -> None:
    ids = world.add_contacts(150)
    service = world.service()
    job, _ = service.create(actor="usr_1", channel="whatsapp", content=TEXT, contact_ids=ids)
    queue = world.queues[BULK_QUEUE]
    first = queue.receive(1, visibility_timeout=600)[0]
    world.worker().process_chunk(first.body)
    cancelled = service.cancel(job.job_id, "usr_op")
    assert cancelled.status == "cancelled"
    drain(world, world.worker())
    assert statuses(world, job.job_id) == Counter({"sent": 100, "cancelled": 50})
    assert len(world.driver_calls()) == 100
    view = service.get(job.job_id)
    assert view["counts"]["cancelled"] == 50 and view["counts"]["sent"] == 100
    with pytest.raises(Conflict) as caught:
        service.resume(job.job_id, "usr_op")
    assert caught.value.details["status"] == "cancelled"
    assert_counters_match(world, job.job_id)
    assert any(a["action"] == "bulk.cancelled" for a in world.tables["AuditLogs"].scan(limit=1000).items)


def test_a_scheduled_job_waits_starts_on_time_and_cancels_before(world: World) -> None:
    ids = world.add_contacts(3)
    service = world.service()
    later = world.clock.now() + 3600
    job, _ = service.create(actor="u", channel="whatsapp", content=TEXT, contact_ids=ids, send_at=later)
    other, _ = service.create(actor="u", channel="whatsapp", content=TEXT, contact_ids=ids, send_at=later)
    assert job.status == "scheduled" and world.queues[BULK_QUEUE].approximate_count() == 0
    assert service.start_due() == []
    assert service.cancel(other.job_id, "u").status == "cancelled"
    world.clock.advance(3600)
    for contact_id in ids:  # they wrote again meanwhile: free text may go
        world.tables["Contacts"].update(
            {"contactId": contact_id}, Update(set={"lastInboundMessageAt": world.clock.now() - 5})
        )
    assert service.start_due() == [job.job_id]
    drain(world, world.worker())
    assert statuses(world, job.job_id) == Counter({"sent": 3})
    assert statuses(world, other.job_id) == Counter({"cancelled": 3})


def test_list_newest_first_and_recipients_paged(world: World) -> None:
    ids = world.add_contacts(30)
    service = world.service()
    made = []
    for _ in range(3):
        made.append(service.create(actor="u", channel="whatsapp", content=TEXT, contact_ids=ids)[0].job_id)
        world.clock.advance(1)
    jobs, _ = service.list()
    assert [j["jobId"] for j in jobs] == list(reversed(made))
    pending, _ = service.list(status="pending")
    assert [j["jobId"] for j in pending] == list(reversed(made))
    assert service.list(status="completed")[0] == []
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = service.recipient_page(made[0], status="pending", limit=7, cursor=cursor)
        seen.extend(r["contactId"] for r in page)
        assert all("createAttempt" not in r for r in page)
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    with pytest.raises(InvalidInput):
        service.list(status="nope")


def test_a_job_over_several_numbers_alternates_them_and_keeps_each_recipient_on_one(world: World) -> None:
    pn1, pn2 = world.settings.WHATSAPP_PHONE_NUMBER_ID_1, world.settings.WHATSAPP_PHONE_NUMBER_ID_2
    ids = world.add_contacts(6)
    service = world.service()
    flight = service.preflight(channel="whatsapp", content=TEXT, contact_ids=ids, phone_number_ids=[pn1, pn2])
    assert flight["wouldSend"] == 6
    job, _ = service.create(
        actor="u_op", channel="whatsapp", content=TEXT, contact_ids=ids, phone_number_ids=[pn1, pn2]
    )
    assert job.item["phoneNumberIds"] == [pn1, pn2] and "phoneNumberId" not in job.item
    drain(world, world.worker())
    sent = {
        str(m["contactId"]): m["phoneNumberId"]
        for m in world.tables["Messages"].scan(limit=100).items
        if m.get("direction") == "outbound"
    }
    assert [sent[c] for c in ids] == [pn1, pn2] * 3
    with pytest.raises(InvalidInput, match="not both"):
        service.create(
            actor="u_op",
            channel="whatsapp",
            content=TEXT,
            contact_ids=ids,
            phone_number_id=pn1,
            phone_number_ids=[pn2],
        )
    with pytest.raises(InvalidInput, match="distinct"):
        service.preflight(channel="whatsapp", content=TEXT, contact_ids=ids, phone_number_ids=[pn1, pn1])
