"""HTTP routes: AI-suggested replies — list, ask, approve (as is or edited), reject, rate, stats.

Reading is Viewer; every action is Operator (see auth.permissions). An approval is an ordinary send
through the gateway (origin ``ai``): the answer holds the gateway's outcome, a refusal's reasons too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import AIDep, ContainerDep, PrincipalDep
from gateway.bootstrap import Container

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


ACTOR_FIELDS = ("requestedBy", "approvedBy", "rejectedBy")


def _named(
    item: dict[str, Any], container: Container, seen: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """The suggestion with the e-mail beside each account id in it (who asked, approved, rejected, rated),
    so the page shows people, not ids. ``seen`` carries the e-mails already read across a page of them:
    a few operators act on most suggestions, so a page reads each account once."""
    users = getattr(container, "users", None)
    if users is None:
        return item
    known = {} if seen is None else seen

    def email(actor: str) -> str | None:
        if actor not in known:
            known[actor] = users.email_of(actor)
        return known[actor]

    out = dict(item)
    for name in ACTOR_FIELDS:
        if out.get(name):
            out[f"{name}Email"] = email(str(out[name]))
    feedback = out.get("feedback")
    if isinstance(feedback, dict) and feedback.get("by"):
        out["feedback"] = {**feedback, "byEmail": email(str(feedback["by"]))}
    return out


@router.get("/ai/suggestions")
def list_suggestions(
    ai: AIDep,
    *,
    status: Status | None = None,
    contactId: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    container: ContainerDep,
) -> dict[str, Any]:
    page = ai.list(status=status, contact_id=contactId, limit=limit, cursor=cursor)
    seen: dict[str, str | None] = {}
    return {**page, "items": [_named(item, container, seen) for item in page["items"]]}


@router.post("/ai/suggestions", status_code=201)
def ask_for_suggestion(
    body: SuggestRequest, principal: PrincipalDep, ai: AIDep, container: ContainerDep
) -> dict[str, Any]:
    made = ai.suggest(actor=principal.audit_id, message_id=body.messageId, contact_id=body.contactId)
    return {"suggestion": _named(made, container)}


@router.get("/ai/suggestions/{interaction_id}")
def get_suggestion(interaction_id: str, ai: AIDep, container: ContainerDep) -> dict[str, Any]:
    return {"suggestion": _named(ai.get(interaction_id), container)}


@router.post("/ai/suggestions/{interaction_id}/approve")
def approve_suggestion(
    interaction_id: str,
    principal: PrincipalDep,
    ai: AIDep,
    container: ContainerDep,
    body: ApproveRequest | None = None,
) -> dict[str, Any]:
    text = body.text if body is not None else None
    return {"suggestion": _named(ai.approve(interaction_id, actor=principal.audit_id, text=text), container)}


@router.post("/ai/suggestions/{interaction_id}/reject")
def reject_suggestion(
    interaction_id: str,
    principal: PrincipalDep,
    ai: AIDep,
    container: ContainerDep,
    body: RejectRequest | None = None,
) -> dict[str, Any]:
    reason = body.reason if body is not None else ""
    return {
        "suggestion": _named(ai.reject(interaction_id, actor=principal.audit_id, reason=reason), container)
    }


@router.post("/ai/suggestions/{interaction_id}/feedback")
def rate_suggestion(
    interaction_id: str, body: FeedbackRequest, principal: PrincipalDep, ai: AIDep, container: ContainerDep
) -> dict[str, Any]:
    rated = ai.feedback(interaction_id, actor=principal.audit_id, rating=body.rating, comment=body.comment)
    return {"suggestion": _named(rated, container)}


@router.get("/ai/stats")
def suggestion_stats(ai: AIDep) -> dict[str, Any]:
    # Whether suggestions are made automatically, for every role (the switch itself is Admin-only).
    return {**ai.stats(), "automation": {"enabled": ai.enabled()}}
