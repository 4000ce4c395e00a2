"""Every route of identity, contacts, messages and policies, on the embedded composition, fed malformed
bodies, wrong types, huge values, unknown fields, bad cursors and non-JSON: always a 4xx in the one
error shape with an actionable message, never a 5xx (a 500 is a bug)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Container, build_embedded
from gateway.clock import FakeClock
from gateway.config import load_settings

PASSWORD = "correct horse battery"
WEIRD: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1e308,
    10**40,
    "",
    "\x00",
    "é" * 3000,
    [],
    {},
    [1, {}],
    {"a": {"b": [None]}},
)
RAW_BODIES: tuple[bytes, ...] = (
    b"",
    b"not json",
    b"[1,2",
    b"null",
    b"[]",
    b'"text"',
    b"123",
    b'{"a":',
    b"\xff\xfe\x00",
    b'{"x":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
)
BAD_QUERY_VALUES = (
    "",
    "-1",
    "0",
    "abc",
    "1e309",
    "nan",
    "99999999999999999999999",
    "'",
    "eyJ4IjoxfQ",
    "a" * 5000,
    "null",
    "☃",
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Container, dict[str, Any]]]:
    data_dir = tmp_path_factory.mktemp("robust") / "data"
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data_dir), clock=FakeClock())
    client = TestClient(create_app(container), raise_server_exceptions=False)
    container.users.create("admin@example.com", "Admin", actor="test", password=PASSWORD)
    token = client.post("/api/auth/login", json={"email": "admin@example.com", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['accessToken']}"}
    contact = client.post(
        "/api/contacts",
        headers=headers,
        json={
            "name": "Ada Lovelace",
            "phone": "+447812345678",
            "email": "ada@example.com",
            "optInWhatsApp": True,
        },
    ).json()
    user_id = client.get("/api/me", headers=headers).json()["userId"]
    known = {"headers": headers, "contactId": contact["contactId"], "userId": user_id}
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # thousands of refusals; their log lines are tested elsewhere
    try:
        yield client, container, known
    finally:
        logging.disable(previous)
        client.close()
        container.close()


def _check(reply: Any, what: str) -> None:
    assert reply.status_code < 500, f"{what}: {reply.status_code} {reply.text[:300]}"
    if reply.status_code >= 400:
        error = reply.json()["error"]
        assert {"code", "message", "details"} <= set(error), what
        assert isinstance(error["message"], str) and error["message"], what


def _policy_input() -> dict[str, Any]:
    return {
        "now": 1_764_067_200,
        "request": {
            "channel": "whatsapp",
            "kind": "text",
            "origin": "api",
            "phoneNumberId": "p",
            "bodyLength": 1,
            "templateName": "",
            "approvedBy": "",
        },
        "contact": {
            "found": True,
            "deleted": False,
            "optInWhatsApp": True,
            "optInSms": False,
            "optInEmail": False,
            "hasPhone": True,
            "hasEmail": False,
            "lastInboundMessageAt": 0,
        },
        "environment": {"name": "local", "sendMode": "DRY_RUN"},
        "tier": {"limit": 250, "used24h": 0, "opensConversation": True},
    }


def _write_routes(known: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, a valid body) for every route that takes a body."""
    cid, uid = known["contactId"], known["userId"]
    return [
        ("POST", "/api/auth/login", {"email": "admin@example.com", "password": "wrong password"}),
        ("POST", "/api/contacts", {"name": "B", "email": "b@example.com"}),
        ("PATCH", f"/api/contacts/{cid}", {"name": "Ada King"}),
        (
            "POST",
            "/api/messages",
            {
                "contactId": cid,
                "channel": "whatsapp",
                "template": {"name": "order_shipped", "language": "en_GB"},
            },
        ),
        ("POST", "/api/users", {"email": "new@example.com", "role": "Viewer"}),
        ("PATCH", f"/api/users/{uid}", {"role": "Admin"}),
        ("POST", "/api/policies/evaluate", _policy_input()),
    ]


def _variants(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The valid body with each field (and each nested field) replaced by each weird value, plus an
    unknown field and the weird values as the whole body."""
    for value in WEIRD:
        yield f"body={str(value)[:20]}", value
    yield "unknown field", {**body, "unexpected": 1}
    for field, original in body.items():
        for value in WEIRD:
            yield f"{field}={str(value)[:20]}", {**body, field: value}
        if isinstance(original, dict):
            for inner in original:
                for value in WEIRD:
                    yield f"{field}.{inner}={str(value)[:20]}", {**body, field: {**original, inner: value}}


def test_malformed_bodies_are_4xx_never_5xx(api: tuple[TestClient, Container, dict[str, Any]]) -> None:
    client, _, known = api
    headers = known["headers"]
    for method, path, body in _write_routes(known):
        for raw in RAW_BODIES:
            for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
                reply = client.request(
                    method, path, content=raw, headers={**headers, "content-type": content_type}
                )
                _check(reply, f"{method} {path} {content_type} {raw[:30]!r}")
                assert reply.status_code != 200 or raw == b"", f"{method} {path} accepted {raw[:30]!r}"
        for what, variant in _variants(body):
            _check(client.request(method, path, json=variant, headers=headers), f"{method} {path} {what}")


def test_message_content_of_every_kind_with_wrong_types(
    api: tuple[TestClient, Container, dict[str, Any]],
) -> None:
    client, _, known = api
    shapes = {
        "text": ("whatsapp", ["body"]),
        "media": ("whatsapp", ["mediaKind", "fileId", "caption"]),
        "template": ("whatsapp", ["name", "language", "components"]),
        "email": ("email", ["subject", "text", "html"]),
    }
    for kind, (channel, fields) in shapes.items():
        for field in fields:
            for value in WEIRD:
                body = {"contactId": known["contactId"], "channel": channel, kind: {field: value}}
                reply = client.post("/api/messages", json=body, headers=known["headers"])
                _check(reply, f"{kind}.{field}={str(value)[:20]}")
                assert reply.status_code != 201, f"{kind}.{field}={value!r} was sent"


def test_bad_query_parameters_and_cursors_are_4xx(api: tuple[TestClient, Container, dict[str, Any]]) -> None:
    client, _, known = api
    queries = {
        "/api/contacts": ["q", "limit", "cursor", "includeDeleted"],
        "/api/messages": ["contactId", "channel", "status", "direction", "limit", "cursor"],
        "/api/decisions": ["reason", "channel", "allowed", "since", "until", "limit", "cursor"],
        "/api/users": ["limit", "cursor"],
    }
    for path, params in queries.items():
        for param in params:
            for value in BAD_QUERY_VALUES:
                _check(
                    client.get(path, params={param: value}, headers=known["headers"]),
                    f"GET {path}?{param}={value[:20]}",
                )
    for path in ("/api/contacts", "/api/messages", "/api/decisions", "/api/users"):
        reply = client.get(path, params={"cursor": "eyJ4IjoxfQ"}, headers=known["headers"])
        assert reply.status_code == 422, (path, reply.text)
        assert "cursor" in reply.text.lower(), (path, reply.text)


def test_odd_path_parameters_are_404_or_422(api: tuple[TestClient, Container, dict[str, Any]]) -> None:
    client, _, known = api
    odd = [
        "x",
        "ct_" + "0" * 32,
        "..",
        "a" * 3000,
        "☃",
        "idem#x",
        "phone#+447812345678",
        "msg_" + "0" * 32,
        "%00",
        "tier#opens",
    ]
    for template in ("/api/contacts/{}", "/api/messages/{}", "/api/users/{}"):
        for value in odd:
            for method in ("GET", "PATCH", "DELETE"):
                reply = client.request(
                    method,
                    template.format(value),
                    headers=known["headers"],
                    json={} if method == "PATCH" else None,
                )
                _check(reply, f"{method} {template.format(value)[:60]}")
                assert reply.status_code in (404, 405, 422), (method, value, reply.status_code)


def test_deeply_nested_or_oversized_json_is_refused_cleanly(
    api: tuple[TestClient, Container, dict[str, Any]],
) -> None:
    client, _, known = api
    deep = b'{"contactId":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = client.post(
        "/api/messages", content=deep, headers={**known["headers"], "content-type": "application/json"}
    )
    assert reply.status_code == 422 and reply.json()["error"]["message"] == "the message is not valid JSON"
    huge = json.dumps(
        {"contactId": known["contactId"], "channel": "whatsapp", "text": {"body": "x" * (2 * 1024 * 1024)}}
    )
    reply = client.post(
        "/api/messages", content=huge, headers={**known["headers"], "content-type": "application/json"}
    )
    assert reply.status_code == 413, reply.text
    assert reply.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_multipart_mistakes_are_explained(api: tuple[TestClient, Container, dict[str, Any]]) -> None:
    client, _, known = api
    headers = known["headers"]
    cases: list[tuple[str, dict[str, Any]]] = [
        ("no message part", {"files": {"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}}),
        (
            "message not JSON",
            {"files": {"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, "data": {"message": "not json"}},
        ),
        (
            "garbage",
            {
                "content": b"--xx\r\ngarbage",
                "headers": {**headers, "content-type": "multipart/form-data; boundary=xx"},
            },
        ),
        (
            "no boundary",
            {"content": b"garbage", "headers": {**headers, "content-type": "multipart/form-data"}},
        ),
    ]
    for what, kwargs in cases:
        kwargs.setdefault("headers", headers)
        reply = client.post("/api/messages", **kwargs)
        _check(reply, what)
        assert 400 <= reply.status_code < 500, what


def test_an_idempotency_key_out_of_bounds_is_422(api: tuple[TestClient, Container, dict[str, Any]]) -> None:
    client, _, known = api
    body = {
        "contactId": known["contactId"],
        "channel": "whatsapp",
        "template": {"name": "order_shipped", "language": "en_GB"},
    }
    for key in ("", "k" * 256):
        reply = client.post("/api/messages", json=body, headers={**known["headers"], "Idempotency-Key": key})
        assert reply.status_code == 422, (key[:10], reply.text)
        assert "Idempotency-Key" in reply.json()["error"]["message"]


def test_policy_evaluate_names_every_bad_field(api: tuple[TestClient, Container, dict[str, Any]]) -> None:
    client, _, known = api
    doc = _policy_input()
    doc["contact"]["optInWhatsApp"] = "yes"
    doc["tier"]["used24h"] = -5
    del doc["environment"]
    reply = client.post("/api/policies/evaluate", json=doc, headers=known["headers"])
    assert reply.status_code == 422
    fields = {f["field"] for f in reply.json()["error"]["details"]["fields"]}
    assert {"contact.optInWhatsApp", "environment"} <= fields, fields
