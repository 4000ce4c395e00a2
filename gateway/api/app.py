"""The FastAPI application: routers, error shape, request ids and the UI, over a wired container."""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from gateway.api.errors import install_error_handlers
from gateway.api.etag import ETagMiddleware
from gateway.api.gate import RequestGate
from gateway.api.openapi import install_openapi
from gateway.api.routes import (
    ai,
    auth,
    bulk,
    config,
    contacts,
    conversations,
    dlq,
    health,
    messages,
    policies,
    users,
    webhooks,
)
from gateway.api.security import api_routes, authorize, path_pattern
from gateway.logs import correlation_id

if TYPE_CHECKING:
    from gateway.bootstrap import Container

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
# The UI's font files, by their registered types: Python's own table lacks them, and a host without
# /etc/mime.types would serve them as text/plain.
for _type, _suffix in (("font/ttf", ".ttf"), ("font/woff2", ".woff2"), ("font/woff", ".woff")):
    mimetypes.add_type(_type, _suffix)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _request_id(offered: str | None) -> str:
    """The caller's X-Request-Id when it is a plain token, else a fresh one (never echo arbitrary text)."""
    if offered and _SAFE_ID.match(offered):
        return offered
    return uuid.uuid4().hex


def _is_api_path(scope: Scope) -> bool:
    """Whether a route of the app has this path (for another method): then 405 is the right answer."""
    app = scope.get("app")
    if not isinstance(app, FastAPI):
        return False
    path = str(scope.get("path", ""))
    return any(path_pattern(template).match(path) for template, _methods, _route in api_routes(app))


class UiFiles(StaticFiles):
    """The UI's files. Another method on a path that exists is 405, as Starlette answers; on one that does
    not, 404, like every other unknown path (Starlette says 405 before it looks)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            try:
                _full, found = await run_in_threadpool(self.lookup_path, path)
            except (OSError, ValueError):
                found = None
            if found is None and path not in ("", ".", "/") and not _is_api_path(scope):
                raise StarletteHTTPException(status_code=404)
        return await super().get_response(path, scope)


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="WECARE.DIGITAL compliance gateway",
        version="0.1.0",
        dependencies=[Depends(authorize)],
    )
    app.state.container = container
    install_error_handlers(app, on_unhandled=container.on_unhandled_error)
    # Added before the request-id middleware, so that one stays outermost and tags the gate's answers too.
    app.add_middleware(RequestGate, fastapi_app=app)
    # Inside the gate and the request id: a 304 is still tagged with its request id.
    app.add_middleware(ETagMiddleware)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = _request_id(request.headers.get("x-request-id"))
        # Kept on the request too: the handler of unexpected errors runs after this context is reset.
        request.state.request_id = rid
        token = correlation_id.set(rid)
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
        response.headers["X-Request-Id"] = rid
        if not request.url.path.startswith(("/api/", "/webhooks/")):
            # UI files: revalidate each time, so an upgrade never mixes old and new scripts.
            response.headers.setdefault("Cache-Control", "no-cache")
        return response

    app.include_router(health.router)
    for module in (auth, users, contacts, conversations, messages, bulk, dlq, policies, ai, config):
        app.include_router(module.router, prefix="/api")
    app.include_router(webhooks.router, prefix="/webhooks")
    if (UI_DIR / "index.html").exists():
        app.mount("/", UiFiles(directory=UI_DIR, html=True), name="ui")
    install_openapi(app)  # the document states every body and every status a route can answer
    return app
