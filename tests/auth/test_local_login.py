"""The embedded identity: sign-in, throttling, token checks, and what gets logged and audited."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.logs import JsonFormatter

from .support import World, bearer

PASSWORD = "correct horse battery"


def _attempt(world: World, email: str, password: str) -> int:
    reply = world.client.post("/api/auth/login", json={"email": email, "password": password})
    status: int = reply.status_code
    return status


def test_sign_in_issues_a_token_that_the_api_accepts(world: World) -> None:
    user, _ = world.users.create("Olivia@Example.com", "Operator", actor="test", password=PASSWORD)
    reply = world.client.post("/api/auth/login", json={"email": "olivia@example.COM", "password": PASSWORD})
    assert reply.status_code == 200
    body = reply.json()
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 3600
    assert body["user"]["userId"] == user["userId"] and "passwordHash" not in body["user"]
    me = world.client.get("/api/me", headers=bearer(body["accessToken"]))
    assert me.json() == {
        "userId": user["userId"],
        "email": "olivia@example.com",
        "role": "Operator",
        "issuer": "local",
        "sendingPaused": None,
    }
    assert world.users.get(user["userId"])["lastLoginAt"] == world.clock.now()


def test_the_local_token_is_shaped_like_a_cognito_access_token(world: World) -> None:
    token = world.account("Viewer")
    claims = world.identity.verifier.verify(token)
    assert claims["iss"] == "wecare-local" and claims["token_use"] == "access"
    assert claims["client_id"] == "wecare-local-ui" and claims["cognito:groups"] == ["Viewer"]
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("olivia@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ],
)
def test_bad_credentials_are_one_indistinguishable_401(world: World, email: str, password: str) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    reply = world.client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 401
    assert reply.json()["error"] == {
        "code": "INVALID_CREDENTIALS",
        "message": "wrong e-mail or password",
        "details": {},
    }


def test_a_disabled_account_cannot_sign_in_and_its_tokens_stop_working(world: World) -> None:
    user, _ = world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    token = world.login("olivia@example.com", PASSWORD)
    world.users.set_disabled(user["userId"], True, actor="test")
    assert _attempt(world, "olivia@example.com", PASSWORD) == 401
    assert world.client.get("/api/me", headers=bearer(token)).status_code == 401


def test_a_role_change_applies_to_existing_tokens(world: World) -> None:
    world.account("Admin", email="root@example.com")
    user, _ = world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    token = world.login("olivia@example.com", PASSWORD)
    assert (
        world.client.post("/api/contacts", json={"phone": "+447812345678"}, headers=bearer(token)).status_code
        == 201
    )
    world.users.set_role(user["userId"], "Viewer", actor="test")
    assert (
        world.client.post("/api/contacts", json={"phone": "+447898765432"}, headers=bearer(token)).status_code
        == 403
    )


def test_local_tokens_expire_after_an_hour(world: World) -> None:
    token = world.account("Viewer")
    world.clock.advance(3600 + 31)
    reply = world.client.get("/api/me", headers=bearer(token))
    assert reply.status_code == 401 and reply.json()["error"]["details"] == {"reason": "expired"}


def test_repeated_failures_slow_down_then_lock_the_account(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    for _ in range(3):  # free attempts
        assert _attempt(world, "olivia@example.com", "guess guess") == 401
    reply = world.client.post("/api/auth/login", json={"email": "olivia@example.com", "password": PASSWORD})
    assert reply.status_code == 429  # even the right password waits: no guessing during a wait
    assert reply.json()["error"]["details"] == {"retryAfterSeconds": 2, "scope": "account"}
    delay = 1.0
    for _ in range(7):  # 4th..10th failure, each after the growing wait
        world.clock.advance(delay)
        assert _attempt(world, "olivia@example.com", "guess guess") == 401
        delay *= 2
    assert _attempt(world, "olivia@example.com", PASSWORD) == 429  # locked after 10 failures
    world.clock.advance(delay)  # longer than any slow-down: still locked
    assert _attempt(world, "olivia@example.com", PASSWORD) == 429
    world.clock.advance(899 - delay)
    assert _attempt(world, "olivia@example.com", PASSWORD) == 429
    world.clock.advance(2)
    assert _attempt(world, "olivia@example.com", PASSWORD) == 200
    assert world.identity.throttle.failures("olivia@example.com") == 0  # success clears the account


def test_the_throttle_does_not_reveal_which_accounts_exist(world: World) -> None:
    for _ in range(3):
        assert _attempt(world, "ghost@example.com", "guess guess") == 401
    assert _attempt(world, "ghost@example.com", "guess guess") == 429


def test_one_client_spraying_many_accounts_is_throttled(world: World) -> None:
    world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    for n in range(20):
        assert _attempt(world, f"victim{n}@example.com", "guess guess") == 401
    reply = world.client.post("/api/auth/login", json={"email": "victim99@example.com", "password": "guess"})
    assert reply.status_code == 429 and reply.json()["error"]["details"]["scope"] == "client"
    # The address paces failures only: someone else behind it with the right password still gets in.
    reply = world.client.post("/api/auth/login", json={"email": "olivia@example.com", "password": PASSWORD})
    assert reply.status_code == 200


def test_every_attempt_is_audited_and_logged_without_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    user, _ = world.users.create("olivia@example.com", "Operator", actor="test", password=PASSWORD)
    caplog.set_level(logging.INFO)
    assert _attempt(world, "olivia@example.com", "wrong password!") == 401
    assert _attempt(world, "nobody@example.com", "wrong password!") == 401
    reply = world.client.post("/api/auth/login", json={"email": "olivia@example.com", "password": PASSWORD})
    token = reply.json()["accessToken"]
    assert world.client.get("/api/me", headers=bearer(token)).status_code == 200
    assert world.client.get("/api/me", headers=bearer("junk")).status_code == 401

    failures = world.audit_records("auth.login.failure")
    assert sorted(r["details"]["reason"] for r in failures) == ["bad_password", "unknown_account"]
    assert {r["details"]["source"] for r in failures} == {"testclient"}
    success = world.audit_records("auth.login.success")
    assert [r["userId"] for r in success] == [user["userId"]]
    for record in failures + success:
        assert record["expiresAt"] == int(world.clock.now()) + 180 * 86400

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "wecare.auth"]
    logins = [line for line in lines if line.get("event") == "auth.login"]
    assert [(entry["outcome"], entry["reason"]) for entry in logins] == [
        ("failure", "bad_password"),
        ("failure", "unknown_account"),
        ("success", "ok"),
    ]
    assert all(entry["source"] == "testclient" and entry["user"] for entry in logins)
    token_checks = [line for line in lines if line.get("event") == "auth.token"]
    assert [(entry["outcome"], entry.get("reason")) for entry in token_checks] == [
        ("success", None),
        ("failure", "malformed"),
    ]
    everything = caplog.text + json.dumps(lines) + json.dumps(world.audit_records(), default=str)
    assert PASSWORD not in everything and "wrong password!" not in everything
    assert token not in everything and token.split(".")[2] not in everything


def test_login_body_must_be_exactly_email_and_password(world: World) -> None:
    reply = world.client.post(
        "/api/auth/login", json={"email": "a@example.com", "password": "x", "role": "Admin"}
    )
    assert reply.status_code == 422


def test_password_sign_in_is_absent_with_cognito(world: World) -> None:
    class CognitoLike:
        local = False

        def verify(self, token: str) -> None:
            raise AssertionError("not reached")

    world.container.identity = CognitoLike()
    reply = world.client.post("/api/auth/login", json={"email": "a@example.com", "password": "x"})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "LOCAL_LOGIN_UNAVAILABLE"
