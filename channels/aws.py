"""One place where a driver touches a botocore client: the call, the error mapping, the retry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from channels.errors import ChannelError, from_botocore_error, from_client_error
from channels.retry import Retrier


def invoke(
    retrier: Retrier, operation: str, method: Callable[..., Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """Call ``method(**params)`` through ``retrier``, turning botocore failures into ChannelErrors."""

    def attempt() -> dict[str, Any]:
        try:
            response = method(**params)
        except ClientError as exc:
            raise from_client_error(exc, operation) from exc
        except BotoCoreError as exc:
            raise from_botocore_error(exc, operation) from exc
        return dict(response)

    return retrier(attempt)


def request_id(response: Mapping[str, Any]) -> str | None:
    meta = response.get("ResponseMetadata") or {}
    value = meta.get("RequestId")
    return str(value) if value else None


def require(response: Mapping[str, Any], key: str, operation: str) -> str:
    """A field the provider promised; its absence is a provider fault we must not paper over."""
    value = response.get(key)
    if not value:
        raise ChannelError(
            f"{operation} answered without {key}",
            code="MalformedResponse",
            request_id=request_id(response),
            retryable=False,
            operation=operation,
        )
    return str(value)
