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
