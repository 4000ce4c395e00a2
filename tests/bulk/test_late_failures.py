"""A bulk message the provider accepted and later reported failed (the delivery-status webhook): the
recipient follows by the same error table, exactly once, and the job's counters and report follow."""

from __future__ import annotations

from collections import Counter

from gateway.bulk.worker import BulkWorker
from gateway.inbound.parse import StatusUpdate
from gateway.inbound.statuses import StatusTracker

from .conftest import TEXT, World
from .helpers import assert_counters_match, drain, statuses


def _failed(message: dict[str, object], code: int) -> StatusUpdate:
    return StatusUpdate(
        whatsapp_message_id=str(message["whatsappMessageId"]),
        status="failed",
        timestamp=1_764_067_300,
        recipient_id="447800000001",
        errors=[{"code": code, "title": "Meta says no"}],
        conversation=None,
        pricing=None,
        phone_number_id="",
        meta_phone_number_id="",
        aws_message_id="",
    )


def _sent_job(world: World, n: int = 3) -> tuple[str, list[str]]:
    ids = world.add_contacts(n)
    job, _ = world.service().create(actor="u_op", channel="whatsapp", content=TEXT, contact_ids=ids)
    return job.job_id, ids


def _message_of(world: World, job_id: str, recipient_id: str) -> dict[str, object]:
    recipient = world.tables["BulkRecipients"].get({"jobId": job_id, "recipientId": recipient_id})
    assert recipient is not None
    message = world.tables["Messages"].get({"messageId": recipient["messageId"]})
    assert message is not None
    return dict(message)


def _tracker(world: World, worker: BulkWorker) -> StatusTracker:
    return StatusTracker(world.tables, world.clock, on_failed=worker.on_delivery_failed)


def test_a_late_undeliverable_fails_the_recipient_of_an_ended_job_once(world: World) -> None:
    rewritten: list[str] = []
    worker = world.worker(after_late_change=rewritten.append)
    job_id, ids = _sent_job(world)
    drain(world, worker)
    assert world.service().get(job_id)["status"] == "completed"
    update = _failed(_message_of(world, job_id, ids[1]), 131026)
    tracker = _tracker(world, worker)
    assert tracker.apply(update) == "applied"
    assert statuses(world, job_id) == Counter({"sent": 2, "failed": 1})
    recipient = world.tables["BulkRecipients"].get({"jobId": job_id, "recipientId": ids[1]})
    assert recipient is not None and recipient["errorDetails"]["providerCode"] == "131026"
    contact = world.tables["Contacts"].get({"contactId": ids[1]})
    assert contact is not None and contact["whatsappUnreachable"] is True
    assert rewritten == [job_id]  # the ended job's report is written again
    # The same status again (SNS redelivers) changes nothing more.
    tracker.apply(update)
    assert statuses(world, job_id) == Counter({"sent": 2, "failed": 1})
    assert rewritten == [job_id]
    assert_counters_match(world, job_id)


def test_a_late_marketing_limit_defers_a_recipient_of_a_running_job(world: World) -> None:
    worker = world.worker()
    job_id, ids = _sent_job(world, 3)
    drain(world, worker)
    # Re-open the job as if other chunks were still being sent.
    world.tables["BulkJobs"].put({**world.tables["BulkJobs"].get({"jobId": job_id}), "status": "running"})  # type: ignore[dict-item]
    assert (
        worker.on_delivery_failed(
            {**_message_of(world, job_id, ids[0]), "status": "failed", "errorDetails": {"code": "131049"}}
        )
        == "deferred"
    )
    recipient = world.tables["BulkRecipients"].get({"jobId": job_id, "recipientId": ids[0]})
    assert recipient is not None and recipient["deferredOnce"] is True and recipient["attempt"] == 1
    assert recipient["messageId"] != _message_of(world, job_id, ids[1])["messageId"]


def test_a_late_pause_code_pauses_a_running_job(world: World) -> None:
    worker = world.worker()
    job_id, ids = _sent_job(world, 2)
    drain(world, worker)
    world.tables["BulkJobs"].put({**world.tables["BulkJobs"].get({"jobId": job_id}), "status": "running"})  # type: ignore[dict-item]
    failed = {**_message_of(world, job_id, ids[0]), "status": "failed", "errorDetails": {"code": "132015"}}
    assert worker.on_delivery_failed(failed) == "failed"
    job = world.service().get(job_id)
    assert job["status"] == "paused" and job["pauseReason"] == "TEMPLATE_PAUSED"


def test_a_message_that_is_not_a_bulk_recipients_current_send_is_left_alone(world: World) -> None:
    worker = world.worker()
    job_id, ids = _sent_job(world, 1)
    drain(world, worker)
    message = _message_of(world, job_id, ids[0])
    assert worker.on_delivery_failed({**message, "context": {}}) is None
    assert worker.on_delivery_failed({**message, "messageId": "msg_other"}) is None
    assert statuses(world, job_id) == Counter({"sent": 1})
