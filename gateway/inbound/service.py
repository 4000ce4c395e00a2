"""The inbound pipeline: one path from any entry point to stored messages, statuses and contacts.

Entry points — the Lambda's SNS event (:meth:`InboundService.handle_sns_event`), the SNS HTTPS
subscription (:meth:`handle_sns_https`), Meta's own webhook (:meth:`handle_meta`), captured files
(:meth:`ingest_document`) and DLQ replay (:meth:`replay`) — all turn their input into
:class:`~gateway.inbound.parse.RawEvent` units and run :meth:`process` on each.

Exactly once per WhatsApp message id. An inbound message's ``messageId`` is derived from its
``whatsappMessageId``, and the message is written with a must-not-exist condition: that conditional
put *is* the dedupe, so two workers racing on one event store one message. Every side effect happens
*before* that put and is idempotent on its own — the contact lookup/creation, the media download (same
S3 folder and ``MediaFiles`` id every time), ``record_inbound`` (moves forward only) and the opt-out
keyword (skipped when the contact already holds a consent record for this WhatsApp message id). So a
crash anywhere leaves either nothing or a complete message, and a retry finishes the job.

Failures never vanish: an event that fails goes to ``inbound-dlq`` with its original payload, the error
and an attempt count (see :mod:`gateway.dlq`); the rest of the batch carries on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

from gateway.clock import Clock
from gateway.contacts.fields import clean_name
from gateway.dlq import DlqService
from gateway.errors import Conflict, NotFound
from gateway.inbound.errors import PayloadError, SignatureInvalid
from gateway.inbound.keywords import KeywordConfig, KeywordMatch, classify
from gateway.inbound.media import MediaDownloader
from gateway.inbound.meta_signature import MetaWebhookVerifier
from gateway.inbound.parse import (
    InboundMessage,
    RawEvent,
    body_id,
    load_json,
    meta_body_events,
    parse_event,
    sns_notification_event,
    sns_record_event,
    split_document,
)
from gateway.inbound.sns_signature import SnsSignatureVerifier
from gateway.inbound.statuses import StatusTracker
from gateway.messages.repository import MessageRepository
from gateway.metrics import Metrics
from gateway.store.port import Item, Tables

log = logging.getLogger("wecare.inbound")

INBOUND_DLQ = "inbound-dlq"
ACTOR = "system:inbound"
_CONTACT_RACE_ATTEMPTS = 8  # ~1.3 s of back-off in all
_REMEMBERED_CONTACTS = 10_000


class ContactDirectory(Protocol):
    """What the pipeline needs of :class:`gateway.contacts.ContactService`."""

    def get(self, contact_id: str, *, include_deleted: bool = False) -> dict[str, Any]: ...

    def find_by_phone(self, phone: str) -> dict[str, Any] | None: ...

    def create(self, data: Mapping[str, Any], *, actor: str, source: str = "api") -> dict[str, Any]: ...

    def set_opt_in(
        self,
        contact_id: str,
        channel: Literal["whatsapp", "sms", "email"],
        value: bool,
        *,
        actor: str,
        source: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def record_inbound(self, contact_id: str, at: float) -> None: ...


def inbound_message_id(whatsapp_message_id: str) -> str:
    """The Messages key of an inbound WhatsApp message: one per WhatsApp message id, by construction."""
    return "in_" + hashlib.sha256(whatsapp_message_id.encode("utf-8")).hexdigest()[:32]


@dataclass
class IngestResult:
    events: int = 0
    messages: int = 0  # newly stored
    duplicates: int = 0  # already stored (same whatsappMessageId)
    statuses: int = 0  # applied or recorded on their outbound message
    pendingStatuses: int = 0  # camelCase: reported as JSON as it is
    ignored: int = 0  # changes/statuses we deliberately skip (e.g. template status updates)
    deadLettered: int = 0
    errors: list[str] = field(default_factory=list)
    dlqMessageIds: list[str] = field(default_factory=list)

    def merge(self, other: IngestResult) -> IngestResult:
        for item in fields(self):  # not asdict(): that deep-copies, and this runs once per event
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class InboundService:
    def __init__(
        self,
        tables: Tables,
        clock: Clock,
        contacts: ContactDirectory,
        dlq: DlqService,
        *,
        media: MediaDownloader | None = None,
        keywords: KeywordConfig | None = None,
        sns: SnsSignatureVerifier | None = None,
        meta: MetaWebhookVerifier | None = None,
        meta_phone_number_ids: Mapping[str, str] | None = None,
        metrics: Metrics | None = None,
        on_stored: Sequence[Callable[[Item], None]] = (),
        on_delivery_failed: Callable[[Item], object] | None = None,
        on_status: Callable[[Item], object] | None = None,
    ) -> None:
        self._tables = tables
        self._messages = MessageRepository(tables)
        self._clock = clock
        self._contacts = contacts
        self._dlq = dlq
        self._media = media
        self._keywords = keywords or KeywordConfig()
        self._sns = sns
        self._meta = meta
        self._metrics = metrics
        self._statuses = StatusTracker(
            tables, clock, metrics=metrics, on_failed=on_delivery_failed, on_status=on_status
        )
        # Called once per newly stored inbound message (e.g. AI suggestions). The message is stored
        # already, so a listener's failure is logged and counted, never dead-letters the event.
        self._on_stored = tuple(on_stored)
        # Meta phone_number_id -> EUM phone-number id; learnt from every EUM envelope's context too,
        # so events from Meta's own webhook can name the EUM number they reached.
        self._phone_ids: dict[str, str] = dict(meta_phone_number_ids or {})
        self._phone_lock = threading.Lock()
        self._contact_ids: OrderedDict[str, str] = OrderedDict()  # phone -> contact id, a bounded hint
        self._retention = self._messages.retention

    # ------------------------------------------------------------------------------- entry points

    def handle_sns_event(self, event: Mapping[str, Any]) -> IngestResult:
        """The Lambda entry point. Never raises for a bad record: it goes to inbound-dlq, the rest go on.

        It raises only when the DLQ itself cannot take a failed record, so the invocation fails and
        SNS retries it rather than the event being lost.
        """
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            text = json.dumps(event, default=str)
            return self._dead_letter(RawEvent("eum", text, body_id(text)), "SNS event has no 'Records' list")
        result = IngestResult()
        for record in records:
            try:
                raw = sns_record_event(record)
            except PayloadError as exc:
                text = json.dumps(record, default=str)
                result.merge(self._dead_letter(RawEvent("eum", text, body_id(text)), str(exc)))
                continue
            result.merge(self.ingest(raw))
        return result

    def handle_sns_https(self, body: bytes) -> dict[str, Any]:
        """An SNS HTTPS POST: verify, confirm a subscription to our topic, or ingest a notification.

        Raises :class:`SignatureInvalid` (nothing stored) for anything not signed by SNS for the
        configured topic, and :class:`PayloadError` for a body that is not an SNS message at all.
        """
        if self._sns is None:
            raise SignatureInvalid("the SNS HTTPS endpoint is not configured")
        message = load_json(body, "SNS message")
        if not isinstance(message, dict):
            raise PayloadError("SNS message must be a JSON object")
        self._sns.verify(message)
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            self._sns.confirm_subscription(message)
            log.info("SNS subscription confirmed", extra={"topicArn": message.get("TopicArn")})
            return {"type": kind, "confirmed": True}
        if kind == "UnsubscribeConfirmation":
            log.warning("SNS unsubscribe confirmation received", extra={"topicArn": message.get("TopicArn")})
            return {"type": kind}
        try:
            raw = sns_notification_event(message)
        except PayloadError as exc:
            text = json.dumps(message)
            failed = self._dead_letter(RawEvent("eum", text, body_id(text)), str(exc))
            return {"type": kind, **failed.to_dict()}
        return {"type": kind, **self.ingest(raw).to_dict()}

    def meta_handshake(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        if self._meta is None:
            raise SignatureInvalid("the Meta webhook is not configured")
        return self._meta.handshake(mode, token, challenge)

    def handle_meta(self, body: bytes, signature: str | None) -> IngestResult:
        """Meta's webhook POST: verify ``X-Hub-Signature-256`` over the raw body, then ingest each entry."""
        if self._meta is None:
            raise SignatureInvalid("the Meta webhook is not configured")
        self._meta.verify_signature(body, signature)
        try:
            events = meta_body_events(load_json(body, "Meta webhook body"))
        except PayloadError as exc:
            text = body.decode("utf-8", "replace")
            return self._dead_letter(RawEvent("meta", text, body_id(text)), str(exc))
        result = IngestResult()
        for raw in events:
            result.merge(self.ingest(raw))
        return result

    def ingest_document(self, document: Any) -> IngestResult:
        """A captured event file (SNS event, SNS notification, EUM envelope or Meta body, or a list).

        Each list item and each SNS record stands alone, as in the Lambda: one that cannot be read is
        dead-lettered by itself and never holds the good ones back.
        """
        if isinstance(document, list):
            result = IngestResult()
            for item in document:
                result.merge(self.ingest_document(item))
            return result
        if isinstance(document, dict) and isinstance(document.get("Records"), list):
            return self.handle_sns_event(document)
        try:
            events = split_document(document)
        except PayloadError as exc:
            text = json.dumps(document, default=str)
            return self._dead_letter(RawEvent("eum", text, body_id(text)), str(exc))
        result = IngestResult()
        for raw in events:
            result.merge(self.ingest(raw))
        return result

    def ingest_text(self, text: str) -> IngestResult:
        """A captured file's text; text that is not JSON is dead-lettered as it is, with the reason."""
        try:
            document = load_json(text, "event file")
        except PayloadError as exc:
            return self._dead_letter(RawEvent("eum", text, body_id(text)), str(exc))
        return self.ingest_document(document)

    def replay(self, payload: str) -> None:
        """The ``inbound-dlq`` replay handler: the same processing, raising on failure.

        Takes what this service dead-letters (``{source, body, originalId}``) and also what AWS may put
        on the queue itself: a raw SNS event, or a Lambda on-failure destination record wrapping one
        (``requestPayload``).
        """
        data = load_json(payload, "dead-letter payload")
        if isinstance(data, dict) and data.get("source") in ("eum", "meta") and "body" in data:
            events = [RawEvent.from_payload(payload)]
        else:
            if isinstance(data, dict) and isinstance(data.get("requestPayload"), dict):
                data = data["requestPayload"]
            events = split_document(data)
        for raw in events:
            self.process(raw)

    def apply_pending_statuses(self, whatsapp_message_id: str) -> int:
        """For the gateway, right after it records an outbound message's ``whatsappMessageId``."""
        return self._statuses.apply_pending(whatsapp_message_id)

    # ---------------------------------------------------------------------------------- the pipeline

    def ingest(self, raw: RawEvent) -> IngestResult:
        """Process one event; on any failure dead-letter it (and report that) instead of raising."""
        try:
            return self.process(raw)
        except Exception as exc:  # whatever broke, the event must land in the DLQ, never vanish
            log.warning("inbound event failed", exc_info=exc, extra={"originalMessageId": raw.original_id})
            return self._dead_letter(raw, f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__)

    def process(self, raw: RawEvent) -> IngestResult:
        """Decode and store one event. Raises on failure (callers decide: DLQ, or a failed replay)."""
        with self._phone_lock:
            phone_ids = dict(self._phone_ids)
        parsed = parse_event(raw, phone_ids)
        if parsed.phone_ids:
            with self._phone_lock:
                self._phone_ids.update(parsed.phone_ids)
        result = IngestResult(events=1, ignored=len(parsed.ignored))
        if parsed.ignored:  # skipped on purpose, and said so: nothing accepted vanishes unnoticed
            log.info(
                "inbound changes ignored",
                extra={"originalMessageId": raw.original_id, "ignored": parsed.ignored},
            )
        for message in parsed.messages:
            if self._store(message):
                result.messages += 1
            else:
                result.duplicates += 1
        for update in parsed.statuses:
            outcome = self._statuses.apply(update)
            if outcome == "pending":
                result.pendingStatuses += 1
            elif outcome == "ignored":
                result.ignored += 1
            else:
                result.statuses += 1
        return result

    def _store(self, message: InboundMessage) -> bool:
        """Store one inbound message; False when it was already stored."""
        message_id = inbound_message_id(message.whatsapp_message_id)
        if self._messages.get(message_id) is not None:
            self._count("duplicate", message.type)
            return False  # complete already: the put below is the last step of a successful run
        contact = self._contact_for(message)
        contact_id = str(contact["contactId"])
        now = self._clock.now()
        item: Item = {
            "messageId": message_id,
            "kind": "message",
            "contactId": contact_id,
            "channel": "whatsapp",
            "direction": "inbound",
            "content": message.content,
            "timestamp": message.timestamp,
            "status": "received",
            "whatsappMessageId": message.whatsapp_message_id,
            "phoneNumberId": message.phone_number_id,
            "metaPhoneNumberId": message.meta_phone_number_id,
            "displayPhoneNumber": message.display_phone_number,
            "from": message.phone,
            "profileName": message.profile_name,
            "receivedAt": now,
            "expiresAt": int(now) + self._retention,
        }
        if message.media is not None:
            item["mediaId"] = message.media.media_id
            item.update(self._download(message_id, message))
        match = classify(message, self._keywords)
        if match is not None:
            item["keyword"] = match.keyword
            self._apply_keyword(contact, message, message_id, match)
        # Never move the window beyond "now": a sender's clock (or a forged timestamp) cannot extend it.
        self._contacts.record_inbound(contact_id, float(min(message.timestamp, now)))
        if not self._messages.insert(item):
            self._count("duplicate", message.type)
            return False
        self._count("stored", message.type)
        log.info(
            "inbound message stored",
            extra={
                "messageId": message_id,
                "contactId": contact_id,
                "type": message.type,
                "phoneNumberId": message.phone_number_id,
            },
        )
        for listener in self._on_stored:
            try:
                listener(dict(item))
            except Exception as exc:  # the message is safe; one listener must not undo or block the rest
                log.error("inbound listener failed", exc_info=exc, extra={"messageId": message_id})
                if self._metrics is not None:
                    self._metrics.inc("inbound_listener_errors_total", {"listener": type(exc).__name__})
        return True

    def _contact_for(self, message: InboundMessage) -> dict[str, Any]:
        found = self._remembered(message.phone) or self._contacts.find_by_phone(message.phone)
        if found is not None:
            self._remember(message.phone, str(found["contactId"]))
            return found
        data = {
            "name": (clean_name(" ".join(message.profile_name.split())) or message.phone)[:200],
            "phone": message.phone,
            "optInWhatsApp": False,
            "optInSms": False,
            "optInEmail": False,
        }
        try:
            created = self._contacts.create(data, actor=ACTOR, source="inbound_first_contact")
        except Conflict:
            # Another worker is creating this sender right now: use theirs once it is written. This is a
            # real pause (not clock time): the other worker needs a few milliseconds to finish.
            for attempt in range(_CONTACT_RACE_ATTEMPTS):
                again = self._contacts.find_by_phone(message.phone)
                if again is not None:
                    return again
                time.sleep(0.005 * 2**attempt)
            raise
        log.info("contact created from first inbound message", extra={"contactId": created.get("contactId")})
        self._remember(message.phone, str(created["contactId"]))
        return created

    def _remembered(self, phone: str) -> dict[str, Any] | None:
        """The contact last seen for this phone, re-read and still its active holder; else None.

        A hint only (it saves parsing the number and reading its uniqueness guard on every message): the
        contact is always read fresh, and one that was deleted or changed number is not used.
        """
        with self._phone_lock:
            contact_id = self._contact_ids.get(phone)
        if contact_id is None:
            return None
        try:
            contact = self._contacts.get(contact_id)
        except NotFound:
            contact = None
        if contact is None or contact.get("phone") != phone or contact.get("deletedAt") is not None:
            with self._phone_lock:
                self._contact_ids.pop(phone, None)
            return None
        return contact

    def _remember(self, phone: str, contact_id: str) -> None:
        with self._phone_lock:
            self._contact_ids[phone] = contact_id
            self._contact_ids.move_to_end(phone)
            while len(self._contact_ids) > _REMEMBERED_CONTACTS:
                self._contact_ids.popitem(last=False)

    def _download(self, message_id: str, message: InboundMessage) -> dict[str, Any]:
        media = message.media
        assert media is not None
        if self._media is None:
            return {"mediaStatus": "not_downloaded"}  # no media client in this runtime (embedded, DRY_RUN)
        if not message.phone_number_id:
            # Meta's own webhook names only Meta's number id; without its EUM id the download cannot
            # be asked for. Keep the message (with the media id) rather than failing it forever.
            log.warning(
                "media not downloaded: receiving EUM phone-number id unknown",
                extra={"messageId": message_id, "metaPhoneNumberId": message.meta_phone_number_id},
            )
            return {"mediaStatus": "unknown_phone_number_id"}
        record = self._media.download(
            message_id=message_id,
            whatsapp_message_id=message.whatsapp_message_id,
            media=media,
            phone_number_id=message.phone_number_id,
        )
        return {
            "mediaStatus": "stored",
            "mediaS3Key": record["s3Key"],
            "media": {k: record[k] for k in ("fileId", "bucket", "s3Key", "contentType", "size")},
        }

    def _apply_keyword(
        self, contact: Mapping[str, Any], message: InboundMessage, message_id: str, match: KeywordMatch
    ) -> None:
        if self._consent_recorded_for(contact, message.whatsapp_message_id):
            return  # this very message changed consent already (a replay or a duplicate delivery)
        evidence = {
            "whatsappMessageId": message.whatsapp_message_id,
            "messageId": message_id,
            "keyword": match.matched,
            "text": message.text[:200],
            "sentAt": message.timestamp,
            "phoneNumberId": message.phone_number_id,
        }
        contact_id = str(contact["contactId"])
        if match.keyword == "stop":
            if contact.get("optInWhatsApp") is True:
                self._contacts.set_opt_in(
                    contact_id, "whatsapp", False, actor=ACTOR, source="inbound_keyword", evidence=evidence
                )
                log.info(
                    "WhatsApp opt-out by keyword", extra={"contactId": contact_id, "keyword": match.matched}
                )
            return
        if not self._keywords.start_opts_in or contact.get("optInWhatsApp") is True:
            return
        # A late START must not undo a later opt-out: act only if nothing changed consent since it was sent.
        latest = max(
            (
                float(e.get("at", 0))
                for e in contact.get("consentHistory") or []
                if isinstance(e, dict) and e.get("channel") == "whatsapp"
            ),
            default=0.0,
        )
        if latest <= message.timestamp:
            self._contacts.set_opt_in(
                contact_id, "whatsapp", True, actor=ACTOR, source="inbound_keyword", evidence=evidence
            )

    @staticmethod
    def _consent_recorded_for(contact: Mapping[str, Any], whatsapp_message_id: str) -> bool:
        for entry in contact.get("consentHistory") or []:
            evidence = entry.get("evidence") if isinstance(entry, dict) else None
            if isinstance(evidence, dict) and evidence.get("whatsappMessageId") == whatsapp_message_id:
                return True
        return False

    def _dead_letter(self, raw: RawEvent, error: str, *, error_type: str = "PayloadError") -> IngestResult:
        dlq_id = self._dlq.dead_letter(
            INBOUND_DLQ, raw.to_payload(), error, original_message_id=raw.original_id, error_type=error_type
        )
        if self._metrics is not None:
            self._metrics.inc("inbound_dead_lettered_total", {"errorType": error_type})
        return IngestResult(events=1, deadLettered=1, errors=[error], dlqMessageIds=[dlq_id])

    def _count(self, outcome: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.inc("inbound_messages_total", {"outcome": outcome, "type": kind})
