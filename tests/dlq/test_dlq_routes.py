from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI

from gateway.api.deps import get_principal
from gateway.api.errors import install_error_handlers
from gateway.api.routes import dlq as dlq_routes
from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.dlq import DlqService
from gateway.identity.principal import Principal, Role
from gateway.queue.memory import MemoryQueues
from gateway.store.memory import MemoryTables

from .http import TestClient


@pytest.fixture
def env() -> SimpleNamespace:
    clock = FakeClock()
    tables = MemoryTables(clock)
    processed: list[str] = []
    dlq = DlqService(
        tables,
        MemoryQueues(clock),
        clock,
        handlers={"inbound-dlq": processed.append},
        audit=AuditLog(tables, clock),
    )
    app = FastAPI()
    install_error_handlers(app)
    app.state.container = SimpleNamespace(dlq=dlq)
    app.include_router(dlq_routes.router, prefix="/api")
    app.dependency_overrides[get_principal] = lambda: Principal("usr_op", "op@wecare.digital", Role.Operator)
    return SimpleNamespace(client=TestClient(app), dlq=dlq, processed=processed, tables=tables)


def test_list_shows_records_and_queue_depths(env: SimpleNamespace) -> None:
    env.dlq.dead_letter("inbound-dlq", "payload-a", "PayloadError: no whatsAppWebhookEntry")
    response = env.client.get("/api/dlq", params={"queue": "inbound-dlq"})
    assert response.status_code == 200
    body = response.json()
    assert body["depth"] == {"inbound-dlq": 1} and body["cursor"] is None
    [item] = body["items"]
    assert item["error"] == "PayloadError: no whatsAppWebhookEntry" and item["status"] == "pending"
    assert item["payload"] == "payload-a"


def test_replay_returns_the_report_and_audits_the_operator(env: SimpleNamespace) -> None:
    env.dlq.dead_letter("inbound-dlq", "payload-a", "err")
    response = env.client.post("/api/dlq/replay", json={"queue": "inbound-dlq", "max": 5})
    assert response.status_code == 200
    body = response.json()
    assert (body["queue"], body["requested"], body["received"], body["replayed"]) == ("inbound-dlq", 5, 1, 1)
    assert body["results"][0]["outcome"] == "replayed"
    assert env.processed == ["payload-a"]
    [audit] = env.tables["AuditLogs"].scan().items
    assert audit["userId"] == "usr_op" and audit["action"] == "dlq.replay"


@pytest.mark.parametrize(
    "body",
    [
        {"queue": "inbound-dlq", "max": 101},
        {"queue": "inbound-dlq", "max": 0},
        {"queue": "bulk-queue"},
        {"max": 5},
        {"queue": "inbound-dlq", "max": 5, "force": True},
    ],
)
def test_replay_request_validation(env: SimpleNamespace, body: dict[str, object]) -> None:
    response = env.client.post("/api/dlq/replay", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_INPUT"
    assert env.processed == []


def test_replay_of_a_queue_without_a_handler_is_a_clear_422(env: SimpleNamespace) -> None:
    response = env.client.post("/api/dlq/replay", json={"queue": "bulk-dlq", "max": 10})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "NO_REPLAY_HANDLER"


def test_list_validation_and_bad_cursor(env: SimpleNamespace) -> None:
    assert env.client.get("/api/dlq", params={"limit": 101}).status_code == 422
    assert env.client.get("/api/dlq", params={"status": "lost"}).status_code == 422
    bad = env.client.get("/api/dlq", params={"queue": "inbound-dlq", "cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_CURSOR"


def test_routes_need_a_signed_in_caller() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.state.container = SimpleNamespace(dlq=None)
    app.include_router(dlq_routes.router, prefix="/api")
    response = TestClient(app).post("/api/dlq/replay", json={"queue": "inbound-dlq", "max": 1})
    assert response.status_code == 401
