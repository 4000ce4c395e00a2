"""Errors a person can act on (issue: the operator's day): what is wrong, where, and what would be right;
on the product as ``wecare serve`` composes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.api.app import create_app
from gateway.bootstrap import Container, build_embedded
from gateway.config import load_settings
from gateway.inbound.service import inbound_message_id
from tests.inbound.events import text_event
from tests.inbound.http import TestClient

PASSWORD = "correct horse battery staple"


@pytest.fixture
def product(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Container]]:
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data"))
    try:
        assert container.users is not None
        container.users.create("op@example.com", "Admin", password=PASSWORD, actor="test")
        client = TestClient(create_app(container), raise_server_exceptions=False)
        login = client.post("/api/auth/login", json={"email": "op@example.com", "password": PASSWORD})
        yield client, {"Authorization": f"Bearer {login.json()['accessToken']}"}, container
    finally:
        container.close()


def error(reply: Any) -> dict[str, Any]:
    body: dict[str, Any] = reply.json()["error"]
    return body


def test_malformed_json_names_the_problem_and_where(
    product: tuple[TestClient, dict[str, str], Container],
) -> None:
    client, auth, _ = product
    reply = client.post(
        "/api/contacts", content=b'{"name": "Ann",, }', headers={**auth, "content-type": "application/json"}
    )
    assert reply.status_code == 422
    assert (
        "Expecting property name" in error(reply)["message"] and "at character 15" in error(reply)["message"]
    )
    assert "JSON decode error" not in reply.text


def test_an_unknown_query_parameter_is_refused_naming_the_ones_that_exist(
    product: tuple[TestClient, dict[str, str], Container],
) -> None:
    client, auth, _ = product
    reply = client.get("/api/decisions?from=abc", headers=auth)
    assert reply.status_code == 422
    assert "'from'" in error(reply)["message"] and "since" in error(reply)["message"]
    assert error(reply)["details"]["fields"] == [{"field": "from", "problem": "unknown query parameter"}]
    assert client.get("/api/decisions?since=0", headers=auth).status_code == 200
    # Anonymous callers still see 401 first: nothing about the route leaks before authentication.
    assert client.get("/api/decisions?from=abc").status_code == 401


def test_a_send_to_an_unknown_contact_is_404_and_recorded(
    product: tuple[TestClient, dict[str, str], Container],
) -> None:
    client, auth, container = product
    body = {"contactId": "ct_nobody", "channel": "sms", "text": {"body": "hi"}}
    reply = client.post("/api/messages", json=body, headers=auth)
    assert reply.status_code == 404 and error(reply)["code"] == "CONTACT_NOT_FOUND"
    stored = container.tables["Messages"].get({"messageId": error(reply)["details"]["messageId"]})
    assert stored is not None and stored["status"] == "rejected"


def test_an_email_message_is_spelled_right(product: tuple[TestClient, dict[str, str], Container]) -> None:
    client, auth, _ = product
    contact = client.post("/api/contacts", json={"name": "Eve", "email": "eve@example.com"}, headers=auth)
    body = {"contactId": contact.json()["contactId"], "channel": "email", "text": {"body": "hi"}}
    reply = client.post("/api/messages", json=body, headers=auth)
    assert reply.status_code == 422 and "an email message" in error(reply)["message"]


@pytest.mark.parametrize("bad", ["Ann\x00", "Ann\u202egnp.exe", "A\u2066B"])
def test_a_contact_name_with_a_control_character_is_refused(
    product: tuple[TestClient, dict[str, str], Container], bad: str
) -> None:
    client, auth, _ = product
    reply = client.post("/api/contacts", json={"name": bad, "phone": "+447812345111"}, headers=auth)
    assert reply.status_code == 422 and error(reply)["details"]["field"] == "name"
    assert "U+" in error(reply)["message"]


def test_an_inbound_profile_name_with_controls_is_stored_without_them(
    product: tuple[TestClient, dict[str, str], Container],
) -> None:
    _, _, container = product
    assert container.inbound is not None
    result = container.inbound.handle_sns_event(text_event("wamid.BIDI1", name="Mal\u202eory\x07"))
    assert result.messages == 1 and result.deadLettered == 0
    message = container.tables["Messages"].get({"messageId": inbound_message_id("wamid.BIDI1")})
    assert message is not None
    contact = container.tables["Contacts"].get({"contactId": message["contactId"]})
    assert contact is not None and contact["name"] == "Malory"


def test_an_error_echoes_at_most_a_hundred_characters_of_the_input(
    product: tuple[TestClient, dict[str, str], Container],
) -> None:
    client, auth, _ = product
    key = "k" * 5000
    config = client.put(f"/api/config/{key}", json={"value": True}, headers=auth)
    assert config.status_code == 422 and "(5000 characters)" in error(config)["message"]
    assert len(config.text) < 1000
    channel = client.post(
        f"/api/channels/{'x' * 3000}/messages",
        json={"contactId": "ct_1", "channel": "sms", "text": {"body": "hi"}},
        headers=auth,
    )
    assert channel.status_code == 404 and len(channel.text) < 600
    unknown = client.get(f"/api/decisions?{'q' * 2000}=1", headers=auth)
    assert unknown.status_code == 422 and len(unknown.text) < 800


def test_a_message_names_its_sender_and_its_contact(
    product: tuple[TestClient, dict[str, str], Container],
) -> None:
    client, auth, _ = product
    contact = client.post(
        "/api/contacts", json={"name": "Eve Adams", "phone": "+447812345222", "optInSms": True}, headers=auth
    ).json()
    sent = client.post(
        "/api/messages",
        json={"contactId": contact["contactId"], "channel": "sms", "text": {"body": "hi"}},
        headers=auth,
    )
    assert sent.status_code == 201, sent.text
    read = client.get(f"/api/messages/{sent.json()['message']['messageId']}", headers=auth).json()
    assert read["createdByEmail"] == "op@example.com" and read["createdBy"].startswith("usr_")
    assert read["contactName"] == "Eve Adams"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/nonexistent", 404),
        ("DELETE", "/api/nonexistent", 404),
        ("PUT", "/index.html", 405),
        ("GET", "/nothing-here", 404),
    ],
)
def test_an_unknown_path_is_404_whatever_the_method(
    product: tuple[TestClient, dict[str, str], Container], method: str, path: str, status: int
) -> None:
    client, _, _ = product
    reply = client.request(method, path)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == ("NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED")
