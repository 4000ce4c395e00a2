"""Liveness and metrics.

``/metrics`` holds business counts (sends, refusals by reason), so it is not open to whoever reaches the
API: with a ``METRICS_TOKEN`` secret it needs ``Authorization: Bearer <that token>``; without one it is
served only on the embedded default in a local environment, and only to loopback clients; anywhere
else it is off.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from gateway.api.deps import ContainerDep
from gateway.bootstrap import Container
from gateway.config import Environment
from gateway.errors import Forbidden, NotFound, Unauthenticated
from gateway.metrics import Labels, render_gauges

router = APIRouter()


@router.get("/healthz")
def healthz(container: ContainerDep) -> dict[str, object]:
    return container.health()


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, container: ContainerDep) -> str:
    token = container.metrics_token
    if token is not None:
        if not hmac.compare_digest(_bearer(request).encode(), token.get_secret_value().encode()):
            raise Unauthenticated("send 'Authorization: Bearer <METRICS_TOKEN>' to read the metrics")
    elif container.runtime != "embedded" or container.settings.ENVIRONMENT is not Environment.local:
        raise NotFound("metrics are off here: set the METRICS_TOKEN secret to scrape them")
    elif not _loopback(request):
        raise Forbidden("without METRICS_TOKEN the metrics are served to this machine (loopback) only")
    return container.metrics.render_prometheus() + _ai_quality(container)


def _ai_quality(container: Container) -> str:
    """The AI suggestion figures of ``GET /api/ai/stats`` (15.6), overall and per cited document."""
    if container.ai is None:
        return ""
    stats = container.ai.stats()
    overall: dict[Labels, float] = {(("outcome", k),): float(v) for k, v in stats["overall"].items()}
    by_document: dict[Labels, float] = {
        (("document", document), ("outcome", k)): float(v)
        for document, counts in stats["byDocument"].items()
        for k, v in counts.items()
    }
    return render_gauges(
        "ai_suggestions", overall, "AI suggestions by outcome (all, from the interaction log)"
    ) + render_gauges(
        "ai_suggestions_by_document", by_document, "AI suggestions by outcome, per cited document"
    )
