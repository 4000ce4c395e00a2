"""AI-suggested replies on the product as ``wecare serve`` composes it: SQLite store, local queue, the
offline suggester over the seeded sample documents, the DRY_RUN gateway, the HTTP app with its roles.

Inbound messages arrive through the real inbound pipeline (an EUM SNS event); the suggestion worker is
the container's own ``ai-suggest`` worker, run once by hand instead of on its timer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.ai.ports import AIError, Draft, Reference
from gateway.ai.service import AI_QUEUE
from gateway.api.app import create_app
from gateway.bootstrap import Container, ai_workers, build_embedded, wire_ai
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.inbound.service import inbound_message_id
from gateway.store.port import Page
from tests.inbound.events import envelope, sns_event, text_value
from tests.inbound.http import TestClient

PASSWORD = "correct horse battery staple"


@dataclass
class Product:
    client: TestClient
    container: Container
    clock: FakeClock
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def login(self, role: str) -> dict[str, str]:
        if role not in self.headers:
            email = f"{role.lower()}@example.com"
            self.container.users.create(email, role, password=PASSWORD, actor="test")  # type: ignore[union-attr]
            reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            self.headers[role] = {"Authorization": f"Bearer {reply.json()['accessToken']}"}
        return self.headers[role]

    def switch_ai(self, on: bool) -> None:
        reply = self.client.put("/api/config/ai.enabled", json={"value": on}, headers=self.login("Admin"))
        assert reply.status_code == 200, reply.text
        assert reply.json()["value"] is on

    def receive(self, wamid: str, body: str, *, age: float = 60.0, opted_in: bool = True) -> str:
        ts = int(self.clock.now() - age)
        event = sns_event(json.dumps(envelope(text_value(wamid, body, ts=ts))))
        result = self.container.inbound.handle_sns_event(event)  # type: ignore[union-attr]
        assert result.messages == 1, result
        message_id = inbound_message_id(wamid)
        if opted_in:
            # A contact first met by its inbound message has no opt-in: record one, as an operator would.
            contact_id = self.container.tables["Messages"].get({"messageId": message_id})["contactId"]  # type: ignore[index]
            self.container.contacts.set_opt_in(  # type: ignore[union-attr]
                contact_id, "whatsapp", True, actor="test", source="ui"
            )
        return message_id

    def run_worker(self) -> int:
        (worker,) = ai_workers(self.container)
        handled = 0
        while worker.run_once():
            handled += 1
        return handled

    def queued(self) -> int:
        return self.container.queues[AI_QUEUE].approximate_count()

    def suggestions(self, **params: str) -> list[dict[str, Any]]:
        reply = self.client.get("/api/ai/suggestions", params=params, headers=self.login("Viewer"))
        assert reply.status_code == 200, reply.text
        items: list[dict[str, Any]] = reply.json()["items"]
        return items


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Product]:
    settings = load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data")
    clock = FakeClock(float(int(time.time())))
    container = build_embedded(settings, clock=clock)
    try:
        yield Product(TestClient(create_app(container), raise_server_exceptions=False), container, clock)
    finally:
        container.close()


class CountingRetriever:
    name = "counting"

    def __init__(self, error: AIError | None = None) -> None:
        self.calls: list[str] = []
        self.error = error

    def retrieve(self, query: str, *, max_results: int = 5) -> list[Reference]:
        self.calls.append(query)
        if self.error is not None:
            raise self.error
        return [Reference("We open at 9.", "opening-hours.md", {"type": "CUSTOM"}, 1.0)]


class CountingDrafter:
    name = "counting-draft"

    def __init__(self) -> None:
        self.calls = 0

    def draft(self, query: str, references: Sequence[Reference], *, session_id: str) -> Draft:
        self.calls += 1
        return Draft("We open at 9.", "test", "counting", citations=tuple(references))


def test_with_ai_off_inbound_processing_makes_no_model_call_and_queues_nothing(product: Product) -> None:
    retriever, drafter = CountingRetriever(), CountingDrafter()
    wire_ai(product.container, (retriever, drafter))
    message_id = product.receive("wamid.OFF1", "What are your opening hours?")
    assert product.queued() == 0
    assert product.run_worker() == 0
    assert retriever.calls == [] and drafter.calls == 0
    assert product.container.tables["Messages"].get({"messageId": message_id}) is not None
    assert product.suggestions() == []


def test_with_ai_on_an_inbound_message_gets_a_cited_suggestion_off_the_inbound_path(product: Product) -> None:
    product.switch_ai(True)
    message_id = product.receive("wamid.ON1", "What are your opening hours on Saturday?")
    # The inbound path only queued it: no interaction exists until the worker runs.
    assert product.queued() == 1 and product.suggestions() == []
    assert product.run_worker() == 1
    (item,) = product.suggestions()
    assert item["messageId"] == message_id and item["status"] == "pending"
    assert item["response"] and item["references"] and item["citations"]
    assert item["citations"][0]["document"] == "opening-hours.md"
    assert item["stale"] is False
    assert item["drafter"] == "local-draft" and item["retriever"] == "local-kb"


def test_a_redelivered_queue_message_makes_no_second_suggestion(product: Product) -> None:
    product.switch_ai(True)
    message_id = product.receive("wamid.DUP1", "Can I book an appointment?")
    product.run_worker()
    product.container.queues[AI_QUEUE].send(json.dumps({"messageId": message_id}))
    product.run_worker()
    assert len(product.suggestions()) == 1


def test_approval_in_dry_run_sends_through_the_gateway_once_and_a_second_is_409(product: Product) -> None:
    product.switch_ai(True)
    product.receive("wamid.AP1", "Do you deliver on Sundays?")
    product.run_worker()
    (item,) = product.suggestions()
    path = f"/api/ai/suggestions/{item['interactionId']}/approve"
    assert product.client.post(path, headers=product.login("Viewer")).status_code == 403
    reply = product.client.post(path, headers=product.login("Operator"))
    assert reply.status_code == 200, reply.text
    approved = reply.json()["suggestion"]
    assert approved["status"] == "approved" and approved["edited"] is False
    assert approved["send"]["status"] == "sent", approved["send"]
    assert approved["send"]["sendMode"] == "DRY_RUN"
    message = product.container.tables["Messages"].get({"messageId": approved["send"]["messageId"]})
    assert message is not None
    assert message["origin"] == "ai" and message["outbox"]["calls"], message  # recorded, not sent
    assert message["content"]["body"] == item["response"]
    again = product.client.post(path, headers=product.login("Operator"))
    assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "approved"
    outbound = [
        m
        for m in product.container.tables["Messages"].scan(limit=100).items
        if m.get("direction") == "outbound"
    ]
    assert len(outbound) == 1


def test_an_edited_approval_sends_the_edit_and_keeps_both_texts(product: Product) -> None:
    product.switch_ai(True)
    product.receive("wamid.ED1", "How do refunds work?")
    product.run_worker()
    (item,) = product.suggestions()
    reply = product.client.post(
        f"/api/ai/suggestions/{item['interactionId']}/approve",
        json={"text": "Refunds take 5 working days."},
        headers=product.login("Operator"),
    )
    assert reply.status_code == 200, reply.text
    approved = reply.json()["suggestion"]
    assert approved["edited"] is True and approved["sentText"] == "Refunds take 5 working days."
    assert approved["originalText"] == item["response"]
    message = product.container.tables["Messages"].get({"messageId": approved["send"]["messageId"]})
    assert message is not None and message["content"]["body"] == "Refunds take 5 working days."


def test_without_opt_in_an_approval_is_refused_like_any_send(product: Product) -> None:
    product.switch_ai(True)
    product.receive("wamid.NO1", "Are you open?", opted_in=False)
    product.run_worker()
    (item,) = product.suggestions()
    reply = product.client.post(
        f"/api/ai/suggestions/{item['interactionId']}/approve", headers=product.login("Operator")
    )
    send = reply.json()["suggestion"]["send"]
    assert send["status"] == "rejected" and send["reasons"] == ["OPT_IN_REQUIRED"]


def test_outside_the_window_an_approval_is_refused_template_required(product: Product) -> None:
    product.switch_ai(True)
    product.receive("wamid.OLD1", "Are you open?", age=30 * 3600)
    product.run_worker()
    (item,) = product.suggestions()
    reply = product.client.post(
        f"/api/ai/suggestions/{item['interactionId']}/approve", headers=product.login("Operator")
    )
    assert reply.status_code == 200, reply.text
    send = reply.json()["suggestion"]["send"]
    assert send["status"] == "rejected" and send["reasons"] == ["TEMPLATE_REQUIRED"]


def test_reject_then_feedback_then_stats(product: Product) -> None:
    product.switch_ai(True)
    product.receive("wamid.RJ1", "What are your opening hours?")
    product.receive("wamid.RJ2", "Can I pay by card?")
    product.run_worker()
    first, second = sorted(product.suggestions(), key=lambda i: i["messageId"])
    operator = product.login("Operator")
    base = "/api/ai/suggestions/"
    reply = product.client.post(
        base + first["interactionId"] + "/reject", json={"reason": "wrong"}, headers=operator
    )
    assert reply.status_code == 200 and reply.json()["suggestion"]["status"] == "rejected"
    assert (
        product.client.post(base + first["interactionId"] + "/approve", headers=operator).status_code == 409
    )
    rated = product.client.post(
        base + second["interactionId"] + "/feedback",
        json={"rating": "good", "comment": "spot on"},
        headers=operator,
    )
    assert rated.status_code == 200 and rated.json()["suggestion"]["feedback"]["rating"] == "good"
    assert rated.json()["suggestion"]["feedback"]["byEmail"] == "operator@example.com"  # a person, not an id
    rejected = product.client.get(base + first["interactionId"], headers=operator).json()["suggestion"]
    assert rejected["rejectedByEmail"] == "operator@example.com"
    bad = product.client.post(
        base + second["interactionId"] + "/feedback", json={"rating": "meh"}, headers=operator
    )
    assert bad.status_code == 422
    assert product.client.post(base + "ai_missing/reject", headers=operator).status_code == 404
    stats = product.client.get("/api/ai/stats", headers=product.login("Viewer")).json()
    assert stats["automation"] == {"enabled": True}  # every role sees whether automation is on
    assert stats["overall"]["suggested"] == 2 and stats["overall"]["rejected"] == 1
    assert stats["overall"]["pending"] == 1 and stats["overall"]["ratedGood"] == 1
    assert sum(d["suggested"] for d in stats["byDocument"].values()) >= 2
    # The same figures on /metrics, read from the interaction log rather than this process's counters.
    scrape = TestClient(create_app(product.container), client=("127.0.0.1", 50000)).get("/metrics")
    assert scrape.status_code == 200, scrape.text
    assert 'wecare_ai_suggestions{outcome="rejected"} 1' in scrape.text
    assert 'wecare_ai_suggestions{outcome="ratedGood"} 1' in scrape.text
    document = next(iter(stats["byDocument"]))
    suggested = stats["byDocument"][document]["suggested"]
    line = f'wecare_ai_suggestions_by_document{{document="{document}",outcome="suggested"}} {suggested}'
    assert line in scrape.text


def test_a_failing_model_leaves_a_failed_interaction_and_the_inbound_message_untouched(
    product: Product,
) -> None:
    retriever = CountingRetriever(
        AIError("Bedrock is throttling", code="ThrottlingException", retryable=True)
    )
    wire_ai(product.container, (retriever, CountingDrafter()))
    product.switch_ai(True)
    message_id = product.receive("wamid.ERR1", "Hello?")
    product.run_worker()
    assert len(retriever.calls) == 3  # bounded retries
    (item,) = product.suggestions(status="failed")
    assert item["error"]["code"] == "ThrottlingException"
    assert product.container.tables["Messages"].get({"messageId": message_id}) is not None
    assert product.container.tables["DLQMessages"].scan(limit=10).items == []
    assert product.queued() == 0  # handled: the operator asks again if they want one


def test_personal_data_is_masked_before_the_query_leaves(product: Product) -> None:
    retriever = CountingRetriever()
    wire_ai(product.container, (retriever, CountingDrafter()))
    product.switch_ai(True)
    product.receive("wamid.PII1", "Call me on +44 7700 900123 or write to ana@example.com please")
    product.run_worker()
    assert retriever.calls == ["Call me on [phone] or write to [email] please"]
    (item,) = product.suggestions()
    assert item["masked"] == {"email": 1, "phone": 1}
    assert "900123" not in item["query"]


def test_a_suggestion_older_than_the_newest_inbound_message_is_stale(product: Product) -> None:
    product.switch_ai(True)
    product.receive("wamid.ST1", "What are your opening hours?", age=120)
    product.run_worker()
    product.switch_ai(False)
    product.receive("wamid.ST2", "Never mind, found them", age=10)
    (item,) = product.suggestions()
    assert item["stale"] is True


def test_an_operator_can_ask_for_a_suggestion_on_demand_even_with_automation_off(product: Product) -> None:
    product.receive("wamid.OD1", "Can I book an appointment for Monday?")
    contact_id = product.container.tables["Messages"].get({"messageId": inbound_message_id("wamid.OD1")})[
        "contactId"
    ]  # type: ignore[index]
    operator = product.login("Operator")
    reply = product.client.post("/api/ai/suggestions", json={"contactId": contact_id}, headers=operator)
    assert reply.status_code == 201, reply.text
    assert reply.json()["suggestion"]["status"] == "pending"
    assert (
        product.suggestions(contactId=contact_id)[0]["interactionId"]
        == reply.json()["suggestion"]["interactionId"]
    )
    missing = product.client.post("/api/ai/suggestions", json={"contactId": "ct_nobody"}, headers=operator)
    assert missing.status_code == 404
    assert product.client.post("/api/ai/suggestions", json={}, headers=operator).status_code == 422


def test_the_ai_switch_is_admin_only_validated_and_audited(product: Product) -> None:
    client = product.client
    assert (
        client.put(
            "/api/config/ai.enabled", json={"value": True}, headers=product.login("Operator")
        ).status_code
        == 403
    )
    admin = product.login("Admin")
    unknown = client.put("/api/config/ai.enable", json={"value": True}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "UNKNOWN_CONFIG_KEY"
    wrong = client.put("/api/config/ai.enabled", json={"value": "yes"}, headers=admin)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "INVALID_CONFIG_VALUE"
    product.switch_ai(True)
    listed = {i["key"]: i["value"] for i in client.get("/api/config", headers=admin).json()["items"]}
    assert listed["ai.enabled"] is True
    audits = [
        a
        for a in product.container.tables["AuditLogs"].scan(limit=100).items
        if a["action"] == "config.changed"
    ]
    assert audits and audits[-1]["details"] == {"old": False, "new": True}


def test_two_workers_holding_the_same_message_store_one_suggestion(
    product: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    product.switch_ai(True)
    message_id = product.receive("wamid.RACE1", "What are your opening hours?")
    service = product.container.ai
    assert service is not None
    table = product.container.tables["AIInteractions"]
    # Both workers look before either has written: neither sees the other's suggestion.
    monkeypatch.setattr(table, "query", lambda *a, **kw: Page([], None))
    first, second = service.process(message_id), service.process(message_id)
    monkeypatch.undo()
    assert first is not None and second is not None
    assert first["interactionId"] == second["interactionId"]
    assert len(table.query(message_id, index="byMessage", limit=10).items) == 1
