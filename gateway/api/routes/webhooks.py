"""HTTP routes: the inbound webhooks (public, but every request is signature-verified).

``POST /webhooks/sns`` takes an SNS HTTPS subscription's deliveries; ``GET|POST /webhooks/meta`` is
Meta's own webhook. A bad signature is a 403 and nothing is stored. A verified event that cannot be
processed is dead-lettered and still answered 200, so the sender does not retry it in a loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import InboundDep
from gateway.errors import DomainError, Forbidden
from gateway.inbound.errors import PayloadError, SignatureInvalid
from gateway.inbound.meta_signature import SIGNATURE_HEADER

router = APIRouter(tags=["webhooks"])


def _refused(exc: SignatureInvalid) -> Forbidden:
    return Forbidden(f"webhook refused: {exc}", code="SIGNATURE_INVALID")


@router.post("/sns")
async def sns_webhook(request: Request, inbound: InboundDep) -> dict[str, Any]:
    body = await request.body()
    try:
        return await run_in_threadpool(inbound.handle_sns_https, body)
    except SignatureInvalid as exc:
        raise _refused(exc) from None
    except PayloadError as exc:
        raise DomainError(f"not an SNS message: {exc}", code="MALFORMED_PAYLOAD") from None


@router.get("/meta", response_class=PlainTextResponse)
def meta_handshake(
    inbound: InboundDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    try:
        return PlainTextResponse(inbound.meta_handshake(mode, token, challenge))
    except SignatureInvalid as exc:
        raise _refused(exc) from None


@router.post("/meta")
async def meta_webhook(request: Request, inbound: InboundDep) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        result = await run_in_threadpool(inbound.handle_meta, body, signature)
    except SignatureInvalid as exc:
        raise _refused(exc) from None
    return result.to_dict()
