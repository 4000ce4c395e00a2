"""Pure parsing of inbound WhatsApp events: SNS records, EUM Social envelopes and Meta webhook entries.

Every entry point of the inbound pipeline (the Lambda's SNS event, the SNS HTTPS subscription, Meta's
own webhook, captured files) ends up here, so there is one reading of the payload. Nothing in this
module does I/O or reads the clock.

Shapes (see the fixtures' README):

- an SNS->Lambda event ``{"Records": [{"Sns": {"Message": "<envelope JSON>", ...}}]}``;
- an SNS HTTPS body ``{"Type": "Notification", "Message": "<envelope JSON>", ...}``;
- the bare EUM Social envelope ``{"context": {...}, "whatsAppWebhookEntry": "<entry JSON>", ...}`` whose
  ``whatsAppWebhookEntry`` is a JSON *string* holding one Meta ``entry`` ``{id, changes[{value, field}]}``;
- Meta's own webhook body ``{"object": "whatsapp_business_account", "entry": [...]}``.

Meta ids and timestamps are strings; an unknown message type is kept as ``unsupported`` with its raw
JSON. Anything we cannot read raises :class:`PayloadError` with a message a person can act on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway import safejson
from gateway.inbound.errors import PayloadError

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
KNOWN_TYPES = MEDIA_TYPES | {"text", "location", "contacts", "interactive", "button", "reaction"}
STATUS_VALUES = ("sent", "delivered", "read", "failed")

_WA_ID = re.compile(r"\d{6,15}")
_PHONE_ARN = re.compile(r"^arn:aws[\w-]*:social-messaging:[\w-]+:\d{12}:phone-number-id/([0-9a-f]{32})$")

Source = Literal["eum", "meta"]


@dataclass(frozen=True)
class RawEvent:
    """One unit of work as received: what goes to the DLQ verbatim when processing fails.

    ``source`` says how to read ``body``: ``eum`` = an EUM Social envelope (the SNS ``Message``),
    ``meta`` = one Meta webhook ``entry``. ``original_id`` names the delivery (the SNS MessageId when
    there is one, else a hash of the body) so dead letters of the same delivery are one record.
    """

    source: Source
    body: str
    original_id: str

    def to_payload(self) -> str:
        return json.dumps({"source": self.source, "body": self.body, "originalId": self.original_id})

    @classmethod
    def from_payload(cls, payload: str) -> RawEvent:
        data = load_json(payload, "dead-letter payload")
        if not isinstance(data, dict) or data.get("source") not in ("eum", "meta"):
            raise PayloadError("dead-letter payload is not an inbound event: expected {source, body}")
        body = data.get("body")
        if not isinstance(body, str):
            raise PayloadError("dead-letter payload has no 'body' string")
        original = data.get("originalId")
        original_id = original if isinstance(original, str) and original else body_id(body)
        return cls(data["source"], body, original_id)


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime_type: str
    sha256: str = ""
    filename: str = ""


@dataclass(frozen=True)
class InboundMessage:
    whatsapp_message_id: str
    wa_id: str
    phone: str  # E.164: "+" + wa_id
    profile_name: str
    timestamp: int  # epoch seconds, as Meta stamped it
    type: str  # one of KNOWN_TYPES or "unsupported"
    content: dict[str, Any]
    text: str  # the words the customer sent or tapped ("" if none): keyword matching reads this
    media: MediaRef | None
    phone_number_id: str  # EUM id "phone-number-id-<32 hex>", "" when not known (Meta webhook)
    meta_phone_number_id: str
    display_phone_number: str


@dataclass(frozen=True)
class StatusUpdate:
    whatsapp_message_id: str
    status: str  # sent | delivered | read | failed (or another value Meta adds; kept, not applied)
    timestamp: int
    recipient_id: str
    errors: list[dict[str, Any]]
    conversation: dict[str, Any] | None
    pricing: dict[str, Any] | None
    phone_number_id: str
    meta_phone_number_id: str
    aws_message_id: str  # the AWS messageId SendWhatsAppMessage returned ("" if absent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "whatsappMessageId": self.whatsapp_message_id,
            "status": self.status,
            "timestamp": self.timestamp,
            "recipientId": self.recipient_id,
            "errors": self.errors,
            "conversation": self.conversation,
            "pricing": self.pricing,
            "phoneNumberId": self.phone_number_id,
            "metaPhoneNumberId": self.meta_phone_number_id,
            "awsMessageId": self.aws_message_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatusUpdate:
        return cls(
            whatsapp_message_id=str(data["whatsappMessageId"]),
            status=str(data["status"]),
            timestamp=int(data["timestamp"]),
            recipient_id=str(data.get("recipientId", "")),
            errors=list(data.get("errors") or []),
            conversation=data.get("conversation"),
            pricing=data.get("pricing"),
            phone_number_id=str(data.get("phoneNumberId", "")),
            meta_phone_number_id=str(data.get("metaPhoneNumberId", "")),
            aws_message_id=str(data.get("awsMessageId", "")),
        )


@dataclass(frozen=True)
class ParsedEntry:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # changes we deliberately skip, with why
    phone_ids: dict[str, str] = field(default_factory=dict)  # Meta phone_number_id -> EUM id


# ---------------------------------------------------------------------------------------------- helpers


def body_id(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


def load_json(text: str | bytes, what: str) -> Any:
    """Untrusted JSON: malformed, non-UTF-8 or absurdly nested input is a PayloadError (dead-lettered)."""
    try:
        return safejson.loads(text, what)
    except safejson.JsonInputError as exc:
        raise PayloadError(str(exc)) from None


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _sub(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _str(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} has no '{key}'")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else ""


def _epoch(data: Mapping[str, Any], key: str, what: str) -> int:
    raw = data.get(key)
    try:
        value = int(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    except ValueError:
        value = None
    if value is None or value < 0:
        raise PayloadError(f"{what} has no valid '{key}' (epoch seconds), got {raw!r}")
    return value


def eum_phone_number_id(arn: str) -> str:
    """``arn:...:phone-number-id/<32 hex>`` -> ``phone-number-id-<32 hex>`` (the id EUM APIs take)."""
    match = _PHONE_ARN.match(arn)
    if match is None:
        raise PayloadError(f"not an EUM phone-number ARN: {arn!r}")
    return "phone-number-id-" + match.group(1)


# ---------------------------------------------------------------------------------------- the wrappers


def split_document(doc: Any) -> list[RawEvent]:
    """Every event in a captured document, whatever wrapper it came in (for replaying files)."""
    if isinstance(doc, list):
        return [event for item in doc for event in split_document(item)]
    data = _obj(doc, "event document")
    if "Records" in data:
        records = data["Records"]
        if not isinstance(records, list):
            raise PayloadError("'Records' must be a list of SNS records")
        return [sns_record_event(r) for r in records]
    if "Type" in data and "Message" in data:
        return [sns_notification_event(data)]
    if "whatsAppWebhookEntry" in data or "context" in data:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return [RawEvent("eum", body, body_id(body))]
    if "entry" in data:
        return meta_body_events(data)
    raise PayloadError(
        "unrecognised event document: expected an SNS event (Records), an SNS notification (Type, Message), "
        "an EUM envelope (whatsAppWebhookEntry) or a Meta webhook body (object, entry)"
    )


def sns_record_event(record: Any) -> RawEvent:
    rec = _obj(record, "SNS record")
    sns = _obj(rec.get("Sns"), "SNS record 'Sns'")
    return sns_notification_event(sns)


def sns_notification_event(sns: Mapping[str, Any]) -> RawEvent:
    message = sns.get("Message")
    if not isinstance(message, str):
        raise PayloadError("SNS notification has no 'Message' string")
    mid = sns.get("MessageId")
    return RawEvent("eum", message, mid if isinstance(mid, str) and mid else body_id(message))


def meta_body_events(body: Any) -> list[RawEvent]:
    data = _obj(body, "Meta webhook body")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("Meta webhook body has no 'entry' list")
    out = []
    for entry in entries:
        text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        out.append(RawEvent("meta", text, body_id(text)))
    return out


def parse_event(event: RawEvent, phone_ids: Mapping[str, str] | None = None) -> ParsedEntry:
    """Decode one raw event (``phone_ids`` maps Meta phone_number_id -> EUM id for Meta's own webhook)."""
    if event.source == "eum":
        return parse_eum_envelope(load_json(event.body, "EUM envelope (SNS Message)"))
    return parse_meta_entry(load_json(event.body, "Meta webhook entry"), phone_ids or {})


def parse_eum_envelope(envelope: Any) -> ParsedEntry:
    env = _obj(envelope, "EUM envelope")
    if "whatsAppWebhookEntry" not in env:
        raise PayloadError("EUM envelope has no 'whatsAppWebhookEntry'")
    raw_entry = env["whatsAppWebhookEntry"]
    if isinstance(raw_entry, str):
        entry = load_json(raw_entry, "whatsAppWebhookEntry")
    elif isinstance(raw_entry, dict):  # tolerate an already-decoded entry
        entry = raw_entry
    else:
        raise PayloadError(f"whatsAppWebhookEntry must be a JSON string, got {type(raw_entry).__name__}")
    phone_ids: dict[str, str] = {}
    context = env.get("context")
    if isinstance(context, dict):
        for item in context.get("MetaPhoneNumberIds") or []:
            if isinstance(item, dict) and isinstance(item.get("arn"), str):
                match = _PHONE_ARN.match(item["arn"])
                if match is not None:  # an id we cannot read only costs us the mapping, not the event
                    phone_ids[_opt_str(item, "metaPhoneNumberId")] = "phone-number-id-" + match.group(1)
    aws_message_id = env.get("messageId")
    parsed = parse_meta_entry(entry, phone_ids, aws_message_id if isinstance(aws_message_id, str) else "")
    return ParsedEntry(parsed.messages, parsed.statuses, parsed.ignored, phone_ids)


def parse_meta_entry(entry: Any, phone_ids: Mapping[str, str], aws_message_id: str = "") -> ParsedEntry:
    data = _obj(entry, "whatsAppWebhookEntry")
    changes = data.get("changes")
    if not isinstance(changes, list):
        raise PayloadError("webhook entry has no 'changes' list")
    result = ParsedEntry()
    for i, change in enumerate(changes):
        ch = _obj(change, f"changes[{i}]")
        field_name = ch.get("field")
        if field_name != "messages":
            result.ignored.append(f"changes[{i}]: field {field_name!r} is not a message event")
            continue
        value = _obj(ch.get("value"), f"changes[{i}].value")
        metadata = _sub(value, "metadata")
        meta_phone = _opt_str(metadata, "phone_number_id")
        display = _opt_str(metadata, "display_phone_number")
        eum_phone = phone_ids.get(meta_phone, "")
        if not eum_phone and not meta_phone and len(phone_ids) == 1:
            eum_phone = next(iter(phone_ids.values()))  # an envelope is about exactly one number
        names = _profile_names(value.get("contacts"))
        for j, msg in enumerate(_list(value, "messages", i)):
            result.messages.append(
                _message(_obj(msg, f"changes[{i}].messages[{j}]"), names, eum_phone, meta_phone, display)
            )
        for j, st in enumerate(_list(value, "statuses", i)):
            result.statuses.append(
                _status(_obj(st, f"changes[{i}].statuses[{j}]"), eum_phone, meta_phone, aws_message_id)
            )
    return result


def _list(value: Mapping[str, Any], key: str, i: int) -> list[Any]:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise PayloadError(f"changes[{i}].value.{key} must be a list")
    return items


def _profile_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in contacts if isinstance(contacts, list) else []:
        if not isinstance(contact, dict):
            continue
        profile = _sub(contact, "profile")
        wa_id = _opt_str(contact, "wa_id")
        name = _opt_str(profile, "name")
        if wa_id and name:
            names[wa_id] = name
    return names


# ------------------------------------------------------------------------------------------- messages


def _message(
    msg: dict[str, Any], names: Mapping[str, str], eum_phone: str, meta_phone: str, display: str
) -> InboundMessage:
    wamid = _str(msg, "id", "message")
    what = f"message {wamid}"
    wa_id = _str(msg, "from", what)
    if not _WA_ID.fullmatch(wa_id):
        raise PayloadError(f"{what}: 'from' must be the sender's WhatsApp id (6-15 digits), got {wa_id!r}")
    timestamp = _epoch(msg, "timestamp", what)
    kind = _opt_str(msg, "type")
    content, text, media = _content(kind, msg)
    context = msg.get("context")
    if isinstance(context, dict) and context.get("id"):
        content["context"] = {"from": _opt_str(context, "from"), "id": _opt_str(context, "id")}
    if isinstance(msg.get("referral"), dict):
        content["referral"] = msg["referral"]
    return InboundMessage(
        whatsapp_message_id=wamid,
        wa_id=wa_id,
        phone="+" + wa_id,
        profile_name=names.get(wa_id, ""),
        timestamp=timestamp,
        type=content["type"],
        content=content,
        text=text,
        media=media,
        phone_number_id=eum_phone,
        meta_phone_number_id=meta_phone,
        display_phone_number=display,
    )


def _unsupported(kind: str, msg: Mapping[str, Any]) -> tuple[dict[str, Any], str, MediaRef | None]:
    content: dict[str, Any] = {
        "type": "unsupported",
        "originalType": kind,
        "raw": json.dumps(msg, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
    }
    errors = msg.get("errors")
    if isinstance(errors, list) and errors:
        content["errors"] = errors
    return content, "", None


def _content(kind: str, msg: Mapping[str, Any]) -> tuple[dict[str, Any], str, MediaRef | None]:  # noqa: PLR0912 - one branch per WhatsApp message type, as in Meta's payload reference
    raw_body = msg.get(kind) if kind else None
    if kind == "contacts" and isinstance(raw_body, list):
        return {"type": "contacts", "contacts": raw_body}, "", None
    if kind not in KNOWN_TYPES or not isinstance(raw_body, dict):
        return _unsupported(kind, msg)
    body: dict[str, Any] = raw_body
    if kind == "text":
        text = _opt_str(body, "body")
        return {"type": "text", "text": text}, text, None
    if kind in MEDIA_TYPES:
        media_id = _opt_str(body, "id")
        if not media_id:
            return _unsupported(kind, msg)
        content: dict[str, Any] = {
            "type": kind,
            "mediaId": media_id,
            "mimeType": _opt_str(body, "mime_type"),
            "sha256": _opt_str(body, "sha256"),
        }
        for src, dst in (("caption", "caption"), ("filename", "filename")):
            if _opt_str(body, src):
                content[dst] = _opt_str(body, src)
        for flag in ("voice", "animated"):
            if isinstance(body.get(flag), bool):
                content[flag] = body[flag]
        media = MediaRef(media_id, content["mimeType"], content["sha256"], content.get("filename", ""))
        return content, content.get("caption", ""), media
    if kind == "location":
        loc: dict[str, Any] = {"type": "location"}
        for key in ("latitude", "longitude"):
            if isinstance(body.get(key), int | float) and not isinstance(body.get(key), bool):
                loc[key] = body[key]
        for key in ("name", "address", "url"):
            if _opt_str(body, key):
                loc[key] = _opt_str(body, key)
        return loc, "", None
    if kind == "contacts":
        return {"type": "contacts", "contacts": [body]}, "", None
    if kind == "button":
        text, payload = _opt_str(body, "text"), _opt_str(body, "payload")
        return {"type": "button", "text": text, "payload": payload}, text, None
    if kind == "reaction":
        reaction = {"type": "reaction", "reactedMessageId": _opt_str(body, "message_id")}
        if _opt_str(body, "emoji"):
            reaction["emoji"] = _opt_str(body, "emoji")  # absent = the reaction was removed
        return reaction, "", None
    sub = _opt_str(body, "type")
    reply = body.get(sub) if sub else None
    if sub in ("button_reply", "list_reply") and isinstance(reply, dict):
        out: dict[str, Any] = {
            "type": "interactive",
            "interactiveType": sub,
            "replyId": _opt_str(reply, "id"),
            "title": _opt_str(reply, "title"),
        }
        if _opt_str(reply, "description"):
            out["description"] = _opt_str(reply, "description")
        return out, out["title"], None
    if sub == "nfm_reply" and isinstance(reply, dict):
        return (
            {
                "type": "interactive",
                "interactiveType": sub,
                "name": _opt_str(reply, "name"),
                "body": _opt_str(reply, "body"),
                "responseJson": _opt_str(reply, "response_json"),
            },
            "",
            None,
        )
    return _unsupported(kind, msg)


# ------------------------------------------------------------------------------------------- statuses


def _status(st: dict[str, Any], eum_phone: str, meta_phone: str, aws_message_id: str) -> StatusUpdate:
    wamid = _str(st, "id", "status")
    what = f"status for {wamid}"
    status = _str(st, "status", what).lower()
    timestamp = _epoch(st, "timestamp", what)
    raw_errors = st.get("errors")
    errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
    conversation: dict[str, Any] | None = None
    conv = st.get("conversation")
    if isinstance(conv, dict):
        conversation = {"id": _opt_str(conv, "id")}
        origin = conv.get("origin")
        if isinstance(origin, dict) and _opt_str(origin, "type"):
            conversation["originType"] = _opt_str(origin, "type")
        # Informational only: a bad (or absent) value costs the field, not the status.
        with contextlib.suppress(PayloadError):
            conversation["expirationTimestamp"] = _epoch(conv, "expiration_timestamp", what)
    pricing: dict[str, Any] | None = None
    price = st.get("pricing")
    if isinstance(price, dict):
        pricing = {}
        if isinstance(price.get("billable"), bool):
            pricing["billable"] = price["billable"]
        for src, dst in (("pricing_model", "pricingModel"), ("category", "category"), ("type", "type")):
            if _opt_str(price, src):
                pricing[dst] = _opt_str(price, src)
    return StatusUpdate(
        whatsapp_message_id=wamid,
        status=status,
        timestamp=timestamp,
        recipient_id=_opt_str(st, "recipient_id"),
        errors=errors,
        conversation=conversation,
        pricing=pricing,
        phone_number_id=eum_phone,
        meta_phone_number_id=meta_phone,
        aws_message_id=aws_message_id,
    )
