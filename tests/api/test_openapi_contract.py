"""The OpenAPI document describes the API as it really answers (gateway/api/openapi.py).

Two halves: the document's shape (every error is the ``ErrorEnvelope``, protected operations document
401/403 and the bearer scheme, hand-read bodies are described, the per-route table names real
operations; every operation of the app, walked from the app itself so a new route is caught, has a
typed request body when it takes one, a typed 2xx answer, an example of each that is valid for its
schema, and every 4xx its facts say it can answer), and real answers (the fuzzer rarely reaches most
success paths), each checked against the document. Every test here fails if ``install_openapi``'s
post-processing is removed.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gateway.api.app import create_app
from gateway.api.openapi import (
    BEARER,
    ERROR_ENVELOPE,
    ERROR_REF,
    EXAMPLES,
    ROUTES,
    Route,
    install_openapi,
    is_protected,
    operations,
)
from gateway.api.openapi_responses import RESPONSES
from gateway.api.routes.messages import MessageIn
from gateway.api.security import api_routes
from gateway.bootstrap import Container, build_embedded, build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings, load_settings
from gateway.demo import DemoReport, seed
from gateway.policy.schema import PolicyInput

Doc = dict[str, Any]
PASSWORD = "correct horse battery"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The models routes validate by hand (FastAPI sees no model for them): described through ROUTES.
HAND_READ_MODELS: tuple[type[BaseModel], ...] = (MessageIn, PolicyInput)


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


def _app_operations(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every (METHOD, path template) the app serves in its document, from the app's own routes."""
    return {
        (method, path): route
        for path, methods, route in api_routes(app)
        if route.include_in_schema
        for method in methods
    }


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _request_models(app: FastAPI) -> dict[str, type[BaseModel]]:
    """The body model of every route (FastAPI's and the hand-read ones), by component name."""
    models = {model.__name__: model for model in HAND_READ_MODELS}
    for route in _app_operations(app).values():
        if route.body_field is not None:
            models.update((m.__name__, m) for m in _models_in(route.body_field.field_info.annotation))
    return models


def _resolve(document: Doc, schema: Doc) -> Doc:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _typed(document: Doc, schema: Doc) -> bool:
    """Whether a schema says what the value is: not ``{}``, nor an object of anything."""
    schema = _resolve(document, schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        real = [b for b in branches if b != {"type": "null"}]
        return bool(real) and all(_typed(document, b) for b in real)
    kind = schema.get("type")
    if kind in ("string", "integer", "number", "boolean"):
        return True
    if kind == "array":
        return _typed(document, schema.get("items", {}))
    return kind == "object" and bool(schema.get("properties"))


def _examples(media: Doc) -> list[Any]:
    found = [media["example"]] if "example" in media else []
    return found + [e["value"] for e in media.get("examples", {}).values() if "value" in e]


def _invalid_for(document: Doc, schema: Doc, value: Any) -> list[str]:
    """Why ``value`` is not valid for ``schema`` (references resolved in the document), if it is not."""
    root = {"components": document["components"], "allOf": [schema]}
    return [error.message for error in jsonschema_rs.Draft202012Validator(root).iter_errors(value)]


def _media(operation: Doc) -> Iterator[tuple[str, str, Doc]]:
    """(where, media type, media object) of the request body and of every 2xx answer."""
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        yield "request", media_type, media
    for code, answer in operation["responses"].items():
        if code.startswith("2"):
            for media_type, media in answer.get("content", {}).items():
                yield code, media_type, media


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
    for code in ("201", "202"):
        sent = _resolve(document, send["responses"][code]["content"]["application/json"]["schema"])
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


def test_examples_are_valid_for_their_models(app: FastAPI, document: Doc) -> None:
    # One example per request model (gateway/api/openapi.py EXAMPLES), none for a model no route takes.
    models = _request_models(app)
    assert set(EXAMPLES) == set(models)
    for name, example in EXAMPLES.items():
        models[name].model_validate(example)
        assert document["components"]["schemas"][name]["examples"] == [example], name
    # One per answer model (gateway/api/openapi_responses.py), valid for the model and its component.
    schemas = document["components"]["schemas"]
    for model in set(RESPONSES.values()):
        assert model.example, f"{model.__name__} has no example"
        model.model_validate(model.example)
        assert schemas[model.__name__]["examples"] == [model.example], model.__name__
    # And every example an operation shows is valid for the schema beside it.
    bad = []
    for method, path, operation in operations(document):
        for where, media_type, media in _media(operation):
            for example in _examples(media):
                problems = _invalid_for(document, media.get("schema", {}), example)
                if problems:
                    bad.append(f"{method} {path} {where} {media_type}: {problems[:3]}")
    assert bad == []


def _takes_body(route: APIRoute, extra: Route | None) -> tuple[bool, bool]:
    """(FastAPI parses its body, the route reads one by hand)."""
    return route.body_field is not None, extra is not None and extra.body is not None


def _body_problems(
    document: Doc, where: str, operation: Doc, route: APIRoute, extra: Route | None
) -> list[str]:
    """A typed request body with an example wherever the operation takes one, and none elsewhere."""
    parsed, hand_read = _takes_body(route, extra)
    if not (parsed or hand_read):
        if (
            where.partition(" ")[0] in BODY_METHODS
            and route.dependant.request_param_name is not None
            and extra is None
        ):
            # It has the Request itself, so it may read a body FastAPI cannot see: ROUTES must say.
            return [f"{where}: may read its body by hand; say so in ROUTES (body=..., or an entry without)"]
        return [f"{where}: documents a body it does not take"] if "requestBody" in operation else []
    content = operation.get("requestBody", {}).get("content", {})
    problems = [] if content else [f"{where}: takes a body but documents none"]
    for media_type, media in content.items():
        if not _typed(document, media.get("schema", {})):
            problems.append(f"{where} request {media_type}: no schema")
        if not _examples(media):
            problems.append(f"{where} request {media_type}: no example (EXAMPLES in openapi.py)")
    return problems


def _success_problems(document: Doc, where: str, operation: Doc) -> list[str]:
    """At least one 2xx; each typed, with an example (a 204 has no content at all)."""
    success = {code: answer for code, answer in operation["responses"].items() if code.startswith("2")}
    problems = [] if success else [f"{where}: no 2xx answer"]
    for code, answer in success.items():
        content = answer.get("content", {})
        if code == "204":
            problems += [f"{where} 204: has content"] if content else []
            continue
        problems += [] if content else [f"{where} {code}: no content"]
        for media_type, media in content.items():
            if not _typed(document, media.get("schema", {})):
                problems.append(f"{where} {code} {media_type}: untyped; name its model in RESPONSES")
            if not _examples(media):
                problems.append(f"{where} {code} {media_type}: no example")
    return problems


def _expected_errors(method: str, path: str, route: APIRoute, extra: Route | None) -> set[int]:
    """Every 4xx the route's facts say it can answer, from the route itself (not the document's own
    derivation): its ROUTES entry, sign-in and role, its body, its path parameters, the request gate."""
    parsed, hand_read = _takes_body(route, extra)
    expected = set(extra.errors) if extra is not None else set()
    if is_protected(method, path):
        expected |= {401, 403}
    if parsed:
        expected |= {400, 413, 422}
    if hand_read and extra is not None:
        expected |= {413, 422} if extra.validates_body else {413}
    if route.dependant.path_params:
        expected.add(404)
    if path.startswith("/api/"):
        expected.add(422)  # the request gate refuses a query parameter the route does not take
    return expected


def test_every_operation_of_the_app_is_described_completely(app: FastAPI, document: Doc) -> None:
    """Walks the app's routes (not the document), so a route added later is held to the same rules:
    a typed request body with an example when it takes one, a typed 2xx answer with an example, and
    every 4xx its facts say it can answer. The fix for each problem is one entry: EXAMPLES or ROUTES in
    gateway/api/openapi.py, RESPONSES in gateway/api/openapi_responses.py."""
    documented = {(m, p): o for m, p, o in operations(document)}
    served = _app_operations(app)
    assert set(served) == set(documented)
    problems: list[str] = []
    for (method, path), route in sorted(served.items()):
        operation, where, extra = documented[(method, path)], f"{method} {path}", ROUTES.get((method, path))
        problems += _body_problems(document, where, operation, route, extra)
        problems += _success_problems(document, where, operation)
        missing = _expected_errors(method, path, route, extra) - _errors(operation)
        if missing:
            problems.append(f"{where}: can answer {sorted(missing)} but does not document it")
    assert problems == []


def test_the_route_tables_name_real_operations_and_are_documented(document: Doc) -> None:
    documented = {(m, p): o for m, p, o in operations(document)}
    for key, route in ROUTES.items():
        assert key in documented, f"{key} is in gateway/api/openapi.py ROUTES but is no operation"
        assert set(route.errors) <= _errors(documented[key]), key
    for key, model in RESPONSES.items():
        assert key in documented, (
            f"{key} is in gateway/api/openapi_responses.py RESPONSES but is no operation"
        )
        refs = [
            media["schema"]
            for code, answer in documented[key]["responses"].items()
            if code.startswith("2")
            for media in answer.get("content", {}).values()
        ]
        assert {"$ref": f"#/components/schemas/{model.__name__}"} in refs, key


def test_the_api_reference_is_served_at_docs(app: FastAPI) -> None:
    # README.md links it as the API reference: Swagger UI over this document.
    page = TestClient(app).get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text and "/openapi.json" in page.text


# ---- real answers, checked against the document ------------------------------------------------------


class World:
    def __init__(self, data_dir: Path, *, demo: bool = False) -> None:
        self.container: Container = build_embedded(
            load_settings("embedded", {}, WECARE_DATA_DIR=data_dir), clock=FakeClock()
        )
        self.app = create_app(self.container)
        install_openapi(self.app)
        self.schema = schemathesis.openapi.from_dict(self.app.openapi())
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers: dict[str, dict[str, str]] = {"none": {}}
        # The demo's data (contacts, an inbound message, a refused send, a dead letter), when asked for.
        self.demo: DemoReport | None = seed(self.container) if demo else None
        users = self.container.users
        assert users is not None  # the embedded product administers its own users
        for role in ("Viewer", "Operator", "Admin"):
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


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("contract-demo") / "data", demo=True)
    yield w
    w.client.close()
    w.container.close()


class Ok:
    """Requests on the demo world that must succeed, each answer checked against the document."""

    def __init__(self, world: World) -> None:
        assert world.demo is not None
        self.world, self.demo = world, world.demo

    def __call__(self, method: str, template: str, path: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", self.world.headers["Admin"])
        reply = self.world.answer(method, template, path, headers=headers, **kwargs)
        assert 200 <= reply.status_code < 300, (method, template, reply.status_code, reply.text)
        return reply


# The success paths of every operation a test client can reach (the fuzzer's random input rarely gets
# past validation to them), in the demo's data. In file order: the last one ends the Viewer's sessions.


def test_contact_message_and_policy_answers_match_their_models(demo_world: World) -> None:
    ok = Ok(demo_world)
    amelia, daniel = ok.demo.contacts["Amelia Hughes"], ok.demo.contacts["Daniel Okafor"]
    ok("GET", "/healthz")
    ok("GET", "/api/me")
    ok("GET", "/api/contacts")
    ok("GET", "/api/contacts", params={"q": "Amelia"})
    ok("GET", "/api/contacts/{contact_id}", f"/api/contacts/{amelia}")
    ok("PATCH", "/api/contacts/{contact_id}", f"/api/contacts/{amelia}", json={"name": "Amelia H."})
    ok("DELETE", "/api/contacts/{contact_id}", f"/api/contacts/{daniel}")
    text = {"contactId": amelia, "channel": "sms", "text": {"body": "Your order has shipped"}}
    ok("POST", "/api/messages", json=text)
    ok("POST", "/api/channels/{channel}/messages", "/api/channels/sms/messages", json=text)
    ok("GET", "/api/messages")
    ok("GET", "/api/conversations")
    ok("POST", "/api/conversations/{contact_id}/read", f"/api/conversations/{amelia}/read")
    ok("GET", "/api/conversations")
    for message_id in ok.demo.messages.values():  # inbound, sent, template, refused
        ok("GET", "/api/messages/{message_id}", f"/api/messages/{message_id}")
    ok("GET", "/api/decisions")
    ok("GET", "/api/policies")
    ok("POST", "/api/policies/evaluate", json=EXAMPLES["PolicyInput"])
    ok("POST", "/api/policies/evaluate", json=EXAMPLES["PolicyInput"], params={"explain": "true"})


def test_bulk_and_dead_letter_answers_match_their_models(demo_world: World) -> None:
    ok = Ok(demo_world)
    job = {**EXAMPLES["BulkJobIn"], "recipients": {"contactIds": [ok.demo.contacts["Amelia Hughes"]]}}
    ok("POST", "/api/bulk-jobs/preflight", json=job)
    job_id = ok("POST", "/api/bulk-jobs", json=job).json()["job"]["jobId"]
    ok("GET", "/api/bulk-jobs")
    report = "/api/bulk-jobs/{job_id}/report"
    for template in ("/api/bulk-jobs/{job_id}", "/api/bulk-jobs/{job_id}/recipients", report):
        ok("GET", template, template.replace("{job_id}", job_id))  # the report: CSV
    ok("GET", report, report.replace("{job_id}", job_id), params={"format": "json"})
    for action in ("pause", "resume", "cancel"):
        template = f"/api/bulk-jobs/{{job_id}}/{action}"
        ok("POST", template, template.replace("{job_id}", job_id))
    ok("GET", report, report.replace("{job_id}", job_id), params={"format": "json"})  # final now
    ok("GET", "/api/dlq")
    ok("GET", "/api/dlq", params={"queue": "inbound-dlq"})
    ok("POST", "/api/dlq/replay", json={"queue": "inbound-dlq"})


def test_suggestion_config_and_account_answers_match_their_models(demo_world: World) -> None:
    ok = Ok(demo_world)
    amelia = ok.demo.contacts["Amelia Hughes"]
    one = "/api/ai/suggestions/{interaction_id}"
    asked = ok("POST", "/api/ai/suggestions", json={"contactId": amelia}).json()["suggestion"][
        "interactionId"
    ]
    ok("GET", one, one.replace("{interaction_id}", asked))
    feedback = EXAMPLES["FeedbackRequest"]
    ok("POST", one + "/feedback", f"{one}/feedback".replace("{interaction_id}", asked), json=feedback)
    ok("POST", one + "/approve", f"{one}/approve".replace("{interaction_id}", asked))
    other = ok("POST", "/api/ai/suggestions", json={"contactId": amelia}).json()["suggestion"][
        "interactionId"
    ]
    reject = EXAMPLES["RejectRequest"]
    ok("POST", one + "/reject", f"{one}/reject".replace("{interaction_id}", other), json=reject)
    ok("GET", "/api/ai/suggestions")
    ok("GET", "/api/ai/suggestions", params={"status": "approved"})
    ok("GET", "/api/ai/stats")
    ok("GET", "/api/config")
    ok("PUT", "/api/config/{key}", "/api/config/ai.enabled", json={"value": False})
    ok("GET", "/api/users")
    created = ok("POST", "/api/users", json=EXAMPLES["CreateUser"]).json()["user"]["userId"]
    ok("PATCH", "/api/users/{user_id}", f"/api/users/{created}", json=EXAMPLES["ChangeUser"])
    ok("POST", "/api/users/{user_id}/password", f"/api/users/{created}/password")
    ok("POST", "/api/auth/login", headers={}, json={"email": "viewer@example.com", "password": PASSWORD})
    change = {"currentPassword": PASSWORD, "newPassword": "a longer passphrase nobody else knows"}
    ok("POST", "/api/me/password", headers=demo_world.headers["Viewer"], json=change)  # last: ends sessions
