"""The gateway with the shipped policy bundle and the real engine: the input it builds is exactly what
the rules expect (never POLICY_ERROR), and the decisions mean what the design says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.ratelimit import RateLimiter
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import (
    EmailContent,
    MediaContent,
    MediaUpload,
    OutboundRequest,
    TemplateContent,
    TextContent,
)
from gateway.policy import PolicyEngine, load_bundle
from gateway.store.memory import MemoryTables

from .fakes import PN2, POLICIES, StoreCheckingDriver, builders, contact_item

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1020
BUNDLE = load_bundle(POLICIES)


@pytest.fixture(params=["fast", "celpy"])
def real(request: pytest.FixtureRequest, make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway(engine=PolicyEngine(BUNDLE, engine=request.param))


def send(gateway: Gateway, contact: str, channel: str, content: Any, **kw: Any) -> Any:
    return gateway.send(OutboundRequest(contact_id=contact, channel=channel, content=content, **kw))


def test_the_design_scenarios_with_the_shipped_bundle(
    real: Gateway, tables: MemoryTables, clock: FakeClock, drivers: dict[str, StoreCheckingDriver]
) -> None:
    now = clock.now()
    tables["Contacts"].put(contact_item("in_window", now=now, last_inbound=now - 3600))
    tables["Contacts"].put(contact_item("cold", now=now, phone="+447898765432"))
    tables["Contacts"].put(contact_item("no_sms", now=now, sms=False, phone="+447911123456"))

    assert send(real, "in_window", "whatsapp", TextContent("Hi")).status == "sent"
    media = MediaContent("image", upload=MediaUpload(JPEG, "image/jpeg"), caption="pic")
    assert send(real, "in_window", "whatsapp", media, phone_number_id=PN2).status == "sent"
    outside = send(real, "cold", "whatsapp", TextContent("Hi"))
    assert outside.reasons == ["TEMPLATE_REQUIRED"]
    assert "FREE_FORM_OUTSIDE_WINDOW" in outside.decision["warnings"]
    template = send(real, "cold", "whatsapp", TemplateContent("order_update", "en_GB"))
    assert template.status == "sent" and "TEMPLATE_MESSAGE" in template.decision["audits"]
    assert send(real, "no_sms", "sms", TextContent("x")).reasons == ["OPT_IN_REQUIRED"]
    assert send(real, "ghost", "email", EmailContent("s", text="t")).status == "rejected"
    assert send(real, "in_window", "email", EmailContent("s", text="t")).status == "sent"
    too_long = send(real, "in_window", "sms", TextContent("x" * 1601))
    assert too_long.reasons == ["CONTENT_TOO_LONG"]
    unapproved = send(real, "in_window", "whatsapp", TextContent("AI says hi"), origin="ai")
    assert unapproved.reasons == ["AI_APPROVAL_REQUIRED"]
    bad_number = send(
        real,
        "in_window",
        "whatsapp",
        TextContent("Hi"),
        phone_number_id="phone-number-id-ffffffffffffffffffffffffffffffff",
    )
    assert bad_number.reasons == ["NOT_ALLOWLISTED"]
    assert len(drivers["whatsapp"].calls) == 3 and len(drivers["sms"].calls) == 0
    assert len(drivers["email"].calls) == 1


def test_the_tier_limit_from_system_config_is_enforced_by_the_bundle(
    real: Gateway, tables: MemoryTables, clock: FakeClock
) -> None:
    tables["SystemConfig"].put({"configKey": "whatsapp.tier.limit", "configValue": 2})
    for i in range(3):
        tables["Contacts"].put(contact_item(f"c{i}", now=clock.now(), phone=f"+44789876543{i}"))
    results = [send(real, f"c{i}", "whatsapp", TemplateContent("t", "en")) for i in range(3)]
    assert [r.status for r in results] == ["sent", "sent", "rejected"]
    assert results[1].decision["warnings"] == []  # 1 of 2 used when deciding: 50 %
    assert results[2].reasons == ["TIER_LIMIT"]
    assert results[2].decision["warnings"] == ["TIER_NEAR_LIMIT"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    whatsapp=st.sampled_from([True, False, None]),
    inbound_ago=st.sampled_from([None, 10, 86399, 86400, 10**6]),
    kind=st.sampled_from(["text", "template", "media", "sms", "email", "empty"]),
    origin=st.sampled_from(["api", "bulk", "ai"]),
    exists=st.booleans(),
)
def test_the_input_the_gateway_builds_never_trips_the_bundle(
    *,
    make_gateway: Callable[..., Gateway],
    whatsapp: Any,
    inbound_ago: int | None,
    kind: str,
    origin: str,
    exists: bool,
) -> None:
    clock = FakeClock()
    tables = MemoryTables(clock)
    metrics = Metrics()
    gateway = make_gateway(
        tables=tables,
        clock=clock,
        engine=PolicyEngine(BUNDLE),
        limiter=RateLimiter(tables["RateLimitTrackers"], clock),
        tier=TierTracker(tables, clock, LocalAlerts(metrics), metrics, default_limit=250),
        drivers={ch: StoreCheckingDriver(ch, tables, b) for ch, b in builders().items()},
    )
    now = clock.now()
    if exists:
        tables["Contacts"].put(
            contact_item(
                "c",
                now=now,
                whatsapp=whatsapp,
                last_inbound=None if inbound_ago is None else now - inbound_ago,
            )
        )
    content: dict[str, tuple[str, Any]] = {
        "text": ("whatsapp", TextContent("hello")),
        "empty": ("whatsapp", TextContent("")),
        "template": ("whatsapp", TemplateContent("t", "en")),
        "media": ("whatsapp", MediaContent("image", upload=MediaUpload(JPEG, "image/jpeg"))),
        "sms": ("sms", TextContent("hello")),
        "email": ("email", EmailContent("s", text="t")),
    }
    channel, body = content[kind]
    outcome = send(gateway, "c", channel, body, origin=origin, approved_by="u" if origin == "ai" else "")
    assert "POLICY_ERROR" not in outcome.reasons
    assert "inputProblems" not in outcome.decision
