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

    workers: list[Any] = field(default_factory=list)

    def start_workers(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

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


def build_embedded(settings: Settings, clock: Clock | None = None) -> Container:
    """The embedded default: one SQLite store and one local queue file under the data dir."""
    from gateway.queue.local import LocalQueues
    from gateway.store.port import StoreUnavailable
    from gateway.store.sqlite import SqliteTables

    clk = clock or SystemClock()
    data_dir = settings.WECARE_DATA_DIR
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot create the data dir {data_dir}: {exc.strerror}; choose another with --data-dir"
        ) from None
    tables = SqliteTables(data_dir / "wecare.db", clk)
    try:
        queues = LocalQueues(data_dir / "queues.db", clk)
    except Exception:
        tables.close()
        raise
    metrics = Metrics()
    container = Container(settings, clk, tables, queues, metrics, LocalAlerts(metrics), runtime="embedded")
    wire_services(container)
    return container


def wire_services(container: Container) -> None:
    """Construct the services over the container's ports (same for every runtime)."""
    return None


def first_start(container: Container) -> list[str]:
    """On the very first start, create an Admin and return the lines that show its login (once)."""
    return []
