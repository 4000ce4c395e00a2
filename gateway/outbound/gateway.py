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
that looks half-sent. A message denied when first decided never takes a token; one whose facts changed
while it waited for its token has taken it (capacity, never safety).

Per-message outcomes (rejected, failed) are returned, never raised, so a bulk worker can record them;
only an invalid request (:class:`~gateway.errors.InvalidInput`), a rate-limit wait beyond
``max_rate_wait`` (:class:`~gateway.errors.TooManyRequests`) and infrastructure failures raise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from channels.base import Channel, ChannelDriver, PreparedRequest, SendResult
from channels.dryrun import DryRunRecorder
from channels.errors import ChannelError, ContentInvalid
from gateway.clock import Clock
from gateway.config import Environment, SendMode, Settings
from gateway.errors import TooManyRequests, Unavailable
from gateway.messages.repository import MessageRepository
from gateway.messages.status import MessageStatus
from gateway.metrics import Metrics
from gateway.outbound.compose import Media, channel_message, resolve_media
from gateway.outbound.idempotency import (
    IDEMPOTENCY_KIND,
    IDEMPOTENCY_PREFIX,
    Idempotency,
    idempotent_message_id,
    new_message_id,
)
from gateway.outbound.policy_input import WINDOW_SECONDS, build_policy_input, is_real_contact, window_open
from gateway.outbound.ports import AuditTrail, Decision, PolicyEvaluator
from gateway.outbound.ratelimit import Bucket, RateLimiter, RateLimits, RateLimitTimeout
from gateway.outbound.records import (
    Attempt,
    Decided,
    error_details,
    message_row,
    outbox_document,
    outcome,
    send_status,
)
from gateway.outbound.tier import Count, TierTracker
from gateway.outbound.types import OutboundRequest, Outbox, SendOutcome
from gateway.store.port import Item, Tables

log = logging.getLogger("wecare.gateway")

__all__ = [
    "IDEMPOTENCY_KIND",
    "IDEMPOTENCY_PREFIX",
    "AuditTrail",
    "Decision",
    "Gateway",
    "PolicyEvaluator",
    "idempotent_message_id",
    "new_message_id",
]


TIER_RACE_ATTEMPTS = 16


def _bulk_job(request: OutboundRequest) -> str | None:
    """The bulk job a recipient's send belongs to: its sends draw on the job's tier reservation."""
    return request.context.get("bulkJobId") if request.origin == "bulk" else None


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
        on_recorded: Callable[[Mapping[str, Any]], None] | None = None,
        sending_paused: Callable[[str], bool] | None = None,
        max_rate_wait: float | None = None,
        window_seconds: int = WINDOW_SECONDS,
        id_factory: Callable[[], str] = new_message_id,
    ) -> None:
        self._messages = MessageRepository(tables)
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
        self._on_recorded = on_recorded
        self._sending_paused = sending_paused or (lambda _channel: False)
        self._max_rate_wait = max_rate_wait
        self._window_seconds = window_seconds
        self._idempotency = Idempotency(self._messages, clock, metrics, id_factory)
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

    # -- the public operations ----------------------------------------------------------------------

    def phone_number_id(self, request: OutboundRequest) -> str:
        """The sending number of a WhatsApp request (the first configured one unless it names one)."""
        if request.channel != "whatsapp":
            return ""
        return request.phone_number_id or self._settings.WHATSAPP_PHONE_NUMBER_ID_1

    def decide(self, request: OutboundRequest) -> Decided:
        """The decision ``send`` would make now, with no side effect (no row, no token, no tier count).

        Bulk preflight uses this, so a job's forecast comes from the same input builder and engine.
        """
        return self._decide(request, self.phone_number_id(request))[1]

    def send(self, request: OutboundRequest, *, max_rate_wait: float | None = None) -> SendOutcome:
        """Decide, persist and (if allowed) send one message; see the module docstring for the steps.

        ``max_rate_wait`` bounds how long to wait for rate-limit tokens (default: the constructor's;
        None there means wait as long as it takes). Beyond it: TooManyRequests, nothing stored.
        """
        result = self._send(request, max_rate_wait)
        if self._on_recorded is not None and not result.replayed and request.origin != "bulk":
            # The DM inbox follows people's conversations, not campaigns. Bookkeeping only: the outcome
            # is stored and final, so a failure here must not become the caller's error.
            try:
                self._on_recorded(result.message)
            except Exception:
                self._metrics.inc("outbound_listener_errors_total")
                log.exception(
                    "recording the outbound message in the inbox failed",
                    extra={"messageId": result.message_id},
                )
        return result

    def _send(self, request: OutboundRequest, max_rate_wait: float | None) -> SendOutcome:
        channel = request.channel
        if channel not in self._senders:
            raise Unavailable(f"no {channel} driver is configured on this server", code="CHANNEL_UNAVAILABLE")
        attempt = Attempt(
            request, self._idempotency.message_id(request), request.fingerprint(), time.perf_counter()
        )
        earlier = self._idempotency.earlier_result(attempt)
        if earlier is not None:
            return earlier
        media = resolve_media(self._media, self._settings.MEDIA_BUCKET, request)
        phone_number_id = self.phone_number_id(request)
        buckets = self._limits.buckets(channel, phone_number_id)
        admitted = self._admit(attempt, phone_number_id, media, buckets, max_rate_wait)
        if isinstance(admitted, SendOutcome):
            return admitted
        contact, decided, prepared, counted = admitted
        item = self._sending_row(attempt, decided, contact, prepared)
        if not self._messages.insert(item):
            # A concurrent identical request persisted first; it alone calls the driver.
            if counted:
                self._release_opening(request.contact_id, attempt.message_id)
            return self._idempotency.replay_winner(attempt, item)
        sent = self._deliver(attempt, decided, item, prepared, buckets)
        if counted and sent.status is MessageStatus.failed:
            # Definitively not delivered (a provider refusal): the recipient was not reached.
            self._release_opening(request.contact_id, attempt.message_id)
        return sent

    # -- steps -------------------------------------------------------------------------------------

    def _decide(self, request: OutboundRequest, phone_number_id: str) -> tuple[Item | None, Decided]:
        """One decision on fresh facts: contact, window, tier counters, environment."""
        now = self._clock.now()
        contact = self._contact(request.contact_id)
        in_window = window_open(contact, now, self._window_seconds)
        tier = self._tier.snapshot(
            request.channel, request.contact_id, in_window, now, job_id=_bulk_job(request)
        )
        policy_input = build_policy_input(
            request,
            contact,
            now=now,
            settings=self._settings,
            tier=tier,
            phone_number_id=phone_number_id,
            paused=self._sending_paused(request.channel),
        )
        return contact, Decided(policy_input, self._engine.evaluate(policy_input), now)

    def _admit(
        self,
        attempt: Attempt,
        phone_number_id: str,
        media: Media | None,
        buckets: tuple[Bucket, ...],
        max_rate_wait: float | None,
    ) -> SendOutcome | tuple[Item | None, Decided, PreparedRequest, bool]:
        """Decide, build, take the rate tokens and (opening a conversation) a tier slot; a refusal is
        the stored outcome. Returns (contact, decision, request, whether a tier slot was counted)."""
        request, channel = attempt.request, attempt.request.channel
        limit_wait = self._max_rate_wait if max_rate_wait is None else max_rate_wait
        waited = 0.0
        counted = False
        holding = False  # the rate-limit tokens are taken
        races = 0
        while True:
            contact, decided = self._decide(request, phone_number_id)
            if not decided.decision.allowed:
                return self._reject(attempt, decided)
            try:
                message = channel_message(request, contact, phone_number_id, media, attempt.message_id)
                prepared = self._senders[channel].build_request(message)
            except ContentInvalid as exc:
                return self._fail_preflight(attempt, decided, exc)
            if not holding:
                wait = self._limiter.try_acquire(buckets)
                if wait > 0:
                    # Delayed, never dropped: wait, take the token the moment it is due (deciding
                    # first would make every paced send late by a decision, and the rate fall
                    # short), then decide again on fresh facts.
                    while wait > 0:
                        self._check_wait(channel, waited, wait, limit_wait)
                        self._clock.sleep(wait)
                        waited += wait
                        wait = self._limiter.try_acquire(buckets)
                    holding = True
                    continue
            if not decided.policy_input["tier"]["opensConversation"]:
                break
            # The policy saw capacity; the ledger's compare-and-set is what holds it. Lost to a racing
            # sender: decide again, on the numbers that now include the winner's count.
            count = self._tier.count_opening(
                request.contact_id,
                message_id=attempt.message_id,
                job_id=_bulk_job(request),
                now=decided.now,
            )
            if count is not Count.full:
                counted = count is Count.counted
                break
            races += 1
            if races >= TIER_RACE_ATTEMPTS:
                raise TooManyRequests(
                    "the WhatsApp messaging limit is contended by other senders; retry shortly",
                    code="RATE_LIMITED",
                    details={"retryAfterSeconds": 1.0},
                )
        if waited:
            self._metrics.observe("rate_limit_wait", waited, {"channel": channel})
        return contact, decided, prepared, counted

    def _release_opening(self, contact_id: str, message_id: str) -> None:
        try:
            self._tier.release_opening(contact_id, message_id)
        except Exception:
            # Keeping the slot overcounts by one: the safe side, so the failed send still stands.
            self._metrics.inc("tier_record_errors_total")
            log.exception("could not release a tier slot", extra={"messageId": message_id})

    def _check_wait(self, channel: str, waited: float, wait: float, limit: float | None) -> None:
        if limit is not None and waited + wait > limit:
            self._metrics.inc("rate_limit_timeouts_total", {"channel": channel})
            raise TooManyRequests(
                f"the {channel} rate limit is saturated; retry in {wait:.1f} s",
                code="RATE_LIMITED",
                details={"retryAfterSeconds": round(wait, 3)},
            ) from RateLimitTimeout(waited, wait)

    def _row(self, attempt: Attempt, decided: Decided, contact: Item | None) -> Item:
        return message_row(attempt, decided, contact, live=self._live, retention=self._messages.retention)

    def _sending_row(
        self, attempt: Attempt, decided: Decided, contact: Item | None, prepared: PreparedRequest
    ) -> Item:
        item = self._row(attempt, decided, contact)
        item["status"] = MessageStatus.sending.value
        item["statusTimestamps"] = {"sending": decided.now}
        if attempt.request.channel == "sms":
            item["sms"] = {
                k: prepared.info[k]
                for k in ("encoding", "segments", "units", "characters")
                if k in prepared.info
            }
        return item

    def _contact(self, contact_id: str) -> Item | None:
        item = self._contacts.get({"contactId": contact_id})
        return item if is_real_contact(item) else None

    def _reject(self, attempt: Attempt, decided: Decided) -> SendOutcome:
        request = attempt.request
        item = self._row(attempt, decided, None)
        item["status"] = MessageStatus.rejected.value
        item["statusTimestamps"] = {"rejected": decided.now}
        if not self._messages.insert(item):
            return self._idempotency.replay_winner(attempt, item)
        reasons = list(decided.decision.reasons)
        log.warning(
            "message rejected by policy: %s",
            ", ".join(reasons),
            extra={
                "contactId": request.contact_id,
                "channel": request.channel,
                "reasons": reasons,
                "messageId": attempt.message_id,
                "origin": request.origin,
            },
        )
        if "TEMPLATE_REQUIRED" in reasons:
            log.warning(
                "free-form WhatsApp message outside the 24-hour customer-service window; use a template",
                extra={
                    "contactId": request.contact_id,
                    "channel": request.channel,
                    "reasons": ["TEMPLATE_REQUIRED"],
                    "messageId": attempt.message_id,
                    "lastInboundMessageAt": decided.policy_input["contact"]["lastInboundMessageAt"],
                },
            )
        for reason in reasons or ["UNSPECIFIED"]:
            self._metrics.inc("messages_rejected_total", {"channel": request.channel, "reason": reason})
        self._audit_rejection(attempt, reasons)
        self._observe(attempt)
        return outcome(item)

    def _audit_rejection(self, attempt: Attempt, reasons: list[str]) -> None:
        if self._audit is None:
            return
        request = attempt.request
        try:
            self._audit.record(
                request.actor or f"system:{request.origin}",
                "message.rejected",
                "message",
                attempt.message_id,
                {
                    "contactId": request.contact_id,
                    "channel": request.channel,
                    "reasons": reasons,
                    "origin": request.origin,
                },
            )
        except Exception:
            # The rejected message itself is stored with its decision; a lost audit copy must not
            # turn a refusal into an error for the caller.
            log.exception("could not audit a rejected message", extra={"messageId": attempt.message_id})

    def _fail_preflight(self, attempt: Attempt, decided: Decided, exc: ContentInvalid) -> SendOutcome:
        """The driver's own checks refused the content: stored as failed; nothing was sent."""
        request = attempt.request
        item = self._row(attempt, decided, None)
        item["status"] = MessageStatus.failed.value
        item["statusTimestamps"] = {"failed": decided.now}
        item["errorDetails"] = error_details(exc)
        if not self._messages.insert(item):
            return self._idempotency.replay_winner(attempt, item)
        log.warning(
            "message content refused before sending: %s",
            exc.message,
            extra={
                "contactId": request.contact_id,
                "channel": request.channel,
                "code": exc.code,
                "messageId": attempt.message_id,
            },
        )
        self._metrics.inc("messages_failed_total", {"channel": request.channel, "code": exc.code})
        self._observe(attempt)
        return outcome(item)

    def _deliver(
        self,
        attempt: Attempt,
        decided: Decided,
        item: Item,
        prepared: PreparedRequest,
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
            return self._finish_error(attempt, item, send_status(exc), error_details(exc))
        except Exception as exc:
            # A bug, not a provider answer: we cannot tell whether the message left. Never guess "failed"
            # (a retry could then message the customer twice): record "unknown" and let the edge alert.
            details = {
                "code": "INTERNAL",
                "message": f"{type(exc).__name__}: {exc}"[:1000],
                "requestId": None,
            }
            self._finish_error(attempt, item, MessageStatus.unknown, details)
            raise
        self._metrics.observe("driver_call", time.perf_counter() - call_started, {"channel": channel})
        return self._finish_sent(attempt, decided, item, result)

    def _finish_sent(self, attempt: Attempt, decided: Decided, item: Item, result: SendResult) -> SendOutcome:
        request = attempt.request
        now = self._clock.now()
        channel = request.channel
        fields: dict[str, Any] = {
            "status": MessageStatus.sent.value,
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
                fields["outbox"] = outbox_document(record.to_json())
            log.info(
                "DRY_RUN: %s message recorded, not sent",
                channel,
                extra={
                    "messageId": item["messageId"],
                    "contactId": request.contact_id,
                    "channel": channel,
                    "operations": [c.operation for c in record.calls] if record else [],
                },
            )
        stored = self._messages.finish_send(item, fields)
        if channel == "whatsapp":
            self._after_whatsapp_send(attempt, decided, item, result, now)
        self._metrics.inc("messages_sent_total", {"channel": channel, "category": request.category})
        self._observe(attempt)
        return outcome(stored)

    def _after_whatsapp_send(
        self, attempt: Attempt, decided: Decided, item: Item, result: SendResult, now: float
    ) -> None:
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
                self._tier.after_opening(now)
            except Exception:
                self._metrics.inc("tier_record_errors_total")
                log.exception(
                    "could not check the tier alert after a conversation opening",
                    extra={"messageId": item["messageId"], "contactId": attempt.request.contact_id},
                )

    def _finish_error(
        self, attempt: Attempt, item: Item, status: MessageStatus, details: dict[str, Any]
    ) -> SendOutcome:
        request = attempt.request
        now = self._clock.now()
        stamps = {**item["statusTimestamps"], status.value: now}
        stored = self._messages.finish_send(
            item, {"status": status.value, "statusTimestamps": stamps, "errorDetails": details}
        )
        extra = {
            "contactId": request.contact_id,
            "channel": request.channel,
            "messageId": item["messageId"],
            "errorDetails": details,
        }
        if status is MessageStatus.unknown:
            log.error("send outcome unknown; not retried automatically", extra=extra)
            self._metrics.inc("messages_unknown_total", {"channel": request.channel})
        else:
            log.warning("send failed: %s", details.get("code"), extra=extra)
            self._metrics.inc(
                "messages_failed_total", {"channel": request.channel, "code": str(details.get("code"))}
            )
        self._observe(attempt)
        return outcome(stored)

    def _observe(self, attempt: Attempt) -> None:
        self._metrics.observe(
            "gateway_send", time.perf_counter() - attempt.started, {"channel": attempt.request.channel}
        )
