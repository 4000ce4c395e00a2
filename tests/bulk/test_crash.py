"""A real bulk worker process killed with SIGKILL mid-chunk, then restarted: every recipient once, none lost.

The test process builds the embedded container over a temp data dir (SQLite store, local queue, DRY_RUN),
creates opted-in SMS contacts and a bulk job through :meth:`BulkService.create`. The worker is
``tests/bulk/crash_worker.py`` in a subprocess: the product's own container, :class:`BulkWorker` and
:func:`poll_once`, nothing reimplemented. What makes a chunk slow is the product's real SMS rate limit
(5/s, from the policy bundle), so a 40-recipient chunk takes about 8 s and a kill lands mid-chunk.

After the kill a second worker process (same script) resumes: the killed worker's chunk comes back after
its visibility timeout, a recipient the dead worker left ``sending`` is taken over once its claim is
older than ``BULK_CLAIM_STALE_SECONDS`` and resolved by a replay of its derived message id.

Sends are counted three ways: the ``Messages`` rows of the job (one per recipient, under the id derived
from (jobId, recipientId, attempt)), the DRY_RUN outbox record stored on each sent row, and the
gateway's own ``DRY_RUN: ... recorded`` log line, which both worker processes write once per driver call.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.bootstrap import Container, build_embedded, wired
from gateway.bulk.jobs import COUNT_KEYS, TERMINAL, Job
from gateway.bulk.recipients import message_id
from gateway.bulk.worker import CLAIM_AHEAD
from gateway.config import load_settings
from gateway.outbound.types import TextContent
from gateway.store.conditions import eq
from gateway.store.port import Item, Table
from tests.bulk.crash_worker import settings_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
N = 40  # at the SMS limit of 5/s: about 8 s of sending
KILL_AFTER_SENT = 10  # about 2 s into the chunk
BOOT_TIMEOUT = 60.0  # a worker process imports and builds its container (slow on a busy machine)
FINISH_TIMEOUT = 60.0
TEXT = TextContent("Your appointment is tomorrow at 10:00. Reply STOP to opt out.")

T = TypeVar("T")


# -- the worker processes ------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        out = self.stdout.read_text(errors="replace") if self.stdout.exists() else ""
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        head = f"--- {self.name} (pid {self.process.pid}, rc {self.process.poll()})"
        return f"{head} stdout:\n{out}\n{head} stderr:\n{err}"

    def stdout_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.read_text().splitlines() if line.strip()]

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.stderr.read_text(errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # a line cut by the kill, or not a log line
            if isinstance(doc, dict):
                lines.append(doc)
        return lines

    def dry_run_sends(self) -> list[str]:
        """The message ids this process's gateway recorded a DRY_RUN driver call for, in order."""
        return [
            str(line["messageId"])
            for line in self.log_lines()
            if str(line.get("message", "")).startswith("DRY_RUN:") and "messageId" in line
        ]


@dataclass
class Workers:
    data_dir: Path
    logs: Path
    job_id: str
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, name: str) -> WorkerProcess:
        stdout, stderr = self.logs / f"{name}.stdout", self.logs / f"{name}.stderr"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.bulk.crash_worker", str(self.data_dir), self.job_id],
                stdout=out,
                stderr=err,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        worker = WorkerProcess(name, process, stdout, stderr)
        self.started.append(worker)
        return worker

    def check_alive(self, worker: WorkerProcess) -> None:
        if worker.process.poll() is not None:
            raise AssertionError(f"{worker.name} exited early\n{worker.output()}")

    def wait_ready(self, worker: WorkerProcess) -> None:
        def ready() -> bool:
            self.check_alive(worker)
            return any(line.get("ready") for line in worker.stdout_lines())

        poll(ready, BOOT_TIMEOUT, f"{worker.name} to start")

    def kill(self, worker: WorkerProcess) -> None:
        os.kill(worker.process.pid, signal.SIGKILL)
        assert worker.process.wait(timeout=30) == -signal.SIGKILL, worker.output()

    def finish(self, worker: WorkerProcess) -> None:
        """Wait for a worker that saw the job terminal to exit by itself, cleanly."""
        try:
            rc = worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{worker.name} did not exit after the job ended\n{worker.output()}"
            ) from None
        assert rc == 0, worker.output()
        assert worker.stdout_lines()[-1]["done"] in TERMINAL, worker.output()

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
                worker.process.wait(timeout=30)

    def output(self) -> str:
        return "\n".join(w.output() for w in self.started)


def poll(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """``predicate()`` once it is truthy; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- the world in the test process ---------------------------------------------------------------------


@dataclass
class World:
    container: Container
    job_id: str
    contact_ids: list[str]

    @property
    def messages(self) -> Table:
        return self.container.tables["Messages"]

    def job(self) -> Job:
        return wired(self.container.bulk, "bulk").jobs.require(self.job_id)

    def tally(self) -> dict[str, int]:
        return wired(self.container.bulk, "bulk").jobs.tally(self.job_id)

    def recipients(self) -> dict[str, Item]:
        items = self.container.tables["BulkRecipients"].query(self.job_id, limit=1000).items
        return {str(i["recipientId"]): i for i in items}

    def job_messages(self) -> list[Item]:
        """Every Messages row of this job (a full scan: nothing can hide under another key)."""
        rows: list[Item] = []
        cursor: str | None = None
        while True:
            page = self.messages.scan(filter=eq("kind", "message"), limit=1000, cursor=cursor)
            rows.extend(r for r in page.items if (r.get("context") or {}).get("bulkJobId") == self.job_id)
            cursor = page.cursor
            if cursor is None:
                return rows

    def messages_of(self, contact_id: str) -> list[Item]:
        """The contact's Messages rows of this job, through the ``byContact`` index."""
        page = self.messages.query(contact_id, index="byContact", limit=1000)
        return [r for r in page.items if (r.get("context") or {}).get("bulkJobId") == self.job_id]

    def in_flight_messages(self) -> list[Item]:
        """This job's Messages rows still ``sending`` (persisted, the driver call not yet recorded)."""
        page = self.messages.query("sending", index="byStatus", limit=1000)
        return [r for r in page.items if (r.get("context") or {}).get("bulkJobId") == self.job_id]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data_dir = tmp_path / "data"
    container = build_embedded(load_settings("embedded", {}, **settings_for(data_dir)))
    try:
        contacts, bulk = wired(container.contacts, "contacts"), wired(container.bulk, "bulk")
        ids = [
            str(
                contacts.create(
                    {"name": f"Crash Test {i}", "phone": f"+447812{i:06d}", "optInSms": True}, actor="test"
                )["contactId"]
            )
            for i in range(N)
        ]
        job, created = bulk.create(actor="test", channel="sms", content=TEXT, contact_ids=ids, name="crash")
        assert created and job.status == "pending" and job.total == N
        yield World(container, job.job_id, ids)
    finally:
        container.close()


@contextlib.contextmanager
def crash_workers(world: World, logs: Path) -> Iterator[Workers]:
    """Worker processes for ``world``'s job; all killed on the way out, their output shown on failure."""
    logs.mkdir(exist_ok=True)
    workers = Workers(world.container.settings.WECARE_DATA_DIR, logs, world.job_id)
    try:
        yield workers
    except BaseException:
        print(workers.output())
        raise
    finally:
        workers.stop_all()


@dataclass(frozen=True)
class AtKill:
    """What the store held right after the first worker died (nothing can move it until the restart)."""

    job: Job
    tally: dict[str, int]
    claimed: dict[str, Item]  # recipients left ``sending``
    stuck: dict[str, Item]  # recipient id -> its message row left ``sending`` (killed inside the send)
    stored: frozenset[str]  # the message ids of the job's Messages rows

    def describe(self) -> str:
        where = (
            "inside the send (message row persisted, its result not)"
            if self.stuck
            else (
                "with a claim but no message row (waiting for a rate-limit token)"
                if self.claimed
                else "between two recipients"
            )
        )
        return f"kill landed {where}: tally {self.tally}"


def kill_mid_chunk(world: World, workers: Workers, *, target_send: bool, kill_after: int) -> AtKill:
    """Start a worker, SIGKILL it mid-chunk, and return the state it left.

    ``target_send``: kill as soon as a message row of the job is ``sending`` (the few milliseconds
    between persisting the message and recording the driver call), once ``kill_after`` are sent;
    otherwise (or if that window is never seen) kill once ``kill_after`` recipients are sent.
    """
    first = workers.start("worker-1")
    workers.wait_ready(first)

    def sent() -> int:
        workers.check_alive(first)
        return world.tally()["sent"]

    poll(lambda: sent() >= kill_after, FINISH_TIMEOUT, f"{kill_after} recipients sent")
    if target_send:
        give_up = min(N - 5, kill_after + 20)
        poll(
            lambda: world.in_flight_messages() or sent() >= give_up, FINISH_TIMEOUT, "a send in flight", 0.002
        )
    workers.kill(first)

    job, tally, recipients = world.job(), world.tally(), world.recipients()
    claimed = {r: i for r, i in recipients.items() if i["status"] == "sending"}
    stuck: dict[str, Item] = {}
    for row in world.in_flight_messages():
        stuck[str(row["context"]["recipientId"])] = row
    stored = frozenset(str(row["messageId"]) for row in world.job_messages())
    at_kill = AtKill(job, tally, claimed, stuck, stored)
    called = set(first.dry_run_sends())
    print(
        at_kill.describe(), *(f"{r}: driver called {row['messageId'] in called}" for r, row in stuck.items())
    )
    # The job was not finished when the worker died: the kill landed mid-chunk.
    assert job.status == "running", job.item
    assert 0 < tally["sent"] < N, tally
    assert tally["sent"] + tally["pending"] + tally["sending"] == N, tally
    # One worker sends one recipient at a time, and holds at most the few it claimed together.
    assert len(claimed) <= CLAIM_AHEAD and len(stuck) <= 1 and set(stuck) <= set(claimed), (claimed, stuck)
    return at_kill


def wait_terminal(world: World, workers: Workers, worker: WorkerProcess) -> Job:
    def ended() -> Job | None:
        job = world.job()
        if job.status in TERMINAL:
            return job
        if worker.process.poll() is not None:
            raise AssertionError(f"{worker.name} exited before the job ended: {job.item}\n{worker.output()}")
        return None

    poll(ended, FINISH_TIMEOUT, "the job to end", 0.05)
    workers.finish(worker)
    last = worker.stdout_lines()[-1]
    print(f"{worker.name}: {last}")
    # A recipient a dead worker holds is looked at again when its claim turns stale, not in a busy
    # loop of re-queues (which once took ~2,000 chunk rounds in two seconds).
    assert last["chunks"] < 50, last
    return world.job()


def assert_sends_counted_once(world: World, workers: Workers) -> tuple[dict[str, Item], Counter[str]]:
    """One Messages row per recipient at most, under its derived id; one DRY_RUN call per row at most."""
    recipients = world.recipients()
    rows = world.job_messages()
    by_id = {str(r["messageId"]): r for r in rows}
    assert len(by_id) == len(rows)
    per_contact = Counter(str(r["contactId"]) for r in rows)
    assert max(per_contact.values(), default=0) <= 1, f"a recipient has two messages: {per_contact}"
    for recipient_id, item in recipients.items():
        assert item["attempt"] == 0 and item["messageId"] == message_id(world.job_id, recipient_id), item
        via_index = world.messages_of(recipient_id)
        assert [r["messageId"] for r in via_index] == (
            [item["messageId"]] if item["messageId"] in by_id else []
        ), (recipient_id, via_index)
    calls = Counter(m for w in workers.started for m in w.dry_run_sends())
    assert all(n == 1 for n in calls.values()), f"a message id went to the driver twice: {calls}"
    assert set(calls) <= set(by_id), set(calls) - set(by_id)
    for mid, row in by_id.items():
        if row["status"] == "sent":
            # Sent: the driver was called (the log line comes before the result is stored) and its
            # DRY_RUN record is kept on the row.
            assert calls[mid] == 1, (mid, row)
            assert row["outbox"]["id"] == row["providerMessageId"], row
        else:
            assert row["status"] == "sending" and "outbox" not in row, row
    return by_id, calls


def assert_counters_match(job: Job, tally: dict[str, int]) -> None:
    assert job.counts() == {k: tally[k] for k in COUNT_KEYS}, (job.counts(), tally)
    assert sum(tally.values()) == N == job.total


# -- the tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_send", [False, True], ids=["mid-chunk", "inside-a-send"])
def test_a_worker_killed_mid_chunk_and_restarted_sends_every_recipient_exactly_once(
    world: World, tmp_path: Path, target_send: bool
) -> None:
    with crash_workers(world, tmp_path / "logs") as workers:
        at_kill = kill_mid_chunk(world, workers, target_send=target_send, kill_after=KILL_AFTER_SENT)

        second = workers.start("worker-2")
        job = wait_terminal(world, workers, second)

        assert job.status == "completed", job.item
        tally = world.tally()
        assert_counters_match(job, tally)
        recipients = world.recipients()
        assert set(recipients) == set(world.contact_ids)
        by_id, calls = assert_sends_counted_once(world, workers)

        unknown = {r for r, i in recipients.items() if i["status"] == "unknown"}
        # Final, every one: sent, or unknown only where the kill landed inside the driver call.
        assert tally["sent"] + tally["unknown"] == N, tally
        assert unknown == set(at_kill.stuck), (unknown, at_kill.stuck)
        for recipient_id, item in recipients.items():
            row = by_id.get(str(item["messageId"]))
            assert row is not None, f"recipient {recipient_id} has no message: {item}"
            if recipient_id in unknown:
                # Its message is still 'sending' (never resent, never guessed), the same row as at the kill.
                assert row["status"] == "sending" and row == at_kill.stuck[recipient_id], row
                assert item["errorDetails"] and calls[str(item["messageId"])] <= 1, item
            else:
                assert item["status"] == "sent" and row["status"] == "sent", (item, row)
        # The dead worker's claim was taken over (not skipped, not sent under a fresh id).
        for recipient_id in at_kill.claimed:
            assert "recoveredAt" in recipients[recipient_id], recipients[recipient_id]
        # The second worker sent exactly the recipients whose message the first had not stored.
        assert Counter(second.dry_run_sends()) == Counter(set(by_id) - at_kill.stored)


def test_a_job_cancelled_while_its_worker_lay_dead_ends_cancelled_without_a_new_send(
    world: World, tmp_path: Path
) -> None:
    with crash_workers(world, tmp_path / "logs") as workers:
        at_kill = kill_mid_chunk(world, workers, target_send=False, kill_after=5)
        bulk = wired(world.container.bulk, "bulk")
        cancelling = bulk.cancel(world.job_id, "test")
        # A claim the dead worker left keeps the job cancelling: only a worker can resolve it.
        assert cancelling.status == ("cancelling" if at_kill.claimed else "cancelled"), cancelling.item
        pending_at_cancel = at_kill.tally["pending"]

        second = workers.start("worker-2")
        job = wait_terminal(world, workers, second)

        assert job.status == "cancelled", job.item
        tally = world.tally()
        assert_counters_match(job, tally)
        recipients = world.recipients()
        by_id, _ = assert_sends_counted_once(world, workers)
        assert tally["pending"] == tally["sending"] == tally["deferred"] == 0, tally
        assert tally["cancelled"] >= pending_at_cancel > 0, tally
        assert tally["sent"] + tally["cancelled"] + tally["unknown"] == N, tally
        # A cancelling job starts no send: the restarted worker never called the driver.
        assert second.dry_run_sends() == [], second.output()
        for recipient_id, item in recipients.items():
            row = by_id.get(str(item["messageId"]))
            if item["status"] == "cancelled":
                assert row is None, (recipient_id, row)  # never sent
            elif item["status"] == "unknown":
                assert recipient_id in at_kill.stuck and row is not None and row["status"] == "sending"
            else:
                assert item["status"] == "sent" and row is not None and row["status"] == "sent", (item, row)
        # The dead worker's claim got its answer from what the send had stored: nothing -> cancelled,
        # a message still 'sending' -> unknown, a sent message -> sent.
        for recipient_id in at_kill.claimed:
            item = recipients[recipient_id]
            row = by_id.get(str(item["messageId"]))
            expected = "cancelled" if row is None else {"sending": "unknown"}.get(str(row["status"]), "sent")
            assert item["status"] == expected and "recoveredAt" in item, (item, row)
