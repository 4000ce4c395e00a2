"""The permission table and the one dependency that enforces it."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter

from gateway.auth import permissions
from gateway.auth.permissions import PUBLIC, rule_for
from gateway.identity.principal import Role
from gateway.logs import JsonFormatter

from .support import World, bearer


def test_the_table_answers_by_method_and_template() -> None:
    assert rule_for("GET", "/api/contacts") is Role.Viewer
    assert rule_for("POST", "/api/contacts") is Role.Operator
    assert rule_for("HEAD", "/api/contacts/{contact_id}") is Role.Viewer  # HEAD is a GET
    assert rule_for("PUT", "/api/config/{key}") is Role.Admin
    assert rule_for("POST", "/api/auth/login") == PUBLIC
    assert rule_for("POST", "/api/ai/suggestions/{id}/approve") is Role.Operator  # the /api/ai/ subtree
    assert rule_for("PUT", "/api/contacts") is None  # not in the table: the caller must refuse
    assert rule_for("GET", None) is None


def test_unknown_actions_need_admin() -> None:
    assert permissions.action_role("contacts.include_deleted") is Role.Admin
    assert permissions.action_role("something.nobody.declared") is Role.Admin


def test_a_refusal_is_403_with_an_audit_record_and_a_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    token = world.account("Viewer", email="vera@example.com")
    viewer = world.users.find_by_email("vera@example.com")
    assert viewer is not None
    caplog.set_level(logging.INFO)
    reply = world.client.post("/api/contacts", json={"phone": "+447812345678"}, headers=bearer(token))
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "FORBIDDEN"
    assert reply.json()["error"]["details"] == {"required": "Operator", "role": "Viewer"}
    (record,) = world.audit_records("authz.denied")
    assert set(record) == {
        "logId",
        "userId",
        "action",
        "resourceType",
        "resourceId",
        "timestamp",
        "details",
        "expiresAt",
    }
    assert record["userId"] == viewer["userId"]
    assert record["resourceType"] == "route" and record["resourceId"] == "POST /api/contacts"
    assert record["timestamp"] == world.clock.now()
    assert record["expiresAt"] == int(world.clock.now()) + 15_552_000 and isinstance(record["expiresAt"], int)
    assert record["details"]["required"] == "Operator" and record["details"]["path"] == "/api/contacts"
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    denied = [line for line in lines if line.get("event") == "authz.denied"]
    assert len(denied) == 1 and denied[0]["userId"] == viewer["userId"] and denied[0]["level"] == "WARNING"
    assert world.tables["Contacts"].scan(limit=10).items == []  # nothing was done


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer junk"]
)
def test_no_or_bad_credentials_are_401(world: World, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    reply = world.client.get("/api/contacts", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
    assert world.audit_records("authz.denied") == []  # 401s are logged, not audited per request


def test_a_scheme_is_case_insensitive(world: World) -> None:
    token = world.account("Viewer")
    assert world.client.get("/api/me", headers={"Authorization": f"bEaReR {token}"}).status_code == 200


def test_public_routes_need_no_token(world: World) -> None:
    assert world.client.get("/healthz").status_code == 200
    # /metrics answers a non-loopback client without METRICS_TOKEN with 403 (its own rule, not a role).
    assert world.client.get("/metrics").status_code == 403


def test_a_route_missing_from_the_table_is_refused_even_for_admin(world: World) -> None:
    extra = APIRouter()

    @extra.get("/api/unlisted")
    def unlisted() -> dict[str, str]:
        return {"served": "yes"}

    app = world.client.app
    app.include_router(extra)  # type: ignore[attr-defined]
    # Ahead of the UI's catch-all static mount at "/", as every API router is.
    app.router.routes.insert(0, app.router.routes.pop())  # type: ignore[attr-defined]
    token = world.account("Admin")
    reply = world.client.get("/api/unlisted", headers=bearer(token))
    assert reply.status_code == 403
    assert reply.json()["error"]["details"] == {"reason": "no_permission_rule"}
    assert world.client.get("/api/unlisted").status_code == 401
    assert [r["details"]["reason"] for r in world.audit_records("authz.denied")] == ["no_permission_rule"]


def test_include_deleted_is_an_admin_action(world: World) -> None:
    operator = world.account("Operator")
    admin = world.account("Admin")
    created = world.client.post("/api/contacts", json={"phone": "+447812345678"}, headers=bearer(operator))
    contact_id = created.json()["contactId"]
    assert world.client.delete(f"/api/contacts/{contact_id}", headers=bearer(operator)).status_code == 204
    refused = world.client.get(f"/api/contacts/{contact_id}?includeDeleted=true", headers=bearer(operator))
    assert refused.status_code == 403
    (record,) = world.audit_records("authz.denied")
    assert record["resourceType"] == "action" and record["resourceId"] == "contacts.include_deleted"
    shown = world.client.get(f"/api/contacts/{contact_id}?includeDeleted=true", headers=bearer(admin))
    assert shown.status_code == 200 and shown.json()["deletedAt"] == world.clock.now()
    listing = world.client.get("/api/contacts?includeDeleted=true", headers=bearer(admin)).json()
    assert [c["contactId"] for c in listing["items"]] == [contact_id]
    assert world.client.get("/api/contacts", headers=bearer(admin)).json()["items"] == []
