"""HTTP routes: the policy bundle in force, what-if evaluation, and the stored decisions.

``GET /api/policies``            bundle name, version, digest, files, policies and rules
``POST /api/policies/evaluate``  decide a policy input document (``?explain=true``: every rule and
                                 variable); pure, nothing is stored or sent
``GET /api/decisions``           stored decisions, filtered by reason, channel, allowed, time range
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import ValidationError

from gateway.api.deps import DecisionsDep, PolicyDep, PrincipalDep
from gateway.decisions import MAX_LIMIT
from gateway.errors import InvalidInput
from gateway.policy.schema import PolicyInput

router = APIRouter(tags=["policies"])


@router.get("/policies")
def get_policies(principal: PrincipalDep, engine: PolicyDep) -> dict[str, Any]:
    return engine.describe()


def validate_input(document: dict[str, Any]) -> dict[str, Any]:
    """The document if it is a complete, well-typed policy input; otherwise 422 naming each field."""
    try:
        PolicyInput.model_validate(document)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in err["loc"]) or "input", "problem": str(err["msg"])}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
        raise InvalidInput(f"the policy input is not valid: {summary}", details={"fields": fields}) from None
    return document


@router.post("/policies/evaluate")
def evaluate(
    principal: PrincipalDep,
    engine: PolicyDep,
    document: Annotated[dict[str, Any], Body(description="a policy input document")],
    explain: bool = False,
) -> dict[str, Any]:
    policy_input = validate_input(document)
    if explain:
        return engine.explain(policy_input)
    return {"decision": engine.evaluate(policy_input).to_dict(), "engine": engine.engine}


@router.get("/decisions")
def list_decisions(
    principal: PrincipalDep,
    decisions: DecisionsDep,
    *,
    reason: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=64)] = None,
    channel: Literal["whatsapp", "sms", "email"] | None = None,
    allowed: bool | None = None,
    since: Annotated[float | None, Query(ge=0, description="epoch seconds, inclusive")] = None,
    until: Annotated[float | None, Query(ge=0, description="epoch seconds, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    # A bad cursor is an InvalidInput (INVALID_CURSOR) and maps to 422 at the edge.
    return decisions.list(
        reason=reason, channel=channel, allowed=allowed, since=since, until=until, limit=limit, cursor=cursor
    )
