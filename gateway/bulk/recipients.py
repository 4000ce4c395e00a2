"""``BulkRecipients`` items and their moves: the exactly-once half of bulk sending.

One item per (jobId, recipientId); ``recipientId`` is the contact id, so a contact listed twice is one
recipient (the must-not-exist put is the dedupe). Attributes: jobId, recipientId, contactId, status,
sentAt, errorDetails, messageId, attempt, claimedAt.

A recipient moves only by conditional writes on its status::

    pending ─claim─► sending ─► sent | failed | rejected | deferred | unknown
       ▲                │
       └── released ────┘  (nothing was stored: rate wait too long, or a retryable provider code)
    pending | deferred ─► cancelled;   deferred ─► pending (its retry is due)

so of two workers holding the same chunk only one claims a recipient. The message id is derived from
(jobId, recipientId, attempt) (:func:`message_id`); the gateway answers a repeat of an id with the
stored result, never a second send. ``attempt`` moves on only after a send that definitively did not
leave (a provider refusal to retry, a deferral), so a retry never reuses the id of a refused send and
never gets a fresh id for a send that may have left.

A recipient found ``sending`` with a claim older than ``stale_after`` was left by a dead worker: it is
taken over (``claimedAt`` compare-and-set) and resolved by sending again under the same message id —
a replay when the first attempt had persisted its message (the stored outcome, or ``unknown`` when
that message is itself still ``sending``: never resent), a first send when it had not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.bulk.jobs import JobStore
from gateway.clock import Clock
from gateway.store.conditions import And, Attr, Condition, Or, eq, not_exists
from gateway.store.port import ConditionFailed, Item, Table, Tables, Update, Write

MESSAGE_ID_PREFIX = "msg_bulk_"


def message_id(job_id: str, recipient_id: str, attempt: int = 0) -> str:
    """The message id of one recipient's attempt: the same inputs always give the same id."""
    parts = [job_id, recipient_id] + ([str(attempt)] if attempt else [])
    return MESSAGE_ID_PREFIX + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def new_recipient(
    job_id: str, contact_id: str, create_attempt: str, *, phone_number_id: str | None = None
) -> Item:
    item: Item = {
        "jobId": job_id,
        "recipientId": contact_id,
        "contactId": contact_id,
        "status": "pending",
        "attempt": 0,
        "messageId": message_id(job_id, contact_id),
        "createAttempt": create_attempt,
    }
    if phone_number_id:
        # The number this recipient is sent from (a job over several numbers alternates them); kept
        # with the recipient so every retry comes from the same number.
        item["phoneNumberId"] = phone_number_id
    return item


@dataclass(frozen=True)
class Claim:
    """A recipient this worker now owns (status ``sending``), and whether it is a takeover."""

    item: Mapping[str, Any]
    recovered: bool

    @property
    def message_id(self) -> str:
        return str(self.item["messageId"])

    @property
    def attempt(self) -> int:
        return int(self.item.get("attempt", 0))


class RecipientStore:
    def __init__(self, tables: Tables, clock: Clock, jobs: JobStore, *, stale_after: float = 300.0) -> None:
        self._table: Table = tables["BulkRecipients"]
        # Adapters with transactions (memory, SQLite, DynamoDB) move a recipient and count it at once.
        transact = getattr(tables, "transact", None)
        self._transact: Callable[[Sequence[Write]], None] | None = transact if callable(transact) else None
        self._clock = clock
        self._jobs = jobs
        self.stale_after = stale_after

    def get(self, job_id: str, recipient_id: str) -> Item | None:
        return self._table.get({"jobId": job_id, "recipientId": recipient_id})

    def add(self, item: Item) -> bool:
        """Write a new recipient; False when (jobId, recipientId) already exists."""
        try:
            self._table.put(item, condition=not_exists("recipientId"))
        except ConditionFailed:
            return False
        return True

    def adopt(self, job_id: str, recipient_id: str, previous: str, attempt: str) -> bool:
        """Claim a recipient written by an earlier (dead) create attempt for this one."""
        try:
            self._table.update(
                {"jobId": job_id, "recipientId": recipient_id},
                Update(set={"createAttempt": attempt}),
                condition=eq("createAttempt", previous),
            )
        except ConditionFailed:
            return False
        return True

    def move(
        self,
        job_id: str,
        recipient_id: str,
        source: str,
        target: str,
        fields: Mapping[str, Any] | None = None,
        *,
        extra: Attr | And | None = None,
    ) -> dict[str, Any] | None:
        """``source → target`` if the recipient is still ``source``; the job's counters follow (in the
        same transaction where the adapter has them). Returns the attributes written, or None."""
        changes: dict[str, Any] = {"status": target, "updatedAt": self._clock.now()}
        changes.update(fields or {})
        condition: Attr | And = eq("status", source)
        if extra is not None:
            condition = condition & extra
        key = {"jobId": job_id, "recipientId": recipient_id}
        if self._transact is not None:
            # The recipient and its job's counters in one transaction: a reader never sees them differ.
            try:
                writes = [Write("BulkRecipients", key, Update(set=changes), condition)]
                if source != target:
                    writes.append(self._jobs.count_write(job_id, source, target))
                self._transact(writes)
            except ConditionFailed:
                return None
            return changes
        try:
            self._table.update(key, Update(set=changes), condition=condition)
        except ConditionFailed:
            return None
        self._jobs.count_move(job_id, source, target)
        return changes

    def claim(self, job_id: str, recipient_id: str) -> Claim | None:
        """Own the recipient before its send: ``pending → sending``, or take over a stale ``sending``.

        None when it is not this worker's to send: already final, cancelled, deferred, claimed by a
        live worker, or claimed by someone else first.
        """
        item = self.get(job_id, recipient_id)
        if item is None:
            return None
        now = self._clock.now()
        attempt = int(item.get("attempt", 0))
        if item.get("status") == "pending":
            moved = self.move(
                job_id,
                recipient_id,
                "pending",
                "sending",
                {"claimedAt": now, "messageId": message_id(job_id, recipient_id, attempt)},
            )
            return Claim({**item, **moved}, recovered=False) if moved is not None else None
        return self._take_over(item, now)

    def claim_many(self, job_id: str, recipient_ids: Sequence[str]) -> dict[str, Claim | None]:
        """:meth:`claim` for several recipients: the pending ones in one transaction with one counter
        write, so a worker pays one commit for a few recipients instead of one each.

        When any of them is no longer pending by the time the transaction runs (another worker holding
        the same chunk), nothing of it is written and each is claimed on its own instead; a recipient
        that was not pending to begin with (a stale claim to take over, a final one) goes the same way.
        """
        items = {rid: self.get(job_id, rid) for rid in recipient_ids}
        pending = [rid for rid, item in items.items() if item is not None and item.get("status") == "pending"]
        claims: dict[str, Claim | None] = {}
        if self._transact is not None and len(pending) > 1:
            now = self._clock.now()
            changes: dict[str, dict[str, Any]] = {}
            writes: list[Write] = []
            for rid in pending:
                attempt = int(items[rid].get("attempt", 0))  # type: ignore[union-attr]
                changes[rid] = {
                    "status": "sending",
                    "updatedAt": now,
                    "claimedAt": now,
                    "messageId": message_id(job_id, rid, attempt),
                }
                key = {"jobId": job_id, "recipientId": rid}
                writes.append(Write("BulkRecipients", key, Update(set=changes[rid]), eq("status", "pending")))
            writes.append(self._jobs.count_write(job_id, "pending", "sending", len(pending)))
            try:
                self._transact(writes)
            except ConditionFailed:
                pass
            else:
                claims = {rid: Claim({**items[rid], **changes[rid]}, recovered=False) for rid in pending}  # type: ignore[dict-item]
        for rid in recipient_ids:
            if rid not in claims:
                claims[rid] = self.claim(job_id, rid)
        return claims

    def release_many(self, job_id: str, claims: Sequence[Claim]) -> None:
        """Give back claims whose send never started (``sending → pending``, same attempt), in one
        transaction; one by one when a claim changed hands meanwhile (that one is then left alone)."""
        if not claims:
            return
        now = self._clock.now()

        def back(claim: Claim) -> tuple[dict[str, Any], Condition]:
            return {"status": "pending", "updatedAt": now}, eq("status", "sending") & eq(
                "claimedAt", claim.item["claimedAt"]
            )

        if self._transact is not None and len(claims) > 1:
            writes = []
            for claim in claims:
                changes, condition = back(claim)
                key = {"jobId": job_id, "recipientId": claim.item["recipientId"]}
                writes.append(Write("BulkRecipients", key, Update(set=changes), condition))
            writes.append(self._jobs.count_write(job_id, "sending", "pending", len(claims)))
            try:
                self._transact(writes)
            except ConditionFailed:
                pass
            else:
                return
        for claim in claims:
            self.move(
                job_id,
                str(claim.item["recipientId"]),
                "sending",
                "pending",
                extra=eq("claimedAt", claim.item["claimedAt"]),
            )

    def take_over(self, job_id: str, recipient_id: str) -> Claim | None:
        """Only the stale-``sending`` half of :meth:`claim` (a cancelling job starts no new send)."""
        item = self.get(job_id, recipient_id)
        return self._take_over(item, self._clock.now()) if item is not None else None

    def _take_over(self, item: Item, now: float) -> Claim | None:
        if item.get("status") != "sending" or now - float(item.get("claimedAt", 0)) < self.stale_after:
            return None
        # A dead worker's claim: take it over (compare-and-set on claimedAt; one taker wins).
        try:
            taken = self._table.update(
                {"jobId": item["jobId"], "recipientId": item["recipientId"]},
                Update(set={"claimedAt": now, "recoveredAt": now}),
                condition=eq("status", "sending") & eq("claimedAt", item.get("claimedAt", 0)),
            )
        except ConditionFailed:
            return None
        return Claim(taken, recovered=True)

    def in_flight_elsewhere(self, job_id: str, recipient_id: str) -> float | None:
        """None unless another worker holds the recipient (``sending``); then the seconds until its
        claim counts as stale (at least 1), which is when to look again: sooner would only spin."""
        item = self.get(job_id, recipient_id)
        if item is None or item.get("status") != "sending":
            return None
        age = self._clock.now() - float(item.get("claimedAt", 0))
        return max(1.0, self.stale_after - age)

    def by_status(
        self, job_id: str, status: str | None = None, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[Item], str | None]:
        page = self._table.query(
            job_id, filter=eq("status", status) if status is not None else None, limit=limit, cursor=cursor
        )
        return page.items, page.cursor

    def iter_status(self, job_id: str, status: str | None) -> Iterator[Item]:
        """The job's recipients in ``status`` (every one for None), a page of 1,000 at a time."""
        cursor: str | None = None
        while True:
            items, cursor = self.by_status(job_id, status, limit=1000, cursor=cursor)
            yield from items
            if cursor is None:
                return

    def iter_all(self, job_id: str) -> Iterator[Item]:
        return self.iter_status(job_id, None)

    def any_in(self, job_id: str, statuses: tuple[str, ...]) -> bool:
        """Whether any recipient is in one of ``statuses`` (stops at the first found)."""
        cursor: str | None = None
        condition: Condition = Or(tuple(eq("status", s) for s in statuses))
        while True:
            page = self._table.query(job_id, filter=condition, limit=1000, cursor=cursor)
            if page.items:
                return True
            cursor = page.cursor
            if cursor is None:
                return False
