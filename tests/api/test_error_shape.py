"""Every failure answers with the one error shape; an unexpected error is a logged, alerted 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api.errors import install_error_handlers
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
    assert r.json() == {"error": {"code": "TOO_MANY_REQUESTS", "message": "slow down",
                                  "details": {"retryAfterSeconds": 7}}}
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
