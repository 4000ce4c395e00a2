"""One error shape for every response: ``{"error": {"code", "message", "details"}}``.

Domain errors map to their status; validation errors to 422 with the offending fields; anything
unexpected is a 500 that is logged with request id, type and stack trace and raises a critical alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from gateway.logs import correlation_id
from gateway.outbound.types import PolicyDenied, SendFailed

log = logging.getLogger("wecare.api")


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        # A JSON decode error's location is ("body", <character offset>): the field is the body itself.
        loc = (
            []
            if err.get("type") == "json_invalid"
            else [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        )
        problem = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            # "JSON decode error" alone says nothing: name the problem and where it is.
            where = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
            reason = str((err.get("ctx") or {}).get("error") or "not valid JSON")
            problem = f"not valid JSON: {reason}" + (f" at character {where}" if where is not None else "")
        fields.append({"field": ".".join(loc) or "body", "problem": problem})
    return {"fields": fields}


# Service errors know nothing of HTTP; this is where each class gets its status (the most specific
# class in an error's ancestry wins; any other DomainError is a 400).
HTTP_STATUS: Mapping[type[Exception], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    TooManyRequests: 429,
    Unavailable: 503,
    TooLarge: 413,
    PolicyDenied: 422,
    SendFailed: 502,
}


def http_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return 400


def domain_response(exc: DomainError) -> JSONResponse:
    """A domain error as its response: status, envelope, and the headers its status calls for."""
    status = http_status(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = exc.details.get("retryAfterSeconds")
    if status in (429, 503) and isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(1, int(retry_after)))
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, on_unhandled: Any = None) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return domain_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in details["fields"][:5])
        return JSONResponse(
            error_body("INVALID_INPUT", f"the request is not valid: {summary}", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 comes from the framework when a body cannot even be decoded (bytes that are not UTF-8,
        # multipart without a boundary): the same class of mistake as malformed JSON, named as such.
        codes = {
            400: "MALFORMED_BODY",
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            401: "UNAUTHENTICATED",
            403: "FORBIDDEN",
            413: "PAYLOAD_TOO_LARGE",
        }
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = "the request body could not be decoded: send UTF-8 JSON (or multipart/form-data)"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return JSONResponse(
            error_body(codes.get(exc.status_code, "HTTP_ERROR"), message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        rid = correlation_id.get() or str(getattr(request.state, "request_id", "")) or "unknown"
        log.critical(
            "unhandled error",
            exc_info=exc,
            extra={"requestId": rid, "path": request.url.path, "method": request.method},
        )
        if on_unhandled is not None:
            on_unhandled(exc, rid)
        return JSONResponse(
            error_body("INTERNAL", f"an internal error occurred; quote request id {rid} when reporting it"),
            status_code=500,
            headers={"X-Request-Id": rid},
        )
