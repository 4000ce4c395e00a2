"""The shipped bundle against a plain-Python statement of the requirements it implements.

Each property restates one requirement in a few lines of Python, independent of the YAML, and
checks the engine's decision against it on generated well-typed inputs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.engine import PolicyEngine

from .strategies import ALLOWLIST, DAY, well_typed_inputs

OPT_IN = {"whatsapp": "optInWhatsApp", "sms": "optInSms", "email": "optInEmail"}
EXAMPLES = settings(max_examples=600, deadline=None, database=None)


def consented(doc: dict[str, Any]) -> bool:
    """Requirements 3.1, 3.3, 3.4: the contact opted in to this channel (unknown channels never)."""
    flag = OPT_IN.get(doc["request"]["channel"])
    return flag is not None and doc["contact"][flag] is True


def allowlisted(doc: dict[str, Any]) -> bool:
    """Requirement 3.2: WhatsApp only from an allowlisted phone-number-id."""
    return doc["request"]["channel"] != "whatsapp" or doc["request"]["phoneNumberId"] in ALLOWLIST


def window_ok(doc: dict[str, Any]) -> bool:
    """Requirement 16: outside now < lastInbound + 24 h only templates pass on WhatsApp."""
    if doc["request"]["channel"] != "whatsapp" or doc["request"]["kind"] == "template":
        return True
    return bool(doc["now"] < doc["contact"]["lastInboundMessageAt"] + DAY)


def within_tier(doc: dict[str, Any]) -> bool:
    """Requirements 13.2/13.10: a WhatsApp send that opens a conversation needs room in the tier."""
    tier = doc["tier"]
    if doc["request"]["channel"] != "whatsapp" or not tier["opensConversation"]:
        return True
    return bool(tier["used24h"] < tier["limit"])


def near_tier_limit(doc: dict[str, Any]) -> bool:
    """Requirement 13.9: warn from 80 % of the tier limit (exact, no rounding)."""
    tier = doc["tier"]
    return doc["request"]["channel"] == "whatsapp" and tier["used24h"] * 100 >= tier["limit"] * 80


def send_mode_ok(doc: dict[str, Any]) -> bool:
    """Requirement 10.7: LIVE only in production; only LIVE and DRY_RUN exist."""
    env = doc["environment"]
    return env["sendMode"] == "DRY_RUN" or (env["sendMode"] == "LIVE" and env["name"] == "production")


@EXAMPLES
@given(doc=well_typed_inputs())
def test_opt_in(doc: dict[str, Any], fast: PolicyEngine) -> None:
    decision = fast.evaluate(doc)
    assert ("OPT_IN_REQUIRED" in decision.reasons) == (not consented(doc))
    if decision.allowed:
        assert consented(doc) and doc["contact"]["found"] and not doc["contact"]["deleted"]


@EXAMPLES
@given(doc=well_typed_inputs())
def test_allowlist(doc: dict[str, Any], fast: PolicyEngine) -> None:
    assert ("NOT_ALLOWLISTED" in fast.evaluate(doc).reasons) == (not allowlisted(doc))


@EXAMPLES
@given(doc=well_typed_inputs())
def test_window(doc: dict[str, Any], fast: PolicyEngine) -> None:
    decision = fast.evaluate(doc)
    assert ("TEMPLATE_REQUIRED" in decision.reasons) == (not window_ok(doc))
    assert ("FREE_FORM_OUTSIDE_WINDOW" in decision.warnings) == (not window_ok(doc))


@EXAMPLES
@given(doc=well_typed_inputs())
def test_tier(doc: dict[str, Any], fast: PolicyEngine) -> None:
    decision = fast.evaluate(doc)
    assert ("TIER_LIMIT" in decision.reasons) == (not within_tier(doc))
    assert ("TIER_NEAR_LIMIT" in decision.warnings) == near_tier_limit(doc)


@EXAMPLES
@given(doc=well_typed_inputs())
def test_send_mode(doc: dict[str, Any], fast: PolicyEngine) -> None:
    assert ("SEND_MODE_FORBIDDEN" in fast.evaluate(doc).reasons) == (not send_mode_ok(doc))


@EXAMPLES
@given(doc=well_typed_inputs())
def test_an_allowed_send_meets_every_requirement_at_once(doc: dict[str, Any], fast: PolicyEngine) -> None:
    decision = fast.evaluate(doc)
    every = consented(doc) and allowlisted(doc) and window_ok(doc) and within_tier(doc) and send_mode_ok(doc)
    if decision.allowed:
        assert every
    if not every:
        assert not decision.allowed


@settings(max_examples=200, deadline=None, database=None)
@given(doc=well_typed_inputs(), kind=st.sampled_from(["text", "media"]))
def test_templates_pass_any_time_where_free_form_does_not(
    doc: dict[str, Any], kind: str, fast: PolicyEngine
) -> None:
    """Requirement 16.10: switching a refused free-form send to a template removes TEMPLATE_REQUIRED."""
    doc["request"].update(channel="whatsapp", kind=kind)
    free_form = fast.evaluate(doc)
    doc["request"].update(kind="template", templateName="order_update")
    template = fast.evaluate(doc)
    assert "TEMPLATE_REQUIRED" not in template.reasons
    assert set(template.reasons) <= set(free_form.reasons) | {"CONTENT_EMPTY"}
