from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.ratelimit import RateLimiter, RateLimits
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import Outbox
from gateway.store.memory import MemoryTables

from .fakes import PARAMS, RuleEngine, StoreCheckingDriver, builders


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tables(clock: FakeClock) -> MemoryTables:
    return MemoryTables(clock)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def alerts(metrics: Metrics) -> LocalAlerts:
    return LocalAlerts(metrics)


@pytest.fixture
def live_settings() -> Settings:
    return Settings(SEND_MODE=SendMode.LIVE, ENVIRONMENT=Environment.production)


@pytest.fixture
def dry_settings() -> Settings:
    return Settings(SEND_MODE=SendMode.DRY_RUN, ENVIRONMENT=Environment.local)


@pytest.fixture
def drivers(tables: MemoryTables) -> dict[str, StoreCheckingDriver]:
    return {ch: StoreCheckingDriver(ch, tables, b) for ch, b in builders().items()}


@pytest.fixture
def engine() -> RuleEngine:
    return RuleEngine()


@pytest.fixture
def tier(tables: MemoryTables, clock: FakeClock, alerts: LocalAlerts, metrics: Metrics) -> TierTracker:
    return TierTracker(tables, clock, alerts, metrics, default_limit=250)


@pytest.fixture
def make_gateway(
    *,
    tables: MemoryTables,
    clock: FakeClock,
    live_settings: Settings,
    engine: RuleEngine,
    tier: TierTracker,
    drivers: dict[str, StoreCheckingDriver],
    metrics: Metrics,
) -> Callable[..., Gateway]:
    def build(**overrides: Any) -> Gateway:
        args: dict[str, Any] = {
            "tables": tables,
            "clock": clock,
            "settings": live_settings,
            "engine": engine,
            "limits": RateLimits.from_params(PARAMS),
            "limiter": RateLimiter(tables["RateLimitTrackers"], clock),
            "tier": tier,
            "drivers": drivers,
            "metrics": metrics,
            "outbox": Outbox(),
        }
        args.update(overrides)
        return Gateway(**args)

    return build


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()
