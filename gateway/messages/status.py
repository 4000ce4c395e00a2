"""The message status state machine, in one place.

Outbound, a send moves ``sending → sent | failed | unknown`` (the gateway; ``unknown`` also from
recovery, and a late provider answer may still settle an ``unknown``), or is stored ``rejected`` at once
(the policy said no). Delivery statuses from WhatsApp then only ever move a message *forward* along one
total order::

    sending / unknown (0) < sent (1) < failed (2) < delivered (3) < read (4)

``failed`` overrides ``sent`` (accepted, then undeliverable) but never ``delivered`` or ``read``: once the
phone has the message a failure report cannot undo that. Being one total order, the final status is
the highest one seen, whatever order the events arrive in, however often they are replayed.
Inbound messages are ``received`` and never change.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    sending = "sending"
    sent = "sent"
    failed = "failed"
    unknown = "unknown"
    rejected = "rejected"
    delivered = "delivered"
    read = "read"
    received = "received"


OUTBOUND_STATUSES: tuple[MessageStatus, ...] = (
    MessageStatus.rejected,
    MessageStatus.sending,
    MessageStatus.sent,
    MessageStatus.delivered,
    MessageStatus.read,
    MessageStatus.failed,
    MessageStatus.unknown,
)
INBOUND_STATUSES: tuple[MessageStatus, ...] = (MessageStatus.received,)

# What a send in progress may end as, and from which states (``unknown``: recovery may have given up on
# a very slow call that has now answered).
SEND_RESULTS = frozenset({MessageStatus.sent, MessageStatus.failed, MessageStatus.unknown})
IN_FLIGHT = (MessageStatus.sending.value, MessageStatus.unknown.value)

# Delivery statuses a provider reports, and the forward-only order they move along.
DELIVERY_STATUSES = (MessageStatus.sent, MessageStatus.delivered, MessageStatus.read, MessageStatus.failed)
RANK: dict[str, int] = {"sending": 0, "unknown": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}


def can_advance(current: str | None, new: str) -> bool:
    """Whether a delivery status ``new`` moves a message in status ``current`` forward."""
    if new not in RANK or new in IN_FLIGHT:
        return False
    return RANK[new] > RANK.get(current or "", 0)


def parse(value: object) -> MessageStatus:
    """A stored status as the enum (an unreadable one is ``unknown``: never guess it was sent)."""
    try:
        return MessageStatus(str(value))
    except ValueError:
        return MessageStatus.unknown
