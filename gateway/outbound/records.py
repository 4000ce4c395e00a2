"""Building the outbound message row, and reading a stored row back as the gateway's answer.

A row keeps everything "why was this sent?" needs: the decision, the exact policy input, the consent
record it relied on, the DRY_RUN request when nothing was sent. Rows are written only through
:class:`~gateway.messages.repository.MessageRepository`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.errors import ChannelError, ContentInvalid
from gateway.messages.repository import MESSAGE_KIND
from gateway.messages.status import MessageStatus, parse
from gateway.outbound.ports import Decision
from gateway.outbound.types import DecisionRecord, Failure, OutboundRequest, SendOutcome
from gateway.store.port import Item

OUTBOX_MAX_BYTES = 64 * 1024  # keeps a message item far below DynamoDB's 400 KB item limit
# The codes a driver uses when the provider may already have accepted the message.
OUTCOME_UNKNOWN_CODES = frozenset({"OutcomeUnknown"})


@dataclass(frozen=True)
class Attempt:
    """One call of ``send``: the request and what was derived from it up front."""

    request: OutboundRequest
    message_id: str
    fingerprint: str
    started: float  # perf_counter at entry, for the latency metric


@dataclass(frozen=True)
class Decided:
    """One decision: the exact input, the engine's answer, and the clock it was made at."""

    policy_input: Mapping[str, Any]
    decision: Decision
    now: float


def message_row(
    attempt: Attempt, decided: Decided, contact: Item | None, *, live: bool, retention: int
) -> Item:
    request, now = attempt.request, decided.now
    item: Item = {
        "messageId": attempt.message_id,
        "kind": MESSAGE_KIND,
        "contactId": request.contact_id,
        "channel": request.channel,
        "direction": "outbound",
        "content": request.content_document(),
        "timestamp": now,
        "origin": request.origin,
        "category": request.category,
        "decision": decided.decision.to_dict(),
        "policyInput": dict(decided.policy_input),
        "sendMode": "LIVE" if live else "DRY_RUN",
        "createdBy": request.actor,
        "requestHash": attempt.fingerprint,
        "expiresAt": int(now) + retention,
    }
    if request.channel == "whatsapp":
        item["phoneNumberId"] = decided.policy_input["request"]["phoneNumberId"]
    if request.approved_by:
        item["approvedBy"] = request.approved_by
    if request.idempotency_key is not None:
        item["idempotencyKey"] = request.idempotency_key
    if request.context:
        item["context"] = dict(request.context)
    if contact is not None:
        address = contact.get("email") if request.channel == "email" else contact.get("phone")
        if address:
            item["to"] = address
        consent = consent_evidence(contact, request.channel)
        if consent is not None:
            # The consent a send relied on, kept with the message: the contact's own history may
            # change later (or the contact be deleted), the message answers "on what consent?".
            item["consent"] = consent
    return item


def outbox_document(record: dict[str, Any]) -> dict[str, Any]:
    """The DRY_RUN record as stored; a very large one (long HTML email) is summarised by its hash."""
    encoded = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    if len(encoded) <= OUTBOX_MAX_BYTES:
        return record
    return {
        "id": record.get("id"),
        "channel": record.get("channel"),
        "kind": record.get("kind"),
        "operations": [c.get("operation") for c in record.get("calls", [])],
        "truncated": True,
        "bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
    }


def consent_evidence(contact: Mapping[str, Any], channel: str) -> dict[str, Any] | None:
    """The newest consent record of ``channel`` on the contact (who, when, source, evidence), if any."""
    history = contact.get("consentHistory")
    if not isinstance(history, list):
        return None
    for record in reversed(history):
        if isinstance(record, Mapping) and record.get("channel") == channel:
            return dict(record)
    return None


def error_details(exc: ChannelError) -> dict[str, Any]:
    details = exc.to_dict()
    return {
        "code": exc.code,
        "message": exc.message,
        "requestId": exc.request_id,
        **{k: v for k, v in details.items() if k not in ("code", "message", "requestId")},
    }


def send_status(exc: ChannelError) -> MessageStatus:
    """What a driver's error means for the message: it may have left (``unknown``), or it did not."""
    return MessageStatus.unknown if exc.code in OUTCOME_UNKNOWN_CODES else MessageStatus.failed


def _failure(status: MessageStatus, error: Mapping[str, Any] | None) -> Failure | None:
    if status is MessageStatus.unknown:
        return "unknown"
    if status is not MessageStatus.failed:
        return None
    # The driver's pre-send checks raise ContentInvalid; its name is what error_details stores as type.
    return "content" if (error or {}).get("type") == ContentInvalid.__name__ else "provider"


def outcome(item: Mapping[str, Any], *, replayed: bool = False) -> SendOutcome:
    status = parse(item.get("status"))
    error = item.get("errorDetails")
    return SendOutcome(
        message_id=str(item["messageId"]),
        status=status,
        channel=str(item.get("channel")),
        decision=DecisionRecord(item.get("decision")),
        message=dict(item),
        error=error,
        replayed=replayed,
        failure=_failure(status, error),
    )
