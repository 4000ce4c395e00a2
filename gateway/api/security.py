"""Authorization: the single place where every route's permission is enforced.

Placeholder until the identity module lands: it refuses everything that is not public, so a
route can never be served without a permission check (fail closed).
"""

from __future__ import annotations

from fastapi import Request

from gateway.errors import Unauthenticated

PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/api/auth/login", "/webhooks/sns", "/webhooks/meta"})


async def authorize(request: Request) -> None:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    if path in PUBLIC_PATHS:
        return
    raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
