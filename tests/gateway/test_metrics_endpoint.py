"""``GET /metrics`` on the embedded composition: per channel, messages sent (by category), failed (by
code), rejected by reason, and the gateway's latency — after real sends through the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import build_embedded
from gateway.clock import FakeClock
from gateway.config import load_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    container = build_embedded(
        load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data"), clock=FakeClock()
    )
    # From loopback: without METRICS_TOKEN the embedded default serves /metrics to this machine only.
    client = TestClient(create_app(container), raise_server_exceptions=False, client=("127.0.0.1", 50000))
    container.users.create("op@example.com", "Operator", actor="test", password=PASSWORD)
    try:
        yield client
    finally:
        client.close()
        container.close()


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match is not None, f"{series} missing from /metrics:\n{text}"
    return float(match.group(1))


def test_sent_failed_rejected_and_latency_per_channel(client: TestClient) -> None:
    token = client.post("/api/auth/login", json={"email": "op@example.com", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['accessToken']}"}
    contact = client.post(
        "/api/contacts",
        headers=headers,
        json={
            "name": "Ada",
            "phone": "+447812345678",
            "email": "ada@example.com",
            "optInWhatsApp": True,
            "optInSms": True,
            "optInEmail": True,
        },
    ).json()
    sends = [
        ({"channel": "whatsapp", "template": {"name": "order_shipped", "language": "en_GB"}}, 201),
        ({"channel": "whatsapp", "text": {"body": "hello"}}, 422),  # outside the window
        ({"channel": "sms", "text": {"body": "x" * 1601}}, 422),  # too long
        ({"channel": "sms", "text": {"body": "Your code is 1234"}}, 201),
        ({"channel": "email", "email": {"subject": "Hi\r\nBcc: x@example.com", "text": "t"}}, 422),
        ({"channel": "email", "email": {"subject": "Hi", "text": "Welcome"}}, 201),
    ]
    for body, status in sends:
        reply = client.post(
            "/api/messages", headers=headers, json={"contactId": contact["contactId"], **body}
        )
        assert reply.status_code == status, reply.text

    text = client.get("/metrics").text  # no token needed from loopback in the embedded default
    assert _value(text, 'wecare_messages_sent_total{category="template",channel="whatsapp"}') == 1
    assert _value(text, 'wecare_messages_sent_total{category="service",channel="sms"}') == 1
    assert _value(text, 'wecare_messages_sent_total{category="service",channel="email"}') == 1
    assert _value(text, 'wecare_messages_rejected_total{channel="whatsapp",reason="TEMPLATE_REQUIRED"}') == 1
    assert _value(text, 'wecare_messages_rejected_total{channel="sms",reason="CONTENT_TOO_LONG"}') == 1
    assert _value(text, 'wecare_messages_failed_total{channel="email",code="HeaderInjection"}') == 1
    for channel, count in (("whatsapp", 2), ("sms", 2), ("email", 2)):
        assert _value(text, f'wecare_gateway_send_seconds_count{{channel="{channel}"}}') == count
        assert _value(text, f'wecare_gateway_send_seconds_sum{{channel="{channel}"}}') > 0
