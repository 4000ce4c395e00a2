"""The DM inbox: one conversation row per contact with recent traffic, newest first, with unread counts.

A conversation is an item of the ``Contacts`` table beside its contact (``contactId = "cv#<id>"``,
``kind = "conversation"``), in the table's ``inbox`` index (HASH ``inboxBucket`` = ``"inbox"``, RANGE
``lastActivityAt``): the list is one key-range query read newest first, never a scan, on SQLite and
DynamoDB alike. It is a summary derived from the Messages table, kept by two hooks:

* every **inbound** message stored (the inbound pipeline's ``on_stored`` listener) moves the row
  forward and adds one to ``unreadCount``;
* every **non-bulk outbound** message the gateway records (single sends, approved AI replies; its
  ``on_recorded`` hook) moves it forward. Bulk jobs do not: a campaign to 100,000 contacts must not
  bury the conversations people are having.

Each hook is one conditional update, no read: the row moves forward only when the message is newer
than its ``lastActivityAt`` (a late event still counts as unread, but does not become the preview).
"Unread" means inbound not yet seen by any operator: :meth:`InboxService.mark_read` (an Operator or
Admin opening the thread) sets ``unreadCount`` to 0 and records who saw it and when.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.contacts.fields import Channel
from gateway.contacts.service import window_expires_at
from gateway.errors import InvalidInput, NotFound
from gateway.outbound.types import CHANNELS
from gateway.store.conditions import And, Attr, Condition, Or, evaluate, exists, not_exists
from gateway.store.cursor import as_invalid_input
from gateway.store.port import ConditionFailed, Item, Table, Tables, Update

log = logging.getLogger("wecare.inbox")

INDEX = "inbox"
BUCKET = "inbox"
KIND = "conversation"
PREVIEW_CHARS = 140
MAX_LIMIT = 100
SEARCH_CANDIDATES = 50
_CHANNEL_ATTR: Mapping[str, str] = {"whatsapp": "lastWhatsappAt", "sms": "lastSmsAt", "email": "lastEmailAt"}
_MEDIA = ("image", "video", "audio", "document", "sticker", "media")


def conversation_key(contact_id: str) -> dict[str, str]:
    return {"contactId": f"cv#{contact_id}"}


def preview(content: Any) -> str:
    """One line of a message's content, as the list shows it (the UI's ``contentText``, shortened)."""
    c = content if isinstance(content, Mapping) else {}
    kind = str(c.get("type") or "")
    if kind == "text":
        text = str(c.get("body") or c.get("text") or "")
    elif kind == "template":
        text = f"Template “{c.get('name') or '?'}”"
    elif kind == "email":
        text = f"Subject: {c.get('subject') or ''}"
    elif kind in _MEDIA or c.get("mediaKind"):
        caption = c.get("caption") or c.get("filename") or ""
        text = f"[{c.get('mediaKind') or kind}] {caption}".strip()
    elif kind == "reaction":
        text = f"[reaction] {c.get('emoji') or ''}".strip()
    elif kind:
        text = str(c.get("text") or c.get("body") or f"[{kind}]")
    else:
        text = str(c.get("text") or c.get("body") or "")
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def last_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """What the list shows of a conversation's newest message."""
    timestamp = message.get("timestamp")
    return {
        "messageId": message.get("messageId"),
        "direction": "inbound" if message.get("direction") == "inbound" else "outbound",
        "channel": message.get("channel"),
        "preview": preview(message.get("content")),
        "status": message.get("status"),
        "timestamp": float(timestamp) if isinstance(timestamp, int | float) else None,
    }


@dataclass(frozen=True)
class ConversationFilter:
    channel: Channel | None = None
    unread: bool = False
    window_open: bool = False
    q: str | None = None


@dataclass(frozen=True)
class ConversationPage:
    items: list[dict[str, Any]]
    cursor: str | None


class InboxService:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        *,
        search: Callable[[str, int], list[str]],
        contact: Callable[[str], Mapping[str, Any] | None],
        email_of: Callable[[str], str | None] = lambda _user_id: None,
        window_seconds: int = 24 * 3600,
    ) -> None:
        """``search(q, limit)``: the ids of contacts matching ``q`` (the contacts' own index);
        ``contact(id)``: the live contact or None; ``email_of(userId)``: an account's e-mail."""
        self._table: Table = tables["Contacts"]
        self._clock = clock
        self._search = search
        self._contact = contact
        self._email_of = email_of
        self._window = window_seconds

    # -- the hooks -----------------------------------------------------------------------------------

    def record(self, message: Mapping[str, Any]) -> None:
        """A message was stored for a contact: move the conversation forward (see the module docstring)."""
        contact_id = message.get("contactId")
        timestamp = message.get("timestamp")
        channel = message.get("channel")
        if not isinstance(contact_id, str) or not contact_id or not isinstance(channel, str):
            return
        if channel not in _CHANNEL_ATTR:
            return
        if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
            return
        at = float(timestamp)
        inbound = message.get("direction") == "inbound"
        last = last_message(message)
        fields: dict[str, Any] = {
            "kind": KIND,
            "ref": contact_id,
            "inboxBucket": BUCKET,
            "lastActivityAt": at,
            "lastMessage": last,
            "lastMessageId": last["messageId"],
            _CHANNEL_ATTR[channel]: at,
        }
        if inbound:
            fields["lastInboundAt"] = at
        add = {"unreadCount": 1} if inbound else {}
        key = conversation_key(contact_id)
        newer: Condition = Or((not_exists("contactId"), Attr("lastActivityAt", "lt", at)))
        try:
            self._table.update(key, Update(set=fields, add=add), condition=newer)
            return
        except ConditionFailed:
            pass
        # An older message arrived late: it still counts (unread, its channel), but is not the preview.
        late: dict[str, Any] = {_CHANNEL_ATTR[channel]: at}
        try:
            self._table.update(
                key,
                Update(set=late, add=add),
                condition=Attr(_CHANNEL_ATTR[channel], "lt", at) | not_exists(_CHANNEL_ATTR[channel]),
            )
        except ConditionFailed:
            if add:
                self._table.update(key, Update(add=add), condition=exists("contactId"))

    def record_status(self, message: Mapping[str, Any]) -> None:
        """A delivery status moved an outbound message on: the list's ticks follow, if it is the last."""
        contact_id, message_id = message.get("contactId"), message.get("messageId")
        if message.get("origin") == "bulk" or not isinstance(contact_id, str) or not message_id:
            return
        # Not the conversation's last message (or no conversation): nothing on the list shows it.
        with contextlib.suppress(ConditionFailed):
            self._table.update(
                conversation_key(contact_id),
                Update(set={"lastMessage": last_message(message)}),
                condition=Attr("lastMessageId", "eq", message_id),
            )

    def mark_read(self, contact_id: str, *, actor: str) -> dict[str, Any]:
        """Every inbound message of this conversation is seen (by ``actor``, a user id)."""
        contact = self._contact(contact_id)
        if contact is None:
            raise NotFound(f"no contact {contact_id!r}", code="CONTACT_NOT_FOUND")
        now = self._clock.now()
        try:
            item = self._table.update(
                conversation_key(contact_id),
                Update(set={"unreadCount": 0, "seenAt": now, "seenBy": actor}),
                condition=exists("contactId"),
            )
        except ConditionFailed:
            item = {"ref": contact_id, "unreadCount": 0}  # nothing to read yet: no row is written
        return self._present(item, contact, now)

    # -- reading -------------------------------------------------------------------------------------

    def conversations(
        self, filters: ConversationFilter, *, limit: int = 30, cursor: str | None = None
    ) -> ConversationPage:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        now = self._clock.now()
        condition = self._condition(filters, now)
        if filters.q is not None and filters.q.strip():
            if cursor is not None:
                raise InvalidInput(
                    "a search answers one page; send q without a cursor", code="INVALID_CURSOR"
                )
            return ConversationPage(self._searched(filters.q, condition, limit, now), None)
        with as_invalid_input():
            page = self._table.query(
                BUCKET, index=INDEX, filter=condition, limit=limit, cursor=cursor, descending=True
            )
        items = [row for row in (self._row(item, now) for item in page.items) if row is not None]
        return ConversationPage(items, page.cursor)

    def _condition(self, filters: ConversationFilter, now: float) -> Condition:
        parts: list[Condition] = [Attr("kind", "eq", KIND)]
        if filters.channel is not None:
            parts.append(exists(_CHANNEL_ATTR[filters.channel]))
        if filters.unread:
            parts.append(Attr("unreadCount", "gt", 0))
        if filters.window_open:
            parts.append(Attr("lastInboundAt", "gt", now - self._window))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _searched(self, q: str, condition: Condition, limit: int, now: float) -> list[dict[str, Any]]:
        rows = []
        for contact_id in self._search(q, SEARCH_CANDIDATES):
            item = self._table.get(conversation_key(contact_id))
            if item is not None and evaluate(condition, item):
                row = self._row(item, now)
                if row is not None:
                    rows.append(row)
        rows.sort(key=lambda r: (r["lastActivityAt"], r["contactId"]), reverse=True)
        return rows[:limit]

    def _row(self, item: Item, now: float) -> dict[str, Any] | None:
        contact_id = str(item.get("ref") or "")
        contact = self._contact(contact_id)
        if contact is None:
            return None  # the contact was deleted: its conversation leaves the inbox with it
        return self._present(item, contact, now)

    def _present(self, item: Mapping[str, Any], contact: Mapping[str, Any], now: float) -> dict[str, Any]:
        last_inbound = item.get("lastInboundAt", contact.get("lastInboundMessageAt"))
        if not isinstance(last_inbound, int | float) or isinstance(last_inbound, bool) or last_inbound <= 0:
            last_inbound = None
        closes = window_expires_at({"lastInboundMessageAt": last_inbound}, now, self._window)
        seen_by = item.get("seenBy")
        return {
            "contactId": contact["contactId"],
            "contactName": contact.get("name") or None,
            "phone": contact.get("phone") or None,
            "email": contact.get("email") or None,
            "lastActivityAt": item.get("lastActivityAt"),
            "lastMessage": item.get("lastMessage"),
            "unreadCount": int(item.get("unreadCount") or 0),
            "lastInboundAt": last_inbound,
            "windowOpen": closes is not None,
            "windowExpiresAt": closes,
            "channels": [ch for ch in CHANNELS if item.get(_CHANNEL_ATTR[ch]) is not None],
            "seenAt": item.get("seenAt"),
            "seenByEmail": self._email_of(seen_by) if isinstance(seen_by, str) else None,
        }
