"""Schema-driven fuzzing: every operation of the OpenAPI document, in process, against the product as
``wecare serve`` composes it (``build_embedded``: SQLite in a tmp dir, local queue, local identity,
DRY_RUN), signed in as an Operator, with a fixed seed.

Each generated request must answer no 5xx, with a status the document lists for the operation, the
content type and body schema documented for that status (``ErrorEnvelope`` for every error), and the
documented response headers; an undocumented method must be a 405 with ``Allow``, a missing required
header must be refused, and an operation that declares the bearer scheme must refuse a request without
it. What the document promises is what a generated client and the next fuzzer will rely on.

Nothing is excluded: the webhooks are fuzzed too, and refuse every request with the 403
``SIGNATURE_INVALID`` they document (no signing secret or genuine SNS signature is available here).
Admin-only operations answer the Operator the 403 they document, so they are fuzzed once more as an
Admin, to reach what lies behind that 403.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from gateway.api.app import create_app
from gateway.api.openapi import install_openapi
from gateway.auth.permissions import rule_for
from gateway.bootstrap import Container, build_embedded, build_in_memory
from gateway.clock import FakeClock
from gateway.config import Settings, load_settings
from gateway.identity.principal import Role

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
# Per operation (the coverage phase adds its own boundary cases on top): ~3,700 requests in all with the
# Admin pass, about a minute on the 2-core machine.
MAX_EXAMPLES = 100

CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # Both judge the schema's *input* constraints against the server's, not the answers: the schema
            # cannot say what only the services know (a phone number must parse, a search needs 2+
            # characters, a cursor must be one the API issued, the policy refuses a message to an unknown
            # contact with POLICY_DENIED), so schema-valid requests are rightly refused with a documented
            # 422; and unknown query parameters are ignored, as HTTP APIs do, where the check expects a 4xx.
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {"enabled": False},
        },
    }
)


def _document_app() -> FastAPI:
    # The document must be loaded at import (parametrisation needs its operations); an in-memory
    # composition is cheap and writes nothing. The product's own document is checked to be the same.
    app = create_app(build_in_memory(Settings(), FakeClock()))
    install_openapi(app)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app(), config=CONFIG)
DOCUMENT = copy.deepcopy(schema.raw_schema)  # as loaded: schemathesis may annotate its own copy while it runs


@dataclass
class Product:
    app: FastAPI
    container: Container
    operator: dict[str, str]
    admin: dict[str, str]


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    # A fake clock: the token never expires mid-run and a saturated rate limit never sleeps for real.
    container = build_embedded(load_settings("embedded", {}, WECARE_DATA_DIR=data_dir), clock=FakeClock())
    app = create_app(container)
    install_openapi(app)
    tokens: dict[str, dict[str, str]] = {}
    users = container.users
    assert users is not None  # the embedded product administers its own users
    with TestClient(app) as client:
        for role in ("Operator", "Admin"):
            email = f"{role.lower()}@example.com"
            users.create(email, role, actor="test", password=PASSWORD)
            reply = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            tokens[role] = {"Authorization": f"Bearer {reply.json()['accessToken']}"}
    yield Product(app, container, tokens["Operator"], tokens["Admin"])
    container.close()


def test_the_fuzzed_document_is_the_products(product: Product) -> None:
    assert product.app.openapi() == DOCUMENT


FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the fixed seed: the same cases on every run and machine
    database=None,  # nothing written to .hypothesis/, nothing replayed from an earlier run
    deadline=None,  # timing on a shared 2-core machine is not what this test is about
    # Generated bodies for the larger models (MessageIn, PolicyInput) are slow and often filtered.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@schema.parametrize()
@FUZZ
def test_every_operation_answers_as_documented(case: schemathesis.Case[Any], product: Product) -> None:
    case.call_and_validate(headers=product.operator, app=product.app)


@schema.include(lambda ctx: rule_for(ctx.operation.method, ctx.operation.path) is Role.Admin).parametrize()
@FUZZ
def test_admin_operations_answer_admins_as_documented(case: schemathesis.Case[Any], product: Product) -> None:
    case.call_and_validate(headers=product.admin, app=product.app)
