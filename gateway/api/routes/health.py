"""Liveness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from gateway.api.deps import ContainerDep

router = APIRouter()


@router.get("/healthz")
def healthz(container: ContainerDep) -> dict[str, object]:
    return container.health()


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(container: ContainerDep) -> str:
    return container.metrics.render_prometheus()
