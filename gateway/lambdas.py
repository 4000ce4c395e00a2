"""Lambda entry points: each a few lines over the services of one composed container.

The container is built once per cold start (settings validated, secrets fetched from SSM, clients
created) and reused by every invocation of that instance. A configuration problem fails the cold
start loudly with the message that names every bad variable.

The HTTP functions (auth-middleware, contacts-*, outbound-*, bulk-job-*, ai-*) share one FastAPI app
through Mangum; each Lambda is routed only its own paths by API Gateway, and the app's permission
table applies to every request either way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from mangum import Mangum

from gateway.api.app import create_app
from gateway.bootstrap import Container, build_lambda, wired
from gateway.bulk.chunks import BULK_QUEUE, parse_chunk
from gateway.bulk.consumer import handle_chunk
from gateway.config import load_settings
from gateway.errors import InvalidInput
from gateway.logs import configure_logging, correlation_id

log = logging.getLogger("wecare.lambda")


@lru_cache(maxsize=1)
def container() -> Container:
    settings = load_settings("lambda")
    configure_logging(settings.LOG_LEVEL)
    return build_lambda(settings)


@lru_cache(maxsize=1)
def _http() -> Mangum:
    return Mangum(create_app(container()), lifespan="off")


def _with_request_id(context: Any) -> Any:
    return correlation_id.set(str(getattr(context, "aws_request_id", "")))


def http_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway / function URL events for every HTTP function (auth, contacts, outbound, bulk, AI)."""
    token = _with_request_id(context)
    try:
        return _http()(dict(event), context)
    finally:
        correlation_id.reset(token)


def inbound_whatsapp_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """inbound-whatsapp-handler: the SNS subscription of the EUM Social event destination.

    Bad records go to inbound-dlq and the rest of the batch proceeds; it raises only when the DLQ
    itself cannot take a record, so SNS retries instead of the event being lost.
    """
    token = _with_request_id(context)
    try:
        result = wired(container().inbound, "inbound").handle_sns_event(event)
        summary: dict[str, Any] = {k: v for k, v in vars(result).items() if k != "errors"}
        log.info("inbound batch processed", extra={"result": summary})
        return summary
    finally:
        correlation_id.reset(token)


def bulk_worker_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """bulk-worker: the SQS event source of ``bulk-queue`` (``ReportBatchItemFailures``).

    Each record's chunk runs :func:`~gateway.bulk.consumer.handle_chunk`, exactly as the embedded
    consumer runs it (recipients handed back are re-queued on ``bulk-queue`` with their delay). A
    record that raises (the store is down; or its body is not a chunk) is reported in
    ``batchItemFailures`` and the rest of the batch proceeds: SQS redelivers only those records, and
    the queue's redrive policy moves one that keeps failing to ``bulk-dlq``.
    """
    token = _with_request_id(context)
    try:
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
    finally:
        correlation_id.reset(token)


def ai_generate_response_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """ai-generate-response: the SQS event source of ``ai-queue`` (``ReportBatchItemFailures``).

    The inbound handler only queues a stored message's id; the suggestion is made here, so a slow or
    failing model never touches the inbound path. A record that raises is redelivered by SQS.
    """
    token = _with_request_id(context)
    try:
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
    finally:
        correlation_id.reset(token)


def ai_query_kb_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """ai-query-kb: ``{"messageId": ...}`` or ``{"contactId": ...}`` → a suggestion made now (on demand)."""
    token = _with_request_id(context)
    try:
        service = wired(container().ai, "ai")
        message_id, contact_id = event.get("messageId"), event.get("contactId")
        item = service.suggest(
            actor="lambda:ai-query-kb",
            message_id=str(message_id) if message_id else None,
            contact_id=str(contact_id) if contact_id else None,
        )
        return {"suggestion": item}
    finally:
        correlation_id.reset(token)


def dlq_replay_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """dlq-replay: ``{"queue": "inbound-dlq", "max": 10}`` (max 1 to 100)."""
    token = _with_request_id(context)
    try:
        queue = str(event.get("queue", "inbound-dlq"))
        max_messages = event.get("max", 10)
        if isinstance(max_messages, bool) or not isinstance(max_messages, int):
            raise ValueError("'max' must be a whole number from 1 to 100")
        report = wired(container().dlq, "dlq").replay(queue, max_messages, actor="lambda:dlq-replay")
        out: dict[str, Any] = report.to_dict()
        return out
    finally:
        correlation_id.reset(token)


def send_recovery_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """On a schedule (e.g. every 5 minutes): messages stuck in ``sending`` become ``unknown``, with an
    alert; they are never resent automatically."""
    token = _with_request_id(context)
    try:
        report = wired(container().recovery, "recovery").run()
        return {"markedUnknown": list(report.marked_unknown)}
    finally:
        correlation_id.reset(token)
