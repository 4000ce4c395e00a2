"""The only writer of ``Messages`` rows: new rows, send results, recovery, delivery statuses.

Every status change goes through here, each one a conditional write that encodes its rule from
:mod:`gateway.messages.status` (a send result only over ``sending``/``unknown``; recovery only over
``sending``; delivery statuses only forward, by optimistic concurrency on ``statusVersion``). So the
same rules hold on SQLite and DynamoDB, and a reader can find them in one file.

The table also holds two other record kinds keyed beside messages: idempotency reservations
(``idem#…``) and delivery statuses that arrived before their message (``status#<wamid>#<status>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from gateway.messages.status import IN_FLIGHT, MessageStatus
from gateway.store.conditions import Attr, SortKey, eq, not_exists
from gateway.store.port import ConditionFailed, Item, Tables, Update

log = logging.getLogger("wecare.messages")

MESSAGE_KIND = "message"
PENDING_STATUS_KIND = "pending-status"
PENDING_MARKER_KIND = "pending-status-marker"
DEFAULT_RETENTION = 30 * 24 * 3600
_MAX_RACES = 16

T = TypeVar("T")


class TooManyRaces(Exception):
    """A row kept changing under an optimistic update; the caller decides what that means."""


def pending_key(whatsapp_message_id: str, status: str) -> str:
    return f"status#{whatsapp_message_id}#{status}"


def pending_marker_key(whatsapp_message_id: str) -> str:
    """One item saying "some status waits for this message": one read tells the gateway, after every
    WhatsApp send, whether there is anything to apply (almost never), instead of one per status."""
    return f"status#{whatsapp_message_id}"


class MessageRepository:
    def __init__(self, tables: Tables) -> None:
        self._table = tables["Messages"]
        retention = self._table.schema.retention_seconds
        self.retention = int(retention if retention is not None else DEFAULT_RETENTION)

    # -- reads --------------------------------------------------------------------------------------

    def get(self, message_id: str) -> Item | None:
        return self._table.get({"messageId": message_id})

    def find_outbound(self, whatsapp_message_id: str) -> Item | None:
        """The outbound message recorded under this WhatsApp (AWS or Meta) message id, if any."""
        page = self._table.query(
            whatsapp_message_id, index="byWhatsappMessageId", filter=eq("direction", "outbound"), limit=10
        )
        return page.items[0] if page.items else None

    def stale_sending(self, cutoff: float) -> Iterator[Item]:
        """Messages still ``sending`` that started before ``cutoff``."""
        cursor: str | None = None
        while True:
            page = self._table.query(
                MessageStatus.sending.value,
                index="byStatus",
                sort=SortKey("lt", cutoff),
                filter=eq("kind", MESSAGE_KIND),
                limit=100,
                cursor=cursor,
            )
            yield from page.items
            if page.cursor is None:
                return
            cursor = page.cursor

    # -- new rows -----------------------------------------------------------------------------------

    def insert(self, item: Item) -> bool:
        """Write a new row (message, reservation, pending status); False when its id exists already.

        The must-not-exist put is the dedupe everywhere: derived ids make a repeat collide here.
        """
        try:
            self._table.put(item, condition=not_exists("messageId"))
        except ConditionFailed:
            return False
        return True

    def put_pending_status(
        self, whatsapp_message_id: str, status: str, event: Mapping[str, Any], now: float
    ) -> None:
        self._table.put(
            {
                "messageId": pending_key(whatsapp_message_id, status),
                "kind": PENDING_STATUS_KIND,
                "pendingFor": whatsapp_message_id,
                "statusEvent": dict(event),
                "receivedAt": now,
                "expiresAt": int(now) + self.retention,
            }
        )

    def mark_pending(self, whatsapp_message_id: str, now: float) -> None:
        """Written after :meth:`put_pending_status` (so the marker never promises less than there is)."""
        self._table.put(
            {
                "messageId": pending_marker_key(whatsapp_message_id),
                "kind": PENDING_MARKER_KIND,
                "pendingFor": whatsapp_message_id,
                "receivedAt": now,
                "expiresAt": int(now) + self.retention,
            }
        )

    def has_pending(self, whatsapp_message_id: str) -> bool:
        item = self._table.get({"messageId": pending_marker_key(whatsapp_message_id)})
        return item is not None and item.get("kind") == PENDING_MARKER_KIND

    def drop_pending_marker(self, whatsapp_message_id: str) -> None:
        self._table.delete({"messageId": pending_marker_key(whatsapp_message_id)})

    def pending_status(self, whatsapp_message_id: str, status: str) -> Item | None:
        item = self._table.get({"messageId": pending_key(whatsapp_message_id, status)})
        return item if item is not None and item.get("kind") == PENDING_STATUS_KIND else None

    def drop_pending_status(self, whatsapp_message_id: str, status: str) -> None:
        self._table.delete({"messageId": pending_key(whatsapp_message_id, status)})

    # -- transitions --------------------------------------------------------------------------------

    def finish_send(self, item: Item, fields: Mapping[str, Any]) -> Item:
        """Record a send's result (``fields`` holds ``status`` ∈ sent/failed/unknown and its details).

        Only over an in-flight row; if the row moved on meanwhile, the stored one stands and is returned.
        """
        key = {"messageId": item["messageId"]}
        # ``item`` is the row as inserted. While a message is in flight only recovery writes it
        # (sending → unknown, which the send's own result supersedes); its delivery statuses wait as
        # pending until it has a provider id. So the whole row is put back, which the embedded store
        # checks and writes in one statement, without reading the row first.
        finished = {**item, **fields}
        try:
            self._table.put(finished, condition=Attr("status", "in", list(IN_FLIGHT)))
            return finished
        except ConditionFailed:
            log.error(
                "message status moved on while sending; keeping the stored one",
                extra={"messageId": item["messageId"], "wanted": fields.get("status")},
            )
            return self._table.get(key) or {**item, **fields}

    def mark_unknown(self, item: Mapping[str, Any], now: float, details: Mapping[str, Any]) -> bool:
        """``sending → unknown`` (recovery); False when the send finished meanwhile."""
        stamps = item.get("statusTimestamps")
        stamps = dict(stamps) if isinstance(stamps, dict) else {}
        stamps[MessageStatus.unknown.value] = now
        try:
            self._table.update(
                {"messageId": item["messageId"]},
                Update(
                    set={
                        "status": MessageStatus.unknown.value,
                        "statusTimestamps": stamps,
                        "errorDetails": dict(details),
                    }
                ),
                condition=eq("status", MessageStatus.sending.value),
            )
        except ConditionFailed:
            return False
        return True

    def merge(self, message_id: str, changes_for: Callable[[Item], tuple[dict[str, Any], T]]) -> T | None:
        """Apply ``changes_for(current)`` to the row, re-reading and retrying while others write first.

        ``changes_for`` returns the attributes to set (empty: nothing to do) and a result passed back;
        the write holds only if ``status`` and ``statusVersion`` are still what was read. None when the
        row does not exist; :class:`TooManyRaces` when it kept changing.
        """
        key = {"messageId": message_id}
        for _ in range(_MAX_RACES):
            current = self._table.get(key)
            if current is None:
                return None
            changes, result = changes_for(current)
            if not changes:
                return result
            version, status = current.get("statusVersion"), current.get("status")
            guard = (not_exists("status") if status is None else eq("status", status)) & (
                not_exists("statusVersion") if version is None else eq("statusVersion", version)
            )
            try:
                self._table.update(
                    key, Update(set={**changes, "statusVersion": int(version or 0) + 1}), condition=guard
                )
            except ConditionFailed:
                continue  # someone else wrote first: re-read and merge again
            return result
        raise TooManyRaces(f"message {message_id} kept changing under {_MAX_RACES} attempts")
