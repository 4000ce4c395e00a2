"""What every channel driver takes, plans, returns — and the one small interface they all share.

A send is two steps, kept apart on purpose:

1. ``build_request(message) -> PreparedRequest`` is **pure**: it checks the content (raising
   :class:`~channels.errors.ContentInvalid`) and lays out the exact AWS API calls the send would make,
   in order, as :class:`ApiCall` values (botocore service name, API operation name, parameters).
   Nothing is uploaded or sent. The DRY_RUN recorder uses only this step.
2. ``send(prepared) -> SendResult`` performs those calls (LIVE).

Inputs (frozen dataclasses, one per message kind):

- :class:`WhatsAppText` — free-form text (≤ 4,096 characters), optional link preview.
- :class:`WhatsAppMedia` — image / video / audio / document / sticker, given either as ``content`` bytes
  (uploaded to the media bucket first) or as an already stored S3 object ``source``; optional
  ``caption`` (not for audio or stickers) and ``filename`` (documents only).
- :class:`WhatsAppTemplate` — a pre-approved template by ``name`` and ``language`` code, with Meta's
  ``components`` array passed through unchanged.
- :class:`Sms` — text up to 1,600 characters; ``pool_id`` overrides the driver's default pool.
- :class:`Email` — subject plus text and/or HTML body; ``from_address``/``from_name`` override the
  driver's verified sender.

Recipients: phone numbers are E.164, with or without the leading ``+`` (drivers always send ``+``).
Results: :class:`SendResult` carries the provider's message id (for WhatsApp the id the gateway stores
as ``whatsappMessageId``), the AWS request id, and channel-specific ``extra`` facts (SMS encoding and
segment count, WhatsApp media id and S3 key, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

Channel = Literal["whatsapp", "sms", "email"]
MessageKind = Literal["text", "media", "template", "sms", "email"]
MediaKind = Literal["image", "video", "audio", "document", "sticker"]


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


@dataclass(frozen=True)
class WhatsAppText:
    to: str
    phone_number_id: str
    body: str
    preview_url: bool = False


@dataclass(frozen=True)
class WhatsAppMedia:
    to: str
    phone_number_id: str
    kind: MediaKind
    mime_type: str
    content: bytes | None = None
    source: S3Location | None = None
    caption: str | None = None
    filename: str | None = None
    # Stickers only: animated WebP may be 500 KB, static 100 KB. Detected from ``content`` when None;
    # for an S3 source with no answer the stricter static limit applies.
    animated: bool | None = None


@dataclass(frozen=True)
class WhatsAppTemplate:
    to: str
    phone_number_id: str
    name: str
    language: str
    components: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    pool_id: str | None = None
    # Up to 5 key/value pairs AWS echoes back in delivery events (e.g. our message id).
    context: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str | None = None
    html: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    reply_to: tuple[str, ...] = ()


OutboundMessage: TypeAlias = WhatsAppText | WhatsAppMedia | WhatsAppTemplate | Sms | Email


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call: ``service`` as botocore names it, ``operation`` as the API model names it."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class PreparedRequest:
    """The exact calls a send makes, in order, plus facts worth storing (``info``)."""

    channel: Channel
    kind: MessageKind
    calls: tuple[ApiCall, ...]
    info: Mapping[str, Any] = field(default_factory=dict)

    def call(self, operation: str) -> ApiCall:
        """The (first) call of ``operation``; KeyError when the plan has none."""
        for call in self.calls:
            if call.operation == operation:
                return call
        raise KeyError(operation)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    request_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class RequestBuilder(Protocol):
    """Pure half of a driver: turns a message into the exact AWS calls. Holds no AWS client."""

    @property
    def channel(self) -> Channel: ...

    def build_request(self, message: OutboundMessage) -> PreparedRequest: ...


class ChannelDriver(RequestBuilder, Protocol):
    """A driver the gateway calls: ``send(build_request(message))``."""

    def send(self, prepared: PreparedRequest) -> SendResult: ...
