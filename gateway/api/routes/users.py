"""HTTP routes: user administration (Admin only; see gateway/auth/permissions.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from gateway.api.deps import ContainerDep, PrincipalDep
from gateway.errors import Conflict, Unavailable
from gateway.users import UserService, public

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


def _users(container: Any) -> UserService:
    users = getattr(container, "users", None)
    if not isinstance(users, UserService):
        raise Unavailable("user administration is not configured on this server")
    return users


def _local_only(container: Any) -> None:
    if not getattr(getattr(container, "identity", None), "local", False):
        raise Conflict("accounts are managed in the Cognito user pool here (groups Viewer, Operator, Admin)",
                       code="MANAGED_BY_COGNITO")


@router.get("/users")
def list_users(
    container: ContainerDep,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=2048),
) -> dict[str, Any]:
    page = _users(container).list_page(limit=limit, cursor=cursor)
    return {"items": [public(u) for u in page.items], "cursor": page.cursor}


@router.post("/users", status_code=201)
def create_user(body: CreateUser, container: ContainerDep, principal: PrincipalDep) -> JSONResponse:
    _local_only(container)
    user, generated = _users(container).create(body.email, body.role, actor=principal.user_id,
                                               password=body.password)
    out: dict[str, Any] = {"user": public(user)}
    if generated is not None:
        out["password"] = generated  # shown once; only its hash is stored
    return JSONResponse(out, status_code=201, headers={"Cache-Control": "no-store"})


@router.patch("/users/{user_id}")
def change_user(user_id: str, body: ChangeUser, container: ContainerDep,
                principal: PrincipalDep) -> dict[str, Any]:
    _local_only(container)
    users = _users(container)
    user = users.get(user_id)
    if body.role is not None:
        user = users.set_role(user_id, body.role, actor=principal.user_id)
    if body.disabled is not None:
        user = users.set_disabled(user_id, body.disabled, actor=principal.user_id)
    return public(user)
