"""Between ``bulk-queue`` and the worker: one received chunk processed, its unsent rest re-queued.

:func:`handle_chunk` is the whole consumer step, shared by the embedded worker threads, the
``bulk-worker`` Lambda (per SQS record) and the ``bulk-dlq`` replay handler, so a replayed chunk runs
exactly the code the original delivery ran. Re-queued recipients go out as new chunk messages (never
more than 100 ids each) with the worker's delay, capped at SQS's 15 minutes; the caller deletes the
original message only after this returns, so a crash in between redelivers it (harmless: claims
dedupe).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from gateway.bulk.chunks import chunks, parse_chunk
from gateway.bulk.worker import BulkWorker, ChunkResult
from gateway.queue.port import MAX_BATCH, OutgoingMessage, Queue

MAX_DELAY_SECONDS = 900


def requeue(queue: Queue, job_id: str, recipient_ids: list[str], delay: float) -> int:
    """Enqueue ``recipient_ids`` again as chunks after ``delay`` seconds; returns the messages sent."""
    seconds = min(MAX_DELAY_SECONDS, max(0, math.ceil(delay)))
    batch: list[OutgoingMessage] = []
    sent = 0
    for chunk in chunks(job_id, recipient_ids):
        batch.append(OutgoingMessage(chunk.body(), delay_seconds=seconds))
        if len(batch) == MAX_BATCH:
            sent += len(queue.send_batch(batch))
            batch = []
    if batch:
        sent += len(queue.send_batch(batch))
    return sent


def handle_chunk(worker: BulkWorker, queue: Queue, body: str | Mapping[str, Any]) -> ChunkResult:
    """Process one chunk and re-queue whatever it hands back (see :class:`ChunkResult`)."""
    chunk = parse_chunk(body)
    result = worker.process_chunk(body)
    if result.retry:
        # Keep the chunk's order, drop repeats (a recipient can be handed back once per reason).
        wanted = set(result.retry)
        ordered = list(dict.fromkeys(r for r in chunk.recipient_ids if r in wanted))
        requeue(queue, chunk.job_id, ordered, result.retry_delay)
    return result


def poll_once(
    worker: BulkWorker,
    queue: Queue,
    *,
    max_messages: int = 1,
    visibility_timeout: float = 300.0,
    wait_seconds: float = 0,
) -> int:
    """One receive from ``bulk-queue``: each chunk handled, then deleted; returns chunks handled.

    A chunk whose handling raises is left alone: it comes back after its visibility timeout and, after
    the queue's ``max_receive_count``, moves to ``bulk-dlq``. Give the worker a ``deadline_seconds``
    well below ``visibility_timeout`` so a chunk is handed back before it could be delivered again.
    """
    handled = 0
    messages = queue.receive(max_messages, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds)
    for message in messages:
        handle_chunk(worker, queue, message.body)
        queue.delete(message.receipt_handle)
        handled += 1
    return handled


def dead_letter_handler(worker: BulkWorker, queue: Queue) -> Callable[[str], None]:
    """The ``bulk-dlq`` replay handler: the dead chunk through :func:`handle_chunk`, as if redelivered.

    Its recipients already final are skipped by their claims; the rest are sent (or handed back and
    re-queued on ``bulk-queue``), so a replay resumes exactly the unsent recipients.
    """

    def replay(payload: str) -> None:
        handle_chunk(worker, queue, payload)

    return replay
