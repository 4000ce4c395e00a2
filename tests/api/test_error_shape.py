"""Every failure answers with the one error shape; an unexpected error is a logged, alerted 500."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.api.errors import install_error_handlers
from gateway.bootstrap import build_in_memory
from gateway.config import load_settings
from gateway.errors import TooManyRequests, Unauthenticated


def _app(on_unhandled: list[tuple[BaseException, str]]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, on_unhandled=lambda exc, rid: on_unhandled.append((exc, rid)))

    @app.get("/throttled")
    def throttled() -> None:
        raise TooManyRequests("slow down", details={"retryAfterSeconds": 7})

    @app.get("/anon")
    def anon() -> None:
        raise Unauthenticated("sign in first")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/typed/{n}")
    def typed(n: int) -> dict[str, int]:
        return {"n": n}

    return app


def test_domain_errors_carry_code_message_details_and_headers() -> None:
    client = TestClient(_app([]))
    r = client.get("/throttled")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json() == {
        "error": {"code": "TOO_MANY_REQUESTS", "message": "slow down", "details": {"retryAfterSeconds": 7}}
    }
    r = client.get("/anon")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_validation_errors_name_the_field() -> None:
    r = TestClient(_app([])).get("/typed/abc")
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["code"] == "INVALID_INPUT" and body["details"]["fields"][0]["field"] == "n"


def test_unknown_route_and_method_are_clear() -> None:
    client = TestClient(_app([]))
    r = client.get("/nope")
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]["message"]
    r = client.post("/anon")
    assert r.status_code == 405 and r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_unexpected_error_is_a_500_with_request_id_and_an_alert() -> None:
    seen: list[tuple[BaseException, str]] = []
    r = TestClient(_app(seen), raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "INTERNAL"
    assert len(seen) == 1 and isinstance(seen[0][0], RuntimeError)
    assert "kaboom" not in r.json()["error"]["message"]


def test_a_500_through_the_app_keeps_its_request_id_in_log_body_header_and_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    container = build_in_memory(load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path))
    alerts: list[str] = []
    container.alerts = SimpleNamespace(publish=lambda severity, subject, message: alerts.append(message))
    container.health = _explode  # type: ignore[method-assign]
    client = TestClient(create_app(container), raise_server_exceptions=False)
    with caplog.at_level(logging.CRITICAL, logger="wecare.api"):
        reply = client.get("/healthz", headers={"X-Request-Id": "req-abc.123"})
    assert reply.status_code == 500
    assert reply.headers["x-request-id"] == "req-abc.123"
    assert "req-abc.123" in reply.json()["error"]["message"]
    assert any(getattr(r, "requestId", None) == "req-abc.123" for r in caplog.records)
    assert alerts and "req-abc.123" in alerts[0]


def test_an_unsafe_request_id_is_replaced_not_echoed(tmp_path: Path) -> None:
    container = build_in_memory(load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path))
    client = TestClient(create_app(container))
    reply = client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert reply.status_code == 200
    assert "<" not in reply.headers["x-request-id"] and len(reply.headers["x-request-id"]) == 32


def _explode() -> dict[str, object]:
    raise RuntimeError("health check exploded")


def test_ui_files_are_revalidated_and_served_at_the_root(tmp_path: Path) -> None:
    container = build_in_memory(load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path))
    reply = TestClient(create_app(container)).get("/")
    assert reply.status_code == 200 and "WECARE.DIGITAL" in reply.text
    assert reply.headers["cache-control"] == "no-cache"
