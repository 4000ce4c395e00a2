"""Provider error codes and what a bulk job does about each: one table, :data:`ERROR_ACTIONS`.

Where the code is found. A failed send's :attr:`SendOutcome.error` is the gateway's ``errorDetails``
(``gateway.outbound.records.error_details``): ``code`` is the *AWS* error code of the failed call
(``ValidationException``, ``ThrottledRequestException``…) and ``message`` its text. AWS End User
Messaging Social passes Meta's numeric code only inside that text (e.g. ``"(#131026) Message
undeliverable"``); a delivery-status failure reported later by the webhook/SNS pipeline stores Meta's
code itself as ``code`` (``gateway.inbound.statuses._error_details``). So :func:`provider_code` looks,
in order, at a numeric ``code``, at explicit ``metaErrorCode``/``providerErrorCode`` fields, and then
parses the first ``13xxxx`` number of the message text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DAY = 24 * 3600


class Action(StrEnum):
    backoff = "backoff"  # put the recipient back, and pause the rest of the chunk for a while
    delay_recipient = "delay"  # put only this recipient back for later; the chunk goes on
    defer = "defer"  # not now: ``deferred``, retried once after 24 h
    unreachable = "unreachable"  # failed, never retried, the contact marked WhatsApp-unreachable
    template_required = "template_required"  # failed with TEMPLATE_REQUIRED semantics, never resent as text
    pause_job = "pause_job"  # pause the whole job (reason shown) instead of burning recipients
    fail = "fail"  # failed with the code (the drivers already retried, at most 3 times)


@dataclass(frozen=True)
class Rule:
    action: Action
    reason: str
    delay_seconds: float = 0.0


ERROR_ACTIONS: Mapping[str, Rule] = {
    "130429": Rule(Action.backoff, "THROUGHPUT_EXCEEDED", 60.0),
    "131056": Rule(Action.delay_recipient, "PAIR_RATE_LIMIT", 60.0),
    "131049": Rule(Action.defer, "MARKETING_LIMIT", float(DAY)),
    "131026": Rule(Action.unreachable, "UNDELIVERABLE"),
    "131047": Rule(Action.template_required, "TEMPLATE_REQUIRED"),
    "131048": Rule(Action.pause_job, "SPAM_RATE_LIMIT"),
    "132015": Rule(Action.pause_job, "TEMPLATE_PAUSED"),
    "132016": Rule(Action.pause_job, "TEMPLATE_DISABLED"),
}
DEFAULT_RULE = Rule(Action.fail, "PROVIDER_ERROR")

_NUMERIC = re.compile(r"^\d{6}$")
_IN_TEXT = re.compile(r"(?<!\d)(13\d{4})(?!\d)")


def provider_code(error: Mapping[str, Any] | None) -> str | None:
    """Meta's numeric error code in a send's error details, if any (see the module docstring)."""
    if not error:
        return None
    code = str(error.get("code") or "")
    if _NUMERIC.match(code):
        return code
    for name in ("metaErrorCode", "providerErrorCode"):
        value = error.get(name)
        if value is not None and _NUMERIC.match(str(value)):
            return str(value)
    match = _IN_TEXT.search(str(error.get("message") or ""))
    return match.group(1) if match else None


def rule_for(error: Mapping[str, Any] | None) -> tuple[str | None, Rule]:
    code = provider_code(error)
    return code, ERROR_ACTIONS.get(code or "", DEFAULT_RULE)
