"""The durable local queue (embedded default): SQS semantics on a SQLite file (``<data-dir>/queues.db``).

At-least-once delivery: a received message is hidden for its visibility timeout and comes back if
it is not deleted in time — including when the worker holding it is killed, since nothing but the
row's ``visible_at`` marks it in flight. After ``max_receive_count`` receives, the next receive moves
it to the queue's dead-letter queue instead (``bulk-queue`` → ``bulk-dlq`` after 5), as SQS does.

Every receive runs in ``BEGIN IMMEDIATE`` (see :mod:`gateway.store.sqlitedb`), so two consumers —
threads or processes — never get the same message at the same time. An idle poll reads first and
takes the write lock only when something is visible.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from gateway.clock import Clock
from gateway.queue.memory import DEFAULT_REDRIVE
from gateway.queue.port import (
    MAX_BATCH,
    QUEUE_NAMES,
    OutgoingMessage,
    QueueUnavailable,
    ReceiptInvalid,
    ReceivedMessage,
    RedrivePolicy,
)
from gateway.store.sqlitedb import DEFAULT_BUSY_TIMEOUT, SqliteDatabase

DEFAULT_FILE_NAME = "queues.db"
MAX_DELAY_SECONDS = 900  # SQS's limit, kept so code written here also works on SQS
MAX_VISIBILITY_TIMEOUT = 43_200
MAX_BODY_BYTES = 262_144

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS queue_messages (
        seq INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        attributes TEXT NOT NULL,
        sent_at REAL NOT NULL,
        visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at, seq)",
)
_INSERT = (
    "INSERT INTO queue_messages (queue, message_id, body, attributes, sent_at, visible_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_ANY_VISIBLE = "SELECT 1 FROM queue_messages WHERE queue = ? AND visible_at <= ? LIMIT 1"
_VISIBLE = (
    "SELECT seq, message_id, body, attributes, sent_at, receive_count FROM queue_messages "
    "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?"
)
_TAKE = "UPDATE queue_messages SET receive_count = ?, receipt = ?, visible_at = ? WHERE seq = ?"
_MOVE = "UPDATE queue_messages SET queue = ?, visible_at = ?, receipt = NULL WHERE seq = ?"
_DELETE = "DELETE FROM queue_messages WHERE seq = ? AND receipt = ? AND queue = ?"
_CHANGE = "UPDATE queue_messages SET visible_at = ? WHERE seq = ? AND receipt = ? AND queue = ?"
_COUNT = "SELECT count(*) FROM queue_messages WHERE queue = ?"


def _check_message(body: str, attributes: Mapping[str, str] | None, delay_seconds: int) -> str:
    if not isinstance(body, str) or not body:
        raise ValueError("a message body must be a non-empty string")
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise ValueError(f"a message body is at most {MAX_BODY_BYTES} bytes")
    attrs = dict(attributes or {})
    for k, v in attrs.items():
        if not isinstance(k, str) or not isinstance(v, str) or not k:
            raise ValueError(f"message attributes map names to strings, got {k!r}: {v!r}")
    if (
        isinstance(delay_seconds, bool)
        or not isinstance(delay_seconds, int)
        or not (0 <= delay_seconds <= MAX_DELAY_SECONDS)
    ):
        raise ValueError(f"delay_seconds must be a whole number from 0 to {MAX_DELAY_SECONDS}")
    return json.dumps(attrs, separators=(",", ":"), ensure_ascii=False)


class LocalQueue:
    """One named queue in the shared queue file."""

    def __init__(
        self,
        name: str,
        db: SqliteDatabase,
        clock: Clock,
        *,
        visibility_timeout: float,
        redrive: RedrivePolicy | None,
        poll_interval: float,
    ) -> None:
        self._name = name
        self._db = db
        self._clock = clock
        self._visibility = visibility_timeout
        self._redrive = redrive
        self._poll = poll_interval

    @property
    def name(self) -> str:
        return self._name

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._db.error(exc) from None

    def send(self, body: str, *, attributes: Mapping[str, str] | None = None, delay_seconds: int = 0) -> str:
        attrs = _check_message(body, attributes, delay_seconds)
        now = self._clock.now()
        mid = str(uuid.uuid4())
        with self._errors():
            self._db.connection().execute(_INSERT, (self._name, mid, body, attrs, now, now + delay_seconds))
        return mid

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        if not 1 <= len(messages) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} messages, got {len(messages)}")
        now = self._clock.now()
        rows = []
        for m in messages:
            attrs = _check_message(m.body, m.attributes, m.delay_seconds)
            rows.append((self._name, str(uuid.uuid4()), m.body, attrs, now, now + m.delay_seconds))
        with self._errors(), self._db.transaction() as conn:
            conn.executemany(_INSERT, rows)
        return [r[1] for r in rows]

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None, wait_seconds: float = 0
    ) -> list[ReceivedMessage]:
        if isinstance(max_messages, bool) or not 1 <= max_messages <= MAX_BATCH:
            raise ValueError(f"max_messages must be 1 to {MAX_BATCH}")
        timeout = self._visibility if visibility_timeout is None else visibility_timeout
        if not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"visibility_timeout must be 0 to {MAX_VISIBILITY_TIMEOUT} seconds")
        deadline = self._clock.now() + max(0.0, wait_seconds)
        while True:
            got = self._receive_once(max_messages, timeout)
            now = self._clock.now()
            if got or now >= deadline:
                return got
            self._clock.sleep(min(self._poll, deadline - now))

    def _receive_once(self, wanted: int, timeout: float) -> list[ReceivedMessage]:
        out: list[ReceivedMessage] = []
        with self._errors():
            now = self._clock.now()
            if self._db.connection().execute(_ANY_VISIBLE, (self._name, now)).fetchone() is None:
                return out
            with self._db.transaction() as conn:
                seen: set[int] = set()  # a zero visibility timeout leaves taken messages visible
                while len(out) < wanted:
                    rows = conn.execute(_VISIBLE, (self._name, now, wanted - len(out) + len(seen))).fetchall()
                    taken, moved = [], []
                    for seq, mid, body, attrs, sent_at, count in rows:
                        if seq in seen:
                            continue
                        seen.add(seq)
                        policy = self._redrive
                        if policy is not None and count >= policy.max_receive_count:
                            moved.append((policy.dead_letter_queue, now, seq))
                            continue
                        receipt = f"{seq}:{secrets.token_hex(8)}"
                        taken.append((count + 1, receipt, now + timeout, seq))
                        out.append(ReceivedMessage(mid, body, receipt, count + 1, json.loads(attrs), sent_at))
                    if moved:
                        conn.executemany(_MOVE, moved)
                    if taken:
                        conn.executemany(_TAKE, taken)
                    if not moved:
                        break  # only moves to a dead-letter queue leave room for more
        return out

    def _receipt(self, receipt_handle: str) -> tuple[int, str]:
        seq, sep, _ = receipt_handle.partition(":") if isinstance(receipt_handle, str) else ("", "", "")
        if not sep or not seq.isdigit():
            raise ReceiptInvalid(f"{self._name}: {receipt_handle!r} is not a receipt handle of this queue")
        return int(seq), receipt_handle

    def delete(self, receipt_handle: str) -> None:
        seq, receipt = self._receipt(receipt_handle)
        with self._errors():
            cur = self._db.connection().execute(_DELETE, (seq, receipt, self._name))
        if cur.rowcount == 0:
            raise ReceiptInvalid(
                f"{self._name}: receipt handle is no longer valid (the message was received again, deleted "
                "or moved to its dead-letter queue)"
            )

    def change_visibility(self, receipt_handle: str, timeout: float) -> None:
        if not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"timeout must be 0 to {MAX_VISIBILITY_TIMEOUT} seconds")
        seq, receipt = self._receipt(receipt_handle)
        with self._errors():
            visible_at = self._clock.now() + timeout
            cur = self._db.connection().execute(_CHANGE, (visible_at, seq, receipt, self._name))
        if cur.rowcount == 0:
            raise ReceiptInvalid(f"{self._name}: receipt handle is no longer valid")

    def approximate_count(self) -> int:
        with self._errors():
            row = self._db.connection().execute(_COUNT, (self._name,)).fetchone()
        return int(row[0])


class LocalQueues:
    """The four queues in one SQLite file; ``path`` is the file (an existing directory means its queues.db).

    ``redrive`` maps a queue to its dead-letter policy (default: bulk-queue → bulk-dlq after 5
    receives). ``receive(wait_seconds=…)`` polls every ``poll_interval`` seconds of ``clock`` time.
    """

    def __init__(
        self,
        path: Path,
        clock: Clock,
        visibility_timeout: float = 30,
        redrive: Mapping[str, RedrivePolicy] | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        poll_interval: float = 0.05,
        integrity_check: bool = True,
    ) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / DEFAULT_FILE_NAME
        policies = DEFAULT_REDRIVE if redrive is None else dict(redrive)
        for source, policy in policies.items():
            if source not in QUEUE_NAMES or policy.dead_letter_queue not in QUEUE_NAMES:
                raise ValueError(f"redrive {source!r} → {policy.dead_letter_queue!r}: unknown queue")
            if policy.max_receive_count < 1:
                raise ValueError(f"redrive {source!r}: max_receive_count must be at least 1")
        if not 0 <= visibility_timeout <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"visibility_timeout must be 0 to {MAX_VISIBILITY_TIMEOUT} seconds")
        self.path = path
        self._db = SqliteDatabase(
            path,
            unavailable=QueueUnavailable,
            busy_timeout=busy_timeout,
            integrity_check=integrity_check,
            schema=_SCHEMA,
        )
        self._queues = {
            n: LocalQueue(
                n,
                self._db,
                clock,
                visibility_timeout=visibility_timeout,
                redrive=policies.get(n),
                poll_interval=poll_interval,
            )
            for n in QUEUE_NAMES
        }

    def __getitem__(self, name: str) -> LocalQueue:
        try:
            return self._queues[name]
        except KeyError:
            raise KeyError(f"no queue {name!r}; the queues are {list(self._queues)}") from None

    def close(self) -> None:
        self._db.close()
