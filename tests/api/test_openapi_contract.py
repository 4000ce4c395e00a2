"""The OpenAPI document describes the API as it really answers (gateway/api/openapi.py).

Two halves: the document's shape (every error is the ``ErrorEnvelope``, protected operations document
401/403 and the bearer scheme, hand-read bodies are described, the per-route table names real
operations), and a few real answers the fuzzer rarely reaches, each checked against the document.
Every test here fails if ``install_openapi``'s post-processing is removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gateway.api.app import create_app
from gateway.api.openapi import (
    BEARER,
    ERROR_ENVELOPE,
    ERROR_REF,
    EXAMPLES,
    ROUTES,
    install_openapi,
    is_protected,
    operations,
)
from gateway.api.routes.auth import LoginBody
from gateway.api.routes.contacts import ContactFields
from gateway.api.routes.dlq import ReplayRequest
from gateway.api.routes.messages import MessageIn
from gateway.api.routes.users import ChangeUser, CreateUser
from gateway.bootstrap import Container, build_embedded, build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings, load_settings
from gateway.policy.schema import PolicyInput

Doc = dict[str, Any]
PASSWORD = "correct horse battery"
MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (ContactFields, CreateUser, ChangeUser, LoginBody, ReplayRequest, MessageIn, PolicyInput)
}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    app = create_app(build_in_memory(Settings(), FakeClock()))
    install_openapi(app)
    return app


@pytest.fixture(scope="module")
def document(app: FastAPI) -> Doc:
    reply = TestClient(app).get("/openapi.json")
    assert reply.status_code == 200
    served: Doc = reply.json()
    return served


def _op(document: Doc, method: str, path: str) -> Doc:
    operation: Doc = document["paths"][path][method.lower()]
    return operation


def _errors(operation: Doc) -> set[int]:
    return {int(code) for code in operation["responses"] if code.isdigit() and int(code) >= 400}


# ---- the document's shape ---------------------------------------------------------------------------


def test_install_is_idempotent_and_serves_the_corrected_document(app: FastAPI, document: Doc) -> None:
    generator = app.openapi
    install_openapi(app)
    assert app.openapi is generator
    assert app.openapi() is app.openapi()  # cached
    assert document == app.openapi()
    schemathesis.openapi.from_dict(document).validate()  # a valid OpenAPI 3.1 document


def test_a_document_generated_before_install_is_not_served() -> None:
    app = create_app(build_in_memory(Settings(), FakeClock()))
    # FastAPI's own generator (whether or not create_app installs ours) caches its document on the app.
    assert ERROR_ENVELOPE not in FastAPI.openapi(app)["components"]["schemas"]
    install_openapi(app)
    assert ERROR_ENVELOPE in TestClient(app).get("/openapi.json").json()["components"]["schemas"]


def test_the_error_envelope_is_a_component(document: Doc) -> None:
    envelope = document["components"]["schemas"][ERROR_ENVELOPE]
    assert envelope["required"] == ["error"]
    error = envelope["properties"]["error"]
    assert error["required"] == ["code", "message"]
    assert {name: error["properties"][name]["type"] for name in ("code", "message", "details")} == {
        "code": "string",
        "message": "string",
        "details": "object",
    }


def test_every_error_response_is_the_envelope(document: Doc) -> None:
    bad = []
    for method, path, operation in operations(document):
        for code, answer in operation["responses"].items():
            if (
                code.isdigit()
                and int(code) >= 400
                and answer.get("content") != {"application/json": {"schema": {"$ref": ERROR_REF}}}
            ):
                bad.append(f"{method} {path} {code}")
        if not _errors(operation) and (method, path) != ("GET", "/healthz"):  # takes nothing, refuses nothing
            bad.append(f"{method} {path}: no error response at all")
    assert bad == []
    # FastAPI's validation models describe a body this API never sends.
    assert "HTTPValidationError" not in json.dumps(document)


def test_protected_operations_document_401_403_503_and_the_bearer_scheme(document: Doc) -> None:
    assert document["components"]["securitySchemes"][BEARER] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"][BEARER]["description"],
    }
    protected = [(m, p, o) for m, p, o in operations(document) if is_protected(m, p)]
    assert len(protected) >= 15
    for method, path, operation in protected:
        assert {401, 403, 503} <= _errors(operation), (method, path)
        assert operation["security"] == [{BEARER: []}], (method, path)


def test_public_operations_need_no_user_token(document: Doc) -> None:
    public = {(m, p): o for m, p, o in operations(document) if not is_protected(m, p)}
    assert {
        ("POST", "/api/auth/login"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("POST", "/webhooks/sns"),
        ("GET", "/webhooks/meta"),
        ("POST", "/webhooks/meta"),
    } <= set(public)
    for key, operation in public.items():
        assert {BEARER: []} not in operation.get("security", []), key
    assert _errors(public[("GET", "/healthz")]) == set()  # nothing to refuse: no input, no sign-in
    # Refused for their own reasons: a wrong password, a bad signature.
    assert 401 in _errors(public[("POST", "/api/auth/login")])
    assert 403 in _errors(public[("POST", "/webhooks/sns")])


def test_bodies_and_parameters_document_what_can_refuse_them(document: Doc) -> None:
    for method, path, operation in operations(document):
        errors = _errors(operation)
        if "requestBody" in operation:
            assert 413 in errors, (method, path)
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert 404 in errors, (method, path)
        if any(p["name"] == "cursor" for p in operation.get("parameters", [])):
            assert 422 in errors, (method, path)  # INVALID_CURSOR
        assert 405 not in errors, (method, path)  # only another method on the same path answers 405
    # Bodies FastAPI parses: 400 for bytes that are not JSON text at all, 422 for anything invalid.
    for method, path in (
        ("POST", "/api/contacts"),
        ("PATCH", "/api/users/{user_id}"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/dlq/replay"),
    ):
        assert {400, 413, 422} <= _errors(_op(document, method, path)), (method, path)
    # Plain strings passed to the service as they are: nothing FastAPI could refuse (an /api/ route can
    # still be refused for a query parameter it does not take: the request gate's 422).
    assert 422 not in _errors(_op(document, "GET", "/webhooks/meta"))
    assert 422 in _errors(_op(document, "GET", "/api/messages/{message_id}"))


def test_create_and_change_routes_document_their_conflicts(document: Doc) -> None:
    for method, path in (
        ("POST", "/api/users"),
        ("PATCH", "/api/users/{user_id}"),
        ("POST", "/api/contacts"),
        ("PATCH", "/api/contacts/{contact_id}"),
        ("DELETE", "/api/contacts/{contact_id}"),
    ):
        assert 409 in _errors(_op(document, method, path)), (method, path)
    login = _op(document, "POST", "/api/auth/login")
    assert {401, 404, 422, 429} <= _errors(login) and 403 not in _errors(login)
    assert "Retry-After" in login["responses"]["429"]["headers"]


def test_post_messages_documents_both_body_types_and_every_answer(document: Doc) -> None:
    send = _op(document, "POST", "/api/messages")
    content = send["requestBody"]["content"]
    assert send["requestBody"]["required"] is True
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/MessageIn"}
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["message"]
    assert form["properties"]["message"]["type"] == "string"
    assert form["properties"]["file"] == {**form["properties"]["file"], "type": "string", "format": "binary"}
    component = document["components"]["schemas"]["MessageIn"]
    assert set(component["properties"]) == set(MessageIn.model_fields)
    assert {"TextIn", "MediaIn", "TemplateIn", "EmailIn"} <= set(document["components"]["schemas"])
    [key] = [p for p in send["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is False
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert {"201", "202"} <= set(send["responses"])
    sent = send["responses"]["201"]["content"]["application/json"]["schema"]
    assert sent["required"] == ["message", "replayed"]
    assert {400, 401, 403, 404, 413, 422, 429, 502, 503} == _errors(send)
    assert "CONTACT_NOT_FOUND" in send["responses"]["404"]["description"]
    assert "POLICY_DENIED" in send["responses"]["422"]["description"]


def test_webhooks_document_their_raw_bodies_and_signatures(document: Doc) -> None:
    sns = _op(document, "POST", "/webhooks/sns")
    assert set(sns["requestBody"]["content"]) == {"text/plain", "application/json"}
    assert _errors(sns) == {400, 403, 413, 503}  # read raw: verified, never validated into a 422
    meta = _op(document, "POST", "/webhooks/meta")
    assert set(meta["requestBody"]["content"]) == {"application/json"}
    [signature] = [p for p in meta["parameters"] if p["name"] == "X-Hub-Signature-256"]
    assert signature["in"] == "header" and signature["required"] is True
    assert _errors(meta) == {403, 413, 503}
    handshake = _op(document, "GET", "/webhooks/meta")
    assert set(handshake["responses"]["200"]["content"]) == {"text/plain"}
    assert _errors(handshake) == {403, 503}


def test_metrics_document_text_and_their_token(document: Doc) -> None:
    metrics = _op(document, "GET", "/metrics")
    assert set(metrics["responses"]["200"]["content"]) == {"text/plain"}
    assert _errors(metrics) == {401, 403, 404}
    assert metrics["security"] == [{}, {"metricsToken": []}]  # a token only where one is configured


def test_policy_evaluation_documents_the_policy_input(document: Doc) -> None:
    evaluate = _op(document, "POST", "/api/policies/evaluate")
    assert evaluate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PolicyInput"
    }
    schemas = document["components"]["schemas"]
    assert set(schemas["PolicyInput"]["properties"]) == set(PolicyInput.model_fields)
    # Field(ge=0) on `int | float` is a minimum on each branch, not pydantic's stray "ge" keyword.
    now = schemas["PolicyInput"]["properties"]["now"]
    assert "ge" not in now and all(branch["minimum"] == 0 for branch in now["anyOf"])


def test_examples_are_valid_for_their_models(document: Doc) -> None:
    assert set(EXAMPLES) == set(MODELS)
    for name, example in EXAMPLES.items():
        MODELS[name].model_validate(example)
        assert document["components"]["schemas"][name]["examples"] == [example], name


def test_the_route_table_names_real_operations_and_is_documented(document: Doc) -> None:
    documented = {(m, p): o for m, p, o in operations(document)}
    for key, route in ROUTES.items():
        assert key in documented, f"{key} is in gateway/api/openapi.py ROUTES but is no operation"
        assert set(route.errors) <= _errors(documented[key]), key


# ---- real answers, checked against the document ------------------------------------------------------


class World:
    def __init__(self, data_dir: Path) -> None:
        self.container: Container = build_embedded(
            load_settings("embedded", {}, WECARE_DATA_DIR=data_dir), clock=FakeClock()
        )
        self.app = create_app(self.container)
        install_openapi(self.app)
        self.schema = schemathesis.openapi.from_dict(self.app.openapi())
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers: dict[str, dict[str, str]] = {"none": {}}
        users = self.container.users
        assert users is not None  # the embedded product administers its own users
        for role in ("Viewer", "Operator"):
            email = f"{role.lower()}@example.com"
            users.create(email, role, actor="test", password=PASSWORD)
            reply = self.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            self.headers[role] = {"Authorization": f"Bearer {reply.json()['accessToken']}"}

    def answer(self, method: str, template: str, path: str | None = None, **kwargs: Any) -> Any:
        """Send a request and check the answer against the document: status, content type and body."""
        reply = self.client.request(method, path or template, **kwargs)
        operation = self.schema[template][method]
        documented = operation.definition.raw["responses"]
        assert str(reply.status_code) in documented, (method, template, reply.status_code, reply.text)
        if reply.status_code != 204:
            media = reply.headers["content-type"].split(";")[0]
            assert media in documented[str(reply.status_code)]["content"], (method, template, media)
        operation.validate_response(reply)
        return reply


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("contract") / "data")
    yield w
    w.client.close()
    w.container.close()


def test_a_send_its_replay_and_a_reused_key_answer_as_documented(world: World) -> None:
    operator = world.headers["Operator"]
    contact = world.answer("POST", "/api/contacts", headers=operator, json=EXAMPLES["ContactFields"]).json()
    text = {"contactId": contact["contactId"], "channel": "sms", "text": {"body": "Your order has shipped"}}
    keyed = {**operator, "Idempotency-Key": "order-42"}
    sent = world.answer("POST", "/api/messages", headers=keyed, json=text)
    assert sent.status_code == 201 and sent.json()["replayed"] is False
    again = world.answer("POST", "/api/messages", headers=keyed, json=text)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    reused = world.answer("POST", "/api/messages", headers=keyed, json={**text, "text": {"body": "other"}})
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    duplicate = world.answer("POST", "/api/contacts", headers=operator, json=EXAMPLES["ContactFields"])
    assert duplicate.status_code == 409
    message = sent.json()["message"]["messageId"]
    world.answer("GET", "/api/messages/{message_id}", f"/api/messages/{message}", headers=operator)
    world.answer(
        "DELETE", "/api/contacts/{contact_id}", f"/api/contacts/{contact['contactId']}", headers=operator
    )
    gone = world.answer(
        "GET", "/api/contacts/{contact_id}", f"/api/contacts/{contact['contactId']}", headers=operator
    )
    assert gone.status_code == 404


def test_multipart_sends_answer_as_documented(world: World) -> None:
    operator = world.headers["Operator"]
    media = {
        "contactId": "ct_0123456789abcdef0123456789abcdef",
        "channel": "whatsapp",
        "media": {"mediaKind": "image", "caption": "the receipt"},
    }
    denied = world.answer(
        "POST",
        "/api/messages",
        headers=operator,
        data={"message": json.dumps(media)},
        files={"file": ("receipt.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")},
    )
    # No such contact: 404, the refusal recorded (a known contact without opt-in would be POLICY_DENIED).
    assert denied.json()["error"]["code"] == "CONTACT_NOT_FOUND"
    broken = world.answer(
        "POST",
        "/api/messages",
        content=b"not multipart at all",
        headers={**operator, "Content-Type": "multipart/form-data"},
    )
    assert broken.status_code == 400


def test_refusals_answer_as_documented(world: World) -> None:
    text = {"contactId": "ct_x", "channel": "sms", "text": {"body": "hi"}}
    anonymous = world.answer("POST", "/api/messages", json=text)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    viewer = world.headers["Viewer"]
    assert world.answer("POST", "/api/messages", headers=viewer, json=text).status_code == 403
    not_text = world.answer(
        "POST",
        "/api/contacts",
        content=b"\xff\xfe{",
        headers={**world.headers["Operator"], "Content-Type": "application/json"},
    )
    assert not_text.status_code == 400
    assert (
        world.answer(
            "GET", "/api/decisions", headers=world.headers["Viewer"], params={"cursor": "not-ours"}
        ).status_code
        == 422
    )
    # The test client is no loopback address, and no METRICS_TOKEN is configured here.
    assert world.answer("GET", "/metrics").status_code == 403
    assert (
        world.answer(
            "POST", "/webhooks/sns", content=b"{", headers={"Content-Type": "text/plain"}
        ).status_code
        == 400
    )
    assert (
        world.answer(
            "POST",
            "/webhooks/meta",
            json={"object": "whatsapp_business_account"},
            headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
        ).status_code
        == 403
    )
    assert world.answer("GET", "/webhooks/meta").status_code == 403


def test_a_throttled_sign_in_answers_as_documented(world: World) -> None:
    wrong = {"email": "viewer@example.com", "password": "not the password"}
    replies = [world.answer("POST", "/api/auth/login", json=wrong) for _ in range(12)]
    assert replies[0].status_code == 401
    assert replies[-1].status_code == 429 and int(replies[-1].headers["Retry-After"]) >= 1
