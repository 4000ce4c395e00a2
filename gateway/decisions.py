"""Stored decisions: every outbound message keeps the decision it was sent (or refused) under and
the exact policy input it was decided on. This service lists them for ``GET /api/decisions`` and
feeds them to ``wecare policy replay``; it only ever reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.errors import InvalidInput
from gateway.store.conditions import And, Attr, Condition, eq, exists
from gateway.store.cursor import as_invalid_input
from gateway.store.port import Item, Tables

MESSAGE_KIND = "message"
CHANNELS = ("whatsapp", "sms", "email")
MAX_LIMIT = 500
# One request scans at most this many pages looking for matches, so a rare filter cannot turn
# a single call into a full-table read; the cursor lets the caller continue.
MAX_PAGES_PER_CALL = 20
_VIEW_KEYS = (
    "messageId",
    "contactId",
    "channel",
    "direction",
    "timestamp",
    "status",
    "origin",
    "category",
    "decision",
)


@dataclass(frozen=True)
class RecordedDecision:
    message_id: str
    policy_input: dict[str, Any]
    decision: dict[str, Any]


class DecisionService:
    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._messages = tables["Messages"]
        self._clock = clock

    def list(
        self,
        *,
        reason: str | None = None,
        channel: str | None = None,
        allowed: bool | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_input: bool = False,
    ) -> dict[str, Any]:
        """Decisions of outbound messages, newest first within a page.

        ``reason`` matches any deny reason or warning code; ``since``/``until`` bound the message
        timestamp (epoch seconds, inclusive). Returns ``{"items": [...], "cursor": str | None}``;
        a page may hold fewer than ``limit`` items while ``cursor`` is not None.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", details={"limit": limit})
        if channel is not None and channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", details={"channel": channel})
        if since is not None and until is not None and since > until:
            raise InvalidInput("since must not be after until", details={"since": since, "until": until})
        condition = self._condition(channel, since, until)
        items: list[dict[str, Any]] = []
        pages = 0
        while True:
            with as_invalid_input():
                page = self._messages.scan(filter=condition, limit=limit, cursor=cursor)
            cursor = page.cursor
            pages += 1
            items.extend(
                self._view(item, include_input) for item in page.items if _matches(item, reason, allowed)
            )
            if items or cursor is None or pages >= MAX_PAGES_PER_CALL:
                break
        items.sort(key=lambda i: i.get("timestamp") or 0, reverse=True)
        return {"items": items, "cursor": cursor}

    def iter_recorded(self, *, page_size: int = 200) -> Iterator[RecordedDecision]:
        """Every stored outbound decision with its policy input (for replay)."""
        cursor: str | None = None
        condition = self._condition(None, None, None, exists("policyInput"))
        while True:
            page = self._messages.scan(filter=condition, limit=page_size, cursor=cursor)
            for item in page.items:
                policy_input = item.get("policyInput")
                if isinstance(policy_input, dict):
                    decision = dict(item.get("decision") or {})
                    yield RecordedDecision(str(item.get("messageId")), policy_input, decision)
            cursor = page.cursor
            if cursor is None:
                return

    @staticmethod
    def _condition(
        channel: str | None, since: float | None, until: float | None, *extra: Condition
    ) -> Condition:
        parts: list[Condition] = [
            eq("kind", MESSAGE_KIND),
            eq("direction", "outbound"),
            exists("decision"),
            *extra,
        ]
        if channel is not None:
            parts.append(eq("channel", channel))
        if since is not None:
            parts.append(Attr("timestamp", "ge", since))
        if until is not None:
            parts.append(Attr("timestamp", "le", until))
        return And(tuple(parts))

    @staticmethod
    def _view(item: Item, include_input: bool) -> dict[str, Any]:
        out = {key: item[key] for key in _VIEW_KEYS if key in item}
        if include_input and "policyInput" in item:
            out["policyInput"] = item["policyInput"]
        return out


def _matches(item: Item, reason: str | None, allowed: bool | None) -> bool:
    decision = item.get("decision")
    if not isinstance(decision, dict):
        return False
    if allowed is not None and decision.get("allowed") is not allowed:
        return False
    if reason is not None:
        codes = [*(decision.get("reasons") or []), *(decision.get("warnings") or [])]
        return reason in codes
    return True
