"""Rate limits that hold across threads, processes and Lambda instances (requirement 13).

The shared state lives in ``RateLimitTrackers``: one item per (bucket, second)::

    channel       = bucket name: "whatsapp", "whatsapp#<phone-number-id>", "sms", "email"
    windowStart   = the second, epoch seconds (int)
    messageCount  = tokens handed out for that second, across every instance
    lastUpdatedAt = windowStart + 24 h — the table's TTL attribute (requirement 17.5-17.6). DynamoDB
                    deletes expired items asynchronously (up to 48 h late); adapters already hide them.

**Guarantee (every instance together):** in every aligned one-second window, no bucket hands out more
tokens than its limit. The only write is the Table port's atomic ``add`` with the condition
``messageCount <= limit - n``, so the same code is correct on SQLite and DynamoDB.

**Hot counters:** an instance does not write once per message. It *leases* tokens in batches (1, 2,
4, … up to a quarter of the limit) for the current second and hands them out locally, so a busy
WhatsApp worker makes about a dozen writes per second, not 1,000. A lease that is not used up by the
end of its second is simply lost (capacity, never safety).

**Smoothness (one instance):** grants of a bucket are additionally spaced at least ``1/limit`` apart,
so one instance never bursts at second boundaries: any one-second window, aligned or not, sees at most
``limit`` of its grants.

**Smoothness at the provider (one instance):** a grant is not the moment the provider sees the call:
the message is persisted in between, and a slow disk write or a thread switch can hold one call back
while the next goes straight through, squeezing ``limit + 1`` calls into one sliding second. So the
gateway also calls :meth:`RateLimiter.pace_call` right before each driver call: it holds a call until
at least ``(1 + call_margin) / limit`` after this instance's previous call of each bucket, marking
the moment it lets it go. The margin (1 %) absorbs the few milliseconds between that mark and the
request leaving; it costs 1 % of the nominal rate (email 9.9/s instead of 10/s).

**Excess is delayed, never dropped:** :meth:`RateLimiter.try_acquire` either grants or says how long to
wait; :meth:`RateLimiter.acquire` waits (on the injected clock) until it is granted.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.store.conditions import Attr, not_exists
from gateway.store.port import ConditionFailed, Table, Update

RETENTION_SECONDS = 24 * 3600
KIND = "rate"
_EPSILON = 1e-6  # wake just after a boundary, never just before it


class RateLimitConfigError(ValueError):
    """The policy bundle's rate-limit parameters are missing or malformed."""


class RateLimitTimeout(Exception):
    """Waiting for tokens took longer than the caller allowed; nothing was taken."""

    def __init__(self, waited: float, retry_after: float) -> None:
        super().__init__(f"rate limit: waited {waited:.2f}s, next token in {retry_after:.2f}s")
        self.waited = waited
        self.retry_after = retry_after


@dataclass(frozen=True)
class Bucket:
    name: str
    per_second: int

    def __post_init__(self) -> None:
        if not self.name or self.per_second < 1:
            raise ValueError(f"a bucket needs a name and a limit >= 1, got {self!r}")


@dataclass(frozen=True)
class RateLimits:
    """Per-second limits, read from the policy bundle's parameters (a reviewed change, not a constant)."""

    whatsapp_per_phone_number: int
    whatsapp_total: int
    sms: int
    email: int

    # Where each limit lives in the bundle's params (policies/params.yaml).
    PARAM_PATHS = {
        "whatsapp_per_phone_number": ("rateLimits", "whatsapp", "perPhoneNumberPerSecond"),
        "whatsapp_total": ("rateLimits", "whatsapp", "accountPerSecond"),
        "sms": ("rateLimits", "sms", "perSecond"),
        "email": ("rateLimits", "email", "perSecond"),
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RateLimits:
        values: dict[str, int] = {}
        problems = []
        for attr, path in cls.PARAM_PATHS.items():
            value: Any = params
            for step in path:
                value = value.get(step) if isinstance(value, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"params.{'.'.join(path)} must be a whole number >= 1, got {value!r}")
            else:
                values[attr] = value
        if problems:
            raise RateLimitConfigError("; ".join(problems))
        return cls(**values)

    def buckets(self, channel: str, phone_number_id: str = "") -> tuple[Bucket, ...]:
        """The buckets one message of ``channel`` takes a token from (all of them, or it waits)."""
        if channel == "whatsapp":
            return (
                Bucket(f"whatsapp#{phone_number_id}", self.whatsapp_per_phone_number),
                Bucket("whatsapp", self.whatsapp_total),
            )
        if channel == "sms":
            return (Bucket("sms", self.sms),)
        if channel == "email":
            return (Bucket("email", self.email),)
        raise ValueError(f"no rate limit for channel {channel!r}")


class _Lease:
    """Tokens this instance holds for one bucket and one second."""

    __slots__ = ("next_grant", "remaining", "size", "window")

    def __init__(self) -> None:
        self.window = -1
        self.remaining = 0
        self.size = 1
        self.next_grant = 0.0


class RateLimiter:
    """Token buckets over ``RateLimitTrackers``; one instance per process, shared by its threads."""

    def __init__(
        self,
        table: Table,
        clock: Clock,
        *,
        max_lease: int | None = None,
        pace: bool = True,
        call_margin: float = 0.01,
    ) -> None:
        if not 0 <= call_margin < 1:
            raise ValueError("call_margin must be in [0, 1)")
        self._table = table
        self._clock = clock
        self._max_lease = max_lease
        self._pace = pace
        self._call_margin = call_margin
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._last_call: dict[str, float] = {}
        self.store_writes = 0  # how many leases were written (for tests and benchmarks)

    def _lease_cap(self, bucket: Bucket) -> int:
        cap = self._max_lease if self._max_lease is not None else max(1, min(250, bucket.per_second // 4))
        return max(1, min(cap, bucket.per_second))

    def try_acquire(self, buckets: Sequence[Bucket], now: float | None = None) -> float:
        """Take one token from every bucket and return 0.0, or take nothing and return seconds to wait."""
        at = self._clock.now() if now is None else now
        window = math.floor(at)
        with self._lock:
            leases = [self._leases.setdefault(b.name, _Lease()) for b in buckets]
            if self._pace:
                pace_wait = max((lease.next_grant - at for lease in leases), default=0.0)
                if pace_wait > 0:
                    return pace_wait
            taken: list[_Lease] = []
            for bucket, lease in zip(buckets, leases, strict=True):
                if lease.window != window:
                    if lease.remaining > 0 and lease.size > 1:
                        lease.size //= 2  # leased more than was needed last time
                    lease.window, lease.remaining = window, 0
                if lease.remaining == 0 and not self._refill(bucket, lease, window):
                    for held in taken:  # still valid this second: keep them for the next caller
                        held.remaining += 1
                    return (window + 1) - at + _EPSILON
                lease.remaining -= 1
                taken.append(lease)
            if self._pace:
                for bucket, lease in zip(buckets, leases, strict=True):
                    # The 1 µs stretch is above float resolution at epoch magnitudes (~0.24 µs), so
                    # rounding can never fit limit+1 grants into one second.
                    lease.next_grant = at + 1.0 / bucket.per_second + _EPSILON
            return 0.0

    def _refill(self, bucket: Bucket, lease: _Lease, window: int) -> bool:
        """Lease up to ``lease.size`` tokens for ``window`` from the shared counter."""
        lease.size = max(lease.size, 1)
        want = min(lease.size, self._lease_cap(bucket))
        key = {"channel": bucket.name, "windowStart": window}
        for _ in range(8):  # each failure shrinks the request to what is left; bounded regardless
            try:
                self._table.update(
                    key,
                    Update(
                        add={"messageCount": want},
                        set={
                            "kind": KIND,
                            "limit": bucket.per_second,
                            "lastUpdatedAt": window + RETENTION_SECONDS,
                        },
                    ),
                    condition=not_exists("messageCount")
                    | Attr("messageCount", "le", bucket.per_second - want),
                )
            except ConditionFailed:
                current = self._table.get(key)
                used = int(current.get("messageCount", 0)) if current else 0
                left = bucket.per_second - used
                if left <= 0:
                    return False
                want = min(want, left)
                continue
            self.store_writes += 1
            lease.remaining = want
            # Demand used up a whole lease within the second: ask for twice as many next time.
            lease.size = min(self._lease_cap(bucket), want * 2)
            return True
        return False

    def pace_call(self, buckets: Sequence[Bucket]) -> float:
        """Hold the caller until this instance's previous call of every bucket is at least
        ``(1 + call_margin) / limit`` ago, then mark now as this call's moment; return the seconds held.

        Call it immediately before the provider call, after the token was granted (the token bounds
        every instance together; this keeps one instance's actual calls evenly spaced).
        """
        if not self._pace:
            return 0.0
        held = 0.0
        while True:
            with self._lock:
                now = self._clock.now()
                ready = max(
                    (
                        self._last_call.get(b.name, -math.inf) + (1.0 + self._call_margin) / b.per_second
                        for b in buckets
                    ),
                    default=-math.inf,
                )
                if now >= ready:
                    for bucket in buckets:
                        self._last_call[bucket.name] = now
                    return held
            # Outside the lock: other buckets' callers go on meanwhile.
            self._clock.sleep(ready - now)
            held += ready - now

    def acquire(self, buckets: Sequence[Bucket], *, max_wait: float | None = None) -> float:
        """Block (on the clock) until granted; return the seconds waited. Never drops a request.

        With ``max_wait``, give up with :class:`RateLimitTimeout` instead of waiting longer than that.
        """
        waited = 0.0
        while True:
            wait = self.try_acquire(buckets)
            if wait <= 0:
                return waited
            if max_wait is not None and waited + wait > max_wait:
                raise RateLimitTimeout(waited, wait)
            self._clock.sleep(wait)
            waited += wait
