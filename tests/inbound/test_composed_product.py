"""Inbound, delivery statuses and dead letters on the product as ``wecare serve`` composes it.

Everything here goes through ``build_embedded`` (SQLite store, local queues, the real contacts, DLQ and
DRY_RUN gateway) and its edges: the HTTP app, the Lambda entry method, and the ``wecare`` commands, which
open the same data directory as a second, independent container. Only the SNS certificate download is
replaced (by a locally generated certificate); nothing else is faked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.api.app import create_app
from gateway.bootstrap import Container, build_embedded
from gateway.cli.main import main
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.inbound import sns_signature
from gateway.inbound.meta_signature import SIGNATURE_HEADER, meta_signature
from gateway.inbound.service import inbound_message_id
from gateway.store.conditions import eq

from .events import envelope, load, sns_event, status_value, text_value
from .http import TestClient
from .signing import TOPIC, FakeFetcher, sign

APP_SECRET = "embedded-meta-app-secret"
VERIFY_TOKEN = "embedded-verify-token"
PASSWORD = "correct horse battery staple"
CUSTOMER = "+447812345678"


@dataclass
class Product:
    client: TestClient
    container: Container
    clock: FakeClock
    data_dir: Path
    fetcher: FakeFetcher

    def login(self, email: str, role: str) -> dict[str, str]:
        self.container.users.create(email, role, password=PASSWORD, actor="test")
        reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['accessToken']}"}

    def wecare(self, *argv: str) -> int:
        """A ``wecare`` command on the same data directory (its own container, as a second process has)."""
        return main([*argv, "--data-dir", str(self.data_dir)])

    def inbound(self) -> list[dict[str, Any]]:
        return self.container.tables["Messages"].scan(filter=eq("direction", "inbound"), limit=100).items

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.container.tables["DLQMessages"].scan(limit=100).items


@pytest.fixture
def product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    fetcher = FakeFetcher()
    monkeypatch.setattr(sns_signature, "urllib_fetch", fetcher)  # the only stand-in: no network
    monkeypatch.setenv("APP_SECRET", APP_SECRET)
    monkeypatch.setenv("SNS_TOPIC_ARN", TOPIC)  # also read by the commands' own containers
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    data_dir = tmp_path / "data"
    settings = load_settings(
        "embedded", {"SNS_TOPIC_ARN": TOPIC, "META_VERIFY_TOKEN": VERIFY_TOKEN}, WECARE_DATA_DIR=data_dir
    )
    clock = FakeClock(float(int(time.time())))  # the commands run on the system clock
    container = build_embedded(settings, clock=clock)
    try:
        client = TestClient(create_app(container), raise_server_exceptions=False)
        yield Product(client, container, clock, data_dir, fetcher)
    finally:
        container.close()


def signed_notification(message: str, message_id: str) -> bytes:
    """An SNS HTTPS delivery of ``message`` to the configured topic, signed like SNS does."""
    body = load("eum-inbound-text.sns-https.json")
    body.update(Message=message, MessageId=message_id, TopicArn=TOPIC)
    return json.dumps(sign(body)).encode()


def status_event(aws_id: str, wamid: str, status: str, at: int, **kw: Any) -> dict[str, Any]:
    """The EUM status event for the message SendWhatsAppMessage answered with ``aws_id``."""
    return sns_event(json.dumps(envelope(status_value(wamid, status, at, **kw), aws_message_id=aws_id)))


# -- delivery statuses of a message the gateway sent -------------------------------------------------------


def test_statuses_naming_the_id_the_gateway_recorded_update_its_message(
    product: Product, tmp_path: Path
) -> None:
    client, clock = product.client, product.clock
    operator = product.login("op@wecare.digital", "Operator")
    contact = client.post(
        "/api/contacts",
        headers=operator,
        json={"name": "Amelia Hughes", "phone": CUSTOMER, "optInWhatsApp": True},
    )
    assert contact.status_code == 201, contact.text
    now = int(clock.now())
    # The customer writes first (SNS HTTPS delivery): the 24-hour window opens.
    opened = client.post(
        "/webhooks/sns",
        content=signed_notification(
            json.dumps(envelope(text_value("wamid.hello", "Hello", ts=now - 60))), "sns-hello"
        ),
    )
    assert opened.status_code == 200 and opened.json()["messages"] == 1, opened.text

    text = {
        "contactId": contact.json()["contactId"],
        "channel": "whatsapp",
        "text": {"body": "Your order shipped"},
    }
    sent = client.post("/api/messages", headers=operator, json=text)
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["message"]["messageId"]
    stored = client.get(f"/api/messages/{message_id}", headers=operator).json()
    aws_id = stored["whatsappMessageId"]
    assert aws_id.startswith("dryrun-") and stored["status"] == "sent"

    wamid = "wamid.HBgMNDQ3ODEyMzQ1Njc4FQIAERgSDRYRUN0001=="
    # The Lambda path: EUM's status event carries the id SendWhatsAppMessage returned next to Meta's wamid.
    result = product.container.inbound.handle_sns_event(status_event(aws_id, wamid, "delivered", now + 5))
    assert (result.statuses, result.pendingStatuses, result.deadLettered) == (1, 0, 0)
    # The SNS HTTPS path, with a read.
    read = client.post(
        "/webhooks/sns",
        content=signed_notification(
            json.dumps(envelope(status_value(wamid, "read", now + 9), aws_message_id=aws_id)), "sns-read"
        ),
    )
    assert read.status_code == 200 and read.json()["statuses"] == 1, read.text
    # `wecare inbound ingest` (another container on the same files) replays a late 'delivered': no change.
    late = tmp_path / "late.json"
    late.write_text(json.dumps(status_event(aws_id, wamid, "delivered", now + 5)), encoding="utf-8")
    assert product.wecare("inbound", "ingest", str(late)) == 0

    after = client.get(f"/api/messages/{message_id}", headers=operator).json()
    assert after["status"] == "read"  # monotonic: the late 'delivered' did not win
    assert after["whatsappMessageId"] == aws_id and after["metaMessageId"] == wamid
    assert after["statusTimestamps"]["delivered"] == now + 5 and after["statusTimestamps"]["read"] == now + 9
    assert after["statusTimestamps"]["sent"] == stored["statusTimestamps"]["sent"]
    assert after["pricing"]["category"] == "marketing" and after["conversation"]["id"] == "conv1"
    assert product.dead_letters() == []


def test_a_failure_status_keeps_metas_errors_on_the_sent_message(product: Product) -> None:
    client = product.client
    operator = product.login("op@wecare.digital", "Operator")
    contact = client.post(
        "/api/contacts",
        headers=operator,
        json={"name": "Amelia Hughes", "phone": CUSTOMER, "optInWhatsApp": True},
    ).json()
    now = int(product.clock.now())
    product.container.inbound.handle_sns_event(
        sns_event(json.dumps(envelope(text_value("wamid.hello", "Hello", ts=now - 60))))
    )
    sent = client.post(
        "/api/messages",
        headers=operator,
        json={
            "contactId": contact["contactId"],
            "channel": "whatsapp",
            "text": {"body": "Your order shipped"},
        },
    ).json()["message"]
    aws_id = client.get(f"/api/messages/{sent['messageId']}", headers=operator).json()["whatsappMessageId"]
    failure = load("eum-status-failed-131047.eum.json")  # Meta's failure, as captured
    failure["messageId"] = aws_id  # ... about the message this gateway just sent
    assert product.container.inbound.ingest_document(failure).statuses == 1
    after = client.get(f"/api/messages/{sent['messageId']}", headers=operator).json()
    assert after["status"] == "failed"
    assert after["errorDetails"]["code"] == "131047" and after["errorDetails"]["requestId"] == aws_id
    assert "24 hours" in after["errorDetails"]["message"]


# -- bad input at every entry point ------------------------------------------------------------------------


def test_bad_signatures_are_403_and_store_nothing(product: Product) -> None:
    client = product.client
    captured = load("eum-inbound-text.sns-https.json")  # signed by nobody we trust
    captured["TopicArn"] = TOPIC
    assert client.post("/webhooks/sns", content=json.dumps(captured)).status_code == 403
    other_topic = sign({**load("eum-inbound-text.sns-https.json"), "TopicArn": TOPIC + "-other"})
    assert client.post("/webhooks/sns", content=json.dumps(other_topic)).status_code == 403
    tampered = sign({**load("eum-inbound-text.sns-https.json"), "TopicArn": TOPIC})
    tampered["Message"] += " "  # still JSON, no longer what SNS signed
    assert client.post("/webhooks/sns", content=json.dumps(tampered)).status_code == 403
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    for header in (None, "sha256=" + "0" * 64, meta_signature("another-secret", body)):
        headers = {SIGNATURE_HEADER: header} if header else {}
        reply = client.post("/webhooks/meta", content=body, headers=headers)
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "SIGNATURE_INVALID"
    assert (
        client.get(
            "/webhooks/meta",
            params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
        ).status_code
        == 403
    )
    assert product.inbound() == [] and product.dead_letters() == []
    assert product.container.tables["Contacts"].scan().items == []
    assert product.container.queues["inbound-dlq"].approximate_count() == 0


def test_unreadable_events_are_dead_lettered_with_a_clear_error_never_a_500(
    product: Product, tmp_path: Path
) -> None:
    client = product.client
    # SNS HTTPS, signed, but the message inside is not JSON / has no entry / has an entry that is not JSON.
    for n, (message, words) in enumerate(
        [
            ("{this is not json", "EUM envelope (SNS Message) is not valid JSON"),
            (json.dumps({"context": {}, "aws_account_id": "809904170947"}), "no 'whatsAppWebhookEntry'"),
            (
                json.dumps({"context": {}, "whatsAppWebhookEntry": '{"id": '}),
                "whatsAppWebhookEntry is not valid JSON",
            ),
        ]
    ):
        reply = client.post("/webhooks/sns", content=signed_notification(message, f"sns-bad-{n}"))
        assert reply.status_code == 200, reply.text  # answered, so SNS does not retry it in a loop
        assert reply.json()["deadLettered"] == 1 and words in reply.json()["errors"][0]
    # Meta's webhook, correctly signed, with a body that is not JSON.
    junk = b"{not json at all"
    signed = {SIGNATURE_HEADER: meta_signature(APP_SECRET, junk)}
    reply = client.post("/webhooks/meta", content=junk, headers=signed)
    assert reply.status_code == 200 and reply.json()["deadLettered"] == 1
    # The Lambda path, and a captured file through `wecare inbound ingest`.
    lambda_result = product.container.inbound.handle_sns_event({"Records": [{"EventSource": "aws:sns"}]})
    assert lambda_result.deadLettered == 1
    bad_file = tmp_path / "bad.json"
    bad_file.write_text('{"context": {}, "whatsAppWebhookEntry": "[1, 2"}', encoding="utf-8")
    assert product.wecare("inbound", "ingest", str(bad_file)) == 1

    records = product.dead_letters()
    assert len(records) == 6
    assert {r["queueName"] for r in records} == {"inbound-dlq"}
    assert all(r["status"] == "pending" and r["error"] and r["payload"] for r in records)
    assert product.container.queues["inbound-dlq"].approximate_count() == 6
    assert product.inbound() == []


# -- dead letters: list and replay through the API and the commands ---------------------------------------


def test_dead_letters_listed_and_replayed_through_the_api_and_the_commands(
    product: Product, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, container = product.client, product.container
    operator = product.login("op@wecare.digital", "Operator")
    viewer = product.login("viewer@wecare.digital", "Viewer")
    now = int(product.clock.now())
    good = json.dumps(envelope(text_value("wamid.later", "Are you open today?", ts=now - 30)))

    # A fault in the contacts store: the event is accepted (200) and kept on inbound-dlq.
    def unavailable(phone: str) -> None:
        raise RuntimeError("contacts store unavailable")

    with monkeypatch.context() as fault:
        fault.setattr(container.contacts, "find_by_phone", unavailable)
        reply = client.post("/webhooks/sns", content=signed_notification(good, "sns-later"))
    assert reply.status_code == 200 and reply.json()["deadLettered"] == 1
    # ... and an event that no fix will make readable.
    assert container.inbound.handle_sns_event(sns_event("{never json")).deadLettered == 1
    assert product.inbound() == []

    listed = client.get("/api/dlq", headers=operator, params={"queue": "inbound-dlq"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["depth"] == {"inbound-dlq": 2}
    errors = " | ".join(i["error"] for i in listed.json()["items"])
    assert "RuntimeError: contacts store unavailable" in errors and "PayloadError: EUM envelope" in errors
    assert product.wecare("dlq", "list", "--queue", "inbound-dlq", "--format", "json") == 0
    from_cli = json.loads(capsys.readouterr().out)
    assert sorted(i["dlqMessageId"] for i in from_cli["items"]) == sorted(
        i["dlqMessageId"] for i in listed.json()["items"]
    )
    assert client.post("/api/dlq/replay", headers=viewer, json={"queue": "inbound-dlq"}).status_code == 403

    # The fault is fixed; an Operator replays: the message is stored once, the unreadable one retried.
    replayed = client.post("/api/dlq/replay", headers=operator, json={"queue": "inbound-dlq", "max": 100})
    assert replayed.status_code == 200, replayed.text
    report = replayed.json()
    assert (report["received"], report["replayed"], report["failed"]) == (2, 1, 1)
    [message] = product.inbound()
    assert message["messageId"] == inbound_message_id("wamid.later")
    assert container.contacts.find_by_phone(CUSTOMER)["lastInboundMessageAt"] == now - 30
    # The same delivery arriving again later is a duplicate, not a second message.
    again = client.post("/webhooks/sns", content=signed_notification(good, "sns-later"))
    assert again.json()["duplicates"] == 1

    # `wecare dlq replay` (its own container) keeps retrying the bad one until it is parked after 5 failures.
    codes = [product.wecare("dlq", "replay", "--queue", "inbound-dlq") for _ in range(4)]
    assert codes == [1, 1, 1, 1]
    out = capsys.readouterr().out
    assert "inbound-dlq: 1 taken, 0 replayed, 0 failed, 1 parked" in out
    parked = client.get("/api/dlq", headers=operator, params={"status": "parked"}).json()
    [record] = parked["items"]
    assert record["retryCount"] == 5 and record["attempts"] == 6 and record["payload"]
    assert parked["depth"]["inbound-dlq"] == 0  # off the queue: never replayed automatically
    assert product.wecare("dlq", "replay") == 0
    assert "inbound-dlq: 0 taken" in capsys.readouterr().out
    assert len(product.inbound()) == 1
    audit = container.audit.for_user(operator_id(client, operator))
    replays = [a for a in audit if a["action"] == "dlq.replay"]
    assert len(replays) == 1 and replays[0]["details"]["replayed"] == 1


def test_every_dead_letter_queue_has_a_replay_handler(
    product: Product, capsys: pytest.CaptureFixture[str]
) -> None:
    # bulk-dlq is consumed since issue 12 (its replay resumes a dead chunk's recipients): an empty
    # queue replays nothing, through the API and the CLI alike, instead of answering NO_REPLAY_HANDLER.
    operator = product.login("op@wecare.digital", "Operator")
    reply = product.client.post("/api/dlq/replay", headers=operator, json={"queue": "bulk-dlq"})
    assert reply.status_code == 200, reply.text
    assert product.wecare("dlq", "replay", "--queue", "bulk-dlq") == 0
    assert "bulk-dlq: 0 taken" in capsys.readouterr().out


def operator_id(client: TestClient, headers: dict[str, str]) -> str:
    me = client.get("/api/me", headers=headers).json()
    return str(me.get("auditId") or me.get("userId") or me.get("sub"))
