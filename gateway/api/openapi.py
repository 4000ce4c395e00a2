"""The OpenAPI document as the API really answers, for client generators and schema-driven fuzzers.

FastAPI documents only what it parses and returns itself: a route that reads its body by hand
(``POST /api/messages``, the webhooks) shows no request body, no route shows the 400/401/403/404/409/
413/422/429/503 it gives, and the one 422 it shows is FastAPI's ``HTTPValidationError``, a body this app
never sends (every error is the envelope of :mod:`gateway.api.errors`). :func:`install_openapi`
replaces ``app.openapi`` with a cached generator that runs FastAPI's ``get_openapi`` and then
corrects that.

The error statuses of an operation come from facts, so a new route is described without a line here:

* protected (:func:`gateway.auth.permissions.rule_for` is not ``PUBLIC``) → 401, 403, and 503 (the
  authorization layer answers ``UNAVAILABLE`` when no identity is wired);
* a body FastAPI parses → 400 (bytes that are not JSON text at all, e.g. not UTF-8), 413 (the size
  limit) and 422; a body read by hand → 413, and 422 when the route validates it;
* a query parameter FastAPI can refuse (constrained or required), or a ``cursor`` (every service
  refuses a cursor it did not issue with ``INVALID_CURSOR``) → 422;
* a path parameter → 404 (the resource it names may not exist).

:data:`ROUTES` adds what only a route's own code knows (409 on create and change, 429 on sign-in, the
policy's 422, the webhooks' signature 403...) and the bodies and headers a route reads by hand. A status
documented must be one the route can really answer: a fuzzer flags any it answers that is missing, and
a client generated from the document would carry dead code for one it never answers.

Success answers: most routes return ``dict[str, Any]``, which FastAPI can only call "an object". The
model each operation's 2xx JSON answer has is named in
:data:`gateway.api.openapi_responses.RESPONSES` (documentation-only models: no route returns them);
its schema and example go into every 2xx of the operation. Text answers (metrics, the CSV report, the
Meta handshake) are described in ROUTES.

Examples: every request body shows one (:data:`EXAMPLES`, one per request model, copied onto each body
that refers to the model; the hand-read bodies carry their own), and every success answer shows its
model's. ``tests/api/test_openapi_contract.py`` walks the app's routes and fails for an operation without
a typed body and answer, an example, or a 4xx its facts give it: describing a new route is one entry
in EXAMPLES, RESPONSES or ROUTES.

405 is on no operation: an operation (one method on one path) never answers it; another method on the
same path does, and that method is by definition not in the document.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.api.openapi_responses import RESPONSES
from gateway.api.routes.messages import MessageIn
from gateway.auth.permissions import PUBLIC, rule_for
from gateway.policy.schema import PolicyInput

Schema = dict[str, Any]

ERROR_ENVELOPE: Final = "ErrorEnvelope"
ERROR_REF: Final = f"#/components/schemas/{ERROR_ENVELOPE}"
BEARER: Final = "bearerAuth"
METRICS_TOKEN: Final = "metricsToken"
_MARK: Final = "_wecare_openapi"
_METHODS: Final = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
# FastAPI's own 422 models: they describe a body this app never sends (errors.py answers the envelope).
_FASTAPI_ERROR_MODELS: Final = ("HTTPValidationError", "ValidationError")

ERROR_ENVELOPE_SCHEMA: Final[Schema] = {
    "title": ERROR_ENVELOPE,
    "description": "Every error answer: a stable machine-readable code, a message for a person, and details.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, e.g. INVALID_INPUT, POLICY_DENIED"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

# What each status means wherever the facts above give it; ROUTES may say more for one route.
DEFAULT_REASONS: Final[Mapping[int, str]] = {
    400: "MALFORMED_BODY: the body could not be decoded at all (e.g. it is not UTF-8)",
    401: "UNAUTHENTICATED: no bearer token, or it is invalid or expired (details.reason)",
    403: "FORBIDDEN: the caller's role is below the route's or the action's (details.required)",
    404: "NOT_FOUND: nothing has this id",
    413: "PAYLOAD_TOO_LARGE: the body is larger than the server accepts",
    422: "INVALID_INPUT (or INVALID_CURSOR): the request is not valid; details names the fields",
    503: "UNAVAILABLE: a service this endpoint needs is not configured on this server",
}

_HEADERS: Final[Mapping[int, Schema]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
    503: {
        "Retry-After": {
            "description": "seconds to wait, when known",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


@dataclass(frozen=True)
class Route:
    """What only one route's code knows: extra error statuses, and what it reads or answers by hand."""

    errors: Mapping[int, str] = field(default_factory=dict)
    # The request body it reads itself (FastAPI cannot see it), as an OpenAPI requestBody.
    body: Callable[[], Schema] | None = None
    # Whether that hand-read body is validated (→ 422) or only checked by signature (→ no 422).
    validates_body: bool = True
    parameters: tuple[Schema, ...] = ()
    # Success answers that replace FastAPI's (statuses, descriptions, headers, text content); their JSON
    # content is the operation's RESPONSES model (gateway/api/openapi_responses.py).
    success: Mapping[str, Schema] = field(default_factory=dict)
    # Replaces the protected/public security requirement derived from the permission table.
    security: tuple[Mapping[str, list[str]], ...] | None = None


def _message_body() -> Schema:
    return {
        "required": True,
        "description": "Exactly one of text, media, template or email says what to send.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/MessageIn"}},
            "multipart/form-data": {
                "example": {"message": json.dumps(EXAMPLES["MessageIn"])},
                "schema": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "the message JSON, as in an application/json request",
                        },
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the media file to send (with media, instead of fileId)",
                        },
                    },
                },
                "encoding": {"message": {"contentType": "application/json"}},
            },
        },
    }


def _policy_input_body() -> Schema:
    return {
        "required": True,
        "description": "a complete policy input document; nothing is stored or sent",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyInput"}}},
    }


_SNS_EXAMPLE: Final[Schema] = {
    "Type": "Notification",
    "MessageId": "2f1a6c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
    "TopicArn": "arn:aws:sns:eu-west-2:123456789012:wecare-inbound",
    "Message": '{"whatsAppWebhookEntry": "{\\"id\\": \\"102290129340398\\", \\"changes\\": []}"}',
    "Timestamp": "2025-11-25T10:40:00.000Z",
    "SignatureVersion": "2",
    "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2eg=",
    "SigningCertURL": "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-0123456789.pem",
}

# What every SNS message carries (a subscription confirmation adds Token and SubscribeURL; a notification
# has Message, the EUM event).
_SNS_MESSAGE: Final[Schema] = {
    "type": "object",
    "required": [
        "Type",
        "MessageId",
        "TopicArn",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ],
    "properties": {
        "Type": {
            "type": "string",
            "description": "Notification, SubscriptionConfirmation or UnsubscribeConfirmation",
        },
        "MessageId": {"type": "string"},
        "TopicArn": {"type": "string"},
        "Message": {"type": "string", "description": "a notification's payload: the EUM event JSON"},
        "Timestamp": {"type": "string"},
        "SignatureVersion": {"type": "string", "enum": ["1", "2"]},
        "Signature": {"type": "string"},
        "SigningCertURL": {"type": "string"},
        "Token": {"type": "string"},
        "SubscribeURL": {"type": "string"},
    },
    "additionalProperties": True,
}

_META_EXAMPLE: Final[Schema] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "447700900123",
                            "phone_number_id": "106540352242922",
                        },
                        "contacts": [{"profile": {"name": "Amelia Hughes"}, "wa_id": "447812345678"}],
                        "messages": [
                            {
                                "from": "447812345678",
                                "id": "wamid.HBgMNDQ3ODEyMzQ1Njc4FQIAEhgUM0EwRTVGNzA2QkVBMUM5QUIyQzYA",
                                "timestamp": "1764067140",
                                "type": "text",
                                "text": {"body": "Can I move my appointment to Friday afternoon?"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}

_REPORT_CSV: Final = (
    "contactId,address,status,reasons,rule,providerErrorCode,providerMessageId,sentAt,messageId\r\n"
    "ct_0123456789abcdef0123456789abcdef,+447812345678,sent,,,,dryrun-57c47a14,1764067201.0,"
    "msg_bulk_1c44ca17963c31bae750af00bbca183c\r\n"
)
_METRICS_TEXT: Final = (
    "# HELP wecare_messages_total Outbound messages by channel and status\n"
    "# TYPE wecare_messages_total counter\n"
    'wecare_messages_total{channel="sms",status="sent"} 12\n'
)


def _sns_body() -> Schema:
    return {
        "required": True,
        "description": "An SNS HTTPS delivery: the SNS message JSON, signed inside it (Signature, "
        "SigningCertURL); SNS sends it as text/plain.",
        "content": {
            "text/plain": {"schema": {"type": "string"}, "example": json.dumps(_SNS_EXAMPLE)},
            "application/json": {"schema": _SNS_MESSAGE, "example": _SNS_EXAMPLE},
        },
    }


def _meta_body() -> Schema:
    return {
        "required": True,
        "description": "Meta's webhook body, verified byte for byte against X-Hub-Signature-256.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "object": {"type": "string"},
                        "entry": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "example": _META_EXAMPLE,
            }
        },
    }


_SIGNATURE_INVALID: Final = "SIGNATURE_INVALID: the request is not signed by the sender configured here"
_INBOUND_UNAVAILABLE: Final = "UNAVAILABLE: the inbound pipeline is not configured in this deployment"

# The one send, on its generic path and on each channel's own path (AWS routes those to their functions).
_SEND_ROUTE: Final = Route(
    errors={
        400: "MALFORMED_BODY: the multipart body could not be parsed",
        404: "CONTACT_NOT_FOUND: no contact has this contactId (the refusal is recorded)",
        422: "INVALID_INPUT: the message is not valid; POLICY_DENIED: the policy refused it "
        "(details.reasons); CONTENT_INVALID: the channel refused the content; "
        "IDEMPOTENCY_KEY_REUSED; FILE_NOT_FOUND",
        429: "RATE_LIMITED: the channel's rate limit stayed saturated; see Retry-After",
        502: "SEND_FAILED / SEND_OUTCOME_UNKNOWN: the provider failed (the message is stored)",
        503: "UNAVAILABLE / CHANNEL_UNAVAILABLE: sending, or this channel, is not configured here",
    },
    body=_message_body,
    parameters=(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "makes a retry safe: a repeat answers with the first result and never sends twice"
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
    ),
    success={
        "201": {
            "description": "Sent (or a replay of a sent message)",
            "headers": {
                "Idempotent-Replayed": {
                    "description": "true on a replay",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        },
        "202": {
            "description": "A replay whose first attempt is still sending",
            "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
        },
    },
)


ROUTES: Final[Mapping[tuple[str, str], Route]] = {
    ("POST", "/api/auth/login"): Route(
        errors={
            401: "INVALID_CREDENTIALS: wrong e-mail or password",
            404: "LOCAL_LOGIN_UNAVAILABLE: password sign-in is not offered here (Cognito)",
            429: "TOO_MANY_REQUESTS: too many failed attempts for the account or client; see Retry-After",
        }
    ),
    ("POST", "/api/users"): Route(
        errors={
            409: "CONFLICT: a user has this e-mail; MANAGED_BY_COGNITO: accounts live in the user pool",
        }
    ),
    ("PATCH", "/api/users/{user_id}"): Route(
        errors={
            409: "CONFLICT: the last Admin cannot be demoted or disabled; MANAGED_BY_COGNITO",
        }
    ),
    ("POST", "/api/users/{user_id}/password"): Route(
        errors={409: "MANAGED_BY_COGNITO: accounts live in the user pool"},
        success={
            "200": {"description": "The one-time password, shown once; the account's sessions have ended"}
        },
    ),
    ("POST", "/api/me/password"): Route(
        errors={
            409: "MANAGED_BY_COGNITO: passwords live in the user pool",
            422: "WRONG_PASSWORD: the current password is not right; INVALID_INPUT: the new one is too weak",
        },
        success={
            "200": {"description": "Changed: every session of the account ended; this is a fresh token"}
        },
    ),
    ("POST", "/api/contacts"): Route(
        errors={
            409: "DUPLICATE_CONTACT: another contact has this phone or e-mail; CONTACT_BUSY: try again",
        }
    ),
    ("PATCH", "/api/contacts/{contact_id}"): Route(
        errors={
            409: "DUPLICATE_CONTACT: another contact has this phone or e-mail; CONTACT_BUSY: try again",
        }
    ),
    ("DELETE", "/api/contacts/{contact_id}"): Route(
        errors={
            409: "CONTACT_BUSY: the contact is being changed by someone else; try again",
        }
    ),
    # It takes `document` as any JSON object, then validates it as a PolicyInput itself.
    ("POST", "/api/policies/evaluate"): Route(body=_policy_input_body),
    ("POST", "/api/messages"): _SEND_ROUTE,
    ("POST", "/api/channels/{channel}/messages"): _SEND_ROUTE,
    ("POST", "/api/bulk-jobs"): Route(
        errors={
            409: "CONFIRMATION_REQUIRED: more recipients than BULK_CONFIRMATION_THRESHOLD and no valid "
            "confirmationToken (details.confirmationToken, details.preflight)",
            422: "INVALID_INPUT: the job is not valid; IDEMPOTENCY_KEY_REUSED; INVALID_FILTER; "
            "TIER_LIMIT (details: needed, remaining, limit); NO_RECIPIENTS; TOO_MANY_RECIPIENTS; "
            "INVALID_SEND_AT",
        },
        success={
            "201": {
                "description": "The job is created (or an Idempotency-Key repeat answered it)",
                "headers": {
                    "Idempotent-Replayed": {
                        "description": "true on a repeat",
                        "schema": {"type": "string", "enum": ["true"]},
                    }
                },
            }
        },
    ),
    ("POST", "/api/bulk-jobs/preflight"): Route(
        errors={422: "INVALID_INPUT: the job is not valid; INVALID_FILTER; TOO_MANY_RECIPIENTS"}
    ),
    ("GET", "/api/bulk-jobs/{job_id}/report"): Route(
        success={
            "200": {
                "description": "The report: a CSV row per recipient (header contactId,address,status,"
                "reasons,rule,providerErrorCode,providerMessageId,sentAt,messageId), or the JSON summary "
                "(counts by status and reason, duration, throughput, bundle versions and digests)",
                "content": {
                    "text/csv": {"schema": {"type": "string"}, "example": _REPORT_CSV},
                    "application/json": {},  # its schema: BulkReport (gateway/api/openapi_responses.py)
                },
            }
        }
    ),
    **{
        ("POST", f"/api/bulk-jobs/{{job_id}}/{action}"): Route(
            errors={409: "CONFLICT: the job cannot be moved from its current state (details.status)"}
        )
        for action in ("pause", "resume", "cancel")
    },
    ("POST", "/api/ai/suggestions"): Route(
        errors={
            404: "MESSAGE_NOT_FOUND: no such inbound message, or the contact has none to answer",
            422: "INVALID_INPUT: give messageId or contactId; NOTHING_TO_ANSWER: the message has no text",
        }
    ),
    ("POST", "/api/ai/suggestions/{interaction_id}/approve"): Route(
        errors={
            409: "INVALID_TRANSITION: the suggestion was already approved or rejected (details.status)",
            422: "INVALID_INPUT: the reply is empty; TOO_LONG: more than 4096 characters",
            429: "RATE_LIMITED: the WhatsApp rate limit stayed saturated; see Retry-After",
            503: "UNAVAILABLE / CHANNEL_UNAVAILABLE: sending is not configured here",
        }
    ),
    ("POST", "/api/ai/suggestions/{interaction_id}/reject"): Route(
        errors={409: "INVALID_TRANSITION: the suggestion was already approved or rejected (details.status)"}
    ),
    ("PUT", "/api/config/{key}"): Route(
        errors={422: "UNKNOWN_CONFIG_KEY (details.keys); INVALID_CONFIG_VALUE: the value fails its check"}
    ),
    # The webhooks are public: their callers prove themselves by a signature, so a bad one is a 403, and
    # their bodies are read raw (verified, never validated into a 422).
    ("POST", "/webhooks/sns"): Route(
        errors={
            400: "MALFORMED_PAYLOAD: the body is not an SNS message",
            403: _SIGNATURE_INVALID,
            503: _INBOUND_UNAVAILABLE,
        },
        body=_sns_body,
        validates_body=False,
    ),
    ("GET", "/webhooks/meta"): Route(
        errors={403: _SIGNATURE_INVALID, 503: _INBOUND_UNAVAILABLE},
        success={
            "200": {
                "description": "The subscription is verified: hub.challenge, echoed as it came",
                "content": {"text/plain": {"schema": {"type": "string"}, "example": "1158201444"}},
            }
        },
    ),
    ("POST", "/webhooks/meta"): Route(
        errors={403: _SIGNATURE_INVALID, 503: _INBOUND_UNAVAILABLE},
        body=_meta_body,
        validates_body=False,
        parameters=(
            {
                "name": "X-Hub-Signature-256",
                "in": "header",
                "required": True,
                "description": "sha256=<hex HMAC-SHA256 of the raw body with the app secret>",
                "schema": {"type": "string"},
            },
        ),
    ),
    ("GET", "/metrics"): Route(
        errors={
            401: "UNAUTHENTICATED: a METRICS_TOKEN is configured and the request does not carry it",
            403: "FORBIDDEN: without a METRICS_TOKEN, metrics are served to loopback clients only",
            404: "NOT_FOUND: metrics are off here (no METRICS_TOKEN outside a local embedded server)",
        },
        success={
            "200": {
                "description": "The metrics, in the Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}, "example": _METRICS_TEXT}},
            }
        },
        # The token is required only where one is configured (the {} alternative: none needed).
        security=({}, {METRICS_TOKEN: []}),
    ),
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi`` (and so ``/openapi.json``) the corrected document. Idempotent."""
    if getattr(app.openapi, _MARK, False):
        return
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        # Keyed on the route objects: a route added later (tests do) regenerates the document.
        key = tuple(map(id, app.routes))
        if cache.get("key") != key:
            cache["schema"] = describe(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                    webhooks=app.webhooks.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                    separate_input_output_schemas=app.separate_input_output_schemas,
                    external_docs=app.openapi_external_docs,
                )
            )
            cache["key"] = key
        app.openapi_schema = cache["schema"]
        schema: dict[str, Any] = cache["schema"]
        return schema

    setattr(openapi, _MARK, True)
    app.openapi_schema = None  # anything generated before this is FastAPI's uncorrected document
    # FastAPI's documented way to customise the document: its /openapi.json route calls app.openapi().
    app.openapi = openapi  # type: ignore[method-assign]


def operations(schema: Mapping[str, Any]) -> Iterator[tuple[str, str, Schema]]:
    """(METHOD, path template, operation) for every operation of an OpenAPI document."""
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def is_protected(method: str, path: str) -> bool:
    # No rule at all is refused too (401 without a token, 403 with one): fail closed, documented so.
    return rule_for(method, path) != PUBLIC


def describe(schema: Schema) -> Schema:
    """The corrected document: error envelope, error statuses from facts and ROUTES, hand-read bodies,
    typed success answers (RESPONSES) and an example of every body and answer."""
    schema = copy.deepcopy(schema)
    components = schema.setdefault("components", {})
    _add_components(components.setdefault("schemas", {}))
    schemes = components.setdefault("securitySchemes", {})
    schemes[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an access token from POST /api/auth/login (embedded) or Cognito",
    }
    schemes[METRICS_TOKEN] = {
        "type": "http",
        "scheme": "bearer",
        "description": "the METRICS_TOKEN secret, for Prometheus scrapers",
    }
    for method, path, operation in operations(schema):
        _describe_operation(method, path, operation)
    _prune(schema)
    return schema


def _add_components(schemas: Schema) -> None:
    """The error envelope, the hand-read models, the answers' models, each with its example."""
    schemas[ERROR_ENVELOPE] = copy.deepcopy(ERROR_ENVELOPE_SCHEMA)
    for name, model_schema in _models().items():
        _add_component(schemas, name, model_schema)
    for name, answer_schema in _answer_models().items():
        if name in schemas:  # two models under one name: one of them would be silently misdescribed
            raise ValueError(f"the answer model {name} (openapi_responses.py) clashes with a component")
        schemas[name] = answer_schema
    for component in schemas.values():
        _bounds_into_branches(component)
    for name, example in EXAMPLES.items():
        if name in schemas:
            schemas[name].setdefault("examples", [copy.deepcopy(example)])
    for model in set(RESPONSES.values()):
        schemas[model.__name__]["examples"] = [copy.deepcopy(model.example)]


def _describe_operation(method: str, path: str, operation: Schema) -> None:
    route = ROUTES.get((method, path), Route())
    errors = _fact_errors(method, path, operation)  # from what FastAPI itself saw
    if route.body is not None:
        operation["requestBody"] = route.body()
        errors[413] = DEFAULT_REASONS[413]
        if route.validates_body:
            errors[422] = DEFAULT_REASONS[422]
    for media in operation.get("requestBody", {}).get("content", {}).values():
        _example_into(media)
    if route.parameters:
        named = {(p["in"], p["name"].lower()) for p in route.parameters}
        kept = [p for p in operation.get("parameters", []) if (p["in"], p["name"].lower()) not in named]
        operation["parameters"] = kept + [copy.deepcopy(p) for p in route.parameters]
    errors.update(route.errors)
    responses = _success(method, path, operation.get("responses", {}), route)
    for status, reason in errors.items():
        responses[str(status)] = _error_response(status, reason)
    operation["responses"] = dict(sorted(responses.items()))
    if route.security is not None:
        operation["security"] = [dict(requirement) for requirement in route.security]
    elif is_protected(method, path):
        operation["security"] = [{BEARER: []}]


def _success(method: str, path: str, given: Mapping[str, Schema], route: Route) -> dict[str, Schema]:
    """FastAPI's answers below 400 (its 422 is replaced by the errors), or the route's own, with the
    schema and example of the operation's RESPONSES model as their JSON content."""
    responses = {code: a for code, a in given.items() if not (code.isdigit() and int(code) >= 400)}
    if route.success:
        responses = {code: a for code, a in responses.items() if not code.startswith("2")}
        responses.update(copy.deepcopy(dict(route.success)))
    model = RESPONSES.get((method, path))
    if model is not None:
        for code, answer in responses.items():
            if code.startswith("2") and code != "204":
                answer.setdefault("content", {})["application/json"] = {
                    "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                    "example": copy.deepcopy(model.example),
                }
    return responses


def _example_into(media: Schema) -> None:
    """A request body's example: the one of the model it refers to, unless it has its own."""
    if "example" in media or "examples" in media:
        return
    body = media.get("schema", {})
    refs = [body.get("$ref")] + [branch.get("$ref") for branch in body.get("anyOf", [])]
    for ref in refs:
        name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        if name in EXAMPLES:
            media["example"] = copy.deepcopy(EXAMPLES[name])
            return


def _fact_errors(method: str, path: str, operation: Schema) -> dict[int, str]:
    errors: dict[int, str] = {}
    if is_protected(method, path):
        errors.update({s: DEFAULT_REASONS[s] for s in (401, 403, 503)})
    if "requestBody" in operation:  # parsed and validated by FastAPI
        errors.update({s: DEFAULT_REASONS[s] for s in (400, 413, 422)})
    parameters = operation.get("parameters", [])
    # The request gate refuses a query parameter an /api/ route does not declare (gateway/api/gate.py).
    if path.startswith("/api/") or any(_refusable(p) for p in parameters):
        errors[422] = DEFAULT_REASONS[422]
    if any(p.get("in") == "path" for p in parameters):
        errors[404] = DEFAULT_REASONS[404]
    return errors


# Schema keywords that constrain nothing: a parameter with only these (per branch) takes any string.
_ANNOTATIONS: Final = frozenset({"title", "description", "default", "examples", "example", "deprecated"})


def _refusable(parameter: Schema) -> bool:
    """Whether a request can be refused (422) for this parameter's value."""
    if parameter.get("in") == "path":
        # Always present when the route matched; refusable only by type or constraint.
        return not _any_string(parameter.get("schema", {}))
    if parameter.get("name") == "cursor":
        return True  # every service refuses a cursor it did not issue (INVALID_CURSOR)
    return bool(parameter.get("required")) or not _any_string(parameter.get("schema", {}))


def _any_string(schema: Schema) -> bool:
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        return (
            all(b == {"type": "null"} or _any_string(b) for b in branches)
            and set(schema) - {"anyOf"} <= _ANNOTATIONS
        )
    return schema.get("type") == "string" and set(schema) - {"type"} <= _ANNOTATIONS


def _error_response(status: int, reason: str) -> Schema:
    answer: Schema = {"description": reason, "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}
    if status in _HEADERS:
        answer["headers"] = copy.deepcopy(dict(_HEADERS[status]))
    return answer


# One realistic value per request model, shown to people (in the model's component and on every body that
# refers to it) and sent by a fuzzer's example phase, so the happy paths are exercised too (random strings
# are never a valid phone number or a complete policy input). tests/api/test_openapi_contract.py requires
# one for each model a route takes and validates each against its model, so none can go stale.
EXAMPLES: Final[Mapping[str, Schema]] = {
    "ContactFields": {
        "name": "Amelia Hughes",
        "phone": "+447812345678",
        "email": "amelia@example.com",
        "optInWhatsApp": True,
        "optInSms": True,
        "optInEmail": False,
        "consentEvidence": "paper form signed in store, 2025-09-18",
    },
    "CreateUser": {"email": "new.operator@example.com", "role": "Operator"},
    "ChangeUser": {"role": "Viewer"},
    "LoginBody": {"email": "operator@example.com", "password": "correct horse battery staple"},
    "PasswordChange": {
        "currentPassword": "the password I sign in with now",
        "newPassword": "a longer passphrase nobody else knows",
    },
    "ReplayRequest": {"queue": "outbound-dlq", "max": 10},
    "BulkJobIn": {
        "channel": "sms",
        "name": "October reminders",
        "text": {"body": "Your appointment is tomorrow at 10:00"},
        "recipients": {"contactIds": ["ct_0123456789abcdef0123456789abcdef"]},
    },
    "SuggestRequest": {"messageId": "in_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"},
    "ApproveRequest": {"text": "Of course: Friday at 2 pm is free. Shall I book it?"},
    "RejectRequest": {"reason": "the customer has already called"},
    "FeedbackRequest": {"rating": "good", "comment": "right answer, friendly tone"},
    "ConfigValue": {"value": True},
    "MessageIn": {
        "contactId": "ct_0123456789abcdef0123456789abcdef",
        "channel": "sms",
        "text": {"body": "Your order has shipped"},
    },
    "PolicyInput": {
        "now": 1758186994,
        "request": {"channel": "sms", "kind": "text", "origin": "api", "bodyLength": 22},
        "contact": {
            "found": True,
            "deleted": False,
            "optInWhatsApp": False,
            "optInSms": True,
            "optInEmail": False,
            "hasPhone": True,
            "hasEmail": False,
            "lastInboundMessageAt": 0,
        },
        "environment": {"name": "local", "sendMode": "DRY_RUN"},
        "tier": {"limit": 1000, "used24h": 0, "opensConversation": False},
    },
}

# The models that routes validate by hand (FastAPI sees no model for them), with their parts.
_HAND_VALIDATED: Final[tuple[type[BaseModel], ...]] = (MessageIn, PolicyInput)


def _models() -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    for model in _HAND_VALIDATED:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(model_schema.pop("$defs", {}))
        out[model.__name__] = model_schema
    return out


_BOUNDS: Final[Mapping[str, str]] = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
}


def _answer_models() -> dict[str, Schema]:
    """The components of the success answers' models, with every model they refer to."""
    models = sorted(set(RESPONSES.values()), key=lambda model: model.__name__)
    _refs_of, top = models_json_schema(
        [(model, "serialization") for model in models], ref_template="#/components/schemas/{model}"
    )
    answers: dict[str, Schema] = top.get("$defs", {})
    return answers


def _bounds_into_branches(schema: Any) -> None:
    """Pydantic writes ``Field(ge=0)`` on an ``int | float`` as a bare ``"ge": 0`` beside the ``anyOf``,
    a keyword JSON Schema ignores; put it on each numeric branch as ``minimum`` (etc.), so clients and
    fuzzers see the bound the model enforces."""
    if isinstance(schema, list):
        for item in schema:
            _bounds_into_branches(item)
        return
    if not isinstance(schema, dict):
        return
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        for key, keyword in _BOUNDS.items():
            if key in schema:
                bound = schema.pop(key)
                for branch in branches:
                    if isinstance(branch, dict) and branch.get("type") in ("integer", "number"):
                        branch.setdefault(keyword, bound)
    for value in schema.values():
        _bounds_into_branches(value)


def _add_component(schemas: Schema, name: str, value: Schema) -> None:
    # A component FastAPI already wrote under this name is the same model (once a route takes it as its
    # body): FastAPI's rendering wins, so the document never holds two versions of one model.
    schemas.setdefault(name, value)


def _prune(schema: Schema) -> None:
    """Drop FastAPI's error models once nothing refers to them any more."""
    schemas = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_ERROR_MODELS:  # HTTPValidationError first: it is what refers to ValidationError
        if name in schemas:
            rest = {k: v for k, v in schema.items() if k != "components"}
            others = [v for k, v in schemas.items() if k != name]
            if f"#/components/schemas/{name}" not in set(_refs(rest)) | set(_refs(others)):
                del schemas[name]


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
