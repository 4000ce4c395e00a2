"""The one error family every channel driver raises, and the mapping from botocore failures to it.

    ChannelError                 code, message, request_id, retryable, http_status, attempts
    ├── ChannelThrottled         the provider asked us to slow down (always retryable)
    ├── ChannelUnavailable       5xx / network trouble (retryable unless the outcome is unknown)
    ├── ChannelRejected          the provider refused the request (4xx: validation, access, not found…)
    └── ContentInvalid           our own pre-flight checks (and botocore's client-side parameter checks)

``retryable`` is the only thing the retry loop looks at. One deliberate choice: a *read* timeout or a
connection dropped after the request was written is ``ChannelUnavailable`` with ``retryable=False``,
because the provider may already have delivered the message and resending would message the customer
twice; only failures that happen before the request leaves (connect errors) are retried.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

# Error codes meaning "too many requests, try again later", across the services the drivers use.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",  # pinpoint-sms-voice-v2, most JSON services
        "ThrottledRequestException",  # socialmessaging (HTTP 429)
        "TooManyRequestsException",  # sesv2 (HTTP 429)
        "Throttling",  # query-protocol services (SES v1 style)
        "RequestLimitExceeded",
        "SlowDown",  # S3
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)

# Server-side faults that are safe to retry even when the service reports them with an odd status.
TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",  # pinpoint-sms-voice-v2
        "InternalServiceException",  # socialmessaging (500)
        "InternalServiceErrorException",  # sesv2 (500)
        "InternalServerError",
        "InternalError",  # S3
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "DependencyException",  # socialmessaging (502): Meta was unreachable
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class ChannelError(Exception):
    """A send (or one of its steps) failed. ``code`` is the provider's error code or one of ours."""

    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        code: str,
        request_id: str | None = None,
        retryable: bool | None = None,
        http_status: int | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.retryable = self.retryable_default if retryable is None else retryable
        self.http_status = http_status
        self.operation = operation
        # How many attempts were made before giving up; the retry loop sets it.
        self.attempts = 1

    def to_dict(self) -> dict[str, object]:
        """The error as plain data, for the message record's error details."""
        return {
            "type": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "requestId": self.request_id,
            "retryable": self.retryable,
            "httpStatus": self.http_status,
            "operation": self.operation,
            "attempts": self.attempts,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, retryable={self.retryable}, message={self.message!r})"
        )


class ChannelThrottled(ChannelError):
    retryable_default = True


class ChannelUnavailable(ChannelError):
    retryable_default = True


class ChannelRejected(ChannelError):
    retryable_default = False


class ContentInvalid(ChannelError):
    """Refused before any AWS call: bad recipient, empty body, media too large, malformed request…"""

    retryable_default = False

    def __init__(self, message: str, *, code: str = "ContentInvalid", operation: str | None = None) -> None:
        super().__init__(message, code=code, retryable=False, operation=operation)


def from_client_error(exc: ClientError, operation: str | None = None) -> ChannelError:
    """Classify a botocore ClientError by its code first, then by its HTTP status."""
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or exc)
    request_id = meta.get("RequestId") or None
    raw_status = meta.get("HTTPStatusCode")
    status = int(raw_status) if raw_status is not None else None
    cls: type[ChannelError] = ChannelRejected
    if code in THROTTLING_CODES or status == 429:
        cls = ChannelThrottled
    elif code in TRANSIENT_CODES or (status is not None and status >= 500):
        cls = ChannelUnavailable
    return cls(message, code=code, request_id=request_id, http_status=status, operation=operation)


def from_botocore_error(exc: BotoCoreError, operation: str | None = None) -> ChannelError:
    """Classify a failure that never produced a service response."""
    if isinstance(exc, ParamValidationError):
        return ContentInvalid(str(exc), code="ParamValidation", operation=operation)
    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError):
        # The request never reached the service: resending cannot duplicate anything.
        return ChannelUnavailable(str(exc), code=type(exc).__name__, retryable=True, operation=operation)
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        # The request may have been processed: outcome unknown, so never resend automatically.
        return ChannelUnavailable(str(exc), code="OutcomeUnknown", retryable=False, operation=operation)
    return ChannelUnavailable(str(exc), code=type(exc).__name__, retryable=False, operation=operation)
