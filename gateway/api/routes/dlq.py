"""HTTP routes: dead-letter queues — list what failed, replay a batch (Operator; see auth.permissions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ContainerDep, PrincipalDep
from gateway.dlq import MAX_REPLAY_BATCH, DlqService
from gateway.errors import Unavailable

router = APIRouter(tags=["dlq"])

QueueName = Literal["inbound-dlq", "bulk-dlq", "outbound-dlq"]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: QueueName
    max: int = Field(default=10, ge=1, le=MAX_REPLAY_BATCH)


def _dlq(container: Any) -> DlqService:
    service = getattr(container, "dlq", None)
    if service is None:
        service = getattr(container, "extras", {}).get("dlq")
    if service is None:
        raise Unavailable("dead-letter queues are not configured in this deployment")
    return service  # type: ignore[no-any-return]


@router.get("/dlq")
def list_dead_letters(
    container: ContainerDep,
    *,
    queue: QueueName | None = None,
    status: Literal["pending", "parked", "replayed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_REPLAY_BATCH)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    # A bad cursor is an InvalidInput (INVALID_CURSOR) and maps to 422 at the edge.
    return _dlq(container).list_messages(queue=queue, status=status, limit=limit, cursor=cursor)


@router.post("/dlq/replay")
def replay_dead_letters(
    body: ReplayRequest, container: ContainerDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _dlq(container).replay(body.queue, body.max, actor=principal.audit_id).to_dict()
