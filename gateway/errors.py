"""Service-level errors. Services raise these; only the edges (API, Lambda, CLI) map them to outcomes.

None of them knows HTTP: :mod:`gateway.api.errors` maps each class to its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every expected, explainable failure. ``code`` is stable; ``message`` is for a person."""

    code = "ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})


class InvalidInput(DomainError):
    code = "INVALID_INPUT"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class TooManyRequests(DomainError):
    code = "TOO_MANY_REQUESTS"


class Unavailable(DomainError):
    code = "UNAVAILABLE"


class TooLarge(DomainError):
    """Input over a size the service accepts (a body, a file)."""

    code = "PAYLOAD_TOO_LARGE"


ECHO_LIMIT = 100


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """A caller's value quoted in an error message, never more than ``limit`` characters of it: enough to
    recognise, while a hostile or mistaken megabyte is not sent back (nor written to a log line)."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"… ({len(text)} characters)"
