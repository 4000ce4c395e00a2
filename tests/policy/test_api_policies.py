"""``GET /api/policies``, ``POST /api/policies/evaluate``, ``GET /api/decisions`` on a bare app."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from gateway.api.deps import get_principal
from gateway.api.errors import install_error_handlers
from gateway.api.routes import policies
from gateway.clock import FakeClock
from gateway.decisions import DecisionService
from gateway.identity.principal import Principal, Role
from gateway.policy.bundle import Bundle
from gateway.policy.engine import PolicyEngine
from gateway.store.memory import MemoryTables

from .conftest import NOW, policy_input

with warnings.catch_warnings():
    # The test client's notice about preferring another HTTP library is not what these tests check.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def app_with(container: Any) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.state.container = container
    app.include_router(policies.router, prefix="/api")
    app.dependency_overrides[get_principal] = lambda: Principal("usr_1", "v@example.com", Role.Viewer)
    return TestClient(app)


@pytest.fixture
def tables() -> MemoryTables:
    return MemoryTables(FakeClock(NOW))


@pytest.fixture
def client(fast: PolicyEngine, tables: MemoryTables) -> TestClient:
    return app_with(SimpleNamespace(policy=fast, decisions=DecisionService(tables, FakeClock(NOW))))


def test_get_policies_shows_the_bundle_in_force(client: TestClient, bundle: Bundle) -> None:
    response = client.get("/api/policies")
    assert response.status_code == 200
    doc = response.json()
    assert (doc["name"], doc["version"], doc["digest"]) == ("wecare", "1.2.0", bundle.digest)
    assert "window.yaml" in doc["files"]
    rules = [r["name"] for p in doc["policies"] for r in p["rules"]]
    assert "template-outside-window" in rules and len(rules) == len(bundle.rules())


def test_evaluate_returns_the_decision(client: TestClient) -> None:
    response = client.post("/api/policies/evaluate", json=policy_input(contact={"optInWhatsApp": False}))
    assert response.status_code == 200
    body = response.json()
    assert body["engine"] == "fast"
    assert body["decision"]["allowed"] is False and body["decision"]["reasons"] == ["OPT_IN_REQUIRED"]


def test_evaluate_with_explain_shows_rules_and_variables(client: TestClient) -> None:
    response = client.post("/api/policies/evaluate?explain=true", json=policy_input())
    window = next(p for p in response.json()["policies"] if p["policy"] == "window")
    assert window["variables"]["windowOpen"] == {"value": True}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (policy_input(contact={"optInSms": "yes"}), "contact.optInSms"),
        (policy_input(request={"channel": "pigeon"}), "request.channel"),
        (policy_input(tier=None), "tier"),
        (policy_input(extra=1), "extra"),
    ],
)
def test_evaluate_refuses_bad_input_with_422_naming_the_field(
    client: TestClient, document: dict[str, Any], field: str
) -> None:
    response = client.post("/api/policies/evaluate", json=document)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT"
    assert field in {f["field"] for f in error["details"]["fields"]}
    assert error["message"].startswith("the policy input is not valid")


def test_evaluate_refuses_a_body_that_is_not_an_object(client: TestClient) -> None:
    response = client.post("/api/policies/evaluate", json=[1, 2])
    assert response.status_code == 422 and response.json()["error"]["code"] == "INVALID_INPUT"


def test_get_decisions_filters_stored_decisions(
    client: TestClient, tables: MemoryTables, fast: PolicyEngine
) -> None:
    for i, patch in enumerate(({}, {"contact": {"optInWhatsApp": False}}, {"request": {"channel": "sms"}})):
        doc = policy_input(**patch)
        tables["Messages"].put(
            {
                "messageId": f"m{i}",
                "kind": "message",
                "direction": "outbound",
                "channel": doc["request"]["channel"],
                "timestamp": NOW + i,
                "status": "sent",
                "decision": fast.evaluate(doc).to_dict(),
                "policyInput": doc,
                "expiresAt": int(NOW) + 10**6,
            }
        )
    assert len(client.get("/api/decisions").json()["items"]) == 3
    denied = client.get("/api/decisions", params={"allowed": "false"}).json()["items"]
    assert [d["messageId"] for d in denied] == ["m1"]
    allowed = client.get("/api/decisions", params={"allowed": "true"}).json()["items"]
    assert [d["messageId"] for d in allowed] == ["m2", "m0"]  # newest first
    assert [d["messageId"] for d in client.get("/api/decisions?reason=OPT_IN_REQUIRED").json()["items"]] == [
        "m1"
    ]
    assert [d["messageId"] for d in client.get("/api/decisions?channel=sms").json()["items"]] == ["m2"]
    assert [
        d["messageId"] for d in client.get(f"/api/decisions?since={NOW + 1}&until={NOW + 1}").json()["items"]
    ] == ["m1"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "channel=fax", "reason=lower", f"since={NOW}&until=1"]
)
def test_get_decisions_rejects_bad_filters(client: TestClient, query: str) -> None:
    response = client.get(f"/api/decisions?{query}")
    assert response.status_code == 422 and response.json()["error"]["code"] == "INVALID_INPUT"


def test_a_malformed_cursor_is_a_422(client: TestClient) -> None:
    response = client.get("/api/decisions?cursor=garbage")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_CURSOR"


def test_without_an_engine_the_routes_say_so(tables: MemoryTables) -> None:
    client = app_with(SimpleNamespace(policy=None))
    response = client.get("/api/policies")
    assert response.status_code == 503 and "policy engine" in response.json()["error"]["message"]


def test_the_engine_comes_from_the_container(fast: PolicyEngine) -> None:
    client = app_with(SimpleNamespace(policy=fast))
    assert client.get("/api/policies").json()["name"] == "wecare"


def test_routes_need_a_signed_in_caller(fast: PolicyEngine) -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.state.container = SimpleNamespace(policy=fast)
    app.include_router(policies.router, prefix="/api")
    response = TestClient(app).get("/api/policies")
    assert response.status_code == 401
