"""The bulk worker: one chunk of recipients, each one ``gateway.send()`` with origin ``bulk``.

For each recipient id of a chunk, in order: stop unless the job is ``running`` (a ``pending`` job is
started by its first chunk; paused, cancelling and ended jobs stop the chunk, leaving the rest as they
are: resume re-enqueues whatever is still pending); claim it (:meth:`RecipientStore.claim`); send it
through the gateway under its derived message id; record the outcome (the counters follow each move);
apply the provider error table (:mod:`gateway.bulk.errors`); watch the failure rate.

What comes back (:class:`ChunkResult`) tells the consumer what to re-queue: recipients put back for a
retry (a throttle, a pair-rate limit, a rate-limit wait longer than ``max_rate_wait``, the chunk's
``deadline`` reached, a recipient another worker is still sending) and after how long. Nothing is ever
dropped: a recipient not re-queued is final, cancelled, deferred, or pending in a paused job.

Exceptions other than a per-message outcome (the store is down, the process is dying) propagate: the
queue message is then not deleted and comes back after its visibility timeout; a recipient left
``sending`` is resolved then (see :mod:`gateway.bulk.recipients`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway import kill_switch
from gateway.bulk.chunks import Chunk, parse_chunk
from gateway.bulk.content import content_from_document
from gateway.bulk.errors import DAY, Action, rule_for
from gateway.bulk.jobs import TERMINAL, Job, JobStore
from gateway.bulk.recipients import Claim, RecipientStore, message_id
from gateway.clock import Clock
from gateway.errors import Conflict, TooManyRequests
from gateway.messages.repository import MessageRepository
from gateway.messages.status import MessageStatus
from gateway.outbound.ports import AuditTrail
from gateway.outbound.records import outcome as stored_outcome
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import Content, OutboundRequest, SendOutcome
from gateway.store.conditions import eq
from gateway.store.port import ConditionFailed, Tables, Update

log = logging.getLogger("wecare.bulk.worker")

FAILURE_RATE_KEY = "bulk.autoPause.failureRate"
DEFAULT_FAILURE_RATE = 0.2
FAILURE_WINDOW = 100
UNREACHABLE_FLAG = "whatsappUnreachable"


class Sender(Protocol):
    """What the worker needs of :class:`~gateway.outbound.gateway.Gateway`."""

    def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome: ...


@dataclass
class ChunkResult:
    job_id: str
    sent: int = 0
    failed: int = 0
    rejected: int = 0
    deferred: int = 0
    unknown: int = 0
    skipped: int = 0  # already handled (final, cancelled, deferred) or claimed by someone else
    retry: list[str] = field(default_factory=list)  # to re-queue, after ``retry_delay`` seconds
    retry_delay: float = 0.0
    stopped: str | None = None  # why the chunk stopped early: the job's status, "rate_wait", "backoff"…
    job_status: str = ""


def settle(jobs: JobStore, recipients: RecipientStore, job_id: str) -> Job | None:
    """End the job when nothing is left to move: running → completed, cancelling → cancelled.

    The counters are then recounted from the recipients (exact: no recipient can move any more).
    """
    job = jobs.get(job_id)
    if job is None:
        return None
    target = {"running": "completed", "cancelling": "cancelled"}.get(job.status)
    if target is None:
        return job
    busy = ("pending", "sending", "deferred") if target == "completed" else ("sending",)
    # The counters first (one item already read): while they say a recipient is still to move, the
    # job is not done, and the exact check — a query of the job's recipients — is not paid for on
    # every chunk. A counter left behind by a crash (see gateway.bulk.jobs) is recounted by
    # BulkService.settle_idle.
    counts = job.counts()
    if any(counts[s] > 0 for s in busy) or recipients.any_in(job_id, busy):
        return job
    try:
        jobs.transition(job_id, target, expect=(job.status,))
    except Conflict:
        return jobs.get(job_id)
    return jobs.reconcile(job_id)


# Recipients a worker claims in one transaction (see ``BulkWorker``'s ``claim_ahead``).
CLAIM_AHEAD = 8


class FailureWindow:
    """The outcomes of a job's last ``size`` provider attempts, in this process (thread-safe)."""

    def __init__(self, size: int = FAILURE_WINDOW) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._windows: dict[str, deque[bool]] = {}

    def add(self, job_id: str, failed: bool) -> tuple[int, float]:
        """Record one attempt; returns (attempts in the window, failure rate)."""
        with self._lock:
            window = self._windows.setdefault(job_id, deque(maxlen=self._size))
            window.append(failed)
            return len(window), sum(window) / len(window)

    def reset(self, job_id: str) -> None:
        with self._lock:
            self._windows.pop(job_id, None)


class BulkWorker:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        gateway: Sender,
        *,
        audit: AuditTrail | None = None,
        max_rate_wait: float = 5.0,
        deadline_seconds: float | None = None,
        min_attempts: int = FAILURE_WINDOW,
        stale_after: float = 300.0,
        tier: TierTracker | None = None,
        on_end: Callable[[str], object] | None = None,
        after_late_change: Callable[[str], object] | None = None,
        status_check_seconds: float = 0.25,
        claim_ahead: int = CLAIM_AHEAD,
        sending_paused: Callable[[str], bool] | None = None,
    ) -> None:
        self._tables = tables
        self._clock = clock
        self._gateway = gateway
        self._audit = audit
        self._max_rate_wait = max_rate_wait
        self._deadline = deadline_seconds
        self._min_attempts = min_attempts
        self._messages = MessageRepository(tables)
        # A job that ends gives back the tier capacity it reserved and did not use.
        if on_end is None and tier is not None:
            on_end = tier.release
        self.jobs = JobStore(tables, clock, on_end=on_end)
        # A recipient of an ended job that changed afterwards (a late delivery failure): the report
        # is written again.
        self._after_late_change = after_late_change
        self.recipients = RecipientStore(tables, clock, self.jobs, stale_after=stale_after)
        self.failures = FailureWindow()
        self._stopping = threading.Event()
        self._status_check = status_check_seconds
        # Up to this many recipients are claimed in one transaction. More saves commits but shows more
        # recipients "sending" at once and holds more for a dead worker until their claims turn stale.
        self._claim_ahead = max(1, claim_ahead)
        # The kill switch (gateway.kill_switch): read before each send, at most a second stale.
        self._sending_paused = sending_paused or (lambda _channel: False)

    def stop(self) -> None:
        """Finish the send in hand and hand the rest of every chunk back (the process is stopping)."""
        self._stopping.set()

    # -- the one operation -------------------------------------------------------------------------

    def process_chunk(self, body: str | Mapping[str, Any]) -> ChunkResult:
        chunk = parse_chunk(body)
        result = ChunkResult(chunk.job_id)
        started = time.monotonic()
        job = self._start(chunk, result)
        if job is None:
            return result
        content = content_from_document(job.item["content"])
        threshold = self._failure_threshold()
        ids = chunk.recipient_ids
        # Recipients claimed ahead, a few at a time (one commit for several); whatever is still held when
        # the loop stops early goes back to pending before anything else looks at it.
        held: dict[str, Claim | None] = {}
        try:
            self._send_all(
                job, ids=ids, content=content, threshold=threshold, result=result, held=held, started=started
            )
        finally:
            self.recipients.release_many(job.job_id, [c for c in held.values() if c is not None])
        final = settle(self.jobs, self.recipients, job.job_id)
        result.job_status = final.status if final is not None else ""
        return result

    def _send_all(
        self,
        job: Job,
        *,
        ids: tuple[str, ...],
        content: Content,
        threshold: float,
        result: ChunkResult,
        held: dict[str, Claim | None],
        started: float,
    ) -> None:
        status, checked = job.status, time.monotonic()
        for index, recipient_id in enumerate(ids):
            # The job's state is read again at most every status_check_seconds: a pause or cancel
            # stops new sends within that (8.7 asks for 1 s), without a read per recipient.
            if time.monotonic() - checked >= self._status_check:
                status, checked = self._job_status(job.job_id), time.monotonic()
            if status != "running":
                result.stopped = status
                if status in ("cancelling", "cancelled"):
                    self._cancel_held(job.job_id, held)
                if status == "cancelling":
                    self._resolve_for_cancel(job, ids[index:], result)
                break
            if self._stopping.is_set() or (
                self._deadline is not None and time.monotonic() - started >= self._deadline
            ):
                # Handed back, not held: the rest of the chunk is re-queued for any worker.
                result.retry.extend(ids[index:])
                result.stopped = "stopping" if self._stopping.is_set() else "deadline"
                break
            if self._sending_paused(job.channel):
                # The kill switch: the job waits, paused, instead of each recipient being refused.
                self._pause_for_switch(job)
                result.stopped = "paused"
                break
            if recipient_id not in held:
                held.update(self.recipients.claim_many(job.job_id, ids[index : index + self._claim_ahead]))
            claim = held.pop(recipient_id)
            if claim is None:
                if not self._hand_back_if_held(job.job_id, recipient_id, result):
                    result.skipped += 1
                continue
            request = OutboundRequest(
                contact_id=str(claim.item["contactId"]),
                channel=job.item["channel"],
                content=content,
                origin="bulk",
                actor=f"bulk:{job.job_id}",
                phone_number_id=claim.item.get("phoneNumberId") or job.item.get("phoneNumberId") or None,
                message_id=claim.message_id,
                context={"bulkJobId": job.job_id, "recipientId": recipient_id},
            )
            try:
                outcome = self._gateway.send(request, max_rate_wait=self._max_rate_wait)
            except TooManyRequests as exc:
                # Nothing was stored for this id: put the recipient back and hand the rest back.
                self._release(claim, job.job_id, recipient_id, same_attempt=True)
                result.retry.extend(ids[index:])
                result.retry_delay = max(result.retry_delay, float(exc.details.get("retryAfterSeconds", 1.0)))
                result.stopped = "rate_wait"
                break
            if self._record(
                job, claim, outcome, recipient_id=recipient_id, result=result, threshold=threshold
            ):
                result.retry.extend(ids[index + 1 :])
                break

    # -- steps -------------------------------------------------------------------------------------

    def _start(self, chunk: Chunk, result: ChunkResult) -> Job | None:
        job = self.jobs.get(chunk.job_id)
        if job is None or job.status == "scheduled":
            # Not created yet (creation writes the job last) or not due: keep the chunk for later.
            result.retry.extend(chunk.recipient_ids)
            result.retry_delay = 5.0
            result.stopped = "job_missing" if job is None else "scheduled"
            result.job_status = job.status if job is not None else ""
            return None
        if job.status == "pending":
            try:
                job = self.jobs.transition(job.job_id, "running", expect=("pending",))
            except Conflict:
                job = self.jobs.require(job.job_id)
        if job.status != "running":
            result.stopped = job.status
            if job.status == "cancelling":
                self._resolve_for_cancel(job, chunk.recipient_ids, result)
            final = settle(self.jobs, self.recipients, job.job_id)
            result.job_status = final.status if final is not None else job.status
            return None
        return job

    def _cancel_held(self, job_id: str, held: dict[str, Claim | None]) -> None:
        """Recipients claimed ahead and never sent, in a job being cancelled: cancelled here, not given
        back as pending, since the job's own sweep of its pending recipients may already have run."""
        now = self._clock.now()
        for recipient_id, claim in held.items():
            if claim is not None:
                self._finish(claim, job_id, recipient_id, "cancelled", {"finishedAt": now})
        held.clear()

    def _resolve_for_cancel(self, job: Job, ids: tuple[str, ...], result: ChunkResult) -> None:
        """A cancelling job starts no send; a recipient a dead worker left ``sending`` still gets its
        answer: the stored message's outcome when the send had persisted one, else ``cancelled``."""
        for recipient_id in ids:
            claim = self.recipients.take_over(job.job_id, recipient_id)
            if claim is None:
                self._hand_back_if_held(job.job_id, recipient_id, result)
                continue
            stored = self._messages.get(claim.message_id)
            if stored is None:
                self._finish(claim, job.job_id, recipient_id, "cancelled", {"finishedAt": self._clock.now()})
                continue
            self._record(
                job,
                claim,
                stored_outcome(stored, replayed=True),
                recipient_id=recipient_id,
                result=result,
                threshold=1.0,
            )

    def _hand_back_if_held(self, job_id: str, recipient_id: str, result: ChunkResult) -> bool:
        """A recipient another worker holds is re-queued for when its claim would turn stale (a live
        holder has finished by then; a dead one's claim can then be taken over)."""
        wait = self.recipients.in_flight_elsewhere(job_id, recipient_id)
        if wait is None:
            return False
        result.retry.append(recipient_id)
        result.retry_delay = max(result.retry_delay, wait)
        return True

    def _job_status(self, job_id: str) -> str:
        job = self.jobs.get(job_id)
        return job.status if job is not None else ""

    def _failure_threshold(self) -> float:
        item = self._tables["SystemConfig"].get({"configKey": FAILURE_RATE_KEY})
        value = item.get("configValue") if item is not None else None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1:
            return float(value)
        return DEFAULT_FAILURE_RATE

    def _release(self, claim: Claim, job_id: str, recipient_id: str, *, same_attempt: bool) -> None:
        attempt = claim.attempt if same_attempt else claim.attempt + 1
        self.recipients.move(
            job_id,
            recipient_id,
            "sending",
            "pending",
            {"attempt": attempt, "messageId": message_id(job_id, recipient_id, attempt)},
            extra=eq("claimedAt", claim.item["claimedAt"]),
        )

    def _finish(
        self, claim: Claim, job_id: str, recipient_id: str, target: str, fields: Mapping[str, Any]
    ) -> None:
        moved = self.recipients.move(
            job_id, recipient_id, "sending", target, fields, extra=eq("claimedAt", claim.item["claimedAt"])
        )
        if moved is None:
            log.warning(
                "bulk recipient changed hands before its result was recorded",
                extra={"jobId": job_id, "recipientId": recipient_id, "status": target},
            )

    def _record(
        self,
        job: Job,
        claim: Claim,
        outcome: SendOutcome,
        *,
        recipient_id: str,
        result: ChunkResult,
        threshold: float,
    ) -> bool:
        """Record one outcome; True when the rest of the chunk must stop (and be re-queued)."""
        job_id = job.job_id
        now = self._clock.now()
        base: dict[str, Any] = {"messageId": outcome.message_id, "finishedAt": now}
        status = outcome.status
        if status is MessageStatus.rejected and kill_switch.REASON in outcome.reasons:
            # The switch flipped between our look and the gateway's: this recipient goes back to
            # pending (a new attempt, since this id now holds the refusal) and the job pauses.
            self._release(claim, job_id, recipient_id, same_attempt=False)
            self._pause_for_switch(job)
            result.stopped = "paused"
            return True
        if status is MessageStatus.rejected:
            self._finish(
                claim,
                job_id,
                recipient_id,
                "rejected",
                {**base, "reasons": outcome.reasons, "errorDetails": {"reasons": outcome.reasons}},
            )
            result.rejected += 1
            return False
        if status in (MessageStatus.sent, MessageStatus.delivered, MessageStatus.read):
            sent_at = outcome.message.get("statusTimestamps", {}).get("sent", now)
            self._finish(claim, job_id, recipient_id, "sent", {**base, "sentAt": sent_at})
            result.sent += 1
            return self._watch(job, False, threshold)
        if status is not MessageStatus.failed:
            # sending / unknown: the first attempt's outcome is not known. Never resent.
            self._finish(
                claim,
                job_id,
                recipient_id,
                "unknown",
                {**base, "errorDetails": dict(outcome.error or {"code": "OUTCOME_UNKNOWN"})},
            )
            result.unknown += 1
            return self._watch(job, True, threshold)
        return self._provider_failure(
            job, claim, outcome, recipient_id=recipient_id, result=result, threshold=threshold, base=base
        )

    def _provider_failure(
        self,
        job: Job,
        claim: Claim,
        outcome: SendOutcome,
        *,
        recipient_id: str,
        result: ChunkResult,
        threshold: float,
        base: dict[str, Any],
    ) -> bool:
        job_id = job.job_id
        error = dict(outcome.error or {})
        if outcome.failure == "content":
            self._finish(claim, job_id, recipient_id, "failed", {**base, "errorDetails": error})
            result.failed += 1
            return False
        code, rule = rule_for(error)
        details = {**error, "providerCode": code, "bulkAction": rule.action.value, "reason": rule.reason}
        if rule.action in (Action.backoff, Action.delay_recipient):
            self._release(claim, job_id, recipient_id, same_attempt=False)
            result.retry.append(recipient_id)
            result.retry_delay = max(result.retry_delay, rule.delay_seconds)
            if rule.action is Action.backoff:
                result.stopped = "backoff"
                return True
            return False
        if rule.action is Action.defer:
            if claim.item.get("deferredOnce"):
                self._finish(claim, job_id, recipient_id, "failed", {**base, "errorDetails": details})
                result.failed += 1
                return False
            attempt = claim.attempt + 1
            self._finish(
                claim,
                job_id,
                recipient_id,
                "deferred",
                {
                    **base,
                    "errorDetails": details,
                    "retryAt": self._clock.now() + DAY,
                    "deferredOnce": True,
                    "attempt": attempt,
                    "messageId": message_id(job_id, recipient_id, attempt),
                },
            )
            result.deferred += 1
            return False
        if rule.action is Action.pause_job:
            # Nothing was delivered: the recipient waits for resume under a fresh attempt id.
            self._release(claim, job_id, recipient_id, same_attempt=False)
            self.pause(job_id, rule.reason, {"providerCode": code})
            result.stopped = "paused"
            return False  # the loop sees the paused job and stops; resume re-enqueues the rest
        if rule.action is Action.unreachable:
            self._mark_unreachable(str(claim.item["contactId"]), code)
        if rule.action is Action.template_required:
            details["reasons"] = ["TEMPLATE_REQUIRED"]
        self._finish(claim, job_id, recipient_id, "failed", {**base, "errorDetails": details})
        result.failed += 1
        return self._watch(job, True, threshold)

    def _watch(self, job: Job, failed: bool, threshold: float) -> bool:
        attempts, rate = self.failures.add(job.job_id, failed)
        if attempts >= self._min_attempts and rate > threshold:
            self.pause(
                job.job_id,
                "FAILURE_RATE",
                {"failureRate": round(rate, 4), "threshold": threshold, "attempts": attempts},
            )
        return False

    def _pause_for_switch(self, job: Job) -> None:
        self.pause(job.job_id, kill_switch.REASON, {"channel": job.channel})

    def pause(self, job_id: str, reason: str, details: Mapping[str, Any]) -> bool:
        """The job pauses itself (an error code, the failure rate); audited as ``system:bulk``."""
        try:
            self.jobs.transition(
                job_id,
                "paused",
                expect=("pending", "running"),
                fields={"pauseReason": reason, "pauseDetails": dict(details), "pausedBy": "system:bulk"},
            )
        except Conflict:
            return False
        self.failures.reset(job_id)
        log.warning("bulk job paused: %s", reason, extra={"jobId": job_id, "details": dict(details)})
        if self._audit is not None:
            try:
                self._audit.record(
                    "system:bulk", "bulk.paused", "bulkJob", job_id, {"reason": reason, **dict(details)}
                )
            except Exception:
                log.exception("could not audit an automatic pause", extra={"jobId": job_id})
        return True

    # -- a failure reported later, by a delivery status -------------------------------------------------

    def on_delivery_failed(self, message: Mapping[str, Any]) -> str | None:
        """A bulk message the provider accepted and then reported ``failed`` (Meta's status webhook):
        the recipient moves from ``sent`` by the same error table as a refusal at send time.

        Running job: 131049 defers the recipient (retried once after 24 h), a throttle or pair-rate
        code defers it for the rule's delay, the pause codes pause the job; otherwise (and whenever
        the job has ended) the recipient is ``failed`` with the code, 131026 marking the contact
        unreachable. Idempotent (it moves only a recipient still ``sent`` under this message id), so
        a status applied twice, or replayed from the dead-letter queue, changes nothing more. Returns
        the recipient's new status, or None when the message is not a bulk recipient's current send.
        """
        context = message.get("context") or {}
        job_id, recipient_id = context.get("bulkJobId"), context.get("recipientId")
        if not job_id or not recipient_id:
            return None
        recipient = self.recipients.get(str(job_id), str(recipient_id))
        sent_id = str(message.get("messageId", ""))
        if recipient is None or recipient.get("status") != "sent" or recipient.get("messageId") != sent_id:
            return None
        job = self.jobs.require(str(job_id))
        running = job.status not in TERMINAL
        error = dict(message.get("errorDetails") or {})
        code, rule = rule_for(error)
        details = {**error, "providerCode": code, "bulkAction": rule.action.value, "reason": rule.reason}
        details["reportedBy"] = "deliveryStatus"
        target, fields = "failed", {"errorDetails": details, "finishedAt": self._clock.now()}
        retry_later = rule.action in (Action.defer, Action.backoff, Action.delay_recipient)
        if running and retry_later and not recipient.get("deferredOnce"):
            attempt = int(recipient.get("attempt", 0)) + 1
            target = "deferred"
            fields |= {
                "retryAt": self._clock.now() + (DAY if rule.action is Action.defer else rule.delay_seconds),
                "deferredOnce": rule.action is Action.defer,
                "attempt": attempt,
                "messageId": message_id(job.job_id, str(recipient_id), attempt),
            }
        elif rule.action is Action.template_required:
            details["reasons"] = ["TEMPLATE_REQUIRED"]
        moved = self.recipients.move(
            job.job_id, str(recipient_id), "sent", target, fields, extra=eq("messageId", sent_id)
        )
        if moved is None:
            return None  # moved meanwhile: whoever moved it owns the outcome
        if rule.action is Action.unreachable:
            self._mark_unreachable(str(recipient["contactId"]), code)
        if rule.action is Action.pause_job and running:
            self.pause(job.job_id, rule.reason, {"providerCode": code})
        log.warning(
            "bulk recipient failed after it was sent: %s",
            code or error.get("code"),
            extra={"jobId": job.job_id, "recipientId": recipient_id, "status": target},
        )
        if not running and self._after_late_change is not None:
            self._after_late_change(job.job_id)
        return target

    def _mark_unreachable(self, contact_id: str, code: str | None) -> None:
        with contextlib.suppress(ConditionFailed):  # the contact is gone: nothing to mark
            self._tables["Contacts"].update(
                {"contactId": contact_id},
                Update(
                    set={
                        UNREACHABLE_FLAG: True,
                        "whatsappUnreachableAt": self._clock.now(),
                        "whatsappUnreachableCode": code or "",
                    }
                ),
                condition=eq("kind", "contact"),
            )
