"""The HTTP API's Lambda authorizer (``auth-middleware``) and the trust of its answer behind it.

API Gateway calls the authorizer with the request's ``Authorization`` header; it verifies the token with
the same verifier as every other entry point and answers in the simple-response format of payload 2.0:
``{"isAuthorized": true, "context": {"userId", "email", "role", "issuer"}}``. API Gateway hands that
context to the route's function as ``requestContext.authorizer.lambda``, where
:func:`principal_from_authorizer` reads it, so the function does not verify the token a second time.

The authorizer answers *who* the caller is, never *what* the route allows: its answer is cached per
token, across routes, so the role check stays in each function (the permission table, fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.auth.errors import InvalidToken, NoRole
from gateway.identity.principal import Principal, Role

log = logging.getLogger("wecare.auth")

CONTEXT_KEYS = ("userId", "email", "role", "issuer")


class Verifier(Protocol):
    def verify(self, token: str) -> Principal: ...


def is_authorizer_event(event: Mapping[str, Any]) -> bool:
    """A Lambda authorizer request (HTTP API ``REQUEST`` type), not a request to serve."""
    return event.get("type") == "REQUEST" and "routeArn" in event


def _token(event: Mapping[str, Any]) -> str:
    sources = event.get("identitySource") or ()
    headers = event.get("headers") or {}
    raw = next((s for s in sources if isinstance(s, str) and s), None) or headers.get("authorization") or ""
    scheme, _, value = str(raw).partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authorize_event(identity: Verifier, event: Mapping[str, Any]) -> dict[str, Any]:
    """The authorizer's answer for one ``REQUEST`` event: a verified principal, or not authorized."""
    route = str(event.get("routeKey", ""))
    token = _token(event)
    if not token:
        log.warning(
            "authorizer: no bearer token", extra={"event": "auth.token", "reason": "missing", "route": route}
        )
        return {"isAuthorized": False}
    try:
        principal = identity.verify(token)
    except (InvalidToken, NoRole) as exc:
        log.warning(
            "authorizer: token refused",
            extra={"event": "auth.token", "outcome": "failure", "reason": exc.reason, "route": route},
        )
        return {"isAuthorized": False}
    log.info(
        "authorizer: authenticated",
        extra={
            "event": "auth.token",
            "outcome": "success",
            "userId": principal.user_id,
            "role": principal.role.name,
        },
    )
    return {
        "isAuthorized": True,
        "context": {
            "userId": principal.user_id,
            "email": principal.email,
            "role": principal.role.name,
            "issuer": principal.issuer,
        },
    }


class AuthorizerContextInvalid(ValueError):
    """The request carries an authorizer context that is not the one ``authorize_event`` writes."""


def principal_from_authorizer(scope: Mapping[str, Any]) -> Principal | None:
    """The principal API Gateway's authorizer put on this request, if it came through one.

    ``None`` when the request has no authorizer context (a public route, or a caller that is not API
    Gateway): the token is then verified as usual. A context that is present but incomplete raises, so
    it is refused rather than half trusted.
    """
    event = scope.get("aws.event")
    if not isinstance(event, Mapping):
        return None
    request_context = event.get("requestContext")
    authorizer = request_context.get("authorizer") if isinstance(request_context, Mapping) else None
    context = authorizer.get("lambda") if isinstance(authorizer, Mapping) else None
    if context is None:
        return None
    if not isinstance(context, Mapping) or not all(isinstance(context.get(k), str) for k in CONTEXT_KEYS):
        raise AuthorizerContextInvalid("the authorizer context lacks userId, email, role or issuer")
    try:
        role = Role.parse(str(context["role"]))
    except ValueError as exc:
        raise AuthorizerContextInvalid(str(exc)) from None
    if not context["userId"]:
        raise AuthorizerContextInvalid("the authorizer context has an empty userId")
    return Principal(
        user_id=str(context["userId"]), email=str(context["email"]), role=role, issuer=str(context["issuer"])
    )
