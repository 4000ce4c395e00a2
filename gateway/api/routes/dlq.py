"""HTTP routes: dead-letter queues — list what failed, replay a batch (Operator; see auth.permissions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import DlqDep, PrincipalDep
from gateway.dlq import MAX_REPLAY_BATCH

router = APIRouter(tags=["dlq"])

QueueName = Literal["inbound-dlq", "bulk-dlq", "outbound-dlq"]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: QueueName
    max: int = Field(default=10, ge=1, le=MAX_REPLAY_BATCH)


@router.get("/dlq")
def list_dead_letters(
    dlq: DlqDep,
    *,
    queue: QueueName | None = None,
    status: Literal["pending", "parked", "replayed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_REPLAY_BATCH)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    # A bad cursor is an InvalidInput (INVALID_CURSOR) and maps to 422 at the edge.
    return dlq.list_messages(queue=queue, status=status, limit=limit, cursor=cursor)


@router.post("/dlq/replay")
def replay_dead_letters(body: ReplayRequest, principal: PrincipalDep, dlq: DlqDep) -> dict[str, Any]:
    return dlq.replay(body.queue, body.max, actor=principal.audit_id).to_dict()
