"""AI-suggested replies (requirement 15): suggest off the inbound path, approve through the gateway.

The flow, whichever backends are configured (:mod:`gateway.ai.ports`):

1. An inbound WhatsApp message is stored. With ``ai.enabled`` on, :meth:`AIService.on_inbound_stored`
   puts its id on ``ai-queue`` (durable: the local queue file, or SQS) and returns. Nothing else
   happens on the inbound path, so a slow or failing model can never delay, fail or dead-letter an
   inbound message. Off: nothing at all (no queue message, no model call).
2. A worker (:meth:`AIService.process`) takes the id: masks the customer's phone numbers and e-mail
   addresses in the text, retrieves passages, drafts a reply, and stores an ``AIInteractions`` item
   ``pending``. Throttling and timeouts are retried (bounded, with backoff); then the interaction is
   ``failed`` with the reason and the operator can ask again (:meth:`AIService.suggest`).
3. An operator approves (as is, or edited), rejects, or rates it. Approval is one ordinary
   ``gateway.send()`` with origin ``ai`` and ``approvedBy``: every policy applies (outside the 24 h
   window a free-form reply is refused ``TEMPLATE_REQUIRED``), DRY_RUN never reaches a driver, and the
   message id is derived from the interaction, so a retried approval can never send twice. A
   suggestion is approved at most once (compare-and-set ``pending → approved``; a second is 409).

Statuses: ``pending`` → ``approved`` | ``rejected``; ``failed`` when no suggestion could be made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from gateway.ai.masking import mask
from gateway.ai.ports import AIError, Draft, Drafter, Reference, Retriever
from gateway.clock import Clock
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.metrics import Metrics
from gateway.outbound.ports import AuditTrail
from gateway.outbound.types import OutboundRequest, SendOutcome, TextContent
from gateway.queue.port import Queues
from gateway.store.conditions import eq, not_exists
from gateway.store.cursor import as_invalid_input
from gateway.store.port import ConditionFailed, Item, Tables, Update
from gateway.system_config import AI_ENABLED, SystemConfigService

log = logging.getLogger("wecare.ai")

AI_QUEUE = "ai-queue"
STATUSES = ("pending", "approved", "rejected", "failed")
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 2.0)  # before the 2nd and 3rd attempt
MAX_REPLY_CHARS = 4096  # WhatsApp's text body limit
Rating = Literal["good", "bad"]


class Sender(Protocol):
    def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome: ...


def interaction_message_id(interaction_id: str) -> str:
    """The id an approved suggestion is sent under: a repeated approval is the gateway's replay."""
    return "msg_ai_" + hashlib.sha256(interaction_id.encode()).hexdigest()[:32]


def _text_of(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if not isinstance(content, Mapping):
        return ""
    for key in ("text", "caption", "title", "body"):
        value = content.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


class AIService:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        queues: Queues,
        *,
        config: SystemConfigService,
        retriever: Retriever,
        drafter: Drafter,
        gateway: Sender,
        metrics: Metrics,
        audit: AuditTrail | None = None,
        mask_personal_data: bool = True,
        max_results: int = 5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._table = tables["AIInteractions"]
        self._messages = tables["Messages"]
        self._contacts = tables["Contacts"]
        self._clock = clock
        self._queues = queues
        self._config = config
        self._retriever = retriever
        self._drafter = drafter
        self._gateway = gateway
        self._metrics = metrics
        self._audit = audit
        self._mask = mask_personal_data
        self._max_results = max_results
        self._sleep = sleep or clock.sleep

    # -- the hand-off from the inbound path ----------------------------------------------------------

    def enabled(self) -> bool:
        return self._config.enabled(AI_ENABLED)

    def on_inbound_stored(self, message: Mapping[str, Any]) -> None:
        """An inbound listener: queue the message for a suggestion when AI is on. Never raises."""
        try:
            if message.get("direction") != "inbound" or not _text_of(message) or not self.enabled():
                return
            self._queues[AI_QUEUE].send(json.dumps({"messageId": message["messageId"]}))
        except Exception:
            # The message is stored; only its suggestion is missing (the operator can ask for one).
            self._metrics.inc("ai_handoff_errors_total")
            log.exception("could not queue an inbound message for a suggestion")

    def handle_queued(self, body: str) -> Item | None:
        """One ``ai-queue`` message (the embedded worker and the ``ai-generate-response`` Lambda)."""
        try:
            message_id = json.loads(body)["messageId"]
        except (ValueError, KeyError, TypeError):
            log.error("ai-queue message without a messageId; dropped", extra={"body": body[:200]})
            self._metrics.inc("ai_bad_queue_messages_total")
            return None
        return self.process(str(message_id))

    # -- making a suggestion -----------------------------------------------------------------------

    def process(self, message_id: str) -> Item | None:
        """The suggestion for one stored inbound message; at most one per message (a redelivered queue
        message finds the first). None when there is nothing to answer or AI was switched off."""
        existing = self._table.query(message_id, index="byMessage", limit=1).items
        if existing:
            return existing[0]
        if not self.enabled():
            return None
        message = self._messages.get({"messageId": message_id})
        if message is None or message.get("direction") != "inbound" or not _text_of(message):
            return None
        # The automatic suggestion's id is derived from the message and written only if absent: two
        # workers holding the same queue message (a redelivery) store one suggestion, not two.
        interaction_id = "ai_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
        return self._make(message, requested_by="system:inbound", interaction_id=interaction_id)

    def suggest(self, *, actor: str, message_id: str | None = None, contact_id: str | None = None) -> Item:
        """On demand (``POST /api/ai/suggestions``): for a message, or the contact's newest inbound one.
        Works while automation is off: an operator asking is not automation."""
        message = self._message_to_answer(message_id, contact_id)
        return self._make(message, requested_by=actor)

    def _message_to_answer(self, message_id: str | None, contact_id: str | None) -> Item:
        if message_id:
            message = self._messages.get({"messageId": message_id})
            if message is None or message.get("direction") != "inbound":
                raise NotFound(f"no inbound message {message_id}", code="MESSAGE_NOT_FOUND")
            if not _text_of(message):
                raise InvalidInput("that message has no text to answer", code="NOTHING_TO_ANSWER")
            return message
        if not contact_id:
            raise InvalidInput("give messageId or contactId", code="INVALID_INPUT")
        page = self._messages.query(contact_id, index="byContact", descending=True, limit=50)
        for item in page.items:
            if item.get("direction") == "inbound" and _text_of(item):
                return item
        raise NotFound(f"contact {contact_id} has no inbound message to answer", code="MESSAGE_NOT_FOUND")

    def _make(self, message: Item, *, requested_by: str, interaction_id: str | None = None) -> Item:
        started = self._clock.now()
        text = _text_of(message)
        masked = mask(text) if self._mask else None
        query = masked.text if masked is not None else text
        contact_id = str(message["contactId"])
        item: Item = {
            "interactionId": interaction_id or "ai_" + uuid.uuid4().hex,
            "messageId": message["messageId"],
            "contactId": contact_id,
            "query": query,
            "masked": masked.to_json() if masked is not None else None,
            "inboundText": text,
            "inboundAt": message.get("timestamp"),
            "requestedBy": requested_by,
            "timestamp": started,
            "retriever": self._retriever.name,
            "drafter": self._drafter.name,
        }
        try:
            references = self._attempt(lambda: self._retriever.retrieve(query, max_results=self._max_results))
            draft: Draft = self._attempt(
                lambda: self._drafter.draft(query, references, session_id=_session_id(contact_id))
            )
        except AIError as exc:
            item.update(status="failed", error={"code": exc.code, "message": exc.message})
            self._metrics.inc("ai_suggestions_failed_total", {"code": exc.code})
            log.warning("no suggestion could be made: %s", exc.message, extra={"code": exc.code})
        else:
            item.update(
                status="pending",
                response=draft.text[:MAX_REPLY_CHARS],
                references=[r.to_json() for r in references],
                citations=[r.to_json() for r in draft.citations],
                backend=draft.backend,
                model=draft.model,
                trace=dict(draft.trace),
            )
            self._metrics.inc("ai_suggestions_total", {"backend": draft.backend})
        item["latencyMs"] = round((self._clock.now() - started) * 1000, 1)
        try:
            self._table.put(item, condition=not_exists("interactionId"))
        except ConditionFailed:
            return self.get(str(item["interactionId"]))  # another worker stored this one first
        return item

    def _attempt(self, call: Callable[[], Any]) -> Any:
        for attempt in range(MAX_ATTEMPTS):
            try:
                return call()
            except AIError as exc:
                if not exc.retryable or attempt == MAX_ATTEMPTS - 1:
                    raise
                self._metrics.inc("ai_retries_total", {"code": exc.code})
                self._sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading -----------------------------------------------------------------------------------

    def get(self, interaction_id: str) -> Item:
        item = self._table.get({"interactionId": interaction_id})
        if item is None:
            raise NotFound(f"no suggestion {interaction_id}", code="SUGGESTION_NOT_FOUND")
        return self._view(item)

    def list(
        self,
        *,
        status: str | None = None,
        contact_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Newest first, by status (default ``pending``) or by contact (then ``status`` filters)."""
        with as_invalid_input():
            if contact_id:
                filt = eq("status", status) if status else None
                page = self._table.query(
                    contact_id, index="byContact", descending=True, limit=limit, cursor=cursor, filter=filt
                )
            else:
                page = self._table.query(
                    status or "pending", index="byStatus", descending=True, limit=limit, cursor=cursor
                )
        return {"items": [self._view(i) for i in page.items], "cursor": page.cursor}

    def _view(self, item: Item) -> Item:
        """The stored interaction, plus whether the conversation has moved on since (``stale``) and the
        contact's window state, which decide whether a free-form reply can still go."""
        out = dict(item)
        contact = self._contacts.get({"contactId": item.get("contactId", "")}) or {}
        last_inbound = contact.get("lastInboundMessageAt")
        inbound_at = item.get("inboundAt")
        out["stale"] = bool(
            isinstance(last_inbound, int | float)
            and isinstance(inbound_at, int | float)
            and last_inbound > inbound_at + 1e-6
        )
        out["lastInboundMessageAt"] = last_inbound
        return out

    # -- operator actions --------------------------------------------------------------------------

    def approve(self, interaction_id: str, *, actor: str, text: str | None = None) -> Item:
        current = self.get(interaction_id)
        if current.get("status") != "pending":
            raise Conflict(
                f"the suggestion is {current.get('status')}; only a pending one can be approved",
                code="INVALID_TRANSITION",
                details={"status": current.get("status")},
            )
        original = str(current.get("response", ""))
        final = original if text is None else text.strip()
        if not final:
            raise InvalidInput("the reply to send is empty", code="INVALID_INPUT")
        if len(final) > MAX_REPLY_CHARS:
            raise InvalidInput(f"the reply is longer than {MAX_REPLY_CHARS} characters", code="TOO_LONG")
        now = self._clock.now()
        edited = final != original
        try:
            self._table.update(
                {"interactionId": interaction_id},
                Update(
                    set={
                        "status": "approved",
                        "approvedBy": actor,
                        "approvedAt": now,
                        "edited": edited,
                        "sentText": final,
                        "originalText": original,
                    }
                ),
                condition=eq("status", "pending"),
            )
        except ConditionFailed:
            latest = self.get(interaction_id)
            raise Conflict(
                f"the suggestion is {latest.get('status')}; it was approved or rejected meanwhile",
                code="INVALID_TRANSITION",
                details={"status": latest.get("status")},
            ) from None
        outcome = self._gateway.send(
            OutboundRequest(
                contact_id=str(current["contactId"]),
                channel="whatsapp",
                content=TextContent(final),
                origin="ai",
                actor=actor,
                approved_by=actor,
                message_id=interaction_message_id(interaction_id),
                context={"aiInteractionId": interaction_id},
            )
        )
        send: dict[str, Any] = {
            "messageId": outcome.message_id,
            "status": outcome.status.value,
            "reasons": outcome.decision.reasons,
            "error": dict(outcome.error) if outcome.error else None,
            "sendMode": outcome.message.get("sendMode"),
        }
        self._table.update({"interactionId": interaction_id}, Update(set={"send": send}))
        self._metrics.inc("ai_approvals_total", {"edited": str(edited).lower(), "outcome": send["status"]})
        self._record(actor, "ai.suggestion.approved", interaction_id, {"edited": edited, "send": send})
        return self.get(interaction_id)

    def reject(self, interaction_id: str, *, actor: str, reason: str = "") -> Item:
        try:
            self._table.update(
                {"interactionId": interaction_id},
                Update(
                    set={
                        "status": "rejected",
                        "rejectedBy": actor,
                        "rejectedAt": self._clock.now(),
                        "rejectReason": reason[:500],
                    }
                ),
                condition=eq("status", "pending"),
            )
        except ConditionFailed:
            latest = self.get(interaction_id)  # NotFound when there is none
            raise Conflict(
                f"the suggestion is {latest.get('status')}; only a pending one can be rejected",
                code="INVALID_TRANSITION",
                details={"status": latest.get("status")},
            ) from None
        self._metrics.inc("ai_rejections_total")
        self._record(actor, "ai.suggestion.rejected", interaction_id, {"reason": reason[:500]})
        return self.get(interaction_id)

    def feedback(self, interaction_id: str, *, actor: str, rating: Rating, comment: str = "") -> Item:
        self.get(interaction_id)
        entry = {"rating": rating, "comment": comment[:2000], "by": actor, "at": self._clock.now()}
        self._table.update({"interactionId": interaction_id}, Update(set={"feedback": entry}))
        self._metrics.inc("ai_feedback_total", {"rating": rating})
        self._record(actor, "ai.suggestion.feedback", interaction_id, {"rating": rating})
        return self.get(interaction_id)

    def _record(self, actor: str, action: str, interaction_id: str, details: Mapping[str, Any]) -> None:
        if self._audit is not None:
            self._audit.record(actor, action, "ai-interaction", interaction_id, details)

    # -- quality -----------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Suggestions made, approved as is, edited, rejected, failed, and ratings: overall and per
        knowledge-base document (a suggestion counts for every document it cited)."""
        overall: Counter[str] = Counter()
        by_document: dict[str, Counter[str]] = {}
        for status in STATUSES:
            cursor: str | None = None
            while True:
                page = self._table.query(status, index="byStatus", limit=500, cursor=cursor)
                for item in page.items:
                    outcome = _outcome(item)
                    overall.update(outcome)
                    documents = {str(c.get("document")) for c in item.get("citations") or []}
                    for document in documents:
                        by_document.setdefault(document, Counter()).update(outcome)
                cursor = page.cursor
                if cursor is None:
                    break
        keys = (
            "suggested",
            "approvedAsIs",
            "edited",
            "rejected",
            "failed",
            "pending",
            "ratedGood",
            "ratedBad",
        )
        return {
            "overall": {k: overall.get(k, 0) for k in keys},
            "byDocument": {d: {k: c.get(k, 0) for k in keys} for d, c in sorted(by_document.items())},
        }


def _outcome(item: Mapping[str, Any]) -> Counter[str]:
    out: Counter[str] = Counter()
    status = item.get("status")
    if status == "failed":
        out["failed"] += 1
        return out
    out["suggested"] += 1
    if status == "approved":
        out["edited" if item.get("edited") else "approvedAsIs"] += 1
    elif status == "rejected":
        out["rejected"] += 1
    elif status == "pending":
        out["pending"] += 1
    feedback = item.get("feedback")
    if isinstance(feedback, Mapping) and feedback.get("rating") in ("good", "bad"):
        out["ratedGood" if feedback["rating"] == "good" else "ratedBad"] += 1
    return out


def _session_id(contact_id: str) -> str:
    """One agent session per contact (15.2): the agent keeps the conversation's context."""
    return "wecare-" + hashlib.sha256(contact_id.encode()).hexdigest()[:32]


__all__ = ["AI_QUEUE", "AIService", "Reference", "interaction_message_id"]
