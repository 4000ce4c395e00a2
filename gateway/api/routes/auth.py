"""HTTP routes: how to sign in, sign-in (embedded identity) and the caller's own identity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ContainerDep, PrincipalDep
from gateway.auth.errors import InvalidCredentials, LoginThrottled
from gateway.auth.hosted_ui import sign_in_config
from gateway.auth.identity import LocalIdentity
from gateway.errors import Conflict, NotFound, TooManyRequests, Unauthenticated

router = APIRouter()


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@router.get("/auth/config")
def auth_config(container: ContainerDep) -> JSONResponse:
    """How the UI signs in here: the local form, or Cognito's Hosted UI (see :mod:`gateway.auth.hosted_ui`).

    Public: the UI reads it before anyone is signed in."""
    body = sign_in_config(container.identity, container.settings.cognito_hosted_ui)
    return JSONResponse(body, headers={"Cache-Control": "no-cache"})


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
def me(principal: PrincipalDep, container: ContainerDep) -> dict[str, Any]:
    switch = container.sending_switch
    return {
        "userId": principal.user_id,
        "email": principal.email,
        "role": principal.role.name,
        "issuer": principal.issuer,
        # The kill switch, for everyone's banner: {"channels", "reason", "pausedBy", "pausedAt"} or null.
        "sendingPaused": switch.state() if switch is not None else None,
    }


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currentPassword: str = Field(min_length=1, max_length=1024)
    newPassword: str = Field(min_length=1, max_length=1024)


@router.post("/me/password")
def change_own_password(
    body: PasswordChange, principal: PrincipalDep, container: ContainerDep
) -> JSONResponse:
    """The caller's own password (the current one required). Every session of the account ends; this
    client gets a fresh token so it stays signed in."""
    identity = container.identity
    if not isinstance(identity, LocalIdentity):
        raise Conflict("passwords are managed in the Cognito user pool here", code="MANAGED_BY_COGNITO")
    user = identity.users.change_own_password(principal.user_id, body.currentPassword, body.newPassword)
    result = identity.token_for(user)
    return JSONResponse(
        {"accessToken": result.access_token, "expiresIn": result.expires_in},
        headers={"Cache-Control": "no-store"},
    )
