"""HTTP routes: sign-in (embedded identity) and the caller's own identity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ContainerDep, PrincipalDep
from gateway.auth.errors import InvalidCredentials, LoginThrottled
from gateway.auth.identity import LocalIdentity
from gateway.errors import NotFound, TooManyRequests, Unauthenticated

router = APIRouter()


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/auth/login")
def login(body: LoginBody, request: Request, container: ContainerDep) -> dict[str, Any]:
    identity = container.identity
    if not isinstance(identity, LocalIdentity):  # Cognito (or none): no password sign-in here
        raise NotFound(
            "password sign-in is not offered here; sign in through Cognito", code="LOCAL_LOGIN_UNAVAILABLE"
        )
    client = request.client.host if request.client is not None else "unknown"
    try:
        result = identity.login(body.email, body.password, client=client)
    except InvalidCredentials:
        raise Unauthenticated("wrong e-mail or password", code="INVALID_CREDENTIALS") from None
    except LoginThrottled as exc:
        raise TooManyRequests(
            "too many failed sign-in attempts; try again later",
            details={"retryAfterSeconds": int(exc.retry_after) + 1, "scope": exc.scope},
        ) from None
    out: dict[str, Any] = result.to_dict()
    return out


@router.get("/me")
def me(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "userId": principal.user_id,
        "email": principal.email,
        "role": principal.role.name,
        "issuer": principal.issuer,
    }
