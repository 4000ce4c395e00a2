"""The request gate and the edges an outside probe attacked, on the product as ``wecare serve`` composes it.

Each test is named for the class of defect it pins: bad input that used to be a 500 (and a critical
alert), bodies read before the caller was known, routes that fell through to the UI's static files,
and metrics open to anyone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.api.app import create_app
from gateway.api.gate import DEFAULT_BODY_LIMIT
from gateway.bootstrap import Container, build_embedded
from gateway.cli.main import main
from gateway.clock import FakeClock
from gateway.config import load_settings
from tests.inbound.http import TestClient

PASSWORD = "correct horse battery staple"
DEEP = "[" * 5000


@dataclass
class Product:
    client: TestClient
    container: Container
    data_dir: Path

    def token(self, role: str) -> str:
        email = f"{role.lower()}@wecare.digital"
        if self.container.users.find_by_email(email) is None:
            self.container.users.create(email, role, password=PASSWORD, actor="test")
        reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["accessToken"])

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def alerts(self) -> list[Any]:
        return list(self.container.alerts.recent)  # type: ignore[attr-defined]


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Product]:
    data_dir = tmp_path / "data"
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data_dir), clock=FakeClock())
    try:
        yield Product(TestClient(create_app(container), raise_server_exceptions=False), container, data_dir)
    finally:
        container.close()


def _asgi(
    app: Any, method: str, path: str, *, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, str], dict[str, Any], int]:
    """One request straight through ASGI, with a body that streams in ``chunks`` (no Content-Length
    unless given); returns status, headers, JSON body and how many chunks the app pulled."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        await asyncio.sleep(3600)  # the client would wait; the app must not need more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 40000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    head = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], head, json.loads(body), pulled


# -- deeply nested JSON in hand-written decoders is bad input, never a 500 ----------------------------------


def test_deeply_nested_json_to_the_sns_webhook_is_a_400_without_alert_or_record(
    product: Product, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        reply = product.client.post(
            "/webhooks/sns", content=DEEP.encode(), headers={"content-type": "text/plain"}
        )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "MALFORMED_PAYLOAD"
    assert "nest" in reply.json()["error"]["message"]
    assert product.alerts() == []
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert product.container.tables["Messages"].scan(limit=10).items == []
    assert product.container.tables["DLQMessages"].scan(limit=10).items == []


def test_deeply_nested_json_to_the_meta_webhook_is_refused_without_a_500(product: Product) -> None:
    reply = product.client.post("/webhooks/meta", content=DEEP.encode())
    assert reply.status_code in (400, 403), reply.text  # no app secret here: the signature check refuses
    assert product.alerts() == []


def test_deeply_nested_json_in_a_send_is_a_422(product: Product) -> None:
    reply = product.client.post(
        "/api/messages",
        content=DEEP.encode(),
        headers={**product.auth("Operator"), "content-type": "application/json"},
    )
    assert reply.status_code == 422, reply.text
    assert product.alerts() == []


def test_deeply_nested_json_in_a_captured_file_is_dead_lettered_by_the_cli(
    product: Product, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captured = tmp_path / "deep.json"
    captured.write_text(DEEP)
    code = main(["inbound", "ingest", str(captured), "--data-dir", str(product.data_dir), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["total"]["deadLettered"] == 1
    letters = product.container.tables["DLQMessages"].scan(limit=10).items
    assert len(letters) == 1 and "nest" in json.dumps(letters[0])


# -- forged pagination cursors are refused before they are decoded ------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/messages",
        "/api/contacts",
        "/api/contacts?q=smith",
        "/api/decisions",
        "/api/dlq",
        "/api/users",
        "/api/bulk-jobs?status=pending",
    ],
)
def test_a_forged_cursor_is_a_422_invalid_cursor_on_every_listing(product: Product, path: str) -> None:
    forged = base64.urlsafe_b64encode(b"[" * 1000).decode()
    joiner = "&" if "?" in path else "?"
    for cursor in (forged, forged + ".AAAA", "e30.e30"):
        reply = product.client.get(f"{path}{joiner}cursor={cursor}", headers=product.auth("Admin"))
        assert reply.status_code == 422, (path, reply.text)
        assert reply.json()["error"]["code"] == "INVALID_CURSOR", reply.text
    assert product.alerts() == []


def test_a_genuine_cursor_still_pages_and_an_edited_one_does_not(product: Product) -> None:
    operator = product.auth("Operator")
    for n in range(3):
        created = product.client.post(
            "/api/contacts", headers=operator, json={"name": f"Person {n}", "email": f"p{n}@example.com"}
        )
        assert created.status_code == 201, created.text
    first = product.client.get("/api/contacts?limit=2", headers=operator).json()
    assert first["cursor"]
    second = product.client.get(f"/api/contacts?limit=2&cursor={first['cursor']}", headers=operator)
    assert second.status_code == 200 and len(second.json()["items"]) == 1
    body, _, tag = first["cursor"].partition(".")
    edited = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + tag
    refused = product.client.get(f"/api/contacts?limit=2&cursor={edited}", headers=operator)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "INVALID_CURSOR"


# -- the caller is known before the body is read, and every body is bounded ---------------------------------


def test_an_anonymous_body_is_never_read_and_answers_401(product: Product) -> None:
    app = product.client.app
    chunks = [b"x" * (1024 * 1024)] * 50  # a 50 MB upload
    status, headers, body, pulled = _asgi(
        app, "POST", "/api/contacts", headers={"content-type": "application/json"}, chunks=chunks
    )
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"
    assert headers["www-authenticate"] == "Bearer"
    assert pulled == 0


def test_malformed_json_without_a_token_is_a_401_not_a_422(product: Product) -> None:
    reply = product.client.post(
        "/api/contacts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 401, reply.text


def test_a_viewer_is_refused_before_the_body_is_parsed(product: Product) -> None:
    reply = product.client.post(
        "/api/contacts",
        content=b"{not json",
        headers={**product.auth("Viewer"), "content-type": "application/json"},
    )
    assert reply.status_code == 403, reply.text


def test_a_declared_oversized_body_is_a_413_before_it_is_read(product: Product) -> None:
    app = product.client.app
    headers = {
        **product.auth("Operator"),
        "content-type": "application/json",
        "content-length": str(50 * 1024 * 1024),
    }
    status, _, body, pulled = _asgi(app, "POST", "/api/contacts", headers=headers, chunks=[b"{}"])
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert pulled == 0


def test_a_streamed_oversized_body_is_cut_off_with_413(product: Product) -> None:
    app = product.client.app
    headers = {**product.auth("Operator"), "content-type": "application/json"}
    chunk = b" " * (256 * 1024)
    chunks = [chunk] * 200  # 50 MB, no Content-Length
    for path in ("/api/contacts", "/api/users", "/api/policies/evaluate", "/webhooks/sns"):
        if path == "/api/users":
            headers = {**product.auth("Admin"), "content-type": "application/json"}
        status, _, body, pulled = _asgi(app, "POST", path, headers=headers, chunks=chunks)
        assert status == 413, (path, body)
        assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert pulled <= DEFAULT_BODY_LIMIT // len(chunk) + 1, (path, pulled)
    assert product.alerts() == []


def test_a_non_numeric_content_length_is_a_400(product: Product) -> None:
    status, _, body, _ = _asgi(
        product.client.app,
        "POST",
        "/api/contacts",
        headers={**product.auth("Operator"), "content-length": "lots"},
        chunks=[b"{}"],
    )
    assert status == 400 and body["error"]["code"] == "INVALID_INPUT"


# -- unknown paths and methods under the API never reach the UI's static files ------------------------------


def test_a_known_path_with_another_method_is_a_405_with_allow(product: Product) -> None:
    reply = product.client.get("/api/auth/login")
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert reply.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    options = product.client.options("/api/messages")
    assert options.status_code == 405 and options.headers["allow"] == "GET, POST"
    assert product.client.put("/api/contacts/c1").headers["allow"] == "DELETE, GET, PATCH"


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/", "/api/contacts/a/b", "/webhooks/nope", "/api/index.html"]
)
def test_an_unknown_api_path_is_a_json_404(product: Product, path: str) -> None:
    reply = product.client.get(path)
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["error"]["code"] == "NOT_FOUND"


def test_the_ui_still_answers_outside_the_api(product: Product) -> None:
    assert product.client.get("/").status_code == 200
    assert product.client.get("/api-docs-not-a-route").status_code == 404


# -- metrics are not open to whoever reaches the API --------------------------------------------------------


def test_metrics_without_a_token_are_served_to_loopback_only(product: Product) -> None:
    app = product.client.app
    assert TestClient(app, client=("127.0.0.1", 1)).get("/metrics").status_code == 200
    assert TestClient(app, client=("::1", 1)).get("/metrics").status_code == 200
    remote = TestClient(app, client=("203.0.113.9", 1)).get("/metrics")
    assert remote.status_code == 403 and "loopback" in remote.json()["error"]["message"]


def test_metrics_need_the_bearer_token_once_one_is_configured(product: Product) -> None:
    product.container.metrics_token = SecretStr("scrape-me")
    remote = TestClient(product.client.app, client=("203.0.113.9", 1))
    assert remote.get("/metrics").status_code == 401
    assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert remote.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


@pytest.mark.parametrize("environment", ["production", "staging", "preview"])
def test_metrics_are_off_outside_local_without_a_token(tmp_path: Path, environment: str) -> None:
    settings = load_settings("embedded", {"ENVIRONMENT": environment}, WECARE_DATA_DIR=tmp_path)
    container = build_embedded(settings, clock=FakeClock())
    try:
        reply = TestClient(create_app(container), client=("127.0.0.1", 1)).get("/metrics")
    finally:
        container.close()
    assert reply.status_code == 404 and "METRICS_TOKEN" in reply.json()["error"]["message"]


# -- bodies that cannot be decoded say so ------------------------------------------------------------------


def test_a_body_that_is_not_utf8_is_a_400_malformed_body(product: Product) -> None:
    reply = product.client.post(
        "/api/auth/login", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "MALFORMED_BODY"
    assert "UTF-8" in reply.json()["error"]["message"]


def test_malformed_json_names_the_body_not_a_character_offset(product: Product) -> None:
    reply = product.client.post(
        "/api/auth/login", content=b"{bad", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422
    assert reply.json()["error"]["details"]["fields"][0]["field"] == "body"


def test_a_literal_path_wins_over_a_parameter_for_allow(product: Product) -> None:
    # /api/bulk-jobs/preflight is its own (POST) route, not GET /api/bulk-jobs/{job_id} for a job "preflight".
    reply = product.client.get("/api/bulk-jobs/preflight", headers=product.auth("Viewer"))
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert product.client.get("/api/bulk-jobs/job_x", headers=product.auth("Viewer")).status_code == 404
