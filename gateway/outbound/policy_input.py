"""The policy input document: exactly what every rule sees (DESIGN.md, "Policy input document").

Built from the request, a snapshot of the contact, the tier counters and the environment. Pure: the
caller supplies ``now`` and the snapshots, so the same document can be rebuilt in tests and stored
verbatim with the message it decided.

Fail-closed by construction: a missing or malformed contact yields ``found: false`` and every flag
false, so the opt-in rules deny rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import Settings
from gateway.outbound.types import OutboundRequest

WINDOW_SECONDS = 24 * 3600


@dataclass(frozen=True)
class TierSnapshot:
    """The WhatsApp messaging-limit counters at decision time."""

    limit: int
    used24h: int
    opens_conversation: bool

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "used24h": self.used24h, "opensConversation": self.opens_conversation}


def _flag(contact: Mapping[str, Any], name: str) -> bool:
    # Only a real boolean True counts as consent; "true", 1 or a missing flag do not.
    return contact.get(name) is True


def _epoch(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value if value > 0 else 0


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def is_real_contact(contact: Mapping[str, Any] | None) -> bool:
    return contact is not None and contact.get("kind") == "contact"


def last_inbound_at(contact: Mapping[str, Any] | None) -> float:
    """``lastInboundMessageAt`` as epoch seconds, 0 when the contact never wrote to us."""
    if not is_real_contact(contact):
        return 0
    assert contact is not None
    return _epoch(contact.get("lastInboundMessageAt"))


def window_seconds_from_params(params: Mapping[str, Any]) -> int:
    """The window length the policies use (``params.whatsapp.windowSeconds``)."""
    whatsapp = params.get("whatsapp")
    value = whatsapp.get("windowSeconds") if isinstance(whatsapp, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"policy bundle params.whatsapp.windowSeconds must be a whole number >= 1, got {value!r}"
        )
    return value


def window_open(contact: Mapping[str, Any] | None, now: float, window_seconds: int = WINDOW_SECONDS) -> bool:
    """The customer-service window is open iff ``now < lastInboundMessageAt + 24 h`` (requirement 16.2).

    ``now`` is taken in whole seconds, as in the policy input, so this agrees with the rules exactly.
    """
    last = last_inbound_at(contact)
    return last > 0 and int(now) < last + window_seconds


def _unreachable(contact: Mapping[str, Any], last_inbound: float) -> bool:
    """Meta reported the number not on WhatsApp (131026) and the contact has not written to us on
    WhatsApp since: a message from them proves the number reachable again, without a write."""
    if not _flag(contact, "whatsappUnreachable"):
        return False
    marked = contact.get("whatsappUnreachableAt")
    if not isinstance(marked, int | float) or isinstance(marked, bool):
        return True  # marked, but when is unknown: fail closed
    return float(marked) >= float(last_inbound)


def contact_section(contact: Mapping[str, Any] | None) -> dict[str, Any]:
    if not is_real_contact(contact):
        return {
            "found": False,
            "deleted": False,
            "optInWhatsApp": False,
            "optInSms": False,
            "optInEmail": False,
            "hasPhone": False,
            "hasEmail": False,
            "lastInboundMessageAt": 0,
            "whatsappUnreachable": False,
        }
    assert contact is not None
    last = _epoch(contact.get("lastInboundMessageAt"))
    return {
        "found": True,
        "deleted": bool(contact.get("deletedAt")),
        "optInWhatsApp": _flag(contact, "optInWhatsApp"),
        "optInSms": _flag(contact, "optInSms"),
        "optInEmail": _flag(contact, "optInEmail"),
        "hasPhone": _present(contact.get("phone")),
        "hasEmail": _present(contact.get("email")),
        # Whole seconds when it is whole, so the stored document reads as the design shows it.
        "lastInboundMessageAt": int(last) if float(last).is_integer() else last,
        "whatsappUnreachable": _unreachable(contact, last),
    }


def request_section(request: OutboundRequest, phone_number_id: str) -> dict[str, Any]:
    return {
        "channel": request.channel,
        "kind": request.kind,
        "origin": request.origin,
        "phoneNumberId": phone_number_id if request.channel == "whatsapp" else "",
        "bodyLength": request.body_length,
        "templateName": request.template_name,
        "approvedBy": request.approved_by,
    }


def build_policy_input(
    request: OutboundRequest,
    contact: Mapping[str, Any] | None,
    *,
    now: float,
    settings: Settings,
    tier: TierSnapshot,
    phone_number_id: str,
    paused: bool = False,
) -> dict[str, Any]:
    """The document the engine decides on; stored verbatim with the message. ``paused``: the kill
    switch covers this request's channel (:mod:`gateway.kill_switch`)."""
    return {
        "now": int(now),
        "request": request_section(request, phone_number_id),
        "contact": contact_section(contact),
        "environment": {
            "name": settings.ENVIRONMENT.value,
            "sendMode": settings.SEND_MODE.value,
            "paused": paused,
        },
        "tier": tier.as_dict(),
    }
