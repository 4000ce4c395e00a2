"""Reading messages back: one by id (with its decision and policy input) and filtered, newest first.

Listing uses the Messages indexes, never a scan: ``byContact`` when a contact is given, ``byStatus``
otherwise (one partition per status, merged). Pages are keyset-paginated on (timestamp, messageId), so
a cursor stays valid while new messages arrive and ties on equal timestamps are never lost.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidInput, NotFound
from gateway.messages.status import INBOUND_STATUSES, OUTBOUND_STATUSES
from gateway.store.conditions import And, Condition, SortKey, eq
from gateway.store.cursor import as_invalid_input
from gateway.store.port import Item, Table, Tables

ALL_STATUSES = tuple(s.value for s in (*OUTBOUND_STATUSES, *INBOUND_STATUSES))
CHANNELS = ("whatsapp", "sms", "email")
DIRECTIONS = ("outbound", "inbound")
MAX_LIMIT = 200

# Kept out of API answers: internal bookkeeping, or (in lists) too heavy for a row.
_INTERNAL = ("requestHash",)
_DETAIL_ONLY = ("policyInput", "outbox")


@dataclass(frozen=True)
class MessagePage:
    items: list[dict[str, Any]]
    cursor: str | None


def public_view(item: Mapping[str, Any], *, detail: bool = True) -> dict[str, Any]:
    view = {k: v for k, v in item.items() if k not in _INTERNAL and (detail or k not in _DETAIL_ONLY)}
    if not detail and isinstance(item.get("decision"), Mapping):
        decision = item["decision"]
        view["decision"] = {
            "allowed": decision.get("allowed"),
            "reasons": decision.get("reasons", []),
            "warnings": decision.get("warnings", []),
        }
    return view


def _sort_key(item: Mapping[str, Any]) -> tuple[float, str]:
    ts = item.get("timestamp")
    number = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else 0.0
    return (number, str(item.get("messageId", "")))


class MessageQueryService:
    def __init__(self, tables: Tables) -> None:
        self._table: Table = tables["Messages"]

    def _encode_cursor(self, key: tuple[float, str], scope: str) -> str:
        return self._table.cursors.encode({"t": key[0], "id": key[1]}, scope)

    def _decode_cursor(self, cursor: str, scope: str) -> tuple[float, str]:
        invalid = InvalidInput(
            "the cursor is not valid for this query; start again without it",
            code="INVALID_CURSOR",
            details={"field": "cursor"},
        )
        with as_invalid_input():
            data = self._table.cursors.decode(cursor, scope)
        at, message_id = data.get("t"), data.get("id")
        if isinstance(at, bool) or not isinstance(at, int | float) or not isinstance(message_id, str):
            raise invalid
        return (float(at), message_id)

    def get(self, message_id: str) -> dict[str, Any]:
        item = self._table.get({"messageId": message_id})
        if item is None or item.get("kind") != "message":
            raise NotFound(f"no message {message_id!r}", details={"messageId": message_id})
        return public_view(item)

    def list_page(
        self,
        *,
        contact_id: str | None = None,
        channel: str | None = None,
        status: str | None = None,
        direction: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> MessagePage:
        problems = []
        if channel is not None and channel not in CHANNELS:
            problems.append(f"channel must be one of {', '.join(CHANNELS)}")
        if status is not None and status not in ALL_STATUSES:
            problems.append(f"status must be one of {', '.join(ALL_STATUSES)}")
        if direction is not None and direction not in DIRECTIONS:
            problems.append(f"direction must be one of {', '.join(DIRECTIONS)}")
        if not 1 <= limit <= MAX_LIMIT:
            problems.append(f"limit must be between 1 and {MAX_LIMIT}")
        if problems:
            raise InvalidInput("; ".join(problems), details={"problems": problems})
        scope = hashlib.sha256(json.dumps([contact_id, channel, status, direction]).encode()).hexdigest()[:16]
        after = self._decode_cursor(cursor, scope) if cursor else None

        parts: list[Condition] = [eq("kind", "message")]
        if channel is not None:
            parts.append(eq("channel", channel))
        if direction is not None:
            parts.append(eq("direction", direction))
        if contact_id is not None:
            if status is not None:
                parts.append(eq("status", status))
            partitions = [("byContact", contact_id)]
        else:
            partitions = [("byStatus", s) for s in ((status,) if status else ALL_STATUSES)]
        condition = And(tuple(parts))

        collected: list[Item] = []
        more = False
        for index, value in partitions:
            rows, partition_more = self._newest(index, value, condition, after=after, limit=limit)
            collected.extend(rows)
            more = more or partition_more
        ordered = heapq.nlargest(limit + 1, collected, key=_sort_key)
        more = more or len(ordered) > limit
        page = ordered[:limit]
        next_cursor = self._encode_cursor(_sort_key(page[-1]), scope) if more and page else None
        return MessagePage([public_view(i, detail=False) for i in page], next_cursor)

    def _newest(
        self, index: str, value: str, condition: Condition, *, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[Item], bool]:
        """Up to ``limit`` items of one partition older than ``after`` (plus any tied at the boundary)."""
        rows: list[Item] = []
        boundary: float | None = None
        for item in self._descending(index, value, condition, after):
            key = _sort_key(item)
            if after is not None and key >= after:
                continue
            if boundary is not None and key[0] < boundary:
                return rows, True
            rows.append(item)
            if len(rows) == limit:
                boundary = key[0]  # keep reading items tied on this timestamp, then stop
        return rows, False

    def _descending(
        self, index: str, value: str, condition: Condition, after: tuple[float, str] | None
    ) -> Iterator[Item]:
        sort = SortKey("le", after[0]) if after is not None else None
        page_cursor: str | None = None
        while True:
            page = self._table.query(
                value,
                index=index,
                sort=sort,
                filter=condition,
                limit=100,
                cursor=page_cursor,
                descending=True,
            )
            yield from page.items
            if page.cursor is None:
                return
            page_cursor = page.cursor
