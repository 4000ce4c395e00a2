"""Invariant 1, as properties: no driver call without a persisted allow decision; a deny reaches nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.ratelimit import RateLimiter, RateLimits
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import EmailContent, OutboundRequest, TemplateContent, TextContent
from gateway.store.memory import MemoryTables

from .fakes import PARAMS, PN1, PN2, RuleEngine, StoreCheckingDriver, builders, contact_item

LIVE = Settings(SEND_MODE=SendMode.LIVE, ENVIRONMENT=Environment.production)

contact_st = st.fixed_dictionaries(
    {
        "exists": st.booleans(),
        "whatsapp": st.sampled_from([True, False, None, "true"]),
        "sms": st.booleans(),
        "mail": st.booleans(),
        "phone": st.sampled_from(["+447812345678", None, "+1"]),
        "email": st.sampled_from(["ana@example.com", None]),
        "inbound_ago": st.sampled_from([None, 60.0, 86399.0, 86400.0, 200000.0]),
        "deleted": st.booleans(),
    }
)
send_st = st.tuples(
    st.integers(0, 3),  # which contact
    st.sampled_from(["wa_text", "wa_template", "sms", "email", "wa_empty"]),
    st.sampled_from([PN1, PN2, "phone-number-id-ffffffffffffffffffffffffffffffff"]),
    st.sampled_from(["api", "bulk", "ai"]),
    st.booleans(),  # approved (for ai)
)


def _request(contact: int, kind: str, pn: str, origin: str, approved: bool) -> OutboundRequest:
    common: dict[str, Any] = {
        "contact_id": f"ct_{contact}",
        "origin": origin,
        "approved_by": "u_1" if approved else "",
    }
    if kind == "wa_text":
        return OutboundRequest(channel="whatsapp", content=TextContent("hi"), phone_number_id=pn, **common)
    if kind == "wa_empty":
        return OutboundRequest(channel="whatsapp", content=TextContent(""), phone_number_id=pn, **common)
    if kind == "wa_template":
        return OutboundRequest(
            channel="whatsapp", content=TemplateContent("t", "en"), phone_number_id=pn, **common
        )
    if kind == "sms":
        return OutboundRequest(channel="sms", content=TextContent("hi"), **common)
    return OutboundRequest(channel="email", content=EmailContent("Hi", text="hello"), **common)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contacts=st.lists(contact_st, min_size=4, max_size=4),
    sends=st.lists(send_st, min_size=1, max_size=12),
    tier_limit=st.integers(1, 3),
)
def test_only_persisted_allow_decisions_reach_a_driver(
    contacts: list[dict[str, Any]], sends: list[tuple[int, str, str, str, bool]], tier_limit: int
) -> None:
    clock = FakeClock()
    tables = MemoryTables(clock)
    metrics = Metrics()
    now = clock.now()
    for i, c in enumerate(contacts):
        if c["exists"]:
            ago = c["inbound_ago"]
            tables["Contacts"].put(
                contact_item(
                    f"ct_{i}",
                    now=now,
                    phone=c["phone"],
                    email=c["email"],
                    whatsapp=c["whatsapp"],
                    sms=c["sms"],
                    mail=c["mail"],
                    last_inbound=None if ago is None else now - ago,
                    deleted=c["deleted"],
                )
            )
    drivers = {ch: StoreCheckingDriver(ch, tables, b) for ch, b in builders().items()}
    gateway = Gateway(
        tables=tables,
        clock=clock,
        settings=LIVE,
        engine=RuleEngine(),
        limits=RateLimits.from_params(PARAMS),
        limiter=RateLimiter(tables["RateLimitTrackers"], clock),
        tier=TierTracker(tables, clock, LocalAlerts(metrics), metrics, default_limit=tier_limit),
        drivers=drivers,
        metrics=metrics,
    )
    outcomes = [gateway.send(_request(*s)) for s in sends]

    assert all(not d.violations for d in drivers.values())
    sent = [o for o in outcomes if o.status == "sent"]
    calls = sum(len(d.calls) for d in drivers.values())
    assert calls == len(sent)
    claimed = set().union(*(d.claimed for d in drivers.values()))
    assert claimed == {o.message_id for o in sent}
    for outcome in outcomes:
        stored = tables["Messages"].get({"messageId": outcome.message_id})
        assert stored is not None and stored["status"] == outcome.status
        assert stored["decision"]["allowed"] == (outcome.status != "rejected")
        if outcome.status == "rejected":
            assert outcome.message_id not in claimed
    # Each driver only ever saw its own channel's messages: no fallback.
    for channel, driver in drivers.items():
        assert all(p.channel == channel for p in driver.calls)
    # One sender at a time: conversation openings never exceed the tier.
    assert (
        TierTracker(tables, clock, LocalAlerts(metrics), metrics, default_limit=tier_limit).used24h()
        <= tier_limit
    )
