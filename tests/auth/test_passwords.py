"""Changing passwords: your own (the current one required), an Admin's reset, ``wecare users passwd``;
every one ends the account's other sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.cli.main import build_parser
from gateway.clock import SystemClock
from gateway.store.sqlite import SqliteTables
from gateway.users import UserService

from .support import World, bearer

OLD = "correct horse battery"
NEW = "a different long secret"


def me(world: World, token: str) -> int:
    return int(world.client.get("/api/me", headers=bearer(token)).status_code)


def test_changing_your_own_password_ends_your_other_sessions(world: World) -> None:
    first = world.account("Viewer", email="vera@example.com", password=OLD)
    second = world.login("vera@example.com", OLD)  # another browser
    wrong = world.client.post(
        "/api/me/password",
        json={"currentPassword": "not it at all", "newPassword": NEW},
        headers=bearer(first),
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "WRONG_PASSWORD"
    assert wrong.json()["error"]["details"]["fields"][0]["field"] == "currentPassword"
    assert me(world, first) == me(world, second) == 200  # a refused change ends nothing

    changed = world.client.post(
        "/api/me/password", json={"currentPassword": OLD, "newPassword": NEW}, headers=bearer(first)
    )
    assert changed.status_code == 200 and changed.headers["cache-control"] == "no-store"
    fresh = changed.json()["accessToken"]
    assert me(world, fresh) == 200  # this browser stays signed in with its new token
    for old_token in (first, second):
        ended = world.client.get("/api/me", headers=bearer(old_token))
        assert ended.status_code == 401 and ended.json()["error"]["details"]["reason"] == "revoked"
    assert world.login("vera@example.com", NEW)
    refused = world.client.post("/api/auth/login", json={"email": "vera@example.com", "password": OLD})
    assert refused.status_code == 401
    (record,) = world.audit_records("user.password_change")
    assert record["details"] == {"how": "own", "sessionsEnded": True}


def test_a_weak_or_unchanged_new_password_is_refused_with_the_field(world: World) -> None:
    token = world.account("Operator", email="otto@example.com", password=OLD)
    weak = world.client.post(
        "/api/me/password", json={"currentPassword": OLD, "newPassword": "short"}, headers=bearer(token)
    )
    assert weak.status_code == 422 and weak.json()["error"]["details"]["field"] == "newPassword"
    same = world.client.post(
        "/api/me/password", json={"currentPassword": OLD, "newPassword": OLD}, headers=bearer(token)
    )
    assert same.status_code == 422 and "same" in same.json()["error"]["message"]
    assert me(world, token) == 200


def test_an_admin_reset_shows_a_one_time_password_once_and_ends_the_sessions(world: World) -> None:
    admin = world.account("Admin", email="root@example.com")
    victim = world.account("Operator", email="olga@example.com", password=OLD)
    user_id = world.users.find_by_email("olga@example.com")["userId"]  # type: ignore[index]
    viewer = world.account("Viewer", email="vic@example.com")
    assert world.client.post(f"/api/users/{user_id}/password", headers=bearer(viewer)).status_code == 403
    reset = world.client.post(f"/api/users/{user_id}/password", headers=bearer(admin))
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    body = reset.json()
    assert body["user"]["userId"] == user_id and "passwordHash" not in body["user"]
    assert me(world, victim) == 401
    assert world.login("olga@example.com", body["password"])
    assert world.client.post("/api/users/usr_missing/password", headers=bearer(admin)).status_code == 404
    assert [r["resourceId"] for r in world.audit_records("user.password_change")] == [user_id]


def test_cli_users_passwd_sets_or_generates_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    parser = build_parser()
    add = parser.parse_args(
        ["users", "add", "a@example.com", "--role", "Admin", "--password", OLD, "--data-dir", str(data)]
    )
    assert add.func(add) == 0
    given = parser.parse_args(
        ["users", "passwd", "a@example.com", "--password", NEW, "--data-dir", str(data)]
    )
    assert given.func(given) == 0
    out = capsys.readouterr().out
    assert f"in {data}" in out and "shown once" not in out
    generated = parser.parse_args(["users", "passwd", "a@example.com", "--data-dir", str(data)])
    assert generated.func(generated) == 0
    password = capsys.readouterr().out.rsplit("password (shown once): ", 1)[1].strip()
    missing = parser.parse_args(["users", "passwd", "nobody@example.com", "--data-dir", str(data)])
    assert missing.func(missing) == 1
    tables = SqliteTables(data / "wecare.db", SystemClock())
    try:
        users = UserService(tables, SystemClock(), AuditLog(tables, SystemClock()))
        assert users.check_password("a@example.com", password) is not None
        assert users.check_password("a@example.com", NEW) is None
        assert users.find_by_email("a@example.com")["sessionEpoch"] == 2  # type: ignore[index]
    finally:
        tables.close()
