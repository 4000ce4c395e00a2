"""Service-level errors. Services raise these; only the edges (API, Lambda, CLI) map them to outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every expected, explainable failure. ``code`` is stable; ``message`` is for a person."""

    code = "ERROR"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})


class InvalidInput(DomainError):
    code = "INVALID_INPUT"
    http_status = 422


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    http_status = 409


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class TooManyRequests(DomainError):
    code = "TOO_MANY_REQUESTS"
    http_status = 429


class Unavailable(DomainError):
    code = "UNAVAILABLE"
    http_status = 503
