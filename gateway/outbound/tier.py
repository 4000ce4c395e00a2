"""The WhatsApp messaging limit ("tier"), tracked the way Meta now defines it.

Meta limits how many *unique recipients* a business portfolio may reach with business-initiated
(conversation-opening) messages in a rolling 24 hours; every phone number of the portfolio shares it.
The gateway counts a recipient when a send outside the customer-service window succeeds and the
recipient has not already been counted in the last 24 hours.

Stored in ``RateLimitTrackers`` (no scans, no extra tables)::

    channel="tier#recipient#<contactId>", windowStart=0   who was counted, openedAt; TTL openedAt + 24 h
    channel="tier#opens", windowStart=<bucket start>       messageCount = first openings in that bucket
    channel="tier#alert", windowStart=0                    active = the 80 % alert fired (one per crossing)

``used24h`` is the sum of the 15-minute buckets that overlap the last 24 hours: one query of at most 97
items. It errs on the safe side (it may still count openings up to 15 minutes older than 24 hours),
so the policy's ``TIER_LIMIT`` can deny slightly early, never late. Each bucket's ``lastUpdatedAt``
(the TTL attribute) is the moment it leaves that sum: bucket end + 24 h.

Concurrency: two instances deciding at the same moment may both see ``used24h = limit - 1`` and both
open a conversation; the overshoot is bounded by the number of concurrent senders, and Meta enforces
its own limit on top. The limit itself comes from ``SystemConfig["whatsapp.tier.limit"]`` (default
from the policy bundle's params).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.alerts import Alerts
from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.outbound.policy_input import TierSnapshot
from gateway.store.conditions import Attr, SortKey, eq, not_exists
from gateway.store.port import ConditionFailed, Tables, Update

log = logging.getLogger("wecare.gateway.outbound.tier")

CONFIG_KEY = "whatsapp.tier.limit"
DAY = 24 * 3600
OPENS = "tier#opens"
ALERT = "tier#alert"
RECIPIENT_PREFIX = "tier#recipient#"
KIND = "tier"
BELIEF_SECONDS = 60.0


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

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used24h)

    @property
    def ratio(self) -> float:
        return self.used24h / self.limit if self.limit else 1.0


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

    def used24h(self, now: float | None = None) -> int:
        at = self._clock.now() if now is None else now
        oldest = math.floor((at - self._window) / self._bucket) * self._bucket  # holds now - 24 h
        page = self._trackers.query(OPENS, sort=SortKey("ge", oldest), limit=1000)
        return sum(int(item.get("messageCount", 0)) for item in page.items if item.get("kind") == KIND)

    def status(self, now: float | None = None) -> TierStatus:
        """Limit and usage now (the bulk module uses ``remaining`` to refuse jobs over the tier, 13.10)."""
        at = self._clock.now() if now is None else now
        status = TierStatus(self.limit(), self.used24h(at))
        with self._lock:
            self._cached = (at, status)
        return status

    def already_counted(self, contact_id: str, now: float | None = None) -> bool:
        at = self._clock.now() if now is None else now
        item = self._trackers.get({"channel": RECIPIENT_PREFIX + contact_id, "windowStart": 0})
        return item is not None and float(item.get("lastUpdatedAt", 0)) > at

    def snapshot(self, channel: str, contact_id: str, window_open: bool, now: float) -> TierSnapshot:
        """The ``tier`` section of the policy input for one send.

        A send that would open a conversation is decided on counters read fresh from the store. Any
        other send (a reply inside the window, SMS, email) can only be *warned* by the tier rules, so
        it may use counters this instance read at most ``cache_seconds`` ago — one store read fewer
        on the hot path, and never a deny decided on stale numbers.
        """
        opens = channel == "whatsapp" and not window_open and not self.already_counted(contact_id, now)
        status = self.status(now) if opens else self._recent_status(now)
        if not self._over_threshold(status):
            self._reset_alert()
        return TierSnapshot(status.limit, status.used24h, opens)

    def _recent_status(self, now: float) -> TierStatus:
        with self._lock:
            cached = self._cached
            if cached is not None and 0 <= now - cached[0] <= self._cache_seconds:
                return cached[1]
        return self.status(now)

    # -- writes ------------------------------------------------------------------------------------

    def record_opening(self, contact_id: str, now: float | None = None) -> bool:
        """Count ``contact_id`` as reached by a conversation-opening send; False if already counted."""
        at = self._clock.now() if now is None else now
        expires = math.ceil(at) + self._window
        try:
            self._trackers.put(
                {
                    "channel": RECIPIENT_PREFIX + contact_id,
                    "windowStart": 0,
                    "kind": KIND,
                    "contactId": contact_id,
                    "openedAt": at,
                    "lastUpdatedAt": expires,
                },
                # An expired marker may linger (TTL deletion is lazy): it no longer counts.
                condition=not_exists("channel") | Attr("lastUpdatedAt", "le", at),
            )
        except ConditionFailed:
            return False
        start = int(math.floor(at / self._bucket) * self._bucket)
        self._trackers.update(
            {"channel": OPENS, "windowStart": start},
            Update(
                add={"messageCount": 1},
                set={"kind": KIND, "lastUpdatedAt": start + self._bucket + self._window},
            ),
        )
        self._metrics.inc("whatsapp_conversations_opened_total")
        status = self.status(at)
        if self._over_threshold(status):
            self._raise_alert(status)
        return True

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
