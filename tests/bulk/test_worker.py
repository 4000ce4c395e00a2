from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from channels.errors import ChannelRejected
from gateway.bulk.chunks import BULK_QUEUE, Chunk, parse_chunk
from gateway.bulk.recipients import message_id
from gateway.bulk.worker import FAILURE_RATE_KEY, BulkWorker
from gateway.outbound.types import OutboundRequest, SendOutcome, TemplateContent
from gateway.store.port import Update

from .conftest import TEXT, World
from .helpers import assert_counters_match, drain, statuses


def _create(world: World, n: int, **kw: Any) -> tuple[str, list[str]]:
    ids = world.add_contacts(n)
    job, created = world.service().create(
        actor="usr_1", channel="whatsapp", content=kw.pop("content", TEXT), contact_ids=ids, **kw
    )
    assert created
    return job.job_id, ids


def _bodies(world: World) -> list[str]:
    queue = world.queues[BULK_QUEUE]
    messages = queue.receive(10, visibility_timeout=600)
    for m in messages:
        queue.delete(m.receipt_handle)
    return [m.body for m in messages]


def test_a_job_runs_to_completion_each_recipient_one_send(world: World) -> None:
    job_id, ids = _create(world, 250)
    worker = world.worker()
    assert drain(world, worker) == 3
    assert statuses(world, job_id) == Counter({"sent": 250})
    calls = world.driver_calls()
    assert len(calls) == 250 and len(set(calls)) == 250
    assert world.violations() == []
    job = world.service().get(job_id)
    assert job["status"] == "completed"
    assert job["counts"]["sent"] == 250 and job["counts"]["pending"] == 0
    assert_counters_match(world, job_id)
    # Every message went through gateway.send with origin bulk and the derived id.
    stored = world.tables["Messages"].get({"messageId": message_id(job_id, ids[0])})
    assert stored is not None and stored["origin"] == "bulk" and stored["context"]["bulkJobId"] == job_id
    assert all(doc["request"]["origin"] == "bulk" for doc in world.engine.inputs)


def test_a_chunk_delivered_twice_sends_nobody_twice(world: World) -> None:
    job_id, _ = _create(world, 150)
    bodies = _bodies(world)
    worker = world.worker()
    for body in bodies + bodies + list(reversed(bodies)):
        worker.process_chunk(body)
    calls = world.driver_calls()
    assert len(calls) == 150 and len(set(calls)) == 150
    assert statuses(world, job_id) == Counter({"sent": 150})
    assert_counters_match(world, job_id)


def test_crash_after_claim_before_send_then_redelivery_sends_once(world: World) -> None:
    job_id, ids = _create(world, 5)
    (body,) = _bodies(world)
    worker = world.worker()
    worker.jobs.transition(job_id, "running")
    assert worker.recipients.claim(job_id, ids[2]) is not None  # ... and the worker died here
    worker.process_chunk(body)  # redelivered after the visibility timeout
    calls = world.driver_calls()
    assert len(calls) == 5 and len(set(calls)) == 5
    assert statuses(world, job_id) == Counter({"sent": 5})
    assert_counters_match(world, job_id)


def test_crash_inside_the_driver_then_redelivery_never_resends(world: World) -> None:
    job_id, _ = _create(world, 5)
    (body,) = _bodies(world)
    worker = world.worker()
    world.drivers["whatsapp"].boom = RuntimeError("process killed mid-call")
    with pytest.raises(RuntimeError):
        worker.process_chunk(body)
    world.drivers["whatsapp"].boom = None
    worker.process_chunk(body)
    calls = world.driver_calls()
    assert len(calls) == 5 and len(set(calls)) == 5  # the first recipient's call was made once, only
    # Its message is 'sending' (the outcome is unknown): never resent, recorded as unknown.
    assert statuses(world, job_id) == Counter({"sent": 4, "unknown": 1})
    assert world.service().get(job_id)["status"] == "completed"
    assert_counters_match(world, job_id)


class DiesAfterSend:
    """The gateway sends and records the message; then the worker dies before recording the recipient."""

    def __init__(self, world: World, die_on: str) -> None:
        self._gateway = world.gateway
        self.die_on = die_on

    def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome:
        outcome = self._gateway.send(request, max_rate_wait=max_rate_wait)
        if request.contact_id == self.die_on:
            self.die_on = ""
            raise SystemExit("killed")
        return outcome


def test_crash_after_the_send_before_recording_then_redelivery_replays(world: World) -> None:
    job_id, ids = _create(world, 5)
    (body,) = _bodies(world)
    dying = BulkWorker(world.tables, world.clock, DiesAfterSend(world, ids[1]), stale_after=0)
    with pytest.raises(SystemExit):
        dying.process_chunk(body)
    world.worker().process_chunk(body)
    calls = world.driver_calls()
    assert len(calls) == 5 and len(set(calls)) == 5
    assert statuses(world, job_id) == Counter({"sent": 5})  # the replay told us it was sent
    assert_counters_match(world, job_id)


def _fail(world: World, contact_index: int, code: str, times: int = 1) -> None:
    to = f"+4478{contact_index:08d}"
    world.drivers["whatsapp"].fail_for[to] = [
        ChannelRejected(f"(#{code}) Meta says no", code="ValidationException", http_status=400)
        for _ in range(times)
    ]


def test_131026_fails_and_marks_the_contact_unreachable(world: World) -> None:
    job_id, ids = _create(world, 3)
    _fail(world, 1, "131026")
    drain(world, world.worker())
    assert statuses(world, job_id) == Counter({"sent": 2, "failed": 1})
    item = world.tables["BulkRecipients"].get({"jobId": job_id, "recipientId": ids[1]})
    assert item is not None and item["errorDetails"]["providerCode"] == "131026"
    contact = world.tables["Contacts"].get({"contactId": ids[1]})
    assert contact is not None and contact["whatsappUnreachable"] is True
    assert_counters_match(world, job_id)
    # The policy input sees the mark: the next WhatsApp message to that contact is refused.
    again = world.gateway.decide(OutboundRequest(contact_id=ids[1], channel="whatsapp", content=TEXT))
    assert again.policy_input["contact"]["whatsappUnreachable"] is True
    assert again.decision.reasons == ["RECIPIENT_UNREACHABLE"]


def test_131047_fails_with_template_required(world: World) -> None:
    job_id, ids = _create(world, 2)
    _fail(world, 0, "131047")
    drain(world, world.worker())
    item = world.tables["BulkRecipients"].get({"jobId": job_id, "recipientId": ids[0]})
    assert item is not None and item["status"] == "failed"
    assert item["errorDetails"]["reasons"] == ["TEMPLATE_REQUIRED"]


@pytest.mark.parametrize("code", ["130429", "131056"])
def test_throttle_codes_retry_that_recipient_under_a_new_attempt(world: World, code: str) -> None:
    job_id, ids = _create(world, 4)
    _fail(world, 1, code)
    (body,) = _bodies(world)
    result = world.worker().process_chunk(body)
    assert ids[1] in result.retry and result.retry_delay >= 60
    if code == "130429":
        assert result.stopped == "backoff" and result.retry == ids[1:]
    else:
        assert result.retry == [ids[1]] and result.sent == 3  # the rest of the chunk went on
    drain(world, world.worker())  # nothing left on the queue; the consumer would have re-queued
    world.worker().process_chunk(Chunk(job_id, tuple(result.retry)).body())
    assert statuses(world, job_id) == Counter({"sent": 4})
    item = world.tables["BulkRecipients"].get({"jobId": job_id, "recipientId": ids[1]})
    assert item is not None and item["messageId"] == message_id(job_id, ids[1], 1)
    assert Counter(world.driver_calls())[f"+4478{1:08d}"] == 2  # refused once, then sent
    assert_counters_match(world, job_id)


def test_131049_defers_once_then_fails(world: World) -> None:
    # A template: after 24 h the window has closed, and the policy still decides the retry.
    job_id, _ = _create(world, 2, content=TemplateContent("hello", "en"))
    _fail(world, 0, "131049", times=2)
    drain(world, world.worker())
    assert statuses(world, job_id) == Counter({"sent": 1, "deferred": 1})
    service = world.service()
    assert service.get(job_id)["status"] == "running"  # a deferred recipient keeps the job open
    assert service.retry_deferred(job_id) == 0  # not due yet
    world.clock.advance(24 * 3600)
    assert service.retry_deferred(job_id) == 1
    drain(world, world.worker())
    assert statuses(world, job_id) == Counter({"sent": 1, "failed": 1})
    assert service.get(job_id)["status"] == "completed"
    assert_counters_match(world, job_id)


def test_the_periodic_retry_requeues_deferred_recipients_once_due(world: World) -> None:
    job_id, ids = _create(world, 2, content=TemplateContent("hello", "en"))
    _fail(world, 0, "131049")
    drain(world, world.worker())
    service, queue = world.service(), world.queues[BULK_QUEUE]
    assert statuses(world, job_id) == Counter({"sent": 1, "deferred": 1})
    assert service.retry_deferred_due() == {}  # not before its 24 h
    world.clock.advance(24 * 3600 - 5)
    assert service.retry_deferred_due() == {}
    assert queue.approximate_count() == 0 and statuses(world, job_id)["deferred"] == 1
    world.clock.advance(5)
    assert service.retry_deferred_due() == {job_id: 1}
    assert statuses(world, job_id) == Counter({"sent": 1, "pending": 1})
    assert [parse_chunk(b).recipient_ids for b in _bodies(world)] == [(ids[0],)]
    assert service.retry_deferred_due() == {}  # once: it is pending now, no longer deferred


def test_the_periodic_retry_leaves_jobs_that_are_not_running(world: World) -> None:
    job_id, _ = _create(world, 2, content=TemplateContent("hello", "en"))
    _fail(world, 0, "131049")
    drain(world, world.worker())
    service = world.service()
    service.pause(job_id, "usr_1")
    world.clock.advance(24 * 3600)
    assert service.retry_deferred_due() == {}
    assert statuses(world, job_id)["deferred"] == 1


@pytest.mark.parametrize("code", ["131048", "132015", "132016"])
def test_pause_codes_pause_the_job(world: World, code: str) -> None:
    job_id, _ = _create(world, 10)
    _fail(world, 3, code)
    drain(world, world.worker())
    job = world.service().get(job_id)
    assert job["status"] == "paused" and job["pauseReason"] in {
        "SPAM_RATE_LIMIT",
        "TEMPLATE_PAUSED",
        "TEMPLATE_DISABLED",
    }
    assert statuses(world, job_id) == Counter({"sent": 3, "pending": 7})
    assert_counters_match(world, job_id)
    world.service().resume(job_id, "usr_1")
    drain(world, world.worker())
    assert statuses(world, job_id) == Counter({"sent": 10})
    assert len(set(world.driver_calls())) == 10


def test_auto_pause_on_failure_rate(world: World) -> None:
    job_id, _ = _create(world, 30)
    world.tables["SystemConfig"].put({"configKey": FAILURE_RATE_KEY, "configValue": 0.5})
    for i in range(30):
        if i % 3 != 0:
            _fail(world, i, "100")  # two thirds fail: 66 % > 50 %
    drain(world, world.worker(min_attempts=10))
    job = world.service().get(job_id)
    assert job["status"] == "paused" and job["pauseReason"] == "FAILURE_RATE"
    assert job["counts"]["pending"] > 0
    assert_counters_match(world, job_id)
    audits = world.tables["AuditLogs"].scan(limit=1000).items
    assert any(a["action"] == "bulk.paused" and a["userId"] == "system:bulk" for a in audits)


def test_a_rate_wait_longer_than_allowed_hands_the_rest_back(world: World) -> None:
    ids = world.add_contacts(12)
    job, _ = world.service().create(actor="usr_1", channel="sms", content=TEXT, contact_ids=ids)
    (body,) = _bodies(world)
    result = world.worker(max_rate_wait=0.0).process_chunk(body)
    assert result.stopped == "rate_wait" and result.sent >= 1 and result.retry
    assert result.sent + len(result.retry) == 12
    assert statuses(world, job.job_id)["pending"] == len(result.retry)
    assert_counters_match(world, job.job_id)
    drain(world, world.worker())  # nothing queued: the consumer re-queues; do it by hand
    world.worker().process_chunk(Chunk(job.job_id, tuple(result.retry)).body())
    assert statuses(world, job.job_id) == Counter({"sent": 12})
    assert len(world.driver_calls()) == 12


def test_a_template_job_works_outside_the_window(world: World) -> None:
    ids = world.add_contacts(3, last_inbound=None)
    job, _ = world.service().create(
        actor="usr_1", channel="whatsapp", contact_ids=ids, content=TemplateContent("hello", "en")
    )
    drain(world, world.worker())
    assert statuses(world, job.job_id) == Counter({"sent": 3})


def test_a_crash_cannot_separate_a_recipients_move_from_its_counter(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, _ = _create(world, 3)
    (body,) = _bodies(world)
    real = world.tables.transact  # type: ignore[attr-defined]
    calls = {"n": 0}

    def dies_once(writes: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the first recipient's move to 'sent': the process dies inside it
            raise SystemExit("killed mid-transaction")
        real(writes)

    monkeypatch.setattr(world.tables, "transact", dies_once)
    worker = world.worker()  # picks up the dying transaction
    with pytest.raises(SystemExit):
        worker.process_chunk(body)
    assert_counters_match(world, job_id)  # the counters never differ from the recipients
    monkeypatch.setattr(world.tables, "transact", real)
    world.worker().process_chunk(body)  # redelivered: the claim is taken over, the send replayed
    assert statuses(world, job_id) == Counter({"sent": 3})
    assert world.service().get(job_id)["status"] == "completed"
    assert_counters_match(world, job_id)
    assert len(world.driver_calls()) == 3


def test_an_idle_job_whose_counters_disagree_is_recounted_and_ended(world: World) -> None:
    job_id, _ = _create(world, 2)
    drain(world, world.worker())
    # A counter one move behind (an adapter without transactions, a crash between two writes).
    world.tables["BulkJobs"].update({"jobId": job_id}, Update(set={"status": "running", "pendingCount": 1}))
    assert world.service().settle_idle() == []  # moved a moment ago: left alone
    world.clock.advance(121)
    assert world.service().settle_idle() == [job_id]
    assert world.service().get(job_id)["status"] == "completed"
    assert_counters_match(world, job_id)


def test_a_stopping_worker_hands_its_chunk_back_and_sends_nothing_more(world: World) -> None:
    job_id, ids = _create(world, 4)
    (body,) = _bodies(world)
    worker = world.worker()
    worker.stop()
    result = worker.process_chunk(body)
    assert result.stopped == "stopping" and result.retry == ids
    assert world.driver_calls() == [] and statuses(world, job_id) == Counter({"pending": 4})


def test_a_send_that_raises_gives_back_the_recipients_claimed_ahead(world: World) -> None:
    job_id, _ = _create(world, 12)
    (body,) = _bodies(world)
    real_send = world.gateway.send
    sent: list[str] = []

    def send(request: OutboundRequest, **kw: Any) -> SendOutcome:
        if len(sent) == 2:
            raise RuntimeError("the store went away")
        sent.append(request.contact_id)
        return real_send(request, **kw)

    worker = world.worker(claim_ahead=8, stale_after=300.0)
    worker._gateway = type("Raising", (), {"send": staticmethod(send)})()
    with pytest.raises(RuntimeError):
        worker.process_chunk(body)
    # Only the recipient whose send raised stays claimed (its outcome is unknown until its claim turns
    # stale); the others claimed with it are pending again, for any worker.
    assert statuses(world, job_id) == Counter({"sent": 2, "sending": 1, "pending": 9})
    assert_counters_match(world, job_id)


def test_a_cancel_mid_chunk_cancels_the_recipients_claimed_ahead(world: World) -> None:
    job_id, _ = _create(world, 12)
    (body,) = _bodies(world)
    real_send = world.gateway.send
    sent: list[str] = []

    def send(request: OutboundRequest, **kw: Any) -> SendOutcome:
        outcome = real_send(request, **kw)
        sent.append(request.contact_id)
        if len(sent) == 2:
            world.service().cancel(job_id, "usr_1")  # the operator cancels while the chunk is in hand
        return outcome

    worker = world.worker(claim_ahead=8, stale_after=300.0)
    worker._gateway = type("Cancelling", (), {"send": staticmethod(send)})()
    worker.process_chunk(body)
    assert statuses(world, job_id) == Counter({"sent": 2, "cancelled": 10})
    assert world.service().get(job_id)["status"] == "cancelled"
    assert_counters_match(world, job_id)
