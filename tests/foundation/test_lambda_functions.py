"""The sixteen functions of the AWS runtime (and send-recovery): what each serves, the authorizer in front
of them, and realistic events through each kind of trigger, over moto-backed DynamoDB and SQS.

The HTTP events are API Gateway HTTP API (payload 2.0) events as AWS delivers them, kept as JSON files in
``tests/fixtures/aws``; tokens are minted like Cognito's with a key whose JWKS the identity fetches.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gateway import bootstrap, lambdas
from gateway.api.app import create_app
from gateway.api.routes.messages import CHANNEL_PATHS
from gateway.api.security import api_routes
from gateway.clock import FakeClock
from gateway.config import load_settings
from gateway.queue.sqs import create_sqs_queues
from gateway.store.dynamodb import create_dynamodb_tables
from tests.auth.support import CLIENT_ID, FakeJwksEndpoint, MintToken, jwks_document, make_minter, new_key
from tests.lambda_support import REQUIRED_FUNCTIONS, lambda_environment

AWS_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "aws"
EUM_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eum"
PREFIX = "wecare-f-"
CONTEXT = SimpleNamespace(aws_request_id="req-fn")


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((AWS_FIXTURES / name).read_text())
    return loaded


@pytest.fixture(scope="module")
def mint() -> MintToken:
    key = new_key()
    minter = make_minter(key, FakeClock(time.time()))
    minter.jwks = jwks_document(("pool-kid-1", key))  # type: ignore[attr-defined]
    return minter


@pytest.fixture(scope="module")
def deployed(mint: MintToken) -> Iterator[boto3.session.Session]:
    """One deployment for the module (a cold start costs about a second): tests only add to it."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.setenv(name, "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        session = boto3.session.Session(region_name="us-east-1")
        create_dynamodb_tables(session.client("dynamodb"), PREFIX)
        urls = create_sqs_queues(session.client("sqs"), PREFIX)
        env = lambda_environment(PREFIX, urls, CLIENT_ID)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        # The Cognito pool's key set, served by a fake endpoint instead of the network.
        endpoint = FakeJwksEndpoint(mint.jwks)  # type: ignore[attr-defined]
        monkeypatch.setattr(
            lambdas, "build_lambda", functools.partial(bootstrap.build_lambda, identity_fetch=endpoint)
        )
        lambdas.container.cache_clear()
        lambdas._http.cache_clear()
        yield session
        lambdas.container.cache_clear()
        lambdas._http.cache_clear()


def request(
    method: str,
    path: str,
    *,
    role: str | None = "Operator",
    token: str | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """An HTTP API v2 event for ``method path``; ``role`` puts an authorizer context on it."""
    event = copy.deepcopy(fixture("apigw-http-v2-with-authorizer.json"))
    event["routeKey"] = f"{method} {path}"
    event["rawPath"] = path
    event["rawQueryString"] = ""
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"].update(method=method, path=path)
    event["requestContext"]["routeKey"] = event["routeKey"]
    if role is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["lambda"]["role"] = role
    if token is None:
        del event["headers"]["authorization"]
    else:
        event["headers"]["authorization"] = f"Bearer {token}"
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(event["body"]))
    return event


def answer(reply: dict[str, Any]) -> Any:
    return json.loads(reply["body"]) if reply.get("body") else None


# -- the function table ---------------------------------------------------------------------------


def test_the_sixteen_functions_and_send_recovery_each_have_their_handler() -> None:
    names = set(lambdas.FUNCTIONS)
    assert names == {*REQUIRED_FUNCTIONS, "send-recovery"}
    for spec in lambdas.FUNCTIONS.values():
        module, _, attribute = spec.handler.rpartition(".")
        assert module == "gateway.lambdas", spec
        handler = getattr(lambdas, attribute, None)
        assert callable(handler), f"{spec.name}: gateway.lambdas has no {attribute}"
        assert spec.triggers, f"{spec.name} has no trigger"


def test_every_route_of_the_app_is_served_by_exactly_one_function(tmp_path: Path) -> None:
    settings = load_settings("embedded", {}, WECARE_DATA_DIR=tmp_path / "data")
    container = bootstrap.build_embedded(settings)
    try:
        app = create_app(container)
        wanted: set[tuple[str, str]] = set()
        for template, methods, _route in api_routes(app):
            if not template.startswith(("/api/", "/webhooks/", "/healthz", "/metrics")):
                continue
            paths = (
                [template.replace("{channel}", c) for c in CHANNEL_PATHS]
                if "{channel}" in template
                else [template]
            )
            wanted |= {(m, p) for m in methods - {"HEAD"} for p in paths}
    finally:
        container.close()
    owners: dict[tuple[str, str], list[str]] = {}
    for spec in lambdas.FUNCTIONS.values():
        for route in spec.routes:
            method, _, path = route.partition(" ")
            owners.setdefault((method, path), []).append(spec.name)
    assert not {k: v for k, v in owners.items() if len(v) > 1}, "a route served by two functions"
    assert wanted - set(owners) == set(), "routes of the app no function serves"
    assert set(owners) - wanted == set(), "function routes the app does not have"


def test_a_request_for_another_functions_route_is_404_naming_the_function(deployed: Any) -> None:
    reply = lambdas.contacts_read_handler(request("GET", "/api/contacts"), CONTEXT)
    assert reply["statusCode"] == 404
    error = answer(reply)["error"]
    assert "contacts-read" in error["message"] and error["details"]["routes"] == [
        "GET /api/contacts/{contact_id}"
    ]
    # The send of one channel's function does not take another channel's path.
    sms = lambdas.outbound_sms_handler(request("POST", "/api/channels/email/messages", body={}), CONTEXT)
    assert sms["statusCode"] == 404


# -- auth-middleware: the HTTP API's authorizer ---------------------------------------------------


def authorizer_event(token: str | None) -> dict[str, Any]:
    event = fixture("apigw-http-v2-authorizer-request.json")
    if token is None:
        event["identitySource"] = []
        del event["headers"]["authorization"]
    else:
        event["identitySource"] = [f"Bearer {token}"]
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


def test_the_authorizer_answers_who_the_caller_is(deployed: Any, mint: MintToken) -> None:
    granted = lambdas.auth_middleware_handler(
        authorizer_event(mint(**{"cognito:groups": ["Viewer"]})), CONTEXT
    )
    assert granted == {
        "isAuthorized": True,
        "context": {
            "userId": "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab",
            "email": "olivia",
            "role": "Viewer",
            "issuer": "cognito",
        },
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "expired", "forged", "no role group", "another app client"],
)
def test_the_authorizer_refuses_what_the_verifier_refuses(deployed: Any, mint: MintToken, case: str) -> None:
    now = int(time.time())
    token = {
        "missing": None,
        "expired": mint(exp=now - 600, iat=now - 4200, auth_time=now - 4200),
        "forged": mint(_key=new_key()),
        "no role group": mint(**{"cognito:groups": None}),
        "another app client": mint(client_id="someone-else"),
    }[case]
    assert lambdas.auth_middleware_handler(authorizer_event(token), CONTEXT) == {"isAuthorized": False}


def test_a_function_trusts_the_authorizer_context_without_a_token(deployed: Any) -> None:
    # No Authorization header at all: the principal comes from requestContext.authorizer.lambda.
    reply = lambdas.contacts_search_handler(request("GET", "/api/contacts", role="Viewer"), CONTEXT)
    assert reply["statusCode"] == 200, reply
    assert isinstance(answer(reply)["items"], list)


def test_the_permission_table_still_applies_behind_the_authorizer(deployed: Any) -> None:
    body = {"name": "Ann", "phone": "+447812345123"}
    viewer = lambdas.contacts_create_handler(
        request("POST", "/api/contacts", role="Viewer", body=body), CONTEXT
    )
    assert viewer["statusCode"] == 403 and answer(viewer)["error"]["details"]["required"] == "Operator"
    operator = lambdas.contacts_create_handler(
        request("POST", "/api/contacts", role="Operator", body=body), CONTEXT
    )
    assert operator["statusCode"] == 201, operator
    created = answer(operator)
    assert created["createdBy"] == "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    read = lambdas.contacts_read_handler(
        request("GET", f"/api/contacts/{created['contactId']}", role="Viewer"), CONTEXT
    )
    assert read["statusCode"] == 200 and answer(read)["contactId"] == created["contactId"]


def test_a_malformed_authorizer_context_is_refused_not_half_trusted(deployed: Any) -> None:
    event = request("GET", "/api/contacts", role="Superuser")
    reply = lambdas.contacts_search_handler(event, CONTEXT)
    assert reply["statusCode"] == 401
    del event["requestContext"]["authorizer"]["lambda"]["userId"]
    assert lambdas.contacts_search_handler(event, CONTEXT)["statusCode"] == 401


def test_without_an_authorizer_the_token_is_verified_as_everywhere(deployed: Any, mint: MintToken) -> None:
    anonymous = lambdas.contacts_search_handler(request("GET", "/api/contacts", role=None), CONTEXT)
    assert anonymous["statusCode"] == 401
    signed = lambdas.contacts_search_handler(
        request("GET", "/api/contacts", role=None, token=mint()), CONTEXT
    )
    assert signed["statusCode"] == 200, signed


# -- the other triggers ---------------------------------------------------------------------------


def test_send_recovery_takes_the_eventbridge_schedule_event(deployed: Any) -> None:
    result = lambdas.send_recovery_handler(fixture("eventbridge-scheduled.json"), CONTEXT)
    assert result == {
        "markedUnknown": [],
        "bulkStarted": [],
        "bulkResumed": [],
        "bulkDeferredRequeued": {},
        "bulkSettled": [],
    }


def test_the_dlq_replay_function_serves_its_routes_and_direct_invocations(deployed: Any) -> None:
    listed = lambdas.dlq_replay_handler(request("GET", "/api/dlq", role="Operator"), CONTEXT)
    assert listed["statusCode"] == 200, listed
    direct = lambdas.dlq_replay_handler({"queue": "inbound-dlq", "max": 5}, CONTEXT)
    assert direct["replayed"] == 0 and direct["failed"] == 0
    viewer = lambdas.dlq_replay_handler(request("GET", "/api/dlq", role="Viewer"), CONTEXT)
    assert viewer["statusCode"] == 403


def test_the_inbound_function_takes_sns_and_its_webhook_routes(deployed: Any) -> None:
    event = json.loads((EUM_FIXTURES / "eum-inbound-text.sns-lambda.json").read_text())
    assert lambdas.inbound_whatsapp_handler(event, CONTEXT)["messages"] == 1
    # The SNS HTTPS endpoint on the same function: an unsigned body is refused, never stored.
    unsigned = request("POST", "/webhooks/sns", role=None, body={"Type": "Notification", "Message": "{}"})
    reply = lambdas.inbound_whatsapp_handler(unsigned, CONTEXT)
    assert 400 <= reply["statusCode"] < 500, reply
    wrong = lambdas.inbound_whatsapp_handler(request("GET", "/api/contacts", role="Viewer"), CONTEXT)
    assert wrong["statusCode"] == 404


def test_ai_generate_response_reports_only_the_poisoned_record(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = lambdas.container().ai
    assert service is not None
    seen: list[str] = []

    def handle(body: str) -> None:
        seen.append(body)
        if "poison" in body:
            raise RuntimeError("the store is down")

    monkeypatch.setattr(service, "handle_queued", handle)
    records = [
        {"messageId": "m-1", "body": json.dumps({"messageId": "msg_a"}), "eventSource": "aws:sqs"},
        {"messageId": "m-2", "body": json.dumps({"messageId": "poison"}), "eventSource": "aws:sqs"},
        {"messageId": "m-3", "body": json.dumps({"messageId": "msg_b"}), "eventSource": "aws:sqs"},
    ]
    result = lambdas.ai_generate_response_handler({"Records": records}, CONTEXT)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert len(seen) == 3  # the rest of the batch went on


def test_the_ai_function_serves_its_routes(deployed: Any) -> None:
    reply = lambdas.ai_query_kb_handler(request("GET", "/api/ai/suggestions", role="Viewer"), CONTEXT)
    assert reply["statusCode"] == 200, reply
    assert isinstance(answer(reply)["items"], list)


def test_each_channel_function_sends_its_channel_in_dry_run(deployed: Any) -> None:
    body = {"name": "Bea", "phone": "+447812345124", "email": "bea@example.com"}
    created = lambdas.contacts_create_handler(request("POST", "/api/contacts", body=body), CONTEXT)
    contact_id = answer(created)["contactId"]
    sms = lambdas.outbound_sms_handler(
        request(
            "POST",
            "/api/channels/sms/messages",
            body={"contactId": contact_id, "channel": "sms", "text": {"body": "Hello"}},
        ),
        CONTEXT,
    )
    # A new contact has no SMS opt-in: the gateway refuses it, as it would on any path.
    assert sms["statusCode"] == 422, sms
    assert "OPT_IN_REQUIRED" in [r["code"] for r in answer(sms)["error"]["details"]["reasons"]]


HTTP_ROUTES = [
    (spec.name, route)
    for spec in lambdas.FUNCTIONS.values()
    if "http" in spec.triggers
    for route in spec.routes
    if not route.startswith(("POST /webhooks/", "GET /webhooks/"))
]


@pytest.mark.parametrize(("name", "route"), HTTP_ROUTES, ids=[f"{n}:{r}" for n, r in HTTP_ROUTES])
def test_each_http_function_serves_each_of_its_routes(deployed: Any, name: str, route: str) -> None:
    """Through its own handler, every route reaches the app (whatever the app answers for this input),
    never the function's "not served here" 404."""
    method, _, template = route.partition(" ")
    path = re.sub(r"\{[^}]+\}", "x1", template)
    handler = getattr(lambdas, lambdas.FUNCTIONS[name].handler.rpartition(".")[2])
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    reply = handler(request(method, path, role="Admin", body=body), CONTEXT)
    error = (answer(reply) or {}).get("error", {}) if isinstance(answer(reply), dict) else {}
    assert "function" not in error.get("details", {}), (name, route, reply)
    assert reply["statusCode"] < 500, (name, route, reply)
