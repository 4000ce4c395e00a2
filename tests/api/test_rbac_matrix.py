"""The RBAC matrix, generated from the app's own route table and run against the product as
``wecare serve`` composes it (``build_embedded``: SQLite store, local queue, local identity, every
router mounted): every route, called with no token and as Viewer, Operator and Admin.

A route without a line in gateway/auth/permissions.py fails here before it can ship; a caller below
the route's role gets a 403 that leaves an ``AuditLogs`` record and a log line; a caller at or above it
is never refused by authorization and never gets a 5xx, even for an empty or wrong body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.api.security import api_routes
from gateway.auth.permissions import ACTIONS, PUBLIC, rule_for
from gateway.auth.permissions import ROUTES as PERMISSIONS
from gateway.bootstrap import Container, build_embedded, build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings, load_settings
from gateway.identity.principal import Role

PASSWORD = "correct horse battery"
CALLERS: tuple[Role | None, ...] = (None, Role.Viewer, Role.Operator, Role.Admin)
AUDIT_RETENTION = 180 * 24 * 3600


def _route_table(app: Any) -> list[tuple[str, str]]:
    return sorted({(method, path) for path, methods, _ in api_routes(app) for method in methods})


# Collected before any fixture runs (parametrisation); the matrix checks it is the composed app's table.
ROUTES = _route_table(create_app(build_in_memory(Settings(), FakeClock())))


class Matrix:
    def __init__(self, data_dir: Path) -> None:
        self.clock = FakeClock()
        settings = load_settings("embedded", {}, WECARE_DATA_DIR=data_dir)
        self.container: Container = build_embedded(settings, clock=self.clock)
        self.app = create_app(self.container)
        self.tables = self.container.tables
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers: dict[Role | None, dict[str, str]] = {None: {}}
        for role in (Role.Viewer, Role.Operator, Role.Admin):
            email = f"{role.name.lower()}@example.com"
            self.container.users.create(email, role, actor="test", password=PASSWORD)
            reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            self.headers[role] = {"Authorization": f"Bearer {reply.json()['accessToken']}"}

    def denials(self) -> list[dict[str, Any]]:
        items = self.tables["AuditLogs"].scan(limit=10_000).items
        return [i for i in items if i["action"] == "authz.denied"]

    def call(self, method: str, template: str, caller: Role | None, **kwargs: Any) -> Any:
        path = re.sub(r"\{[^}]+\}", "x", template)
        if method in ("POST", "PUT", "PATCH") and "json" not in kwargs and "content" not in kwargs:
            kwargs["json"] = {}
        return self.client.request(method, path, headers=self.headers[caller], **kwargs)

    def close(self) -> None:
        self.client.close()
        self.container.close()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    m = Matrix(tmp_path_factory.mktemp("rbac") / "data")
    yield m
    m.close()


def test_the_route_table_is_the_composed_apps(matrix: Matrix) -> None:
    assert _route_table(matrix.app) == ROUTES
    paths = {path for _, path in ROUTES}
    assert {
        "/api/contacts",
        "/api/contacts/{contact_id}",
        "/api/users",
        "/api/auth/login",
        "/api/messages",
        "/api/policies",
        "/healthz",
    } <= paths


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_has_a_permission_entry(method: str, path: str) -> None:
    assert rule_for(method, path) is not None, (
        f"{method} {path} has no entry in gateway/auth/permissions.py ROUTES: add its minimum role "
        "(or PUBLIC if it authenticates callers another way)"
    )


def test_the_table_matches_the_role_descriptions() -> None:
    """Requirements 1.3-1.6: Viewer reads contacts and history; Operator writes contacts and sends;
    users and system configuration are Admin's."""
    assert PERMISSIONS[("GET", "/api/contacts")] is Role.Viewer
    assert PERMISSIONS[("GET", "/api/messages")] is Role.Viewer
    assert PERMISSIONS[("GET", "/api/messages/{message_id}")] is Role.Viewer
    for write in (
        ("POST", "/api/contacts"),
        ("PATCH", "/api/contacts/{contact_id}"),
        ("DELETE", "/api/contacts/{contact_id}"),
        ("POST", "/api/messages"),
        ("POST", "/api/bulk-jobs"),
        ("POST", "/api/dlq/replay"),
    ):
        assert PERMISSIONS[write] is Role.Operator, write
    for admin in (
        ("GET", "/api/users"),
        ("POST", "/api/users"),
        ("PATCH", "/api/users/{user_id}"),
        ("GET", "/api/config"),
        ("PUT", "/api/config/{key}"),
    ):
        assert PERMISSIONS[admin] is Role.Admin, admin
    assert rule_for("POST", "/api/ai/suggestions/{id}/approve") is Role.Operator
    assert ACTIONS["contacts.include_deleted"] is Role.Admin
    assert PERMISSIONS[("POST", "/api/users/{user_id}/password")] is Role.Admin  # a reset
    # Nothing that changes shared state is open to every signed-in user: a what-if evaluation has no side
    # effects, and a password change touches the caller's own account only (the current one required).
    for (method, path), rule in PERMISSIONS.items():
        if method in ("POST", "PUT", "PATCH", "DELETE") and rule is Role.Viewer:
            assert path in ("/api/policies/evaluate", "/api/me/password"), (method, path)


def _from_authorization(reply: Any) -> bool:
    """Whether a 401/403 came from the authorization layer (not from the route's own checks)."""
    if reply.status_code not in (401, 403):
        return False
    details = reply.json().get("error", {}).get("details", {})
    return "reason" in details or "required" in details


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_for_every_caller(
    matrix: Matrix, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no permission entry"
    for caller in CALLERS:
        before = {d["logId"] for d in matrix.denials()}
        caplog.clear()
        with caplog.at_level(logging.INFO):
            reply = matrix.call(method, path, caller)
        who = caller.name if caller is not None else "no token"
        seen = f"{method} {path} as {who}: {reply.status_code} {reply.text[:300]}"
        assert reply.status_code < 500, seen
        if rule == PUBLIC:
            # Public endpoints (sign-in, health, signature-verified webhooks) may refuse a request for
            # their own reasons, but never because a user token is missing.
            assert not _from_authorization(reply), seen
        elif caller is None:
            assert reply.status_code == 401, seen
            assert reply.json()["error"]["code"] == "UNAUTHENTICATED", seen
            assert reply.headers.get("WWW-Authenticate") == "Bearer", seen
        elif caller < rule:
            assert reply.status_code == 403, seen
            assert reply.json()["error"]["details"]["required"] == rule.name, seen
            new = [d for d in matrix.denials() if d["logId"] not in before]
            assert len(new) == 1, f"no audit record for the refusal: {seen}"
            record = new[0]
            assert record["resourceId"] == f"{method} {path}", seen
            assert record["details"]["required"] == rule.name and record["details"]["role"] == who
            assert record["expiresAt"] == int(record["timestamp"]) + AUDIT_RETENTION
            assert {
                "logId",
                "userId",
                "action",
                "resourceType",
                "resourceId",
                "timestamp",
                "details",
                "expiresAt",
            } <= set(record)
            assert any(getattr(r, "event", None) == "authz.denied" for r in caplog.records), seen
        else:
            assert reply.status_code not in (401, 403), seen


def test_include_deleted_is_refused_below_admin_and_audited(matrix: Matrix) -> None:
    created = matrix.client.post(
        "/api/contacts",
        headers=matrix.headers[Role.Operator],
        json={"name": "Gone Soon", "email": "gone@example.com"},
    )
    assert created.status_code == 201, created.text
    cid = created.json()["contactId"]
    assert matrix.client.delete(
        f"/api/contacts/{cid}", headers=matrix.headers[Role.Operator]
    ).status_code in (200, 204)
    for role in (Role.Viewer, Role.Operator):
        before = {d["logId"] for d in matrix.denials()}
        reply = matrix.client.get(
            f"/api/contacts/{cid}", params={"includeDeleted": "true"}, headers=matrix.headers[role]
        )
        assert reply.status_code == 403, reply.text
        new = [d for d in matrix.denials() if d["logId"] not in before]
        assert [d["resourceId"] for d in new] == ["contacts.include_deleted"]
    reply = matrix.client.get(
        f"/api/contacts/{cid}", params={"includeDeleted": "true"}, headers=matrix.headers[Role.Admin]
    )
    assert reply.status_code == 200 and reply.json()["deletedAt"] is not None
    assert matrix.client.get(f"/api/contacts/{cid}", headers=matrix.headers[Role.Admin]).status_code == 404
