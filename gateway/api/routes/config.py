"""HTTP routes: run-time switches in ``SystemConfig`` (Admin; every change audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from gateway.api.deps import PrincipalDep, SystemConfigDep

router = APIRouter(tags=["config"])


class ConfigValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any


@router.get("/config")
def list_config(config: SystemConfigDep) -> dict[str, Any]:
    return config.all()


@router.put("/config/{key}")
def set_config(
    key: str, body: ConfigValue, principal: PrincipalDep, config: SystemConfigDep
) -> dict[str, Any]:
    return config.set(key, body.value, actor=principal.audit_id)
