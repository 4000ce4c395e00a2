"""The RBAC matrix, generated from the app's own route table: every route, called with no token and as
Viewer, Operator and Admin. A route without a line in gateway/auth/permissions.py fails here before it
can ship."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from starlette.exceptions import StarletteDeprecationWarning

from gateway.api.app import create_app
from gateway.api.security import api_routes
from gateway.audit import AuditLog
from gateway.auth.identity import local_identity
from gateway.auth.passwords import Passwords
from gateway.auth.permissions import PUBLIC, rule_for
from gateway.auth.principal import Role
from gateway.bootstrap import build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings
from gateway.contacts import ContactService
from gateway.users import UserService

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)  # the client's choice of HTTP library
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
CALLERS: tuple[Role | None, ...] = (None, Role.Viewer, Role.Operator, Role.Admin)


def _route_table() -> list[tuple[str, str]]:
    app = create_app(build_in_memory(Settings(), FakeClock()))
    return sorted({(method, path) for path, methods, _ in api_routes(app) for method in methods})


ROUTES = _route_table()


class Matrix:
    def __init__(self, tmp: Path) -> None:
        clock = FakeClock()
        container = build_in_memory(Settings(), clock)
        audit = AuditLog(container.tables, clock)
        users = UserService(
            container.tables,
            clock,
            audit,
            Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
        )
        container.audit = audit
        container.users = users
        container.contacts = ContactService(container.tables, clock, audit)
        container.identity = local_identity(tmp, users=users, audit=audit, clock=clock)
        self.tables = container.tables
        self.client = TestClient(create_app(container), raise_server_exceptions=False)
        self.headers: dict[Role | None, dict[str, str]] = {None: {}}
        for role in (Role.Viewer, Role.Operator, Role.Admin):
            email = f"{role.name.lower()}@example.com"
            users.create(email, role, actor="test", password=PASSWORD)
            reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            self.headers[role] = {"Authorization": f"Bearer {reply.json()['accessToken']}"}

    def denials(self) -> int:
        return sum(
            1
            for item in self.tables["AuditLogs"].scan(limit=10_000).items
            if item["action"] == "authz.denied"
        )

    def call(self, method: str, template: str, caller: Role | None) -> Any:
        path = re.sub(r"\{[^}]+\}", "x", template)
        body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        return self.client.request(method, path, headers=self.headers[caller], **body)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    m = Matrix(tmp_path_factory.mktemp("rbac"))
    yield m
    m.client.close()


def test_the_route_table_is_not_empty() -> None:
    paths = {path for _, path in ROUTES}
    assert {
        "/api/contacts",
        "/api/contacts/{contact_id}",
        "/api/users",
        "/api/auth/login",
        "/healthz",
    } <= paths


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_has_a_permission_entry(method: str, path: str) -> None:
    assert rule_for(method, path) is not None, (
        f"{method} {path} has no entry in gateway/auth/permissions.py ROUTES: add its minimum role "
        "(or PUBLIC if it authenticates callers another way)"
    )


def _from_authorization(reply: Any) -> bool:
    """Whether a 401/403 came from the authorization layer (not from the route's own checks)."""
    if reply.status_code not in (401, 403):
        return False
    details = reply.json().get("error", {}).get("details", {})
    return "reason" in details or "required" in details


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_for_every_caller(matrix: Matrix, method: str, path: str) -> None:
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no permission entry"
    for caller in CALLERS:
        before = matrix.denials()
        reply = matrix.call(method, path, caller)
        who = caller.name if caller is not None else "no token"
        seen = f"{method} {path} as {who}: {reply.status_code} {reply.text[:300]}"
        if rule == PUBLIC:
            # Public endpoints (sign-in, health, signature-verified webhooks) may refuse a request for
            # their own reasons, but never because a user token is missing.
            assert not _from_authorization(reply), seen
        elif caller is None:
            assert reply.status_code == 401, seen
            assert reply.json()["error"]["code"] == "UNAUTHENTICATED", seen
        elif caller < rule:
            assert reply.status_code == 403, seen
            assert reply.json()["error"]["details"]["required"] == rule.name, seen
            assert matrix.denials() == before + 1, f"no audit record for the refusal: {seen}"
        else:
            assert reply.status_code not in (401, 403), seen
