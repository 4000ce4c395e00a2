"""HTTP routes: user administration (Admin only; see gateway/auth/permissions.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from gateway.api.deps import ContainerDep, PrincipalDep, UsersDep
from gateway.errors import Conflict
from gateway.users import public

if TYPE_CHECKING:
    from gateway.bootstrap import Container

router = APIRouter()

RoleName = Literal["Viewer", "Operator", "Admin"]


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    role: RoleName
    password: str | None = Field(default=None, max_length=1024)


class ChangeUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    disabled: StrictBool | None = None  # a real true/false: "yes" or 1 must not disable an account


def _local_only(container: Container) -> None:
    identity = container.identity
    if identity is None or not identity.local:
        raise Conflict(
            "accounts are managed in the Cognito user pool here (groups Viewer, Operator, Admin)",
            code="MANAGED_BY_COGNITO",
        )


@router.get("/users")
def list_users(
    users: UsersDep,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=2048),
) -> dict[str, Any]:
    page = users.list_page(limit=limit, cursor=cursor)
    return {"items": [public(u) for u in page.items], "cursor": page.cursor}


@router.post("/users", status_code=201)
def create_user(
    body: CreateUser, container: ContainerDep, principal: PrincipalDep, users: UsersDep
) -> JSONResponse:
    _local_only(container)
    user, generated = users.create(body.email, body.role, actor=principal.user_id, password=body.password)
    out: dict[str, Any] = {"user": public(user)}
    if generated is not None:
        out["password"] = generated  # shown once; only its hash is stored
    return JSONResponse(out, status_code=201, headers={"Cache-Control": "no-store"})


@router.patch("/users/{user_id}")
def change_user(
    user_id: str, body: ChangeUser, container: ContainerDep, principal: PrincipalDep, users: UsersDep
) -> dict[str, Any]:
    _local_only(container)
    user = users.get(user_id)
    if body.role is not None:
        user = users.set_role(user_id, body.role, actor=principal.user_id)
    if body.disabled is not None:
        user = users.set_disabled(user_id, body.disabled, actor=principal.user_id)
    return public(user)


@router.post("/users/{user_id}/password")
def reset_password(
    user_id: str, container: ContainerDep, principal: PrincipalDep, users: UsersDep
) -> JSONResponse:
    """An Admin's reset: a one-time password, shown once; the account's sessions end."""
    _local_only(container)
    user, password = users.reset_password(user_id, actor=principal.user_id)
    return JSONResponse({"user": public(user), "password": password}, headers={"Cache-Control": "no-store"})
