"""Chunking recipients into ``bulk-queue`` message bodies: ``{"jobId", "recipientIds": [...]}``.

Streaming: an iterator of recipient ids in, one chunk at a time out; at most one chunk (100 ids) is
held in memory, whatever the job's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidInput

CHUNK_SIZE = 100
BULK_QUEUE = "bulk-queue"
BULK_DLQ = "bulk-dlq"


@dataclass(frozen=True)
class Chunk:
    job_id: str
    recipient_ids: tuple[str, ...]

    def body(self) -> str:
        return json.dumps(
            {"jobId": self.job_id, "recipientIds": list(self.recipient_ids)}, separators=(",", ":")
        )


def chunks(job_id: str, recipient_ids: Iterable[str], size: int = CHUNK_SIZE) -> Iterator[Chunk]:
    """Chunks of exactly ``size`` ids (the last may be smaller; none is empty)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    batch: list[str] = []
    for recipient_id in recipient_ids:
        batch.append(recipient_id)
        if len(batch) == size:
            yield Chunk(job_id, tuple(batch))
            batch = []
    if batch:
        yield Chunk(job_id, tuple(batch))


def parse_chunk(body: str | Mapping[str, Any]) -> Chunk:
    """A queue body back as a :class:`Chunk`; InvalidInput when it is not one."""
    doc: Any = body
    if isinstance(body, str):
        try:
            doc = json.loads(body)
        except ValueError:
            raise InvalidInput("a bulk chunk must be a JSON object", code="BULK_CHUNK_INVALID") from None
    if not isinstance(doc, Mapping):
        raise InvalidInput("a bulk chunk must be a JSON object", code="BULK_CHUNK_INVALID")
    job_id, ids = doc.get("jobId"), doc.get("recipientIds")
    if (
        not isinstance(job_id, str)
        or not job_id
        or not isinstance(ids, list)
        or not all(isinstance(i, str) and i for i in ids)
    ):
        raise InvalidInput("a bulk chunk needs jobId and recipientIds (strings)", code="BULK_CHUNK_INVALID")
    return Chunk(job_id, tuple(ids))
