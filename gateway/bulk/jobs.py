"""The bulk job record (``BulkJobs``) and its state machine.

States and the only moves between them (:data:`TRANSITIONS`)::

    scheduled ─► pending ─► running ─► completed
        │           │  ▲       │  ▲
        │           │  └─ paused ◄┘ (resume → running)
        └──────► cancelling ◄─────┘ ─► cancelled            any non-terminal ─► failed

``completed``, ``cancelled`` and ``failed`` are terminal. Every move is a conditional update on the
status the mover read (``status = <current>``), so of two controllers racing (pause vs cancel, two
workers finishing) exactly one wins; the loser re-reads and either finds its move still valid from the
new state (it retries) or gets :class:`~gateway.errors.Conflict` with ``details={"status": current}``.

Counters: the recipients are the truth, the job's ``<status>Count`` attributes their tally. Each
recipient move is a conditional write on that recipient (``status = from``) and one atomic ``add``
``{fromCount: -1, toCount: +1}`` on the job (:meth:`JobStore.count_write`), **in one transaction**
(SQLite: one transaction; DynamoDB: ``TransactWriteItems``; memory: one lock): a reader never sees a
counter that differs from the recipients, and a crash cannot separate the two. An adapter without
transactions falls back to the two writes one after the other (:meth:`JobStore.count_move`), where a
reader can see a counter one move behind and a process killed between them leaves one move uncounted;
:meth:`JobStore.reconcile` recounts from the recipients and *sets* the counters — when a job reaches a
terminal state, and for a job left idle with counters that say it is not done
(``BulkService.settle_idle``). A recount is one paged query of the job's recipient partition (1,000
items a page); reads use the counters, so a progress poll never pays for one.

On DynamoDB the job item is one partition: every recipient move adds to it, so a job's throughput is
bounded by one item's write capacity (about 1,000 writes a second, i.e. ~500 recipient moves a
second at two moves per recipient), well above the paced channel rates (WhatsApp 80/s a number).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.clock import Clock
from gateway.errors import Conflict, NotFound
from gateway.store.conditions import eq, not_exists
from gateway.store.port import ConditionFailed, Item, Table, Tables, Update, Write

log = logging.getLogger("wecare.bulk.jobs")

JobStatus = Literal[
    "scheduled", "pending", "running", "paused", "cancelling", "cancelled", "completed", "failed"
]
JOB_STATUSES: tuple[JobStatus, ...] = (
    "scheduled",
    "pending",
    "running",
    "paused",
    "cancelling",
    "cancelled",
    "completed",
    "failed",
)
TERMINAL: frozenset[str] = frozenset({"cancelled", "completed", "failed"})

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "scheduled": frozenset({"pending", "cancelling", "failed"}),
    "pending": frozenset({"running", "paused", "cancelling", "failed"}),
    "running": frozenset({"paused", "cancelling", "completed", "failed"}),
    "paused": frozenset({"running", "cancelling", "failed"}),
    "cancelling": frozenset({"cancelled", "failed"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
    "failed": frozenset(),
}

# Recipient states, each with its counter attribute on the job item.
RecipientStatus = Literal[
    "pending", "sending", "sent", "failed", "rejected", "deferred", "cancelled", "unknown"
]
RECIPIENT_STATUSES: tuple[RecipientStatus, ...] = (
    "pending",
    "sending",
    "sent",
    "failed",
    "rejected",
    "deferred",
    "cancelled",
    "unknown",
)
# The public ``counts`` keys (the API contract) first; ``sending`` and ``unknown`` extend it.
COUNT_KEYS: tuple[str, ...] = (
    "sent",
    "failed",
    "rejected",
    "pending",
    "cancelled",
    "deferred",
    "sending",
    "unknown",
)


def counter(status: str) -> str:
    """The job attribute that counts recipients in ``status`` (``sentCount``, ``pendingCount``…)."""
    return f"{status}Count"


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Job:
    """A read view of one ``BulkJobs`` item."""

    item: Mapping[str, Any]

    @property
    def job_id(self) -> str:
        return str(self.item["jobId"])

    @property
    def status(self) -> str:
        return str(self.item.get("status", ""))

    @property
    def channel(self) -> str:
        return str(self.item.get("channel", ""))

    @property
    def total(self) -> int:
        return int(self.item.get("totalRecipients", 0))

    @property
    def ended_at(self) -> float | None:
        """When the job reached its terminal state (``completedAt``, ``cancelledAt`` or ``failedAt``)."""
        for status in ("completed", "cancelled", "failed"):
            at = self.item.get(f"{status}At")
            if at:
                return float(at)
        return None

    def counts(self) -> dict[str, int]:
        return {key: int(self.item.get(counter(key), 0)) for key in COUNT_KEYS}

    def view(self) -> dict[str, Any]:
        """The job as the API shows it: the item without ``content`` internals, plus ``counts``."""
        doc = {k: v for k, v in self.item.items() if not k.endswith("Count") and k != "createAttempt"}
        doc["counts"] = self.counts()
        doc["totalRecipients"] = self.total
        return doc


def progress(job: Job, now: float) -> dict[str, float | None]:
    """Rate and ETA (8.6) from the counters: recipients finished per second since the job started, and
    the seconds the rest would take at that rate (None until there is a rate, or when nothing is left)."""
    counts = job.counts()
    started = job.item.get("runningAt")
    ended = job.ended_at
    finished = job.total - counts["pending"] - counts["sending"] - counts["deferred"]
    if started is None:
        return {"elapsedSeconds": None, "ratePerSecond": None, "etaSeconds": None}
    elapsed = max(0.0, float(ended if ended is not None else now) - float(started))
    rate = finished / elapsed if elapsed > 0 and finished > 0 else None
    left = counts["pending"] + counts["sending"]
    eta = None if rate is None or job.status in TERMINAL or left == 0 else left / rate
    return {
        "elapsedSeconds": round(elapsed, 3),
        "ratePerSecond": round(rate, 3) if rate is not None else None,
        "etaSeconds": round(eta, 1) if eta is not None else None,
    }


class JobStore:
    """Reads and conditional writes of ``BulkJobs``; the only writer of a job's status and counters."""

    def __init__(
        self, tables: Tables, clock: Clock, *, on_end: Callable[[str], object] | None = None
    ) -> None:
        self._jobs: Table = tables["BulkJobs"]
        self._recipients: Table = tables["BulkRecipients"]
        self._clock = clock
        # Called with the job id once a job reaches a terminal state (the tier reservation is released).
        self._on_end = on_end

    def get(self, job_id: str) -> Job | None:
        item = self._jobs.get({"jobId": job_id})
        return Job(item) if item is not None else None

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"no bulk job {job_id}", code="BULK_JOB_NOT_FOUND", details={"jobId": job_id})
        return job

    def create(self, item: Item) -> bool:
        """Write a new job (must not exist); False when it already does (an idempotent repeat)."""
        try:
            self._jobs.put(item, condition=not_exists("jobId"))
        except ConditionFailed:
            return False
        return True

    def transition(
        self,
        job_id: str,
        target: str,
        *,
        expect: Iterable[str] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Job:
        """Move the job to ``target`` by a conditional update on its current status.

        ``expect`` narrows the states the caller accepts moving from (e.g. a worker moves only
        ``pending → running``). Raises Conflict naming the current state when the move is not allowed.
        """
        allowed = set(expect) if expect is not None else None
        for _ in range(8):
            job = self.require(job_id)
            current = job.status
            if not can_move(current, target) or (allowed is not None and current not in allowed):
                raise Conflict(
                    f"bulk job {job_id} is {current}; it cannot become {target}",
                    code="INVALID_JOB_TRANSITION",
                    details={"status": current, "target": target},
                )
            now = self._clock.now()
            changes: dict[str, Any] = {"status": target, "updatedAt": now, f"{target}At": now}
            changes.update(fields or {})
            try:
                item = self._jobs.update(
                    {"jobId": job_id}, Update(set=changes), condition=eq("status", current)
                )
            except ConditionFailed:
                continue  # someone moved it meanwhile: re-read and re-judge
            if target in TERMINAL and self._on_end is not None:
                self._ended(job_id)
            return Job(item)
        raise Conflict(
            f"bulk job {job_id} keeps changing; try again",
            code="INVALID_JOB_TRANSITION",
            details={"status": self.require(job_id).status, "target": target},
        )

    def _ended(self, job_id: str) -> None:
        assert self._on_end is not None
        try:
            self._on_end(job_id)
        except Exception:
            # The job has ended regardless; an unreleased reservation lapses on its own after 24 h.
            log.exception("could not release what an ended bulk job held", extra={"jobId": job_id})

    def count_write(self, job_id: str, source: str, target: str, n: int = 1) -> Write:
        """The counter half of a recipient move (``source != target``), as a write of the mover's
        transaction."""
        if source == target:
            raise ValueError("a move within one status changes no counter")
        return Write(
            "BulkJobs",
            {"jobId": job_id},
            Update(add={counter(source): -n, counter(target): n}, set={"updatedAt": self._clock.now()}),
            eq("jobId", job_id),
        )

    def count_move(self, job_id: str, source: str, target: str, n: int = 1) -> None:
        """The counter half of a recipient move (see the module docstring)."""
        if source == target or n == 0:
            return
        self._jobs.update(
            {"jobId": job_id},
            Update(add={counter(source): -n, counter(target): n}, set={"updatedAt": self._clock.now()}),
            condition=eq("jobId", job_id),
        )

    def tally(self, job_id: str) -> dict[str, int]:
        """Recipients by status, counted from ``BulkRecipients`` (one paged query)."""
        counts: dict[str, int] = dict.fromkeys(RECIPIENT_STATUSES, 0)
        cursor: str | None = None
        while True:
            page = self._recipients.query(job_id, limit=1000, cursor=cursor)
            for item in page.items:
                status = str(item.get("status", "pending"))
                counts[status] = counts.get(status, 0) + 1
            cursor = page.cursor
            if cursor is None:
                return counts

    def reconcile(self, job_id: str) -> Job:
        """Set the counters to the recipients' tally (exact once no recipient moves any more)."""
        started = time.perf_counter()
        counts = self.tally(job_id)
        changes: dict[str, Any] = {counter(s): n for s, n in counts.items()}
        changes["reconciledAt"] = self._clock.now()
        changes["reconcileSeconds"] = round(time.perf_counter() - started, 6)
        item = self._jobs.update({"jobId": job_id}, Update(set=changes), condition=eq("jobId", job_id))
        return Job(item)

    def set_fields(self, job_id: str, fields: Mapping[str, Any]) -> None:
        self._jobs.update({"jobId": job_id}, Update(set=dict(fields)), condition=eq("jobId", job_id))

    def list(
        self, status: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        page = self._jobs.query(status, index="byStatus", limit=limit, cursor=cursor, descending=True)
        return [Job(i) for i in page.items], page.cursor
