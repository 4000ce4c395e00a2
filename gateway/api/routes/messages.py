"""HTTP routes: messages — one send through the gateway, and reading messages back with their decisions.

``POST /api/messages`` takes JSON, or ``multipart/form-data`` with a ``message`` part (the same JSON)
and a ``file`` part for media. Exactly one of ``text``, ``media``, ``template`` or ``email`` says what
to send. The ``Idempotency-Key`` header makes a retry safe: a repeat answers with the first result and
never sends twice; the same key with a different body is a 422 ``IDEMPOTENCY_KEY_REUSED``.

Answers: 201 with the stored message when sent (also for a replay, marked ``Idempotent-Replayed:
true``); 202 when a replayed first attempt is still sending; 422 ``POLICY_DENIED`` listing every
reason code and its message when the policy refused (the message is stored as ``rejected``); 422
``CONTENT_INVALID`` when the channel's own checks refused the content; 502 ``SEND_FAILED`` /
``SEND_OUTCOME_UNKNOWN`` when the provider failed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway import safejson
from gateway.api.deps import ContainerDep, GatewayDep, MessagesDep, PrincipalDep
from gateway.contacts.service import ContactService
from gateway.errors import InvalidInput, NotFound, TooLarge, echo
from gateway.identity.principal import Principal
from gateway.messages.query import public_view
from gateway.messages.status import MessageStatus
from gateway.outbound.gateway import Gateway
from gateway.outbound.types import (
    Content,
    EmailContent,
    MediaContent,
    MediaUpload,
    OutboundRequest,
    PolicyDenied,
    SendFailed,
    SendOutcome,
    TemplateContent,
    TextContent,
)
from gateway.users import UserService

router = APIRouter()

# An API caller waits at most this long for rate-limit tokens, then gets a 429 (nothing is stored).
API_MAX_RATE_WAIT = 10.0
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # WhatsApp's largest media (documents)
MAX_TEXT_CHARS = 65_536  # far above every channel limit: the policy reports CONTENT_TOO_LONG itself
# The largest JSON message: a body of MAX_TEXT_CHARS in any script, with room to spare.
MAX_JSON_BYTES = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextIn(_Strict):
    body: str = Field(max_length=MAX_TEXT_CHARS)


class MediaIn(_Strict):
    mediaKind: Literal["image", "video", "audio", "document", "sticker"]
    fileId: str | None = Field(default=None, min_length=1, max_length=200)
    caption: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    filename: str | None = Field(default=None, max_length=240)


class TemplateIn(_Strict):
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    components: list[dict[str, Any]] = Field(default_factory=list, max_length=50)


class EmailIn(_Strict):
    subject: str = Field(min_length=1, max_length=998)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    html: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)

    @model_validator(mode="after")
    def _some_body(self) -> EmailIn:
        if not (self.text or self.html):
            raise ValueError("an email needs a text or an html body (or both)")
        return self


def require_one_content(body: BaseModel) -> None:
    """A send names exactly one content: text, media, template or email (also for a bulk job)."""
    given = [name for name in ("text", "media", "template", "email") if getattr(body, name) is not None]
    if len(given) != 1:
        raise ValueError(
            "give exactly one of text, media, template or email"
            + (f" (got {', '.join(given)})" if given else "")
        )


class MessageIn(_Strict):
    contactId: str = Field(min_length=1, max_length=100)
    channel: Literal["whatsapp", "sms", "email"]
    text: TextIn | None = None
    media: MediaIn | None = None
    template: TemplateIn | None = None
    email: EmailIn | None = None
    phoneNumberId: str | None = Field(default=None, min_length=1, max_length=200)
    # "ai": sending an AI suggestion; the caller is recorded as the approving operator.
    origin: Literal["api", "ai"] = "api"

    @model_validator(mode="after")
    def _one_content(self) -> MessageIn:
        require_one_content(self)
        return self


def _content(body: MessageIn, upload: MediaUpload | None) -> Content:
    if body.text is not None:
        return TextContent(body.text.body)
    if body.template is not None:
        return TemplateContent(body.template.name, body.template.language, tuple(body.template.components))
    if body.email is not None:
        return EmailContent(body.email.subject, body.email.text, body.email.html)
    assert body.media is not None
    if upload is not None and body.media.fileId is not None:
        raise InvalidInput("send either media.fileId or a file part, not both", code="INVALID_INPUT")
    if upload is None and body.media.fileId is None:
        raise InvalidInput(
            "media needs media.fileId (an uploaded file) or a multipart 'file' part", code="INVALID_INPUT"
        )
    return MediaContent(
        media_kind=body.media.mediaKind,
        file_id=body.media.fileId,
        upload=upload,
        caption=body.media.caption,
        filename=body.media.filename,
    )


def _invalid(exc: ValidationError) -> InvalidInput:
    fields = [
        {"field": ".".join(str(p) for p in err.get("loc", ())) or "body", "problem": str(err.get("msg"))}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
    return InvalidInput(f"the message is not valid: {summary}", details={"fields": fields})


async def _read_body(request: Request) -> tuple[MessageIn, MediaUpload | None]:
    content_type = request.headers.get("content-type", "")
    upload: MediaUpload | None = None
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled upload files on the way out
            raw = form.get("message")
            if not isinstance(raw, str):
                raise InvalidInput("a multipart request needs a 'message' part holding the message JSON")
            file = form.get("file")
            if file is not None and not isinstance(file, str):
                data = await file.read(MAX_UPLOAD_BYTES + 1)
                if len(data) > MAX_UPLOAD_BYTES:
                    raise InvalidInput(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
                upload = MediaUpload(data, file.content_type or "application/octet-stream", file.filename)
    elif content_type.split(";")[0].strip() in ("application/json", ""):
        raw = (await _bounded_body(request)).decode("utf-8", errors="replace")
    else:
        raise InvalidInput("send application/json, or multipart/form-data for media files")
    if len(raw) > MAX_JSON_BYTES:
        raise TooLarge(f"the message JSON is larger than {MAX_JSON_BYTES // 1024} KB")
    try:
        payload = safejson.loads(raw, "the message")
    except safejson.JsonInputError as exc:
        raise InvalidInput("the message is not valid JSON", details={"problem": str(exc)}) from None
    try:
        return MessageIn.model_validate(payload), upload
    except ValidationError as exc:
        raise _invalid(exc) from None


async def _bounded_body(request: Request) -> bytes:
    """The request body, refused once it grows past ``MAX_JSON_BYTES`` (never read whole into memory)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise TooLarge(
                f"the message JSON is larger than {MAX_JSON_BYTES // 1024} KB; "
                "send media files as multipart/form-data"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(outcome: SendOutcome) -> JSONResponse:
    message = public_view(outcome.message)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    if outcome.status is MessageStatus.rejected:
        reasons = [{"code": r.code, "message": r.message} for r in outcome.decision.reason_details()]
        codes = ", ".join(r["code"] for r in reasons) or "no reason given"
        if any(r["code"] == "CONTACT_NOT_FOUND" for r in reasons):
            # Nobody to send to: the caller named a contact that does not exist (the refusal is stored
            # like any other, so the attempt stays on record).
            raise NotFound(
                "no contact has this contactId; the send was refused and recorded",
                code="CONTACT_NOT_FOUND",
                details={"messageId": outcome.message_id, "reasons": reasons, "replayed": outcome.replayed},
            )
        raise PolicyDenied(
            f"the message was not sent: the policy refused it ({codes})",
            details={
                "messageId": outcome.message_id,
                "reasons": reasons,
                "warnings": outcome.decision.warnings,
                "replayed": outcome.replayed,
            },
        )
    error = dict(outcome.error or {})
    if outcome.failure == "content":
        raise InvalidInput(
            f"the {outcome.channel} channel refused the content: {error.get('message')}",
            code="CONTENT_INVALID",
            details={"messageId": outcome.message_id, "errorDetails": error},
        )
    if outcome.failure is not None:
        raise SendFailed(
            f"the {outcome.channel} provider did not accept the message: {error.get('message')}"
            if outcome.failure == "provider"
            else "the provider's answer was lost; the message was not resent — check before sending again",
            code="SEND_FAILED" if outcome.failure == "provider" else "SEND_OUTCOME_UNKNOWN",
            details={"messageId": outcome.message_id, "errorDetails": error},
        )
    status_code = 202 if outcome.status is MessageStatus.sending else 201
    return JSONResponse(
        {"message": message, "replayed": outcome.replayed}, status_code=status_code, headers=headers
    )


@router.post("/messages", status_code=201)
async def send_message(request: Request, principal: PrincipalDep, gateway: GatewayDep) -> JSONResponse:
    body, upload = await _read_body(request)
    return await _send(request, principal, gateway, body, upload)


@router.post("/channels/{channel}/messages", status_code=201)
async def send_on_channel(
    channel: str, request: Request, principal: PrincipalDep, gateway: GatewayDep
) -> JSONResponse:
    """The same send, addressed to one channel's path: in AWS each channel's function (outbound-whatsapp,
    outbound-sms, outbound-email) is routed its own path, since API Gateway cannot route on the body."""
    if channel not in CHANNEL_PATHS:
        raise NotFound(f"no such channel: {echo(channel)} (use {', '.join(CHANNEL_PATHS)})")
    body, upload = await _read_body(request)
    if body.channel != channel:
        raise InvalidInput(
            f"the message's channel is {body.channel!r} but it was sent to /api/channels/{channel}/messages",
            details={"fields": [{"field": "channel", "problem": f"must be {channel!r} on this path"}]},
        )
    return await _send(request, principal, gateway, body, upload)


CHANNEL_PATHS = ("whatsapp", "sms", "email")


async def _send(
    request: Request,
    principal: Principal,
    gateway: Gateway,
    body: MessageIn,
    upload: MediaUpload | None,
) -> JSONResponse:
    key = request.headers.get("idempotency-key")
    outbound = OutboundRequest(
        contact_id=body.contactId,
        channel=body.channel,
        content=_content(body, upload),
        origin=body.origin,
        actor=principal.user_id,
        approved_by=principal.user_id if body.origin == "ai" else "",
        phone_number_id=body.phoneNumberId,
        idempotency_key=key,
    )
    outcome = await run_in_threadpool(gateway.send, outbound, max_rate_wait=API_MAX_RATE_WAIT)
    return _answer(outcome)


@router.get("/messages")
def list_messages(
    messages: MessagesDep,
    *,
    contactId: str | None = Query(None, min_length=1, max_length=100),
    channel: str | None = Query(None),
    status: str | None = Query(None),
    direction: str | None = Query(None),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=4096),
) -> dict[str, Any]:
    page = messages.list_page(
        contact_id=contactId, channel=channel, status=status, direction=direction, limit=limit, cursor=cursor
    )
    return {"items": page.items, "cursor": page.cursor}


@router.get("/messages/{message_id}")
def read_message(message_id: str, messages: MessagesDep, container: ContainerDep) -> dict[str, Any]:
    message = messages.get(message_id)
    # Names, not ids, for the person reading it: who sent it and to whom (None when not known).
    users: UserService | None = getattr(container, "users", None)
    message["createdByEmail"] = users.email_of(message.get("createdBy")) if users is not None else None
    message["contactName"] = _contact_name(getattr(container, "contacts", None), message.get("contactId"))
    return message


def _contact_name(contacts: ContactService | None, contact_id: object) -> str | None:
    if contacts is None or not isinstance(contact_id, str) or not contact_id:
        return None
    try:
        contact = contacts.get(contact_id, include_deleted=True)
    except NotFound:
        return None
    name = contact.get("name")
    return str(name) if name else None
