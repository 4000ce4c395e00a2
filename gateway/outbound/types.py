"""What the gateway is asked to send, and what it answers.

:class:`OutboundRequest` is the one request shape every sender uses (the API, a bulk worker, an approved
AI suggestion); :class:`SendOutcome` is the gateway's answer. Both are plain frozen dataclasses so the
service layer does not depend on the HTTP models (the API validates with pydantic and builds these).

A request never carries a recipient address: the gateway resolves it from the contact, so a caller
cannot message an address that has not been through the opt-in checks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from channels.base import Channel, MediaKind
from channels.dryrun import DryRunRecord
from gateway.errors import DomainError, InvalidInput
from gateway.messages.status import MessageStatus

Kind = Literal["text", "media", "template", "email"]
Origin = Literal["api", "bulk", "ai"]
Category = Literal["template", "free-form", "service"]

CHANNELS: tuple[Channel, ...] = ("whatsapp", "sms", "email")
ORIGINS: tuple[Origin, ...] = ("api", "bulk", "ai")

# Which content kinds each channel can carry.
KINDS_BY_CHANNEL: Mapping[Channel, tuple[Kind, ...]] = {
    "whatsapp": ("text", "media", "template"),
    "sms": ("text",),
    "email": ("email",),
}


@dataclass(frozen=True)
class TextContent:
    """Free-form text: a WhatsApp text message or an SMS body."""

    body: str


@dataclass(frozen=True)
class MediaUpload:
    """Media bytes sent with the request (multipart); the LIVE driver uploads them to the media bucket."""

    content: bytes
    mime_type: str
    filename: str | None = None


@dataclass(frozen=True)
class MediaContent:
    """WhatsApp media, given either as an uploaded-file id (``MediaFiles``) or as bytes (``upload``)."""

    media_kind: MediaKind
    file_id: str | None = None
    upload: MediaUpload | None = None
    caption: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class TemplateContent:
    """A pre-approved WhatsApp template; ``components`` are Meta's array, passed through unchanged."""

    name: str
    language: str
    components: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str | None = None
    html: str | None = None


Content: TypeAlias = TextContent | MediaContent | TemplateContent | EmailContent

_KIND_OF: Mapping[type, Kind] = {
    TextContent: "text",
    MediaContent: "media",
    TemplateContent: "template",
    EmailContent: "email",
}


def content_document(content: Content) -> dict[str, Any]:
    """Content as stored on a message record (media bytes summarised, never stored)."""
    if isinstance(content, TextContent):
        return {"type": "text", "body": content.body}
    if isinstance(content, TemplateContent):
        return {
            "type": "template",
            "name": content.name,
            "language": content.language,
            "components": [dict(c) for c in content.components],
        }
    if isinstance(content, EmailContent):
        doc: dict[str, Any] = {"type": "email", "subject": content.subject}
        if content.text is not None:
            doc["text"] = content.text
        if content.html is not None:
            doc["html"] = content.html
        return doc
    media: dict[str, Any] = {"type": "media", "mediaKind": content.media_kind}
    if content.file_id is not None:
        media["fileId"] = content.file_id
    if content.upload is not None:
        media["upload"] = {
            "bytes": len(content.upload.content),
            "sha256": hashlib.sha256(content.upload.content).hexdigest(),
            "mimeType": content.upload.mime_type,
        }
    if content.caption is not None:
        media["caption"] = content.caption
    filename = content.filename or (content.upload.filename if content.upload else None)
    if filename is not None:
        media["filename"] = filename
    return media


@dataclass(frozen=True, kw_only=True)
class OutboundRequest:
    """One message to one contact.

    ``actor`` is who asked (a user id, or e.g. ``"bulk:<jobId>"``); it scopes ``idempotency_key``.
    ``message_id`` lets a caller derive the id from a natural key (a bulk recipient): a second send
    with the same id returns the first result instead of sending again. ``context`` is stored with the
    message as-is (e.g. ``{"bulkJobId": ...}``).
    """

    contact_id: str
    channel: Channel
    content: Content
    origin: Origin = "api"
    actor: str = ""
    approved_by: str = ""
    phone_number_id: str | None = None
    idempotency_key: str | None = None
    message_id: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.contact_id, str) or not self.contact_id.strip():
            problems.append("contactId is required")
        if self.channel not in CHANNELS:
            problems.append(f"channel must be one of {', '.join(CHANNELS)}, got {self.channel!r}")
        elif type(self.content) not in _KIND_OF:
            problems.append("content must be text, media, template or email content")
        elif self.kind not in KINDS_BY_CHANNEL[self.channel]:
            allowed = " or ".join(KINDS_BY_CHANNEL[self.channel])
            article = "an" if self.channel[:1] in "aeiou" else "a"
            problems.append(f"{article} {self.channel} message must be {allowed} content, not {self.kind}")
        if self.origin not in ORIGINS:
            problems.append(f"origin must be one of {', '.join(ORIGINS)}, got {self.origin!r}")
        if self.phone_number_id is not None and self.channel != "whatsapp":
            problems.append("phoneNumberId applies to WhatsApp messages only")
        if isinstance(self.content, MediaContent) and (self.content.file_id is None) == (
            self.content.upload is None
        ):
            problems.append("media needs exactly one of fileId or an uploaded file")
        if self.idempotency_key is not None and not 1 <= len(self.idempotency_key) <= 255:
            problems.append("Idempotency-Key must be 1 to 255 characters")
        if problems:
            raise InvalidInput("; ".join(problems), details={"problems": problems})

    @property
    def kind(self) -> Kind:
        return _KIND_OF[type(self.content)]

    @property
    def category(self) -> Category:
        """Cost-report category (requirement 16.7).

        ``template``: a WhatsApp template (billed as a template conversation); ``free-form``: WhatsApp
        text or media (only allowed inside the customer-service window); ``service``: SMS and email,
        which have no WhatsApp conversation pricing.
        """
        if self.channel != "whatsapp":
            return "service"
        return "template" if self.kind == "template" else "free-form"

    @property
    def body_length(self) -> int:
        """Code points of the text, caption or email text body (the policy input's ``bodyLength``)."""
        content = self.content
        if isinstance(content, TextContent):
            return len(content.body)
        if isinstance(content, MediaContent):
            return len(content.caption or "")
        if isinstance(content, EmailContent):
            return len(content.text or "")
        return 0

    @property
    def template_name(self) -> str:
        return self.content.name if isinstance(self.content, TemplateContent) else ""

    def content_document(self) -> dict[str, Any]:
        """The content as stored on the message record (media bytes summarised, never stored)."""
        return content_document(self.content)

    def fingerprint(self) -> str:
        """A hash of everything that makes two requests "the same" (for Idempotency-Key reuse checks)."""
        doc = {
            "contactId": self.contact_id,
            "channel": self.channel,
            "origin": self.origin,
            "approvedBy": self.approved_by,
            "phoneNumberId": self.phone_number_id,
            "messageId": self.message_id,
            "content": self.content_document(),
            "context": dict(self.context),
        }
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


Status = Literal["rejected", "sending", "sent", "delivered", "read", "failed", "unknown"]


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


class DecisionRecord(Mapping[str, Any]):
    """A stored decision, typed (allowed, reasons with their messages, warnings), and still readable as
    the JSON document stored with the message (``record["audits"]``)."""

    def __init__(self, document: Mapping[str, Any] | None) -> None:
        self._doc: dict[str, Any] = dict(document or {})

    def __getitem__(self, key: str) -> Any:
        return self._doc[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._doc)

    def __len__(self) -> int:
        return len(self._doc)

    def __repr__(self) -> str:
        return f"DecisionRecord({self._doc!r})"

    @property
    def allowed(self) -> bool:
        return bool(self._doc.get("allowed"))

    @property
    def reasons(self) -> list[str]:
        return [str(r) for r in self._doc.get("reasons", []) or []]

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self._doc.get("warnings", []) or []]

    def reason_details(self) -> list[Reason]:
        """Each deny reason with the message of the first rule that gave it."""
        messages: dict[str, str] = {}
        for violation in self._doc.get("violations", []) or []:
            code = str(violation.get("reason", ""))
            if code and code not in messages:
                messages[code] = str(violation.get("message", ""))
        return [Reason(code, messages.get(code, "")) for code in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        return dict(self._doc)


Failure = Literal["content", "provider", "unknown"]


@dataclass(frozen=True)
class SendOutcome:
    """The gateway's answer for one request.

    ``status`` is the stored message's status: ``rejected`` (policy said no; nothing was sent),
    ``sent``, ``failed`` (``error`` says why), or — for a repeat of a request still in flight —
    ``sending``. ``failure`` says what kind of failure it was: the channel refused the content before
    sending (``content``), the provider refused or failed it (``provider``), or nobody knows whether it
    left (``unknown``). ``replayed`` is true when this is the stored result of an earlier identical request.
    """

    message_id: str
    status: MessageStatus
    channel: str
    decision: DecisionRecord
    message: Mapping[str, Any]
    error: Mapping[str, Any] | None = None
    replayed: bool = False
    failure: Failure | None = None

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def reasons(self) -> list[str]:
        return self.decision.reasons


class SendFailed(DomainError):
    """The provider refused or failed the send; the message is stored as ``failed``."""

    code = "SEND_FAILED"


class PolicyDenied(DomainError):
    """The policy refused the message; it is stored as ``rejected`` and nothing was sent."""

    code = "POLICY_DENIED"


class Outbox:
    """Where DRY_RUN recorders put what they would have sent, until the gateway stores it on the message.

    Pass ``outbox.append`` as the recorders' ``sink``; the gateway ``take``s each record by the id the
    recorder returned. Bounded, so records nobody takes cannot grow without limit.
    """

    def __init__(self, keep: int = 1000) -> None:
        self._lock = threading.Lock()
        self._records: OrderedDict[str, DryRunRecord] = OrderedDict()
        self._keep = keep

    def append(self, record: DryRunRecord) -> None:
        with self._lock:
            self._records[record.id] = record
            while len(self._records) > self._keep:
                self._records.popitem(last=False)

    def take(self, record_id: str) -> DryRunRecord | None:
        with self._lock:
            return self._records.pop(record_id, None)
