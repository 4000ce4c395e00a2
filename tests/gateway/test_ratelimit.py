from __future__ import annotations

import heapq
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.outbound.ratelimit import (
    Bucket,
    RateLimitConfigError,
    RateLimiter,
    RateLimits,
    RateLimitTimeout,
)
from gateway.store.memory import MemoryTables
from gateway.store.sqlite import SqliteTables

from .fakes import PARAMS, PN1, PN2

START = 1_764_067_200.0


def test_limits_come_from_the_bundle_params() -> None:
    limits = RateLimits.from_params(PARAMS)
    assert limits.buckets("whatsapp", PN1) == (Bucket(f"whatsapp#{PN1}", 80), Bucket("whatsapp", 1000))
    assert limits.buckets("sms") == (Bucket("sms", 5),)
    assert limits.buckets("email") == (Bucket("email", 10),)
    changed = {"rateLimits": {**PARAMS["rateLimits"], "email": {"perSecond": 14}}}
    assert RateLimits.from_params(changed).buckets("email") == (Bucket("email", 14),)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"rateLimits": {}},
        {"rateLimits": {**PARAMS["rateLimits"], "sms": {"perSecond": 0}}},
        {"rateLimits": {**PARAMS["rateLimits"], "email": {"perSecond": "10"}}},
        {"rateLimits": {**PARAMS["rateLimits"], "whatsapp": {"perPhoneNumberPerSecond": 80}}},
    ],
)
def test_missing_or_bad_limits_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(RateLimitConfigError):
        RateLimits.from_params(params)


def test_counter_item_is_the_requirements_shape_with_a_24h_ttl() -> None:
    clock = FakeClock(START + 0.25)
    tables = MemoryTables(clock)
    limiter = RateLimiter(tables["RateLimitTrackers"], clock)
    assert limiter.try_acquire([Bucket("email", 10)]) == 0.0
    item = tables["RateLimitTrackers"].get({"channel": "email", "windowStart": int(START)})
    assert item is not None
    assert item["messageCount"] == 1
    assert item["lastUpdatedAt"] == int(START) + 86400  # TTL attribute, epoch seconds
    assert item["kind"] == "rate"


def test_excess_waits_for_the_next_second_and_is_never_dropped() -> None:
    clock = FakeClock(START)
    limiter = RateLimiter(MemoryTables(clock)["RateLimitTrackers"], clock)
    granted_at = []
    for _ in range(25):
        limiter.acquire([Bucket("email", 10)])
        granted_at.append(clock.now())
    per_second = Counter(math.floor(t) for t in granted_at)
    assert max(per_second.values()) == 10
    assert len(granted_at) == 25
    assert granted_at[-1] - START >= 2.0  # 25 at 10/s needs a third second


def test_a_busy_worker_leases_in_batches_instead_of_writing_per_message() -> None:
    clock = FakeClock(START)
    limiter = RateLimiter(MemoryTables(clock)["RateLimitTrackers"], clock, pace=False)
    total = Bucket("whatsapp", 1000)
    grants = sum(1 for _ in range(1000) if limiter.try_acquire([total]) == 0.0)
    assert grants == 1000
    assert limiter.store_writes <= 15  # 1, 2, 4 … 250 per lease, not 1,000 writes


def test_max_wait_gives_up_without_taking_anything() -> None:
    clock = FakeClock(START)
    tables = MemoryTables(clock)
    limiter = RateLimiter(tables["RateLimitTrackers"], clock)
    sms = Bucket("sms", 1)
    limiter.acquire([sms])
    with pytest.raises(RateLimitTimeout) as err:
        limiter.acquire([sms], max_wait=0.5)
    assert err.value.retry_after > 0.5
    assert tables["RateLimitTrackers"].get({"channel": "sms", "windowStart": int(START)})["messageCount"] == 1


def test_a_message_needing_two_buckets_keeps_the_first_token_when_the_second_is_full() -> None:
    clock = FakeClock(START)
    tables = MemoryTables(clock)
    a = RateLimiter(tables["RateLimitTrackers"], clock, pace=False)
    b = RateLimiter(tables["RateLimitTrackers"], clock, pace=False)
    per_number, total = Bucket(f"whatsapp#{PN1}", 5), Bucket("whatsapp", 1)
    assert b.try_acquire([Bucket(f"whatsapp#{PN2}", 5), total]) == 0.0  # b takes the only total token
    assert a.try_acquire([per_number, total]) > 0
    # The per-number token a leased is not lost: counted once, reusable by a within this second.
    assert (
        tables["RateLimitTrackers"].get({"channel": per_number.name, "windowStart": int(START)})[
            "messageCount"
        ]
        == 1
    )
    clock.advance(1.0)
    assert a.try_acquire([per_number, total]) == 0.0


# -- properties: several instances sharing one table ----------------------------------------------

limit_sets = st.fixed_dictionaries(
    {
        "pn": st.integers(1, 6),
        "total": st.integers(1, 8),
        "sms": st.integers(1, 5),
        "email": st.integers(1, 10),
    }
)
requests_st = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),  # arrival, seconds after START
        st.integers(0, 3),  # instance
        st.sampled_from(["pn1", "pn2", "sms", "email"]),
    ),
    min_size=1,
    max_size=60,
)


def _buckets(kind: str, limits: dict[str, int]) -> list[Bucket]:
    if kind in ("pn1", "pn2"):
        return [Bucket(f"whatsapp#{kind}", limits["pn"]), Bucket("whatsapp", limits["total"])]
    return [Bucket(kind, limits[kind])]


def _simulate(
    requests: list[tuple[float, int, str]], limits: dict[str, int], instances: int, offset: float, pace: bool
) -> tuple[list[tuple[float, list[Bucket]]], float]:
    clock = FakeClock(START + offset)
    tables = MemoryTables(clock)
    limiters = [RateLimiter(tables["RateLimitTrackers"], clock, pace=pace) for _ in range(instances)]
    queue = [
        (START + offset + arrival, i, inst % instances, kind)
        for i, (arrival, inst, kind) in enumerate(requests)
    ]
    heapq.heapify(queue)
    grants: list[tuple[float, list[Bucket]]] = []
    steps = 0
    while queue:
        steps += 1
        assert steps < 50_000, "the limiter stopped making progress"
        at, i, inst, kind = heapq.heappop(queue)
        if at > clock.now():
            clock.advance(at - clock.now())
        buckets = _buckets(kind, limits)
        wait = limiters[inst].try_acquire(buckets)
        if wait == 0.0:
            grants.append((clock.now(), buckets))
        else:
            assert wait > 0
            heapq.heappush(queue, (clock.now() + wait, i, inst, kind))
    last_arrival = START + offset + max(a for a, _, _ in requests)
    return grants, last_arrival


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=requests_st,
    limits=limit_sets,
    instances=st.integers(1, 4),
    offset=st.floats(min_value=0, max_value=0.999),
)
def test_no_second_ever_exceeds_a_limit_and_every_request_is_sent(
    requests: list[tuple[float, int, str]], limits: dict[str, int], instances: int, offset: float
) -> None:
    grants, last_arrival = _simulate(requests, limits, instances, offset, pace=True)
    assert len(grants) == len(requests)  # delayed, never dropped
    per_window: Counter[tuple[str, int]] = Counter()
    caps = {}
    for at, buckets in grants:
        for bucket in buckets:
            per_window[(bucket.name, math.floor(at))] += 1
            caps[bucket.name] = bucket.per_second
    for (name, _window), count in per_window.items():
        assert count <= caps[name]
    # Progress: at least one grant per second while there is demand.
    assert max(at for at, _ in grants) <= last_arrival + len(requests) + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=requests_st, limits=limit_sets, offset=st.floats(min_value=0, max_value=0.999))
def test_one_instance_never_exceeds_a_limit_in_any_sliding_second(
    requests: list[tuple[float, int, str]], limits: dict[str, int], offset: float
) -> None:
    grants, _ = _simulate(requests, limits, 1, offset, pace=True)
    times: dict[str, list[float]] = {}
    caps = {}
    for at, buckets in grants:
        for bucket in buckets:
            times.setdefault(bucket.name, []).append(at)
            caps[bucket.name] = bucket.per_second
    for name, ts in times.items():
        ts.sort()
        cap = caps[name]
        for i in range(len(ts) - cap):
            assert ts[i + cap] - ts[i] >= 1.0, f"{cap + 1} grants of {name} within one second"


def test_instances_on_separate_sqlite_connections_share_the_limit(tmp_path: Path) -> None:
    clock = FakeClock(START)
    stores = [SqliteTables(tmp_path / "wecare.db", clock) for _ in range(3)]
    try:
        limiters = [RateLimiter(s["RateLimitTrackers"], clock, pace=False) for s in stores]
        email = Bucket("email", 10)
        granted = [sum(1 for _ in range(10) if lim.try_acquire([email]) == 0.0) for lim in limiters]
        assert sum(granted) == 10
        assert (
            stores[0]["RateLimitTrackers"].get({"channel": "email", "windowStart": int(START)})[
                "messageCount"
            ]
            == 10
        )
    finally:
        for s in stores:
            s.close()
