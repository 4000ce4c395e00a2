"""User administration: the service, the Admin API and ``wecare users add``."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.cli.main import build_parser
from gateway.cli.users import add_user
from gateway.clock import SystemClock
from gateway.errors import Conflict, InvalidInput
from gateway.store.sqlite import SqliteTables
from gateway.users import UserService

from .support import World, bearer, cheap_passwords_instance


def test_the_admin_api_lists_creates_changes_and_disables(world: World) -> None:
    admin = world.account("Admin", email="root@example.com")
    created = world.client.post(
        "/api/users", json={"email": "Olivia@Example.com", "role": "Operator"}, headers=bearer(admin)
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    body = created.json()
    user_id = body["user"]["userId"]
    assert body["user"]["email"] == "olivia@example.com" and body["user"]["role"] == "Operator"
    assert len(body["password"]) >= 20  # generated, shown once
    assert world.login("olivia@example.com", body["password"])

    listing = world.client.get("/api/users", headers=bearer(admin)).json()
    assert sorted(u["email"] for u in listing["items"]) == ["olivia@example.com", "root@example.com"]
    assert all("passwordHash" not in u for u in listing["items"])

    changed = world.client.patch(f"/api/users/{user_id}", json={"role": "Viewer"}, headers=bearer(admin))
    assert changed.status_code == 200 and changed.json()["role"] == "Viewer"
    (change,) = world.audit_records("user.role_change")
    assert change["resourceId"] == user_id and change["details"] == {"old": "Operator", "new": "Viewer"}
    assert change["userId"] == world.users.find_by_email("root@example.com")["userId"]  # type: ignore[index]

    disabled = world.client.patch(f"/api/users/{user_id}", json={"disabled": True}, headers=bearer(admin))
    assert disabled.json()["disabled"] is True
    assert [r["resourceId"] for r in world.audit_records("user.disable")] == [user_id]


def test_a_given_password_is_not_echoed(world: World) -> None:
    admin = world.account("Admin")
    reply = world.client.post(
        "/api/users",
        json={"email": "a@example.com", "role": "Viewer", "password": "long enough secret"},
        headers=bearer(admin),
    )
    assert reply.status_code == 201 and "password" not in reply.json()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "a@example.com", "role": "Superuser"}, 422),
        ({"email": "not-an-address", "role": "Viewer"}, 422),
        ({"email": "a@example.com", "role": "Viewer", "password": "short"}, 422),
        ({"email": "a@example.com", "role": "Viewer", "extra": 1}, 422),
    ],
)
def test_bad_user_requests_are_422(world: World, body: dict[str, object], status: int) -> None:
    admin = world.account("Admin")
    assert world.client.post("/api/users", json=body, headers=bearer(admin)).status_code == status


@pytest.mark.parametrize("body", [{"disabled": "yes"}, {"disabled": 1}, {"role": "admin"}, {"unknown": True}])
def test_bad_user_changes_are_422_and_change_nothing(world: World, body: dict[str, object]) -> None:
    admin = world.account("Admin", email="root@example.com")
    other = world.account("Operator", email="op@example.com")
    user_id = world.users.find_by_email("op@example.com")["userId"]  # type: ignore[index]
    reply = world.client.patch(f"/api/users/{user_id}", json=body, headers=bearer(admin))
    assert reply.status_code == 422, reply.text
    assert world.users.get(user_id)["disabled"] is False and world.users.get(user_id)["role"] == "Operator"
    assert world.client.get("/api/me", headers=bearer(other)).status_code == 200


def test_an_email_is_one_account(world: World) -> None:
    admin = world.account("Admin")
    assert (
        world.client.post(
            "/api/users", json={"email": "a@example.com", "role": "Viewer"}, headers=bearer(admin)
        ).status_code
        == 201
    )
    again = world.client.post(
        "/api/users", json={"email": "A@EXAMPLE.com", "role": "Admin"}, headers=bearer(admin)
    )
    assert again.status_code == 409


def test_the_last_admin_cannot_be_demoted_or_disabled(world: World) -> None:
    world.account("Admin", email="root@example.com")
    root = world.users.find_by_email("root@example.com")
    assert root is not None
    with pytest.raises(Conflict, match="last Admin"):
        world.users.set_role(root["userId"], "Viewer", actor="test")
    with pytest.raises(Conflict, match="last Admin"):
        world.users.set_disabled(root["userId"], True, actor="test")
    second, _ = world.users.create("second@example.com", "Admin", actor="test", password="long enough secret")
    assert world.users.set_role(root["userId"], "Viewer", actor="test")["role"] == "Viewer"
    with pytest.raises(Conflict):
        world.users.set_disabled(second["userId"], True, actor="test")


def test_unknown_users_are_404(world: World) -> None:
    admin = world.account("Admin")
    reply = world.client.patch("/api/users/usr_nope", json={"role": "Viewer"}, headers=bearer(admin))
    assert reply.status_code == 404


def test_with_cognito_accounts_are_managed_in_the_pool(world: World) -> None:
    admin = world.account("Admin")
    world.identity.local = False
    reply = world.client.post(
        "/api/users", json={"email": "a@example.com", "role": "Viewer"}, headers=bearer(admin)
    )
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "MANAGED_BY_COGNITO"


def test_passwords_are_stored_as_argon2id_hashes(world: World) -> None:
    user, _ = world.users.create("a@example.com", "Viewer", actor="t", password="long enough secret")
    stored = world.tables["Users"].get({"userId": user["userId"]})
    assert stored is not None and stored["passwordHash"].startswith("$argon2id$")
    assert "long enough secret" not in str(stored)


def test_first_admin_is_created_once(world: World) -> None:
    first = world.users.ensure_first_admin()
    assert first is not None and first[0]["role"] == "Admin" and len(first[1]) >= 20
    assert world.users.ensure_first_admin() is None


def test_invalid_service_input_is_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput):
        world.users.create("a@example.com", "root", actor="t")


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_cli_users_add_creates_a_local_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    args = _args("users", "add", "Olivia@Example.com", "--role", "Operator", "--data-dir", str(data))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "created Operator olivia@example.com" in out and "password (shown once):" in out
    password = out.rsplit("password (shown once): ", 1)[1].strip()
    tables = SqliteTables(data / "wecare.db", SystemClock())
    try:
        users = UserService(tables, SystemClock(), AuditLog(tables, SystemClock()))
        assert users.check_password("olivia@example.com", password) is not None
    finally:
        tables.close()


def test_cli_users_add_with_a_password_and_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d"
    args = _args(
        "users",
        "add",
        "a@example.com",
        "--role",
        "Admin",
        "--password",
        "long enough secret",
        "--data-dir",
        str(data),
    )
    opened: list[Path] = []

    def open_store(path: Path) -> SqliteTables:
        opened.append(path)
        path.mkdir(parents=True, exist_ok=True)
        return SqliteTables(path / "wecare.db", SystemClock())

    assert add_user(args, open_store) == 0
    assert "shown once" not in capsys.readouterr().out
    with pytest.raises(Conflict):
        add_user(args, open_store)
    assert opened == [data, data]
    assert stat.S_ISREG((data / "wecare.db").stat().st_mode)


def test_cli_users_add_refuses_an_unknown_role() -> None:
    with pytest.raises(SystemExit):
        _args("users", "add", "a@example.com", "--role", "Root")


def test_the_cli_uses_the_real_hasher_parameters(tmp_path: Path) -> None:
    # The cheap parameters are only for tests: the service's default is the library's recommendation.
    assert cheap_passwords_instance().hash("x" * 12).startswith("$argon2id$v=19$m=8,")
    clock = SystemClock()
    tables = SqliteTables(tmp_path / "w.db", clock)
    try:
        user, _ = UserService(tables, clock, AuditLog(tables, clock)).create(
            "a@example.com", "Viewer", actor="t"
        )
        assert "m=65536" in tables["Users"].get({"userId": user["userId"]})["passwordHash"]  # type: ignore[index]
    finally:
        tables.close()
