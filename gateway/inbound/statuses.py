"""Delivery statuses (sent, delivered, read, failed) applied to outbound WhatsApp messages.

Meta does not deliver statuses in order, and SNS may deliver one twice, so an update only ever moves a
message forward along the order of :mod:`gateway.messages.status`; the writes themselves (optimistic,
on ``status`` and ``statusVersion``) are :class:`~gateway.messages.repository.MessageRepository`'s. The
time of every state seen is kept in ``statusTimestamps`` (first report wins), the errors of a failure
in ``errorDetails``/``whatsappErrors``, and the conversation and pricing category for cost reports.

A status for a message not recorded yet (the webhook can beat the gateway's own write of the
``whatsappMessageId``) is kept as a *pending status* (``status#<wamid>#<status>``, no GSI attributes)
and applied by :meth:`StatusTracker.apply_pending`, which the gateway calls right after it records a
message's ``whatsappMessageId``. After storing a pending status the tracker looks for the message once
more, so whichever of the two writes lands second applies it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from gateway.clock import Clock
from gateway.inbound.errors import InboundError
from gateway.inbound.parse import STATUS_VALUES, StatusUpdate
from gateway.messages.repository import MessageRepository, TooManyRaces, pending_key
from gateway.messages.status import RANK, can_advance
from gateway.metrics import Metrics
from gateway.store.port import Item, Tables

log = logging.getLogger("wecare.inbound.statuses")

__all__ = ["RANK", "StatusTracker", "apply_pending_statuses", "can_advance", "pending_key"]

Outcome = Literal["applied", "recorded", "stale", "pending", "ignored"]


def _error_details(update: StatusUpdate) -> dict[str, Any]:
    first = update.errors[0] if update.errors else {}
    raw_data = first.get("error_data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    title = str(first.get("title") or first.get("message") or "delivery failed")
    details = str(data.get("details") or "")
    return {
        "code": str(first.get("code", "UNKNOWN")),
        "message": f"{title}: {details}" if details and details != title else title,
        "requestId": update.aws_message_id,
    }


class StatusTracker:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        on_failed: Callable[[Item], object] | None = None,
        on_status: Callable[[Item], object] | None = None,
    ) -> None:
        self._messages = MessageRepository(tables)
        self._clock = clock
        self._metrics = metrics
        # Told of every message a ``failed`` status leaves failed (a bulk recipient then follows).
        # It must be idempotent: it is told again when the same status comes twice or is replayed,
        # and its error propagates, so the event is dead-lettered rather than the news lost.
        self._on_failed = on_failed
        # Told of a message after a status changed it (the DM inbox's ticks). Bookkeeping: its failure
        # is logged, never dead-letters the event (the status itself is stored).
        self._on_status = on_status

    def find_outbound(self, whatsapp_message_id: str) -> Item | None:
        return self._messages.find_outbound(whatsapp_message_id)

    def find_for(self, update: StatusUpdate) -> Item | None:
        """The outbound message a status is about.

        The gateway records the id ``SendWhatsAppMessage`` returned (AWS's ``messageId``) as the
        message's ``whatsappMessageId``; EUM status events carry that id beside Meta's ``wamid``. Match
        on it first, then on the wamid (a status that reached us through Meta's own webhook).
        """
        for candidate in _ids(update):
            found = self.find_outbound(candidate)
            if found is not None:
                return found
        return None

    def apply(self, update: StatusUpdate) -> Outcome:
        """Apply one status; keeps it pending when its message is not recorded yet. Never drops it."""
        if update.status not in STATUS_VALUES:
            log.info(
                "status ignored",
                extra={"status": update.status, "whatsappMessageId": update.whatsapp_message_id},
            )
            self._count("ignored")
            return "ignored"
        found = self.find_for(update)
        if found is not None:
            outcome = self._merge(str(found["messageId"]), update)
            self._count(outcome)
            return outcome
        # Kept under the id the gateway will announce (the AWS message id when the event has one).
        pending_id = _ids(update)[0]
        now = self._clock.now()
        self._messages.put_pending_status(pending_id, update.status, update.to_dict(), now)
        self._messages.mark_pending(pending_id, now)
        self._count("pending")
        # The gateway may have recorded the message between our lookup and our put; it may also have
        # looked at the marker just before we wrote it, so this look does not rely on the marker.
        if self.find_outbound(pending_id) is not None:
            self.apply_pending(pending_id, check_marker=False)
        return "pending"

    def apply_pending(self, whatsapp_message_id: str, *, check_marker: bool = True) -> int:
        """Apply every status kept for this WhatsApp message id; returns how many were applied.

        With ``check_marker`` (the gateway, after every send) one read of the marker answers the usual
        case, nothing waiting; the marker is dropped only after the statuses are applied, so a crash
        in between costs a later look, never a status.
        """
        if check_marker and not self._messages.has_pending(whatsapp_message_id):
            return 0
        found = self.find_outbound(whatsapp_message_id)
        if found is None:
            return 0
        applied = 0
        for status in STATUS_VALUES:
            item = self._messages.pending_status(whatsapp_message_id, status)
            if item is None:
                continue
            self._merge(str(found["messageId"]), StatusUpdate.from_dict(item["statusEvent"]))
            self._messages.drop_pending_status(whatsapp_message_id, status)
            applied += 1
        self._messages.drop_pending_marker(whatsapp_message_id)
        return applied

    def _merge(self, message_id: str, update: StatusUpdate) -> Outcome:
        def changes_for(current: Item) -> tuple[dict[str, Any], Outcome]:
            return _changes(current, update)

        try:
            outcome = self._messages.merge(message_id, changes_for)
        except TooManyRaces:
            raise InboundError(
                f"gave up applying status {update.status} to {message_id}: too many concurrent writes"
            ) from None
        if outcome is None:
            raise InboundError(f"message {message_id} vanished while applying a status")
        if outcome != "stale":
            log.info("status %s", outcome, extra={"messageId": message_id, "status": update.status})
        stored = None
        if update.status == "failed" and self._on_failed is not None:
            stored = self._messages.get(message_id)
            if stored is not None and stored.get("status") == "failed":
                self._on_failed(stored)
        if outcome != "stale" and self._on_status is not None:
            try:
                stored = stored or self._messages.get(message_id)
                if stored is not None:
                    self._on_status(stored)
            except Exception:
                log.exception("a status listener failed", extra={"messageId": message_id})
        return outcome

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.inc("inbound_statuses_total", {"outcome": outcome})


def _changes(current: Item, update: StatusUpdate) -> tuple[dict[str, Any], Outcome]:
    """What ``update`` changes on the stored message: forward-only status, first-seen times, details."""
    changes: dict[str, Any] = {}
    stamps = dict(current.get("statusTimestamps") or {})
    if update.status not in stamps:
        stamps[update.status] = update.timestamp
        changes["statusTimestamps"] = stamps
    advance = can_advance(current.get("status"), update.status)
    if advance:
        changes["status"] = update.status
        if update.status == "failed":
            changes["errorDetails"] = _error_details(update)
            changes["whatsappErrors"] = update.errors
    if update.conversation:
        merged = {**(current.get("conversation") or {}), **update.conversation}
        if merged != current.get("conversation"):
            changes["conversation"] = merged
    if update.pricing:
        merged = {**(current.get("pricing") or {}), **update.pricing}
        if merged != current.get("pricing"):
            changes["pricing"] = merged
    if update.aws_message_id and not current.get("awsMessageId"):
        changes["awsMessageId"] = update.aws_message_id
    if update.whatsapp_message_id and not current.get("metaMessageId"):
        changes["metaMessageId"] = update.whatsapp_message_id
    return changes, ("applied" if advance else "recorded" if changes else "stale")


def _ids(update: StatusUpdate) -> list[str]:
    return [i for i in (update.aws_message_id, update.whatsapp_message_id) if i]


def apply_pending_statuses(tables: Tables, clock: Clock, whatsapp_message_id: str) -> int:
    """Call right after recording an outbound message's ``whatsappMessageId`` (and its status, in the
    same write): applies any delivery status that arrived before it. Returns how many were applied."""
    return StatusTracker(tables, clock).apply_pending(whatsapp_message_id)
