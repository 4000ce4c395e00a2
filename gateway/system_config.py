"""``SystemConfig``: the switches an Admin changes at run time, each validated and audited.

Only declared keys can be written (an unknown key is a typo, refused with the list of keys), each
with its own check, so a value that would break a reader can never be stored. Readers of a key keep
their own defaults (a missing item means the default), so this module is the writer's side only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway import kill_switch
from gateway.clock import Clock
from gateway.errors import InvalidInput, echo
from gateway.outbound.ports import AuditTrail
from gateway.store.port import Tables

AI_ENABLED = "ai.enabled"


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _ratio(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a number above 0 and at most 1")
    if not 0 < value <= 1:
        raise ValueError("must be above 0 and at most 1")
    return float(value)


def _tier_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
        raise ValueError("must be a whole number from 1 to 10000000")
    return value


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    check: Callable[[Any], Any]
    description: str


KEYS: Mapping[str, Key] = {
    k.name: k
    for k in (
        Key(
            AI_ENABLED, False, _boolean, "AI-suggested replies for inbound WhatsApp messages (requirement 15)"
        ),
        Key(
            "bulk.autoPause.failureRate",
            0.2,
            _ratio,
            "a bulk job pauses itself when this share of its last 100 attempts failed",
        ),
        Key("whatsapp.tier.limit", None, _tier_limit, "the business portfolio's 24 h conversation limit"),
        Key(
            kill_switch.KEY,
            False,
            kill_switch.check_value,
            "the kill switch: pause all sending or some channels, with a reason (false: sending runs)",
        ),
    )
}


class SystemConfigService:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        audit: AuditTrail | None = None,
        *,
        on_change: Callable[[str], object] | None = None,
    ) -> None:
        """``on_change(key)``: told after a value is stored (a reader's cache in this process)."""
        self._table = tables["SystemConfig"]
        self._clock = clock
        self._audit = audit
        self._on_change = on_change

    def get(self, name: str) -> Any:
        key = self._key(name)
        item = self._table.get({"configKey": name})
        if item is None or "configValue" not in item:
            return key.default
        try:
            return key.check(item["configValue"])
        except ValueError:
            return key.default  # written outside this service and unreadable: the default holds

    def enabled(self, name: str) -> bool:
        return self.get(name) is True

    def all(self) -> dict[str, Any]:
        return {
            "items": [
                {"key": k.name, "value": self.get(k.name), "default": k.default, "description": k.description}
                for k in KEYS.values()
            ]
        }

    def set(self, name: str, value: Any, *, actor: str) -> dict[str, Any]:
        key = self._key(name)
        try:
            checked = key.check(value)
        except ValueError as exc:
            raise InvalidInput(f"{name} {exc}", code="INVALID_CONFIG_VALUE", details={"key": name}) from None
        old = self.get(name)
        now = self._clock.now()
        self._table.put({"configKey": name, "configValue": checked, "updatedAt": now, "updatedBy": actor})
        if self._on_change is not None:
            self._on_change(name)
        if self._audit is not None:
            self._audit.record(actor, "config.changed", "config", name, {"old": old, "new": checked})
        return {"key": name, "value": checked, "updatedAt": now, "updatedBy": actor}

    @staticmethod
    def _key(name: str) -> Key:
        key = KEYS.get(name)
        if key is None:
            raise InvalidInput(
                f"unknown configuration key {echo(name)}; the keys are {', '.join(sorted(KEYS))}",
                code="UNKNOWN_CONFIG_KEY",
                details={"keys": sorted(KEYS)},
            )
        return key
