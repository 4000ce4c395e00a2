"""In-memory ``Queue`` fake; passes the same contract suite as the local and SQS adapters."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.clock import Clock, SystemClock
from gateway.queue.port import (
    MAX_BATCH,
    QUEUE_NAMES,
    OutgoingMessage,
    ReceiptInvalid,
    ReceivedMessage,
    RedrivePolicy,
)

DEFAULT_REDRIVE: dict[str, RedrivePolicy] = {"bulk-queue": RedrivePolicy("bulk-dlq", 5)}


@dataclass
class _Stored:
    message_id: str
    body: str
    attributes: dict[str, str]
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class MemoryQueue:
    def __init__(
        self,
        name: str,
        broker: MemoryQueues,
        clock: Clock,
        visibility_timeout: float,
        redrive: RedrivePolicy | None,
    ) -> None:
        self._name = name
        self._broker = broker
        self._clock = clock
        self._visibility = visibility_timeout
        self._redrive = redrive
        self._messages: dict[str, _Stored] = {}

    @property
    def name(self) -> str:
        return self._name

    def _enqueue(self, msg: _Stored) -> None:
        self._messages[msg.message_id] = msg

    def send(self, body: str, *, attributes: Mapping[str, str] | None = None, delay_seconds: int = 0) -> str:
        with self._broker.lock:
            now = self._clock.now()
            mid = str(uuid.uuid4())
            self._enqueue(_Stored(mid, body, dict(attributes or {}), now, now + delay_seconds))
            return mid

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        if not 1 <= len(messages) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} messages, got {len(messages)}")
        with self._broker.lock:
            return [
                self.send(m.body, attributes=m.attributes, delay_seconds=m.delay_seconds) for m in messages
            ]

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None, wait_seconds: float = 0
    ) -> list[ReceivedMessage]:
        if not 1 <= max_messages <= MAX_BATCH:
            raise ValueError(f"max_messages must be 1 to {MAX_BATCH}")
        timeout = self._visibility if visibility_timeout is None else visibility_timeout
        out: list[ReceivedMessage] = []
        with self._broker.lock:
            now = self._clock.now()
            for msg in sorted(self._messages.values(), key=lambda m: m.sent_at):
                if len(out) >= max_messages:
                    break
                if msg.visible_at > now:
                    continue
                if self._redrive is not None and msg.receive_count >= self._redrive.max_receive_count:
                    del self._messages[msg.message_id]
                    dlq = self._broker[self._redrive.dead_letter_queue]
                    msg.visible_at, msg.receipt = now, None
                    dlq._enqueue(msg)
                    continue
                msg.receive_count += 1
                msg.receipt = f"{msg.message_id}:{uuid.uuid4()}"
                msg.visible_at = now + timeout
                out.append(
                    ReceivedMessage(
                        msg.message_id,
                        msg.body,
                        msg.receipt,
                        msg.receive_count,
                        dict(msg.attributes),
                        msg.sent_at,
                    )
                )
        return out

    def _by_receipt(self, receipt_handle: str) -> _Stored:
        mid = receipt_handle.split(":", 1)[0]
        msg = self._messages.get(mid)
        if msg is None or msg.receipt != receipt_handle:
            raise ReceiptInvalid(f"{self._name}: receipt handle is no longer valid")
        return msg

    def delete(self, receipt_handle: str) -> None:
        with self._broker.lock:
            msg = self._by_receipt(receipt_handle)
            del self._messages[msg.message_id]

    def change_visibility(self, receipt_handle: str, timeout: float) -> None:
        with self._broker.lock:
            msg = self._by_receipt(receipt_handle)
            msg.visible_at = self._clock.now() + timeout

    def approximate_count(self) -> int:
        with self._broker.lock:
            return len(self._messages)


class MemoryQueues:
    def __init__(
        self,
        clock: Clock | None = None,
        visibility_timeout: float = 30.0,
        redrive: Mapping[str, RedrivePolicy] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        clk = clock or SystemClock()
        policies = DEFAULT_REDRIVE if redrive is None else redrive
        self._queues = {
            n: MemoryQueue(n, self, clk, visibility_timeout, policies.get(n)) for n in QUEUE_NAMES
        }

    def __getitem__(self, name: str) -> MemoryQueue:
        return self._queues[name]

    def close(self) -> None:
        return None
