"""Limits hold at the moment the provider is called, not only when tokens are granted.

Between the grant and the driver call the gateway persists the message; a slow write (a WAL
checkpoint, a DynamoDB retry) can hold one call back while the next goes straight through. The
property: with any such delays, no sliding one-second window of *driver calls* ever holds more than
the limit, and every message is still sent (delayed, never dropped)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.base import PreparedRequest, SendResult
from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.ratelimit import Bucket, RateLimiter, RateLimits
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import EmailContent, OutboundRequest, TextContent
from gateway.store.memory import MemoryTables

from .fakes import PARAMS, PN1, RuleEngine, builders, contact_item


class SlowMessages:
    """The Messages table, where each write of a ``sending`` message takes the next of ``delays``."""

    def __init__(self, inner: Any, clock: FakeClock, delays: list[float]) -> None:
        self._inner, self._clock, self._delays = inner, clock, list(delays)

    def put(self, item: dict[str, Any], **kwargs: Any) -> None:
        if item.get("status") == "sending" and self._delays:
            self._clock.advance(self._delays.pop(0))
        self._inner.put(item, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class SlowTables:
    def __init__(self, inner: MemoryTables, messages: SlowMessages) -> None:
        self._inner, self._messages = inner, messages

    def __getitem__(self, name: str) -> Any:
        return self._messages if name == "Messages" else self._inner[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ClockedDriver:
    """Notes the (fake) moment of every call."""

    def __init__(self, builder: Any, clock: FakeClock) -> None:
        self.builder, self._clock = builder, clock
        self.called_at: list[float] = []

    def build_request(self, message: Any) -> PreparedRequest:
        prepared: PreparedRequest = self.builder.build_request(message)
        return prepared

    def send(self, prepared: PreparedRequest) -> SendResult:
        self.called_at.append(self._clock.now())
        n = len(self.called_at)
        return SendResult(f"provider-{n}", f"req-{n}", {})


def _max_in_sliding_second(times: list[float]) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _gateway(delays: list[float]) -> tuple[Gateway, dict[str, ClockedDriver]]:
    clock = FakeClock()
    inner = MemoryTables(clock)
    tables = SlowTables(inner, SlowMessages(inner["Messages"], clock, delays))
    inner["Contacts"].put(contact_item("ct_1", now=clock.now(), last_inbound=clock.now()))
    metrics = Metrics()
    drivers = {ch: ClockedDriver(b, clock) for ch, b in builders().items()}
    gateway = Gateway(
        tables=tables,  # type: ignore[arg-type]
        clock=clock,
        settings=Settings(SEND_MODE=SendMode.LIVE, ENVIRONMENT=Environment.production),
        engine=RuleEngine(),
        limits=RateLimits.from_params(PARAMS),
        limiter=RateLimiter(inner["RateLimitTrackers"], clock),
        tier=TierTracker(inner, clock, LocalAlerts(metrics), metrics, default_limit=250),
        drivers=drivers,  # type: ignore[arg-type]
        metrics=metrics,
    )
    return gateway, drivers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delays=st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=30, max_size=30))
@pytest.mark.parametrize(("channel", "limit"), [("email", 10), ("sms", 5)])
def test_no_second_of_driver_calls_exceeds_the_limit_whatever_the_write_delays(
    channel: str, limit: int, delays: list[float]
) -> None:
    assert limit == RateLimits.from_params(PARAMS).buckets(channel)[0].per_second
    gateway, drivers = _gateway(delays)
    content: Any = EmailContent("Hi", text="hello") if channel == "email" else TextContent("hello")
    for _ in range(30):
        outcome = gateway.send(OutboundRequest(contact_id="ct_1", channel=channel, content=content))  # type: ignore[arg-type]
        assert outcome.status == "sent"
    calls = drivers[channel].called_at
    assert len(calls) == 30
    assert _max_in_sliding_second(calls) <= limit


def test_without_call_pacing_a_slow_write_would_squeeze_one_more_call_into_a_second() -> None:
    """What the pacing prevents: grants 1/limit apart, the first call held back by its write."""
    clock = FakeClock()
    limiter = RateLimiter(MemoryTables(clock)["RateLimitTrackers"], clock)
    email = Bucket("email", 10)
    grants = []
    for _ in range(11):
        limiter.acquire([email])
        grants.append(clock.now())
    unpaced = [grants[0] + 0.05, *grants[1:]]  # the first call's write took 50 ms
    assert _max_in_sliding_second(unpaced) == 11

    clock = FakeClock()
    limiter = RateLimiter(MemoryTables(clock)["RateLimitTrackers"], clock)
    calls = []
    for i in range(11):
        limiter.acquire([email])
        if i == 0:
            clock.advance(0.05)
        limiter.pace_call([email])
        calls.append(clock.now())
    assert _max_in_sliding_second(calls) == 10
    assert calls[-1] - calls[0] >= 10 * 0.1  # still at (nearly) the full rate
    assert calls[-1] - calls[0] <= 10 * 0.1 * 1.01 + 0.05 + 1e-6


def test_whatsapp_calls_are_paced_per_number_and_in_total() -> None:
    gateway, drivers = _gateway([0.02] * 5 + [0.0] * 200)
    for _ in range(100):
        outcome = gateway.send(
            OutboundRequest(
                contact_id="ct_1", channel="whatsapp", content=TextContent("hi"), phone_number_id=PN1
            )
        )
        assert outcome.status == "sent"
    assert _max_in_sliding_second(drivers["whatsapp"].called_at) <= 80
