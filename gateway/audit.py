"""The audit trail: who did what to which resource, kept in ``AuditLogs`` for 180 days.

Every record is also written as a structured log line, so the trail reaches the central log group even
when the table write fails (the failure is then logged and re-raised: callers decide whether an
unrecorded action may proceed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from gateway.clock import Clock
from gateway.store.port import Item, Tables
from gateway.store.schema import table_schemas

log = logging.getLogger("wecare.audit")

_DEFAULT_RETENTION = 180 * 24 * 3600


class AuditLog:
    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._table = tables["AuditLogs"]
        self._clock = clock
        retention = table_schemas()["AuditLogs"].retention_seconds
        self._retention = int(retention) if retention else _DEFAULT_RETENTION

    def record(
        self,
        user_id: str,
        action: str,
        resource_type: str,
        resource_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one ``AuditLogs`` item (``expiresAt`` = now + 180 days, epoch seconds) and a log line."""
        now = self._clock.now()
        item: Item = {
            "logId": "log_" + uuid.uuid4().hex,
            "userId": user_id or "anonymous",
            "action": action,
            "resourceType": resource_type,
            "resourceId": resource_id,
            "timestamp": now,
            "details": dict(details or {}),
            "expiresAt": int(now) + self._retention,
        }
        log.info(
            "audit %s %s/%s by %s",
            action,
            resource_type,
            resource_id,
            item["userId"],
            extra={"audit": {k: v for k, v in item.items() if k != "expiresAt"}},
        )
        try:
            self._table.put(item)
        except Exception:
            log.exception(
                "audit record could not be stored", extra={"logId": item["logId"], "action": action}
            )
            raise
        return item

    def for_user(self, user_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest records of one user (the ``byUser`` index), newest first."""
        return self._table.query(user_id, index="byUser", limit=limit, descending=True).items
