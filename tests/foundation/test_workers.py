from __future__ import annotations

import threading

from gateway.workers import PeriodicWorker


def test_runs_periodically_survives_failures_and_stops() -> None:
    calls: list[int] = []
    ran_three = threading.Event()

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        if len(calls) >= 3:
            ran_three.set()

    worker = PeriodicWorker("test", job, interval=0.01)
    worker.start()
    assert ran_three.wait(5), "the worker stopped after a failing run"
    worker.stop()
    count = len(calls)
    assert worker.runs >= 3
    assert not any(t.name == "wecare-test" and t.is_alive() for t in threading.enumerate())
    assert len(calls) == count  # nothing runs after stop


def test_a_busy_consumer_runs_again_at_once_and_waits_only_when_there_is_nothing() -> None:
    backlog = [1] * 20
    waits_while_busy: list[int] = []
    done = threading.Event()

    def drain() -> int:
        if not backlog:
            done.set()
            return 0
        backlog.pop()
        return 1

    worker = PeriodicWorker("busy", drain, interval=0.01, repeat_while_busy=True)
    real_wait = worker._stop.wait

    def counted_wait(timeout: float | None = None) -> bool:
        if backlog:
            waits_while_busy.append(1)
        return real_wait(timeout)

    worker._stop.wait = counted_wait  # type: ignore[method-assign]
    worker.start()
    assert done.wait(5), "the backlog was not drained"
    worker.stop()
    # One wait before the first run; none between runs that had work (without repeat: 20).
    assert backlog == [] and len(waits_while_busy) == 1 and not worker.alive()
