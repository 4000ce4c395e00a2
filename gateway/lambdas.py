"""Lambda entry points: each a few lines over the services of one composed container.

The container is built once per cold start (settings validated, secrets fetched from SSM, clients
created) and reused by every invocation of that instance. A configuration problem fails the cold
start loudly with the message that names every bad variable.

Which function serves what is data, in ``gateway/functions.json`` (the Amplify backend reads the same
file): the HTTP functions share one FastAPI app through Mangum, and each serves only the routes listed
for it there. API Gateway routes it only those; a request for any other path is answered 404 here too,
so a misrouted integration shows up at once instead of quietly serving another function's routes. The
app's permission table applies to every request either way.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from mangum import Mangum

from gateway.api.app import create_app
from gateway.auth.authorizer import authorize_event, is_authorizer_event
from gateway.bootstrap import Container, build_lambda, wired
from gateway.bulk.chunks import BULK_QUEUE, parse_chunk
from gateway.bulk.consumer import handle_chunk
from gateway.config import ConfigError, load_settings
from gateway.errors import InvalidInput
from gateway.logs import configure_logging, correlation_id

log = logging.getLogger("wecare.lambda")

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    triggers: tuple[str, ...]
    groups: tuple[str, ...]
    routes: tuple[str, ...]  # "METHOD /path/{segment}"

    def serves(self, method: str, path: str) -> bool:
        verb = "GET" if method.upper() == "HEAD" else method.upper()
        return any(m == verb and pattern.match(path) for m, pattern in _route_patterns(self.routes))


@cache
def _route_patterns(routes: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for route in routes:
        method, _, template = route.partition(" ")
        body = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        out.append((method, re.compile(f"^{body}/?$")))
    return tuple(out)


def load_functions() -> dict[str, FunctionSpec]:
    """The functions of ``gateway/functions.json``, by name."""
    doc = json.loads(resources.files("gateway").joinpath("functions.json").read_text(encoding="utf-8"))
    return {
        name: FunctionSpec(
            name,
            spec["handler"],
            tuple(spec["triggers"]),
            tuple(spec["groups"]),
            tuple(spec["routes"]),
        )
        for name, spec in doc["functions"].items()
    }


FUNCTIONS: Mapping[str, FunctionSpec] = load_functions()


@lru_cache(maxsize=1)
def container() -> Container:
    settings = load_settings("lambda")
    configure_logging(settings.LOG_LEVEL)
    return build_lambda(settings)


@lru_cache(maxsize=1)
def _http() -> Mangum:
    return Mangum(create_app(container()), lifespan="off")


@contextmanager
def _request_id(context: Any) -> Iterator[None]:
    """Every log line of one invocation carries its Lambda request id."""
    token = correlation_id.set(str(getattr(context, "aws_request_id", "")))
    try:
        yield
    finally:
        correlation_id.reset(token)


def http_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway / function URL events for every HTTP function (auth, contacts, outbound, bulk, AI)."""
    with _request_id(context):
        return _http()(dict(event), context)


def _request_line(event: Mapping[str, Any]) -> tuple[str, str]:
    """Method and path of an API Gateway HTTP API (v2) or REST (v1) event."""
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "")
    path = str(event.get("rawPath") or http.get("path") or event.get("path") or "")
    return method, path


def is_http_event(event: Mapping[str, Any]) -> bool:
    return bool(_request_line(event)[0]) and "requestContext" in event


def _not_served(name: str, method: str, path: str) -> dict[str, Any]:
    log.error("request routed to the wrong function", extra={"function": name, "route": f"{method} {path}"})
    body = {
        "error": {
            "code": "NOT_FOUND",
            "message": f"{method} {path} is not served by the {name} function",
            "details": {"function": name, "routes": list(FUNCTIONS[name].routes)},
        }
    }
    return {"statusCode": 404, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _serve(name: str, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    method, path = _request_line(event)
    if not FUNCTIONS[name].serves(method, path):
        return _not_served(name, method, path)
    return http_handler(event, context)


def http_function(name: str) -> Handler:
    """The entry point of an HTTP-only function: the shared app, for this function's routes only."""
    spec = FUNCTIONS[name]  # KeyError at import: a handler for a function functions.json lacks

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return _serve(spec.name, event, context)

    handler.__name__ = handler.__qualname__ = spec.handler.rpartition(".")[2]
    handler.__doc__ = f"{name}: " + ", ".join(spec.routes)
    return handler


contacts_create_handler = http_function("contacts-create")
contacts_read_handler = http_function("contacts-read")
contacts_update_handler = http_function("contacts-update")
contacts_delete_handler = http_function("contacts-delete")
contacts_search_handler = http_function("contacts-search")
outbound_whatsapp_handler = http_function("outbound-whatsapp")
outbound_sms_handler = http_function("outbound-sms")
outbound_email_handler = http_function("outbound-email")
bulk_job_create_handler = http_function("bulk-job-create")
bulk_job_control_handler = http_function("bulk-job-control")


def auth_middleware_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """auth-middleware: the HTTP API's Lambda authorizer, and the identity and administration routes."""
    if not is_authorizer_event(event):
        return _serve("auth-middleware", event, context)
    with _request_id(context):
        identity = container().identity
        if identity is None:
            raise ConfigError("the identity service is not wired in this build")
        return authorize_event(identity, event)


def inbound_whatsapp_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """inbound-whatsapp-handler: the SNS subscription of the EUM Social event destination.

    Bad records go to inbound-dlq and the rest of the batch proceeds; it raises only when the DLQ
    itself cannot take a record, so SNS retries instead of the event being lost.
    """
    if is_http_event(event):  # the signed webhooks (SNS HTTPS subscription, Meta) on the same function
        return _serve("inbound-whatsapp-handler", event, context)
    with _request_id(context):
        result = wired(container().inbound, "inbound").handle_sns_event(event)
        summary: dict[str, Any] = {k: v for k, v in vars(result).items() if k != "errors"}
        log.info("inbound batch processed", extra={"result": summary})
        return summary


def bulk_worker_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """bulk-worker: the SQS event source of ``bulk-queue`` (``ReportBatchItemFailures``).

    Each record's chunk runs :func:`~gateway.bulk.consumer.handle_chunk`, exactly as the embedded
    consumer runs it (recipients handed back are re-queued on ``bulk-queue`` with their delay). A
    record that raises (the store is down; or its body is not a chunk) is reported in
    ``batchItemFailures`` and the rest of the batch proceeds: SQS redelivers only those records, and
    the queue's redrive policy moves one that keeps failing to ``bulk-dlq``.
    """
    with _request_id(context):
        c = container()
        worker = wired(c.bulk_worker, "bulk worker")
        queue = c.queues[BULK_QUEUE]
        failures: list[dict[str, str]] = []
        for record in event.get("Records") or ():
            message_id = str(record.get("messageId", ""))
            body = record.get("body", "")
            try:
                parse_chunk(body)
            except InvalidInput as exc:
                log.error(
                    "malformed bulk chunk reported as failed",
                    extra={"messageId": message_id, "error": str(exc)},
                )
                failures.append({"itemIdentifier": message_id})
                continue
            try:
                result = handle_chunk(worker, queue, body)
            except Exception:
                log.exception("bulk chunk failed; SQS will redeliver it", extra={"messageId": message_id})
                failures.append({"itemIdentifier": message_id})
                continue
            log.info(
                "bulk chunk processed",
                extra={
                    "messageId": message_id,
                    "jobId": result.job_id,
                    "sent": result.sent,
                    "retry": len(result.retry),
                },
            )
        return {"batchItemFailures": failures}


def ai_generate_response_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """ai-generate-response: the SQS event source of ``ai-queue`` (``ReportBatchItemFailures``).

    The inbound handler only queues a stored message's id; the suggestion is made here, so a slow or
    failing model never touches the inbound path. A record that raises is redelivered by SQS.
    """
    with _request_id(context):
        service = wired(container().ai, "ai")
        failures: list[dict[str, str]] = []
        for record in event.get("Records") or ():
            message_id = str(record.get("messageId", ""))
            try:
                service.handle_queued(str(record.get("body", "")))
            except Exception:
                log.exception("suggestion failed; SQS will redeliver it", extra={"messageId": message_id})
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}


def ai_query_kb_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """ai-query-kb: the ``/api/ai/*`` routes; invoked directly, ``{"messageId": ...}`` or
    ``{"contactId": ...}`` → a suggestion made now (on demand)."""
    if is_http_event(event):
        return _serve("ai-query-kb", event, context)
    with _request_id(context):
        service = wired(container().ai, "ai")
        message_id, contact_id = event.get("messageId"), event.get("contactId")
        item = service.suggest(
            actor="lambda:ai-query-kb",
            message_id=str(message_id) if message_id else None,
            contact_id=str(contact_id) if contact_id else None,
        )
        return {"suggestion": item}


def dlq_replay_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """dlq-replay: the ``/api/dlq`` routes; invoked directly, ``{"queue": "inbound-dlq", "max": 10}``
    (max 1 to 100)."""
    if is_http_event(event):
        return _serve("dlq-replay", event, context)
    with _request_id(context):
        queue = str(event.get("queue", "inbound-dlq"))
        max_messages = event.get("max", 10)
        if isinstance(max_messages, bool) or not isinstance(max_messages, int):
            raise ValueError("'max' must be a whole number from 1 to 100")
        report = wired(container().dlq, "dlq").replay(queue, max_messages, actor="lambda:dlq-replay")
        out: dict[str, Any] = report.to_dict()
        return out


def send_recovery_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """On a schedule (every minute): messages stuck in ``sending`` become ``unknown``, with an alert
    (they are never resent automatically); and the bulk chores the embedded server runs in its own
    threads: scheduled jobs that are due start, jobs the kill switch paused resume once it is released,
    deferred recipients whose 24 h have passed are re-queued, and idle jobs are settled."""
    with _request_id(context):
        c = container()
        report = wired(c.recovery, "recovery").run()
        out: dict[str, Any] = {"markedUnknown": list(report.marked_unknown)}
        bulk = c.bulk
        if bulk is not None:
            out["bulkStarted"] = bulk.start_due()
            switch = c.sending_switch
            out["bulkResumed"] = bulk.resume_released(switch.paused) if switch is not None else []
            out["bulkDeferredRequeued"] = bulk.retry_deferred_due()
            out["bulkSettled"] = bulk.settle_idle()
        return out
