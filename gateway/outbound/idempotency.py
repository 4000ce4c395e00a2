"""Exactly-once sends: message ids derived from what identifies a request, and Idempotency-Key reservations.

An (actor, Idempotency-Key) pair always maps to the same message id, and a caller-chosen id (a bulk
recipient's, a dead letter's) is used as it is; the must-not-exist put of the message row is then the
dedupe, so a repeat, even one racing the first, can never send twice. The key itself is reserved as a
``idem#<actor>#<key>`` row holding the request's fingerprint, so the same key with another body is
refused rather than answered with the first message.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.errors import InvalidInput
from gateway.messages.repository import MESSAGE_KIND, MessageRepository
from gateway.metrics import Metrics
from gateway.outbound.records import Attempt, outcome
from gateway.outbound.types import OutboundRequest, SendOutcome
from gateway.store.port import Item

IDEMPOTENCY_KIND = "idempotency"
IDEMPOTENCY_PREFIX = "idem#"


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def idempotent_message_id(actor: str, key: str) -> str:
    """The message id an (actor, Idempotency-Key) pair always maps to: the store's put is the dedupe."""
    digest = hashlib.sha256(f"{actor}\x00{key}".encode()).hexdigest()
    return "msg_" + digest[:32]


@dataclass
class Idempotency:
    messages: MessageRepository
    clock: Clock
    metrics: Metrics
    new_id: Callable[[], str] = new_message_id

    def message_id(self, request: OutboundRequest) -> str:
        if request.message_id is not None:
            return request.message_id
        if request.idempotency_key is not None:
            return idempotent_message_id(request.actor, request.idempotency_key)
        return self.new_id()

    def earlier_result(self, attempt: Attempt) -> SendOutcome | None:
        """The stored answer when this request was already handled, else None (go ahead and send)."""
        request = attempt.request
        if request.idempotency_key is not None:
            return self._reserve(attempt)
        if request.message_id is not None:
            stored = self.messages.get(attempt.message_id)
            if stored is not None:
                return self.replay(stored, attempt.fingerprint)
        return None

    def _reserve(self, attempt: Attempt) -> SendOutcome | None:
        request = attempt.request
        assert request.idempotency_key is not None
        now = self.clock.now()
        key = f"{IDEMPOTENCY_PREFIX}{request.actor}#{request.idempotency_key}"
        record = {
            "messageId": key,
            "kind": IDEMPOTENCY_KIND,
            "requestHash": attempt.fingerprint,
            "resultMessageId": attempt.message_id,
            "createdAt": now,
            "expiresAt": int(now) + self.messages.retention,
        }
        for _ in range(2):
            if self.messages.insert(record):
                return None
            existing = self.messages.get(key)
            if existing is None:
                continue  # expired between the put and the get: reserve again
            if existing.get("requestHash") != attempt.fingerprint:
                raise InvalidInput(
                    "this Idempotency-Key was already used with a different request; "
                    "use a new key for a new message",
                    code="IDEMPOTENCY_KEY_REUSED",
                    details={"idempotencyKey": request.idempotency_key},
                )
            stored = self.messages.get(str(existing.get("resultMessageId")))
            if stored is not None:
                return self.replay(stored, attempt.fingerprint)
            # The first attempt is still deciding or died before persisting. Carrying on is safe: both
            # derive the same message id, and only one must-not-exist put of it can succeed.
            return None
        return None

    def replay(self, stored: Item, fingerprint: str) -> SendOutcome:
        if stored.get("kind") != MESSAGE_KIND:
            raise InvalidInput("the message id is taken by another record", code="MESSAGE_ID_TAKEN")
        if stored.get("requestHash") not in (None, fingerprint):
            raise InvalidInput(
                "a different message was already sent under this id",
                code="IDEMPOTENCY_KEY_REUSED",
                details={"messageId": stored.get("messageId")},
            )
        self.metrics.inc("messages_replayed_total", {"channel": str(stored.get("channel", ""))})
        return outcome(stored, replayed=True)

    def replay_winner(self, attempt: Attempt, fallback: Item) -> SendOutcome:
        """The answer when a concurrent identical request persisted its row first."""
        stored = self.messages.get(attempt.message_id)
        return self.replay(stored if stored is not None else fallback, attempt.fingerprint)
