"""Recipients whose sends succeeded, recorded ``sent`` a few at a time rather than one by one.

Recording a recipient is a transaction of two writes (the recipient, its job's counters). Recorded
together, up to :data:`~gateway.bulk.recipients.MAX_MOVES_PER_TRANSACTION` recipients cost one
transaction and one write of the job's item (the hottest item of a running job) instead of one each.
A batch is written when it is full, when its oldest send is ``max_age`` old (checked before each
next send), and when the chunk ends, however it ends; so progress lags by about ``max_age``, and the
job is never settled with a sent recipient unrecorded.

Nothing can be lost by the wait: the message each send recorded is already stored as sent. A worker
that dies with a batch in hand leaves those recipients ``sending``; they are taken over when their
claim turns stale and resolved from their stored messages (a replay, never a second send), as a
recipient left ``sending`` by any crash is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from gateway.bulk.recipients import MAX_MOVES_PER_TRANSACTION, Move, RecipientStore
from gateway.store.conditions import eq

log = logging.getLogger("wecare.bulk.worker")


class SentBatch:
    def __init__(
        self,
        recipients: RecipientStore,
        job_id: str,
        *,
        max_age: float,
        size: int = MAX_MOVES_PER_TRANSACTION,
    ) -> None:
        if not 1 <= size <= MAX_MOVES_PER_TRANSACTION:
            raise ValueError(f"a batch holds 1..{MAX_MOVES_PER_TRANSACTION} recipients, got {size}")
        self._recipients = recipients
        self._job_id = job_id
        self._max_age = max_age
        self._size = size
        self._moves: list[Move] = []
        self._since = 0.0

    def __len__(self) -> int:
        return len(self._moves)

    def add(self, recipient_id: str, claimed_at: Any, fields: Mapping[str, Any]) -> None:
        """A sent recipient, still ``sending`` under the claim made at ``claimed_at``."""
        if not self._moves:
            self._since = time.monotonic()
        self._moves.append(Move(recipient_id, dict(fields), eq("claimedAt", claimed_at)))
        if len(self._moves) >= self._size or self._max_age <= 0:
            self.flush()

    def due(self) -> bool:
        return bool(self._moves) and time.monotonic() - self._since >= self._max_age

    def flush(self) -> None:
        moves, self._moves = self._moves, []
        if not moves:
            return
        for move, moved in zip(
            moves, self._recipients.move_all(self._job_id, "sending", "sent", moves), strict=True
        ):
            if moved is None:
                log.warning(
                    "bulk recipient changed hands before its result was recorded",
                    extra={"jobId": self._job_id, "recipientId": move.recipient_id, "status": "sent"},
                )
