"""Outbound dead letters: a send that was accepted but could not be carried out, replayed through
the gateway.

A dead-lettered outbound request is a JSON document in the shape of ``POST /api/messages`` plus the
fields that make its replay safe::

    {"messageId": "msg_…", "actor": "usr_…", "contactId": "ct_…", "channel": "sms",
     "text": {"body": "…"}, "origin": "api"}

``messageId`` is required: the gateway returns the first result for a message id it has seen, so a
replay can never send twice. The replay goes through ``gateway.send()`` like any other message, so the
policy is evaluated again at replay time (consent withdrawn since? the window closed? it is refused).
A policy refusal is a final answer, not a failure: the dead letter is done; so is a message that already
has a record. Only a send that still cannot be carried out (the store or the provider is down, or the
provider refused it now) fails the replay and keeps the letter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from gateway import safejson
from gateway.errors import InvalidInput
from gateway.outbound.types import (
    Content,
    EmailContent,
    MediaContent,
    OutboundRequest,
    SendOutcome,
    TemplateContent,
    TextContent,
)

_CONTENT_FIELDS = ("text", "media", "template", "email")


class Sender(Protocol):
    def send(self, request: OutboundRequest) -> SendOutcome: ...


class OutboundReplayFailed(Exception):
    """The replayed send still could not be carried out; the dead letter stays."""


def _str(doc: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"outbound dead letter: '{name}' must be a non-empty string")
    return value


def _content(doc: Mapping[str, Any]) -> Content:
    given = [name for name in _CONTENT_FIELDS if doc.get(name) is not None]
    if len(given) != 1:
        raise InvalidInput("outbound dead letter: give exactly one of text, media, template or email")
    part = doc[given[0]]
    if not isinstance(part, Mapping):
        raise InvalidInput(f"outbound dead letter: '{given[0]}' must be an object")
    if given[0] == "text":
        body = part.get("body")
        if not isinstance(body, str):
            raise InvalidInput("outbound dead letter: text.body must be a string")
        return TextContent(body)
    if given[0] == "template":
        components = part.get("components", [])
        if not isinstance(components, list):
            raise InvalidInput("outbound dead letter: template.components must be a list")
        return TemplateContent(str(_str(part, "name")), str(_str(part, "language")), tuple(components))
    if given[0] == "email":
        return EmailContent(
            str(_str(part, "subject")), _str(part, "text", required=False), _str(part, "html", required=False)
        )
    return MediaContent(
        media_kind=part.get("mediaKind"),  # type: ignore[arg-type]  # validated by OutboundRequest
        file_id=_str(part, "fileId"),
        caption=_str(part, "caption", required=False),
        filename=_str(part, "filename", required=False),
    )


def request_from_document(doc: Any) -> OutboundRequest:
    if not isinstance(doc, Mapping):
        raise InvalidInput("outbound dead letter: expected a JSON object")
    return OutboundRequest(
        contact_id=str(_str(doc, "contactId")),
        channel=doc.get("channel"),  # type: ignore[arg-type]  # validated by OutboundRequest
        content=_content(doc),
        origin=doc.get("origin", "api"),
        actor=str(_str(doc, "actor")),
        approved_by=str(doc.get("approvedBy", "")),
        phone_number_id=_str(doc, "phoneNumberId", required=False),
        message_id=_str(doc, "messageId"),
    )


def replay_outbound(gateway: Sender, payload: str) -> SendOutcome:
    """The ``outbound-dlq`` replay handler: one dead-lettered request through ``gateway.send()``."""
    try:
        doc = safejson.loads(payload, "the outbound dead letter")
    except safejson.JsonInputError as exc:
        raise InvalidInput(str(exc)) from None
    outcome = gateway.send(request_from_document(doc))
    # A message that already has a final record (sent, rejected, failed) is accounted for: the record
    # stands and nothing is resent. Only a send that failed now keeps the dead letter.
    if outcome.status in ("failed", "unknown") and not outcome.replayed:
        error = dict(outcome.error or {})
        raise OutboundReplayFailed(
            f"message {outcome.message_id} is {outcome.status}: {error.get('message', 'no detail')}"
        )
    return outcome
