from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from gateway.api.app import create_app
from gateway.api.errors import install_error_handlers
from gateway.api.routes import webhooks
from gateway.bootstrap import build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings
from gateway.dlq import DlqService
from gateway.inbound.meta_signature import MetaWebhookVerifier, meta_signature
from gateway.inbound.service import InboundService
from gateway.inbound.sns_signature import SnsSignatureVerifier
from gateway.store.conditions import eq
from gateway.store.memory import MemoryTables

from .events import load
from .fakes import FakeContacts
from .http import TestClient
from .signing import TOPIC, FakeFetcher, confirmation, sign

SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-token-123"


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture
def inbound(
    tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService, fetcher: FakeFetcher
) -> InboundService:
    return InboundService(
        tables,
        clock,
        contacts,
        dlq,
        sns=SnsSignatureVerifier(TOPIC, fetcher),
        meta=MetaWebhookVerifier(SECRET, VERIFY_TOKEN),
    )


def client_for(inbound: Any) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.state.container = SimpleNamespace(inbound=inbound)
    app.include_router(webhooks.router, prefix="/webhooks")
    return TestClient(app)


@pytest.fixture
def client(inbound: InboundService) -> TestClient:
    return client_for(inbound)


def stored(tables: MemoryTables) -> list[dict[str, Any]]:
    return tables["Messages"].scan(filter=eq("direction", "inbound")).items


def nothing_stored(tables: MemoryTables) -> bool:
    return (
        stored(tables) == []
        and tables["DLQMessages"].scan().items == []
        and tables["Contacts"].scan().items == []
    )


def test_sns_fixture_with_its_fake_signature_is_403_and_stores_nothing(
    client: TestClient, tables: MemoryTables
) -> None:
    response = client.post("/webhooks/sns", content=json.dumps(load("eum-inbound-text.sns-https.json")))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "SIGNATURE_INVALID"
    assert nothing_stored(tables)


def test_signed_sns_notification_is_stored(client: TestClient, tables: MemoryTables) -> None:
    body = json.dumps(sign(load("eum-inbound-text.sns-https.json"), "2"))
    response = client.post("/webhooks/sns", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.json()["type"] == "Notification" and response.json()["messages"] == 1
    [message] = stored(tables)
    assert message["content"]["text"] == "Hi, is my order on the way?"
    again = client.post("/webhooks/sns", content=body)
    assert again.json()["duplicates"] == 1 and len(stored(tables)) == 1


def test_sns_body_that_is_not_json_is_400(client: TestClient, tables: MemoryTables) -> None:
    response = client.post("/webhooks/sns", content=b"\x00garbage")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED_PAYLOAD"
    assert nothing_stored(tables)


def test_signed_notification_with_a_broken_envelope_is_dead_lettered_not_retried(
    client: TestClient, tables: MemoryTables
) -> None:
    message = dict(load("eum-inbound-text.sns-https.json"), Message='{"context": {}}')
    response = client.post("/webhooks/sns", content=json.dumps(sign(message)))
    assert response.status_code == 200  # SNS must not retry it in a loop
    assert response.json()["deadLettered"] == 1
    [record] = tables["DLQMessages"].scan().items
    assert "whatsAppWebhookEntry" in record["error"]
    assert record["originalMessageId"] == message["MessageId"]


def test_subscription_confirmation_for_our_topic(client: TestClient, fetcher: FakeFetcher) -> None:
    message = sign(confirmation())
    response = client.post("/webhooks/sns", content=json.dumps(message))
    assert response.status_code == 200 and response.json() == {
        "type": "SubscriptionConfirmation",
        "confirmed": True,
    }
    assert fetcher.urls[-1] == message["SubscribeURL"]


def test_subscription_confirmation_for_another_topic_is_refused(
    client: TestClient, fetcher: FakeFetcher
) -> None:
    message = sign(confirmation("arn:aws:sns:us-east-1:111122223333:someone-else"))
    response = client.post("/webhooks/sns", content=json.dumps(message))
    assert response.status_code == 403
    assert fetcher.urls == []


def test_sns_endpoint_without_a_verifier_refuses(
    tables: MemoryTables, clock: FakeClock, contacts: FakeContacts, dlq: DlqService
) -> None:
    client = client_for(InboundService(tables, clock, contacts, dlq))
    body = json.dumps(sign(load("eum-inbound-text.sns-https.json")))
    assert client.post("/webhooks/sns", content=body).status_code == 403
    assert client.post("/webhooks/meta", content=b"{}").status_code == 403
    assert nothing_stored(tables)


def test_meta_handshake(client: TestClient) -> None:
    ok = client.get(
        "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    bad = client.get(
        "/webhooks/meta", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert bad.status_code == 403


def meta_body() -> bytes:
    entry = json.loads(load("eum-inbound-text.eum.json")["whatsAppWebhookEntry"])
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def test_meta_post_with_a_valid_signature_is_stored(client: TestClient, tables: MemoryTables) -> None:
    body = meta_body()
    response = client.post(
        "/webhooks/meta", content=body, headers={"X-Hub-Signature-256": meta_signature(SECRET, body)}
    )
    assert response.status_code == 200 and response.json()["messages"] == 1
    [message] = stored(tables)
    assert message["metaPhoneNumberId"] == "110200300400501"


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "sha1=abc"])
def test_meta_post_with_a_bad_signature_is_403_and_stores_nothing(
    client: TestClient, tables: MemoryTables, header: str | None
) -> None:
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    response = client.post("/webhooks/meta", content=meta_body(), headers=headers)
    assert response.status_code == 403
    assert nothing_stored(tables)


def test_meta_signature_is_over_the_raw_bytes(client: TestClient, tables: MemoryTables) -> None:
    body = meta_body()
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    response = client.post(
        "/webhooks/meta", content=reformatted, headers={"X-Hub-Signature-256": meta_signature(SECRET, body)}
    )
    assert response.status_code == 403 and nothing_stored(tables)


def test_signed_meta_body_that_is_not_json_is_dead_lettered(client: TestClient, tables: MemoryTables) -> None:
    body = b"{truncated"
    response = client.post(
        "/webhooks/meta", content=body, headers={"X-Hub-Signature-256": meta_signature(SECRET, body)}
    )
    assert response.status_code == 200 and response.json()["deadLettered"] == 1
    [record] = tables["DLQMessages"].scan().items
    assert "Meta webhook body is not valid JSON" in record["error"]


def test_no_inbound_service_is_503() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.state.container = SimpleNamespace(inbound=None)
    app.include_router(webhooks.router, prefix="/webhooks")
    response = TestClient(app).post("/webhooks/sns", content=b"{}")
    assert response.status_code == 503 and response.json()["error"]["code"] == "UNAVAILABLE"


def test_in_the_full_app_webhooks_are_public_and_the_dlq_is_not(
    clock: FakeClock, contacts: FakeContacts, fetcher: FakeFetcher
) -> None:
    container = build_in_memory(Settings(), clock)
    dlq = DlqService(container.tables, container.queues, clock)
    container.dlq = dlq
    container.inbound = InboundService(
        container.tables, clock, contacts, dlq, sns=SnsSignatureVerifier(TOPIC, fetcher)
    )
    client = TestClient(create_app(container))
    fake = client.post("/webhooks/sns", content=json.dumps(load("eum-inbound-text.sns-https.json")))
    assert fake.status_code == 403
    signed = client.post("/webhooks/sns", content=json.dumps(sign(load("eum-inbound-text.sns-https.json"))))
    assert signed.status_code == 200 and signed.json()["messages"] == 1
    assert client.get("/api/dlq").status_code in (401, 503)  # never served without a token
    assert client.post("/api/dlq/replay", json={"queue": "inbound-dlq"}).status_code in (401, 503)
