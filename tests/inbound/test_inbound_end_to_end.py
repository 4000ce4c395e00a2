"""End to end on the embedded store (SQLite tables + local queues) with the real contacts and audit log."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import gateway.cli.inbound as cli
from gateway.audit import AuditLog
from gateway.cli.inbound import ingest_files
from gateway.cli.main import main
from gateway.clock import FakeClock
from gateway.contacts.service import ContactService
from gateway.dlq import DlqService
from gateway.inbound.service import INBOUND_DLQ, InboundService, inbound_message_id
from gateway.queue.local import LocalQueues
from gateway.store.conditions import eq
from gateway.store.sqlite import SqliteTables

from .events import FIXTURES, fixture_names, load, sns_event, text_event


class Embedded:
    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.clock = clock
        self.tables = SqliteTables(path / "wecare.db", clock)
        self.queues = LocalQueues(path / "queues.db", clock)
        self.audit = AuditLog(self.tables, clock)
        self.contacts = ContactService(self.tables, clock, self.audit)
        self.dlq = DlqService(self.tables, self.queues, clock, audit=self.audit)

    def service(self, contacts: Any = None) -> InboundService:
        service = InboundService(self.tables, self.clock, contacts or self.contacts, self.dlq)
        self.dlq.register(INBOUND_DLQ, service.replay)
        return service

    def inbound(self) -> list[dict[str, Any]]:
        return self.tables["Messages"].scan(filter=eq("direction", "inbound"), limit=1000).items

    def close(self) -> None:
        self.tables.close()
        self.queues.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    env = Embedded(tmp_path, FakeClock())
    yield env
    env.close()


def test_every_fixture_through_the_embedded_store(embedded: Embedded) -> None:
    service = embedded.service()
    for name in fixture_names():
        result = service.ingest_document(load(name))
        assert result.deadLettered == 0, (name, result.errors)
    stored = embedded.inbound()
    # 15 inbound fixtures, of which the three text wrappers are one message
    assert len(stored) == 13
    phones = {m["from"] for m in stored}
    assert phones == {"+447812345678", "+447898765432"}
    for phone in phones:
        contact = embedded.contacts.find_by_phone(phone)
        assert contact is not None
        assert (contact["optInWhatsApp"], contact["optInSms"], contact["optInEmail"]) == (False, False, False)
        latest = max(m["timestamp"] for m in stored if m["from"] == phone)
        assert contact["lastInboundMessageAt"] == latest and contact["lastContactedAt"] == latest
    amelia = embedded.contacts.find_by_phone("+447812345678")
    assert amelia is not None and amelia["name"] == "Amelia Hughes"
    # the contact records who created it and how (the consent evidence outlives the audit log)
    assert (amelia["createdBy"], amelia["createdVia"]) == ("system:inbound", "inbound_first_contact")
    # a second pass stores nothing new
    for name in fixture_names():
        service.ingest_document(load(name))
    assert len(embedded.inbound()) == 13


def test_stop_on_a_real_contact_leaves_consent_evidence(embedded: Embedded) -> None:
    contact = embedded.contacts.create(
        {"name": "Amelia", "phone": "+44 7812 345678", "optInWhatsApp": True}, actor="op", source="ui"
    )
    service = embedded.service()
    service.handle_sns_event(text_event("wamid.stop", "STOP"))
    service.handle_sns_event(text_event("wamid.stop", "STOP"))  # duplicate delivery
    after = embedded.contacts.get(contact["contactId"])
    assert after["optInWhatsApp"] is False
    history = after["consentHistory"]
    assert [(h["source"], h["new"]) for h in history] == [("ui", True), ("inbound_keyword", False)]
    assert history[-1]["actor"] == "system:inbound"
    assert history[-1]["evidence"]["whatsappMessageId"] == "wamid.stop"
    assert history[-1]["evidence"]["messageId"] == inbound_message_id("wamid.stop")


def test_four_workers_racing_on_the_same_events_store_each_once(embedded: Embedded) -> None:
    events = [
        text_event(f"wamid.e2e{i}", f"hello {i}", wa_id=f"4478123456{i:02d}", name=f"Sender {i}")
        for i in range(15)
    ]
    workers = [embedded.service() for _ in range(4)]
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def run(worker: InboundService) -> None:
        barrier.wait()
        try:
            for event in events + events:
                worker.handle_sns_event(event)
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    stored = embedded.inbound()
    assert sorted(m["whatsappMessageId"] for m in stored) == sorted(f"wamid.e2e{i}" for i in range(15))
    contacts = embedded.tables["Contacts"].scan(filter=eq("kind", "contact"), limit=100).items
    assert len(contacts) == 15  # one contact per sender despite four concurrent creators
    assert embedded.tables["DLQMessages"].scan().items == []


def test_failure_then_replay_on_the_embedded_store(embedded: Embedded) -> None:
    class Broken(ContactService):
        broken = True

        def find_by_phone(self, phone: str) -> dict[str, Any] | None:
            if Broken.broken:
                raise RuntimeError("contacts unavailable")
            return super().find_by_phone(phone)

    service = embedded.service(Broken(embedded.tables, embedded.clock, embedded.audit))
    result = service.handle_sns_event(sns_event(json.dumps(load("eum-inbound-text.eum.json")), "{oops"))
    assert result.deadLettered == 2
    listed = embedded.dlq.list_messages(queue="inbound-dlq")
    assert listed["depth"] == {"inbound-dlq": 2} and len(listed["items"]) == 2
    Broken.broken = False
    report = embedded.dlq.replay("inbound-dlq", 100, actor="op-1")
    assert (report.replayed, report.failed) == (1, 1)
    assert len(embedded.inbound()) == 1
    [audit] = [a for a in embedded.audit.for_user("op-1") if a["action"] == "dlq.replay"]
    assert audit["details"]["replayed"] == 1


def test_cli_ingest_files(embedded: Embedded, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    paths = [
        FIXTURES / "eum-inbound-text.sns-lambda.json",
        FIXTURES / "eum-inbound-text.eum.json",
        bad,
        tmp_path / "missing.json",
    ]
    out = io.StringIO()
    code = ingest_files(embedded.service(), paths, out=out)
    text = out.getvalue()
    assert code == 1  # one file dead-lettered, one unreadable
    assert "eum-inbound-text.sns-lambda.json: 1 stored, 0 duplicate" in text
    assert "eum-inbound-text.eum.json: 0 stored, 1 duplicate" in text
    assert "bad.json: 0 stored, 0 duplicate, 0 status, 0 pending status, 1 dead-lettered" in text
    assert "event file is not valid JSON" in text
    assert "missing.json: cannot read" in text
    assert len(embedded.inbound()) == 1

    out = io.StringIO()
    assert ingest_files(embedded.service(), paths[:2], out=out, fmt="json") == 0
    report = json.loads(out.getvalue())
    assert report["total"]["duplicates"] == 2 and report["total"]["messages"] == 0


def test_wecare_inbound_ingest_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command on the product as composed (no stand-ins), honouring --data-dir."""
    data_dir = tmp_path / "data"
    files = [
        str(FIXTURES / "eum-inbound-text.sns-lambda.json"),
        str(FIXTURES / "eum-status-read.sns-lambda.json"),
    ]
    assert main(["inbound", "ingest", *files, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "eum-inbound-text.sns-lambda.json: 1 stored" in out
    assert "eum-status-read.sns-lambda.json: 0 stored, 0 duplicate, 0 status, 1 pending status" in out
    assert main(["inbound", "ingest", files[0], "--data-dir", str(data_dir)]) == 0
    assert "0 stored, 1 duplicate" in capsys.readouterr().out
    tables = SqliteTables(data_dir / "wecare.db", FakeClock())
    try:
        [message] = tables["Messages"].scan(filter=eq("direction", "inbound")).items
        assert message["from"] == "+447812345678"
    finally:
        tables.close()


def test_ingest_command_without_a_wired_service_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    monkeypatch.setattr(
        cli, "build_embedded", lambda settings: SimpleNamespace(inbound=None, close=lambda: None)
    )
    assert (
        main(["inbound", "ingest", str(FIXTURES / "eum-inbound-text.eum.json"), "--data-dir", str(tmp_path)])
        == 2
    )
    assert "inbound service is not wired" in capsys.readouterr().err


def test_a_remembered_sender_that_was_deleted_or_renumbered_is_not_reused(embedded: Embedded) -> None:
    service = embedded.service()
    service.handle_sns_event(text_event("wamid.h1", "hi"))
    first = embedded.contacts.find_by_phone("+447812345678")
    assert first is not None
    embedded.contacts.delete(first["contactId"], actor="op")
    service.handle_sns_event(text_event("wamid.h2", "hi again"))
    second = embedded.contacts.find_by_phone("+447812345678")
    assert second is not None and second["contactId"] != first["contactId"]
    embedded.contacts.update(second["contactId"], {"phone": "+447898765432"}, actor="op")
    service.handle_sns_event(text_event("wamid.h3", "third"))
    third = embedded.contacts.find_by_phone("+447812345678")
    assert third is not None and third["contactId"] not in (first["contactId"], second["contactId"])
    owners = {m["whatsappMessageId"]: m["contactId"] for m in embedded.inbound()}
    assert owners == {
        "wamid.h1": first["contactId"],
        "wamid.h2": second["contactId"],
        "wamid.h3": third["contactId"],
    }
