"""Operator alerts: SNS in AWS (topic from settings), a log line + in-memory list + metric locally."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.metrics import Metrics

log = logging.getLogger("wecare.alerts")


@dataclass(frozen=True)
class Alert:
    severity: str  # "warning" | "critical"
    subject: str
    message: str


class Alerts(Protocol):
    def publish(self, severity: str, subject: str, message: str) -> None: ...


class LocalAlerts:
    def __init__(self, metrics: Metrics, keep: int = 200) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._keep = keep
        self.recent: list[Alert] = []

    def publish(self, severity: str, subject: str, message: str) -> None:
        log.warning("alert: %s", subject, extra={"alertSeverity": severity, "alertMessage": message})
        self._metrics.inc("alerts_total", {"severity": severity})
        with self._lock:
            self.recent.append(Alert(severity, subject, message))
            del self.recent[: -self._keep]


class SnsAlerts:
    def __init__(self, sns_client: Any, topic_arn: str, metrics: Metrics) -> None:
        self._sns = sns_client
        self._topic = topic_arn
        self._metrics = metrics

    def publish(self, severity: str, subject: str, message: str) -> None:
        self._metrics.inc("alerts_total", {"severity": severity})
        log.warning("alert: %s", subject, extra={"alertSeverity": severity})
        try:
            self._sns.publish(
                TopicArn=self._topic,
                Subject=f"[{severity.upper()}] {subject}"[:100],
                Message=message,
                MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}},
            )
        except Exception:  # an alert that cannot be delivered must not break the caller
            log.exception("could not publish alert to SNS", extra={"topic": self._topic})
