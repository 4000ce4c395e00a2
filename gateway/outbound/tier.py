"""The WhatsApp messaging limit ("tier"), tracked the way Meta now defines it, and enforced atomically.

Meta limits how many *unique recipients* a business portfolio may reach with business-initiated
(conversation-opening) messages in a rolling 24 hours; every phone number of the portfolio shares it.
A recipient counts when a send outside the customer-service window is about to leave and the
recipient has not already been counted in the last 24 hours.

Stored in ``RateLimitTrackers`` (no scans, no extra tables)::

    channel="tier#ledger", windowStart=0                  the one ledger (below), ``version`` for CAS
    channel="tier#recipient#<contactId>", windowStart=0   who was counted: openedAt, messageId, jobId,
                                                          bucket; TTL openedAt + 24 h
    channel="tier#alert", windowStart=0                   active = the 80 % alert fired (one per crossing)

The ledger holds ``buckets`` (15-minute bucket start → openings counted in it) and ``jobs`` (bulk job
id → capacity reserved and not yet used, until when). ``used24h`` is the sum of the buckets that
overlap the last 24 hours (it may still count openings up to 15 minutes older than 24 hours: the
policy's ``TIER_LIMIT`` can deny slightly early, never late); ``reserved`` the sum of live job
reservations. Capacity left = limit - used24h - reserved.

Why one item: the limit is a property of a sum, and the port has no multi-item transaction. Every
change to the sum — a single send counting a recipient, a bulk job reserving its conversation-opening
recipients, a bulk send drawing one from its job's reservation, a release — is a compare-and-set of
the ledger on ``version`` (read, check ``used + reserved + n ≤ limit``, write ``version + 1`` under
``version = read``). So two jobs and any number of single sends racing for the last capacity can
never exceed the limit together: of two writers that read the same version one wins, the other
re-reads and is judged on the new numbers. Each write also drops buckets and reservations that have
expired, so the item stays small (at most 97 buckets and the live jobs).

Order of a send's count: the ledger first, then the recipient marker; a marker that already exists
(another send counted this recipient meanwhile) gives the slot back. A process dying between the two
leaves one slot counted without its marker: an overcount, the safe side.

The limit itself comes from ``SystemConfig["whatsapp.tier.limit"]`` (default from the policy bundle's
params).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.alerts import Alerts
from gateway.clock import Clock
from gateway.errors import InvalidInput
from gateway.metrics import TIER_USAGE_PERCENT, Metrics
from gateway.outbound.policy_input import TierSnapshot
from gateway.store.conditions import Attr, eq, not_exists
from gateway.store.port import ConditionFailed, Item, StoreUnavailable, Tables, Update

log = logging.getLogger("wecare.gateway.outbound.tier")

CONFIG_KEY = "whatsapp.tier.limit"
DAY = 24 * 3600
LEDGER = "tier#ledger"
ALERT = "tier#alert"
RECIPIENT_PREFIX = "tier#recipient#"
KIND = "tier"
BELIEF_SECONDS = 60.0
CAS_ATTEMPTS = 200

T = TypeVar("T")


def _tier_param(params: Mapping[str, Any], name: str) -> int:
    tier = params.get("tier")
    value = tier.get(name) if isinstance(tier, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"policy bundle params.tier.{name} must be a whole number >= 1, got {value!r}")
    return value


def default_limit_from_params(params: Mapping[str, Any]) -> int:
    """The bundle's default tier (``params.tier.defaultLimit``); SystemConfig may override it."""
    return _tier_param(params, "defaultLimit")


def window_seconds_from_params(params: Mapping[str, Any]) -> int:
    """The rolling period the tier counts over (``params.tier.windowSeconds``; Meta's is 24 hours)."""
    return _tier_param(params, "windowSeconds")


def alert_ratio_from_params(params: Mapping[str, Any]) -> float:
    """When to alert (``params.tier.warnAtPercent``), the same threshold as the TIER_NEAR_LIMIT warning."""
    percent = _tier_param(params, "warnAtPercent")
    if percent > 100:
        raise ValueError(f"policy bundle params.tier.warnAtPercent must be at most 100, got {percent}")
    return percent / 100


@dataclass(frozen=True)
class TierStatus:
    limit: int
    used24h: int
    reserved: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used24h - self.reserved)

    @property
    def ratio(self) -> float:
        return self.used24h / self.limit if self.limit else 1.0

    def as_dict(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "used24h": self.used24h,
            "reserved": self.reserved,
            "remaining": self.remaining,
        }


class Count(enum.Enum):
    """What :meth:`TierTracker.count_opening` did."""

    counted = "counted"  # this send holds one slot of the limit (release it if the send did not leave)
    already = "already"  # the recipient was counted in the last 24 hours: no slot needed
    full = "full"  # no capacity left: the send must not open the conversation


def tier_limit_error(needed: int, status: TierStatus) -> InvalidInput:
    """422 ``TIER_LIMIT`` for a bulk job that needs more than the capacity left."""
    return InvalidInput(
        f"this job would open {needed} WhatsApp conversations but only {status.remaining} of the "
        f"{status.limit} allowed in 24 hours are left; send to fewer recipients outside their "
        "24-hour window, or wait",
        code="TIER_LIMIT",
        details={"needed": needed, "remaining": status.remaining, "limit": status.limit},
    )


@dataclass
class _Ledger:
    """The ledger item as numbers (see the module docstring)."""

    version: int | None
    buckets: dict[int, int] = field(default_factory=dict)
    jobs: dict[str, tuple[int, float]] = field(default_factory=dict)  # job → (slots left, until)

    @classmethod
    def read(cls, item: Item | None) -> _Ledger:
        if item is None:
            return cls(None)
        buckets = {int(k): int(v) for k, v in dict(item.get("buckets") or {}).items()}
        jobs = {
            str(k): (int(v.get("n", 0)), float(v.get("until", 0)))
            for k, v in dict(item.get("jobs") or {}).items()
            if isinstance(v, Mapping)
        }
        return cls(int(item.get("version", 0)), buckets, jobs)

    def used(self, oldest: int) -> int:
        return sum(n for start, n in self.buckets.items() if start >= oldest)

    def reserved(self, now: float, *, besides: str | None = None) -> int:
        return sum(n for job, (n, until) in self.jobs.items() if until > now and job != besides)

    def held_by(self, job_id: str | None, now: float) -> int:
        if job_id is None or job_id not in self.jobs:
            return 0
        n, until = self.jobs[job_id]
        return n if until > now else 0

    def pruned(self, oldest: int, now: float) -> None:
        self.buckets = {start: n for start, n in self.buckets.items() if start >= oldest and n > 0}
        self.jobs = {job: (n, until) for job, (n, until) in self.jobs.items() if until > now and n > 0}


class TierTracker:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        alerts: Alerts,
        metrics: Metrics,
        *,
        default_limit: int,
        bucket_seconds: int = 900,
        alert_ratio: float = 0.8,
        cache_seconds: float = 1.0,
        window_seconds: int = DAY,
    ) -> None:
        if default_limit < 1:
            raise ValueError("default_limit must be >= 1")
        if not 60 <= bucket_seconds <= 3600 or window_seconds % bucket_seconds:
            raise ValueError("bucket_seconds must divide the tier window and lie between 60 and 3600")
        self._trackers = tables["RateLimitTrackers"]
        self._config = tables["SystemConfig"]
        self._clock = clock
        self._alerts = alerts
        self._metrics = metrics
        self._default = default_limit
        self._bucket = bucket_seconds
        self._window = window_seconds
        self._ratio = alert_ratio
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, TierStatus] | None = None
        # Local belief about the shared alert flag, trusted for BELIEF_SECONDS so that an instance
        # does not write (or read) the flag on every send, yet learns of other instances' changes.
        self._alert_active: bool | None = None
        self._belief_at = 0.0

    # -- reads -------------------------------------------------------------------------------------

    def limit(self) -> int:
        item = self._config.get({"configKey": CONFIG_KEY})
        if item is None:
            return self._default
        value = item.get("configValue")
        parsed: int | None = None
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                parsed = int(value)
            except ValueError:
                parsed = None
        if parsed is None or parsed < 1 or (isinstance(value, float) and not value.is_integer()):
            log.warning(
                "ignoring invalid %s=%r; using the bundle default %d",
                CONFIG_KEY,
                value,
                self._default,
                extra={"configKey": CONFIG_KEY},
            )
            return self._default
        return parsed

    def _oldest(self, at: float) -> int:
        return math.floor((at - self._window) / self._bucket) * self._bucket  # holds now - 24 h

    def _ledger(self) -> _Ledger:
        return _Ledger.read(self._trackers.get({"channel": LEDGER, "windowStart": 0}))

    def used24h(self, now: float | None = None) -> int:
        at = self._clock.now() if now is None else now
        return self._ledger().used(self._oldest(at))

    def status(self, now: float | None = None, *, job_id: str | None = None) -> TierStatus:
        """Limit, usage and live reservations now; with ``job_id``, that job's own reservation is left
        out of ``reserved`` (it is the capacity the job's sends draw on)."""
        at = self._clock.now() if now is None else now
        ledger = self._ledger()
        status = TierStatus(self.limit(), ledger.used(self._oldest(at)), ledger.reserved(at, besides=job_id))
        if job_id is None:
            with self._lock:
                self._cached = (at, status)
        return status

    def held_by(self, job_id: str, now: float | None = None) -> int:
        """The capacity ``job_id`` still holds (0 once released or expired)."""
        return self._ledger().held_by(job_id, self._clock.now() if now is None else now)

    def already_counted(self, contact_id: str, now: float | None = None) -> bool:
        at = self._clock.now() if now is None else now
        item = self._trackers.get({"channel": RECIPIENT_PREFIX + contact_id, "windowStart": 0})
        return item is not None and float(item.get("lastUpdatedAt", 0)) > at

    def snapshot(
        self, channel: str, contact_id: str, window_open: bool, now: float, *, job_id: str | None = None
    ) -> TierSnapshot:
        """The ``tier`` section of the policy input for one send.

        ``used24h`` there is what is *committed*: openings counted plus capacity other jobs hold. A
        bulk send (``job_id``) does not see its own job's reservation as used — it draws on it.

        A send that would open a conversation is decided on counters read fresh from the store. Any
        other send (a reply inside the window, SMS, email) can only be *warned* by the tier rules, so
        it may use counters this instance read at most ``cache_seconds`` ago — one store read fewer
        on the hot path, and never a deny decided on stale numbers.
        """
        opens = channel == "whatsapp" and not window_open and not self.already_counted(contact_id, now)
        status = self.status(now, job_id=job_id) if opens else self._recent_status(now)
        if not self._over_threshold(status):
            self._reset_alert()
        return TierSnapshot(status.limit, status.used24h + status.reserved, opens)

    def _recent_status(self, now: float) -> TierStatus:
        with self._lock:
            cached = self._cached
            if cached is not None and 0 <= now - cached[0] <= self._cache_seconds:
                return cached[1]
        return self.status(now)

    # -- the ledger's compare-and-set --------------------------------------------------------------

    def _change(self, change: Callable[[_Ledger, int, float], T | None], at: float) -> T | None:
        """Apply ``change`` to the ledger by compare-and-set; ``change`` mutates the ledger and returns
        its answer, or returns None to write nothing. Retried on a lost race."""
        limit = self.limit()
        for attempt in range(CAS_ATTEMPTS):
            item = self._trackers.get({"channel": LEDGER, "windowStart": 0})
            ledger = _Ledger.read(item)
            version = ledger.version
            oldest = self._oldest(at)
            ledger.pruned(oldest, at)
            answer = change(ledger, limit, at)
            if answer is None:
                return None
            new: Item = {
                "channel": LEDGER,
                "windowStart": 0,
                "kind": KIND,
                "version": (version or 0) + 1,
                "buckets": {str(k): v for k, v in ledger.buckets.items()},
                "jobs": {j: {"n": n, "until": until} for j, (n, until) in ledger.jobs.items()},
                # TTL: after this every bucket and reservation in it has expired anyway.
                "lastUpdatedAt": math.ceil(at) + self._window + self._bucket + DAY,
            }
            condition = not_exists("channel") if version is None else eq("version", version)
            try:
                self._trackers.put(new, condition=condition)
            except ConditionFailed:
                self._metrics.inc("tier_ledger_conflicts_total")
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                continue
            return answer
        raise StoreUnavailable("the tier ledger is contended; try again")

    def _bucket_of(self, at: float) -> int:
        return int(math.floor(at / self._bucket) * self._bucket)

    # -- writes: single sends and bulk sends -------------------------------------------------------

    def count_opening(
        self,
        contact_id: str,
        *,
        message_id: str = "",
        job_id: str | None = None,
        now: float | None = None,
        enforce: bool = True,
    ) -> Count:
        """Count ``contact_id`` as reached by a conversation-opening send that is about to leave.

        The slot comes from ``job_id``'s reservation while it lasts, else from the capacity left;
        ``full`` when there is none (with ``enforce``). See the module docstring for the order.
        """
        at = self._clock.now() if now is None else now
        bucket = self._bucket_of(at)
        source: list[str] = []

        def take(ledger: _Ledger, limit: int, _at: float) -> Count | None:
            source.clear()
            held = ledger.held_by(job_id, at)
            if held > 0 and job_id is not None:
                ledger.jobs[job_id] = (held - 1, ledger.jobs[job_id][1])
                source.append(job_id)
            elif enforce and ledger.used(self._oldest(at)) + ledger.reserved(at) >= limit:
                return Count.full
            ledger.buckets[bucket] = ledger.buckets.get(bucket, 0) + 1
            return Count.counted

        if self._change(take, at) is Count.full:
            self._metrics.inc("whatsapp_tier_refusals_total")
            return Count.full
        expires = math.ceil(at) + self._window
        try:
            self._trackers.put(
                {
                    "channel": RECIPIENT_PREFIX + contact_id,
                    "windowStart": 0,
                    "kind": KIND,
                    "contactId": contact_id,
                    "openedAt": at,
                    "messageId": message_id,
                    "bucket": bucket,
                    "jobId": source[0] if source else "",
                    "lastUpdatedAt": expires,
                },
                # An expired marker may linger (TTL deletion is lazy): it no longer counts.
                condition=not_exists("channel") | Attr("lastUpdatedAt", "le", at),
            )
        except ConditionFailed:
            self._give_back(bucket, source[0] if source else None, at)
            return Count.already
        self._metrics.inc("whatsapp_conversations_opened_total")
        return Count.counted

    def record_opening(self, contact_id: str, now: float | None = None) -> bool:
        """Count a conversation opening that has already happened (no capacity check); False if the
        recipient was already counted. Tests and imports of past sends use it."""
        counted = self.count_opening(contact_id, now=now, enforce=False) is Count.counted
        if counted:
            self.after_opening(now)
        return counted

    def after_opening(self, now: float | None = None) -> None:
        """After a counted send left: the 80 % alert, once per crossing."""
        status = self.status(now)
        self._metrics.gauge(TIER_USAGE_PERCENT, round(status.ratio * 100, 2), unit="Percent")
        if self._over_threshold(status):
            self._raise_alert(status)

    def release_opening(self, contact_id: str, message_id: str, now: float | None = None) -> bool:
        """Undo :meth:`count_opening` for a send that definitively did not leave (refused by the
        provider, or lost to an identical concurrent request). True when a slot was given back."""
        at = self._clock.now() if now is None else now
        key = {"channel": RECIPIENT_PREFIX + contact_id, "windowStart": 0}
        marker = self._trackers.get(key)
        if marker is None or not message_id or marker.get("messageId") != message_id:
            return False
        try:
            self._trackers.delete(key, condition=eq("messageId", message_id))
        except ConditionFailed:
            return False
        self._give_back(
            int(marker.get("bucket", self._bucket_of(at))), str(marker.get("jobId") or "") or None, at
        )
        return True

    def _give_back(self, bucket: int, job_id: str | None, at: float) -> None:
        def give(ledger: _Ledger, _limit: int, _at: float) -> bool | None:
            if ledger.buckets.get(bucket, 0) <= 0:
                return None
            ledger.buckets[bucket] -= 1
            if job_id is not None and job_id in ledger.jobs:
                n, until = ledger.jobs[job_id]
                ledger.jobs[job_id] = (n + 1, until)
            return True

        self._change(give, at)

    # -- writes: bulk reservations -----------------------------------------------------------------

    def reserve(self, job_id: str, needed: int, now: float | None = None) -> TierStatus:
        """Reserve ``needed`` openings for a bulk job, atomically against every other sender; raises
        422 ``TIER_LIMIT`` (with needed, remaining, limit) when they do not fit. Idempotent per job
        (a repeat sets the same reservation). The reservation lapses after 24 hours unused."""
        at = self._clock.now() if now is None else now
        refused: list[TierStatus] = []

        def hold(ledger: _Ledger, limit: int, _at: float) -> TierStatus | None:
            refused.clear()
            used = ledger.used(self._oldest(at))
            others = ledger.reserved(at, besides=job_id)
            status = TierStatus(limit, used, others)
            if needed > status.remaining:
                refused.append(status)
                return None
            ledger.jobs[job_id] = (needed, at + DAY)
            return TierStatus(limit, used, others + needed)

        if needed < 0:
            raise ValueError("needed must be >= 0")
        if needed == 0:
            return self.status(at)
        status = self._change(hold, at)
        if status is None:
            raise tier_limit_error(needed, refused[0])
        log.info("tier capacity reserved", extra={"jobId": job_id, "needed": needed})
        return status

    def release(self, job_id: str, now: float | None = None) -> int:
        """Give back what ``job_id`` still holds (its job ended); returns the slots released."""
        at = self._clock.now() if now is None else now

        def drop(ledger: _Ledger, _limit: int, _at: float) -> int | None:
            if job_id not in ledger.jobs:
                return None
            n, _until = ledger.jobs.pop(job_id)
            return n

        released = self._change(drop, at)
        return released or 0

    # -- the 80 % alert ----------------------------------------------------------------------------

    def _over_threshold(self, status: TierStatus) -> bool:
        # Whole-number arithmetic, exactly as the tier policy's TIER_NEAR_LIMIT warning computes it.
        return status.used24h * 100 >= status.limit * round(self._ratio * 100)

    def _believe(self, value: bool) -> None:
        self._alert_active = value
        self._belief_at = self._clock.now()

    def _belief(self) -> bool | None:
        if self._clock.now() - self._belief_at > BELIEF_SECONDS:
            return None
        return self._alert_active

    def _raise_alert(self, status: TierStatus) -> None:
        if self._belief() is True:
            return
        try:
            self._trackers.update(
                {"channel": ALERT, "windowStart": 0},
                Update(
                    set={
                        "kind": KIND,
                        "active": True,
                        "raisedAt": self._clock.now(),
                        "used24h": status.used24h,
                        "limit": status.limit,
                    }
                ),
                condition=not_exists("active") | eq("active", False),
            )
        except ConditionFailed:
            self._believe(True)  # another instance raised it for this crossing
            return
        self._believe(True)
        self._metrics.inc("whatsapp_tier_alerts_total")
        self._alerts.publish(
            "warning",
            f"WhatsApp messaging limit at {status.ratio:.0%}",
            f"{status.used24h} of {status.limit} unique recipients of conversation-opening messages in "
            f"the last 24 hours (alert at {self._ratio:.0%}). Sends that open a conversation are refused "
            "with TIER_LIMIT once the limit is reached.",
        )

    def _reset_alert(self) -> None:
        if self._belief() is False:
            return
        with contextlib.suppress(ConditionFailed):  # nothing to reset
            self._trackers.update(
                {"channel": ALERT, "windowStart": 0},
                Update(set={"active": False}),
                condition=eq("active", True),
            )
        self._believe(False)
