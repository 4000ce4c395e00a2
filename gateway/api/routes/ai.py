"""HTTP routes: AI-suggested replies — list, ask, approve (as is or edited), reject, rate, stats.

Reading is Viewer; every action is Operator (see auth.permissions). An approval is an ordinary send
through the gateway (origin ``ai``): the answer holds the gateway's outcome, a refusal's reasons too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import AIDep, PrincipalDep

router = APIRouter(tags=["ai"])

Status = Literal["pending", "approved", "rejected", "failed"]


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messageId: str | None = Field(default=None, min_length=1, max_length=200)
    contactId: str | None = Field(default=None, min_length=1, max_length=200)


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The edited reply; absent: the suggestion as is.
    text: str | None = Field(default=None, min_length=1, max_length=4096)


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["good", "bad"]
    comment: str = Field(default="", max_length=2000)


@router.get("/ai/suggestions")
def list_suggestions(
    ai: AIDep,
    *,
    status: Status | None = None,
    contactId: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    return ai.list(status=status, contact_id=contactId, limit=limit, cursor=cursor)


@router.post("/ai/suggestions", status_code=201)
def ask_for_suggestion(body: SuggestRequest, principal: PrincipalDep, ai: AIDep) -> dict[str, Any]:
    return {
        "suggestion": ai.suggest(
            actor=principal.audit_id, message_id=body.messageId, contact_id=body.contactId
        )
    }


@router.get("/ai/suggestions/{interaction_id}")
def get_suggestion(interaction_id: str, ai: AIDep) -> dict[str, Any]:
    return {"suggestion": ai.get(interaction_id)}


@router.post("/ai/suggestions/{interaction_id}/approve")
def approve_suggestion(
    interaction_id: str, principal: PrincipalDep, ai: AIDep, body: ApproveRequest | None = None
) -> dict[str, Any]:
    text = body.text if body is not None else None
    return {"suggestion": ai.approve(interaction_id, actor=principal.audit_id, text=text)}


@router.post("/ai/suggestions/{interaction_id}/reject")
def reject_suggestion(
    interaction_id: str, principal: PrincipalDep, ai: AIDep, body: RejectRequest | None = None
) -> dict[str, Any]:
    reason = body.reason if body is not None else ""
    return {"suggestion": ai.reject(interaction_id, actor=principal.audit_id, reason=reason)}


@router.post("/ai/suggestions/{interaction_id}/feedback")
def rate_suggestion(
    interaction_id: str, body: FeedbackRequest, principal: PrincipalDep, ai: AIDep
) -> dict[str, Any]:
    return {
        "suggestion": ai.feedback(
            interaction_id, actor=principal.audit_id, rating=body.rating, comment=body.comment
        )
    }


@router.get("/ai/stats")
def suggestion_stats(ai: AIDep) -> dict[str, Any]:
    # Whether suggestions are made automatically, for every role (the switch itself is Admin-only).
    return {**ai.stats(), "automation": {"enabled": ai.enabled()}}
