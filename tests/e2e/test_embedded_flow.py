"""The product as `wecare serve` composes it (SQLite store, local queue, local identity, DRY_RUN),
driven only through HTTP: sign in, create a consenting contact, be refused outside the window, receive
an inbound WhatsApp message, then send inside the window and read back the decision that allowed it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Container, build_embedded
from gateway.clock import FakeClock
from gateway.config import load_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eum"
INBOUND_AT = 1758186994  # the inbound text fixture's Meta timestamp
CUSTOMER = "+447812345678"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Container, FakeClock]]:
    clock = FakeClock(INBOUND_AT - 3600)
    settings = load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data")
    container = build_embedded(settings, clock=clock)
    try:
        yield TestClient(create_app(container), raise_server_exceptions=False), container, clock
    finally:
        container.close()


def _login(client: TestClient, email: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['accessToken']}"}


def _user(container: Container, client: TestClient, email: str, role: str) -> dict[str, str]:
    container.users.create(email, role, password="correct horse battery staple", actor="test")
    return _login(client, email, "correct horse battery staple")


def test_compliant_send_end_to_end(world: tuple[TestClient, Container, FakeClock]) -> None:
    client, container, clock = world
    operator = _user(container, client, "op@wecare.digital", "Operator")
    viewer = _user(container, client, "viewer@wecare.digital", "Viewer")

    created = client.post(
        "/api/contacts",
        headers=operator,
        json={"name": "Amelia Hughes", "phone": "+44 7812 345678", "optInWhatsApp": True},
    )
    assert created.status_code == 201, created.text
    contact: dict[str, Any] = created.json()
    assert contact["phone"] == CUSTOMER and contact["optInSms"] is False

    text = {"contactId": contact["contactId"], "channel": "whatsapp", "text": {"body": "Your order shipped"}}
    refused = client.post("/api/messages", headers=operator, json=text)
    assert refused.status_code == 422
    assert [r["code"] for r in refused.json()["error"]["details"]["reasons"]] == ["TEMPLATE_REQUIRED"]

    # A Viewer may read but never send.
    assert client.post("/api/messages", headers=viewer, json=text).status_code == 403

    # The customer writes to us (the SNS -> Lambda event, as captured); the 24-hour window opens.
    clock.advance(3600 + 60)
    event = json.loads((FIXTURES / "eum-inbound-text.sns-lambda.json").read_text())
    result = container.inbound.handle_sns_event(event)
    assert result.messages == 1 and result.deadLettered == 0
    # An hour has passed: the first tokens expired, as they should. Sign in again.
    assert client.get("/api/me", headers=viewer).status_code == 401
    password = "correct horse battery staple"
    operator = _login(client, "op@wecare.digital", password)
    viewer = _login(client, "viewer@wecare.digital", password)
    read = client.get(f"/api/contacts/{contact['contactId']}", headers=viewer).json()
    assert read["lastInboundMessageAt"] == INBOUND_AT
    assert read["windowExpiresAt"] == INBOUND_AT + 86400

    key = {"Idempotency-Key": "order-42-shipped"}
    sent = client.post("/api/messages", headers={**operator, **key}, json=text)
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    again = client.post("/api/messages", headers={**operator, **key}, json=text)
    assert again.status_code == 201, again.text
    assert again.json()["message"]["messageId"] == message["messageId"]
    assert again.json()["replayed"] is True
    assert again.headers.get("Idempotent-Replayed") == "true"

    stored = client.get(f"/api/messages/{message['messageId']}", headers=viewer).json()
    assert stored["status"] == "sent"
    assert stored["decision"]["allowed"] is True
    assert stored["decision"]["bundle"]["digest"] == container.bundle.digest
    assert stored["policyInput"]["contact"]["lastInboundMessageAt"] == INBOUND_AT
    assert stored["policyInput"]["environment"]["sendMode"] == "DRY_RUN"

    decisions = client.get("/api/decisions", headers=viewer, params={"reason": "TEMPLATE_REQUIRED"}).json()
    assert [d["messageId"] for d in decisions["items"]] == [refused.json()["error"]["details"]["messageId"]]

    listed = client.get("/api/messages", headers=viewer, params={"contactId": contact["contactId"]}).json()
    directions = sorted(m["direction"] for m in listed["items"])
    assert directions == ["inbound", "outbound", "outbound"]


def test_nothing_is_served_without_a_token(world: tuple[TestClient, Container, FakeClock]) -> None:
    client, _, _ = world
    for path in ("/api/contacts", "/api/messages", "/api/decisions", "/api/policies", "/api/dlq"):
        reply = client.get(path)
        assert reply.status_code == 401, path
        assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
    assert client.get("/healthz").json()["status"] == "ok"
