"""The request gate: a pure ASGI middleware in front of every ``/api/`` and ``/webhooks/`` request.

FastAPI reads and parses a body *before* dependencies run, so authorization as a dependency alone
let an anonymous caller make the server buffer and parse 50 MB, and see 422 instead of 401. The gate
runs first, in this order, before a single body byte is read:

1. **resolve** the path against the API's own routes: an unknown ``/api/*`` path is a 404 JSON error and a
   known path with another method a 405 with the right ``Allow`` header (the UI's static mount never
   answers under these prefixes);
2. **authorize** (:func:`gateway.api.security.authorize_route`): token, then role, so an anonymous
   caller only ever sees 401 (or 413) and a Viewer 403, whatever the body;
3. **check the query**: a parameter an ``/api/`` route does not declare is a 422 naming it and the ones
   the route takes (a misspelt filter must not answer unfiltered);
4. **bound the body**: ``Content-Length`` over the route's limit is a 413 at once; a body without one
   (chunked) is counted while it streams and refused with 413 the moment it passes the limit.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.errors import domain_response, error_body
from gateway.api.security import api_routes, authorize_route, path_pattern
from gateway.errors import DomainError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GATED_PREFIXES = ("/api/", "/webhooks/")
DEFAULT_BODY_LIMIT = 1024 * 1024  # every JSON body we accept is far smaller
# Per (method, template) limits above the default: a single send may carry a media file as multipart.
BODY_LIMITS: dict[tuple[str, str], int] = {
    ("POST", "/api/messages"): 100 * 1024 * 1024 + 64 * 1024,  # WhatsApp's largest media + the JSON part
    # A job names up to 100,000 contact ids (at most 100 characters each) besides its content.
    ("POST", "/api/bulk-jobs"): 12 * 1024 * 1024,
    ("POST", "/api/bulk-jobs/preflight"): 12 * 1024 * 1024,
}


@dataclass(frozen=True)
class _Route:
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    # The query parameters each method of this route declares: any other one is refused (422), so a
    # misspelt filter (?from= for ?since=) is an error instead of a silently unfiltered answer.
    query: Mapping[str, frozenset[str]]


def _query_names(dependant: Dependant) -> set[str]:
    names = {str(field.alias) for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _limit_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


class RequestGate:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self._fastapi = fastapi_app
        self._routes: list[_Route] | None = None

    def _table(self) -> list[_Route]:
        if self._routes is None:  # built on first use: routers are all included by then
            by_template: dict[str, set[str]] = {}
            query: dict[str, dict[str, frozenset[str]]] = {}
            for template, methods, route in api_routes(self._fastapi):
                if template.startswith(GATED_PREFIXES):
                    by_template.setdefault(template, set()).update(methods)
                    names = frozenset(_query_names(route.dependant))
                    query.setdefault(template, {}).update(dict.fromkeys(methods, names))
            self._routes = [
                _Route(t, path_pattern(t), frozenset(m), query[t]) for t, m in by_template.items()
            ]
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(GATED_PREFIXES):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET")).upper()
        matches = _most_literal([r for r in self._table() if r.pattern.match(path)])
        if not matches:
            await _json(
                scope, receive, send, 404, error_body("NOT_FOUND", f"no such endpoint: {method} {path}")
            )
            return
        route = next((r for r in matches if method in r.methods), None)
        if route is None:
            allowed = sorted(set().union(*(r.methods for r in matches)))
            await _json(
                scope,
                receive,
                send,
                405,
                error_body(
                    "METHOD_NOT_ALLOWED",
                    f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                    {"allowed": allowed},
                ),
                headers={"Allow": ", ".join(allowed)},
            )
            return
        request = Request(scope)
        try:
            await run_in_threadpool(authorize_route, request, method, route.template)
        except DomainError as exc:
            await domain_response(exc)(scope, receive, send)
            return
        known = route.query.get(method, frozenset())
        # /api/ only: a webhook's sender (Meta, SNS) may add parameters of its own at any time.
        unknown = (
            sorted({n for n in request.query_params if n not in known}) if path.startswith("/api/") else []
        )
        if unknown:
            shown = ", ".join(repr(name[:40]) for name in unknown[:5])
            takes = ", ".join(sorted(known)) or "none"
            await _json(
                scope,
                receive,
                send,
                422,
                error_body(
                    "INVALID_INPUT",
                    f"unknown query parameter {shown} on {method} {route.template} (it takes: {takes})",
                    {
                        "fields": [
                            {"field": n[:40], "problem": "unknown query parameter"} for n in unknown[:5]
                        ],
                        "allowed": sorted(known),
                    },
                ),
            )
            return
        limit = BODY_LIMITS.get((method, route.template), DEFAULT_BODY_LIMIT)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            problem = (
                "Content-Length is not a number"
                if not declared.isdigit()
                else f"the request body is larger than {_limit_text(limit)}"
            )
            await _json(
                scope,
                receive,
                send,
                413 if declared.isdigit() else 400,
                error_body(
                    "PAYLOAD_TOO_LARGE" if declared.isdigit() else "INVALID_INPUT",
                    problem,
                    {"limitBytes": limit},
                ),
            )
            return
        await self.app(scope, _bounded(receive, limit), send)


def _most_literal(routes: list[_Route]) -> list[_Route]:
    """The matching templates with the fewest parameters: ``/api/bulk-jobs/preflight`` is that route,
    not a job called "preflight", so its ``Allow`` lists its own methods only."""
    if not routes:
        return routes
    fewest = min(r.template.count("{") for r in routes)
    return [r for r in routes if r.template.count("{") == fewest]


def _bounded(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # FastAPI re-raises an HTTPException met while reading a body, and our handler renders it
                # in the error envelope; the rest of the body is never read.
                raise HTTPException(413, f"the request body is larger than {_limit_text(limit)}")
        return message

    return bounded


async def _json(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
) -> None:
    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)
