"""The kill switch: an Admin pauses all sending, or one channel's, with a reason (``SystemConfig``
``sending.paused``; set with ``PUT /api/config/sending.paused``, audited like every key).

The switch is a fact, not a branch: the gateway puts ``environment.paused`` in the policy input and the
bundle's ``kill-switch`` policy denies ``SENDING_PAUSED``. Bulk jobs do not burn their recipients on
that refusal: a worker that sees the switch pauses its job (``pauseReason`` ``SENDING_PAUSED``) and
hands the rest of the chunk back, and the bulk scheduler resumes exactly those jobs once the switch
is released.

How fast it takes effect: every reader caches the stored value for at most
:data:`MAX_STALENESS_SECONDS` (1 s), per process, and the process that writes the change forgets its
cache at once. An embedded server sees a change immediately; every other process, e.g. each warm Lambda
instance, within a second of it being written; a cold Lambda instance reads it on its first send.

The value: ``false`` (released), or ``{"channels": ["all"] | [some of whatsapp, sms, email],
"reason": "why, for the people who will see the banner"}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.outbound.types import CHANNELS
from gateway.store.port import Tables

KEY = "sending.paused"
REASON = "SENDING_PAUSED"  # the policy's reason code, and a paused bulk job's pauseReason
ALL = "all"
MAX_STALENESS_SECONDS = 1.0
MAX_REASON = 500


def check_value(value: Any) -> Any:
    """The stored form of a ``sending.paused`` value, or ValueError saying what a person must fix."""
    if value is False or value is None:
        return False
    if not isinstance(value, Mapping) or set(value) - {"channels", "reason"}:
        raise ValueError(
            'must be false (sending runs) or {"channels": ["all"] or some of whatsapp, sms, email, '
            '"reason": "..."}'
        )
    channels = value.get("channels")
    if (
        not isinstance(channels, list)
        or not channels
        or not all(isinstance(c, str) and c in (ALL, *CHANNELS) for c in channels)
        or len(set(channels)) != len(channels)
    ):
        raise ValueError('channels must be ["all"] or a list of distinct channels from whatsapp, sms, email')
    if ALL in channels and len(channels) > 1:
        raise ValueError('channels: "all" already covers every channel; give it alone')
    reason = value.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise ValueError(f"reason must say why sending is paused (1 to {MAX_REASON} characters)")
    return {"channels": list(channels), "reason": reason.strip()}


def covers(value: Any, channel: str) -> bool:
    """Whether a stored (checked) value pauses ``channel``."""
    if not isinstance(value, Mapping):
        return False
    channels = value.get("channels") or []
    return ALL in channels or channel in channels


class SendingSwitch:
    """Reads the switch, at most :data:`MAX_STALENESS_SECONDS` stale; thread-safe."""

    def __init__(
        self,
        tables: Tables,
        *,
        max_staleness: float = MAX_STALENESS_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = tables["SystemConfig"]
        self._max_staleness = max_staleness
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._value: Any = False

    def state(self) -> dict[str, Any] | None:
        """``{"channels", "reason", "pausedBy", "pausedAt"}`` while paused, else None."""
        now = self._monotonic()
        with self._lock:
            if self._read_at is None or now - self._read_at >= self._max_staleness:
                self._value = self._read()
                self._read_at = now
            value = self._value
        return dict(value) if isinstance(value, Mapping) else None

    def forget(self) -> None:
        """The next read goes to the store: called when this process itself changed the switch."""
        with self._lock:
            self._read_at = None

    def paused(self, channel: str) -> bool:
        return covers(self.state(), channel)

    def _read(self) -> Any:
        item = self._table.get({"configKey": KEY})
        if item is None:
            return False
        try:
            value = check_value(item.get("configValue", False))
        except ValueError:
            # Written outside the service and unreadable: fail closed, every channel paused.
            return {"channels": [ALL], "reason": "the stored kill switch is unreadable; an Admin must set it"}
        if value is False:
            return False
        return {**value, "pausedBy": item.get("updatedBy"), "pausedAt": item.get("updatedAt")}
