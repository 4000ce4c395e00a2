from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from channels.dryrun import DryRunRecorder
from channels.errors import ChannelRejected, ChannelUnavailable
from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.config import Environment, SendMode, Settings
from gateway.errors import InvalidInput, TooManyRequests, Unavailable
from gateway.metrics import Metrics
from gateway.outbound.gateway import Gateway
from gateway.outbound.tier import TierTracker
from gateway.outbound.types import (
    EmailContent,
    MediaContent,
    MediaUpload,
    OutboundRequest,
    TemplateContent,
    TextContent,
)
from gateway.store.memory import MemoryTables
from gateway.store.port import Update

from .fakes import PN1, PN2, RuleEngine, StoreCheckingDriver, contact_item

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1020


@pytest.fixture
def now(clock: FakeClock) -> float:
    return clock.now()


def add_contact(tables: MemoryTables, contact_id: str = "ct_1", **kw: Any) -> dict[str, Any]:
    item = contact_item(contact_id, now=kw.pop("now", 1_764_067_200.0), **kw)
    tables["Contacts"].put(item)
    return item


def wa_text(contact_id: str = "ct_1", body: str = "Hello", **kw: Any) -> OutboundRequest:
    return OutboundRequest(contact_id=contact_id, channel="whatsapp", content=TextContent(body), **kw)


def wa_template(contact_id: str = "ct_1", **kw: Any) -> OutboundRequest:
    return OutboundRequest(
        contact_id=contact_id, channel="whatsapp", content=TemplateContent("order_update", "en_GB"), **kw
    )


def total_calls(drivers: dict[str, StoreCheckingDriver]) -> int:
    return sum(len(d.calls) for d in drivers.values())


# -- allow ----------------------------------------------------------------------------------------


def test_an_allowed_send_persists_decision_and_input_before_the_driver_call(
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
    engine: RuleEngine,
) -> None:
    add_contact(tables, last_inbound=now - 60)
    outcome = gateway.send(wa_text(actor="u_op"))
    assert outcome.status == "sent" and outcome.allowed and not outcome.replayed
    assert len(drivers["whatsapp"].calls) == 1
    assert drivers["whatsapp"].violations == []
    stored = tables["Messages"].get({"messageId": outcome.message_id})
    assert stored is not None
    assert stored["policyInput"] == engine.inputs[-1]  # the exact input it was decided on
    assert stored["decision"]["allowed"] is True
    assert stored["whatsappMessageId"] == "whatsapp-provider-1"
    assert stored["statusTimestamps"].keys() == {"sending", "sent"}
    assert (stored["category"], stored["origin"], stored["phoneNumberId"]) == ("free-form", "api", PN1)
    assert stored["expiresAt"] == int(now) + 30 * 86400
    assert stored["createdBy"] == "u_op"


def test_the_second_phone_number_can_be_chosen(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    outcome = gateway.send(wa_text(phone_number_id=PN2))
    assert outcome.status == "sent"
    assert drivers["whatsapp"].calls[0].calls[0].params["originationPhoneNumberId"] == PN2


# -- deny -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact", "request_kw", "reason"),
    [
        ({"whatsapp": False}, {}, "OPT_IN_REQUIRED"),
        (None, {}, "CONTACT_NOT_FOUND"),
        ({"deleted": True}, {}, "CONTACT_DELETED"),
        ({"phone": None}, {}, "RECIPIENT_ADDRESS_MISSING"),
        ({}, {"phone_number_id": "phone-number-id-00000000000000000000000000000000"}, "NOT_ALLOWLISTED"),
    ],
)
def test_a_deny_never_reaches_any_driver_and_never_falls_back(
    *,
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
    caplog: pytest.LogCaptureFixture,
    metrics: Metrics,
    contact: dict[str, Any] | None,
    request_kw: dict[str, Any],
    reason: str,
) -> None:
    if contact is not None:
        add_contact(tables, last_inbound=now - 60, **contact)
    with caplog.at_level(logging.WARNING, logger="wecare.gateway"):
        outcome = gateway.send(wa_text(**request_kw))
    assert outcome.status == "rejected"
    assert reason in outcome.reasons
    assert total_calls(drivers) == 0  # not WhatsApp, and not SMS or email instead
    stored = tables["Messages"].get({"messageId": outcome.message_id})
    assert stored is not None and stored["status"] == "rejected"
    assert reason in stored["decision"]["reasons"]
    record = next(r for r in caplog.records if r.getMessage().startswith("message rejected"))
    assert record.contactId == "ct_1"  # type: ignore[attr-defined]
    assert record.channel == "whatsapp"  # type: ignore[attr-defined]
    assert reason in record.reasons  # type: ignore[attr-defined]
    assert metrics.counter("messages_rejected_total", {"channel": "whatsapp", "reason": reason}) == 1


def test_free_form_outside_the_window_needs_a_template_and_logs_a_warning(
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_contact(tables, last_inbound=now - 86400)  # exactly 24 h ago: closed
    with caplog.at_level(logging.WARNING, logger="wecare.gateway"):
        outcome = gateway.send(wa_text())
    assert outcome.reasons == ["TEMPLATE_REQUIRED"]
    assert total_calls(drivers) == 0
    assert any("outside the 24-hour" in r.getMessage() for r in caplog.records)
    assert outcome.message["category"] == "free-form"


def test_a_template_passes_outside_the_window_and_counts_toward_the_tier(
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    tier: TierTracker,
) -> None:
    add_contact(tables)  # never wrote to us
    outcome = gateway.send(wa_template())
    assert outcome.status == "sent"
    assert outcome.message["category"] == "template"
    assert outcome.message["policyInput"]["tier"] == {"limit": 250, "used24h": 0, "opensConversation": True}
    assert tier.used24h() == 1
    second = gateway.send(wa_template())  # same recipient within 24 h opens nothing new
    assert second.message["policyInput"]["tier"] == {"limit": 250, "used24h": 1, "opensConversation": False}
    assert tier.used24h() == 1
    assert len(drivers["whatsapp"].calls) == 2


def test_the_tier_limit_refuses_only_sends_that_open_a_conversation(
    gateway: Gateway, tables: MemoryTables, tier: TierTracker, now: float
) -> None:
    tables["SystemConfig"].put({"configKey": "whatsapp.tier.limit", "configValue": 2})
    for i in range(3):
        add_contact(tables, f"ct_{i}", phone=f"+44781234567{i}")
    assert gateway.send(wa_template("ct_0")).status == "sent"
    assert gateway.send(wa_template("ct_1")).status == "sent"
    refused = gateway.send(wa_template("ct_2"))
    assert refused.reasons == ["TIER_LIMIT"]
    assert gateway.send(wa_template("ct_0")).status == "sent"  # already counted: opens nothing


def test_a_failed_send_does_not_count_toward_the_tier(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], tier: TierTracker
) -> None:
    add_contact(tables)
    drivers["whatsapp"].fail_with = ChannelRejected("bad template", code="ValidationException")
    assert gateway.send(wa_template()).status == "failed"
    assert tier.used24h() == 0


# -- send modes -----------------------------------------------------------------------------------


def test_dry_run_settings_never_reach_a_live_driver(
    *,
    make_gateway: Callable[..., Gateway],
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    dry_settings: Settings,
    now: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = make_gateway(settings=dry_settings)
    assert gateway.live is False
    add_contact(tables, last_inbound=now - 60)
    with caplog.at_level(logging.INFO, logger="wecare.gateway"):
        outcomes = [
            gateway.send(wa_text()),
            gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("hi"))),
            gateway.send(
                OutboundRequest(contact_id="ct_1", channel="email", content=EmailContent("Hi", text="Hello"))
            ),
        ]
    assert [o.status for o in outcomes] == ["sent", "sent", "sent"]
    assert total_calls(drivers) == 0
    for outcome in outcomes:
        stored = outcome.message
        assert stored["sendMode"] == "DRY_RUN"
        assert stored["providerMessageId"].startswith("dryrun-")
        assert stored["outbox"]["calls"]  # exactly what LIVE would have called
    ops = [c["operation"] for o in outcomes for c in o.message["outbox"]["calls"]]
    assert ops == ["SendWhatsAppMessage", "SendTextMessage", "SendEmail"]
    assert outcomes[0].message["outbox"]["calls"][0]["params"]["message"]["text"]["body"] == "Hello"
    assert sum("DRY_RUN" in r.getMessage() for r in caplog.records) == 3
    assert outcomes[1].message["sms"]["segments"] == 1


def test_live_mode_outside_production_is_forbidden_and_recorded_not_sent(
    make_gateway: Callable[..., Gateway],
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
) -> None:
    # Settings refuse this combination at start-up; build it anyway to prove the gateway does not trust it.
    rogue = Settings.model_construct(SEND_MODE=SendMode.LIVE, ENVIRONMENT=Environment.staging)
    gateway = make_gateway(settings=rogue)
    assert gateway.live is False
    add_contact(tables, last_inbound=now - 60)
    outcome = gateway.send(wa_text())
    assert outcome.reasons == ["SEND_MODE_FORBIDDEN"]
    assert total_calls(drivers) == 0


def test_a_dry_run_recorder_given_as_driver_is_used_as_is(
    make_gateway: Callable[..., Gateway],
    tables: MemoryTables,
    dry_settings: Settings,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
) -> None:
    records: list[Any] = []
    recorder = DryRunRecorder(drivers["sms"].builder, records.append)
    gateway = make_gateway(settings=dry_settings, drivers={**drivers, "sms": recorder})
    add_contact(tables)
    assert (
        gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("x"))).status
        == "sent"
    )
    assert len(records) == 1


# -- failures -------------------------------------------------------------------------------------


def test_a_provider_error_is_stored_as_failed_with_error_details(
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
    metrics: Metrics,
) -> None:
    add_contact(tables)
    drivers["sms"].fail_with = ChannelRejected(
        "number opted out", code="ValidationException", request_id="req-9", http_status=400
    )
    outcome = gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("hi")))
    assert outcome.status == "failed"
    stored = tables["Messages"].get({"messageId": outcome.message_id})
    assert stored is not None
    assert stored["errorDetails"]["code"] == "ValidationException"
    assert stored["errorDetails"]["message"] == "number opted out"
    assert stored["errorDetails"]["requestId"] == "req-9"
    assert metrics.counter("messages_failed_total", {"channel": "sms", "code": "ValidationException"}) == 1
    assert len(drivers["email"].calls) == 0 and len(drivers["whatsapp"].calls) == 0  # no fallback


def test_a_lost_answer_is_unknown_not_failed(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver]
) -> None:
    add_contact(tables)
    drivers["email"].fail_with = ChannelUnavailable("read timeout", code="OutcomeUnknown", retryable=False)
    outcome = gateway.send(
        OutboundRequest(contact_id="ct_1", channel="email", content=EmailContent("Hi", text="Hello"))
    )
    assert outcome.status == "unknown"
    assert outcome.error is not None and outcome.error["code"] == "OutcomeUnknown"


def test_an_unexpected_error_marks_the_message_unknown_and_propagates(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver]
) -> None:
    add_contact(tables)
    drivers["sms"].boom = RuntimeError("bug")
    with pytest.raises(RuntimeError, match="bug"):
        gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("hi")))
    stored = tables["Messages"].query("unknown", index="byStatus").items
    assert len(stored) == 1 and stored[0]["errorDetails"]["code"] == "INTERNAL"


def test_content_the_channel_refuses_is_stored_failed_without_a_driver_call(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    media = MediaContent("image", upload=MediaUpload(b"not an image", "image/gif"))
    outcome = gateway.send(OutboundRequest(contact_id="ct_1", channel="whatsapp", content=media))
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error["type"] == "ContentInvalid"
    assert total_calls(drivers) == 0


# -- media ----------------------------------------------------------------------------------------


def test_media_by_uploaded_file_id_uses_the_stored_object(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    tables["MediaFiles"].put(
        {
            "fileId": "f_1",
            "s3Key": "uploads/f_1.jpg",
            "contentType": "image/jpeg",
            "size": 2048,
            "uploadedAt": now,
        }
    )
    outcome = gateway.send(
        OutboundRequest(
            contact_id="ct_1",
            channel="whatsapp",
            content=MediaContent("image", file_id="f_1", caption="Receipt"),
        )
    )
    assert outcome.status == "sent"
    calls = drivers["whatsapp"].calls[0].calls
    assert [c.operation for c in calls] == ["HeadObject", "PostWhatsAppMessageMedia", "SendWhatsAppMessage"]
    assert calls[0].params == {"Bucket": "auth.wecare.digital", "Key": "uploads/f_1.jpg"}
    assert outcome.message["content"] == {
        "type": "media",
        "mediaKind": "image",
        "fileId": "f_1",
        "caption": "Receipt",
    }


def test_an_unknown_file_id_is_an_invalid_request(gateway: Gateway, tables: MemoryTables) -> None:
    add_contact(tables)
    with pytest.raises(InvalidInput) as err:
        gateway.send(
            OutboundRequest(
                contact_id="ct_1", channel="whatsapp", content=MediaContent("image", file_id="nope")
            )
        )
    assert err.value.code == "FILE_NOT_FOUND"
    assert tables["Messages"].scan().items == []


def test_uploaded_bytes_are_summarised_not_stored(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    upload = MediaUpload(JPEG, "image/jpeg", "photo.jpg")
    outcome = gateway.send(
        OutboundRequest(contact_id="ct_1", channel="whatsapp", content=MediaContent("image", upload=upload))
    )
    assert outcome.status == "sent"
    assert outcome.message["content"]["upload"]["bytes"] == len(JPEG)
    assert drivers["whatsapp"].calls[0].calls[0].operation == "PutObject"


# -- idempotency ----------------------------------------------------------------------------------


def test_a_repeat_with_the_same_key_returns_the_first_result_and_never_sends_twice(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    first = gateway.send(wa_text(actor="u_1", idempotency_key="key-1"))
    again = gateway.send(wa_text(actor="u_1", idempotency_key="key-1"))
    assert again.replayed and not first.replayed
    assert again.message_id == first.message_id and again.status == "sent"
    assert len(drivers["whatsapp"].calls) == 1
    idem = tables["Messages"].get({"messageId": "idem#u_1#key-1"})
    assert idem is not None and idem["kind"] == "idempotency"
    assert idem["resultMessageId"] == first.message_id
    assert "contactId" not in idem and "whatsappMessageId" not in idem and "status" not in idem


def test_the_same_key_with_a_different_body_is_refused(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    gateway.send(wa_text(actor="u_1", idempotency_key="key-1"))
    with pytest.raises(InvalidInput) as err:
        gateway.send(wa_text(body="Something else", actor="u_1", idempotency_key="key-1"))
    assert err.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert len(drivers["whatsapp"].calls) == 1


def test_keys_are_scoped_per_caller(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    a = gateway.send(wa_text(actor="u_1", idempotency_key="k"))
    b = gateway.send(wa_text(actor="u_2", idempotency_key="k"))
    assert a.message_id != b.message_id and len(drivers["whatsapp"].calls) == 2


def test_a_rejection_is_also_the_first_result(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, whatsapp=False, last_inbound=now - 60)
    first = gateway.send(wa_text(actor="u_1", idempotency_key="k"))
    tables["Contacts"].update({"contactId": "ct_1"}, Update(set={"optInWhatsApp": True}))
    again = gateway.send(wa_text(actor="u_1", idempotency_key="k"))
    assert (first.status, again.status, again.replayed) == ("rejected", "rejected", True)
    assert total_calls(drivers) == 0


def test_a_first_attempt_that_died_before_persisting_does_not_block_the_key(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    request = wa_text(actor="u_1", idempotency_key="k")
    tables["Messages"].put(
        {
            "messageId": "idem#u_1#k",
            "kind": "idempotency",
            "requestHash": request.fingerprint(),
            "resultMessageId": "msg_x",
            "createdAt": now,
            "expiresAt": int(now) + 100,
        }
    )
    outcome = gateway.send(request)
    assert outcome.status == "sent" and len(drivers["whatsapp"].calls) == 1


def test_concurrent_repeats_send_exactly_once(
    tables: MemoryTables,
    make_gateway: Callable[..., Gateway],
    drivers: dict[str, StoreCheckingDriver],
    now: float,
) -> None:
    gateway = make_gateway()
    add_contact(tables, last_inbound=now - 60)
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []

    def go() -> None:
        barrier.wait()
        outcomes.append(gateway.send(wa_text(actor="u_1", idempotency_key="same")))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 8
    assert len({o.message_id for o in outcomes}) == 1
    assert len(drivers["whatsapp"].calls) == 1
    assert sum(not o.replayed for o in outcomes) == 1


def test_a_caller_derived_message_id_sends_at_most_once(
    gateway: Gateway, tables: MemoryTables, drivers: dict[str, StoreCheckingDriver], now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    request = wa_text(
        origin="bulk", actor="bulk:job_1", message_id="msg_job_1_r_7", context={"bulkJobId": "job_1"}
    )
    first = gateway.send(request)
    again = gateway.send(request)
    assert first.message_id == "msg_job_1_r_7" and again.replayed
    assert len(drivers["whatsapp"].calls) == 1
    assert first.message["context"] == {"bulkJobId": "job_1"}


# -- rate limits ----------------------------------------------------------------------------------


def test_excess_sms_is_delayed_not_dropped(
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    clock: FakeClock,
    metrics: Metrics,
) -> None:
    add_contact(tables)
    start = clock.now()
    stamps = []
    for i in range(12):
        outcome = gateway.send(
            OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent(f"m{i}"))
        )
        assert outcome.status == "sent"
        stamps.append(outcome.message["statusTimestamps"]["sending"])
    assert len(drivers["sms"].calls) == 12
    assert clock.now() - start >= 2.0  # 12 at 5/s
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 1.0
    assert metrics.counter("messages_sent_total", {"channel": "sms", "category": "service"}) == 12


def test_consent_withdrawn_while_waiting_for_tokens_is_honoured(
    make_gateway: Callable[..., Gateway],
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    clock: FakeClock,
) -> None:
    add_contact(tables)

    class WithdrawingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            clock.sleep(seconds)
            tables["Contacts"].put({**tables["Contacts"].get({"contactId": "ct_1"}), "optInSms": False})

        def now(self) -> float:
            return clock.now()

    gateway = make_gateway(clock=WithdrawingClock())
    first = gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("m1")))
    # The second must wait (SMS grants are spaced 1/5 s apart); consent is withdrawn meanwhile.
    second = gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("m2")))
    assert (first.status, second.status, second.reasons) == ("sent", "rejected", ["OPT_IN_REQUIRED"])
    assert second.message["timestamp"] >= first.message["timestamp"] + 0.2  # decided again after waiting
    assert len(drivers["sms"].calls) == 1


def test_an_api_caller_is_told_to_retry_instead_of_waiting_too_long(
    gateway: Gateway, tables: MemoryTables, clock: FakeClock
) -> None:
    add_contact(tables)
    gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("m")))
    before = len(tables["Messages"].scan(limit=1000).items)
    with pytest.raises(TooManyRequests) as err:  # the next SMS token is 0.2 s away
        gateway.send(
            OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("x")), max_rate_wait=0.1
        )
    assert err.value.code == "RATE_LIMITED"
    assert 0 < err.value.details["retryAfterSeconds"] <= 0.2
    assert len(tables["Messages"].scan(limit=1000).items) == before  # nothing stored


# -- callbacks and metrics ------------------------------------------------------------------------


def test_the_whatsapp_message_id_is_announced_after_it_is_stored(
    make_gateway: Callable[..., Gateway], tables: MemoryTables, now: float
) -> None:
    seen: list[tuple[str, str | None]] = []

    def on_wamid(wamid: str) -> None:
        found = tables["Messages"].query(wamid, index="byWhatsappMessageId").items
        seen.append((wamid, found[0]["status"] if found else None))

    gateway = make_gateway(on_whatsapp_message_id=on_wamid)
    add_contact(tables, last_inbound=now - 60)
    gateway.send(wa_text())
    assert seen == [("whatsapp-provider-1", "sent")]


def test_latency_is_observed_per_channel(
    gateway: Gateway, tables: MemoryTables, metrics: Metrics, now: float
) -> None:
    add_contact(tables, last_inbound=now - 60)
    gateway.send(wa_text())
    text = metrics.render_prometheus()
    assert 'wecare_gateway_send_seconds_count{channel="whatsapp"} 1' in text
    assert 'wecare_driver_call_seconds_count{channel="whatsapp"} 1' in text


def test_a_denial_is_audited_when_an_audit_log_is_wired(
    make_gateway: Callable[..., Gateway], tables: MemoryTables, clock: FakeClock
) -> None:
    gateway = make_gateway(audit=AuditLog(tables, clock))
    add_contact(tables, sms=False)
    outcome = gateway.send(
        OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("x"), actor="u_op")
    )
    [record] = tables["AuditLogs"].scan().items
    assert (record["userId"], record["action"], record["resourceId"]) == (
        "u_op",
        "message.rejected",
        outcome.message_id,
    )
    assert record["details"]["reasons"] == ["OPT_IN_REQUIRED"]


def test_bookkeeping_after_a_successful_send_never_fails_the_send(
    make_gateway: Callable[..., Gateway],
    tables: MemoryTables,
    tier: TierTracker,
    drivers: dict[str, StoreCheckingDriver],
    metrics: Metrics,
) -> None:
    def broken_callback(_wamid: str) -> None:
        raise RuntimeError("inbound store unavailable")

    def broken_alert_check(_now: float | None = None) -> None:
        raise RuntimeError("trackers unavailable")

    tier.after_opening = broken_alert_check  # type: ignore[method-assign]
    gateway = make_gateway(on_whatsapp_message_id=broken_callback)
    add_contact(tables)
    outcome = gateway.send(wa_template())
    assert outcome.status == "sent" and len(drivers["whatsapp"].calls) == 1
    assert metrics.counter("tier_record_errors_total") == 1


def test_a_channel_without_a_driver_is_unavailable(
    make_gateway: Callable[..., Gateway], drivers: dict[str, StoreCheckingDriver], tables: MemoryTables
) -> None:
    gateway = make_gateway(drivers={"whatsapp": drivers["whatsapp"]})
    add_contact(tables)
    with pytest.raises(Unavailable):
        gateway.send(OutboundRequest(contact_id="ct_1", channel="sms", content=TextContent("x")))


# -- decide without sending -----------------------------------------------------------------------------


def test_decide_is_the_send_decision_with_no_side_effect(
    gateway: Gateway,
    tables: MemoryTables,
    drivers: dict[str, StoreCheckingDriver],
    now: float,
    engine: RuleEngine,
) -> None:
    add_contact(tables, last_inbound=now - 60)
    decided = gateway.decide(wa_text())
    assert decided.decision.allowed
    assert decided.policy_input["request"]["phoneNumberId"] == PN1
    assert tables["Messages"].scan(limit=10).items == []  # no row
    assert tables["RateLimitTrackers"].scan(limit=10).items == []  # no token
    assert total_calls(drivers) == 0
    sent = gateway.send(wa_text())
    assert sent.message["policyInput"] == dict(decided.policy_input)  # the same input a send decides on
