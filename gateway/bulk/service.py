"""Bulk jobs for the API: create (with preflight), control (pause/resume/cancel), and read.

Creation streams (:meth:`BulkService.create`): contact ids are read one at a time, each written as a
``BulkRecipients`` item (must-not-exist put, so a contact listed twice is one recipient) and fed to the
chunker, whose chunks of 100 go to ``bulk-queue`` in batches of 10 as they fill. Memory holds one chunk
and one batch, never the recipient list. The ``BulkJobs`` item is written **last** (``pendingCount`` =
the recipients written), so no reader ever sees a job whose counters disagree with its recipients, and
a worker that gets a chunk before its job exists hands it back for later.

Idempotency: with an Idempotency-Key the job id is derived from (creator, key). A repeat of a finished
create answers the stored job; a repeat of a create that died midway redoes it — recipients the dead
attempt wrote are adopted (each item records the ``createAttempt`` that wrote it, so a repeat within
one list is told apart from a survivor of an earlier attempt), chunks are enqueued again (harmless:
claims dedupe), and the job is written once. The same key with a different request is refused.

Scheduled jobs (``sendAt``) are written ``scheduled`` and not enqueued; :meth:`start_due` (run it
periodically) enqueues each due job's pending recipients and moves it to ``pending``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Any

from gateway import kill_switch
from gateway.bulk.chunks import BULK_QUEUE, chunks
from gateway.bulk.consumer import requeue
from gateway.bulk.content import content_document, content_from_document
from gateway.bulk.jobs import (
    JOB_STATUSES,
    RECIPIENT_STATUSES,
    TERMINAL,
    Job,
    JobStore,
    counter,
    progress,
)
from gateway.bulk.preflight import Decider, preflight
from gateway.bulk.recipients import RecipientStore, new_recipient
from gateway.bulk.worker import settle
from gateway.clock import Clock
from gateway.errors import Conflict, InvalidInput
from gateway.outbound.ports import AuditTrail
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import Content, OutboundRequest
from gateway.queue.port import MAX_BATCH, OutgoingMessage, Queues
from gateway.store.cursor import as_invalid_input
from gateway.store.port import Item, Tables

MAX_RECIPIENTS = 100_000
MAX_SCHEDULE_AHEAD = 35 * 24 * 3600
_HIDDEN = ("createAttempt",)


def senders_of(phone_number_id: str | None, phone_number_ids: Sequence[str] = ()) -> tuple[str, ...]:
    """The WhatsApp numbers a job sends from: several (recipients alternate between them, in list
    order), one, or none (the gateway's default number)."""
    if phone_number_id and phone_number_ids:
        raise InvalidInput(
            "give phoneNumberId or phoneNumberIds, not both",
            code="INVALID_INPUT",
            details={"field": "phoneNumberIds"},
        )
    senders = tuple(phone_number_ids) or ((phone_number_id,) if phone_number_id else ())
    if len(set(senders)) != len(senders) or not all(isinstance(p, str) and p for p in senders):
        raise InvalidInput(
            "phoneNumberIds must be distinct, non-empty phone number ids",
            code="INVALID_INPUT",
            details={"field": "phoneNumberIds"},
        )
    return senders


def sender_at(senders: tuple[str, ...], index: int) -> str | None:
    return senders[index % len(senders)] if senders else None


def job_id_for(actor: str, idempotency_key: str) -> str:
    return "job_" + hashlib.sha256(f"{actor}\x00{idempotency_key}".encode()).hexdigest()[:32]


def _contact_ids(contact_ids: Iterable[Any], limit: int) -> Iterator[str]:
    if isinstance(contact_ids, Sized) and len(contact_ids) > limit:
        raise InvalidInput(
            f"a bulk job takes at most {limit} recipients", code="TOO_MANY_RECIPIENTS", details={"max": limit}
        )
    for n, contact_id in enumerate(contact_ids, start=1):
        if n > limit:
            raise InvalidInput(
                f"a bulk job takes at most {limit} recipients",
                code="TOO_MANY_RECIPIENTS",
                details={"max": limit},
            )
        if not isinstance(contact_id, str) or not contact_id.strip():
            raise InvalidInput("every contact id must be a non-empty string", code="INVALID_CONTACT_ID")
        yield contact_id


class BulkService:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        queues: Queues,
        decider: Decider,
        audit: AuditTrail,
        *,
        tier: TierTracker | None = None,
        on_end: Callable[[str], object] | None = None,
        max_recipients: int = MAX_RECIPIENTS,
    ) -> None:
        self._clock = clock
        self._queue = queues[BULK_QUEUE]
        self._decider = decider
        self._audit = audit
        self._tier = tier
        self._max = max_recipients
        # Once a job ends: by default its unused tier capacity is released (the composition root adds
        # the report and the metrics: gateway.bulk.ending).
        if on_end is None and tier is not None:
            on_end = tier.release
        self.jobs = JobStore(tables, clock, on_end=on_end)
        self.recipients = RecipientStore(tables, clock, self.jobs)

    # -- validation -------------------------------------------------------------------------------

    @staticmethod
    def _probe(
        channel: str, content: Content, phone_number_id: str | None, contact_id: str
    ) -> OutboundRequest:
        # OutboundRequest's own checks: the ones POST /api/messages applies to channel and content.
        return OutboundRequest(
            contact_id=contact_id,
            channel=channel,  # type: ignore[arg-type]
            content=content,
            origin="bulk",
            phone_number_id=phone_number_id,
        )

    def _check_send_at(self, send_at: float | None) -> None:
        if send_at is None:
            return
        if isinstance(send_at, bool) or not isinstance(send_at, int | float):
            raise InvalidInput("sendAt must be epoch seconds", code="INVALID_SEND_AT")
        if send_at > self._clock.now() + MAX_SCHEDULE_AHEAD:
            raise InvalidInput(
                "sendAt may be at most 35 days ahead",
                code="INVALID_SEND_AT",
                details={"maxSeconds": MAX_SCHEDULE_AHEAD},
            )

    # -- preflight --------------------------------------------------------------------------------

    def preflight(
        self,
        *,
        channel: str,
        content: Content,
        contact_ids: Iterable[Any],
        phone_number_id: str | None = None,
        phone_number_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``{"total", "wouldSend", "refused": {CODE: n}, "opensConversations"}``; writes nothing."""
        senders = senders_of(phone_number_id, phone_number_ids)
        for sender in senders or (None,):
            self._probe(channel, content, sender, "probe")
        seen: set[str] = set()

        def requests() -> Iterator[OutboundRequest]:
            for contact_id in _contact_ids(contact_ids, self._max):
                if contact_id in seen:  # one recipient per contact, as create does
                    continue
                # Each recipient decided with the number it will be sent from, as create assigns it.
                yield self._probe(channel, content, sender_at(senders, len(seen)), contact_id)
                seen.add(contact_id)

        answer = preflight(self._decider, requests()).to_dict()
        if channel == "whatsapp" and self._tier is not None:
            answer["tier"] = self._tier.status().as_dict()
        return answer

    # -- create -----------------------------------------------------------------------------------

    def create(
        self,
        *,
        actor: str,
        channel: str,
        content: Content,
        contact_ids: Iterable[Any],
        idempotency_key: str | None = None,
        name: str = "",
        phone_number_id: str | None = None,
        send_at: float | None = None,
        preflight_result: dict[str, Any] | None = None,
        phone_number_ids: Sequence[str] = (),
    ) -> tuple[Job, bool]:
        """Write the job and its recipients and enqueue its chunks; returns (job, created)."""
        senders = senders_of(phone_number_id, phone_number_ids)
        for sender in senders or (None,):
            self._probe(channel, content, sender, "probe")
        document = content_document(content)
        self._check_send_at(send_at)
        now = self._clock.now()
        scheduled = send_at is not None and send_at > now
        job_id = job_id_for(actor, idempotency_key) if idempotency_key else "job_" + uuid.uuid4().hex
        digest = hashlib.sha256(
            json.dumps(
                {
                    "channel": channel,
                    "content": document,
                    "phoneNumberId": phone_number_id,
                    **({"phoneNumberIds": list(senders)} if len(senders) > 1 else {}),
                    "sendAt": send_at,
                    "name": name,
                },
                sort_keys=True,
                default=str,
            ).encode()
        )
        existing = self.jobs.get(job_id)
        attempt = uuid.uuid4().hex

        written = 0

        def accepted() -> Iterator[str]:
            nonlocal written
            for contact_id in _contact_ids(contact_ids, self._max):
                digest.update(b"\x00" + contact_id.encode())
                sender = sender_at(senders, written)
                if existing is None and self._write_recipient(job_id, contact_id, attempt, sender):
                    written += 1
                    yield contact_id

        if existing is not None:
            for _ in accepted():
                pass
            return self._repeat(existing, digest.hexdigest(), idempotency_key), False
        total = self._write_all(
            job_id, channel, accepted(), scheduled=scheduled, preflight_result=preflight_result
        )
        item: Item = {
            "jobId": job_id,
            "createdBy": actor,
            "channel": channel,
            "name": name,
            "content": document,
            "status": "scheduled" if scheduled else "pending",
            "totalRecipients": total,
            "createdAt": now,
            "updatedAt": now,
            "requestHash": digest.hexdigest(),
            **{counter(s): 0 for s in RECIPIENT_STATUSES},
            counter("pending"): total,
        }
        if len(senders) == 1:
            item["phoneNumberId"] = senders[0]
        elif senders:
            item["phoneNumberIds"] = list(senders)
        if send_at is not None:
            item["sendAt"] = send_at
        if idempotency_key:
            item["idempotencyKey"] = idempotency_key
        if preflight_result is not None:
            item["preflight"] = preflight_result
        if not self.jobs.create(item):
            raced = self.jobs.require(job_id)
            return self._repeat(raced, digest.hexdigest(), idempotency_key), False
        self._audit.record(
            actor,
            "bulk.created",
            "bulkJob",
            job_id,
            {"channel": channel, "totalRecipients": total, "status": item["status"]},
        )
        return Job(item), True

    def _write_all(
        self,
        job_id: str,
        channel: str,
        recipient_ids: Iterator[str],
        *,
        scheduled: bool,
        preflight_result: dict[str, Any] | None,
    ) -> int:
        """Write the recipients and (unless scheduled) enqueue their chunks; returns how many."""
        total = 0

        def counted() -> Iterator[str]:
            nonlocal total
            for recipient_id in recipient_ids:
                total += 1
                yield recipient_id

        if scheduled:
            for _ in counted():
                pass
        else:
            # Capacity first, so no chunk is on the queue for a job the tier cannot carry (13.10).
            reserved = self._reserve(job_id, channel, preflight_result)
            try:
                self._enqueue(job_id, counted())
            except BaseException:
                if reserved and self._tier is not None:
                    self._tier.release(job_id)
                raise
        if total == 0:
            if not scheduled and self._tier is not None:
                self._tier.release(job_id)
            raise InvalidInput("a bulk job needs at least one recipient", code="NO_RECIPIENTS")
        return total

    def _reserve(self, job_id: str, channel: str, preflight_result: dict[str, Any] | None) -> int:
        """Reserve the conversations the job opens (its preflight's count); 422 TIER_LIMIT if they do
        not fit in what is left of the rolling-24 h limit. Returns the slots reserved."""
        if channel != "whatsapp" or self._tier is None:
            return 0
        needed = int((preflight_result or {}).get("opensConversations", 0))
        self._tier.reserve(job_id, needed)
        return needed

    def _write_recipient(self, job_id: str, contact_id: str, attempt: str, sender: str | None) -> bool:
        """True when the recipient is this attempt's to count (new, or left by a dead earlier attempt)."""
        if self.recipients.add(new_recipient(job_id, contact_id, attempt, phone_number_id=sender)):
            return True
        current = self.recipients.get(job_id, contact_id)
        if current is None or current.get("createAttempt") == attempt:
            return False  # listed twice in this request
        # Adopt it, so a second listing in this request is recognised as a repeat.
        return self.recipients.adopt(job_id, contact_id, str(current.get("createAttempt")), attempt)

    def _repeat(self, job: Job, request_hash: str, key: str | None) -> Job:
        if job.item.get("requestHash") != request_hash:
            raise InvalidInput(
                "this Idempotency-Key was already used for a different bulk job; use a new key",
                code="IDEMPOTENCY_KEY_REUSED",
                details={"idempotencyKey": key, "jobId": job.job_id},
            )
        return job

    def _enqueue(self, job_id: str, recipient_ids: Iterable[str]) -> int:
        batch: list[OutgoingMessage] = []
        sent = 0
        for chunk in chunks(job_id, recipient_ids):
            batch.append(OutgoingMessage(chunk.body()))
            if len(batch) == MAX_BATCH:
                sent += len(self._queue.send_batch(batch))
                batch = []
        if batch:
            sent += len(self._queue.send_batch(batch))
        return sent

    def enqueue_pending(self, job_id: str, statuses: tuple[str, ...] = ("pending", "sending")) -> int:
        """Enqueue every recipient still ``pending`` — and ``sending``, so a claim a dead worker left
        behind is resolved (a live one is handed back by the worker) — for resume, a due scheduled job,
        a cancel; returns the chunks sent."""

        def ids() -> Iterator[str]:
            for status in statuses:
                for item in self.recipients.iter_status(job_id, status):
                    yield str(item["recipientId"])

        return self._enqueue(job_id, ids())

    # -- control ----------------------------------------------------------------------------------

    def pause(self, job_id: str, actor: str) -> Job:
        job = self.jobs.transition(
            job_id,
            "paused",
            expect=("pending", "running"),
            fields={"pausedBy": actor, "pauseReason": "OPERATOR"},
        )
        self._audit.record(actor, "bulk.paused", "bulkJob", job_id, {"reason": "OPERATOR"})
        return job

    def resume(self, job_id: str, actor: str) -> Job:
        job = self.jobs.transition(job_id, "running", expect=("paused",), fields={"resumedBy": actor})
        chunks_sent = self.enqueue_pending(job_id)
        self._audit.record(actor, "bulk.resumed", "bulkJob", job_id, {"chunks": chunks_sent})
        return settle(self.jobs, self.recipients, job_id) or job

    def cancel(self, job_id: str, actor: str) -> Job:
        """Cancelling: every unsent recipient (pending, deferred) becomes ``cancelled``; a send already
        in flight finishes, then the job is ``cancelled``."""
        self.jobs.transition(job_id, "cancelling", fields={"cancelledBy": actor})
        marked = 0
        for status in ("pending", "deferred"):
            for item in self.recipients.iter_status(job_id, status):
                if self.recipients.move(job_id, str(item["recipientId"]), status, "cancelled") is not None:
                    marked += 1
        self.enqueue_pending(job_id, ("sending",))  # in flight or left by a crash: resolved by a worker
        self._audit.record(actor, "bulk.cancelled", "bulkJob", job_id, {"recipientsCancelled": marked})
        return settle(self.jobs, self.recipients, job_id) or self.jobs.require(job_id)

    def resume_released(self, sending_paused: Callable[[str], bool]) -> list[str]:
        """Resume every job the kill switch paused whose channel the switch no longer covers."""
        resumed: list[str] = []
        for job in self._all("paused"):
            if job.item.get("pauseReason") != kill_switch.REASON or sending_paused(job.channel):
                continue
            try:
                self.resume(job.job_id, "system:bulk")
            except Conflict:
                continue  # an operator resumed or cancelled it meanwhile
            resumed.append(job.job_id)
        return resumed

    def start_due(self) -> list[str]:
        """Start every scheduled job whose ``sendAt`` has come; returns their ids."""
        now = self._clock.now()
        started: list[str] = []
        for job in self._all("scheduled"):
            if float(job.item.get("sendAt", 0)) > now:
                continue
            try:
                self._reserve(job.job_id, job.channel, self._due_preflight(job))
            except InvalidInput as refused:
                self._pause_for_tier(job.job_id, refused.details)
                continue
            self.enqueue_pending(job.job_id)
            try:
                self.jobs.transition(job.job_id, "pending", expect=("scheduled",))
            except Conflict:
                continue
            started.append(job.job_id)
        return started

    def _pause_for_tier(self, job_id: str, details: dict[str, Any]) -> None:
        """A due job the tier cannot carry now waits, paused with the numbers, for an operator (on
        resume its sends draw on whatever capacity is left, recipient by recipient)."""
        try:
            self.jobs.transition(job_id, "pending", expect=("scheduled",))
            self.jobs.transition(
                job_id,
                "paused",
                expect=("pending",),
                fields={"pauseReason": "TIER_LIMIT", "pauseDetails": details, "pausedBy": "system:bulk"},
            )
        except Conflict:
            return  # cancelled meanwhile
        self._audit.record(
            "system:bulk", "bulk.paused", "bulkJob", job_id, {"reason": "TIER_LIMIT", **details}
        )

    def _due_preflight(self, job: Job) -> dict[str, Any] | None:
        """The conversations a due scheduled job opens, decided now (its windows may have changed)."""
        if job.channel != "whatsapp" or self._tier is None:
            return None  # nothing to reserve: no preflight to pay for
        content = content_from_document(job.item["content"])
        ids = (str(r["contactId"]) for r in self.recipients.iter_status(job.job_id, "pending"))
        return self.preflight(
            channel=job.channel,
            content=content,
            contact_ids=ids,
            phone_number_id=job.item.get("phoneNumberId") or None,
            phone_number_ids=tuple(job.item.get("phoneNumberIds") or ()),
        )

    def retry_deferred(self, job_id: str) -> int:
        """Deferred recipients whose 24 h have passed go back to pending and onto the queue."""
        now = self._clock.now()
        due = [
            str(r["recipientId"])
            for r in self.recipients.iter_status(job_id, "deferred")
            if float(r.get("retryAt", 0)) <= now
        ]
        moved = [r for r in due if self.recipients.move(job_id, r, "deferred", "pending") is not None]
        if moved:
            requeue(self._queue, job_id, moved, 0)
        return len(moved)

    def retry_deferred_due(self) -> dict[str, int]:
        """:meth:`retry_deferred` for every ``running`` job (run it periodically); returns, per job,
        the recipients re-queued (jobs with none due are left out)."""
        retried: dict[str, int] = {}
        for job in builtins.list(self._all("running")):
            moved = self.retry_deferred(job.job_id)
            if moved:
                retried[job.job_id] = moved
        return retried

    def settle_idle(self, idle_seconds: float = 120.0) -> builtins.list[str]:
        """Recount and settle every running or cancelling job no recipient has moved in for
        ``idle_seconds`` (run it periodically): a counter a crash left one move behind would otherwise
        keep such a job open. Returns the jobs that ended."""
        now = self._clock.now()
        ended: builtins.list[str] = []
        for status in ("running", "cancelling"):
            for job in builtins.list(self._all(status)):
                if now - float(job.item.get("updatedAt", now)) < idle_seconds:
                    continue
                self.jobs.reconcile(job.job_id)
                final = settle(self.jobs, self.recipients, job.job_id)
                if final is not None and final.status in TERMINAL:
                    ended.append(job.job_id)
        return ended

    # -- reads ------------------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any]:
        return self._view(self.jobs.require(job_id))

    def _view(self, job: Job) -> dict[str, Any]:
        return {**job.view(), **progress(job, self._clock.now())}

    def _all(self, status: str) -> Iterator[Job]:
        cursor: str | None = None
        while True:
            jobs, cursor = self.jobs.list(status, limit=100, cursor=cursor)
            yield from jobs
            if cursor is None:
                return

    def list(
        self, status: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """Jobs newest first; one status pages with a cursor, all statuses answer the newest ``limit``."""
        if status is not None:
            if status not in JOB_STATUSES:
                raise InvalidInput(f"unknown job status {status!r}", code="INVALID_STATUS")
            with as_invalid_input():  # a cursor this API did not issue is the caller's mistake (422)
                jobs, next_cursor = self.jobs.list(status, limit=limit, cursor=cursor)
            return [self._view(j) for j in jobs], next_cursor
        merged: list[Job] = []
        for each in JOB_STATUSES:
            merged.extend(self.jobs.list(each, limit=limit)[0])
        merged.sort(key=lambda j: float(j.item.get("createdAt", 0)), reverse=True)
        return [self._view(j) for j in merged[:limit]], None

    def recipient_page(
        self, job_id: str, status: str | None = None, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        self.jobs.require(job_id)
        if status is not None and status not in RECIPIENT_STATUSES:
            raise InvalidInput(f"unknown recipient status {status!r}", code="INVALID_STATUS")
        with as_invalid_input():
            items, next_cursor = self.recipients.by_status(job_id, status, limit=limit, cursor=cursor)
        return [{k: v for k, v in i.items() if k not in _HIDDEN} for i in items], next_cursor
