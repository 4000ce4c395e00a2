"""What only the durable local queue promises: surviving kill -9, several processes, polling, faults."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.clock import FakeClock, SystemClock
from gateway.queue.local import LocalQueues
from gateway.queue.port import MAX_BATCH, OutgoingMessage, QueueUnavailable, ReceiptInvalid, RedrivePolicy

REPO = Path(__file__).resolve().parents[2]


def start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queues(tmp_path: Path, clock: FakeClock) -> Iterator[LocalQueues]:
    q = LocalQueues(tmp_path / "queues.db", clock)
    yield q
    q.close()


# -- crashes and processes -------------------------------------------------------------------------------

HOLDER = """
    import sys, time
    from pathlib import Path
    from gateway.clock import SystemClock
    from gateway.queue.local import LocalQueues
    queue = LocalQueues(Path(sys.argv[1]), SystemClock())["bulk-queue"]
    [m] = queue.receive(visibility_timeout=float(sys.argv[2]))
    print(m.message_id, flush=True)
    time.sleep(600)  # holding the message when the parent kills us
"""


def test_a_worker_killed_with_sigkill_while_holding_a_message_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    queues = LocalQueues(path, SystemClock())
    queue = queues["bulk-queue"]
    mid = queue.send('{"chunk": 7}')
    with start(HOLDER, str(path), "1.0") as holder:
        assert holder.stdout is not None and holder.stderr is not None
        held = holder.stdout.readline().strip()
        if held != mid:
            holder.kill()
            pytest.fail(f"the worker did not get the message: {holder.stderr.read()}")
        os.kill(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL
    assert queue.receive() == []  # still within the dead worker's visibility timeout
    back = queue.receive(wait_seconds=10)  # returns as soon as the timeout lapses
    assert [(m.message_id, m.body, m.receive_count) for m in back] == [(mid, '{"chunk": 7}', 2)]
    queue.delete(back[0].receipt_handle)
    queues.close()


SENDER = """
    import sys
    from pathlib import Path
    from gateway.clock import SystemClock
    from gateway.queue.local import LocalQueues
    queue = LocalQueues(Path(sys.argv[1]), SystemClock())["inbound-dlq"]
    i = 0
    while True:
        print(queue.send(f"event {i}"), flush=True)  # printed only once the send has returned
        i += 1
"""


def test_a_sender_killed_mid_stream_keeps_every_acknowledged_message(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    LocalQueues(path, SystemClock()).close()
    with start(SENDER, str(path)) as sender:
        assert sender.stdout is not None
        acknowledged = [sender.stdout.readline().strip() for _ in range(200)]
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait(timeout=10)
        acknowledged += [line.strip() for line in sender.stdout.read().splitlines() if line.strip()]
    assert len(acknowledged) >= 200 and all(acknowledged)
    reopened = LocalQueues(path, SystemClock())  # the integrity check passes after the crash
    queue = reopened["inbound-dlq"]
    stored: set[str] = set()
    while batch := queue.receive(MAX_BATCH, visibility_timeout=300):
        stored.update(m.message_id for m in batch)
    assert set(acknowledged) <= stored
    reopened.close()


CONSUMER = """
    import sys
    from pathlib import Path
    from gateway.clock import SystemClock
    from gateway.queue.local import LocalQueues
    queue = LocalQueues(Path(sys.argv[1]), SystemClock())["bulk-queue"]
    idle = 0
    while idle < 3:
        batch = queue.receive(4, visibility_timeout=120, wait_seconds=0.05)
        idle = 0 if batch else idle + 1
        for m in batch:
            print(m.body, flush=True)
            queue.delete(m.receipt_handle)
"""


def test_consumers_in_several_processes_each_get_distinct_messages(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    queues = LocalQueues(path, SystemClock())
    total = 120
    for first in range(0, total, MAX_BATCH):
        batch = [OutgoingMessage(f"m{i:03d}") for i in range(first, first + MAX_BATCH)]
        queues["bulk-queue"].send_batch(batch)
    procs = [start(CONSUMER, str(path)) for _ in range(3)]
    bodies = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        bodies += out.split()
    assert sorted(bodies) == [f"m{i:03d}" for i in range(total)]
    assert queues["bulk-queue"].approximate_count() == 0
    queues.close()


# -- semantics only the local queue pins -----------------------------------------------------------------


def test_a_stale_receipt_cannot_delete_a_redelivered_message(queues: LocalQueues, clock: FakeClock) -> None:
    queue = queues["bulk-queue"]
    queue.send("x")
    [first] = queue.receive(visibility_timeout=5)
    clock.advance(6)
    [second] = queue.receive(visibility_timeout=5)
    with pytest.raises(ReceiptInvalid):
        queue.delete(first.receipt_handle)
    with pytest.raises(ReceiptInvalid):
        queues["bulk-dlq"].delete(second.receipt_handle)  # a handle only works on its own queue
    queue.delete(second.receipt_handle)
    with pytest.raises(ReceiptInvalid):
        queue.delete(second.receipt_handle)


def test_a_late_delete_still_works_if_nobody_received_it_again(queues: LocalQueues, clock: FakeClock) -> None:
    queue = queues["bulk-queue"]
    queue.send("x")
    [m] = queue.receive(visibility_timeout=5)
    clock.advance(60)
    queue.delete(m.receipt_handle)
    assert queue.approximate_count() == 0


def test_receive_waits_for_a_message_sent_meanwhile(tmp_path: Path) -> None:
    queues = LocalQueues(tmp_path, SystemClock(), poll_interval=0.01)
    queue = queues["inbound-dlq"]
    timer = threading.Timer(0.2, lambda: queue.send("arrived"))
    timer.start()
    got = queue.receive(wait_seconds=10)
    timer.join()
    assert [m.body for m in got] == ["arrived"]
    queues.close()


def test_receive_wait_follows_the_injected_clock(queues: LocalQueues, clock: FakeClock) -> None:
    queue = queues["bulk-queue"]
    start_time = clock.now()
    assert queue.receive(wait_seconds=2) == []
    assert clock.now() - start_time == pytest.approx(2)
    queue.send("due in 3 s", delay_seconds=3)
    assert [m.body for m in queue.receive(wait_seconds=5)] == ["due in 3 s"]


def test_an_idle_poll_does_not_need_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    queues = LocalQueues(path, FakeClock(), busy_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert queues["bulk-queue"].receive() == []
        with pytest.raises(QueueUnavailable) as err:
            queues["bulk-queue"].send("x")
        assert str(path) in str(err.value) and "locked" in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    queues.close()


def test_messages_survive_reopening(tmp_path: Path, clock: FakeClock) -> None:
    first = LocalQueues(tmp_path, clock)
    mid = first["outbound-dlq"].send("kept", attributes={"a": "1"})
    first.close()
    second = LocalQueues(tmp_path / "queues.db", clock)
    [m] = second["outbound-dlq"].receive()
    assert (m.message_id, m.body, dict(m.attributes)) == (mid, "kept", {"a": "1"})
    second.close()


def test_custom_redrive(tmp_path: Path, clock: FakeClock) -> None:
    queues = LocalQueues(tmp_path, clock, redrive={"inbound-dlq": RedrivePolicy("outbound-dlq", 2)})
    queues["inbound-dlq"].send("x")
    assert [queues["inbound-dlq"].receive(visibility_timeout=0)[0].receive_count for _ in range(2)] == [1, 2]
    assert queues["inbound-dlq"].receive(visibility_timeout=0) == []
    assert [m.body for m in queues["outbound-dlq"].receive()] == ["x"]
    assert queues["bulk-queue"].send("no redrive here") and queues["bulk-queue"].approximate_count() == 1
    queues.close()


@pytest.mark.parametrize(
    "redrive",
    [
        {"bulk-queue": RedrivePolicy("nowhere", 5)},
        {"nowhere": RedrivePolicy("bulk-dlq", 5)},
        {"bulk-queue": RedrivePolicy("bulk-dlq", 0)},
    ],
)
def test_bad_redrive_settings_are_refused(tmp_path: Path, redrive: dict[str, RedrivePolicy]) -> None:
    with pytest.raises(ValueError):
        LocalQueues(tmp_path, FakeClock(), redrive=redrive)


@pytest.mark.parametrize(
    ("body", "attributes", "delay"),
    [("", None, 0), ("x" * 262_145, None, 0), ("x", {"n": 1}, 0), ("x", None, -1), ("x", None, 901)],
)
def test_messages_sqs_would_refuse_are_refused(
    queues: LocalQueues, body: str, attributes: dict[str, object] | None, delay: int
) -> None:
    with pytest.raises(ValueError):
        queues["bulk-queue"].send(body, attributes=attributes, delay_seconds=delay)  # type: ignore[arg-type]
    assert queues["bulk-queue"].approximate_count() == 0


def test_a_corrupt_queue_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(QueueUnavailable) as err:
        LocalQueues(path, FakeClock())
    assert str(path) in str(err.value) and "not a valid SQLite database" in str(err.value)


def test_using_closed_queues(tmp_path: Path) -> None:
    queues = LocalQueues(tmp_path, FakeClock())
    queues.close()
    with pytest.raises(QueueUnavailable, match="closed"):
        queues["bulk-queue"].send("x")
