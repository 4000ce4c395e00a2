from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from channels.errors import ChannelUnavailable
from gateway.api.deps import get_principal
from gateway.api.errors import install_error_handlers
from gateway.api.routes import messages as routes
from gateway.clock import FakeClock
from gateway.identity.principal import Principal, Role
from gateway.messages.query import MessageQueryService
from gateway.outbound.gateway import Gateway
from gateway.store.memory import MemoryTables

from .fakes import StoreCheckingDriver, contact_item
from .http import TestClient

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1020


@pytest.fixture
def client(gateway: Gateway, tables: MemoryTables, clock: FakeClock) -> TestClient:
    now = clock.now()
    tables["Contacts"].put(contact_item("ct_1", now=now, last_inbound=now - 60))
    tables["Contacts"].put(contact_item("ct_out", now=now, whatsapp=False, sms=False, phone="+447812345679"))
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes.router, prefix="/api")
    app.state.container = SimpleNamespace(gateway=gateway, messages=MessageQueryService(tables))
    app.dependency_overrides[get_principal] = lambda: Principal("u_op", "op@example.com", Role.Operator)
    return TestClient(app)


def post(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/messages", json=body, headers=headers)


def test_a_sent_message_is_201_with_its_decision(
    client: TestClient, drivers: dict[str, StoreCheckingDriver]
) -> None:
    res = post(client, {"contactId": "ct_1", "channel": "whatsapp", "text": {"body": "Hello"}})
    assert res.status_code == 201, res.text
    message = res.json()["message"]
    assert message["status"] == "sent" and message["decision"]["allowed"] is True
    assert message["policyInput"]["request"]["bodyLength"] == 5
    assert message["createdBy"] == "u_op"
    assert len(drivers["whatsapp"].calls) == 1


def test_a_denied_send_is_422_listing_every_reason_with_its_message(
    client: TestClient, drivers: dict[str, StoreCheckingDriver]
) -> None:
    res = post(client, {"contactId": "ct_out", "channel": "whatsapp", "text": {"body": "Hello"}})
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "POLICY_DENIED"
    codes = [r["code"] for r in error["details"]["reasons"]]
    assert codes == ["OPT_IN_REQUIRED", "TEMPLATE_REQUIRED"]
    assert all(r["message"] for r in error["details"]["reasons"])
    assert "OPT_IN_REQUIRED" in error["message"]
    stored = client.get(f"/api/messages/{error['details']['messageId']}").json()
    assert stored["status"] == "rejected"
    assert sum(len(d.calls) for d in drivers.values()) == 0


def test_idempotency_key_replays_and_detects_reuse(
    client: TestClient, drivers: dict[str, StoreCheckingDriver]
) -> None:
    body = {"contactId": "ct_1", "channel": "sms", "text": {"body": "Your code is 1234"}}
    first = post(client, body, **{"Idempotency-Key": "abc"})
    again = post(client, body, **{"Idempotency-Key": "abc"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["replayed"] is True
    assert again.json()["message"]["messageId"] == first.json()["message"]["messageId"]
    assert len(drivers["sms"].calls) == 1
    reused = post(client, {**body, "text": {"body": "different"}}, **{"Idempotency-Key": "abc"})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_a_repeated_denial_is_the_same_422(client: TestClient) -> None:
    body = {"contactId": "ct_out", "channel": "sms", "text": {"body": "x"}}
    first = post(client, body, **{"Idempotency-Key": "k"})
    again = post(client, body, **{"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 422
    assert again.json()["error"]["details"]["replayed"] is True
    assert again.json()["error"]["details"]["messageId"] == first.json()["error"]["details"]["messageId"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"contactId": "ct_1", "channel": "whatsapp"}, "exactly one of text, media, template or email"),
        (
            {
                "contactId": "ct_1",
                "channel": "whatsapp",
                "text": {"body": "a"},
                "email": {"subject": "s", "text": "t"},
            },
            "got text, email",
        ),
        ({"contactId": "ct_1", "channel": "pigeon", "text": {"body": "a"}}, "channel"),
        (
            {"contactId": "ct_1", "channel": "sms", "template": {"name": "t", "language": "en"}},
            "sms message must be text",
        ),
        ({"contactId": "ct_1", "channel": "email", "email": {"subject": "Hi"}}, "text or an html body"),
        ({"contactId": "ct_1", "channel": "sms", "text": {"body": "a"}, "unknown": 1}, "unknown"),
        ({"contactId": "ct_1", "channel": "whatsapp", "media": {"mediaKind": "image"}}, "media.fileId"),
    ],
)
def test_invalid_requests_are_422_with_an_actionable_message(
    client: TestClient, body: dict[str, Any], fragment: str
) -> None:
    res = post(client, body)
    assert res.status_code == 422, res.text
    assert fragment in json.dumps(res.json()["error"])


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    res = client.post("/api/messages", content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 422
    assert res.json()["error"]["message"] == "the message is not valid JSON"


def test_media_can_be_sent_as_multipart(client: TestClient, drivers: dict[str, StoreCheckingDriver]) -> None:
    message = {
        "contactId": "ct_1",
        "channel": "whatsapp",
        "media": {"mediaKind": "image", "caption": "Receipt"},
    }
    res = client.post(
        "/api/messages",
        data={"message": json.dumps(message)},
        files={"file": ("receipt.jpg", JPEG, "image/jpeg")},
    )
    assert res.status_code == 201, res.text
    assert res.json()["message"]["content"]["upload"]["bytes"] == len(JPEG)
    put = drivers["whatsapp"].calls[0].calls[0]
    assert put.operation == "PutObject" and put.params["Body"] == JPEG


def test_content_the_channel_refuses_is_422(client: TestClient) -> None:
    message = {"contactId": "ct_1", "channel": "whatsapp", "media": {"mediaKind": "image"}}
    res = client.post(
        "/api/messages",
        data={"message": json.dumps(message)},
        files={"file": ("x.gif", b"GIF89a", "image/gif")},
    )
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "CONTENT_INVALID"


def test_a_provider_failure_is_502_with_error_details(
    client: TestClient, drivers: dict[str, StoreCheckingDriver]
) -> None:
    drivers["email"].fail_with = ChannelUnavailable(
        "SES is down", code="InternalServiceErrorException", request_id="r-1", http_status=500
    )
    res = post(client, {"contactId": "ct_1", "channel": "email", "email": {"subject": "Hi", "text": "Hello"}})
    assert res.status_code == 502
    error = res.json()["error"]
    assert error["code"] == "SEND_FAILED"
    assert error["details"]["errorDetails"]["requestId"] == "r-1"


def test_list_and_get(client: TestClient, clock: FakeClock) -> None:
    for i in range(3):
        post(client, {"contactId": "ct_1", "channel": "whatsapp", "text": {"body": f"m{i}"}})
        clock.advance(1)
    post(client, {"contactId": "ct_out", "channel": "sms", "text": {"body": "x"}})
    page = client.get("/api/messages", params={"contactId": "ct_1", "limit": 2}).json()
    assert [m["content"]["body"] for m in page["items"]] == ["m2", "m1"]
    rest = client.get(
        "/api/messages", params={"contactId": "ct_1", "limit": 2, "cursor": page["cursor"]}
    ).json()
    assert [m["content"]["body"] for m in rest["items"]] == ["m0"] and rest["cursor"] is None
    rejected = client.get("/api/messages", params={"status": "rejected"}).json()["items"]
    assert [m["contactId"] for m in rejected] == ["ct_out"]
    assert client.get("/api/messages", params={"channel": "fax"}).status_code == 422
    assert client.get("/api/messages/msg_nope").status_code == 404


def test_unconfigured_sending_is_503(tables: MemoryTables) -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes.router, prefix="/api")
    app.state.container = SimpleNamespace(gateway=None)
    app.dependency_overrides[get_principal] = lambda: Principal("u", "u@example.com", Role.Operator)
    res = TestClient(app).post(
        "/api/messages", json={"contactId": "c", "channel": "sms", "text": {"body": "x"}}
    )
    assert res.status_code == 503


def test_ai_origin_records_the_caller_as_approver(
    client: TestClient, make_gateway: Callable[..., Gateway]
) -> None:
    res = post(
        client, {"contactId": "ct_1", "channel": "whatsapp", "text": {"body": "Suggested"}, "origin": "ai"}
    )
    assert res.status_code == 201
    message = res.json()["message"]
    assert message["origin"] == "ai" and message["approvedBy"] == "u_op"
    assert message["policyInput"]["request"]["approvedBy"] == "u_op"


def test_a_channel_path_sends_on_that_channel_only(
    client: TestClient, drivers: dict[str, StoreCheckingDriver]
) -> None:
    sms = client.post(
        "/api/channels/sms/messages", json={"contactId": "ct_1", "channel": "sms", "text": {"body": "Hi"}}
    )
    assert sms.status_code == 201, sms.text
    assert sms.json()["message"]["channel"] == "sms" and len(drivers["sms"].calls) == 1
    # The body names another channel: refused before any send, saying which field is wrong.
    crossed = client.post(
        "/api/channels/sms/messages",
        json={"contactId": "ct_1", "channel": "whatsapp", "text": {"body": "Hi"}},
    )
    assert crossed.status_code == 422
    assert crossed.json()["error"]["details"]["fields"][0]["field"] == "channel"
    unknown = client.post(
        "/api/channels/pigeon/messages", json={"contactId": "ct_1", "channel": "sms", "text": {"body": "Hi"}}
    )
    assert unknown.status_code == 404 and "pigeon" in unknown.json()["error"]["message"]
    assert len(drivers["whatsapp"].calls) == 0 and len(drivers["sms"].calls) == 1
