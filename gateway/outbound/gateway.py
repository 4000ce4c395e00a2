"""The choke point: every outbound message, from every origin, goes through :meth:`Gateway.send`.

One send, in order::

    idempotency  an Idempotency-Key reserves ``idem#<actor>#<key>`` (must-not-exist put) and derives the
                 message id from it, so a repeat — even one racing the first — can never send twice
    decide       contact snapshot + window + tier counters + environment -> policy input -> engine
    deny         persist the message as ``rejected`` with the decision and the exact input, log
                 contactId/channel/reasons (requirement 3.6); no driver call, no other channel
    tokens       rate-limit tokens for every bucket the message needs; if that meant waiting, decide
                 again (the window may have closed, consent may have been withdrawn meanwhile)
    persist      the message with its allow decision and exact policy input, status ``sending`` —
                 before the driver is called, so a crash leaves a visible record (see recovery.py)
    send         the channel driver (LIVE) or the DRY_RUN recorder; drivers retry throttling/5xx
    record       ``sent`` with the provider's id, ``failed`` with errorDetails {code, message,
                 requestId}, or ``unknown`` when the provider may or may not have accepted it

One deliberate difference from the design diagram: tokens are taken *before* the allow decision is
persisted, not after. The stored decision is then the one made right before the driver call (never
one that went stale during a wait), and a process that dies while waiting for tokens leaves nothing
that looks half-sent. A denied message never takes a token.

Per-message outcomes (rejected, failed) are returned, never raised, so a bulk worker can record them;
only an invalid request (:class:`~gateway.errors.InvalidInput`), a rate-limit wait beyond
``max_rate_wait`` (:class:`~gateway.errors.TooManyRequests`) and infrastructure failures raise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from channels.base import (
    Channel,
    ChannelDriver,
    Email,
    OutboundMessage,
    PreparedRequest,
    S3Location,
    SendResult,
    Sms,
    WhatsAppMedia,
    WhatsAppTemplate,
    WhatsAppText,
)
from channels.dryrun import DryRunRecorder
from channels.errors import ChannelError, ContentInvalid
from gateway.alerts import Alerts
from gateway.clock import Clock
from gateway.config import Environment, SendMode, Settings
from gateway.errors import InvalidInput, TooManyRequests, Unavailable
from gateway.metrics import Metrics
from gateway.outbound.policy_input import (
    WINDOW_SECONDS,
    build_policy_input,
    is_real_contact,
    window_open,
    window_seconds_from_params,
)
from gateway.outbound.ratelimit import Bucket, RateLimiter, RateLimits, RateLimitTimeout
from gateway.outbound.tier import (
    TierTracker,
    alert_ratio_from_params,
    default_limit_from_params,
)
from gateway.outbound.tier import window_seconds_from_params as tier_window_from_params
from gateway.outbound.types import (
    EmailContent,
    MediaContent,
    OutboundRequest,
    Outbox,
    SendOutcome,
    TemplateContent,
    TextContent,
)
from gateway.store.conditions import Attr, not_exists
from gateway.store.port import ConditionFailed, Item, Tables, Update
from gateway.store.schema import table_schemas

log = logging.getLogger("wecare.gateway")

IDEMPOTENCY_KIND = "idempotency"
IDEMPOTENCY_PREFIX = "idem#"
MESSAGE_KIND = "message"
# The codes a driver uses when the provider may already have accepted the message.
OUTCOME_UNKNOWN_CODES = frozenset({"OutcomeUnknown"})


class Decision(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def reasons(self) -> list[str]: ...
    @property
    def warnings(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...


class PolicyEvaluator(Protocol):
    def evaluate(self, policy_input: Mapping[str, Any]) -> Decision: ...


class AuditTrail(Protocol):
    """:class:`gateway.audit.AuditLog`'s recording method."""

    def record(
        self, user_id: str, action: str, resource_type: str, resource_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def idempotent_message_id(actor: str, key: str) -> str:
    """The message id an (actor, Idempotency-Key) pair always maps to: the store's put is the dedupe."""
    digest = hashlib.sha256(f"{actor}\x00{key}".encode()).hexdigest()
    return "msg_" + digest[:32]


@dataclass(frozen=True)
class _Attempt:
    """One call of ``send``: the request and what was derived from it up front."""

    request: OutboundRequest
    message_id: str
    fingerprint: str
    started: float  # perf_counter at entry, for the latency metric


@dataclass(frozen=True)
class _Decided:
    """One decision: the exact input, the engine's answer, and the clock it was made at."""

    policy_input: Mapping[str, Any]
    decision: Decision
    now: float


@dataclass(frozen=True)
class _Media:
    s3: S3Location | None
    mime_type: str
    size: int | None


class Gateway:
    """Wired once by the composition root; thread-safe (bulk workers share one instance)."""

    def __init__(
        self,
        *,
        tables: Tables,
        clock: Clock,
        settings: Settings,
        engine: PolicyEvaluator,
        limits: RateLimits,
        limiter: RateLimiter,
        tier: TierTracker,
        drivers: Mapping[Channel, ChannelDriver],
        metrics: Metrics,
        outbox: Outbox | None = None,
        audit: AuditTrail | None = None,
        on_whatsapp_message_id: Callable[[str], None] | None = None,
        max_rate_wait: float | None = None,
        window_seconds: int = WINDOW_SECONDS,
        id_factory: Callable[[], str] = new_message_id,
    ) -> None:
        self._tables = tables
        self._messages = tables["Messages"]
        self._contacts = tables["Contacts"]
        self._media = tables["MediaFiles"]
        self._clock = clock
        self._settings = settings
        self._engine = engine
        self._limits = limits
        self._limiter = limiter
        self._tier = tier
        self._metrics = metrics
        self._outbox = outbox if outbox is not None else Outbox()
        self._audit = audit
        self._on_wamid = on_whatsapp_message_id or (lambda _wamid: None)
        self._max_rate_wait = max_rate_wait
        self._window_seconds = window_seconds
        self._new_id = id_factory
        retention = table_schemas()["Messages"].retention_seconds
        self._retention = int(retention or 30 * 24 * 3600)
        # Belt and braces: only production with SEND_MODE=LIVE may reach a LIVE driver. Otherwise every
        # driver is replaced by a DRY_RUN recorder over its own (pure) request builder.
        self._live = settings.SEND_MODE is SendMode.LIVE and settings.ENVIRONMENT is Environment.production
        self._senders: dict[str, ChannelDriver] = {
            channel: (driver if self._live else self._recorder(channel, driver))
            for channel, driver in drivers.items()
        }

    def _recorder(self, channel: str, driver: ChannelDriver) -> ChannelDriver:
        if isinstance(driver, DryRunRecorder):
            return driver
        builder = getattr(driver, "builder", None)
        if builder is None:
            raise ValueError(
                f"SEND_MODE is DRY_RUN but the {channel} driver exposes no request builder to record with"
            )
        return DryRunRecorder(builder, self._outbox.append)

    @property
    def live(self) -> bool:
        return self._live

    @property
    def tier(self) -> TierTracker:
        """The tier tracker (the bulk module checks ``tier.status().remaining`` before a job, 13.10)."""
        return self._tier

    # -- the one public operation -------------------------------------------------------------------

    def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome:
        """Decide, persist and (if allowed) send one message; see the module docstring for the steps.

        ``max_rate_wait`` bounds how long to wait for rate-limit tokens (default: the constructor's;
        None there means wait as long as it takes). Beyond it: TooManyRequests, nothing stored.
        """
        limit_wait = self._max_rate_wait if max_rate_wait is None else max_rate_wait
        channel = request.channel
        if channel not in self._senders:
            raise Unavailable(f"no {channel} driver is configured on this server", code="CHANNEL_UNAVAILABLE")
        attempt = _Attempt(request, self._message_id(request), request.fingerprint(), time.perf_counter())
        if request.idempotency_key is not None:
            replay = self._reserve_idempotency(attempt)
            if replay is not None:
                return replay
        elif request.message_id is not None:
            stored = self._messages.get({"messageId": attempt.message_id})
            if stored is not None:
                return self._replay(stored, attempt.fingerprint)

        media = self._resolve_media(request)
        phone_number_id = ""
        if channel == "whatsapp":
            phone_number_id = request.phone_number_id or self._settings.WHATSAPP_PHONE_NUMBER_ID_1
        buckets = self._limits.buckets(channel, phone_number_id)

        waited = 0.0
        while True:
            now = self._clock.now()
            contact = self._contact(request.contact_id)
            in_window = window_open(contact, now, self._window_seconds)
            tier = self._tier.snapshot(channel, request.contact_id, in_window, now)
            policy_input = build_policy_input(
                request, contact, now=now, settings=self._settings, tier=tier, phone_number_id=phone_number_id
            )
            decided = _Decided(policy_input, self._engine.evaluate(policy_input), now)
            if not decided.decision.allowed:
                return self._reject(attempt, decided)
            try:
                message = self._channel_message(request, contact, phone_number_id, media, attempt.message_id)
                prepared = self._senders[channel].build_request(message)
            except ContentInvalid as exc:
                return self._fail_preflight(attempt, decided, exc)
            wait = self._limiter.try_acquire(buckets)
            if wait <= 0:
                break
            if limit_wait is not None and waited + wait > limit_wait:
                self._metrics.inc("rate_limit_timeouts_total", {"channel": channel})
                raise TooManyRequests(
                    f"the {channel} rate limit is saturated; retry in {wait:.1f} s",
                    code="RATE_LIMITED",
                    details={"retryAfterSeconds": round(wait, 3)},
                ) from RateLimitTimeout(waited, wait)
            # Delayed, never dropped: wait, then decide again on fresh facts.
            self._clock.sleep(wait)
            waited += wait
        if waited:
            self._metrics.observe("rate_limit_wait", waited, {"channel": channel})

        item = self._message_item(attempt, decided, contact)
        item["status"] = "sending"
        item["statusTimestamps"] = {"sending": decided.now}
        if channel == "sms":
            item["sms"] = {k: prepared.info[k] for k in ("encoding", "segments", "units", "characters")
                           if k in prepared.info}
        try:
            self._messages.put(item, condition=not_exists("messageId"))
        except ConditionFailed:
            # A concurrent identical request persisted first; it alone calls the driver.
            return self._replay_id(attempt, item)
        return self._deliver(attempt, decided, item, prepared, buckets)

    # -- steps -------------------------------------------------------------------------------------

    def _message_id(self, request: OutboundRequest) -> str:
        if request.message_id is not None:
            return request.message_id
        if request.idempotency_key is not None:
            return idempotent_message_id(request.actor, request.idempotency_key)
        return self._new_id()

    def _reserve_idempotency(self, attempt: _Attempt) -> SendOutcome | None:
        request = attempt.request
        assert request.idempotency_key is not None
        now = self._clock.now()
        key = f"{IDEMPOTENCY_PREFIX}{request.actor}#{request.idempotency_key}"
        record = {
            "messageId": key,
            "kind": IDEMPOTENCY_KIND,
            "requestHash": attempt.fingerprint,
            "resultMessageId": attempt.message_id,
            "createdAt": now,
            "expiresAt": int(now) + self._retention,
        }
        for _ in range(2):
            try:
                self._messages.put(record, condition=not_exists("messageId"))
                return None
            except ConditionFailed:
                existing = self._messages.get({"messageId": key})
            if existing is None:
                continue  # expired between the put and the get: reserve again
            if existing.get("requestHash") != attempt.fingerprint:
                raise InvalidInput(
                    "this Idempotency-Key was already used with a different request; "
                    "use a new key for a new message",
                    code="IDEMPOTENCY_KEY_REUSED",
                    details={"idempotencyKey": request.idempotency_key},
                )
            stored = self._messages.get({"messageId": str(existing.get("resultMessageId"))})
            if stored is not None:
                return self._replay(stored, attempt.fingerprint)
            # The first attempt is still deciding or died before persisting. Carrying on is safe: both
            # derive the same message id, and only one must-not-exist put of it can succeed.
            return None
        return None

    def _replay(self, stored: Item, fingerprint: str) -> SendOutcome:
        if stored.get("kind") != MESSAGE_KIND:
            raise InvalidInput("the message id is taken by another record", code="MESSAGE_ID_TAKEN")
        if stored.get("requestHash") not in (None, fingerprint):
            raise InvalidInput(
                "a different message was already sent under this id",
                code="IDEMPOTENCY_KEY_REUSED",
                details={"messageId": stored.get("messageId")},
            )
        self._metrics.inc("messages_replayed_total", {"channel": str(stored.get("channel", ""))})
        return _outcome(stored, replayed=True)

    def _replay_id(self, attempt: _Attempt, fallback: Item) -> SendOutcome:
        stored = self._messages.get({"messageId": attempt.message_id})
        return self._replay(stored if stored is not None else fallback, attempt.fingerprint)

    def _contact(self, contact_id: str) -> Item | None:
        item = self._contacts.get({"contactId": contact_id})
        return item if is_real_contact(item) else None

    def _resolve_media(self, request: OutboundRequest) -> _Media | None:
        content = request.content
        if not isinstance(content, MediaContent):
            return None
        if content.upload is not None:
            return _Media(None, content.upload.mime_type, len(content.upload.content))
        assert content.file_id is not None
        item = self._media.get({"fileId": content.file_id})
        if item is None or not item.get("s3Key"):
            raise InvalidInput(
                f"no uploaded file {content.file_id!r}; upload it first or send the file with the request",
                code="FILE_NOT_FOUND",
                details={"fileId": content.file_id},
            )
        bucket = str(item.get("s3Bucket") or item.get("bucket") or self._settings.MEDIA_BUCKET)
        size = item.get("size")
        return _Media(
            S3Location(bucket, str(item["s3Key"])),
            str(item.get("contentType") or "application/octet-stream"),
            int(size) if isinstance(size, int | float) else None,
        )

    def _channel_message(
        self,
        request: OutboundRequest,
        contact: Item | None,
        phone_number_id: str,
        media: _Media | None,
        message_id: str,
    ) -> OutboundMessage:
        phone = str((contact or {}).get("phone") or "")
        content = request.content
        if request.channel == "whatsapp":
            if isinstance(content, TextContent):
                return WhatsAppText(to=phone, phone_number_id=phone_number_id, body=content.body)
            if isinstance(content, TemplateContent):
                return WhatsAppTemplate(
                    to=phone, phone_number_id=phone_number_id, name=content.name,
                    language=content.language, components=tuple(content.components),
                )
            assert isinstance(content, MediaContent) and media is not None
            upload = content.upload
            filename = content.filename or (upload.filename if upload is not None else None)
            return WhatsAppMedia(
                to=phone,
                phone_number_id=phone_number_id,
                kind=content.media_kind,
                mime_type=media.mime_type,
                content=upload.content if upload is not None else None,
                source=media.s3,
                caption=content.caption,
                # Only documents carry a filename on WhatsApp; an upload's name is kept for those only.
                filename=filename if content.media_kind == "document" else None,
            )
        if request.channel == "sms":
            assert isinstance(content, TextContent)
            return Sms(to=phone, body=content.body, context={"messageId": message_id})
        assert isinstance(content, EmailContent)
        return Email(
            to=str((contact or {}).get("email") or ""), subject=content.subject, text=content.text,
            html=content.html,
        )

    def _message_item(self, attempt: _Attempt, decided: _Decided, contact: Item | None) -> Item:
        request, now = attempt.request, decided.now
        item: Item = {
            "messageId": attempt.message_id,
            "kind": MESSAGE_KIND,
            "contactId": request.contact_id,
            "channel": request.channel,
            "direction": "outbound",
            "content": request.content_document(),
            "timestamp": now,
            "origin": request.origin,
            "category": request.category,
            "decision": decided.decision.to_dict(),
            "policyInput": dict(decided.policy_input),
            "sendMode": "LIVE" if self._live else "DRY_RUN",
            "createdBy": request.actor,
            "requestHash": attempt.fingerprint,
            "expiresAt": int(now) + self._retention,
        }
        if request.channel == "whatsapp":
            item["phoneNumberId"] = decided.policy_input["request"]["phoneNumberId"]
        if request.approved_by:
            item["approvedBy"] = request.approved_by
        if request.idempotency_key is not None:
            item["idempotencyKey"] = request.idempotency_key
        if request.context:
            item["context"] = dict(request.context)
        if contact is not None:
            address = contact.get("email") if request.channel == "email" else contact.get("phone")
            if address:
                item["to"] = address
            consent = _consent_evidence(contact, request.channel)
            if consent is not None:
                # The consent a send relied on, kept with the message: the contact's own history may
                # change later (or the contact be deleted), the message answers "on what consent?".
                item["consent"] = consent
        return item

    def _reject(self, attempt: _Attempt, decided: _Decided) -> SendOutcome:
        request = attempt.request
        item = self._message_item(attempt, decided, None)
        item["status"] = "rejected"
        item["statusTimestamps"] = {"rejected": decided.now}
        try:
            self._messages.put(item, condition=not_exists("messageId"))
        except ConditionFailed:
            return self._replay_id(attempt, item)
        reasons = list(decided.decision.reasons)
        log.warning(
            "message rejected by policy: %s", ", ".join(reasons),
            extra={"contactId": request.contact_id, "channel": request.channel, "reasons": reasons,
                   "messageId": attempt.message_id, "origin": request.origin},
        )
        if "TEMPLATE_REQUIRED" in reasons:
            log.warning(
                "free-form WhatsApp message outside the 24-hour customer-service window; use a template",
                extra={"contactId": request.contact_id, "channel": request.channel,
                       "reasons": ["TEMPLATE_REQUIRED"], "messageId": attempt.message_id,
                       "lastInboundMessageAt": decided.policy_input["contact"]["lastInboundMessageAt"]},
            )
        for reason in reasons or ["UNSPECIFIED"]:
            self._metrics.inc("messages_rejected_total", {"channel": request.channel, "reason": reason})
        if self._audit is not None:
            try:
                self._audit.record(
                    request.actor or f"system:{request.origin}", "message.rejected", "message",
                    attempt.message_id,
                    {"contactId": request.contact_id, "channel": request.channel, "reasons": reasons,
                     "origin": request.origin},
                )
            except Exception:
                # The rejected message itself is stored with its decision; a lost audit copy must not
                # turn a refusal into an error for the caller.
                log.exception("could not audit a rejected message", extra={"messageId": attempt.message_id})
        self._observe(attempt)
        return _outcome(item)

    def _fail_preflight(self, attempt: _Attempt, decided: _Decided, exc: ContentInvalid) -> SendOutcome:
        """The driver's own checks refused the content: stored as failed; nothing was sent."""
        request = attempt.request
        item = self._message_item(attempt, decided, None)
        item["status"] = "failed"
        item["statusTimestamps"] = {"failed": decided.now}
        item["errorDetails"] = _error_details(exc)
        try:
            self._messages.put(item, condition=not_exists("messageId"))
        except ConditionFailed:
            return self._replay_id(attempt, item)
        log.warning(
            "message content refused before sending: %s", exc.message,
            extra={"contactId": request.contact_id, "channel": request.channel, "code": exc.code,
                   "messageId": attempt.message_id},
        )
        self._metrics.inc("messages_failed_total", {"channel": request.channel, "code": exc.code})
        self._observe(attempt)
        return _outcome(item)

    def _deliver(
        self, attempt: _Attempt, decided: _Decided, item: Item, prepared: PreparedRequest,
        buckets: tuple[Bucket, ...],
    ) -> SendOutcome:
        channel = attempt.request.channel
        sender = self._senders[channel]
        if not self._live and not isinstance(sender, DryRunRecorder):  # cannot happen; never risk it
            raise RuntimeError("refusing to call a LIVE driver outside LIVE mode")
        # The token was granted before the message was persisted; space the calls themselves too.
        self._limiter.pace_call(buckets)
        call_started = time.perf_counter()
        try:
            result = sender.send(prepared)
        except ChannelError as exc:
            self._metrics.observe("driver_call", time.perf_counter() - call_started, {"channel": channel})
            status = "unknown" if exc.code in OUTCOME_UNKNOWN_CODES else "failed"
            return self._finish_error(attempt, item, status, _error_details(exc))
        except Exception as exc:
            # A bug, not a provider answer: we cannot tell whether the message left. Never guess "failed"
            # (a retry could then message the customer twice): record "unknown" and let the edge alert.
            details = {
                "code": "INTERNAL", "message": f"{type(exc).__name__}: {exc}"[:1000], "requestId": None
            }
            self._finish_error(attempt, item, "unknown", details)
            raise
        self._metrics.observe("driver_call", time.perf_counter() - call_started, {"channel": channel})
        return self._finish_sent(attempt, decided, item, result)

    def _finish_sent(
        self, attempt: _Attempt, decided: _Decided, item: Item, result: SendResult
    ) -> SendOutcome:
        request = attempt.request
        now = self._clock.now()
        channel = request.channel
        fields: dict[str, Any] = {
            "status": "sent",
            "statusTimestamps": {**item["statusTimestamps"], "sent": now},
            "providerMessageId": result.provider_message_id,
        }
        if result.request_id:
            fields["requestId"] = result.request_id
        if channel == "whatsapp":
            fields["whatsappMessageId"] = result.provider_message_id
        media_id = result.extra.get("mediaId")
        if media_id:
            fields["mediaId"] = media_id
        if not self._live:
            record = self._outbox.take(result.provider_message_id)
            if record is not None:
                fields["outbox"] = _outbox_document(record.to_json())
            log.info(
                "DRY_RUN: %s message recorded, not sent", channel,
                extra={"messageId": item["messageId"], "contactId": request.contact_id, "channel": channel,
                       "operations": [c.operation for c in record.calls] if record else []},
            )
        stored = self._update_status(item, fields)
        if channel == "whatsapp":
            # The message is sent and recorded: bookkeeping after this point must not turn it into an
            # error for the caller (who might then send it again).
            try:
                self._on_wamid(result.provider_message_id)
            except Exception:
                log.exception(
                    "applying early delivery statuses failed",
                    extra={"messageId": item["messageId"], "whatsappMessageId": result.provider_message_id},
                )
            if decided.policy_input["tier"]["opensConversation"]:
                try:
                    self._tier.record_opening(request.contact_id, now)
                except Exception:
                    self._metrics.inc("tier_record_errors_total")
                    log.exception("could not count a conversation opening toward the tier",
                                  extra={"messageId": item["messageId"], "contactId": request.contact_id})
        self._metrics.inc("messages_sent_total", {"channel": channel, "category": request.category})
        self._observe(attempt)
        return _outcome(stored)

    def _finish_error(
        self, attempt: _Attempt, item: Item, status: str, details: dict[str, Any]
    ) -> SendOutcome:
        request = attempt.request
        now = self._clock.now()
        stored = self._update_status(
            item, {"status": status, "statusTimestamps": {**item["statusTimestamps"], status: now},
                   "errorDetails": details},
        )
        extra = {"contactId": request.contact_id, "channel": request.channel, "messageId": item["messageId"],
                 "errorDetails": details}
        if status == "unknown":
            log.error("send outcome unknown; not retried automatically", extra=extra)
            self._metrics.inc("messages_unknown_total", {"channel": request.channel})
        else:
            log.warning("send failed: %s", details.get("code"), extra=extra)
            self._metrics.inc(
                "messages_failed_total", {"channel": request.channel, "code": str(details.get("code"))}
            )
        self._observe(attempt)
        return _outcome(stored)

    def _observe(self, attempt: _Attempt) -> None:
        self._metrics.observe(
            "gateway_send", time.perf_counter() - attempt.started, {"channel": attempt.request.channel}
        )

    def _update_status(self, item: Item, fields: Mapping[str, Any]) -> Item:
        key = {"messageId": item["messageId"]}
        try:
            # "unknown" too: recovery may have given up on a very slow call that has now answered.
            return self._messages.update(
                key, Update(set=dict(fields)), condition=Attr("status", "in", ["sending", "unknown"])
            )
        except ConditionFailed:
            log.error(
                "message status moved on while sending; keeping the stored one",
                extra={"messageId": item["messageId"], "wanted": fields.get("status")},
            )
            return self._messages.get(key) or {**item, **fields}


OUTBOX_MAX_BYTES = 64 * 1024  # keeps a message item far below DynamoDB's 400 KB item limit


def _outbox_document(record: dict[str, Any]) -> dict[str, Any]:
    """The DRY_RUN record as stored; a very large one (long HTML email) is summarised by its hash."""
    encoded = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    if len(encoded) <= OUTBOX_MAX_BYTES:
        return record
    return {
        "id": record.get("id"),
        "channel": record.get("channel"),
        "kind": record.get("kind"),
        "operations": [c.get("operation") for c in record.get("calls", [])],
        "truncated": True,
        "bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
    }


def _consent_evidence(contact: Mapping[str, Any], channel: str) -> dict[str, Any] | None:
    """The newest consent record of ``channel`` on the contact (who, when, source, evidence), if any."""
    history = contact.get("consentHistory")
    if not isinstance(history, list):
        return None
    for record in reversed(history):
        if isinstance(record, Mapping) and record.get("channel") == channel:
            return dict(record)
    return None


def _error_details(exc: ChannelError) -> dict[str, Any]:
    details = exc.to_dict()
    return {
        "code": exc.code,
        "message": exc.message,
        "requestId": exc.request_id,
        **{k: v for k, v in details.items() if k not in ("code", "message", "requestId")},
    }


def _outcome(item: Mapping[str, Any], *, replayed: bool = False) -> SendOutcome:
    return SendOutcome(
        message_id=str(item["messageId"]),
        status=str(item.get("status")),
        channel=str(item.get("channel")),
        decision=dict(item.get("decision") or {}),
        message=dict(item),
        error=item.get("errorDetails"),
        replayed=replayed,
    )


def gateway_from_bundle(
    *,
    tables: Tables,
    clock: Clock,
    settings: Settings,
    engine: PolicyEvaluator,
    params: Mapping[str, Any],
    drivers: Mapping[Channel, ChannelDriver],
    metrics: Metrics,
    alerts: Alerts,
    outbox: Outbox | None = None,
    audit: AuditTrail | None = None,
    on_whatsapp_message_id: Callable[[str], None] | None = None,
    max_rate_wait: float | None = None,
) -> Gateway:
    """The gateway wired the usual way: limits, tier default, alert level and window from ``params``.

    ``params`` is the policy bundle's (``load_bundle(...).params``), so every number the gateway
    enforces is the reviewed one the policies also see.
    """
    tier = TierTracker(
        tables, clock, alerts, metrics,
        default_limit=default_limit_from_params(params),
        alert_ratio=alert_ratio_from_params(params),
        window_seconds=tier_window_from_params(params),
    )
    return Gateway(
        tables=tables,
        clock=clock,
        settings=settings,
        engine=engine,
        limits=RateLimits.from_params(params),
        limiter=RateLimiter(tables["RateLimitTrackers"], clock),
        tier=tier,
        drivers=drivers,
        metrics=metrics,
        outbox=outbox,
        audit=audit,
        on_whatsapp_message_id=on_whatsapp_message_id,
        max_rate_wait=max_rate_wait,
        window_seconds=window_seconds_from_params(params),
    )
