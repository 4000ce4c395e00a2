"""The composition root: the one place that wires ports, adapters and services per runtime.

``embedded`` (``wecare serve``, tests): SQLite store + local queue under a data dir, local identity,
DRY_RUN. ``lambda``: DynamoDB + SQS + Cognito, clients created here (never at import time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.alerts import Alerts, LocalAlerts
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.queue.port import Queues
from gateway.store.port import Tables

log = logging.getLogger("wecare.bootstrap")


@dataclass
class Container:
    settings: Settings
    clock: Clock
    tables: Tables
    queues: Queues
    metrics: Metrics
    alerts: Alerts
    runtime: str = "embedded"
    extras: dict[str, Any] = field(default_factory=dict)

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "runtime": self.runtime,
            "environment": self.settings.ENVIRONMENT.value,
            "sendMode": self.settings.SEND_MODE.value,
        }

    def on_unhandled_error(self, exc: BaseException, request_id: str) -> None:
        self.metrics.inc("unhandled_errors_total", {"type": type(exc).__name__})
        self.alerts.publish(
            "critical", f"unhandled {type(exc).__name__}", f"request {request_id}: {exc!r}"[:2000]
        )

    def close(self) -> None:
        self.tables.close()
        self.queues.close()


def build_in_memory(settings: Settings, clock: Clock | None = None) -> Container:
    """A container on the in-memory fakes (unit tests of the edges)."""
    from gateway.queue.memory import MemoryQueues
    from gateway.store.memory import MemoryTables

    clk = clock or SystemClock()
    metrics = Metrics()
    return Container(settings, clk, MemoryTables(clk), MemoryQueues(clk), metrics, LocalAlerts(metrics))
