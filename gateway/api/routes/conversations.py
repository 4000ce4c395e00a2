"""HTTP routes: the DM inbox (conversations newest first, unread markers; see :mod:`gateway.inbox.service`).

Clients follow it by polling with ``If-None-Match`` (every ``GET /api/*`` answer carries an ``ETag``;
see :mod:`gateway.api.etag`), not Server-Sent Events: API Gateway's HTTP API in front of Lambda cannot
stream a response, and one way of keeping up to date in both runtimes is simpler to trust.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from gateway.api.deps import InboxDep, PrincipalDep
from gateway.inbox.service import ConversationFilter

router = APIRouter(tags=["inbox"])


@router.get("/conversations")
def list_conversations(
    principal: PrincipalDep,
    inbox: InboxDep,
    *,
    channel: Literal["whatsapp", "sms", "email"] | None = Query(None),
    unread: bool = Query(False, description="only conversations with inbound messages nobody has seen"),
    window: Literal["open"] | None = Query(None, description="open: only contacts inside their 24 h window"),
    q: str | None = Query(None, max_length=200, description="a contact's name, e-mail or phone number"),
    limit: int = Query(30, ge=1, le=100),
    cursor: str | None = Query(None, max_length=4096),
) -> dict[str, Any]:
    filters = ConversationFilter(channel=channel, unread=unread, window_open=window == "open", q=q)
    page = inbox.conversations(filters, limit=limit, cursor=cursor)
    return {"items": page.items, "cursor": page.cursor}


@router.post("/conversations/{contact_id}/read")
def mark_conversation_read(contact_id: str, principal: PrincipalDep, inbox: InboxDep) -> dict[str, Any]:
    return {"conversation": inbox.mark_read(contact_id, actor=principal.user_id)}
