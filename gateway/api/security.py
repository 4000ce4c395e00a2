"""Authorization: the single place where every route's permission is enforced.

``authorize`` is installed as an app-wide dependency, so it runs before every route: it looks the
route template and method up in :mod:`gateway.auth.permissions` (no entry → refused: fail closed),
lets public routes through, and otherwise requires ``Authorization: Bearer <JWT>``, verified by
``container.identity`` (Cognito or the embedded identity, same verifier). The caller's
:class:`~gateway.identity.principal.Principal` is put on ``request.state.principal``.

Outcomes: no or bad token → 401; valid token but too low a role (or no role group) → 403 with an
``AuditLogs`` record and a log line. Every authentication attempt is logged with user, source and
reason — never the token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from gateway.api.deps import Identity, get_container, get_identity
from gateway.auth import permissions
from gateway.auth.authorizer import AuthorizerContextInvalid, principal_from_authorizer
from gateway.auth.errors import InvalidToken, NoRole
from gateway.errors import Forbidden, Unauthenticated, Unavailable
from gateway.identity.principal import Principal, Role

log = logging.getLogger("wecare.auth")


def api_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], APIRoute]]:
    """Every API route of ``app`` as (full path template, methods, route), prefixes included.

    FastAPI ≥ 0.16x keeps included routers lazily, so a route object's own ``path`` lacks the prefix
    it was included under; its route contexts carry the full template.
    """
    try:
        from fastapi.routing import iter_route_contexts  # noqa: PLC0415 - absent from older FastAPI
    except ImportError:  # pragma: no cover - older FastAPI: routes carry their full path
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, frozenset(route.methods or ()), route
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path is not None:
            yield context.path, frozenset(context.methods or ()), route


def path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join(
        (".+" if part.endswith(":path}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{body}$")


def route_template(request: Request) -> str | None:
    """The full path template of the route serving ``request`` (``/api/contacts/{contact_id}``)."""
    route = request.scope.get("route")
    if route is None:
        return None
    state = request.app.state
    templates: dict[int, list[tuple[str, re.Pattern[str]]]] | None = getattr(state, "route_templates", None)
    if templates is None or id(route) not in templates:
        templates = {}
        for path, _methods, api_route in api_routes(request.app):
            templates.setdefault(id(api_route), []).append((path, path_pattern(path)))
        state.route_templates = templates
    options = templates.get(id(route))
    if not options:
        own: str | None = getattr(route, "path", None)
        return own
    if len(options) == 1:
        return options[0][0]
    # The same router included under several prefixes: pick the one this request came through.
    actual = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and actual.startswith(root):
        actual = actual[len(root) :]
    for template, pattern in options:
        if pattern.match(actual):
            return template
    return None


def _source(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _audit_denial(
    request: Request, user_id: str, resource_type: str, resource: str, details: dict[str, Any]
) -> None:
    fields = {
        "event": "authz.denied",
        "userId": user_id,
        "resourceType": resource_type,
        "resource": resource,
        "source": _source(request),
        **details,
    }
    log.warning("access denied: %s for %s", resource, user_id, extra=fields)
    audit = get_container(request).audit
    if audit is None:
        log.error("no audit log is wired; the denial above is only in the log")
        return
    try:
        audit.record(
            user_id,
            "authz.denied",
            resource_type,
            resource,
            {**details, "source": _source(request), "path": request.url.path},
        )
    except Exception:  # the request is refused either way
        log.exception("could not store the audit record of a denial")


def authorize(request: Request) -> None:
    """The app-wide dependency (sync: token checks may read the store or refresh a key set).

    Normally the request gate (:mod:`gateway.api.gate`) has already authorized the request before its
    body was read; this repeats nothing then, and is the same check for an app mounted without the gate.
    """
    template = route_template(request)
    method = request.method.upper()
    if getattr(request.state, "authorized", None) == (method, template):
        return
    authorize_route(request, method, template)


def authorize_route(request: Request, method: str, template: str | None) -> None:
    """Token, then role, for ``method template``; raises 401/403/503 domain errors (403s audited)."""
    rule = permissions.rule_for(method, template)
    if rule == permissions.PUBLIC:
        return
    resource = f"{method} {template}"
    principal = _authenticate(request, resource)
    if rule is None:
        _audit_denial(
            request,
            principal.user_id,
            "route",
            resource,
            {"required": None, "role": principal.role.name, "reason": "no_permission_rule"},
        )
        raise Forbidden(
            "this endpoint has no permission rule, so it is refused",
            code="FORBIDDEN",
            details={"reason": "no_permission_rule"},
        )
    assert isinstance(rule, Role)
    if principal.role < rule:
        _audit_denial(
            request,
            principal.user_id,
            "route",
            resource,
            {"required": rule.name, "role": principal.role.name, "reason": "role_too_low"},
        )
        raise Forbidden(
            f"{rule.name} role required", details={"required": rule.name, "role": principal.role.name}
        )
    request.state.authorized = (method, template)


def _authenticate(request: Request, resource: str) -> Principal:
    source = _source(request)
    trusted = _from_authorizer(request)
    if trusted is not None:
        request.state.principal = trusted
        return trusted
    try:
        identity = get_identity(get_container(request))
    except Unavailable:
        log.error("no identity is wired into the container; refusing every protected request")
        raise
    token = _bearer(request)
    if token is None:
        log.warning(
            "authentication failed",
            extra={
                "event": "auth.token",
                "outcome": "failure",
                "reason": "missing",
                "source": source,
                "path": request.url.path,
            },
        )
        raise Unauthenticated(
            "sign in first: send 'Authorization: Bearer <token>'", details={"reason": "missing"}
        )
    try:
        principal = identity.verify(token)
    except InvalidToken as exc:
        log.warning(
            "authentication failed",
            extra={
                "event": "auth.token",
                "outcome": "failure",
                "reason": exc.reason,
                "source": source,
                "path": request.url.path,
            },
        )
        shown = exc.reason if exc.reason in ("expired", "revoked") else "invalid"
        messages = {
            "expired": "the token has expired; sign in again",
            "revoked": "this session has ended (the account's password changed); sign in again",
            "invalid": "the token is not valid",
        }
        raise Unauthenticated(messages[shown], details={"reason": shown}) from None
    except NoRole as exc:
        subject = _verified_subject(identity, token)
        _audit_denial(
            request, subject, "route", resource, {"required": "any role", "role": None, "reason": exc.reason}
        )
        raise Forbidden(
            "your account has no role (Viewer, Operator or Admin)", details={"reason": exc.reason}
        ) from None
    log.info(
        "authenticated",
        extra={
            "event": "auth.token",
            "outcome": "success",
            "userId": principal.user_id,
            "user": principal.email,
            "role": principal.role.name,
            "source": source,
        },
    )
    request.state.principal = principal
    return principal


def _from_authorizer(request: Request) -> Principal | None:
    """In AWS, the principal the HTTP API's authorizer verified (``auth-middleware``), not verified again.

    Only the ``lambda`` runtime reads it: there the functions are invoked by API Gateway alone (their
    resource policies), which writes ``requestContext.authorizer`` itself; a client cannot set it. A
    context that is present but malformed is refused (401), never half trusted.
    """
    if getattr(get_container(request), "runtime", None) != "lambda":
        return None
    try:
        principal = principal_from_authorizer(request.scope)
    except AuthorizerContextInvalid as exc:
        log.error("refused a request with a malformed authorizer context: %s", exc)
        raise Unauthenticated(
            "the request's authorizer context is not valid", details={"reason": "invalid"}
        ) from None
    return principal


def _verified_subject(identity: Identity, token: str) -> str:
    # Only reached after the signature and claims verified (NoRole is raised last), so ``sub`` is genuine.
    try:
        claims = identity.verifier.verify(token)
    except Exception:
        return "unknown"
    return str(claims.get("sub", "unknown"))


def require_action(request: Request, action: str) -> Principal:
    """Finer permission inside a route (e.g. ``contacts.include_deleted``): 403 + audit when too low."""
    principal: Any = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    needed = permissions.action_role(action)
    if principal.role < needed:
        _audit_denial(
            request,
            principal.user_id,
            "action",
            action,
            {"required": needed.name, "role": principal.role.name, "reason": "role_too_low"},
        )
        raise Forbidden(
            f"{needed.name} role required for {action}",
            details={"required": needed.name, "role": principal.role.name, "action": action},
        )
    return principal
