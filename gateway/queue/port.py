"""The ``Queue`` port: SQS-shaped, at-least-once delivery with visibility timeouts and redrive.

Adapters: the durable local queue (SQLite, embedded default), SQS (AWS) and the in-memory fake.
A message received and not deleted becomes visible again after its visibility timeout; after
``max_receive_count`` receives it moves to the queue's dead-letter queue instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

QUEUE_NAMES: tuple[str, ...] = ("bulk-queue", "bulk-dlq", "inbound-dlq", "outbound-dlq", "ai-queue")
MAX_BATCH = 10


class QueueError(Exception):
    """Base of every queue failure."""


class QueueUnavailable(QueueError):
    pass


class ReceiptInvalid(QueueError):
    """The receipt handle is stale (the message was received again, deleted, or moved)."""


@dataclass(frozen=True)
class OutgoingMessage:
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    delay_seconds: int = 0


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    body: str
    receipt_handle: str
    receive_count: int
    attributes: Mapping[str, str] = field(default_factory=dict)
    sent_at: float = 0.0


@dataclass(frozen=True)
class RedrivePolicy:
    dead_letter_queue: str
    max_receive_count: int


class Queue(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, body: str, *, attributes: Mapping[str, str] | None = None, delay_seconds: int = 0) -> str:
        """Enqueue one message durably; returns its id."""

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Enqueue up to 10 messages; all or nothing."""

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None, wait_seconds: float = 0
    ) -> list[ReceivedMessage]:
        """Up to ``max_messages`` (≤ 10) visible messages, hidden for the visibility timeout."""

    def delete(self, receipt_handle: str) -> None: ...

    def change_visibility(self, receipt_handle: str, timeout: float) -> None: ...

    def approximate_count(self) -> int:
        """Messages in the queue, visible or in flight."""


class Queues(Protocol):
    def __getitem__(self, name: str) -> Queue: ...

    def close(self) -> None: ...
