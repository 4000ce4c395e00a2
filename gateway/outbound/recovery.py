"""At most once, honestly: messages stuck in ``sending`` become ``unknown``, visibly, and are never resent.

The gateway marks a message ``sending`` before it calls the driver. If the process dies between that
call and the status write, nobody knows whether the provider accepted the message. Resending could
message the customer twice; calling it failed could hide a delivered message. So a message still
``sending`` after ``stale_after`` seconds (longer than any send with its retries can take) is marked
``unknown`` with an explanation, counted, and reported in one alert per run for an operator to check.

Run it periodically: the embedded server's worker loop, or a scheduled function in AWS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.alerts import Alerts
from gateway.clock import Clock
from gateway.messages.repository import MessageRepository
from gateway.metrics import Metrics
from gateway.store.port import Tables

log = logging.getLogger("wecare.gateway.outbound.recovery")

# Longer than the slowest send: 30 s read timeout x 4 attempts + backoff, with a wide margin.
DEFAULT_STALE_AFTER = 300.0


@dataclass(frozen=True)
class RecoveryReport:
    marked_unknown: list[str] = field(default_factory=list)


class SendRecovery:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        alerts: Alerts,
        metrics: Metrics,
        *,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self._messages = MessageRepository(tables)
        self._clock = clock
        self._alerts = alerts
        self._metrics = metrics
        self._stale_after = stale_after

    def run(self) -> RecoveryReport:
        now = self._clock.now()
        marked = [
            str(item["messageId"])
            for item in self._messages.stale_sending(now - self._stale_after)
            if self._mark_unknown(item, now)
        ]
        if marked:
            self._alerts.publish(
                "critical",
                f"{len(marked)} message(s) with unknown send outcome",
                "These messages were handed to a channel but their result was never recorded (the process "
                "stopped mid-send). They were NOT resent. Check with the provider before sending again: "
                + ", ".join(marked[:50])
                + (" …" if len(marked) > 50 else ""),
            )
        return RecoveryReport(marked)

    def _mark_unknown(self, item: dict[str, object], now: float) -> bool:
        details = {
            "code": "OUTCOME_UNKNOWN",
            "message": (
                f"still 'sending' after {self._stale_after:.0f} s: the process stopped between "
                "the provider call and recording its result; not resent automatically"
            ),
            "requestId": None,
        }
        if not self._messages.mark_unknown(item, now, details):
            return False  # it finished meanwhile
        channel = str(item.get("channel", ""))
        self._metrics.inc("messages_unknown_total", {"channel": channel})
        log.error(
            "send outcome unknown; marked 'unknown', not resent",
            extra={"messageId": item["messageId"], "contactId": item.get("contactId"), "channel": channel},
        )
        return True
