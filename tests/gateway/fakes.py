"""Test doubles for the gateway: a small rule engine with the design's meaning, and drivers that spy.

``RuleEngine`` implements the documented meaning of the policy bundle (DESIGN.md, "Policy input
document") in plain Python, so the gateway's tests do not depend on the CEL bundle; the bundle has
its own case tests. ``StoreCheckingDriver`` refuses to "send" unless the store already holds a
persisted allow decision for a message in ``sending`` state that no earlier call has claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.base import Channel, OutboundMessage, PreparedRequest, SendResult
from channels.email import EmailRequestBuilder
from channels.errors import ChannelError
from channels.sms import SmsRequestBuilder
from channels.whatsapp import WhatsAppRequestBuilder
from gateway.policy import load_bundle
from gateway.store.conditions import eq
from gateway.store.port import Tables

PN1 = "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54"
PN2 = "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06"
ALLOWLIST = (PN1, PN2)
DAY = 86400

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
# The shipped bundle's parameters: limits are read from here, never from constants.
PARAMS: dict[str, Any] = load_bundle(POLICIES).params


@dataclass(frozen=True)
class FakeDecision:
    allowed: bool
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "violations": [
                {"policy": "test", "rule": r.lower(), "reason": r, "message": f"{r} (test rule)"}
                for r in self.reasons
            ],
            "warnings": list(self.warnings),
            "bundle": {"name": "test", "version": "0.0.0", "digest": "sha256:test"},
        }


class RuleEngine:
    """The design's rules, in Python. Records every input it was asked about."""

    def __init__(self) -> None:
        self.inputs: list[Mapping[str, Any]] = []

    def evaluate(self, doc: Mapping[str, Any]) -> FakeDecision:  # noqa: PLR0912 - a branch per bundle rule
        self.inputs.append(doc)
        req, contact, env, tier = doc["request"], doc["contact"], doc["environment"], doc["tier"]
        reasons: list[str] = []
        warnings: list[str] = []
        channel = req["channel"]
        if not contact["found"]:
            reasons.append("CONTACT_NOT_FOUND")
        if contact["deleted"]:
            reasons.append("CONTACT_DELETED")
        flag = {"whatsapp": "optInWhatsApp", "sms": "optInSms", "email": "optInEmail"}[channel]
        if not contact[flag]:
            reasons.append("OPT_IN_REQUIRED")
        if (channel == "email" and not contact["hasEmail"]) or (
            channel != "email" and not contact["hasPhone"]
        ):
            reasons.append("RECIPIENT_ADDRESS_MISSING")
        if channel == "whatsapp" and contact["whatsappUnreachable"]:
            reasons.append("RECIPIENT_UNREACHABLE")
        if channel == "whatsapp":
            if req["phoneNumberId"] not in ALLOWLIST:
                reasons.append("NOT_ALLOWLISTED")
            window = doc["now"] < contact["lastInboundMessageAt"] + DAY
            if req["kind"] in ("text", "media") and not window:
                reasons.append("TEMPLATE_REQUIRED")
            if tier["opensConversation"] and tier["used24h"] >= tier["limit"]:
                reasons.append("TIER_LIMIT")
            if tier["used24h"] >= 0.8 * tier["limit"]:
                warnings.append("TIER_NEAR_LIMIT")
        if env["sendMode"] == "LIVE" and env["name"] != "production":
            reasons.append("SEND_MODE_FORBIDDEN")
        if req["kind"] == "text" and req["bodyLength"] == 0:
            reasons.append("CONTENT_EMPTY")
        if req["origin"] == "ai" and not req["approvedBy"]:
            reasons.append("AI_APPROVAL_REQUIRED")
        if env.get("paused"):
            reasons.append("SENDING_PAUSED")
        return FakeDecision(not reasons, reasons, warnings)


class AllowAll:
    def __init__(self) -> None:
        self.inputs: list[Mapping[str, Any]] = []

    def evaluate(self, doc: Mapping[str, Any]) -> FakeDecision:
        self.inputs.append(doc)
        return FakeDecision(True, [])


def builders() -> dict[Channel, Any]:
    return {"whatsapp": WhatsAppRequestBuilder(), "sms": SmsRequestBuilder(), "email": EmailRequestBuilder()}


class StoreCheckingDriver:
    """A LIVE-style driver that proves every call follows a persisted allow decision.

    ``fail_with`` makes ``send`` raise (after the checks), ``boom`` raises a non-channel error.
    """

    def __init__(self, channel: Channel, tables: Tables, builder: Any) -> None:
        self.channel = channel
        self.builder = builder
        self._messages = tables["Messages"]
        self.calls: list[PreparedRequest] = []
        self.claimed: set[str] = set()
        self.violations: list[str] = []
        self.fail_with: ChannelError | None = None
        self.boom: Exception | None = None
        self._counter = 0

    def build_request(self, message: OutboundMessage) -> PreparedRequest:
        prepared: PreparedRequest = self.builder.build_request(message)
        return prepared

    def send(self, prepared: PreparedRequest) -> SendResult:
        self.calls.append(prepared)
        sending = self._messages.query(
            "sending", index="byStatus", filter=eq("channel", self.channel), limit=1000
        ).items
        candidates = [
            m
            for m in sending
            if m["messageId"] not in self.claimed
            and m.get("decision", {}).get("allowed") is True
            and m.get("policyInput", {}).get("request", {}).get("channel") == self.channel
            and m.get("to", "").lower() == str(prepared.info.get("to", "")).lower()
        ]
        if not candidates:
            self.violations.append(f"driver called without a persisted allow decision: {prepared.info}")
        else:
            self.claimed.add(candidates[0]["messageId"])
        if self.boom is not None:
            raise self.boom
        if self.fail_with is not None:
            raise self.fail_with
        self._counter += 1
        return SendResult(f"{self.channel}-provider-{self._counter}", f"req-{self._counter}", {})


def contact_item(
    contact_id: str,
    *,
    now: float,
    phone: str | None = "+447812345678",
    email: str | None = "ana@example.com",
    whatsapp: Any = True,
    sms: Any = True,
    mail: Any = True,
    last_inbound: float | None = None,
    deleted: bool = False,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "contactId": contact_id,
        "kind": "contact",
        "name": "Ana",
        "optInWhatsApp": whatsapp,
        "optInSms": sms,
        "optInEmail": mail,
        "createdAt": now,
        "updatedAt": now,
        "consentHistory": [],
    }
    if phone is not None:
        item["phone"] = phone
    if email is not None:
        item["email"] = email
    if last_inbound is not None:
        item["lastInboundMessageAt"] = last_inbound
    if deleted:
        item["deletedAt"] = now
    return item
