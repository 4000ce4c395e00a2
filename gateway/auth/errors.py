"""The identity subsystem's failures. The API edge maps them to 401 / 403 / 429."""

from __future__ import annotations


class AuthError(Exception):
    """Base of every identity failure; ``reason`` is a short stable code safe to log (never a secret)."""

    reason = "auth_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidToken(AuthError):
    """The bearer token is missing, malformed, forged, expired or meant for someone else (401)."""

    reason = "invalid_token"


class NoRole(AuthError):
    """The token is valid but carries no known role group (403)."""

    reason = "no_role"


class InvalidCredentials(AuthError):
    """Wrong e-mail or password, or a disabled account; deliberately indistinguishable (401)."""

    reason = "invalid_credentials"


class LoginThrottled(AuthError):
    """Too many recent failures for this account or client; try again after ``retry_after`` s (429)."""

    reason = "throttled"

    def __init__(self, message: str, *, retry_after: float, scope: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.scope = scope


class LocalLoginUnavailable(AuthError):
    """Sign-in with a password is only offered by the embedded identity, not with Cognito."""

    reason = "local_login_unavailable"
