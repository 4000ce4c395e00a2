from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alerts import LocalAlerts
from gateway.clock import FakeClock
from gateway.errors import InvalidInput
from gateway.metrics import TIER_USAGE_PERCENT, Metrics
from gateway.outbound.tier import (
    CONFIG_KEY,
    Count,
    TierTracker,
    alert_ratio_from_params,
    default_limit_from_params,
    window_seconds_from_params,
)
from gateway.store.memory import MemoryTables

from .fakes import PARAMS

DAY = 86400


def make(
    tables: MemoryTables, clock: FakeClock, alerts: LocalAlerts, metrics: Metrics, limit: int = 250
) -> TierTracker:
    return TierTracker(tables, clock, alerts, metrics, default_limit=limit)


def test_default_limit_comes_from_the_bundle() -> None:
    assert default_limit_from_params(PARAMS) == 250
    assert alert_ratio_from_params(PARAMS) == 0.8
    assert default_limit_from_params({"tier": {"defaultLimit": 1000}}) == 1000
    with pytest.raises(ValueError, match="defaultLimit"):
        default_limit_from_params({"tier": {}})
    with pytest.raises(ValueError, match="warnAtPercent"):
        alert_ratio_from_params({"tier": {"warnAtPercent": 120}})


def test_the_rolling_period_comes_from_the_bundle() -> None:
    assert window_seconds_from_params(PARAMS) == DAY
    with pytest.raises(ValueError, match="windowSeconds"):
        window_seconds_from_params({"tier": {"windowSeconds": 0}})
    clock = FakeClock(1_764_067_200.0)
    tables = MemoryTables(clock)
    metrics = Metrics()
    # A reviewed bundle that counts over 12 hours: a recipient is counted again after 12 h, not 24 h.
    tier = TierTracker(
        tables, clock, LocalAlerts(metrics), metrics, default_limit=250, window_seconds=DAY // 2
    )
    assert tier.record_opening("ct_a") is True
    clock.advance(DAY // 2 - 1)
    assert tier.record_opening("ct_a") is False and tier.used24h() == 1
    clock.advance(DAY // 2)  # 24 h - 1 s after the opening: outside a 12-hour window (15-min buckets)
    assert tier.already_counted("ct_a") is False and tier.used24h() == 0
    with pytest.raises(ValueError, match="divide"):
        TierTracker(tables, clock, LocalAlerts(metrics), metrics, default_limit=250, window_seconds=1000)


def test_system_config_overrides_the_default(tier: TierTracker, tables: MemoryTables) -> None:
    assert tier.limit() == 250
    tables["SystemConfig"].put({"configKey": CONFIG_KEY, "configValue": 1000})
    assert tier.limit() == 1000
    tables["SystemConfig"].put({"configKey": CONFIG_KEY, "configValue": "10000"})
    assert tier.limit() == 10000


@pytest.mark.parametrize("bad", ["lots", 0, -5, 2.5, True, None])
def test_an_invalid_configured_limit_falls_back_to_the_default_with_a_warning(
    tier: TierTracker, tables: MemoryTables, caplog: pytest.LogCaptureFixture, bad: object
) -> None:
    tables["SystemConfig"].put({"configKey": CONFIG_KEY, "configValue": bad})
    with caplog.at_level(logging.WARNING, logger="wecare.gateway.outbound.tier"):
        assert tier.limit() == 250
    assert "ignoring invalid" in caplog.text


def test_a_recipient_counts_once_per_rolling_24_hours(tier: TierTracker, clock: FakeClock) -> None:
    assert tier.record_opening("ct_a") is True
    assert tier.already_counted("ct_a") is True
    clock.advance(3600)
    assert tier.record_opening("ct_a") is False  # same recipient, same 24 h
    assert tier.record_opening("ct_b") is True
    assert tier.used24h() == 2
    clock.advance(DAY - 3600 + 1)  # ct_a's first opening is now older than 24 h
    assert tier.already_counted("ct_a") is False
    assert tier.record_opening("ct_a") is True


def test_usage_is_a_rolling_sum_that_never_undercounts(tier: TierTracker, clock: FakeClock) -> None:
    for i in range(5):
        tier.record_opening(f"ct_{i}")
    clock.advance(12 * 3600)
    for i in range(5, 8):
        tier.record_opening(f"ct_{i}")
    assert tier.used24h() == 8
    clock.advance(12 * 3600 - 1)  # the first five are 24 h - 1 s old: still inside
    assert tier.used24h() == 8
    clock.advance(15 * 60 + 2)  # past 24 h and past their 15-minute bucket: gone
    assert tier.used24h() == 3
    clock.advance(DAY)
    assert tier.used24h() == 0


def test_snapshot_opens_a_conversation_only_outside_the_window_for_new_recipients(
    tier: TierTracker, clock: FakeClock
) -> None:
    now = clock.now()
    assert tier.snapshot("whatsapp", "ct_a", window_open=False, now=now).opens_conversation is True
    assert tier.snapshot("whatsapp", "ct_a", window_open=True, now=now).opens_conversation is False
    assert tier.snapshot("sms", "ct_a", window_open=False, now=now).opens_conversation is False
    tier.record_opening("ct_a", now)
    snap = tier.snapshot("whatsapp", "ct_a", window_open=False, now=now)
    assert (snap.opens_conversation, snap.used24h, snap.limit) == (False, 1, 250)


def test_one_alert_per_crossing_of_80_percent(
    tables: MemoryTables, clock: FakeClock, alerts: LocalAlerts, metrics: Metrics
) -> None:
    tier = make(tables, clock, alerts, metrics, limit=10)
    for i in range(7):
        tier.record_opening(f"ct_{i}")
    assert alerts.recent == []
    tier.record_opening("ct_7")  # 8 of 10: crossing
    tier.record_opening("ct_8")
    tier.record_opening("ct_9")
    assert len(alerts.recent) == 1
    assert "80%" in alerts.recent[0].subject
    assert "8 of 10" in alerts.recent[0].message
    assert metrics.counter("whatsapp_tier_alerts_total") == 1
    assert metrics.gauge_value(TIER_USAGE_PERCENT) == 100.0  # 10 of 10, for the deployment's 80 % alarm
    # A second instance does not repeat the alert for the same crossing.
    other = make(tables, clock, alerts, metrics, limit=10)
    clock.advance(60)
    other.record_opening("ct_10")
    assert len(alerts.recent) == 1


def test_after_usage_drops_a_new_crossing_alerts_again(
    tables: MemoryTables, clock: FakeClock, alerts: LocalAlerts, metrics: Metrics
) -> None:
    tier = make(tables, clock, alerts, metrics, limit=5)
    for i in range(4):
        tier.record_opening(f"ct_{i}")
    assert len(alerts.recent) == 1
    clock.advance(DAY + 3600)  # everything rolled out of the window
    tier.snapshot("whatsapp", "ct_x", window_open=False, now=clock.now())  # sees 0 %: re-arms
    for i in range(4):
        tier.record_opening(f"ct_new_{i}")
    assert len(alerts.recent) == 2


def test_status_reports_remaining_capacity_for_bulk_checks(tier: TierTracker) -> None:
    for i in range(3):
        tier.record_opening(f"ct_{i}")
    status = tier.status()
    assert (status.limit, status.used24h, status.remaining) == (250, 3, 247)


def test_only_warn_only_sends_may_use_counters_read_a_moment_ago(
    tables: MemoryTables, clock: FakeClock, alerts: LocalAlerts, metrics: Metrics
) -> None:
    tier = make(tables, clock, alerts, metrics)
    other = make(tables, clock, alerts, metrics)  # another instance sharing the store
    now = clock.now()
    assert tier.snapshot("whatsapp", "ct_a", window_open=True, now=now).used24h == 0
    other.record_opening("ct_x", now)
    # A reply inside the window (warn-only) may see this instance's reading from a moment ago …
    assert tier.snapshot("whatsapp", "ct_a", window_open=True, now=now + 0.5).used24h == 0
    # … but a send that opens a conversation is always decided on fresh counters,
    assert tier.snapshot("whatsapp", "ct_b", window_open=False, now=now + 0.5).used24h == 1
    other.record_opening("ct_y", now + 0.6)
    # and the cached reading expires after a second.
    assert tier.snapshot("sms", "ct_a", window_open=False, now=now + 2).used24h == 2


# -- the ledger: reservations and counts never exceed the limit together ---------------------------

Op = tuple[str, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "count", "count_for_job", "release_job", "release_opening", "advance"]),
        st.integers(0, 3),  # which job / contact group
        st.integers(0, 6),  # how many / which contact
    ),
    max_size=40,
)


@given(ops)
@settings(max_examples=200, deadline=None)
def test_the_ledger_never_commits_more_than_the_limit(steps: list[Op]) -> None:
    clock = FakeClock(1_764_067_200.0)
    tables = MemoryTables(clock)
    metrics = Metrics()
    tier = TierTracker(tables, clock, LocalAlerts(metrics), metrics, default_limit=7)
    counted: dict[str, str] = {}  # contact -> message id, for sends that hold a slot
    for n, (kind, group, amount) in enumerate(steps):
        job, contact = f"job{group}", f"ct{group}_{amount}"
        if kind == "reserve":
            before = tier.status()
            try:
                tier.reserve(job, amount)
            except InvalidInput as refused:
                assert refused.code == "TIER_LIMIT" and amount > before.remaining + tier.held_by(job)
        elif kind in ("count", "count_for_job"):
            held = tier.held_by(job)
            result = tier.count_opening(
                contact, message_id=f"m{n}", job_id=job if kind == "count_for_job" else None
            )
            if result is Count.counted:
                counted[contact] = f"m{n}"
                if kind == "count_for_job" and held:
                    assert tier.held_by(job) == held - 1  # drawn from the job's own reservation
        elif kind == "release_job":
            tier.release(job)
            assert tier.held_by(job) == 0
        elif kind == "release_opening" and contact in counted:
            assert tier.release_opening(contact, counted.pop(contact)) is True
        elif kind == "advance":
            clock.advance(amount * 4 * 3600)
            counted = {c: m for c, m in counted.items() if tier.already_counted(c)}
        status = tier.status()
        assert status.used24h + status.reserved <= status.limit
        assert status.used24h >= len([c for c in counted if tier.already_counted(c)])
