from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from gateway.clock import FakeClock
from gateway.dlq import DlqService
from gateway.inbound.keywords import KeywordConfig
from gateway.inbound.service import INBOUND_DLQ, InboundService, inbound_message_id
from gateway.queue.memory import MemoryQueues
from gateway.store.conditions import eq
from gateway.store.memory import MemoryTables

from .events import P1, envelope, fixture_names, load, sns_event, text_event, text_value
from .fakes import FakeContacts

TEXT_WAMID = "wamid.HBgMNDQ3ODEyMzQ1Njc4FQIAEhgU066B11E8636D90A500ACAA=="


def inbound_messages(tables: MemoryTables) -> list[dict[str, Any]]:
    return tables["Messages"].scan(filter=eq("direction", "inbound"), limit=1000).items


def dlq_records(tables: MemoryTables) -> list[dict[str, Any]]:
    return tables["DLQMessages"].scan(limit=1000).items


@pytest.mark.parametrize("name", [n for n in fixture_names() if n.startswith("eum-inbound-")])
def test_every_inbound_fixture_is_stored(
    name: str, service: InboundService, tables: MemoryTables, contacts: FakeContacts, clock: FakeClock
) -> None:
    result = service.ingest_document(load(name))
    assert result.messages == 1 and result.deadLettered == 0, result.errors
    [stored] = inbound_messages(tables)
    assert stored["kind"] == "message" and stored["channel"] == "whatsapp"
    assert stored["status"] == "received" and stored["direction"] == "inbound"
    assert stored["messageId"] == inbound_message_id(stored["whatsappMessageId"])
    assert stored["phoneNumberId"].startswith("phone-number-id-")
    assert stored["expiresAt"] == int(clock.now()) + 30 * 86400
    assert isinstance(stored["timestamp"], int)
    contact = contacts.get(stored["contactId"])
    assert contact["phone"] == stored["from"]
    assert contact["lastInboundMessageAt"] == stored["timestamp"]


def test_status_fixtures_before_their_message_are_kept_pending(
    service: InboundService, tables: MemoryTables
) -> None:
    for name in fixture_names():
        if name.startswith("eum-status-"):
            result = service.ingest_document(load(name))
            assert result.pendingStatuses == 1 and result.deadLettered == 0
    pending = tables["Messages"].scan(filter=eq("kind", "pending-status"), limit=100).items
    assert sorted(p["statusEvent"]["status"] for p in pending) == ["delivered", "failed", "read", "sent"]
    for item in pending:  # never GSI keys: a pending status must not look like a message
        assert not {"status", "timestamp", "whatsappMessageId", "contactId"} & set(item)


def test_unknown_sender_becomes_a_contact_with_all_opt_ins_false(
    service: InboundService, contacts: FakeContacts
) -> None:
    service.ingest_document(load("eum-inbound-text.sns-lambda.json"))
    [(_, call)] = [c for c in contacts.calls if c[0] == "create"]
    assert call["source"] == "inbound_first_contact"
    assert call["data"]["name"] == "Amelia Hughes" and call["data"]["phone"] == "+447812345678"
    assert call["data"]["optInWhatsApp"] is False
    assert call["data"]["optInSms"] is False and call["data"]["optInEmail"] is False
    [contact] = contacts.items.values()
    assert (contact["optInWhatsApp"], contact["optInSms"], contact["optInEmail"]) == (False, False, False)


def test_known_sender_is_matched_by_phone(
    service: InboundService, contacts: FakeContacts, tables: MemoryTables
) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=True, name="Amelia H.")
    service.ingest_document(load("eum-inbound-text.sns-lambda.json"))
    [stored] = inbound_messages(tables)
    assert stored["contactId"] == known["contactId"]
    assert len(contacts.items) == 1


def test_same_event_twice_stores_one_message(
    service: InboundService, tables: MemoryTables, contacts: FakeContacts
) -> None:
    first = service.ingest_document(load("eum-inbound-text.sns-lambda.json"))
    second = service.ingest_document(load("eum-inbound-text.sns-lambda.json"))
    also_https = service.ingest_document(load("eum-inbound-text.sns-https.json"))
    assert (first.messages, second.messages, second.duplicates, also_https.duplicates) == (1, 0, 1, 1)
    assert len(inbound_messages(tables)) == 1
    assert len(contacts.items) == 1


def race(workers: list[InboundService], event: dict[str, Any]) -> list[Any]:
    """Run ``handle_sns_event(event)`` on every worker at the same moment; their results."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = []

    def run(worker: InboundService) -> None:
        barrier.wait()
        results.append(worker.handle_sns_event(event))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_workers_racing_on_one_event_store_one_message(
    tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    text = json.dumps(load("eum-inbound-text.sns-lambda.json"))
    for n in range(20):  # many rounds: each round both workers start together on a fresh message id
        event = json.loads(text.replace(TEXT_WAMID, f"wamid.r{n}"))
        workers = [InboundService(tables, clock, contacts, dlq) for _ in range(2)]
        results = race(workers, event)
        assert sorted(r.messages for r in results) == [0, 1]
        assert sum(r.deadLettered for r in results) == 0
    stored = inbound_messages(tables)
    assert len(stored) == 20
    assert len({m["whatsappMessageId"] for m in stored}) == 20
    assert len(contacts.items) == 1  # the losing creator found the winner's contact


def test_the_window_only_moves_forward(service: InboundService, contacts: FakeContacts) -> None:
    service.handle_sns_event(text_event("wamid.new", "new", ts=1758190000))
    service.handle_sns_event(text_event("wamid.old", "late replay of an old message", ts=1758100000))
    [contact] = contacts.items.values()
    assert contact["lastInboundMessageAt"] == 1758190000
    assert contact["lastContactedAt"] == 1758190000


def test_a_future_timestamp_cannot_open_the_window_beyond_now(
    service: InboundService, contacts: FakeContacts, clock: FakeClock
) -> None:
    service.handle_sns_event(text_event("wamid.future", "hi", ts=int(clock.now()) + 7 * 86400))
    [contact] = contacts.items.values()
    assert contact["lastInboundMessageAt"] == clock.now()


def test_stop_turns_whatsapp_opt_in_off_with_a_consent_record(
    service: InboundService, contacts: FakeContacts, tables: MemoryTables
) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=True)
    service.handle_sns_event(text_event("wamid.stop1", "  Stop! "))
    contact = contacts.get(known["contactId"])
    assert contact["optInWhatsApp"] is False
    [entry] = contact["consentHistory"]
    assert entry["source"] == "inbound_keyword" and entry["channel"] == "whatsapp"
    assert (entry["old"], entry["new"]) == (True, False)
    assert entry["evidence"]["whatsappMessageId"] == "wamid.stop1"
    assert entry["evidence"]["messageId"] == inbound_message_id("wamid.stop1")
    [stored] = inbound_messages(tables)
    assert stored["keyword"] == "stop"


@pytest.mark.parametrize("text", ["UNSUBSCRIBE", "stop all", "Opt out", "quit."])
def test_stop_variants(service: InboundService, contacts: FakeContacts, text: str) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=True)
    service.handle_sns_event(text_event("wamid.v", text))
    assert contacts.get(known["contactId"])["optInWhatsApp"] is False


def test_a_sentence_containing_stop_is_not_an_opt_out(
    service: InboundService, contacts: FakeContacts
) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=True)
    service.handle_sns_event(text_event("wamid.s", "please don't stop the delivery"))
    assert contacts.get(known["contactId"])["optInWhatsApp"] is True


def test_the_marketing_stop_button_opts_out(service: InboundService, contacts: FakeContacts) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=True)
    service.ingest_document(load("eum-inbound-button-template-quick-reply.sns-lambda.json"))
    assert contacts.get(known["contactId"])["optInWhatsApp"] is False


def test_a_replayed_stop_writes_no_second_consent_record(
    service: InboundService, contacts: FakeContacts, tables: MemoryTables
) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=True)
    service.handle_sns_event(text_event("wamid.stop1", "STOP"))
    # Someone opts the contact back in; a late redelivery of the same STOP must not flip it again.
    contacts.set_opt_in(known["contactId"], "whatsapp", True, actor="op", source="ui")
    tables["Messages"].delete({"messageId": inbound_message_id("wamid.stop1")})  # crash before the put
    service.handle_sns_event(text_event("wamid.stop1", "STOP"))
    contact = contacts.get(known["contactId"])
    assert [e["source"] for e in contact["consentHistory"]] == ["inbound_keyword", "ui"]
    assert contact["optInWhatsApp"] is True
    assert len(inbound_messages(tables)) == 1


def test_start_turns_nothing_on_by_default(service: InboundService, contacts: FakeContacts) -> None:
    known = contacts.add("+447812345678", opt_in_whatsapp=False)
    service.handle_sns_event(text_event("wamid.start", "START"))
    contact = contacts.get(known["contactId"])
    assert contact["optInWhatsApp"] is False and contact["consentHistory"] == []


def test_start_opts_in_only_when_configured(
    make_service: Callable[..., InboundService], contacts: FakeContacts
) -> None:
    service = make_service(keywords=KeywordConfig.of(start_opts_in=True))
    known = contacts.add("+447812345678", opt_in_whatsapp=False)
    service.handle_sns_event(text_event("wamid.start", "Start"))
    contact = contacts.get(known["contactId"])
    assert contact["optInWhatsApp"] is True
    assert contact["consentHistory"][0]["source"] == "inbound_keyword"


def test_custom_stop_words(make_service: Callable[..., InboundService], contacts: FakeContacts) -> None:
    service = make_service(keywords=KeywordConfig.of(stop=["PARAR", "Basta"]))
    known = contacts.add("+447812345678", opt_in_whatsapp=True)
    service.handle_sns_event(text_event("wamid.a", "stop"))
    assert contacts.get(known["contactId"])["optInWhatsApp"] is True  # no longer a configured word
    service.handle_sns_event(text_event("wamid.b", "basta"))
    assert contacts.get(known["contactId"])["optInWhatsApp"] is False


def test_media_without_a_media_client_keeps_the_media_id(
    service: InboundService, tables: MemoryTables
) -> None:
    service.ingest_document(load("eum-inbound-image.sns-lambda.json"))
    [stored] = inbound_messages(tables)
    assert stored["mediaId"] == "1081239475620183"
    assert stored["mediaStatus"] == "not_downloaded"


# ------------------------------------------------------------------------------------ dead letters


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("{this is not json", "not valid JSON"),
        (json.dumps({"context": {}, "aws_account_id": "809904170947"}), "no 'whatsAppWebhookEntry'"),
        (
            json.dumps({"context": {}, "whatsAppWebhookEntry": '{"id": '}),
            "whatsAppWebhookEntry is not valid JSON",
        ),
    ],
)
def test_bad_payloads_go_to_the_dlq_with_a_clear_error(
    service: InboundService, tables: MemoryTables, queues: MemoryQueues, message: str, fragment: str
) -> None:
    good = json.dumps(envelope(text_value("wamid.good", "hello")))
    result = service.handle_sns_event(sns_event(message, good))  # never raises
    assert result.deadLettered == 1 and result.messages == 1  # the rest of the batch proceeded
    [record] = dlq_records(tables)
    assert fragment in record["error"]
    assert record["queueName"] == "inbound-dlq" and record["status"] == "pending"
    assert json.loads(record["payload"])["body"] == message  # the original payload, unchanged
    assert record["attempts"] == 1 and record["retryCount"] == 0
    assert queues["inbound-dlq"].approximate_count() == 1


def test_a_record_without_a_message_and_an_event_without_records_are_dead_lettered(
    service: InboundService, tables: MemoryTables
) -> None:
    result = service.handle_sns_event({"Records": [{"EventSource": "aws:sns"}]})
    assert result.deadLettered == 1
    result = service.handle_sns_event({"unexpected": True})
    assert result.deadLettered == 1
    assert len(dlq_records(tables)) == 2


def test_the_same_failing_delivery_twice_is_one_dlq_record(
    service: InboundService, tables: MemoryTables
) -> None:
    event = sns_event("{broken")
    service.handle_sns_event(event)
    service.handle_sns_event(event)
    [record] = dlq_records(tables)
    assert record["attempts"] == 2


class FlakyContacts(FakeContacts):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.broken = True

    def find_by_phone(self, phone: str) -> dict[str, Any] | None:
        if self.broken:
            raise RuntimeError("contacts store unavailable")
        return super().find_by_phone(phone)


def test_forced_failure_lands_in_dlq_and_replay_after_the_fix_stores_exactly_once(
    tables: MemoryTables, clock: FakeClock, dlq: DlqService, queues: MemoryQueues
) -> None:
    contacts = FlakyContacts(clock)
    service = InboundService(tables, clock, contacts, dlq)
    dlq.register(INBOUND_DLQ, service.replay)
    result = service.ingest_document(load("eum-inbound-text.sns-lambda.json"))
    assert result.deadLettered == 1 and "contacts store unavailable" in result.errors[0]
    assert inbound_messages(tables) == []
    [record] = dlq_records(tables)
    assert record["errorType"] == "RuntimeError"

    failed = dlq.replay("inbound-dlq", 10, actor="op")  # still broken: a failed replay, back on the queue
    assert (failed.failed, failed.replayed) == (1, 0)
    assert dlq.get(record["dlqMessageId"])["retryCount"] == 1

    contacts.broken = False
    fixed = dlq.replay("inbound-dlq", 10, actor="op")
    assert (fixed.replayed, fixed.failed) == (1, 0)
    assert len(inbound_messages(tables)) == 1
    assert dlq.get(record["dlqMessageId"])["status"] == "replayed"
    assert queues["inbound-dlq"].approximate_count() == 0

    # The same delivery arriving again (SNS retry) and another replay store nothing new.
    again = service.ingest_document(load("eum-inbound-text.sns-lambda.json"))
    assert again.duplicates == 1
    assert dlq.replay("inbound-dlq", 10).received == 0
    assert len(inbound_messages(tables)) == 1


def test_replay_of_a_payload_that_stays_bad_is_parked_after_five_failed_replays(
    service: InboundService, dlq: DlqService, tables: MemoryTables, queues: MemoryQueues
) -> None:
    service.handle_sns_event(sns_event("{broken"))
    outcomes = [dlq.replay("inbound-dlq", 100).results[0].outcome for _ in range(5)]
    assert outcomes == ["failed", "failed", "failed", "failed", "parked"]
    [record] = dlq_records(tables)
    assert record["status"] == "parked" and record["retryCount"] == 5 and record["attempts"] == 6
    assert queues["inbound-dlq"].approximate_count() == 0
    assert dlq.replay("inbound-dlq", 100).received == 0  # never replayed automatically
    assert (
        dlq.list_messages(queue="inbound-dlq", status="parked")["items"][0]["dlqMessageId"]
        == record["dlqMessageId"]
    )


def test_when_even_the_dlq_fails_the_lambda_invocation_fails(
    tables: MemoryTables, clock: FakeClock, contacts: FakeContacts
) -> None:
    class DeadQueues(MemoryQueues):
        def __getitem__(self, name: str) -> Any:
            raise ConnectionError("queue service down")

    service = InboundService(tables, clock, contacts, DlqService(tables, DeadQueues(clock), clock))
    with pytest.raises(ConnectionError):
        service.handle_sns_event(sns_event("{broken"))


def test_phone_ids_learnt_from_eum_events_serve_meta_events(
    service: InboundService, tables: MemoryTables
) -> None:
    service.ingest_document(load("eum-inbound-text.eum.json"))
    entry = json.loads(json.dumps(json.loads(load("eum-inbound-text.eum.json")["whatsAppWebhookEntry"])))
    entry["changes"][0]["value"]["messages"][0]["id"] = "wamid.via-meta"
    service.ingest_document({"object": "whatsapp_business_account", "entry": [entry]})
    stored = {m["whatsappMessageId"]: m for m in inbound_messages(tables)}
    assert stored["wamid.via-meta"]["phoneNumberId"] == P1


def test_replay_accepts_what_aws_itself_puts_on_the_dlq(
    service: InboundService, dlq: DlqService, tables: MemoryTables
) -> None:
    lambda_event = load("eum-inbound-text.sns-lambda.json")
    destination_record = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": load("eum-inbound-image.sns-lambda.json"),
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
    }
    dlq.dead_letter("inbound-dlq", json.dumps(lambda_event), "raw event from the platform")
    dlq.dead_letter("inbound-dlq", json.dumps(destination_record), "Lambda on-failure destination")
    dlq.dead_letter("inbound-dlq", "not even json", "garbage")
    report = dlq.replay("inbound-dlq", 10)
    assert (report.replayed, report.failed) == (2, 1)
    assert sorted(m["content"]["type"] for m in inbound_messages(tables)) == ["image", "text"]


def test_listeners_hear_each_new_message_once_and_cannot_break_storage(
    make_service: Callable[..., InboundService], tables: MemoryTables
) -> None:
    heard: list[str] = []

    def broken(item: dict[str, Any]) -> None:
        raise RuntimeError("AI service down")

    service = make_service(on_stored=[broken, lambda item: heard.append(item["whatsappMessageId"])])
    service.handle_sns_event(text_event("wamid.l1", "hello"))
    service.handle_sns_event(text_event("wamid.l1", "hello"))
    assert heard == ["wamid.l1"]
    assert len(inbound_messages(tables)) == 1 and dlq_records(tables) == []


def test_a_bad_item_in_a_captured_file_never_holds_the_good_ones_back(
    service: InboundService, tables: MemoryTables
) -> None:
    good = json.dumps(envelope(text_value("wamid.list-good", "hello")))
    document = [
        load("eum-inbound-text.eum.json"),
        {"neither": "an SNS event nor an envelope"},
        {"Records": [{"EventSource": "aws:sns"}, sns_event(good)["Records"][0]]},
    ]
    result = service.ingest_document(document)
    assert (result.messages, result.deadLettered) == (2, 2)
    assert sorted(m["whatsappMessageId"] for m in inbound_messages(tables)) == sorted(
        [TEXT_WAMID, "wamid.list-good"]
    )
    errors = sorted(r["error"] for r in dlq_records(tables))
    assert any("unrecognised event document" in e for e in errors)
    assert any("SNS record 'Sns' must be a JSON object" in e for e in errors)


def test_changes_skipped_on_purpose_are_counted_and_logged(
    service: InboundService, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {
        "id": "104870012345678",
        "changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
        ],
    }
    env = {"context": {}, "whatsAppWebhookEntry": json.dumps(entry)}
    with caplog.at_level("INFO", logger="wecare.inbound"):
        result = service.ingest_document(env)
    assert (result.ignored, result.deadLettered, result.messages) == (1, 0, 0)
    [record] = [r for r in caplog.records if r.getMessage() == "inbound changes ignored"]
    assert "message_template_status_update" in str(record.ignored)  # type: ignore[attr-defined]


def test_keywords_come_from_the_bundle_params(
    make_service: Callable[..., InboundService], contacts: FakeContacts
) -> None:
    assert KeywordConfig.from_params({}) == KeywordConfig()  # no section: the usual words
    config = KeywordConfig.from_params(
        {"inbound": {"stopKeywords": ["Abmelden", "STOP"], "startOptsIn": True}}
    )
    assert config.stop == frozenset({"abmelden", "stop"}) and config.start_opts_in is True
    service = make_service(keywords=config)
    contact = contacts.create(
        {"name": "Jonas", "phone": "+4915112345678", "optInWhatsApp": True}, actor="op", source="ui"
    )
    service.handle_sns_event(text_event("wamid.de", " abmelden! ", wa_id="4915112345678"))
    assert contacts.get(contact["contactId"])["optInWhatsApp"] is False
    bad_params: list[dict[str, Any]] = [
        {"inbound": []},
        {"inbound": {"stopKeywords": "stop"}},
        {"inbound": {"startOptsIn": "yes"}},
        {"inbound": {"startKeywords": [""]}},
    ]
    for bad in bad_params:
        with pytest.raises(ValueError):
            KeywordConfig.from_params(bad)
