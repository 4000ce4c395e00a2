"""Dead-letter queues: keeping every failed event, and replaying it through the code that failed.

Three dead-letter queues exist (``inbound-dlq``, ``bulk-dlq``, ``outbound-dlq``). The queue holds the
message; the ``DLQMessages`` table holds its story (original id, error, attempts, retries, status) so
operators can list what failed and why.

Recording a failure (:meth:`DlqService.dead_letter`) sends to the queue *first* and then writes the
record, so a crash in between loses nothing: replay creates a record for any queue message that has
none (that is also how messages moved to ``bulk-dlq`` by the queue's own redrive policy are adopted).
The record id derives from (queue, original message id), so the same delivery failing twice is one
record.

Replay (:meth:`DlqService.replay`) takes up to ``max`` (≤ 100) messages off the queue and hands each
payload to the handler registered for that queue — the same function the original consumer runs:

- already ``replayed`` (a duplicate copy, or a second replayer) → deleted, not processed again;
- handler succeeds → record ``replayed``, message deleted from the queue;
- handler fails → ``retryCount + 1``, error kept, message back on the queue (visible again);
- the 5th failed replay (6 attempts in all) → ``parked``: taken off the queue, payload kept on the
  record, shown by :meth:`list_messages`, never replayed automatically.

Two replayers never run one record at the same time: a replay claims the record with a conditional
write before calling the handler. Handlers must be idempotent all the same (queues deliver at least
once); the inbound handler is, by construction.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from gateway.clock import Clock
from gateway.errors import InvalidInput, NotFound
from gateway.metrics import Metrics
from gateway.queue.port import Queues, ReceiptInvalid, ReceivedMessage
from gateway.store.conditions import Attr, Condition, eq, not_exists
from gateway.store.cursor import as_invalid_input
from gateway.store.port import ConditionFailed, Item, Tables, Update

log = logging.getLogger("wecare.dlq")

DLQ_QUEUES: tuple[str, ...] = ("inbound-dlq", "bulk-dlq", "outbound-dlq")
MAX_REPLAY_BATCH = 100
MAX_RETRIES = 5
DLQ_STATUSES = ("pending", "parked", "replayed")

Handler = Callable[[str], None]
"""``handler(payload) -> None``: process one dead-lettered payload; raise to report failure."""

Outcome = Literal["replayed", "failed", "parked", "skipped", "busy"]


class Auditor(Protocol):
    def record(
        self,
        user_id: str,
        action: str,
        resource_type: str,
        resource_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...


def dlq_message_id(queue_name: str, original_message_id: str) -> str:
    return "dlq_" + hashlib.sha256(f"{queue_name}\n{original_message_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ReplayResult:
    dlqMessageId: str  # the API's field name
    outcome: Outcome
    detail: str = ""


@dataclass
class ReplayReport:
    queue: str
    requested: int
    received: int = 0
    replayed: int = 0
    failed: int = 0
    parked: int = 0
    skipped: int = 0
    busy: int = 0
    results: list[ReplayResult] = field(default_factory=list)

    def add(self, result: ReplayResult) -> None:
        self.results.append(result)
        setattr(self, result.outcome, getattr(self, result.outcome) + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DlqService:
    def __init__(
        self,
        tables: Tables,
        queues: Queues,
        clock: Clock,
        *,
        handlers: Mapping[str, Handler] | None = None,
        max_retries: int = MAX_RETRIES,
        visibility_timeout: float = 900.0,
        metrics: Metrics | None = None,
        audit: Auditor | None = None,
    ) -> None:
        self._table = tables["DLQMessages"]
        self._queues = queues
        self._clock = clock
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._max_retries = max_retries
        # Messages taken for a replay stay hidden this long; longer than a batch of 100 takes to run.
        self._visibility = visibility_timeout
        self._metrics = metrics
        self._audit = audit
        retention = self._table.schema.retention_seconds
        self._retention = retention if retention is not None else 7 * 86400
        for name, handler in (handlers or {}).items():
            self.register(name, handler)

    # ------------------------------------------------------------------------------------- registry

    def register(self, queue_name: str, handler: Handler) -> None:
        """Route replays of ``queue_name`` to ``handler`` (the original consumer's processing function)."""
        self._check_queue(queue_name)
        with self._lock:
            self._handlers[queue_name] = handler

    def handler(self, queue_name: str) -> Handler | None:
        with self._lock:
            return self._handlers.get(queue_name)

    # --------------------------------------------------------------------------------- dead-lettering

    def dead_letter(
        self,
        queue_name: str,
        payload: str,
        error: str,
        *,
        original_message_id: str | None = None,
        error_type: str = "",
    ) -> str:
        """Keep a payload that failed processing: on the queue, and as a ``pending`` record. Returns its id.

        Raises the store's or queue's error if neither can take it: the caller must then fail loudly
        (e.g. let the Lambda invocation fail so SNS retries), never drop the event.
        """
        self._check_queue(queue_name)
        original = original_message_id or "sha256:" + hashlib.sha256(payload.encode()).hexdigest()[:32]
        dlq_id = dlq_message_id(queue_name, original)
        self._queues[queue_name].send(
            payload, attributes={"dlqMessageId": dlq_id, "originalMessageId": original}
        )
        now = self._clock.now()
        record: Item = {
            "dlqMessageId": dlq_id,
            "kind": "dlq-message",
            "originalMessageId": original,
            "queueName": queue_name,
            "status": "pending",
            "retryCount": 0,
            "attempts": 1,
            "firstFailedAt": now,
            "lastAttemptAt": now,
            "payload": payload,
            "error": error[:4000],
            "errorType": error_type,
            "expiresAt": int(now) + self._retention,
        }
        try:
            self._table.put(record, condition=not_exists("dlqMessageId"))
        except ConditionFailed:
            # The same delivery failed before: one record, one more attempt. A record that was
            # replayed is pending again (the copy just queued needs a replay); a parked one stays parked.
            current = self._table.get({"dlqMessageId": dlq_id}) or {}
            changes: dict[str, Any] = {
                "lastAttemptAt": now,
                "error": error[:4000],
                "errorType": error_type,
                "expiresAt": int(now) + self._retention,
            }
            if current.get("status") == "replayed":
                changes["status"] = "pending"
            self._table.update({"dlqMessageId": dlq_id}, Update(set=changes, add={"attempts": 1}))
        log.error(
            "dead-lettered to %s: %s",
            queue_name,
            error[:500],
            extra={"dlqMessageId": dlq_id, "originalMessageId": original, "queue": queue_name},
        )
        self._count("dlq_messages_total", {"queue": queue_name})
        return dlq_id

    # ------------------------------------------------------------------------------------ reading

    def get(self, dlq_message_id: str) -> Item:
        item = self._table.get({"dlqMessageId": dlq_message_id})
        if item is None:
            raise NotFound(f"no dead letter {dlq_message_id}", details={"dlqMessageId": dlq_message_id})
        return item

    def list_messages(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Dead letters, newest attempt first when ``queue`` is given; with queue depths."""
        if not 1 <= limit <= MAX_REPLAY_BATCH:
            raise InvalidInput(f"limit must be 1 to {MAX_REPLAY_BATCH}", details={"limit": limit})
        if status is not None and status not in DLQ_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(DLQ_STATUSES)}", details={"status": status})
        where: Condition | None = eq("status", status) if status else None
        if queue is not None:
            self._check_queue(queue)
        with as_invalid_input():
            if queue is not None:
                page = self._table.query(
                    queue, index="byQueue", filter=where, limit=limit, cursor=cursor, descending=True
                )
            else:
                page = self._table.scan(filter=where, limit=limit, cursor=cursor)
        names = (queue,) if queue else DLQ_QUEUES
        return {
            "items": page.items,
            "cursor": page.cursor,
            "depth": {name: self._queues[name].approximate_count() for name in names},
        }

    # ------------------------------------------------------------------------------------- replay

    def replay(self, queue_name: str, max_messages: int = 10, *, actor: str = "system") -> ReplayReport:
        """Replay up to ``max_messages`` (1-100) dead letters of one queue through its handler."""
        self._check_queue(queue_name)
        if isinstance(max_messages, bool) or not 1 <= max_messages <= MAX_REPLAY_BATCH:
            raise InvalidInput(f"max must be 1 to {MAX_REPLAY_BATCH}", details={"max": max_messages})
        handler = self.handler(queue_name)
        if handler is None:
            raise InvalidInput(
                f"no replay handler is registered for {queue_name}",
                code="NO_REPLAY_HANDLER",
                details={"queue": queue_name},
            )
        queue = self._queues[queue_name]
        # Take the whole batch first: a message put back after a failure must not come round again
        # in the same run (that would burn through its retries in seconds).
        taken: list[ReceivedMessage] = []
        while len(taken) < max_messages:
            batch = queue.receive(min(10, max_messages - len(taken)), visibility_timeout=self._visibility)
            if not batch:
                break
            taken.extend(batch)
        report = ReplayReport(queue=queue_name, requested=max_messages, received=len(taken))
        for message in taken:
            result = self._replay_one(queue_name, handler, message)
            report.add(result)
            self._count("dlq_replays_total", {"queue": queue_name, "outcome": result.outcome})
        if self._audit is not None:
            counts = {k: v for k, v in report.to_dict().items() if k != "results"}
            self._audit.record(actor, "dlq.replay", "dlq", queue_name, counts)
        summary = {k: v for k, v in asdict(report).items() if k != "results"}
        log.info("dlq replay %s", queue_name, extra={"replay": summary})
        return report

    def _replay_one(self, queue_name: str, handler: Handler, message: ReceivedMessage) -> ReplayResult:
        dlq_id = message.attributes.get("dlqMessageId") or dlq_message_id(
            queue_name, "queue:" + message.message_id
        )
        key = {"dlqMessageId": dlq_id}
        record = self._table.get(key) or self._adopt(queue_name, dlq_id, message)
        status = record.get("status")
        if status in ("replayed", "parked"):
            self._delete(queue_name, message)
            return ReplayResult(dlq_id, "skipped", f"already {status}")
        retries = int(record.get("retryCount", 0))
        if retries >= self._max_retries:
            self._park(key, message, queue_name, str(record.get("error", "")))
            return ReplayResult(dlq_id, "parked", f"{retries} failed replays")
        now = self._clock.now()
        claim = eq("status", "pending") & (not_exists("claimedUntil") | Attr("claimedUntil", "lt", now))
        try:
            self._table.update(key, Update(set={"claimedUntil": now + self._visibility}), condition=claim)
        except ConditionFailed:
            again = self._table.get(key) or {}
            if again.get("status") in ("replayed", "parked"):
                self._delete(queue_name, message)
                return ReplayResult(dlq_id, "skipped", f"already {again.get('status')}")
            return ReplayResult(dlq_id, "busy", "another replay is working on it")
        try:
            handler(message.body)
        except Exception as exc:  # any handler failure is a failed replay, never a crashed batch
            return self._failed(key, queue_name, message, retries + 1, exc)
        now = self._clock.now()
        self._table.update(
            key,
            Update(
                set={"status": "replayed", "replayedAt": now, "lastAttemptAt": now},
                add={"attempts": 1},
                remove=("claimedUntil",),
            ),
        )
        self._delete(queue_name, message)
        log.info("dead letter replayed", extra={"dlqMessageId": dlq_id, "queue": queue_name})
        return ReplayResult(dlq_id, "replayed")

    def _failed(
        self, key: Mapping[str, Any], queue_name: str, message: ReceivedMessage, retries: int, exc: Exception
    ) -> ReplayResult:
        error = f"{type(exc).__name__}: {exc}"[:4000]
        now = self._clock.now()
        self._table.update(
            key,
            Update(
                set={
                    "retryCount": retries,
                    "lastAttemptAt": now,
                    "error": error,
                    "errorType": type(exc).__name__,
                    "expiresAt": int(now) + self._retention,
                },
                add={"attempts": 1},
                remove=("claimedUntil",),
            ),
        )
        dlq_id = str(key["dlqMessageId"])
        log.warning(
            "dead letter replay failed (%d/%d)",
            retries,
            self._max_retries,
            extra={"dlqMessageId": dlq_id, "queue": queue_name, "error": error[:500]},
        )
        if retries >= self._max_retries:
            self._park(key, message, queue_name, error)
            return ReplayResult(dlq_id, "parked", error)
        # Back on the queue for the next replay (ReceiptInvalid: it already came back on its own).
        with contextlib.suppress(ReceiptInvalid):
            self._queues[queue_name].change_visibility(message.receipt_handle, 0)
        return ReplayResult(dlq_id, "failed", error)

    def _park(self, key: Mapping[str, Any], message: ReceivedMessage, queue_name: str, error: str) -> None:
        self._table.update(
            key, Update(set={"status": "parked", "parkedAt": self._clock.now()}, remove=("claimedUntil",))
        )
        self._delete(queue_name, message)
        log.error(
            "dead letter parked: it will not be replayed automatically",
            extra={"dlqMessageId": key["dlqMessageId"], "queue": queue_name, "error": error[:500]},
        )

    def _adopt(self, queue_name: str, dlq_id: str, message: ReceivedMessage) -> Item:
        """A record for a queue message that has none (redriven by the queue, or a crash mid-write)."""
        now = self._clock.now()
        record: Item = {
            "dlqMessageId": dlq_id,
            "kind": "dlq-message",
            "originalMessageId": message.attributes.get("originalMessageId") or message.message_id,
            "queueName": queue_name,
            "status": "pending",
            "retryCount": 0,
            "attempts": max(1, message.receive_count - 1),
            "firstFailedAt": message.sent_at or now,
            "lastAttemptAt": now,
            "payload": message.body,
            "error": f"moved to {queue_name} by the queue after repeated failed receives",
            "errorType": "Redrive",
            "expiresAt": int(now) + self._retention,
        }
        try:
            self._table.put(record, condition=not_exists("dlqMessageId"))
        except ConditionFailed:
            return self._table.get({"dlqMessageId": dlq_id}) or record
        return record

    def _delete(self, queue_name: str, message: ReceivedMessage) -> None:
        # ReceiptInvalid: it became visible again and someone else holds it now; they will skip it.
        with contextlib.suppress(ReceiptInvalid):
            self._queues[queue_name].delete(message.receipt_handle)

    @staticmethod
    def _check_queue(queue_name: str) -> None:
        if queue_name not in DLQ_QUEUES:
            raise InvalidInput(
                f"unknown dead-letter queue {queue_name!r}; the queues are {', '.join(DLQ_QUEUES)}",
                details={"queue": queue_name},
            )

    def _count(self, name: str, labels: Mapping[str, str]) -> None:
        if self._metrics is not None:
            self._metrics.inc(name, labels)
